"""Appliance types: each appliance kind (cached cold, fixed, fixed in /dev/shm) against the
cached appliance with a hot cache, per workload and page-cache state, next to the guide's
finding."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from harness.analysis import guide
from harness.analysis.appliances import appliance_pairs, has_appliance_types
from harness.analysis.compare import METHOD
from harness.plotting.comparison import ratio_chart
from harness.reporting.studies.base import Recommendation, Rows, Study
from harness.reporting.text import markdown_table, number
from harness.results import store


def _choice(kind: str) -> str:
    """The `appliance=` choice that makes an appliance kind: cached-cold is cached_cold."""
    return {"cached-hot": "cached", "cached-cold": "cached_cold"}.get(kind, kind)


class ApplianceStudy(Study[pd.DataFrame]):
    """Result: appliance_pairs' rows, judged."""

    name = "appliances"
    claims = (guide.FIXED_APPLIANCE,)

    def applies(self, rows: Rows) -> bool:
        return has_appliance_types(rows.trials)

    def analyse(self, rows: Rows, earlier: Mapping[str, Any]) -> pd.DataFrame:
        return appliance_pairs(rows.trials)

    def comparisons(self, result: pd.DataFrame) -> dict[str, pd.DataFrame]:
        return {"appliances": result}

    def judged(self, result: pd.DataFrame, verdicts: dict[str, pd.DataFrame]) -> pd.DataFrame:
        return verdicts["appliances"]

    def recommendations(self, result: pd.DataFrame) -> list[Recommendation]:
        return [Recommendation.from_judged(
            row, f"appliance={_choice(row.candidate)} instead of {_choice(row.baseline)}",
            f"{row.backend}, {row.workload}",
            f"lgbench -m appliance={_choice(row.baseline)},{_choice(row.candidate)} "
            f"backend={row.backend} workload={row.workload.split('[')[0]}")
            for row in result.itertuples()]

    def expectations(self, result: pd.DataFrame) -> list[guide.Expectation]:
        fixed = result[result["candidate"].isin(["fixed", "fixed_shm"])]
        if fixed.empty:
            return [guide.Expectation(guide.FIXED_APPLIANCE, guide.UNCHECKABLE,
                                      "no fixed appliance beside a cached one in this run")]
        bounded = (fixed["ratio_ci_low"] > 0) & (fixed["ratio_ci_high"] < float("inf"))
        faster = fixed[fixed["ratio_ci_high"] < 1]
        verdict = (guide.FAILS if len(faster) else guide.UNSETTLED if not bounded.all()
                   else guide.HOLDS)
        measured = "; ".join(f"{row.candidate} at {row.backend}, {row.workload}: {row.verdict}"
                             for row in fixed.itertuples())
        return [guide.Expectation(guide.FIXED_APPLIANCE, verdict, measured)]

    def files(self, result: pd.DataFrame) -> dict[str, pd.DataFrame]:
        return {store.APPLIANCES_FILE: result}

    def figures(self, result: pd.DataFrame) -> dict[str, Any]:
        if result.empty:
            return {}
        labels = [f"{r.candidate}, {r.workload}, page cache {r.page_cache}"
                  for r in result.itertuples()]
        return {"appliance_ratios.png": ratio_chart(
            result, labels, "each appliance against cached (hot), total time")}

    def section(self, result: pd.DataFrame) -> list[str]:
        return appliance_section(result)


def appliance_section(comparison: pd.DataFrame) -> list[str]:
    lines = ["## Appliance types", "", *guide.FIXED_APPLIANCE.quote(), ""]
    if comparison.empty:
        return [*lines, "- No cell of another appliance matches a cached-hot cell."]
    shown = pd.DataFrame({
        "backend": comparison["backend"], "workload": comparison["workload"],
        "page cache": comparison["page_cache"], "appliance": comparison["candidate"],
        "n": [f"{r.n_candidate} vs {r.n_baseline}" for r in comparison.itertuples()],
        "median (s)": [f"{number(r.median_candidate, '.3g')} vs "
                       f"{number(r.median_baseline, '.3g')}" for r in comparison.itertuples()],
        "ratio (interval)": [f"{number(r.ratio, '.3f')} ({number(r.ratio_ci_low, '.3f')} to "
                             f"{number(r.ratio_ci_high, '.3f')})"
                             for r in comparison.itertuples()],
        "verdict": comparison["verdict"]})
    return [*lines, "Total time (launch, workload, close) of each appliance against the cached "
            f"appliance with a hot cache in the same cell otherwise. {METHOD}", "",
            markdown_table(shown, disable_numparse=True)]
