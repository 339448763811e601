"""Per-cell figures: how the trials spread and drift around each cell's median, and the trial
outcomes by status when some failed.

Past MANY_CELLS cells a figure keeps one entry per cell but draws it compactly: a bar per cell
(its median launch and the rest), all cells as one filled outline per part (thousands of
separate bars and labels took half a minute to save and could not be read), one cell in k
named on the axis, as the title says. A cell of more than MAX_POINTS trials is drawn in run
order as the medians of consecutive runs of trials.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from harness.plotting.common import (
    COMPACT_WIDTH_IN,
    LONG_LABEL,
    MANY_CELLS,
    MANY_SERIES,
    MAX_POINTS,
    MAX_WIDTH_IN,
    STATUS_COLORS,
    no_data,
    pyplot,
    subsample,
)
from harness.results.records import STATUS_OK, STATUSES

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

LAUNCH_COLOR, REST_COLOR, WARMUP_COLOR = "tab:blue", "lightsteelblue", "0.6"
# One row per trial: a transfer trial has a row per size, each carrying the trial's total.
TRIAL_KEYS = ["run_id", "cell", "repetition", "instance"]


def _medians(summary: pd.DataFrame, metric: str, cells: list[str]) -> pd.DataFrame:
    """median, ci_low, ci_high of `metric` per cell from the summary (NaN where missing)."""
    rows = summary[summary["metric"] == metric].drop_duplicates("cell").set_index("cell")
    return rows.reindex(cells)[["median", "ci_low", "ci_high"]].astype(float)


def _label_cells(ax: Axes, cells: list[str]) -> int:
    """Name the cells on the x axis, slanted when long: every one, or past MANY_CELLS one in
    every k; k."""
    step = -(-len(cells) // MANY_CELLS)
    named = range(0, len(cells), step)
    ax.set_xticks(list(named), [cells[i] for i in named])
    if max(len(str(cell)) for cell in cells) > LONG_LABEL:
        ax.tick_params(axis="x", labelrotation=30)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
    return step


def _bars(ax: Axes, summary: pd.DataFrame, cells: list[str]) -> None:
    """Past MANY_CELLS cells: the median launch and the rest of the trial as two filled
    outlines from 0 (a bar per cell), each median total's 95% CI as a line."""
    launch = _medians(summary, "launch_s", cells)["median"].fillna(0.0).to_numpy()
    total = _medians(summary, "total_s", cells)
    edges = np.arange(len(cells) + 1) - 0.5
    ax.stairs(launch, edges, fill=True, color=LAUNCH_COLOR, label="launch (median)")
    ax.stairs(total["median"], edges, baseline=launch, fill=True, color=REST_COLOR,
              label="rest of the trial: work and close (median)")
    _intervals(ax, total, capsize=0)
    ax.set_ylim(0, _axis_limits(pd.Series(dtype=float), total)[1])


def _points(ax: Axes, trials: pd.DataFrame, summary: pd.DataFrame, cells: list[str]) -> None:
    """Each trial's total as a point (a colour per run where the trials come from several
    runs), warm-ups grey, and each cell's median total as a bar across it with its 95% CI:
    the axis spans the times, not 0, so spreads and intervals can be read."""
    total = _medians(summary, "total_s", cells)
    x = np.arange(len(cells))
    warm = trials["warmup"].astype(bool)
    bottom, top = _axis_limits(trials.loc[~warm, "total_s"], total)
    ax.hlines(total["median"], x - 0.3, x + 0.3, colors="black", linewidth=2, label="median",
              zorder=4)
    _intervals(ax, total, capsize=5)
    position = {cell: i for i, cell in enumerate(cells)}
    jitter = np.random.default_rng(0)
    runs = (sorted(trials["run"].unique()) if "run" in trials and trials["run"].nunique() > 1
            else [None])
    for k, run in enumerate(runs):
        shown = trials[~warm] if run is None else trials[~warm & (trials["run"] == run)]
        shown = subsample(shown, "cell")[0]
        offset = 0.0 if run is None else (k - (len(runs) - 1) / 2) * 0.5 / len(runs)
        ax.scatter(shown["cell"].map(position) + offset
                   + jitter.uniform(-0.1, 0.1, len(shown)), shown["total_s"], s=14,
                   color="tab:blue" if run is None else f"C{k}", alpha=0.7,
                   label="each trial" if run is None else f"run {run}", zorder=3)
    warmups = subsample(trials[warm], "cell")[0]
    if len(warmups):
        edge = 0.03 * (top - bottom)
        ax.scatter(warmups["cell"].map(position) + jitter.uniform(-0.2, 0.2, len(warmups)),
                   warmups["total_s"].clip(bottom + edge, top - edge), s=14, color=WARMUP_COLOR,
                   marker="x", alpha=0.7, label="warm-up (left out)", zorder=3)
    ax.set_ylim(bottom, top)


