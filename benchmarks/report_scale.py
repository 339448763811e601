"""Does `lgbench-report` keep up with big stored runs?

A long runs=auto campaign, a wide sweep or a month of nightly runs merged leave far more trial
rows than the tests' handfuls; the report must stay quick and small enough to redo at will.
This writes synthetic stored runs (trials.parquet and metadata.json, through lgbench's own
writers, launch-like times around 12 s, a few % apart, with a slower second mode) for four
scenarios, times `lgbench-report` end to end as a subprocess and takes its peak resident size:
  one-cell       one cell of 100,000 rows          target: under 5 s and under 1 GiB
  million-rows   one cell of 1,000,000 rows        target: under 5 s and under 1 GiB
  many-cells     1000 cells (N x memsize) of 100   target: under 5 s
  merged-runs    20 runs of 5 cells merged         no target, reported
(many-cells replaced 200 cells of 500 rows under 10 s: as many rows, five times the cells.)
--repeat K reports each scenario K times and judges the median time and peak (the host's
other work makes single timings noisy); --scenario NAME picks scenarios.
Exit status 0 when every target is met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from harness.results import store
from harness.results.records import SCHEMA_VERSION, STATUS_OK

LGBENCH_REPORT = Path(sys.executable).parent / "lgbench-report"
GIB_MIB = 1024
MEDIAN_S = 12.0  # a TCG launch
SPREAD = 0.03  # relative
SLOW_MODE = (0.15, 1.12)  # share of trials, and their median against the main mode
WARMUP_S = 20.0  # the first repetition fills the appliance cache


@dataclass(frozen=True)
class Cell:
    """One synthetic cell: its factors and how many trial rows it stores."""

    parallel: int
    memsize: int
    rows: int
    backend: str = "tcg"

    @property
    def label(self) -> str:
        """The label lgbench gives it (harness.plan.cell_label)."""
        return f"{self.backend}/cached-hot/launch/p{self.parallel}/m{self.memsize}"


def launch_times(n: int, rng: np.random.Generator) -> np.ndarray:
    """n launch-like total times: a main mode around MEDIAN_S and a slower second one."""
    slow = rng.random(n) < SLOW_MODE[0]
    centre = np.where(slow, MEDIAN_S * SLOW_MODE[1], MEDIAN_S)
    return centre * (1 + rng.normal(0, SPREAD / 2, n))


def cell_trials(cell: Cell, run_id: str, rng: np.random.Generator) -> pd.DataFrame:
    """The rows of one cell as the runner leaves them: repetition 0 a warm-up, `parallel`
    instances a repetition, the makespan (the slowest instance) on each instance's row."""
    index = np.arange(cell.rows)
    repetition, instance = index // cell.parallel, index % cell.parallel
    warmup = repetition == 0
    total = np.where(warmup, WARMUP_S, launch_times(cell.rows, rng))
    makespan = pd.Series(total).groupby(repetition).transform("max").to_numpy()
    started = 1.7e9 + repetition * MEDIAN_S * 1.5
    n = cell.rows
    return pd.DataFrame({
        "schema_version": SCHEMA_VERSION, "run_id": run_id, "cell": cell.label,
        "backend": cell.backend, "accel_requested": cell.backend,
        "accel_effective": cell.backend, "appliance": "cached", "cache_state": "hot",
        "workload": "launch", "parallel": cell.parallel, "memsize": cell.memsize, "smp": 1,
        "instance": instance, "repetition": repetition, "warmup": warmup,
        "status": STATUS_OK, "error": pd.Series([None] * n, dtype=object),
        "started_at": started, "ended_at": started + total, "launch_s": total - 0.5,
        "total_s": total, "makespan_s": makespan, "timeline": False})


def store_run(run_dir: Path, cells: list[Cell], seed: int) -> Path:
    """A run folder as lgbench leaves it: trials.parquet and metadata.json."""
    rng = np.random.default_rng(seed)
    trials = pd.concat([cell_trials(c, run_dir.name, rng) for c in cells], ignore_index=True)
    store.write_frame_parquet(run_dir / store.TRIALS_FILE, trials)
    store.write_json(run_dir / store.METADATA_FILE, {
        "run_id": run_dir.name, "cell": cells[0].label,
        "host": {"hostname": "bench-host", "cpu_model": "Synthetic CPU", "cores": 8,
                 "kernel": "6.1.0", "versions": {"libguestfs": "1.48.6", "qemu": "QEMU 7.2"}},
        "backend": {"name": cells[0].backend, "kvm_verdict": "not usable"},
        "config": {"runs": 10, "warmup": 1, "seed": 0}})
    return run_dir


