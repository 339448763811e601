"""`lgbench`: the Hydra app (one cell per job, sweeps with -m), its resolvers and sweep callback.

The analysis and report modules (scipy, matplotlib) are imported where a run reports, so
`lgbench --help` and config errors answer quickly.
"""

from __future__ import annotations

import logging
import os
import platform
import re
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import hydra
import psutil
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from submitit.core.utils import UncompletedJobError

from harness.analysis.precision import StopRule
from harness.cli import precheck
from harness.cli.precheck import BadConfig, drivers
from harness.config import RUNS_AUTO, register_configs, validate
from harness.execution.diagnostics import TEST_TOOL, launch_failed, run_test_tool
from harness.execution.progress import LiveProgress, Progress
from harness.execution.runner import run_cell
from harness.host import checks, facts, feasibility, trust
from harness.plan import CellPlan, cell_label, identity
from harness.results import resume, store

log = logging.getLogger("lgbench")
# conf/ ships inside the package as harness.conf (pyproject.toml maps it), checkout or wheel.
CONF_DIR = "pkg://harness.conf"
# Exit statuses: 2 a bad config or an untrusted folder, 3 some cell without an ok trial (unless
# allow_failures=true), 4 a job of a sweep ended without its results, 130 interrupted.
EXIT_BAD_INPUT, EXIT_NO_OK_TRIAL, EXIT_INTERRUPTED = 2, 3, 130
EXIT_JOB_FAILED = 4  # a job of the sweep ended without its cell's results
SEARCH_RESULTS_FILE = "optimization_results.yaml"  # written by Hydra's Optuna sweeper


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


# In every process a launcher starts: the schemas, and the resolvers of conf/config.yaml.
register_configs()
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


# The swept factors a sweep's end compares, level against level (N has its own section).
COMPARED_IN_SWEEPS = ("backend", "appliance", "workload", "memsize", "smp", "page_cache")


