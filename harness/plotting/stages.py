"""Boot stages: median stage durations per cell, and one representative trial's timeline.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from harness.plotting.common import no_data, pyplot

if TYPE_CHECKING:
    from matplotlib.figure import Figure



def _stage_colors(stages: list[str]) -> dict[str, tuple[float, ...]]:
    plt = pyplot()

    palette = plt.get_cmap("tab20").colors
    return {stage: palette[i % len(palette)] for i, stage in enumerate(stages)}


def stage_bars(stage_summary: pd.DataFrame) -> Figure:
    """One stacked horizontal bar per cell: the median duration of each boot stage, in order
    (harness.analysis.stages.stage_summary's frame). Medians of stages need not add up to the median
    total."""
    plt = pyplot()

    from harness.analysis.stages import stage_order

    cells = list(pd.unique(stage_summary["cell"]))
    order = stage_order(stage_summary)
    # Tall enough for a bar per cell and for the legend of stages beside them.
    height = max(2.0 + 0.6 * len(cells), 1.0 + 0.25 * len(order))
    fig = plt.figure(figsize=(11.0, height))
    ax = fig.add_subplot()
    ax.set_title("median duration of each boot stage per cell (warm-ups excluded)")
    if stage_summary.empty:
        no_data(ax, "no boot stages")
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
    plt = pyplot()

    rows = stages_of_one_trial.sort_values("start", kind="stable")
    fig = plt.figure(figsize=(10.0, 1.5 + 0.35 * max(1, len(rows))))
    ax = fig.add_subplot()
    if rows.empty:
        ax.set_title("boot stages of one trial")
        no_data(ax, "no boot stages")
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
