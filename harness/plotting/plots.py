"""Seaborn figures drawn from the tidy trial frame only; the caller saves and closes them.

matplotlib and seaborn are imported inside the functions so `import harness` stays light.
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from harness.analysis.scaling import linear_fit, scaling_table, series_labels
from harness.analysis.summary import measured_trials, status_counts
from harness.analysis.transfer import (
    DIRECTIONS,
    TRANSFER_SERIES_COLUMNS,
    TRANSFER_WORKLOAD,
    MiB,
    has_transfers,
    transfer_model,
)
from harness.results.records import STATUS_OK, STATUSES

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from harness.analysis.reference import Reference

LONG_LABEL = 8  # characters; longer cell labels are slanted so they do not overlap

# Fixed colours, so a status looks the same in every figure and every run.
STATUS_COLORS = {"ok": "tab:green", "error": "tab:red", "timeout": "tab:orange",
                 "unsupported": "tab:gray", "infeasible": "tab:purple"}
NOTE_WIDTH = 90  # characters per legend line of a reference's notes
NOTE_LENGTH = 180  # characters kept of each note


def _no_data(ax: Axes, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()


def launch_distribution(trials: pd.DataFrame, metric: str = "launch_s") -> Figure:
    """Box plot per cell of the ok, non-warm-up values of `metric`, every trial drawn on top.

    Cells with no successful trial keep an empty slot on the x axis rather than vanishing.
    Boxes and points are split by `accel_effective` when it varies (e.g. KVM fell back to TCG).
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    measured = measured_trials(trials)
    ok = measured[(measured["status"] == STATUS_OK) & measured[metric].notna()]
    cells = list(pd.unique(measured["cell"]))

    fig = plt.figure(figsize=(max(6.0, 1.0 + 0.8 * len(cells)), 4.5))
    ax = fig.add_subplot()
    ax.set_title(f"{metric} per cell (ok trials, warm-ups excluded)")
    if ok.empty:
        _no_data(ax, "no successful trials")
        return fig

    hue = "accel_effective" if ok["accel_effective"].nunique() > 1 else None
    # Unfilled boxes keep the points, drawn by stripplot instead of as fliers, visible.
    sns.boxplot(data=ok, x="cell", y=metric, hue=hue, order=cells, fill=False,
                showfliers=False, ax=ax)
    sns.stripplot(data=ok, x="cell", y=metric, hue=hue, order=cells, dodge=hue is not None,
                  size=4, alpha=0.7, legend=False, ax=ax)
    ax.set_xlabel("cell")
    ax.set_ylabel(f"{metric} (seconds)")
    if max(len(str(cell)) for cell in cells) > LONG_LABEL:
        ax.tick_params(axis="x", labelrotation=30)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
    fig.tight_layout()
    return fig


def status_grid(trials: pd.DataFrame) -> Figure:
    """Heatmap of trial counts per cell and status, so failures are seen next to successes."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    counts = status_counts(trials).set_index("cell")[list(STATUSES)]

    fig = plt.figure(figsize=(7.0, 1.5 + 0.4 * len(counts)))
    ax = fig.add_subplot()
    ax.set_title("trials per cell and status (warm-ups excluded)")
    if counts.empty:
        _no_data(ax, "no trials")
        return fig

    sns.heatmap(counts, annot=True, fmt="d", cmap="Blues", cbar=False, linewidths=0.5, ax=ax)
    ax.set_xlabel("status")
    ax.set_ylabel("cell")
    ax.tick_params(axis="y", labelrotation=0)
    fig.tight_layout()
    return fig


def _reference_label(reference: Reference) -> str:
    """The legend entry of a published figure: its name, then its notes, shortened and wrapped."""
    notes = [textwrap.fill(textwrap.shorten(note, NOTE_LENGTH, placeholder=" ..."), NOTE_WIDTH)
             for note in reference.notes]
    return "\n".join([f"{reference.name} (published)", *notes])


def makespan_vs_parallel(trials: pd.DataFrame, reference: Reference | None = None) -> Figure:
    """Median makespan against N per series, its 95% CI as a band, and the fitted line.

    With a reference, its points are overlaid and a second panel shows both curves divided by
    their N=1 time, the scale on which the report compares them (hosts differ in speed).
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    curves = scaling_table(trials).dropna(subset=["median"])
    fits = linear_fit(trials).set_index("series")

    fig, axes = plt.subplots(1, 1 if reference is None else 2, squeeze=False,
                             figsize=(7.0 if reference is None else 12.0, 5.0),
                             layout="constrained")
    ax = axes[0][0]
    relative = axes[0][1] if reference is not None else None
    ax.set_title("makespan of N appliances released together (median, 95% CI)")
    if curves.empty:
        _no_data(ax, "no successful repetitions")
        if relative is not None:
            relative.set_axis_off()
        return fig

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
        relative.set_title("relative to N=1 (1 = no slower than one appliance)")
        relative.set_xlabel("appliances launched in parallel (N)")
        relative.set_ylabel("makespan / makespan at N=1")
        relative.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", fontsize="small")
    return fig


