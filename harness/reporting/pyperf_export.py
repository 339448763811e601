"""Trials in pyperf's JSON format, so pyperf's own tools (`python -m pyperf stats`, `hist`,
`compare_to`) read lgbench runs: one benchmark per cell (and metric), one pyperf run per
successful measured trial (warm-ups left out, as lgbench's statistics leave them out).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from harness.analysis.summary import measured_trials, ok_values
from harness.host import trust

PYPERF_FILE = "pyperf.json"


def export_pyperf(trials: pd.DataFrame, metrics: Sequence[str], path: Path) -> int:
    """Write the suite to `path` (through trust.atomic_write: a link planted there is
    replaced, never written through); return how many benchmarks it holds. A benchmark is
    named after its cell, with `:metric` when several metrics are exported."""
    import pyperf

    benchmarks = []
    for cell, rows in measured_trials(trials).groupby("cell", sort=True):
        for metric in (m for m in metrics if m in rows.columns):
            values = ok_values(rows, metric)
            if values.size == 0:
                continue
            name = cell if len(metrics) == 1 else f"{cell}:{metric}"
            metadata = {"name": name, "unit": "second", "loops": 1}
            benchmarks.append(pyperf.Benchmark([
                pyperf.Run([float(v)], metadata=metadata, collect_metadata=False)
                for v in values]))
    if benchmarks:
        suite = pyperf.BenchmarkSuite(benchmarks)
        trust.atomic_write(path, lambda tmp: suite.dump(tmp, replace=True))
    return len(benchmarks)
