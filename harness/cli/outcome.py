"""What a finished cell or sweep leaves: its report and the summary on the terminal (a sweep's
swept factors compared in hyperfine's words), and the exit status."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig

from harness.results import store

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


def _level(factor: str, level: object) -> str:
    """`tcg` for a backend, appliance or workload; `memsize=512` for a number."""
    if factor in ("backend", "appliance", "workload"):
        return str(level)
    return f"{factor}={level if level != '' else repr('')}"


def report(run_dir: Path, seed: int, swept: Sequence[str] = ()) -> None:
    """Summary, plots and report of run_dir (a run or a sweep root); the table printed, then
    for a sweep each swept factor's comparisons in hyperfine's words (in report.md too)."""
    from harness.analysis.compare import compare, ran_faster
    from harness.reporting.build import build_report, warning_text
    from harness.reporting.sections.summary import table

    trials = store.read_trials([run_dir])
    # With N > 1 a repetition's instances are not independent trials: one makespan each.
    metric = "makespan_s" if (trials["parallel"] > 1).any() else "total_s"
    lines = []
    columns = {COLUMN_OF_KEY.get(key, key) for key in swept}
    for by in (k for k in COMPARED_IN_SWEEPS if k in columns and k in trials
               and trials[k].nunique() > 1):
        for row in compare(trials, by, (metric,), seed=seed).itertuples():
            said = ran_faster(_level(by, row.baseline), _level(by, row.candidate), row.ratio,
                              row.ratio_ci_low, row.ratio_ci_high, row.p_holm)
            lines.append(f"{row.baseline_cell}: {said}")
    lines = list(dict.fromkeys(lines))  # a transfer's sizes share one total: said once
    sections = ["## Sweep comparisons", "", f"`{metric}`, ratio of medians with its "
                "bootstrap 95% CI, Mann-Whitney p Holm-corrected per swept factor.", "",
                *(f"- {line}" for line in lines)] if lines else None
    found = build_report([run_dir], run_dir, seed=seed, trials=trials, sections=sections)
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
    """The Hydra launcher of this run: `basic` runs cells one after another; the others
    (submitit_local, submitit_slurm) run them as concurrent jobs."""
    return str(hydra_cfg.runtime.choices.get("hydra/launcher") or "basic")
