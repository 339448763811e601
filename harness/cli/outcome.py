"""What a finished cell or sweep leaves: its report and the summary on the terminal (a sweep's
swept factors compared, a line per cell), and the exit status."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from omegaconf import DictConfig

if TYPE_CHECKING:  # pandas is imported where a run reports (lgbench --help stays quick)
    import pandas as pd

from harness.results import store
from harness.results.records import repetition_metric

# Exit statuses: 2 a bad config or an untrusted folder, 3 some cell without an ok trial (unless
# allow_failures=true), 4 a cell ended without all its results (a sweep's job failed, or the
# results could not be written), 130 interrupted.
EXIT_BAD_INPUT, EXIT_NO_OK_TRIAL, EXIT_JOB_FAILED, EXIT_INTERRUPTED = 2, 3, 4, 130


class CellFailed(Exception):
    """A sweep's cell ended without all its results; the sweep's other cells go on and it
    exits EXIT_JOB_FAILED at its end."""


# The swept factors a sweep's end compares, level against level (N has its own section).
COMPARED_IN_SWEEPS = ("backend", "appliance", "workload", "memsize", "smp", "page_cache",
                      "append", "uml_channel")
# A swept config key whose row column has another name.
COLUMN_OF_KEY = {"backend.relay": "uml_channel"}


def sweep_lines(judged: pd.DataFrame) -> list[str]:
    return [f"{row.baseline_cell}: {row.verdict}" for row in judged.itertuples()]


def _level(factor: str, level: object) -> str:
    """`tcg` for a backend, appliance or workload; `memsize=512` for a number."""
    if factor in ("backend", "appliance", "workload"):
        return str(level)
    return f"{factor}={level if level != '' else repr('')}"


def sweep_pairs(trials: pd.DataFrame, swept: Sequence[str], metric: str) -> pd.DataFrame | None:
    """Each swept factor's levels against its first (harness.analysis.compare's rows, to be
    judged with the report's), the levels named as `_level` names them; None if no compared
    factor was swept."""
    import pandas as pd

    from harness.analysis.compare import pair_up

    columns = {COLUMN_OF_KEY.get(key, key) for key in swept}
    factors = [k for k in COMPARED_IN_SWEEPS if k in columns and k in trials
               and trials[k].nunique() > 1]
    if not factors:
        return None
    pairs = []
    for by in factors:
        rows = pair_up(trials, by, (metric,))
        pairs.append(rows.assign(baseline=[_level(by, v) for v in rows["baseline"]],
                                 candidate=[_level(by, v) for v in rows["candidate"]]))
    # A transfer's sizes share one total: the same two cells are compared once.
    return pd.concat(pairs, ignore_index=True).drop_duplicates(
        ["baseline_cell", "baseline", "candidate", "metric"])


def report(run_dir: Path, swept: Sequence[str] = ()) -> None:
    """Summary, plots and report of run_dir (a run or a sweep root); the table printed, then
    for a sweep each swept factor's comparisons, in report.md too: one line per cell, judged
    with the report's comparisons in one family."""
    from harness.analysis.compare import METHOD
    from harness.reporting.build import CallerComparison, build_report, warning_text
    from harness.reporting.sections.summary import table

    trials = store.read_trials([run_dir])
    metric = repetition_metric(int(trials["parallel"].max()))
    pairs = sweep_pairs(trials, swept, metric)

    def section(judged: pd.DataFrame) -> list[str]:
        return ["## Sweep comparisons", "", f"`{metric}`. {METHOD}", "",
                *(f"- {line}" for line in sweep_lines(judged))]
    found = build_report([run_dir], run_dir, trials=trials,
                         caller=None if pairs is None else CallerComparison(pairs, section))
    lines = [] if found.caller is None else sweep_lines(found.caller)
    print(table(found.summary), flush=True)
    if len(found.warnings):
        print(warning_text(found.warnings), flush=True)
    if lines:
        print("\n".join(lines), flush=True)


def exit_unless_measured(run_dirs: list[Path], allow_failures: bool) -> None:
    """Exit EXIT_NO_OK_TRIAL, naming the cells and what happened in them, when some run (a
    run, or each job of a sweep) has a cell without an ok trial, unless failures are allowed."""
    from harness.analysis.summary import cells_without_ok

    failed = {f"{cell} in {run_dir}": counts for run_dir in run_dirs
              for cell, counts in cells_without_ok(store.read_trials([run_dir])).items()}
    if not failed or allow_failures:
        return
    cells = "; ".join(f"{cell}: " + ", ".join(f"{n} {status}" for status, n in counts.items())
                      for cell, counts in failed.items())
    print(f"lgbench: no ok trial in {len(failed)} cell(s) ({cells}); exit "
          f"{EXIT_NO_OK_TRIAL} (allow_failures=true where failures are the finding)",
          file=sys.stderr, flush=True)
    sys.exit(EXIT_NO_OK_TRIAL)


def launcher_name(hydra_cfg: DictConfig) -> str:
    """The Hydra launcher of this run: `interleaved` (the default) runs cells in rounds,
    `basic` one after another; the others (submitit_local, submitit_slurm) run them as
    concurrent jobs."""
    return str(hydra_cfg.runtime.choices.get("hydra/launcher") or "basic")
