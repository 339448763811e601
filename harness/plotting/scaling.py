"""Parallel appliances: makespan against N (with a published figure), per-instance latency,
outcomes against N. Drawn from the scaling table and fits of harness.analysis.scaling.
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from harness.analysis.scaling import series_labels
from harness.analysis.summary import measured_trials
from harness.plotting.common import (
    MANY_CELLS,
    MANY_SERIES,
    MAX_POINTS,
    NOTE_LENGTH,
    NOTE_WIDTH,
    STATUS_COLORS,
    no_data,
    pyplot,
    subsample,
)
from harness.results.records import STATUS_OK, STATUSES

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from harness.analysis.reference import Reference


def _reference_label(reference: Reference) -> str:
    """The legend entry of a published figure: its name, then its notes, shortened and wrapped."""
    notes = [textwrap.fill(textwrap.shorten(note, NOTE_LENGTH, placeholder=" ..."), NOTE_WIDTH)
             for note in reference.notes]
    return "\n".join([f"{reference.name} (published)", *notes])


def makespan_vs_parallel(scaling: pd.DataFrame, fits: pd.DataFrame,
                         reference: Reference | None = None) -> Figure:
    """Median makespan against N per series (analysis.scaling's table), its 95% CI as a band,
    and the fitted line (its linear_fit).

    With a reference, its points are overlaid and a second panel shows both curves divided by
    their N=1 time, the scale on which the report compares them (hosts differ in speed).
    Past MANY_CELLS series, every series' median curve and fit is one thin line of a shared
    colour (drawn as one collection each), without bands: hundreds of bands hid each other
    and took seconds to save.
    """
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    curves = scaling.dropna(subset=["median"])
    fits = fits.set_index("series")

    fig, axes = plt.subplots(1, 1 if reference is None else 2, squeeze=False,
                             figsize=(7.0 if reference is None else 12.0, 5.0),
                             layout="constrained")
    ax = axes[0][0]
    relative = axes[0][1] if reference is not None else None
    ax.set_title("makespan of N appliances released together (median, 95% CI)")
    if curves.empty:
        no_data(ax, "no successful repetitions")
        if relative is not None:
            relative.set_axis_off()
        return fig

    count = curves["series"].nunique()
    many = count > MANY_SERIES
    if count > MANY_CELLS:
        ax.set_title(f"makespan of N appliances released together (median; {count} series, "
                     "a line each, no CI bands)")
        _series_lines(ax, relative, curves, fits)
    else:
        if many:
            ax.set_title(f"makespan of N appliances released together (median, 95% CI; "
                         f"{count} series, no legend)")
        _series_bands(ax, relative, curves, fits)
    ax.set_xlabel("appliances launched in parallel (N)")
    ax.set_ylabel("makespan (seconds)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))

    if reference is not None:
        points = reference.frame
        ax.plot(points["n_parallel"], points["seconds"], color="black", linestyle=":",
                marker="x", label=_reference_label(reference))
        published_t1 = points.loc[points["n_parallel"] == 1, "seconds"]
        if len(published_t1):
            relative.plot(points["n_parallel"], points["seconds"] / published_t1.iloc[0],
                          color="black", linestyle=":", marker="x")
        relative.axhline(1.0, color="gray", linewidth=0.8)
        # From just below the lowest ratio (1 at N=1), not wherever autoscaling put it (0.8).
        relative.set_ylim(bottom=0.97 * min(1.0, relative.dataLim.y0))
        relative.set_title("relative to N=1 (1 = no slower than one appliance)")
        relative.set_xlabel("appliances launched in parallel (N)")
        relative.set_ylabel("makespan / makespan at N=1")
        relative.xaxis.set_major_locator(MaxNLocator(integer=True))
    if not many:
        fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center",
                   fontsize="small")
    elif count > MANY_CELLS:  # what the two kinds of line are
        ax.legend(fontsize="small")
    return fig


def _series_bands(ax: Axes, relative: Axes | None, curves: pd.DataFrame,
                  fits: pd.DataFrame) -> None:
    """Each series' median makespan against N in a colour of its own, its CI as a band and its
    fit dashed (and the curve over its N=1 time in `relative`)."""
    for series, rows in curves.groupby("series", sort=False):
        (line,) = ax.plot(rows["parallel"], rows["median"], marker="o",
                          label=f"{series}: median makespan")
        color = line.get_color()
        ax.fill_between(rows["parallel"], rows["ci_low"], rows["ci_high"], color=color,
                        alpha=0.2, label=f"{series}: 95% CI of the median")
        fit = fits.loc[series]
        if not np.isnan(fit["slope"]):
            ns = np.array([fit["n_min"], fit["n_max"]])
            ci = ("" if np.isnan(fit["slope_ci_low"]) else
                  f" (95% CI {fit['slope_ci_low']:.3g} to {fit['slope_ci_high']:.3g})")
            ax.plot(ns, fit["intercept"] + fit["slope"] * ns, linestyle="--", color=color,
                    label=f"{series}: fit, {fit['slope']:.3g} s per extra appliance{ci}")
        if relative is not None:
            relative.plot(rows["parallel"], rows["median"] / fit["t1"], marker="o", color=color)


def _series_lines(ax: Axes, relative: Axes | None, curves: pd.DataFrame,
                  fits: pd.DataFrame) -> None:
    """Every series' median makespan against N, and its fit dashed, as two collections (and
    the curves over their N=1 time in `relative`)."""
    from matplotlib.collections import LineCollection

    series = [rows for _, rows in curves.groupby("series", sort=False)]
    ax.add_collection(LineCollection(
        [rows[["parallel", "median"]].to_numpy(dtype=float) for rows in series],
        colors="C0", linewidths=0.8, alpha=0.5, label="each series: median makespan"))
    fitted = fits[fits["slope"].notna()]
    ends = fitted[["n_min", "n_max"]].to_numpy(dtype=float)
    ax.add_collection(LineCollection(
        np.stack([ends, fitted["intercept"].to_numpy()[:, None]
                  + fitted["slope"].to_numpy()[:, None] * ends], axis=-1),
        colors="C1", linewidths=0.8, alpha=0.5, linestyles="--", label="each series: fit"))
    ax.autoscale_view()
    if relative is not None:
        t1 = fits["t1"]
        relative.add_collection(LineCollection(
            [np.column_stack([rows["parallel"], rows["median"] / t1[rows["series"].iloc[0]]])
             for rows in series], colors="C0", linewidths=0.8, alpha=0.5))
        relative.autoscale_view()


def latency_vs_parallel(trials: pd.DataFrame, metric: str = "total_s") -> Figure:
    """Per-instance times against N: does each appliance slow down as more run beside it?

    Every N measured keeps its slot on the x axis, even if no instance there succeeded.
    Boxes are split by series when there are several (e.g. direct and libvirt); past
    MANY_SERIES series they pool them, boxes and whiskers only.
    """
    plt = pyplot()
    import seaborn as sns

    measured = measured_trials(trials)
    measured = measured.assign(series=series_labels(measured))
    ok = measured[(measured["status"] == STATUS_OK) & measured[metric].notna()]
    ns = sorted(pd.unique(measured["parallel"]))

    fig = plt.figure(figsize=(max(6.0, 1.0 + 0.5 * len(ns)), 4.5))
    ax = fig.add_subplot()
    title = f"{metric} of each appliance against N (ok instances, warm-ups excluded"
    if ok.empty:
        ax.set_title(title + ")")
        no_data(ax, "no successful instances")
        return fig

    n_series = ok["series"].nunique()
    if n_series > MANY_SERIES:  # boxes per N over all series: one box per series is noise
        ax.set_title(f"{title}; {n_series} series pooled, boxes only)")
        sns.boxplot(data=ok, x="parallel", y=metric, order=ns, color="C0", fill=False,
                    showfliers=False, ax=ax)  # thousands of far points: slow and unreadable
    else:
        hue = "series" if n_series > 1 else None
        color = "C0" if hue is None else None  # else seaborn gives the points the next colour
        points, cut = subsample(ok, ["parallel", "series"])
        ax.set_title(f"{title}; {f'at most {MAX_POINTS} drawn per box' if cut else 'all drawn'})")
        sns.boxplot(data=ok, x="parallel", y=metric, hue=hue, order=ns, color=color,
                    fill=False, showfliers=False, ax=ax)
        sns.stripplot(data=points, x="parallel", y=metric, hue=hue, order=ns, color=color,
                      dodge=hue is not None, size=3, alpha=0.6, legend=False, ax=ax)
    ax.set_xlabel("appliances launched in parallel (N)")
    ax.set_ylabel(f"{metric} (seconds)")
    fig.tight_layout()
    return fig


def failures_vs_parallel(table: pd.DataFrame) -> Figure:
    """Share of instances per status against N, one panel per series (stacked bars), from
    analysis.scaling's table.

    Shares rather than counts, since N appliances per repetition make N times the rows; the
    statuses tell how things fail past a limit (refused, timed out, judged infeasible). Past
    MANY_SERIES series, only those with a failure get a panel; past MANY_SERIES of those, one
    panel shows the share that failed, a row per series and a column per N.
    """
    plt = pyplot()

    series = list(pd.unique(table["series"]))
    failing_only = len(series) > MANY_SERIES
    if failing_only:  # only the series where something failed
        failed = table.groupby("series", sort=False)[list(STATUSES)].sum().drop(
            columns=STATUS_OK).sum(axis=1)
        table = table[table["series"].isin(failed[failed > 0].index)]
        series = list(pd.unique(table["series"]))
        if len(series) > MANY_SERIES:
            return _failure_rates(table, series)
    fig, axes = plt.subplots(1, max(1, len(series)), squeeze=False, sharey=True,
                             figsize=(max(6.0, 4.5 * len(series)), 4.0), layout="constrained")
    if table.empty:
        axes[0][0].set_title("instance outcomes against N")
        no_data(axes[0][0], f"no failure in {len(series)} series" if failing_only
                else "no trials")
        return fig

    present = [s for s in STATUSES if table[s].sum() > 0]
    for ax, (name, rows) in zip(axes[0], table.groupby("series", sort=False), strict=True):
        positions = np.arange(len(rows))
        bottom = np.zeros(len(rows))
        for status in present:
            share = (rows[status] / rows["n_instances"]).to_numpy()
            ax.bar(positions, share, bottom=bottom, color=STATUS_COLORS[status], label=status)
            bottom += share
        ax.set_xticks(positions, [str(n) for n in rows["parallel"]])
        ax.set_title(f"{name}: instance outcomes against N")
        ax.set_xlabel("appliances launched in parallel (N)")
    axes[0][0].set_ylabel("share of instances (warm-ups excluded)")
    fig.legend(*axes[0][0].get_legend_handles_labels(), title="status", fontsize="small",
               loc="outside right upper")
    return fig


def _failure_rates(table: pd.DataFrame, series: list[str]) -> Figure:
    """failures_vs_parallel's compact form: the share of instances not ok as a colour, a row
    per series (1 in k named) and a column per N (two series of one label: the worse)."""
    rates = table.pivot_table(index="series", columns="parallel", values="failure_rate",
                              aggfunc="max").reindex(series)
    fig = pyplot().figure(figsize=(max(6.0, 3.0 + 0.6 * rates.shape[1]), 8.0),
                          layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(rates.to_numpy(dtype=float), aspect="auto", cmap="Reds", vmin=0, vmax=1,
                      interpolation="nearest")
    fig.colorbar(image, ax=ax, label="share of instances not ok (warm-ups excluded)")
    step = -(-len(series) // MANY_CELLS)
    ax.set_yticks(range(0, len(series), step), series[::step])
    ax.set_xticks(range(rates.shape[1]), [str(n) for n in rates.columns])
    ax.set_xlabel("appliances launched in parallel (N)")
    ax.set_title(f"instance failures against N: the {len(series)} series with a failure, "
                 f"1 in {step} named")
    return fig


def capacity_vs_parallel(capacity: pd.DataFrame) -> Figure:
    """Trials finished per hour against N, one line per series (median, with the 95% CI as
    error bars where there is one), the best N of each ringed: what the host sustains, from
    analysis.scaling.capacity's table. Past MANY_CELLS series the lines are one collection and
    the rings one scatter, without error bars (as makespan_vs_parallel's)."""
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(7.0, 4.5), layout="constrained")
    count = capacity["series"].nunique()
    if count > MANY_CELLS:
        _capacity_lines(ax, capacity)
        ax.set_title(f"trials finished per hour with N appliances at once (median; {count} "
                     "series, a line each; the best N ringed)", fontsize="medium")
    else:
        _capacity_bars(ax, capacity)
        ax.set_title("trials finished per hour with N appliances at once (median, 95% CI; "
                     "the best N ringed)", fontsize="medium")
    ax.set_xlabel("appliances launched in parallel (N)")
    ax.set_ylabel("trials per hour")
    ax.margins(y=0.12)  # room for the rings
    ax.set_ylim(bottom=0)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if count <= MANY_SERIES:
        ax.legend(fontsize="small")
    return fig


