"""A sweep seen from the process that launched it: progress with an ETA, the aggregate at the
sweep root, a job that ended without results, Ctrl-C (the jobs ended, SLURM's cancelled) and
the best configuration of a search."""

from __future__ import annotations

import logging
import os
import platform
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from harness.cli.outcome import EXIT_JOB_FAILED, exit_unless_measured, launcher_name, report
from harness.host import facts
from harness.plan import identity
from harness.results import resume, store

log = logging.getLogger("lgbench")
SEARCH_RESULTS_FILE = "optimization_results.yaml"  # written by Hydra's Optuna sweeper


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
        launcher = launcher_name(config.hydra)
        if config.parallel_max and launcher != "interleaved":
            log.warning("parallel_max=%d: hydra/launcher=%s measures the sweep's own N; only "
                        "the default launcher, in rounds, searches N", config.parallel_max,
                        launcher)

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        if config.hydra.mode != RunMode.MULTIRUN or config.round:
            return  # an interleaved round: the launcher tells the progress
        self.total = max(self.total, config.hydra.job.num + 1)  # a cell the N search added
        progress = f"cell {config.hydra.job.num + 1} of {self.total}"
        run_dir = Path(config.hydra.runtime.output_dir)
        self.job_started = None
        if config.resume and resume.is_complete(run_dir, identity(config)):
            log.info("%s: complete in %s, skipped", progress, run_dir)
            return
        if config.round == 0:
            log.info("%s: warm-ups", progress)
            return
        self.job_started = time.monotonic()
        eta = ""
        if self.measured:
            left = self.measuring / self.measured * (self.total - self.done)
            eta = f", sweep ETA {int(left) // 60}m{int(left) % 60:02d}s"
        log.info("%s%s", progress, eta)

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        if config.round:
            return
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
    report(root, swept=list(config.hydra.sweeper.params or {})
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
    """A job of the sweep ended without a result (cancelled with scancel, killed, crashed,
    its results not written):
    wait for the others, write the aggregate of what finished, say which job and how to
    finish the sweep, exit EXIT_JOB_FAILED."""
    config = SweepCallback.running
    if config is None:
        raise exc
    wait_for_jobs(config)
    said = re.search(r"Job (\S+) .*?\(state: ([^)]*)\)", str(exc), re.S)
    what = f"job {said.group(1)} ended {said.group(2)}" if said else str(exc).splitlines()[0]
    try:
        kept = f"the aggregate holds the {len(write_aggregate(config))} cell(s) with results"
    except OSError as failed:  # the disk that failed the cell may fail the aggregate too
        kept = (f"the aggregate could not be written ({failed.strerror}), each cell's folder "
                f"keeps its rows")
    print(f"lgbench: error: a cell of the sweep did not finish ({what}); {kept}; resume=true "
          f"measures the rest", file=sys.stderr, flush=True)
    sys.exit(EXIT_JOB_FAILED)


def hydra_value(value: object) -> str:
    """A value as a Hydra override writes it: a string that is empty or holds spaces or the
    grammar's own characters (kernel words such as `con=none ssl=none`) goes in quotes."""
    text = str(value)
    if isinstance(value, str) and (not text or any(c in text for c in " ,'[]{}()=:")):
        return f'"{text}"'
    return text


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
    best = [f"{k}={hydra_value(v)}" for k, v in results.best_params.items()]
    line = shlex.join(["lgbench", *kept, *best, "hydra.mode=RUN"])
    return (f"best of the search: median {config.objective} {results.best_value:.3f} s; "
            f"measure it again with:\n  {line}")


def cancel_slurm_jobs() -> list[str]:
    """Cancel the sweep's SLURM jobs (SIGTERM: each ends its appliances and records
    `interrupted`) and wait until the queue holds none of them."""
    config = SweepCallback.running
    jobs = slurm_jobs(config) if config is not None else []
    if jobs:
        subprocess.run(["scancel", *jobs], capture_output=True)
        wait_for_jobs(config, timeout_s=120.0)
    return jobs


def end_jobs(timeout_s: float = 60.0) -> list[int]:
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
