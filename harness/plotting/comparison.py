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


def _color(row: pd.Series) -> str:
    """Red or green when the verdict is sure (no "likely"), grey otherwise."""
    verdict = str(row["verdict"])
    if "likely" in verdict or not ("slower" in verdict or "faster" in verdict):
        return UNCLEAR_COLOR
    return SLOWER_COLOR if row["ratio"] > 1 else FASTER_COLOR


def _factor(ratio: float) -> str:
    return f"{ratio:.2f}x slower" if ratio >= 1 else f"{1 / ratio:.2f}x faster"


def ratio_chart(comparison: pd.DataFrame, labels: list[str], title: str) -> Figure:
    """One row per comparison row (`labels` name them): the ratio candidate / baseline with
    its CI (none below 5 trials a side: a bare point), a line at 1, the factor written beside.
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
        error = None if np.isnan(low) else [[row["ratio"] - low], [high - row["ratio"]]]
        ax.errorbar(row["ratio"], i, xerr=error, fmt="o", color=_color(row), capsize=4)
        ax.annotate(_factor(row["ratio"]), (high if not np.isnan(high) else row["ratio"], i),
                    xytext=(6, 0), textcoords="offset points", va="center", fontsize="small")
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_yticks(y, labels[:len(rows)])
    ax.set_ylim(len(rows) - 0.5, -0.5)  # first row on top, none on an edge
    finite = rows[["ratio", "ratio_ci_low", "ratio_ci_high"]].to_numpy(dtype=float)
    finite = finite[np.isfinite(finite)]
    ax.set_xlim(min(0.9, finite.min() * 0.95), max(1.1, finite.max() * 1.15))
    ax.set_xlabel("ratio of medians, candidate / baseline (95% CI; 1 = no difference)")
    return fig
