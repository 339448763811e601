"""`lgbench`: the Hydra app (one cell per job, sweeps with -m) and its resolvers; a sweep's own
handling is in harness.cli.sweep, what a finished run reports and exits with in outcome.

The analysis and report modules (scipy, matplotlib) are imported where a run reports, so
`lgbench --help` and config errors answer quickly.
"""

from __future__ import annotations

import errno
import logging
import os
import platform
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.plugins import Plugins
from hydra.types import RunMode
from hydra_plugins.lgbench_interleaved import InterleavedLauncher
from omegaconf import DictConfig, OmegaConf
from submitit.core.utils import UncompletedJobError

from harness.analysis.precision import STOP_RUNS
from harness.cli import precheck, sweep
from harness.cli.outcome import (
    EXIT_BAD_INPUT,
    EXIT_INTERRUPTED,
    EXIT_JOB_FAILED,
    CellFailed,
    exit_unless_measured,
    launcher_name,
    report,
)
from harness.cli.precheck import BadConfig, drivers
from harness.config import CONF_DIR, register_configs, validate
from harness.execution.diagnostics import TEST_TOOL, launch_failed, run_test_tool
from harness.execution.progress import LiveProgress, Progress
from harness.execution.runner import run_cell
from harness.host import checks, facts, feasibility, trust
from harness.plan import CellPlan, identity
from harness.results import resume, store

if TYPE_CHECKING:  # pandas is imported where a run reports (lgbench --help stays quick)
    import pandas as pd

log = logging.getLogger("lgbench")
# A full, over-quota or read-only disk under the results: the cell ends, its rows so far kept.
WRITE_FAILURES = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)


def resumed_run(fresh: str, *, _root_: DictConfig) -> str:
    """Resolver: with resume=true, the newest run folder of the experiment holding the cell."""
    return str(resume.run_folder(Path(fresh), identity(_root_))) if _root_.resume else fresh


def resumed_sweep(fresh: str, resume_on: bool) -> str:
    """Resolver: with resume=true, the newest sweep folder of the experiment."""
    return str(resume.sweep_folder(Path(fresh))) if resume_on else fresh


def resumed_job(num: int, *, _root_: DictConfig) -> str:
    """Resolver: with resume=true, the job folder in the sweep that holds the cell."""
    if not _root_.resume:
        return str(num)
    return resume.job_folder(Path(str(_root_.hydra.sweep.dir)), num, identity(_root_))


# In every process a launcher starts: the schemas, and the resolvers of conf/config.yaml; and
# the interleaved launcher, which Hydra would only find installed in site-packages.
register_configs()
Plugins.instance().register(InterleavedLauncher)
OmegaConf.register_new_resolver("resumed_run", resumed_run, replace=True)
OmegaConf.register_new_resolver("resumed_sweep", resumed_sweep, use_cache=True, replace=True)
OmegaConf.register_new_resolver("resumed_job", resumed_job, replace=True)


def _stop(signum: int, frame: Any) -> None:
    """Ctrl-C or SIGTERM: end the cell as on Ctrl-C. Later signals are ignored, so that a
    second one (submitit's job controller forwards the terminal's Ctrl-C) cannot cut the
    clean-up of the appliances short."""
    if frame is not None and frame.f_code.co_filename == logging.__file__:
        # Python ignores exceptions raised in logging's fork callbacks (the runner forks
        # workers), which would lose the interrupt: raise it 10 ms later, outside logging.
        signal.signal(signal.SIGALRM, lambda _, later: _stop(signum, later))
        signal.setitimer(signal.ITIMER_REAL, 0.01)
        return
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt(f"signal {signum}")