def _level(factor: str, level: object) -> str:
    """`tcg` for a backend, appliance or workload; `memsize=512` for a number."""
    return str(level) if factor in ("backend", "appliance", "workload") else f"{factor}={level}"


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
    for by in (k for k in COMPARED_IN_SWEEPS if k in swept and trials[k].nunique() > 1):
        for row in compare(trials, by, (metric,), seed=seed).itertuples():
            said = ran_faster(_level(by, row.baseline), _level(by, row.candidate), row.ratio,
                              row.ratio_ci_low, row.ratio_ci_high, row.p_holm)
            lines.append(f"{row.baseline_cell}: {said}")
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
        run_dir = measure(cfg)
    except (trust.UntrustedPath, BadConfig) as exc:
        print(f"lgbench: error: {exc}", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
    # A sweep's jobs run on; the sweep checks every cell at its end (SweepCallback).
    if HydraConfig.get().mode == RunMode.RUN:
        exit_unless_measured([run_dir], cfg.allow_failures)
    from harness.analysis.summary import objective

    return objective(store.read_trials([run_dir]), cfg.objective)


def measure(cfg: DictConfig) -> Path:
    """One cell: its folders checked before anything launches, then measured and reported.
    Returns the run folder."""
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    hydra_cfg = HydraConfig.get()
    backend, appliance, workload = drivers(cfg)
    run_dir = trust.secure_folder(Path(hydra_cfg.runtime.output_dir))
    trust.secure_folder(Path(cfg.paths.cache_dir), private=True)
    if _skip_if_complete(cfg, run_dir):
        return run_dir
    # A sweep's jobs share the sweep's name; each job is a run of its own.
    run_name = (f"{run_dir.parent.name}/{run_dir.name}" if hydra_cfg.mode == RunMode.MULTIRUN
                else run_dir.name)
    auto = cfg.runs == RUNS_AUTO
    plan = CellPlan(
        run_id=f"{platform.node()}:{run_name}", cell=cell_label(cfg, workload.variant()),
        parallel=cfg.parallel,
        runs=cfg.max_runs if auto else cfg.runs, warmup=cfg.warmup, memsize=cfg.memsize,
        smp=cfg.smp, timeout_s=cfg.timeout_s, cache_dir=Path(cfg.paths.cache_dir),
        probe_timeout_s=cfg.probe_timeout_s, verbose=cfg.verbose, timeline=cfg.timeline,
        page_cache=cfg.page_cache,
        stop_rule=StopRule(cfg.precision, cfg.min_runs, cfg.max_runs, cfg.budget_s)
        if auto else None)
    metadata = {"run_id": plan.run_id, "cell": plan.cell, "host": facts.host_metadata(),
                "doctor": (checks.host_facts(plan.cache_dir, plan.probe_timeout_s)
                           if backend.records_host_facts else None),
                "config": OmegaConf.to_container(cfg, resolve=True),
                "launcher": launcher_name(hydra_cfg), "started_at": time.time(),
                "feasibility": feasibility.model(), "lgbench": facts.lgbench_provenance(),
                "noise_before": facts.noise()}
    store.write_json(run_dir / store.METADATA_FILE, metadata)
    runs = (f"{cfg.min_runs}..{cfg.max_runs} runs until the median is within "
            f"{cfg.precision:.0%}" if auto else f"{plan.runs} runs")
    log.info("cell %s: %d warm-up + %s, %d appliance(s) each, into %s", plan.cell,
             plan.warmup, runs, plan.parallel, run_dir)
    writer = store.TrialWriter(run_dir)
    interrupted, stop_reason = False, None
    # A live line on a terminal; log lines only where nobody watches (CI, jobs, redirects).
    progress = LiveProgress(plan.cell) if sys.stderr.isatty() else Progress()
    try:
        stop_reason = run_cell(plan, backend, appliance, workload, writer,
                               store.TrialWriter(run_dir, store.EVENTS_FILE), progress)
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
    if writer.rows:
        report(run_dir, cfg.seed)
        print(f"results: {run_dir}", flush=True)
    if interrupted:
        sys.exit(EXIT_INTERRUPTED)
    return run_dir


def count_jobs(overrides: list[str]) -> int:
    """How many jobs the basic sweeper makes of these overrides (later ones win per key)."""
    by_key = {o.key_or_group: o for o in OverridesParser.create().parse_overrides(overrides)}
    n = 1
    for override in by_key.values():
        if override.is_sweep_override():
            n *= len(list(override.sweep_string_iterator()))
    return n


class SweepCallback(Callback):
    """Cell progress with an ETA during sweeps, and the aggregate at the sweep root.

    on_multirun_start/end run in the launching process; on_job_start/end run where the job
    runs, which for submitit is a process of its own (a copy of this callback, pickled after
    on_multirun_start: it knows the total, not the other jobs' progress).
    """

    def __init__(self) -> None:
        self.total = 1
        self.measuring = 0.0  # seconds spent on measured (not skipped) cells
        self.measured = 0
        self.done = 0
        self.job_started: float | None = None  # None while a skipped cell "runs"

    # The running sweep's config, in the launching process: main() needs it when a job fails
    # or the sweep is interrupted (Hydra then calls no on_multirun_end).
    running: DictConfig | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        SweepCallback.running = config
        params = [f"{k}={v}" for k, v in (config.hydra.sweeper.params or {}).items()]
        # A search (Optuna) runs n_trials cells; a grid, every combination.
        self.total = config.hydra.sweeper.get("n_trials") or count_jobs(
            params + list(config.hydra.overrides.task))

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        if config.hydra.mode != RunMode.MULTIRUN:
            return
        progress = f"cell {config.hydra.job.num + 1} of {self.total}"
        run_dir = Path(config.hydra.runtime.output_dir)
        if config.resume and resume.is_complete(run_dir, identity(config)):
            self.job_started = None
            log.info("%s: complete in %s, skipped", progress, run_dir)
            return
        self.job_started = time.monotonic()
        eta = ""
        if self.measured:
            left = self.measuring / self.measured * (self.total - self.done)
            eta = f", sweep ETA {int(left) // 60}m{int(left) % 60:02d}s"
        log.info("%s%s", progress, eta)

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        self.done += 1
        if self.job_started is not None:
            self.measuring += time.monotonic() - self.job_started
            self.measured += 1

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        jobs = write_aggregate(config)
        if not jobs:
            return
        best = best_command(Path(config.hydra.sweep.dir), config)
        if best:
            print(best, flush=True)
        exit_unless_measured(jobs, config.allow_failures)


def write_aggregate(config: DictConfig) -> list[Path]:
    """The sweep root's trials, metadata and report over every job folder holding trials;
    returns those folders."""
    root = Path(config.hydra.sweep.dir)
    jobs = store.job_dirs(root)
    if not jobs:
        return []
    trials = store.read_trials(jobs)
    store.write_frame_parquet(root / store.TRIALS_FILE, trials)
    store.write_json(root / store.METADATA_FILE, {
        "run_id": f"{platform.node()}:{root.name}", "jobs": [p.name for p in jobs],
        "host": facts.host_metadata(), "launcher": launcher_name(config.hydra)})
    report(root, config.seed, swept=list(config.hydra.sweeper.params or {})
           + [o.split("=")[0].lstrip("+~") for o in config.hydra.overrides.task])
    print(f"aggregate of {len(jobs)} cells: {root}", flush=True)
    return jobs


def slurm_jobs(config: DictConfig) -> list[str]:
    """The SLURM job ids submitit gave this sweep's cells (its .submitit/<id>/ folders)."""
    if "slurm" not in launcher_name(config.hydra).lower():
        return []
    folders = Path(config.hydra.sweep.dir) / ".submitit"
    return sorted(p.name for p in folders.iterdir() if p.is_dir()) if folders.is_dir() else []


def wait_for_jobs(config: DictConfig, timeout_s: float = 3600.0) -> None:
    """Until every job of the sweep has ended: SLURM's queue holds none of them, and no job
    process this one started (submitit_local) is left."""
    deadline = time.monotonic() + timeout_s
    jobs = slurm_jobs(config)
    while jobs and time.monotonic() < deadline:
        queued = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True)
        if queued.returncode != 0 or not set(queued.stdout.split()) & set(jobs):
            break
        time.sleep(2.0)
    psutil.wait_procs(psutil.Process().children(), timeout=max(0.0, deadline - time.monotonic()))


