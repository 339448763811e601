"""The report's "Appliance types" section: each appliance kind against the cached appliance
with a hot cache, per workload and page-cache state, next to the performance guide's finding."""

from __future__ import annotations

import pandas as pd

from harness.analysis import guide
from harness.analysis.compare import METHOD
from harness.reporting.text import markdown_table, number


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
