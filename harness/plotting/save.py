"""The one place figures become files: headless, PNG at one resolution with an SVG beside it
(the HTML report embeds the SVG, sharp at any zoom), closed after saving."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from harness.plotting.common import pyplot

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DPI = 150


def save_figures(figures: dict[str, Figure], plot_dir: Path) -> list[Path]:
    """Write each figure to plot_dir/<name> (a .png name) and beside it as .svg, and close it;
    the PNG paths in the same order."""
    plt = pyplot()
    plot_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, figure in figures.items():
        figure.savefig(plot_dir / name, dpi=DPI, bbox_inches="tight")
        figure.savefig((plot_dir / name).with_suffix(".svg"), bbox_inches="tight")
        plt.close(figure)
        paths.append(plot_dir / name)
    return paths