def job_failed(exc: Exception) -> None:
    """A job of the sweep ended without a result (cancelled with scancel, killed, crashed):
    wait for the others, write the aggregate of what finished, say which job and how to
    finish the sweep, exit EXIT_JOB_FAILED."""
    config = SweepCallback.running
    if config is None:
        raise exc
    wait_for_jobs(config)
    said = re.search(r"Job (\S+) .*?\(state: ([^)]*)\)", str(exc), re.S)
    what = f"job {said.group(1)} ended {said.group(2)}" if said else str(exc).splitlines()[0]
    jobs = write_aggregate(config)
    print(f"lgbench: error: a cell of the sweep did not finish ({what}); the aggregate holds "
          f"the {len(jobs)} cell(s) with results; resume=true measures the rest",
          file=sys.stderr, flush=True)
    sys.exit(EXIT_JOB_FAILED)


def best_command(root: Path, config: DictConfig) -> str | None:
    """After a search, the best configuration as an lgbench command line that re-runs it as
    one cell (the search's own command, with its best values and hydra.mode=RUN). None after
    a grid, which writes no optimization_results.yaml."""
    found = root / SEARCH_RESULTS_FILE
    if not found.is_file():
        return None
    results = OmegaConf.load(found)
    swept = set(results.best_params)
    kept = [o for o in config.hydra.overrides.task if o.split("=")[0].lstrip("+~") not in swept]
    line = " ".join(["lgbench", *kept, *(f"{k}={v}" for k, v in results.best_params.items()),
                     "hydra.mode=RUN"])
    return (f"best of the search: median {config.objective} {results.best_value:.3f} s; "
            f"measure it again with:\n  {line}")


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
        ended = [*map(str, _end_jobs()), *_cancel_slurm_jobs()]
        log.warning("interrupted%s", f": ended the jobs {ended}" if ended else "")
        sys.exit(EXIT_INTERRUPTED)
    except UncompletedJobError as exc:
        job_failed(exc)


def _cancel_slurm_jobs() -> list[str]:
    """Cancel the sweep's SLURM jobs (SIGTERM: each ends its appliances and records
    `interrupted`) and wait until the queue holds none of them."""
    config = SweepCallback.running
    jobs = slurm_jobs(config) if config is not None else []
    if jobs:
        subprocess.run(["scancel", *jobs], capture_output=True)
        wait_for_jobs(config, timeout_s=120.0)
    return jobs


def _end_jobs(timeout_s: float = 60.0) -> list[int]:
    """Interrupt the jobs a launcher started here and wait until they (and what they started)
    are gone. The jobs themselves end their appliances on SIGINT, as on Ctrl-C; only they
    are signalled (processes of this group below submitit's controllers, which are our
    children), since a controller SIGKILLs its job one second after a signal of its own."""
    me = psutil.Process()
    descendants = me.children(recursive=True)
    controllers = {p.pid for p in me.children()}
    for proc in descendants:
        try:
            if proc.pid not in controllers and os.getpgid(proc.pid) == os.getpgrp():
                proc.send_signal(signal.SIGINT)
        except (ProcessLookupError, psutil.Error):
            continue
    _, alive = psutil.wait_procs(descendants, timeout=timeout_s)
    for proc in alive:
        try:
            proc.kill()
        except psutil.Error:
            continue
    return sorted(p.pid for p in descendants)
