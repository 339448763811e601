"""What lgbench's UML shim costs: its relay of the appliance's channel against UML given
libguestfs's socket directly (as libguestfs's own UML backend did), measured in the same run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from harness.analysis.compare import METHOD
from harness.analysis.uml_shim import has_both_channels, shim_cost, shim_pairs
from harness.reporting.studies.base import Rows, Study
from harness.reporting.text import markdown_table, number
from harness.results import store


class ShimStudy(Study[pd.DataFrame]):
    """Result: shim_pairs' rows, then (judged) shim_cost's: the overhead with its interval."""

    name = "shim"

    def applies(self, rows: Rows) -> bool:
        return has_both_channels(rows.trials)

    def analyse(self, rows: Rows, earlier: Mapping[str, Any]) -> pd.DataFrame:
        return shim_pairs(rows.trials)

    def comparisons(self, result: pd.DataFrame) -> dict[str, pd.DataFrame]:
        return {"shim": result}

    def judged(self, result: pd.DataFrame, verdicts: dict[str, pd.DataFrame]) -> pd.DataFrame:
        return shim_cost(verdicts["shim"])

    def files(self, result: pd.DataFrame) -> dict[str, pd.DataFrame]:
        return {store.SHIM_COST_FILE: result}

    def section(self, result: pd.DataFrame) -> list[str]:
        return shim_section(result)


def shim_section(cost: pd.DataFrame) -> list[str]:
    lines = ["## What lgbench's UML shim costs", "",
             "libguestfs 1.48 has no UML backend: lgbench's shim runs linux.uml, and by default "
             "a relay carries the appliance's channel (`uml_channel` relay). "
             "`backend.relay=direct` gives libguestfs's socket to UML itself, as libguestfs's "
             "own UML backend did. Overhead: the ratio relay / direct minus 1, with its "
             f"interval. {METHOD}", ""]
    if cost.empty:
        return [*lines, "No metric has successful trials on both channels."]

    def percent(value: float) -> str:
        return "n/a" if pd.isna(value) else f"{value * 100:+.1f}%"

    table = pd.DataFrame({
        "cell (direct side)": cost["baseline_cell"], "metric": cost["metric"],
        "n": [f"{a} vs {b}" for a, b in zip(cost["n_baseline"], cost["n_candidate"],
                                              strict=True)],
        "direct (s)": [number(v, ".3g") for v in cost["median_baseline"]],
        "relay (s)": [number(v, ".3g") for v in cost["median_candidate"]],
        "overhead (interval)": [f"{percent(r.overhead)} ({percent(r.overhead_ci_low)} to "
                              f"{percent(r.overhead_ci_high)})" for r in cost.itertuples()],
        "verdict": cost["verdict"]})
    return [*lines, markdown_table(table, disable_numparse=True)]
