"""Number and list formatting shared by the report's sections.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd


def number(value: float, fmt: str = ".2f") -> str:
    return "n/a" if value is None or math.isnan(value) else format(value, fmt)


def distinct(values: Any) -> str:
    """The distinct values of a column or list, sorted, comma-separated; `none` if there are
    none (missing values are skipped)."""
    distinct = sorted(pd.Series(list(values), dtype=object).dropna().unique())
    return ", ".join(str(v) for v in distinct) or "none"


def estimate(value: float, low: float, high: float, fmt: str) -> str:
    """`value (low to high)`, `value (no CI)` where the fit had too few transfers for one,
    `n/a` without a fit."""
    if math.isnan(low) and math.isnan(high):
        return "n/a" if math.isnan(value) else f"{number(value, fmt)} (no CI)"
    return f"{number(value, fmt)} ({number(low, fmt)} to {number(high, fmt)})"