def _skip_if_complete(cfg: DictConfig, run_dir: Path) -> bool:
    """With resume=true: True if run_dir already holds this cell complete; otherwise set
    aside whatever earlier results are in the way (an incomplete attempt is measured again
    in full)."""
    if not cfg.resume:
        return False
    if resume.is_complete(run_dir, identity(cfg)):
        if HydraConfig.get().mode != RunMode.MULTIRUN:  # the sweep's progress line says it
            log.info("cell %s: complete in %s, skipped",
                     (resume.metadata(run_dir) or {}).get("cell"), run_dir)
        return True
    aside = resume.set_aside(run_dir)
    if aside is not None:
        log.warning("incomplete earlier results moved to %s; measuring the cell again", aside)
    return False


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
def run(cfg: DictConfig) -> float:
    """One cell, measured and reported; returns its objective (the median of `objective`),
    which a sweeper such as Optuna minimises."""
    problems = validate(cfg)
    if problems:
        print(f"lgbench: error: {'; '.join(problems)}", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
    try:
        run_dir, trials = measure(cfg)
    except (trust.UntrustedPath, BadConfig) as exc:
        print(f"lgbench: error: {exc}", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
    except OSError as exc:
        if exc.errno not in WRITE_FAILURES:
            raise
        run_dir = str(HydraConfig.get().runtime.output_dir)
        failed = str(exc.filename or run_dir)  # the cache, say, when not the results
        what = (f"results could not be written in {run_dir}" if failed.startswith(run_dir)
                else f"{failed} could not be written")
        said = f"{what} ({exc.strerror or exc}); what was written before is intact"
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            raise CellFailed(said) from exc  # the sweep's other cells go on
        print(f"lgbench: error: {said}", file=sys.stderr)
        sys.exit(EXIT_JOB_FAILED)
    if trials is None and (run_dir / store.TRIALS_FILE).exists():  # not reported by this job
        trials = store.read_trials([run_dir])
    # A sweep's jobs run on; the sweep checks every cell at its end (SweepCallback).
    if HydraConfig.get().mode == RunMode.RUN:
        exit_unless_measured([run_dir], cfg.allow_failures, trials)
    if trials is None:  # an interleaved cell's warm-ups: none
        return float("nan")
    from harness.analysis.summary import objective

    return objective(trials, cfg.objective)


def measure(cfg: DictConfig) -> tuple[Path, pd.DataFrame | None]:
    """One cell: its folders checked before anything launches, then measured and reported.
    Returns the run folder and the trials its report read (None where there was none)."""
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    hydra_cfg = HydraConfig.get()
    backend, appliance, workload = drivers(cfg)
    run_dir = trust.secure_folder(Path(hydra_cfg.runtime.output_dir))
    trust.secure_folder(Path(cfg.paths.cache_dir), private=True)
    if cfg.round:  # a later round of an interleaved sweep: one more repetition
        return measure_round(cfg, run_dir, backend, appliance, workload)
    if _skip_if_complete(cfg, run_dir):
        return run_dir, None
    # A sweep's jobs share the sweep's name; each job is a run of its own.
    run_name = (f"{run_dir.parent.name}/{run_dir.name}" if hydra_cfg.mode == RunMode.MULTIRUN
                else run_dir.name)
    plan = CellPlan.from_config(cfg, f"{platform.node()}:{run_name}", workload.variant())
    metadata = {"run_id": plan.run_id, "cell": plan.cell, "host": facts.host_metadata(),
                "doctor": (checks.host_facts(plan.cache_dir, plan.probe_timeout_s)
                           if backend.records_host_facts else None),
                "config": OmegaConf.to_container(cfg, resolve=True),
                "launcher": launcher_name(hydra_cfg), "started_at": time.time(),
                "feasibility": feasibility.model(), "lgbench": facts.lgbench_provenance(),
                "noise_before": facts.noise(), "interleaved": plan.interleaved}
    store.write_json(run_dir / store.METADATA_FILE, metadata)
    runs = (f"{cfg.min_runs}..{cfg.max_runs} runs until the median is within "
            f"{cfg.precision:.0%}" if plan.stop_rule else f"{plan.runs} runs")
    log.info("cell %s: %d warm-up + %s%s, %d appliance(s) each, into %s", plan.cell,
             plan.warmup, runs, " in rounds with the sweep's other cells" if plan.interleaved
             else "", plan.parallel, run_dir)
    return measured(cfg, run_dir, plan, (backend, appliance, workload), metadata,
                    store.TrialWriter(run_dir), store.TrialWriter(run_dir, store.EVENTS_FILE),
                    range(plan.warmup) if plan.interleaved else None)


def measure_round(cfg: DictConfig, run_dir: Path, *drivers: Any
                  ) -> tuple[Path, pd.DataFrame | None]:
    """Round `cfg.round` of an interleaved cell: its next measured repetition, its rows
    added to those in run_dir; nothing where round 0 found the cell complete or it ended
    (a failure, or its stop reason recorded)."""
    metadata = resume.metadata(run_dir)
    if metadata is None or metadata.get("stop_reason") is not None \
            or (cfg.resume and resume.is_complete(run_dir, identity(cfg))):
        return run_dir, None
    plan = CellPlan.from_config(cfg, metadata["run_id"], drivers[2].variant())
    rep = plan.warmup + cfg.round - 1
    if rep >= plan.repetitions:
        return run_dir, None
    return measured(cfg, run_dir, plan, drivers, metadata,
                    store.TrialWriter(run_dir, rows=store.read_rows(run_dir)),
                    store.TrialWriter(run_dir, store.EVENTS_FILE,
                                      rows=store.read_rows(run_dir, store.EVENTS_FILE)),
                    range(rep, rep + 1))


def measured(cfg: DictConfig, run_dir: Path, plan: CellPlan, drivers: tuple, metadata: dict,
             writer: store.TrialWriter, events: store.TrialWriter, only: range | None
             ) -> tuple[Path, pd.DataFrame | None]:
    """Run the cell's repetitions (`only` these in an interleaved round), keep its metadata
    and, unless a round is to follow, report it. Returns the run folder and the trials
    reported (read back once, through trust, as every report reads them)."""
    backend, appliance, workload = drivers
    interrupted, stop_reason = False, None
    # A live line on a terminal; log lines only where nobody watches (CI, jobs, redirects).
    progress = LiveProgress(plan.cell) if sys.stderr.isatty() else Progress()
    try:
        stop_reason = run_cell(plan, backend, appliance, workload, writer, events, progress,
                               only)
        if only is not None and stop_reason == STOP_RUNS:
            stop_reason = None  # the launcher's rounds decide when an interleaved cell ends
        if backend.test_tool_applies and launch_failed(writer.rows):
            log.info("a launch failed: running %s with this cell's settings", TEST_TOOL)
            metadata["test_tool"] = run_test_tool(backend, appliance, plan, run_dir)
    except KeyboardInterrupt:
        interrupted = True
        log.warning("interrupted: keeping the %d rows measured so far", len(writer.rows))
    finally:
        progress.close()
        metadata.update(backend=backend.metadata(), appliance=appliance.metadata(),
                        ended_at=time.time(), interrupted=interrupted,
                        stop_reason=stop_reason, noise_after=facts.noise())
        store.write_json(run_dir / store.METADATA_FILE, metadata)
    trials = None
    if writer.rows and not plan.interleaved:  # an interleaved cell: after its last round
        trials = report(run_dir)
        print(f"results: {run_dir}", flush=True)
    if interrupted:
        sys.exit(EXIT_INTERRUPTED)
    return run_dir, trials


def main() -> None:
    """The console script: Hydra's app, plus Ctrl-C and SIGTERM in the launching process
    (while a submitit launcher waits for its jobs), which end the jobs before exiting 130.
    SIGINT is handled even where lgbench was started with it ignored (a script's background
    job, nohup), where Python would otherwise leave it ignored."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _stop)
    # Hydra prints an exception from a launcher and exits 1; with this it reaches job_failed.
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        found = precheck.problem(sys.argv[1:])
        if found:
            print(f"lgbench: error: {found}", file=sys.stderr)
            sys.exit(EXIT_BAD_INPUT)
        run()
    except KeyboardInterrupt:
        ended = [*map(str, sweep.end_jobs()), *sweep.cancel_slurm_jobs()]
        log.warning("interrupted%s", f": ended the jobs {ended}" if ended else "")
        sys.exit(EXIT_INTERRUPTED)
    except (UncompletedJobError, CellFailed) as exc:
        sweep.job_failed(exc)


