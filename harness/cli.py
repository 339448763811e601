"""Entry points: `lgbench` (a Hydra app: one cell per job, sweeps with -m) and `lgbench-report`."""

from __future__ import annotations

import logging
import platform
import signal
import sys
import time
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from harness import doctor, hostinfo, store
from harness.appliances import Appliance
from harness.config import register_configs, validate
from harness.report import build_report, table
from harness.runner import CellPlan, run_cell

log = logging.getLogger("lgbench")
# conf/ sits beside the package in the checkout (editable install); an absolute path keeps
# Hydra from resolving it as a Python module when run through the console script.
CONF_DIR = str(Path(__file__).resolve().parent.parent / "conf")
register_configs()


def cell_label(cfg: DictConfig) -> str:
    """A readable identity of the swept factors, e.g. `tcg/cached-hot/launch/p1`."""
    appliance = cfg.appliance.type
    if appliance == "cached":
        appliance += f"-{cfg.appliance.cache_state}"
    label = f"{cfg.backend.name}/{appliance}/{cfg.workload.name}/p{cfg.parallel}"
    if cfg.memsize is not None:
        label += f"/m{cfg.memsize}"
    return label + (f"/smp{cfg.smp}" if cfg.smp != 1 else "")


def _stop_on_sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
def run(cfg: DictConfig) -> None:
    problems = validate(cfg)
    if problems:
        print(f"lgbench: error: {'; '.join(problems)}", file=sys.stderr)
        sys.exit(2)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)  # clean up as on Ctrl-C
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    # A sweep's jobs share the sweep's name; each job is a run of its own.
    run_name = (f"{run_dir.parent.name}/{run_dir.name}" if hydra_cfg.mode == RunMode.MULTIRUN
                else run_dir.name)
    backend = instantiate(cfg.backend)
    appliance = Appliance(**OmegaConf.to_container(cfg.appliance, resolve=True))
    workload = instantiate(cfg.workload)
    plan = CellPlan(
        run_id=f"{platform.node()}:{run_name}", cell=cell_label(cfg), parallel=cfg.parallel,
        runs=cfg.runs, warmup=cfg.warmup, memsize=cfg.memsize, smp=cfg.smp,
        timeout_s=cfg.timeout_s, cache_dir=Path(cfg.paths.cache_dir),
        probe_timeout_s=cfg.probe_timeout_s, verbose=cfg.verbose, timeline=cfg.timeline)
    metadata = {"run_id": plan.run_id, "cell": plan.cell, "host": hostinfo.host_metadata(),
                "doctor": (doctor.host_facts(plan.cache_dir, plan.probe_timeout_s)
                           if backend.records_host_facts else None),
                "config": OmegaConf.to_container(cfg, resolve=True), "started_at": time.time()}
    store.write_json(run_dir / store.METADATA_FILE, metadata)
    log.info("cell %s: %d warm-up + %d runs, %d appliance(s) each, into %s", plan.cell,
             plan.warmup, plan.runs, plan.parallel, run_dir)
    writer = store.TrialWriter(run_dir)
    interrupted = False
    try:
        run_cell(plan, backend, appliance, workload, writer,
                 store.TrialWriter(run_dir, store.EVENTS_FILE))
    except KeyboardInterrupt:
        interrupted = True
        log.warning("interrupted: keeping the %d rows measured so far", len(writer.rows))
    finally:
        metadata.update(backend=backend.metadata(), appliance=appliance.metadata(),
                        ended_at=time.time(), interrupted=interrupted)
        store.write_json(run_dir / store.METADATA_FILE, metadata)
    if writer.rows:
        summary = build_report([run_dir], run_dir, seed=cfg.seed)
        print(table(summary), flush=True)
        print(f"results: {run_dir}", flush=True)
    if interrupted:
        sys.exit(130)


def count_jobs(overrides: list[str]) -> int:
    """How many jobs the basic sweeper makes of these overrides (later ones win per key)."""
    by_key = {o.key_or_group: o for o in OverridesParser.create().parse_overrides(overrides)}
    n = 1
    for override in by_key.values():
        if override.is_sweep_override():
            n *= len(list(override.sweep_string_iterator()))
    return n


class SweepCallback(Callback):
    """Cell progress with an ETA during sweeps, and the aggregate at the sweep root."""

    def __init__(self) -> None:
        self.total = 1
        self.started = time.monotonic()
        self.done = 0

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        params = [f"{k}={v}" for k, v in (config.hydra.sweeper.params or {}).items()]
        self.total = count_jobs(params + list(config.hydra.overrides.task))
        self.started = time.monotonic()

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        if config.hydra.mode != RunMode.MULTIRUN:
            return
        eta = ""
        if self.done:
            left = (time.monotonic() - self.started) / self.done * (self.total - self.done)
            eta = f", sweep ETA {int(left) // 60}m{int(left) % 60:02d}s"
        log.info("cell %d of %d%s", config.hydra.job.num + 1, self.total, eta)

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        self.done += 1

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        root = Path(config.hydra.sweep.dir)
        jobs = sorted(p.parent for p in root.glob(f"*/{store.TRIALS_FILE}"))
        if not jobs:
            return
        trials = store.read_trials(jobs)
        store.write_frame_parquet(root / store.TRIALS_FILE, trials)
        store.write_json(root / store.METADATA_FILE, {
            "run_id": f"{platform.node()}:{root.name}", "jobs": [p.name for p in jobs],
            "host": hostinfo.host_metadata()})
        summary = build_report([root], root, seed=config.seed)
        print(table(summary), flush=True)
        print(f"aggregate of {len(jobs)} cells: {root}", flush=True)


def main() -> None:
    run()
