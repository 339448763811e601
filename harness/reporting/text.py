"""Number and list formatting shared by the report's sections, and the escaping that makes text
from rows and metadata inert in report.md: a cell label, an error message or a hostname comes
from files anyone may have written (a run copied from another user's folder), so it must show
as the same text and never become markup, a link, an image or raw HTML in the report.
"""

from __future__ import annotations

import math
import re
from typing import Any

import pandas as pd

CONTROL = re.compile(r"[\x00-\x1f\x7f]+")  # line breaks, tabs, terminal escapes
# Markdown's own characters, shown as themselves with a backslash (CommonMark and
# Python-Markdown alike). An underscore between two letters or digits (`total_s`) can neither
# open nor close emphasis, so it is left alone and names read as they are. `#`, `-`, `+` and
# `1.` mean something only at a line start, where data never is; `!` and `(` only beside
# brackets, which are escaped.
MARKDOWN_SPECIAL = re.compile(r"[\\`*\[\]|]|_(?![^\W_])|(?<![^\W_])_")
ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}  # no raw HTML, no entity read as another
# Entries of a per-cell or per-series list (or table) that report.md and the terminal show: a
# sweep of a thousand cells is read in its files and plots, not in a page of a thousand lines.
LISTED = 30


def number(value: float, fmt: str = ".2f") -> str:
    return "n/a" if value is None or math.isnan(value) else format(value, fmt)


def one_line(value: Any) -> str:
    """`value` as text on one line: a line break would let data start a line of report.md (a
    heading, a list item, an HTML block)."""
    return CONTROL.sub(" ", str(value))


def md(value: Any) -> str:
    """`value` (from rows or metadata) as markdown text that shows exactly it."""
    text = re.sub(r"[&<>]", lambda m: ENTITIES[m.group(0)], one_line(value))
    return MARKDOWN_SPECIAL.sub(lambda m: "\\" + m.group(0), text)


def code(value: Any) -> str:
    """`value` as a code span, whose text markdown shows as it is: fenced by more backticks
    than it holds in a row, so none of its own can end the span early."""
    text = one_line(value)
    fence = "`" * (max(map(len, re.findall("`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def markdown_table(frame: pd.DataFrame, **to_markdown: Any) -> str:
    """The frame as a markdown table (pandas' to_markdown), its text cells and headers escaped
    (md); numbers stay numbers, for floatfmt."""
    shown = frame.rename(columns=md).map(lambda v: md(v) if isinstance(v, str) else v)
    return shown.to_markdown(index=False, **to_markdown)


def distinct(values: Any) -> str:
    """The distinct values of a column or list, sorted, comma-separated and escaped (md);
    `none` if there are none (missing values are skipped)."""
    distinct = sorted(pd.Series(list(values), dtype=object).dropna().unique())
    return ", ".join(md(v) for v in distinct) or "none"


def estimate(value: float, low: float, high: float, fmt: str) -> str:
    """`value (low to high)`, `value (no CI)` where the fit had too few transfers for one,
    `n/a` without a fit."""
    if math.isnan(low) and math.isnan(high):
        return "n/a" if math.isnan(value) else f"{number(value, fmt)} (no CI)"
    return f"{number(value, fmt)} ({number(low, fmt)} to {number(high, fmt)})"


def listed(items: list[str], more: str) -> list[str]:
    """The list items (`- ...`), or the first LISTED of them and one counting the rest, which
    `more` says where to find ("cells: each in summary.csv")."""
    if len(items) <= LISTED:
        return items
    return [*items[:LISTED], left_out(len(items) - LISTED, more)]


def left_out(count: int, more: str) -> str:
    """The list item that stands for `count` entries not listed."""
    return f"- ... and {count} more {more}."


def first_listed(frame: pd.DataFrame, column: str) -> tuple[pd.DataFrame, int]:
    """The rows of frame's first LISTED distinct values of `column` (cells, series), and how
    many values were left out."""
    values = pd.unique(frame[column])
    if len(values) <= LISTED:
        return frame, 0
    return frame[frame[column].isin(values[:LISTED])], len(values) - LISTED
