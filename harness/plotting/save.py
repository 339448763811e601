"""The one place figures become files: headless, PNG at one resolution with an SVG beside it
(the HTML report embeds the SVG, sharp at any zoom), closed after saving. Saved through
harness.host.trust, into a plots folder checked to be the user's own, so a link planted at a
figure's name or at the folder is never written through (lgbench-report runs as root on runs
other users may have left)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.host import trust
from harness.plotting.common import pyplot

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DPI = 150
PLOTS_DIR = "plots"  # beside report.md; report.html embeds only the figures saved here


def _save(figure: Figure, path: Path, fmt: str, **options: Any) -> None:
    # atomic_write's temporary name has no suffix to guess the format from.
    trust.atomic_write(path, lambda tmp: figure.savefig(tmp, format=fmt, bbox_inches="tight",
                                                        **options))


def save_figures(figures: dict[str, Figure], plot_dir: Path) -> list[Path]:
    """Write each figure to plot_dir/<name> (a plain .png name) and beside it as .svg, and
    close it; the PNG paths in the same order."""
    plt = pyplot()
    trust.secure_folder(plot_dir)
    paths = []
    for name, figure in figures.items():
        if name != Path(name).name or name.startswith("."):  # no folder part, no `..`
            raise ValueError(f"{name!r} is not a plain file name for a figure")
        _save(figure, plot_dir / name, "png", dpi=DPI)
        _save(figure, (plot_dir / name).with_suffix(".svg"), "svg")
        plt.close(figure)
        paths.append(plot_dir / name)
    return paths
