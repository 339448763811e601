"""Fewer launches: each strategy's total and cost per operation (one handle, a handle per
operation, guestfish --listen, ...), its speed-up over a launch per operation, and the M from
which one launch pays for itself, next to the performance guide's advice."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from harness.analysis import guide
from harness.analysis.compare import METHOD
from harness.analysis.operations import (
    break_even,
    has_operations,
    operations_pairs,
    operations_table,
)
from harness.plotting.operations import cost_per_operation
from harness.reporting.studies.base import Recommendation, Rows, Study
from harness.reporting.text import code, markdown_table, md, number
from harness.results import store


@dataclass(frozen=True)
class Operations:
    trials: pd.DataFrame
    pairs: pd.DataFrame  # each strategy against a launch per operation, to be judged
    break_even: pd.DataFrame  # where one launch pays for itself
    table: pd.DataFrame | None = None  # per strategy and M, once the pairs are judged


class OperationsStudy(Study[Operations]):
    name = "operations"
    claims = (guide.FEWER_LAUNCHES,)

    def applies(self, rows: Rows) -> bool:
        return has_operations(rows.trials)

    def analyse(self, rows: Rows, earlier: Mapping[str, Any]) -> Operations:
        return Operations(rows.trials, operations_pairs(rows.trials), break_even(rows.trials))

    def comparisons(self, result: Operations) -> dict[str, pd.DataFrame]:
        return {"operations": result.pairs}

    def judged(self, result: Operations, verdicts: dict[str, pd.DataFrame]) -> Operations:
        return Operations(result.trials, verdicts["operations"], result.break_even,
                          operations_table(result.trials, verdicts["operations"]))

    def recommendations(self, result: Operations) -> list[Recommendation]:
        return [Recommendation.from_judged(
            row, f"workload.strategy={row.candidate} instead of {row.baseline}",
            f"{row.backend}, {row.count} operations on one guest",
            f"lgbench -m workload=operations workload.strategy={row.baseline},{row.candidate} "
            f"workload.count={row.count} backend={row.backend}")
            for row in result.pairs.itertuples()]

    def expectations(self, result: Operations) -> list[guide.Expectation]:
        single = result.pairs[result.pairs["candidate"] == "one_handle"]
        if single.empty:
            return [guide.Expectation(guide.FEWER_LAUNCHES, guide.UNCHECKABLE,
                                      "one handle was not measured against a launch per "
                                      "operation")]
        faster = single["ratio_ci_high"] < 1
        verdict = (guide.HOLDS if faster.all() else guide.FAILS
                   if (single["ratio_ci_low"] > 1).any() else guide.UNSETTLED)
        measured = "; ".join(f"{row.backend}, {row.count} operations: {row.verdict}"
                             for row in single.itertuples())
        return [guide.Expectation(guide.FEWER_LAUNCHES, verdict, measured)]

    def files(self, result: Operations) -> dict[str, pd.DataFrame]:
        return {store.OPERATIONS_FILE: result.table}

    def figures(self, result: Operations) -> dict[str, Any]:
        return {"cost_per_operation.png": cost_per_operation(result.table)}

    def section(self, result: Operations) -> list[str]:
        assert result.table is not None
        return operations_section(result.table, result.break_even)


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
