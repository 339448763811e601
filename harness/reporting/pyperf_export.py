"""Trials in pyperf's JSON format, so pyperf's own tools (`python -m pyperf stats`, `hist`,
`compare_to`, `metadata`) read lgbench runs: one benchmark per cell (and metric), one pyperf
run per successful measured trial (warm-ups left out, as lgbench's statistics leave them out),
each carrying its run's host, date, versions and config as pyperf metadata.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from harness.analysis.summary import measured_trials, ok_values
from harness.host import trust

PYPERF_FILE = "pyperf.json"


def run_metadata(meta: dict[str, Any]) -> dict[str, Any]:
    """pyperf metadata from a run's metadata.json: the host, when the run started, the
    versions of lgbench and the stack, the backend and accelerator, and the config (as one
    line of JSON). Missing facts are left out (pyperf refuses empty values)."""
    host, backend = meta.get("host") or {}, meta.get("backend") or {}
    versions, lgbench = host.get("versions") or {}, meta.get("lgbench") or {}
    found = {
        "hostname": host.get("hostname"), "cpu_model_name": host.get("cpu_model"),
        "cpu_count": host.get("cores"), "platform": host.get("kernel"),
        "date": (time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(meta["started_at"]))
                 if meta.get("started_at") else None),
        "lgbench_version": lgbench.get("version"), "lgbench_commit": lgbench.get("commit"),
        "libguestfs_version": versions.get("libguestfs"), "qemu_version": versions.get("qemu"),
        "backend": backend.get("name"), "accelerator": backend.get("accel"),
        "lgbench_run": meta.get("run_id"),
        "lgbench_config": json.dumps(meta["config"], sort_keys=True) if meta.get("config")
        else None}
    return {k: v for k, v in found.items() if v not in (None, "")}


def export_pyperf(trials: pd.DataFrame, metadata: list[dict[str, Any]],
                  metrics: Sequence[str], path: Path) -> int:
    """Write the suite to `path` (through trust.atomic_write: a link planted there is
    replaced, never written through); return how many benchmarks it holds. A benchmark is
    named after its cell, with `:metric` when several metrics are exported; each run carries
    the metadata of the lgbench run its trial came from (`metadata`: the runs' metadata.json)."""
    import pyperf

    by_run = {meta.get("run_id"): run_metadata(meta) for meta in metadata}
    benchmarks = []
    for cell, rows in measured_trials(trials).groupby("cell", sort=True):
        for metric in (m for m in metrics if m in rows.columns):
            name = cell if len(metrics) == 1 else f"{cell}:{metric}"
            runs = [pyperf.Run([float(v)], collect_metadata=False, metadata={
                "name": name, "unit": "second", "loops": 1, **by_run.get(run_id, {})})
                for run_id, part in rows.groupby("run_id", sort=False)
                for v in ok_values(part, metric)]
            if runs:
                benchmarks.append(pyperf.Benchmark(runs))
    if benchmarks:
        suite = pyperf.BenchmarkSuite(benchmarks)
        trust.atomic_write(path, lambda tmp: suite.dump(tmp, replace=True))
    return len(benchmarks)
