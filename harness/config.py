"""Structured configs: one dataclass per Hydra group, registered as `<group>/<name>_schema`.

The YAML choices in conf/ extend these schemas, so a typo in a key or a wrong type fails at
compose time with Hydra's own message.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.utils import get_class
from omegaconf import MISSING, OmegaConf

from harness.host import trust
from harness.host.accelerator import PROBE_TIMEOUT_S
from harness.results.records import DEFAULT_RUNS, RUNS_AUTO, TIMED_COLUMNS


@dataclass
class BackendConf:
    _target_: str = MISSING  # driver class, instantiated by hydra.utils.instantiate
    name: str = MISSING  # short name recorded in every row (tcg, kvm, libvirt, ...)
    accel: str = "auto"  # kvm | tcg | uml | auto (auto: KVM where a KVM appliance really boots)


MIN_VALUES_FOR_CI = 6  # the fewest values with a 95% CI of the median ([min, max] of 5: 93.75%)
LIBVIRTD_LIMIT_MAX = 2**32 - 1  # virt-admin takes limits as unsigned 32-bit integers


@dataclass
class DirectBackendConf(BackendConf):
    hv_wrapper: str | None = None  # run qemu through this script (it must exec qemu "$@")


@dataclass
class LibvirtBackendConf(BackendConf):
    max_clients: int | None = None  # libvirtd max_clients for the cell, restored afterwards
    max_workers: int | None = None  # libvirtd max_workers for the cell, restored afterwards


@dataclass
class ApplianceConf:
    _target_: str = MISSING  # appliance class (harness.appliances.*), instantiated per cell
    type: str = MISSING  # recorded in every row: cached | fixed | fixed_shm
    dir: str = MISSING  # where the supermin cache or fixed appliance lives


@dataclass
class CachedApplianceConf(ApplianceConf):
    cache_state: str = "hot"  # hot keeps the supermin cache, cold empties it before every trial


@dataclass
class FixedApplianceConf(ApplianceConf):
    fixed_source: str | None = None  # fixed_shm: the on-disk fixed appliance copied to tmpfs


@dataclass
class WorkloadConf:
    _target_: str = MISSING  # workload class
    name: str = MISSING  # recorded in every row


@dataclass
class TransferWorkloadConf(WorkloadConf):
    sizes: list[int] = field(default_factory=lambda: [2**20])  # bytes per file, one row each
    seed: int = 0  # seeds the payload bytes


@dataclass
class InspectWorkloadConf(WorkloadConf):
    image: str | None = None  # a recipe of lgbench-images or a path (null: linux-lvm)
    domain: str | None = None  # or a libvirt domain by name (guestfish --ro -d NAME)
    images_dir: str = MISSING  # where recipes' images are built
    cache_dir: str = MISSING  # where cached inspection results are kept
    applications: bool = False  # time inspect_list_applications2 too
    icon: bool = False  # time inspect_get_icon too
    cache: bool = False  # reuse inspection results of the same image across trials


@dataclass
class MultiGuestWorkloadConf(WorkloadConf):
    images: list[str] = field(default_factory=lambda: ["linux-lvm"])  # cycled over the guests
    guests: int = 2  # guests per trial, all in one appliance (shared) or one each (separate)
    mode: str = "shared"  # shared | separate
    images_dir: str = MISSING


@dataclass
class OperationsWorkloadConf(WorkloadConf):
    image: str = "linux-lvm"  # a recipe of lgbench-images or a path to a disk image
    images_dir: str = MISSING
    strategy: str = "one_handle"  # one_handle | handle_per_operation | guestfish_listen |
    #                               guestfish_per_operation
    count: int = 4  # M: operations per trial
    seed: int = 0  # seeds the uploaded payload


@dataclass
class CallsWorkloadConf(WorkloadConf):
    count: int = 200  # calls per trial


@dataclass
class PathsConf:
    results_dir: str = "results"  # run outputs: results/<experiment>/<timestamp>/
    cache_dir: str = "${lgbench_cache:}"  # appliances, probe verdicts; per user (host/trust.py)
    images_dir: str = "${.cache_dir}/images"  # guest disk images built by lgbench-images


INTERLEAVED_LAUNCHER = "hydra_plugins.lgbench_interleaved.InterleavedLauncher"


@dataclass
class LgbenchConf:
    backend: Any = MISSING  # typed by each choice's schema (the fake backend adds knobs)
    appliance: ApplianceConf = MISSING
    workload: Any = MISSING  # typed by each choice's schema
    paths: PathsConf = field(default_factory=PathsConf)
    experiment_name: str = "default"  # folder under results_dir, set by experiments/*.yaml
    parallel: int = 1  # appliances launched at once per repetition, one handle each
    # A sweep in rounds searches N: while a series' trials per hour still grow at its largest
    # N (5% over the best smaller N, judged after 3 rounds there), it adds a cell at twice
    # that N, up to parallel_max and what memory holds; 0: the sweep's own N only.
    parallel_max: int = 0
    runs: Any = DEFAULT_RUNS  # measured repetitions per cell (the fewest with a 95% CI), or auto
    precision: float = 0.05  # runs=auto: target half-width of the median's 95% CI / median
    min_runs: int = 6  # runs=auto: at least this many (6: the fewest with a 95% median CI)
    max_runs: int = 30  # runs=auto: at most this many
    budget_s: float = 1800.0  # runs=auto: no repetition that would end later in the cell
    warmup: int = 2  # repetitions before those, stored with warmup=true and left out of stats
    memsize: int | None = None  # appliance memory in MiB; null: libguestfs's default
    smp: int = 1  # appliance vCPUs
    # Extra words for the appliance kernel's command line (libguestfs set_append,
    # LIBGUESTFS_APPEND); a cell factor. Under UML "pty.legacy_count=0 con=none ssl=none"
    # leaves out devices udev would otherwise process (docs/uml.md).
    append: str = ""
    page_cache: str = "hot"  # cold: the host's page cache dropped before each measured run
    timeout_s: float = 300.0  # per repetition; the appliances are killed past it (status timeout)
    seed: int = 0  # seeds generated data (payloads) and the order of interleaved rounds
    verbose: bool = False  # libguestfs verbose (trace) output into the run log
    timeline: bool = False  # record timestamped events (verbose) -> events/stages.parquet
    stages: Any = MISSING  # boot-stage markers for timeline runs (conf/stages/)
    reference: str | None = None  # published figure to overlay: analysis/published/NAME.csv
    probe_timeout_s: float = PROBE_TIMEOUT_S  # bound on the one-off KVM probe of backend=auto
    resume: bool = False  # reuse the earlier run/sweep folder; skip cells already complete there
    allow_failures: bool = False  # exit 0 though some cell has no ok trial (failures the finding)
    objective: str = "total_s"  # the median a Hydra sweeper minimises (experiment=tune_launch)
    run_label: str | None = None  # this run's name where runs are compared (else its folder's)
    # Set by hydra/launcher=interleaved, not by hand: 0 runs a cell's warm-ups, r its r-th
    # measured repetition, added to the rows already in its folder; null: the whole cell.
    round: int | None = None


SCHEMA_SUFFIX = "_schema"  # the names of the schemas in each group: not choices for users
# conf/ ships inside the package as harness.conf (pyproject.toml maps it), checkout or wheel.
CONF_DIR = "pkg://harness.conf"


def register_configs() -> None:
    """Register the schemas so conf/*.yaml can name them in their defaults lists, and the
    resolvers that make default folders per user."""
    OmegaConf.register_new_resolver("euid", os.geteuid, replace=True)
    # The host's CPUs plus `more`: the N of experiment=assess's parallel steps (conf/step/).
    OmegaConf.register_new_resolver("cpus", lambda more=0: (os.cpu_count() or 1) + int(more),
                                    replace=True)
    # The host's CPUs times `times`: how far experiment=assess searches N (parallel_max).
    OmegaConf.register_new_resolver("cpus_times", lambda times: (os.cpu_count() or 1)
                                    * int(times), replace=True)
    OmegaConf.register_new_resolver("lgbench_cache", lambda: str(trust.default_cache_dir()),
                                    replace=True)
    cs = ConfigStore.instance()
    # The default launcher of local sweeps (hydra_plugins.lgbench_interleaved).
    cs.store(group="hydra/launcher", name="interleaved", node={"_target_": INTERLEAVED_LAUNCHER},
             provider="lgbench")
    # experiments/ (the package harness.experiments) is the `experiment` group: it sits beside
    # conf/, not in it, so its files are stored here rather than found by Hydra.
    for experiment in resources.files("harness.experiments").iterdir():
        if experiment.name.endswith(".yaml"):
            cs.store(group="experiment", name=experiment.name.removesuffix(".yaml"),
                     node=OmegaConf.create(experiment.read_text()), package="_global_")
    cs.store(name="lgbench_schema", node=LgbenchConf)
    cs.store(group="backend", name="direct_schema", node=DirectBackendConf)
    cs.store(group="backend", name="libvirt_schema", node=LibvirtBackendConf)
    cs.store(group="appliance", name="cached_schema", node=CachedApplianceConf)
    cs.store(group="appliance", name="fixed_schema", node=FixedApplianceConf)
    cs.store(group="workload", name="workload_schema", node=WorkloadConf)
    cs.store(group="workload", name="transfer_schema", node=TransferWorkloadConf)
    cs.store(group="workload", name="inspect_schema", node=InspectWorkloadConf)
    cs.store(group="workload", name="multi_guest_schema", node=MultiGuestWorkloadConf)
    cs.store(group="workload", name="operations_schema", node=OperationsWorkloadConf)
    cs.store(group="workload", name="calls_schema", node=CallsWorkloadConf)


def auto_runs_problems(cfg: Any) -> list[str]:
    """runs=auto's knobs: a precision in (0, 1), 6 <= min_runs <= max_runs, a positive budget."""
    problems = []
    if not 0 < cfg.precision < 1:
        problems.append(f"precision is a fraction of the median, above 0 and below 1 (got "
                        f"{cfg.precision}; 0.02 asks for a 95% CI within 2%)")
    if cfg.min_runs < MIN_VALUES_FOR_CI:
        problems.append(f"min_runs must be at least {MIN_VALUES_FOR_CI}, the fewest values "
                        f"with a 95% CI of the median (got {cfg.min_runs})")
    if cfg.max_runs < cfg.min_runs:
        problems.append(f"max_runs ({cfg.max_runs}) must be at least min_runs "
                        f"({cfg.min_runs})")
    if cfg.budget_s <= 0:
        problems.append(f"budget_s must be positive (got {cfg.budget_s})")
    return problems


def validate(cfg: Any) -> list[str]:
    """Return the problems a composed config has that types alone cannot catch."""
    problems = []
    if cfg.runs == RUNS_AUTO:
        problems += auto_runs_problems(cfg)
    elif not isinstance(cfg.runs, int) or isinstance(cfg.runs, bool) or cfg.runs < 1:
        problems.append(f"runs must be a whole number from 1, or auto (got {cfg.runs})")
    if cfg.warmup < 0:
        problems.append(f"warmup must be 0 or more (got {cfg.warmup})")
    if cfg.parallel < 1:
        problems.append(f"parallel must be at least 1 (got {cfg.parallel})")
    if cfg.parallel_max < 0:
        problems.append(f"parallel_max must be 0 (no search) or more (got {cfg.parallel_max})")
    if cfg.timeout_s <= 0:
        problems.append(f"timeout_s must be positive (got {cfg.timeout_s})")
    if cfg.memsize is not None and cfg.memsize < 128:
        problems.append(f"memsize is in MiB and must be at least 128 (got {cfg.memsize})")
    if cfg.smp < 1:
        problems.append(f"smp must be at least 1 (got {cfg.smp})")
    if cfg.objective not in TIMED_COLUMNS:
        problems.append(f"objective must be a timed column, one of {', '.join(TIMED_COLUMNS)} "
                        f"(got {cfg.objective})")
    if cfg.page_cache not in ("hot", "cold"):
        problems.append(f"page_cache must be hot or cold (got {cfg.page_cache})")
    if cfg.backend.accel not in ("auto", "kvm", "tcg", "uml"):
        problems.append(f"backend.accel must be auto, kvm, tcg or uml (got {cfg.backend.accel})")
    for limit in ("max_clients", "max_workers"):
        value = cfg.backend.get(limit)
        if value is not None and not 1 <= value <= LIBVIRTD_LIMIT_MAX:
            problems.append(f"backend.{limit} must be from 1 to {LIBVIRTD_LIMIT_MAX}, what "
                            f"libvirtd accepts (got {value})")
    types = get_class(cfg.appliance._target_).TYPES
    if cfg.appliance.type not in types:
        problems.append(f"appliance.type must be {' or '.join(types)} for this appliance "
                        f"(got {cfg.appliance.type})")
    if cfg.appliance.get("cache_state", "hot") not in ("hot", "cold"):
        problems.append(f"appliance.cache_state must be hot or cold "
                        f"(got {cfg.appliance.cache_state})")
    return problems
