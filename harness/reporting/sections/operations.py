"""The report's "Fewer launches" section: each strategy's total and cost per operation, its
speed-up over a launch per operation, and the M from which one launch pays for itself, next
to the performance guide's advice."""

from __future__ import annotations

import math

import pandas as pd

from harness.analysis import guide
from harness.analysis.compare import METHOD
from harness.reporting.text import code, markdown_table, md, number


def _interval(low: float, high: float, digits: str = ".3g") -> str:
    if math.isnan(low):
        return "no CI"
    return f"{number(low, digits)} to {number(high, digits)}"


def _table(table: pd.DataFrame) -> str:
    shown = pd.DataFrame({
        "backend": table["backend"], "strategy": table["strategy"], "M": table["count"],
        "launches": table["launches"], "ok/n": [f"{r.n_ok}/{r.n}" for r in table.itertuples()],
        "total (s)": [number(v, ".3g") for v in table["total_median"]],
        "total 95% CI": [_interval(r.total_ci_low, r.total_ci_high) for r in table.itertuples()],
        "per operation (s)": [number(v, ".3g") for v in table["per_operation_median"]],
        "per operation 95% CI": [_interval(r.per_operation_ci_low, r.per_operation_ci_high)
                                 for r in table.itertuples()],
        "speed-up": [number(v, ".2f") for v in table["speedup"]],
        "speed-up 95% CI": [_interval(r.speedup_ci_low, r.speedup_ci_high, ".2f")
                            for r in table.itertuples()],
        "verdict": [md(v) for v in table["verdict"]]})
    return markdown_table(shown, disable_numparse=True)


def _break_even_line(row: pd.Series) -> str:
    fits = (f"fitted totals {row['intercept_s']:.3g} s + {row['slope_s']:.3g} s per operation "
            f"against {row['against_intercept_s']:.3g} s + {row['against_slope_s']:.3g} s")
    if math.isnan(row["break_even_count"]):
        return (f"- {code(row['backend'])}: {code(row['strategy'])} does not pay for itself "
                f"against {code(row['against'])} at any M ({fits}).")
    return (f"- {code(row['backend'])}: {code(row['strategy'])} pays for itself against "
            f"{code(row['against'])} from M = **{row['break_even_count']:.1f}** operations "
            f"({fits}).")


def operations_section(table: pd.DataFrame, break_even: pd.DataFrame) -> list[str]:
    lines = ["## Fewer launches", "", *guide.FEWER_LAUNCHES.quote(), ""]
    if table.empty:
        return [*lines, "- No operations trials."]
    lines += ["Per strategy and M operations: the trial's total (launches included) and the "
              "cost per operation, medians with their distribution-free 95% CIs (none below 6 "
              "trials); speed-up of each strategy over `handle_per_operation` (the inverse of "
              f"the ratio strategy / `handle_per_operation`). {METHOD}", "", _table(table), ""]
    if break_even.empty:
        lines.append("- Where one launch pays for itself needs each strategy at 2 or more M.")
    else:
        lines += [_break_even_line(row) for _, row in break_even.iterrows()]
    return lines