def _capacity_bars(ax: Axes, capacity: pd.DataFrame) -> None:
    """Each series in a colour of its own: its medians, their 95% CIs and its best N ringed."""
    for series, rows in capacity.groupby("series", sort=False):
        (line,) = ax.plot(rows["parallel"], rows["per_hour"], marker="o", label=series)
        bounded = rows.dropna(subset=["per_hour_ci_low", "per_hour_ci_high"])
        ax.errorbar(bounded["parallel"], bounded["per_hour"], capsize=4, fmt="none",
                    ecolor=line.get_color(),
                    yerr=[bounded["per_hour"] - bounded["per_hour_ci_low"],
                          bounded["per_hour_ci_high"] - bounded["per_hour"]])
        best = rows[rows["best"]]
        ax.scatter(best["parallel"], best["per_hour"], s=160, facecolors="none",
                   edgecolors=line.get_color(), linewidths=2, zorder=3)


def _capacity_lines(ax: Axes, capacity: pd.DataFrame) -> None:
    """Every series' medians as one collection of thin lines, every best N in one scatter."""
    from matplotlib.collections import LineCollection

    ax.add_collection(LineCollection(
        [rows[["parallel", "per_hour"]].to_numpy(dtype=float)
         for _, rows in capacity.dropna(subset=["per_hour"]).groupby("series", sort=False)],
        colors="C0", linewidths=0.8, alpha=0.5))
    best = capacity[capacity["best"]]
    ax.scatter(best["parallel"], best["per_hour"], s=60, facecolors="none", edgecolors="C1",
               linewidths=1.2, zorder=3)
    ax.autoscale_view()
