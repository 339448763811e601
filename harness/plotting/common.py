"""What every figure shares: fixed status colours, the empty-panel note, slanted long labels.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes



LONG_LABEL = 8  # characters; longer cell labels are slanted so they do not overlap
# Past these sizes a figure stays readable (and quick) by drawing less, and says so in its title.
MAX_POINTS = 200  # trial points drawn per box; a seeded subsample beyond
MANY_CELLS = 30  # cells (or series) past which points, annotations and legends are left out
MANY_SERIES = 8  # series (curves, hues) past which legends and per-series panels are left out
MAX_WIDTH_IN = 30.0  # inches
COMPACT_WIDTH_IN = 16.0  # a figure of many cells drawn compactly: room for MANY_CELLS names


# Fixed colours, so a status looks the same in every figure and every run.
STATUS_COLORS = {"ok": "tab:green", "error": "tab:red", "timeout": "tab:orange",
                 "unsupported": "tab:gray", "infeasible": "tab:purple"}


NOTE_WIDTH = 90  # characters per legend line of a reference's notes


NOTE_LENGTH = 180  # characters kept of each note


def subsample(rows: pd.DataFrame, by: str | list[str], limit: int = MAX_POINTS
              ) -> tuple[pd.DataFrame, bool]:
    """At most `limit` rows per group, the same ones every time (seeded), in their order; and
    whether any group was cut. (Drawn by position: shuffling every column of a million rows
    took a second.)"""
    groups = rows.groupby(by, sort=False).indices.values()
    if all(len(at) <= limit for at in groups):
        return rows, False
    rng = np.random.default_rng(0)
    kept = [rng.choice(at, limit, replace=False) if len(at) > limit else at for at in groups]
    return rows.iloc[np.sort(np.concatenate(kept))], True


def no_data(ax: Axes, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()


def pyplot() -> Any:
    """matplotlib.pyplot, headless: lgbench draws files, never windows (the one place). With
    matplotlib's own defaults: a matplotlibrc in the working folder (read at import) could
    otherwise name functions to call on every figure or LaTeX to run, as root."""
    import matplotlib

    matplotlib.rcdefaults()
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
