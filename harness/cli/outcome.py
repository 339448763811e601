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

# Exit statuses: 2 a bad config or an untrusted folder, 3 some cell without an ok trial (unless
# allow_failures=true), 4 a cell ended without all its results (a sweep's job failed, or the
# results could not be written), 130 interrupted.
EXIT_BAD_INPUT, EXIT_NO_OK_TRIAL, EXIT_JOB_FAILED, EXIT_INTERRUPTED = 2, 3, 4, 130


class CellFailed(Exception):
    """A sweep's cell ended without all its results; the sweep's other cells go on and it
    exits EXIT_JOB_FAILED at its end."""


def report(run_dir: Path, swept: Sequence[str] = (), trials: pd.DataFrame | None = None,
           quiet: bool = False) -> pd.DataFrame:
    """Summary, plots and report of run_dir (a run or a sweep root, its trials read unless
    given); the table printed, then for a sweep each swept factor's comparisons (one line per
    cell, judged with the report's comparisons in one family). `quiet`: only the report's
    path (a cell of a sweep whose aggregate prints the same at once). Returns the trials."""
    from harness.reporting.build import build_report, warning_text
    from harness.reporting.studies.base import Options
    from harness.reporting.summary import table

    found = build_report([run_dir], run_dir, trials=trials, options=Options(swept=tuple(swept)))
    if quiet:
        print(f"report: {run_dir / 'report.html'}", flush=True)
        return found.rows.trials
    print(table(found.summary), flush=True)
    if len(found.warnings):
        print(warning_text(found.warnings), flush=True)
    lines = found.headline()
    if lines:
        print("\n".join(lines), flush=True)
    print(f"report: {run_dir / 'report.html'}", flush=True)
    return found.rows.trials


def exit_unless_measured(run_dirs: list[Path], allow_failures: bool,
                         trials: pd.DataFrame | None = None) -> None:
    """Exit EXIT_NO_OK_TRIAL, naming the cells and what happened in them, when some run (a
    run, or each job of a sweep) has a cell without an ok trial, unless failures are allowed.
    `trials`: those of the one run given, when the caller holds them already (not read
    again)."""
    from harness.analysis.summary import cells_without_ok

    frames = ([trials] if trials is not None else
              [store.read_trials([run_dir]) for run_dir in run_dirs])
    failed = {f"{cell} in {run_dir}": counts for run_dir, frame in zip(run_dirs, frames,
                                                                    strict=True)
              for cell, counts in cells_without_ok(frame).items()}
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