def _intervals(ax: Axes, total: pd.DataFrame, capsize: float) -> None:
    """The median total's 95% CI per cell, where there is one."""
    has_ci = (total["median"].notna() & total["ci_low"].notna()).to_numpy()
    if has_ci.any():
        with_ci = total[has_ci]
        ax.errorbar(np.arange(len(total))[has_ci], with_ci["median"], capsize=capsize,
                    fmt="none", ecolor="black", label="95% CI of the median (6+ runs)",
                    yerr=[with_ci["median"] - with_ci["ci_low"],
                          with_ci["ci_high"] - with_ci["median"]])


def _axis_limits(measured: pd.Series, total: pd.DataFrame) -> tuple[float, float]:
    """A little beyond the measured trials, medians and CIs: a slow warm-up must not squash
    the measured runs, so warm-ups outside are drawn at the edge (as the caption says)."""
    low = np.nanmin([measured.min(), total["ci_low"].min(), total["median"].min()])
    high = np.nanmax([measured.max(), total["ci_high"].max(), total["median"].max()])
    pad = 0.1 * (high - low) or 0.05 * abs(high) or 1.0
    return float(low - pad), float(high + pad)


def _run_order(ax: Axes, trials: pd.DataFrame, cells: list[str], top: float) -> int:
    """Each cell's trials in the order they ran, warm-ups first and grey: a drift, or
    measured runs that start slow (too short a warm-up), shows as a slope. A cell of more
    than MAX_POINTS measured trials shows the median of each k in a row (at their middle);
    the largest k."""
    most = 1
    for cell in cells[:MANY_SERIES]:
        rows = trials.loc[trials["cell"] == cell, ["warmup", "started_at", "total_s"]]
        if rows.empty:
            continue
        rows = rows.sort_values(
            ["warmup", "started_at"], ascending=[False, True])
        order = np.arange(1, len(rows) + 1)
        warm = rows["warmup"].astype(bool).to_numpy()
        x, y = order[~warm], rows["total_s"].to_numpy()[~warm]
        if x.size > MAX_POINTS:
            k = -(-x.size // MAX_POINTS)
            runs = np.arange(x.size) // k
            x, y = pd.Series(x).groupby(runs).mean(), pd.Series(y).groupby(runs).median()
            most = max(most, k)
        ax.plot(x, y, marker="o", markersize=4, label=cell)
        ax.scatter(order[warm], rows["total_s"][warm].clip(upper=0.97 * top), marker="x",
                   color=WARMUP_COLOR, zorder=3)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # trials are counted: no 1.25
    ax.set_xlabel("trial, in the order run (warm-ups first, grey x)")
    ax.set_ylabel("time per trial (s, axis not from 0)")
    if len(cells) <= MANY_SERIES:
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(0.0, -0.18))  # below
    return most


