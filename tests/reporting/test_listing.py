"""A sweep of many cells reads in its files and plots, not in a page of a line per cell:
report.md and the terminal list the first LISTED cells or series of each list and table, say how
many more there are and in which file, and the files keep every one."""

from __future__ import annotations

import json

import pandas as pd
from helpers.rows import store_run, sweep

from harness.reporting.build import build_report
from harness.reporting.summary import table
from harness.reporting.text import LISTED
from harness.results import store

SERIES = 40  # memsizes, each at N = 1 and 2: 80 cells


def many_series() -> list[dict]:
    """40 series whose makespan grows as sqrt(N): 1.41x T(1) at N = 2, short of the guide."""
    rows = []
    for m in range(SERIES):
        for row in sweep(lambda n, rep: 12.0 * n ** 0.5 + 0.1 * rep, ns=(1, 2), reps=6,
                         memsize=256 + m):
            rows.append({**row, "cell": f"{row['cell']}/m{256 + m}"})
    return rows


def test_many_cells_are_listed_up_to_the_limit_and_counted_beyond_it(tmp_path):
    run = store_run(tmp_path / "run", many_series())
    found = build_report([run], run)
    text = (run / store.REPORT_FILE).read_text()
    cells = 2 * SERIES

    headline = text.split("## ", 1)[0]
    assert headline.count("- `tcg/cached-hot/launch/p") == LISTED
    assert f"- ... and {cells - LISTED} more cells: each in summary.csv." in headline
    assert f"The first {LISTED} cells; {cells - LISTED} more are in `summary.csv`." in text
    assert f"(and {cells - LISTED} more cells: each in summary.csv)" in table(found.summary)
    assert pd.read_csv(run / store.SUMMARY_FILE)["cell"].nunique() == cells

    assert f"The first {LISTED} series; {SERIES - LISTED} more are in `scaling.csv`." in text
    assert (f"- ... and {SERIES - LISTED} more series: each fit in `summary.json`."
            in text)
    assert f"- ... and {SERIES - LISTED} more series: each in `capacity.csv`." in text
    assert pd.read_csv(run / store.CAPACITY_FILE)["series"].nunique() == SERIES
    assert len(json.loads((run / store.SUMMARY_JSON_FILE).read_text())["fits"]) == SERIES

    capacity = [line for line in found.headline() if line.startswith("capacity")]
    assert len(capacity) == LISTED + 1
    assert capacity[-1] == f"capacity: {SERIES - LISTED} more series in capacity.csv"


def test_the_guides_parallel_claim_over_many_series_is_a_count_and_the_furthest(tmp_path):
    run = store_run(tmp_path / "run", many_series())
    (parallel,) = [e for e in build_report([run], run).expectations
                   if "little difference" in e.claim.words]
    assert parallel.verdict == "does not hold"
    assert parallel.measured.startswith(
        f"read as a makespan at most 1.25x T(1): 0 of {SERIES} series hold it; the furthest "
        "from T(1), ")
    assert "makespan is 1.41x T(1)" in parallel.measured
