"""What every figure shares: fixed status colours, the empty-panel note, slanted long labels.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes



LONG_LABEL = 8  # characters; longer cell labels are slanted so they do not overlap


# Fixed colours, so a status looks the same in every figure and every run.
STATUS_COLORS = {"ok": "tab:green", "error": "tab:red", "timeout": "tab:orange",
                 "unsupported": "tab:gray", "infeasible": "tab:purple"}


NOTE_WIDTH = 90  # characters per legend line of a reference's notes


NOTE_LENGTH = 180  # characters kept of each note


def no_data(ax: Axes, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()


def pyplot() -> Any:
    """matplotlib.pyplot, headless: lgbench draws files, never windows (the one place)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