def latency_vs_parallel(trials: pd.DataFrame, metric: str = "total_s") -> Figure:
    """Per-instance times against N: does each appliance slow down as more run beside it?

    Every N measured keeps its slot on the x axis, even if no instance there succeeded.
    Boxes are split by series when there are several (e.g. direct and libvirt).
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    measured = measured_trials(trials)
    measured = measured.assign(series=series_labels(measured))
    ok = measured[(measured["status"] == STATUS_OK) & measured[metric].notna()]
    ns = sorted(pd.unique(measured["parallel"]))

    fig = plt.figure(figsize=(max(6.0, 1.0 + 0.5 * len(ns)), 4.5))
    ax = fig.add_subplot()
    ax.set_title(f"{metric} of each appliance against N (ok instances, warm-ups excluded)")
    if ok.empty:
        _no_data(ax, "no successful instances")
        return fig

    hue = "series" if ok["series"].nunique() > 1 else None
    color = "C0" if hue is None else None  # else seaborn gives the points the next colour
    sns.boxplot(data=ok, x="parallel", y=metric, hue=hue, order=ns, color=color, fill=False,
                showfliers=False, ax=ax)
    sns.stripplot(data=ok, x="parallel", y=metric, hue=hue, order=ns, color=color,
                  dodge=hue is not None, size=3, alpha=0.6, legend=False, ax=ax)
    ax.set_xlabel("appliances launched in parallel (N)")
    ax.set_ylabel(f"{metric} (seconds)")
    fig.tight_layout()
    return fig


def failures_vs_parallel(trials: pd.DataFrame) -> Figure:
    """Share of instances per status against N, one panel per series (stacked bars).

    Shares rather than counts, since N appliances per repetition make N times the rows; the
    statuses tell how things fail past a limit (refused, timed out, judged infeasible).
    """
    import matplotlib.pyplot as plt

    table = scaling_table(trials)
    series = list(pd.unique(table["series"]))
    fig, axes = plt.subplots(1, max(1, len(series)), squeeze=False, sharey=True,
                             figsize=(max(6.0, 4.5 * len(series)), 4.0), layout="constrained")
    if table.empty:
        axes[0][0].set_title("instance outcomes against N")
        _no_data(axes[0][0], "no trials")
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


def throughput_vs_size(trials: pd.DataFrame, model: pd.DataFrame | None = None) -> Figure:
    """MiB/s of every ok transfer against its size, a panel per direction and a colour per
    series, with the fitted model's curve size / (t0 + size / bandwidth) over the sizes.

    The curve shows why small transfers look slow: t0 dominates them, the bandwidth the large
    ones. Both axes are logarithmic: sizes go in powers of 4, and backends may differ tenfold
    (UML against KVM). `model` is transfer_model(trials) unless given.
    """
    import matplotlib.pyplot as plt

    if model is None:
        model = transfer_model(trials)
    # Labelled as in the model: from the transfer workload's rows, failed ones included.
    measured = measured_trials(trials[trials["workload"] == TRANSFER_WORKLOAD])
    measured = measured.assign(series=series_labels(measured,
                                                          TRANSFER_SERIES_COLUMNS))
    ok = measured[measured["status"] == STATUS_OK]
    ok = ok.dropna(subset=["size_bytes"]) if has_transfers(ok) else ok.iloc[0:0]
    series = list(pd.unique(ok["series"]))
    colors = {name: f"C{i}" for i, name in enumerate(series)}

    fig, axes = plt.subplots(1, len(DIRECTIONS), sharey=True, figsize=(12.0, 5.0),
                             layout="constrained")
    if ok.empty:
        axes[0].set_title("transfer throughput against size")
        _no_data(axes[0], "no successful transfers")
        axes[1].set_axis_off()
        return fig

    sizes = np.sort(pd.unique(ok["size_bytes"] / MiB))
    for ax, direction in zip(axes, DIRECTIONS, strict=True):
        for name, rows in ok.groupby("series", sort=False):
            size_mib = rows["size_bytes"] / MiB
            ax.scatter(size_mib, size_mib / rows[f"{direction}_s"], color=colors[name],
                       alpha=0.7, label=f"{name}: measured")
        fits = model[(model["direction"] == direction) & model["series"].isin(series)]
        for _, fit in fits.iterrows():
            t0, bandwidth = fit["overhead_ms"] / 1000, fit["bandwidth_mib_s"]
            if not np.isfinite(t0) or not np.isfinite(bandwidth):
                continue
            curve = np.geomspace(fit["size_min_mib"], fit["size_max_mib"], 50)
            ax.plot(curve, curve / (t0 + curve / bandwidth), color=colors[fit["series"]],
                    label=f"{fit['series']}: fit, {1000 * t0:.3g} ms + size / "
                          f"{bandwidth:.4g} MiB/s")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(sizes, [f"{s:g}" for s in sizes])
        ax.minorticks_off()
        ax.set_title(f"{direction} (ok transfers, warm-ups excluded)")
        ax.set_xlabel("size (MiB, log scale)")
        ax.legend(fontsize="small")
    axes[0].set_ylabel("throughput (MiB/s, log scale)")
    return fig


def _stage_colors(stages: list[str]) -> dict[str, tuple[float, ...]]:
    import matplotlib.pyplot as plt

    palette = plt.get_cmap("tab20").colors
    return {stage: palette[i % len(palette)] for i, stage in enumerate(stages)}


def stage_bars(stage_summary: pd.DataFrame) -> Figure:
    """One stacked horizontal bar per cell: the median duration of each boot stage, in order
    (harness.analysis.stages.stage_summary's frame). Medians of stages need not add up to the median
    total."""
    import matplotlib.pyplot as plt

    from harness.analysis.stages import stage_order

    cells = list(pd.unique(stage_summary["cell"]))
    order = stage_order(stage_summary)
    # Tall enough for a bar per cell and for the legend of stages beside them.
    height = max(2.0 + 0.6 * len(cells), 1.0 + 0.25 * len(order))
    fig = plt.figure(figsize=(11.0, height))
    ax = fig.add_subplot()
    ax.set_title("median duration of each boot stage per cell (warm-ups excluded)")
    if stage_summary.empty:
        _no_data(ax, "no boot stages")
        return fig
    colors = _stage_colors(order)
    medians = stage_summary.pivot_table(index="cell", columns="stage", values="median",
                                        sort=False)
    left = np.zeros(len(cells))
    for stage in order:
        widths = medians.reindex(cells)[stage].fillna(0).to_numpy()
        ax.barh(cells, widths, left=left, height=0.6, color=colors[stage], label=stage,
                edgecolor="white")
        left += widths
    ax.set_ylim(len(cells) - 0.5, -0.5)  # first cell on top, bars of the same thickness
    ax.set_xlabel("seconds since the instance's release (sum of stage medians)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    fig.tight_layout()
    return fig


def trial_timeline(stages_of_one_trial: pd.DataFrame) -> Figure:
    """Gantt chart of one trial's boot stages: one row per stage, from its start to its end."""
    import matplotlib.pyplot as plt

    rows = stages_of_one_trial.sort_values("start", kind="stable")
    fig = plt.figure(figsize=(10.0, 1.5 + 0.35 * max(1, len(rows))))
    ax = fig.add_subplot()
    if rows.empty:
        ax.set_title("boot stages of one trial")
        _no_data(ax, "no boot stages")
        return fig
    first = rows.iloc[0]
    ax.set_title(f"{first['cell']}: repetition {first['repetition']}, instance "
                 f"{first['instance']}, {rows['duration'].sum():.2f} s")
    colors = _stage_colors(list(rows["stage"]))
    ax.barh(rows["stage"], rows["duration"], left=rows["start"],
            color=[colors[s] for s in rows["stage"]])
    for y, (_, row) in enumerate(rows.iterrows()):
        ax.text(row["end"], y, f" {row['duration']:.2f} s", va="center", fontsize="small")
    ax.invert_yaxis()  # first stage on top
    ax.set_xlim(0, rows["end"].max() * 1.12)
    ax.set_xlabel("seconds since the instance's release")
    fig.tight_layout()
    return fig