@dataclass(frozen=True)
class Scenario:
    """Stored runs to report on, and the limits the report must keep."""

    name: str
    runs: list[list[Cell]]  # the cells of each run folder
    max_s: float | None
    max_mib: float | None

    @property
    def rows(self) -> int:
        return sum(c.rows for run in self.runs for c in run)

    @property
    def cells(self) -> int:
        return len({c.label for run in self.runs for c in run})


def scenarios() -> list[Scenario]:
    """One cell of 100,000 rows and one of 1,000,000; 1000 cells (N x memsize) of 100; 20 runs
    of 5 cells merged."""
    wide = [Cell(p, 256 + 64 * m, 100) for p in (1, 2, 4, 5, 10) for m in range(200)]
    few = [Cell(p, 512, 50) for p in (1, 2, 5, 10, 25)]
    return [Scenario("one-cell", [[Cell(1, 512, 100_000)]], 5.0, GIB_MIB),
            Scenario("million-rows", [[Cell(1, 512, 1_000_000)]], 5.0, GIB_MIB),
            Scenario("many-cells", [wide], 5.0, None),
            Scenario("merged-runs", [few] * 20, None, None)]


def timed_child(argv: list[str], log: Path) -> tuple[float, float, int]:
    """Run argv with output to `log`: wall seconds, its peak resident MiB, exit status."""
    with open(log, "wb") as out:
        start = time.perf_counter()
        child = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)  # this child's own rusage (ru_maxrss KiB)
        wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss / 1024, child.returncode


def store_runs(base: Path, runs: list[list[Cell]]) -> list[Path]:
    """The scenario's run folders under base."""
    return [store_run(base / f"run-{i:02d}", cells, seed=i) for i, cells in enumerate(runs)]


def run_scenario(scenario: Scenario, root: Path, repeat: int) -> tuple[float, float]:
    """Write the scenario's runs under root, report on them `repeat` times; the median wall
    seconds and peak MiB."""
    base = root / scenario.name
    # Written by a worker: a child's peak resident size counts this process's at the fork,
    # so the frames of a million rows must not grow it.
    with ProcessPoolExecutor(max_workers=1) as worker:
        run_dirs = worker.submit(store_runs, base, scenario.runs).result()
    argv = [str(LGBENCH_REPORT), *map(str, run_dirs), "--out", str(base / "report")]
    walls, peaks = [], []
    for _ in range(repeat):
        wall, peak, code = timed_child(argv, base / "report.log")
        if code != 0:
            raise SystemExit(f"{scenario.name}: lgbench-report exited {code}, see "
                             f"{base / 'report.log'} (--keep DIR keeps it)")
        walls.append(wall)
        peaks.append(peak)
    return float(np.median(walls)), float(np.median(peaks))


def verdict(scenario: Scenario, wall: float, peak: float) -> tuple[str, bool]:
    """The target in words and whether it was met."""
    checks: list[tuple[str, Callable[[], bool]]] = []
    if scenario.max_s is not None:
        checks.append((f"< {scenario.max_s:g} s", lambda: wall < scenario.max_s))
    if scenario.max_mib is not None:
        checks.append((f"< {scenario.max_mib / GIB_MIB:g} GiB", lambda: peak < scenario.max_mib))
    if not checks:
        return "no target (reported)", True
    met = all(check() for _, check in checks)
    return f"target {' and '.join(t for t, _ in checks)}: {'met' if met else 'MISSED'}", met


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="write the runs and reports here and keep them (default: a "
                        "temporary folder, removed at the end)")
    parser.add_argument("--repeat", type=int, default=1, metavar="K",
                        help="report on each scenario K times; judge the medians (default 1)")
    parser.add_argument("--scenario", action="append", metavar="NAME",
                        choices=[s.name for s in scenarios()],
                        help="only this scenario, repeatable (default: all)")
    args = parser.parse_args()
    chosen = [s for s in scenarios() if args.scenario is None or s.name in args.scenario]
    all_met = True
    with tempfile.TemporaryDirectory(prefix="lgb-report-scale-") as tmp:
        root = args.keep or Path(tmp)
        for scenario in chosen:
            wall, peak = run_scenario(scenario, root, max(1, args.repeat))
            text, met = verdict(scenario, wall, peak)
            all_met &= met
            median = f"median of {args.repeat}: " if args.repeat > 1 else ""
            print(f"{scenario.name}: {scenario.rows} rows, {scenario.cells} cells, "
                  f"{len(scenario.runs)} run(s): {median}{wall:.2f} s, peak {peak:.0f} MiB; "
                  f"{text}", flush=True)
    sys.exit(0 if all_met else 1)


if __name__ == "__main__":
    main()
