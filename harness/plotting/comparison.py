"""Comparisons on one axis: each row's ratio of medians with its 95% CI, 1 marked, the factor
written beside it, so which side is faster, by how much and how surely reads at a glance."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from harness.plotting.common import MANY_CELLS, no_data, pyplot

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SLOWER_COLOR, FASTER_COLOR, UNCLEAR_COLOR = "tab:red", "tab:green", "0.45"


def _bounded(row: pd.Series) -> bool:
    return 0 < row["ratio_ci_low"] and np.isfinite(row["ratio_ci_high"])


def _color(row: pd.Series) -> str:
    """Red or green where the verdict names a direction (the interval excludes 1), grey
    otherwise."""
    if row["ratio_ci_low"] > 1:
        return SLOWER_COLOR
    return FASTER_COLOR if row["ratio_ci_high"] < 1 else UNCLEAR_COLOR


def _factor(row: pd.Series) -> str:
    """What the verdict says, in a few words."""
    if not _bounded(row):
        return "too few trials to tell"
    if row["ratio_ci_low"] > 1:
        return f"{row['ratio']:.2f}x slower"
    if row["ratio_ci_high"] < 1:
        return f"{1 / row['ratio']:.2f}x faster"
    return "no clear difference"


def ratio_chart(comparison: pd.DataFrame, labels: list[str], title: str) -> Figure:
    """One row per comparison row (`labels` name them): the ratio candidate / baseline with
    its interval (none where the sizes give none: a bare point), a line at 1, the verdict in
    a few words beside.
    `comparison` is a harness.analysis.compare table (ratio, ratio_ci_*, verdict). Past
    MANY_CELLS rows only the first ones are drawn, as the title says."""
    plt = pyplot()
    rows = comparison.head(MANY_CELLS)
    fig = plt.figure(figsize=(9.0, 1.6 + 0.45 * max(1, len(rows))), layout="constrained")
    ax = fig.add_subplot()
    shown = "" if len(comparison) <= MANY_CELLS else f" (the first {MANY_CELLS} rows)"
    ax.set_title(title + shown)
    if rows.empty:
        no_data(ax, "nothing measured on both sides")
        return fig
    y = np.arange(len(rows))
    for i, (_, row) in enumerate(rows.iterrows()):
        low, high = row["ratio_ci_low"], row["ratio_ci_high"]
        error = [[row["ratio"] - low], [high - row["ratio"]]] if _bounded(row) else None
        ax.errorbar(row["ratio"], i, xerr=error, fmt="o", color=_color(row), capsize=4)
        ax.annotate(_factor(row), (high if _bounded(row) else row["ratio"], i),
                    xytext=(6, 0), textcoords="offset points", va="center", fontsize="small")
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_yticks(y, labels[:len(rows)])
    ax.set_ylim(len(rows) - 0.5, -0.5)  # first row on top, none on an edge
    finite = rows[["ratio", "ratio_ci_low", "ratio_ci_high"]].to_numpy(dtype=float)
    finite = finite[np.isfinite(finite) & (finite > 0)]
    ax.set_xlim(min(0.9, finite.min() * 0.95), max(1.1, finite.max() * 1.15))
    ax.set_xlabel("ratio candidate / baseline (its interval, joint over the report's "
                  "comparisons; 1 = no difference)")
    return fig
