"""Published figures shipped with the package (analysis/published/<name>.csv), with notes.

The `#` lines at the top of such a CSV say where the numbers come from and under which
conditions; they travel with the points into plot legends and reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

REFERENCE_DIR = Path(__file__).resolve().parent / "published"


@dataclass(frozen=True)
class Reference:
    """The points of a published figure and the comment lines describing them."""

    frame: pd.DataFrame
    notes: list[str]  # the CSV's `#` lines, without the leading "# "
    name: str = "published"


def available() -> list[str]:
    """Names load_reference accepts."""
    return sorted(p.stem for p in REFERENCE_DIR.glob("*.csv"))


def load_reference(name: str) -> Reference:
    """The published figure `name`; FileNotFoundError naming the known ones if there is none."""
    path = REFERENCE_DIR / f"{name}.csv"
    if name not in available():
        raise FileNotFoundError(f"no reference figure {name!r} in {REFERENCE_DIR} "
                                f"(known: {', '.join(available()) or 'none'})")
    lines = path.read_text().splitlines()
    notes = [line.lstrip("#").strip() for line in lines if line.startswith("#")]
    return Reference(frame=pd.read_csv(path, comment="#"), notes=notes, name=name)


def configured_reference(metadata: list[dict[str, Any]]) -> str | None:
    """The published figure the runs' config names (`reference=`), if any."""
    names = sorted({m["config"]["reference"] for m in metadata
                    if m.get("config", {}).get("reference")})
    return names[0] if names else None