def cell_times(trials: pd.DataFrame, summary: pd.DataFrame) -> Figure:
    """Per cell, every trial's time with the median and its 95% CI (from `summary`,
    harness.analysis.summary's table); beside it, the trials in run order. Failed trials are
    left out (the status figure shows them). Past MANY_CELLS cells the points and the
    run-order panel are left out and each cell is a bar of its median launch and the rest,
    past MANY_SERIES cells the run order shows the first ones, as the titles say."""
    plt = pyplot()
    keep = (*TRIAL_KEYS, "run", "warmup", "status", "started_at", "total_s")
    trials = trials[[c for c in keep if c in trials.columns]]  # a copy of all is large
    ok = trials[(trials["status"] == STATUS_OK) & trials["total_s"].notna()]
    ok = ok.drop_duplicates([k for k in (*TRIAL_KEYS, "run") if k in ok.columns])
    cells = list(pd.unique(trials.loc[~trials["warmup"].astype(bool), "cell"]))
    many = len(cells) > MANY_CELLS
    width = COMPACT_WIDTH_IN if many else min(MAX_WIDTH_IN, max(6.0, 2.0 + 0.9 * len(cells)))
    longest = max((len(str(cell)) for cell in cells), default=0)
    height = 4.8 + (0.07 * longest if longest > LONG_LABEL else 0.0)  # room for slanted names
    fig, axes = plt.subplots(1, 1 if many else 2, squeeze=False, layout="constrained",
                             figsize=(width if many else width + 5.0, height),
                             width_ratios=None if many else [width, 5.0])
    left = axes[0][0]
    if ok.empty or not cells:
        left.set_title("time per trial")
        no_data(left, "no successful trials")
        return fig
    points = ("bars only" if many else
              f"at most {MAX_POINTS} trials drawn per cell"
              if ok.groupby("cell").size().max() > MAX_POINTS else "every trial drawn")
    if many:
        _bars(left, summary, cells)
    else:
        _points(left, ok, summary, cells)
    left.set_xlabel("cell")
    left.set_ylabel("time per trial (s)" + ("" if many else ", axis not from 0"))
    step = _label_cells(left, cells)
    named = "" if step == 1 else f", 1 cell in {step} named"
    left.set_title(f"time per trial, by cell ({points}{named}" + ("; y from 0)" if many else
                                                                  "; median, 95% CI)"))
    fig.legend(*left.get_legend_handles_labels(), loc="outside lower center", ncols=3,
               fontsize="small", title=None if many else
               "warm-ups outside the axis are drawn at its edge")
    if not many:
        k = _run_order(axes[0][1], ok, cells, left.get_ylim()[1])
        shown = "" if len(cells) <= MANY_SERIES else f": the first {MANY_SERIES} cells"
        binned = "" if k == 1 else f"; a point is the median of up to {k} in a row"
        axes[0][1].set_title(f"in run order{shown}{binned}")
    return fig


def status_bars(status: pd.DataFrame) -> Figure:
    """Trials per cell split by status in the statuses' own colours, with the counts: drawn
    only when some trial failed (`status` is harness.analysis.summary's status_counts).
    Past MANY_CELLS cells only those with a failure are shown, as the title says; past
    MANY_CELLS of those, a column per cell without its counts written, 1 cell in k named."""
    plt = pyplot()
    counts = status.set_index("cell")[list(STATUSES)]
    title = "trials per cell by status (warm-ups excluded)"
    if len(counts) > MANY_CELLS:
        failing = counts[counts.drop(columns=STATUS_OK).sum(axis=1) > 0]
        title += f"; the {len(failing)} of {len(counts)} cells with a failure"
        counts = failing
    if len(counts) > MANY_CELLS:
        return _status_columns(counts, title)
    fig = plt.figure(figsize=(8.0, 1.5 + 0.45 * len(counts)), layout="constrained")
    ax = fig.add_subplot()
    ax.set_title(title)
    left = np.zeros(len(counts))
    for state in STATUSES:
        if counts[state].sum() == 0:
            continue
        bars = ax.barh(range(len(counts)), counts[state], left=left,
                       color=STATUS_COLORS[state], label=state)
        ax.bar_label(bars, labels=[str(c) if c else "" for c in counts[state]],
                     label_type="center", fontsize="small")
        left += counts[state].to_numpy()
    ax.set_yticks(range(len(counts)), counts.index)
    ax.invert_yaxis()
    ax.set_xlabel("trials")
    ax.legend(title="status", fontsize="small", loc="lower right")
    return fig


def _status_columns(counts: pd.DataFrame, title: str) -> Figure:
    """status_bars' compact form: each status one filled outline over the cells, stacked."""
    fig = pyplot().figure(figsize=(COMPACT_WIDTH_IN, 4.8), layout="constrained")
    ax = fig.add_subplot()
    edges = np.arange(len(counts) + 1) - 0.5
    bottom = np.zeros(len(counts))
    for state in STATUSES:
        if counts[state].sum() == 0:
            continue
        top = bottom + counts[state].to_numpy()
        ax.stairs(top, edges, baseline=bottom, fill=True, color=STATUS_COLORS[state],
                  label=state)
        bottom = top
    step = _label_cells(ax, list(counts.index))
    ax.set_title(f"{title}, 1 in {step} named")
    ax.set_xlabel("cell")
    ax.set_ylabel("trials")
    fig.legend(title="status", fontsize="small", loc="outside right upper")
    return fig
