"""The cell: what a run measures, before anything runs.

`cell_label` names it for people, `identity` for resume (the resolved config that defines its
measurements), and CellPlan carries its schedule and limits to the runner.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from harness.analysis.precision import StopRule
from harness.results.cells import cell_identity
from harness.results.records import RUNS_AUTO, TIMELINE_SUFFIX


def cell_label(cfg: DictConfig, workload_variant: str = "") -> str:
    """A readable identity of the swept factors, e.g. `tcg/cached-hot/launch/p1` (a workload's
    variant, such as its guest image, in brackets after its name)."""
    appliance = cfg.appliance.type
    if appliance == "cached":
        appliance += f"-{cfg.appliance.cache_state}"
    workload = cfg.workload.name + (f"[{workload_variant}]" if workload_variant else "")
    label = f"{cfg.backend.name}/{appliance}/{workload}/p{cfg.parallel}"
    if cfg.backend.get("relay") == "direct":
        label += "/channel-direct"
    if cfg.backend.get("max_clients") is not None:
        label += f"/clients{cfg.backend.max_clients}"
    if cfg.memsize is not None:
        label += f"/m{cfg.memsize}"
    label += f"/smp{cfg.smp}" if cfg.smp != 1 else ""
    label += f"/append[{','.join(cfg.append.split())}]" if cfg.append.strip() else ""
    label += "/page-cold" if cfg.page_cache == "cold" else ""
    return label + (TIMELINE_SUFFIX if cfg.timeline else "")


def identity(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config that defines a cell's measurements, as metadata.json stores it."""
    keys = [k for k in cfg if k != "hydra"]
    container = OmegaConf.to_container(OmegaConf.masked_copy(cfg, keys), resolve=True)
    return cell_identity(json.loads(json.dumps(container, default=str)))  # as stored JSON


@dataclass(frozen=True)
class CellPlan:
    """Everything about one cell that is not a driver: the repetition schedule and limits."""

    run_id: str
    cell: str
    parallel: int
    runs: int
    warmup: int
    memsize: int | None
    smp: int
    timeout_s: float
    cache_dir: Path
    probe_timeout_s: float
    verbose: bool = False
    timeline: bool = False  # record timestamped libguestfs events (verbose) for boot stages
    stop_rule: StopRule | None = None  # runs=auto: `runs` is then its max_runs
    page_cache: str = "hot"  # cold: the host's page cache dropped before each measured run
    append: str = ""  # extra words for the appliance kernel's command line
    interleaved: bool = False  # measured in rounds with the sweep's other cells (rows: `round`)

    @classmethod
    def from_config(cls, cfg: DictConfig, run_id: str, variant: str) -> CellPlan:
        """The cell's plan from its composed config (the workload's `variant` goes in its label);
        an interleaved cell's rounds are the launcher's, so it has no stop rule of its own."""
        auto = cfg.runs == RUNS_AUTO
        return cls(
            run_id=run_id, cell=cell_label(cfg, variant), parallel=cfg.parallel,
            runs=cfg.max_runs if auto else cfg.runs, warmup=cfg.warmup, memsize=cfg.memsize,
            smp=cfg.smp, timeout_s=cfg.timeout_s, cache_dir=Path(cfg.paths.cache_dir),
            probe_timeout_s=cfg.probe_timeout_s, verbose=cfg.verbose, timeline=cfg.timeline,
            page_cache=cfg.page_cache, append=cfg.append, interleaved=cfg.round is not None,
            stop_rule=StopRule(cfg.precision, cfg.min_runs, cfg.max_runs, cfg.budget_s)
            if auto and cfg.round is None else None)

    def kernel_append(self) -> str:
        """The appliance kernel's extra words: the configured ones, then (timeline) the one
        that makes /init skip its verbose diagnostic dump, as libguestfs's boot-analysis did
        (it would otherwise add about a second to every timed launch)."""
        return " ".join([*self.append.split(), *(["guestfs_boot_analysis=1"]
                                                  if self.timeline else [])])

    @property
    def repetitions(self) -> int:
        """The most repetitions the cell runs, warm-ups included."""
        return self.warmup + self.runs

    @property
    def planned_repetitions(self) -> int:
        """The repetitions the cell surely runs: with runs=auto, up to its min_runs. A cell that
        cannot run gets rows for these."""
        return self.warmup + (self.stop_rule.min_runs if self.stop_rule else self.runs)

    def round_of(self, rep: int) -> int | None:
        """The interleaved round of measured repetition `rep` (1, 2, ...); None for a
        warm-up or a cell measured on its own."""
        return rep - self.warmup + 1 if self.interleaved and rep >= self.warmup else None

    def instances(self, rep: int) -> int:
        """Appliances launched at once in repetition `rep`: one for a warm-up."""
        return 1 if rep < self.warmup else self.parallel
