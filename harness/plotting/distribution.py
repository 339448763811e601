"""Per-cell figures: where a trial's time goes and how the trials spread and drift, and the
trial outcomes by status when some failed.

Past MANY_CELLS cells a figure keeps one entry per cell but draws it compactly: the bars of all
cells as one filled outline per part (thousands of separate bars and labels took half a minute
to save and could not be read), one cell in k named on the axis, as the title says. A cell of
more than MAX_POINTS trials is drawn in run order as the medians of consecutive runs of trials.
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


def _per_cell(ax: Axes, trials: pd.DataFrame, summary: pd.DataFrame, cells: list[str]) -> int:
    """Stacked median bars (launch, then the rest of the trial), each trial's total as a point,
    warm-ups grey, the median total's 95% CI as an error bar. The y axis starts at 0, so
    cells compare by ratio at a glance. Past MANY_CELLS cells: the bars as two outlines, no
    points. One cell in how many is named."""
    launch = _medians(summary, "launch_s", cells)["median"].fillna(0.0).to_numpy()
    total = _medians(summary, "total_s", cells)
    x = np.arange(len(cells))
    many = len(cells) > MANY_CELLS
    labels = ("launch (median)", "rest of the trial: work and close (median)")
    if many:
        edges = np.arange(len(cells) + 1) - 0.5
        ax.stairs(launch, edges, fill=True, color=LAUNCH_COLOR, label=labels[0])
        ax.stairs(total["median"], edges, baseline=launch, fill=True, color=REST_COLOR,
                  label=labels[1])
    else:
        ax.bar(x, launch, width=0.6, color=LAUNCH_COLOR, label=labels[0])
        ax.bar(x, total["median"] - launch, bottom=launch, width=0.6, color=REST_COLOR,
               label=labels[1])
    has_ci = (total["median"].notna() & total["ci_low"].notna()).to_numpy()
    if has_ci.any():
        with_ci = total[has_ci]
        ax.errorbar(x[has_ci], with_ci["median"], capsize=0 if many else 5, fmt="none",
                    ecolor="black", yerr=[with_ci["median"] - with_ci["ci_low"],
                                          with_ci["ci_high"] - with_ci["median"]],
                    label="95% CI of the median (6+ runs)")
    top = _axis_top(trials, total["ci_high"])
    if not many:
        jitter = np.random.default_rng(0)
        position = {cell: i for i, cell in enumerate(cells)}
        for warmup, color, marker, label in ((False, "black", "o", "each trial"),
                                             (True, WARMUP_COLOR, "x", "warm-up (left out)")):
            shown = trials[trials["warmup"].astype(bool) == warmup]
            if shown.empty:
                continue
            shown = subsample(shown, "cell")[0]
            ax.scatter(shown["cell"].map(position) + jitter.uniform(-0.2, 0.2, len(shown)),
                       shown["total_s"].clip(upper=0.97 * top), s=14, color=color, marker=marker,
                       alpha=0.7, label=label, zorder=3)
    ax.set_ylim(0, top)
    ax.set_xlabel("cell")
    ax.set_ylabel("time per trial (s)")
    return _label_cells(ax, cells)


def _axis_top(trials: pd.DataFrame, ci_high: pd.Series) -> float:
    """A little above the highest measured trial or CI: a slow warm-up must not squash the
    measured runs, so warm-ups above it are drawn at the top edge (as the caption says)."""
    measured = trials.loc[~trials["warmup"].astype(bool), "total_s"]
    highest = np.nanmax([measured.max(), ci_high.max()])
    return 1.1 * float(highest if np.isfinite(highest) else trials["total_s"].max())


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
    """Per cell, where a trial's time goes (median launch and rest as one bar, from `summary`,
    harness.analysis.summary's table) with every trial drawn; beside it, the trials in run
    order. Failed trials are left out (the status figure shows them). Past MANY_CELLS cells
    the points and the run-order panel are left out and the bars drawn compactly, past
    MANY_SERIES cells the run order shows the first ones, as the titles say."""
    plt = pyplot()
    trials = trials[[c for c in (*TRIAL_KEYS, "warmup", "status", "started_at", "total_s")
                     if c in trials.columns]]  # a copy of the others is large and unused
    ok = trials[(trials["status"] == STATUS_OK) & trials["total_s"].notna()]
    ok = ok.drop_duplicates([k for k in TRIAL_KEYS if k in ok.columns])
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
    step = _per_cell(left, ok, summary, cells)
    named = "" if step == 1 else f", 1 cell in {step} named"
    left.set_title(f"time per trial, by cell ({points}{named}; y from 0)")
    fig.legend(*left.get_legend_handles_labels(), loc="outside lower center", ncols=3,
               fontsize="small", title="warm-ups above the axis are drawn at its top edge")
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
