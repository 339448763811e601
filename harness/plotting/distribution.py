"""Per-cell figures: every trial's time with the distribution, and trial outcomes per status.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from harness.analysis.summary import measured_trials, status_counts
from harness.plotting.common import (
    LONG_LABEL,
    MANY_CELLS,
    MAX_POINTS,
    MAX_WIDTH_IN,
    no_data,
    pyplot,
    subsample,
)
from harness.results.records import STATUS_OK, STATUSES

if TYPE_CHECKING:
    from matplotlib.figure import Figure



def launch_distribution(trials: pd.DataFrame, metric: str = "launch_s") -> Figure:
    """Box plot per cell of the ok, non-warm-up values of `metric`, the trials drawn on top
    (at most MAX_POINTS per cell; none past MANY_CELLS cells), as the title says.

    Cells with no successful trial keep an empty slot on the x axis rather than vanishing.
    Boxes and points are split by `accel_effective` when it varies (e.g. KVM fell back to TCG).
    """
    plt = pyplot()
    import seaborn as sns

    measured = measured_trials(trials)
    ok = measured[(measured["status"] == STATUS_OK) & measured[metric].notna()]
    cells = list(pd.unique(measured["cell"]))

    fig = plt.figure(figsize=(min(MAX_WIDTH_IN, max(6.0, 1.0 + 0.8 * len(cells))), 4.5))
    ax = fig.add_subplot()
    if ok.empty:
        ax.set_title(f"{metric} per cell (ok trials, warm-ups excluded)")
        no_data(ax, "no successful trials")
        return fig

    hue = "accel_effective" if ok["accel_effective"].nunique() > 1 else None
    many = len(cells) > MANY_CELLS
    points, cut = subsample(ok, "cell")
    drawn = ("boxes only" if many else
             f"at most {MAX_POINTS} trials drawn per cell" if cut else "every trial drawn")
    ax.set_title(f"{metric} per cell (ok trials, warm-ups excluded; {drawn})")
    # Unfilled boxes keep the points, drawn by stripplot instead of as fliers, visible.
    sns.boxplot(data=ok, x="cell", y=metric, hue=hue, order=cells, fill=False,
                showfliers=many, ax=ax)
    if not many:
        sns.stripplot(data=points, x="cell", y=metric, hue=hue, order=cells,
                      dodge=hue is not None, size=4, alpha=0.7, legend=False, ax=ax)
    ax.set_xlabel("cell")
    ax.set_ylabel(f"{metric} (seconds)")
    if max(len(str(cell)) for cell in cells) > LONG_LABEL:
        ax.tick_params(axis="x", labelrotation=30)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
    fig.tight_layout()
    return fig


def status_grid(trials: pd.DataFrame) -> Figure:
    """Heatmap of trial counts per cell and status, so failures are seen next to successes.
    Past MANY_CELLS cells only the cells with a failure are shown, as the title says."""
    plt = pyplot()
    import seaborn as sns

    counts = status_counts(trials).set_index("cell")[list(STATUSES)]
    title = "trials per cell and status (warm-ups excluded)"
    failing_only = len(counts) > MANY_CELLS
    if failing_only:
        failing = counts[counts.drop(columns=STATUS_OK).sum(axis=1) > 0]
        title += f"; the {len(failing)} of {len(counts)} cells with a failure"
        counts = failing

    fig = plt.figure(figsize=(7.0, 1.5 + 0.4 * min(len(counts), MANY_CELLS * 2)))
    ax = fig.add_subplot()
    ax.set_title(title)
    if counts.empty:
        no_data(ax, "every trial ok" if failing_only else "no trials")
        return fig

    sns.heatmap(counts, annot=len(counts) <= MANY_CELLS, fmt="d", cmap="Blues", cbar=False,
                linewidths=0.5, ax=ax)
    ax.set_xlabel("status")
    ax.set_ylabel("cell")
    ax.tick_params(axis="y", labelrotation=0)
    fig.tight_layout()
    return fig
