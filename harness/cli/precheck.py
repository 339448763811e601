"""A command line checked before Hydra makes any folder: every cell it names is composed,
validated and its drivers built (they check their own settings), and the first problem comes
back as one line naming the key, the value and what is allowed.

Hydra would otherwise create the run folder first and answer a mistyped choice or a wrong type
with a multi-line message and exit 1.
"""

from __future__ import annotations

import difflib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, ValueType
from hydra.errors import (
    ConfigCompositionException,
    InstantiationException,
    MissingConfigException,
    OverrideParseException,
)
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

from harness.config import SCHEMA_SUFFIX, register_configs, validate
from harness.host import handles, trust
from harness.results import resume
from harness.results.records import RUNNER_COLUMNS

CONF_MODULE = "harness.conf"
SWEEP_FLAGS = ("-m", "--multirun")
MERGE_ERROR = "Error merging override "  # Hydra's words before the override it could not use
RUN_FOLDER_KEYS = ("hydra.run.dir=", "hydra.sweep.dir=")  # where a user puts a run instead


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _cells(overrides: list[Override]) -> Iterator[list[str]]:
    """The first cell of the sweep, then each other value of each swept key with the rest at
    their first: every value is composed once, not every combination."""
    def line(override: Override, value: str | None = None) -> str:
        return override.input_line if value is None else (
            f"{override.input_line.split('=', 1)[0]}={value}")

    values = {i: _swept_values(o) for i, o in enumerate(overrides) if o.is_sweep_override()}
    first = [line(o, values[i][0] if i in values else None) for i, o in enumerate(overrides)]
    yield first
    for i, swept in values.items():
        for value in swept[1:]:
            yield [*first[:i], line(overrides[i], value), *first[i + 1:]]


def _swept_values(override: Override) -> list[str]:
    """The values a sweep override names: each of a choice or range, the two ends of an
    interval (a search's continuous range, which has no list), as the search will suggest
    them: floats unless the interval is cast with int(...)."""
    if override.value_type == ValueType.INTERVAL_SWEEP:
        return [repr(override.value().start), repr(override.value().end)]
    return list(override.sweep_string_iterator())


def _close(word: str, known: list[str]) -> str | None:
    """The one of `known` that `word` is probably a typo of, if any."""
    close = difflib.get_close_matches(word, known, n=1)
    return close[0] if close else None


def _no_such_choice(group: str, name: str, options: list[str]) -> str:
    """"backend=kmv: no such choice (did you mean kvm?); choices: auto, fake, ..." (the
    structured configs the YAML choices extend are not choices)."""
    guess = _close(name, options)
    hint = f" (did you mean {guess}?)" if guess else ""
    return f"{group}={name}: no such choice{hint}; choices: {', '.join(options)}"


def _missing_choice(exc: MissingConfigException) -> str:
    """Hydra's error for a choice that does not exist, in one line."""
    if not exc.missing_cfg_file or "/" not in exc.missing_cfg_file or not exc.options:
        return _first_line(exc)
    group, name = exc.missing_cfg_file.rsplit("/", 1)
    return _no_such_choice(group, name, [o for o in exc.options
                                         if not o.endswith(SCHEMA_SUFFIX)])


def _schema_choice(overrides: list[Override]) -> str | None:
    """A `*_schema` value for a config group (backend=direct_schema): a structured config
    lgbench's YAML choices extend, which Hydra would accept and then fail on."""
    groups = GlobalHydra.instance().config_loader().list_groups("")
    for override in overrides:
        group = override.key_or_group
        values = _swept_values(override) if override.is_sweep_override() else [
            str(override.value())]
        schema = next((v for v in values if v.endswith(SCHEMA_SUFFIX)), None)
        if schema is not None and group in groups:
            return _no_such_choice(group, schema, _choices(group))
    return None


def _missing_key(cell: list[str], key: str) -> str:
    """"rnus: no such key (did you mean runs?)", or for a key of a config group,
    "workload.sizes: no such key of workload=launch; workload=transfer has it; its keys: ..."."""
    others = [o for o in cell if o.split("=", 1)[0].lstrip("+~") != key]
    parent, _, name = key.rpartition(".")
    try:
        cfg = compose("config", overrides=others, return_hydra_config=True)
        node = OmegaConf.select(cfg, parent) if parent else cfg
    except OmegaConfBaseException:
        node = None
    if not isinstance(node, DictConfig):
        return f"{key}: no such key"
    known = [k for k in node if k not in ("hydra", "_target_")]
    guess = _close(name, known)
    choice = cfg.hydra.runtime.choices.get(parent) if parent else None
    said = [f"{key}: no such key" + (f" of {parent}={choice}" if choice else "")
            + (f" (did you mean {f'{parent}.' if parent else ''}{guess}?)" if guess else "")]
    if choice:
        having = [c for c in _choices(parent) if c != choice
                  and name in compose("config", overrides=[*others, f"{parent}={c}"])[parent]]
        if having:
            said.append(f"{parent}={' or '.join(having)} has it")
        said.append(f"its keys: {', '.join(known)}")
    return "; ".join(said)


def _choices(group: str) -> list[str]:
    """The choices of a config group, without the structured configs they extend."""
    options = GlobalHydra.instance().config_loader().get_group_options(group)
    return [o for o in options if not o.endswith(SCHEMA_SUFFIX)]


class BadConfig(Exception):
    """A driver refused its settings (e.g. an unknown workload.strategy)."""


def drivers(cfg: DictConfig) -> tuple[Any, Any, Any]:
    """The cell's backend, appliance and workload; their constructors only check and record
    settings, so a bad value is refused (BadConfig) before any folder is made."""
    try:
        return (instantiate(cfg.backend), instantiate(cfg.appliance),
                instantiate(cfg.workload))
    except InstantiationException as exc:
        if isinstance(exc.__cause__, ValueError):
            raise BadConfig(str(exc.__cause__)) from exc
        raise


def _cell_problem(cfg: DictConfig) -> str | None:
    problems = validate(cfg)
    if problems:
        return "; ".join(problems)
    if cfg.backend.name != "fake" and (missing := handles.bindings_problem()):
        return (f"backend={cfg.backend.name}: {missing}: {handles.BINDINGS_FIX}; backend=fake "
                "needs none")
    try:
        workload = drivers(cfg)[2]
    except BadConfig as exc:
        return str(exc)
    recorded = (*RUNNER_COLUMNS, *workload.timed_columns, *(("connected_s",) if cfg.timeline
                                                            else ()))
    if cfg.objective not in recorded:
        return (f"objective={cfg.objective}: workload {workload.name} does not record it; it "
                f"records {', '.join(recorded)}")
    return None


def _sweeper_params(cfg: DictConfig, given: list[Override]) -> list[Override]:
    """The sweep an experiment's config names (hydra.sweeper.params: a grid's values or a
    search's space), as overrides, for the keys the command line does not set itself."""
    keys = {o.key_or_group for o in given}
    params = cfg.hydra.sweeper.get("params") or {}
    return OverridesParser.create().parse_overrides(
        [f"{key}={value}" for key, value in params.items() if key not in keys])


def _launcher_problem(cfg: DictConfig) -> str | None:
    """A SLURM launcher with no controller to submit to: said before any job is counted."""
    if not str(cfg.hydra.launcher.get("_target_", "")).endswith("SlurmLauncher"):
        return None
    where = "hydra/launcher=submitit_slurm"
    if shutil.which("sbatch") is None:
        return f"{where}: sbatch is not installed (Debian: apt install slurm-client)"
    try:
        ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=20)
        lines = (ping.stdout + ping.stderr).strip().splitlines() or [f"exit {ping.returncode}"]
        # "Slurmctld(primary) at HOST is DOWN", else scontrol's last (fatal) error.
        said = next((line for line in lines if line.startswith("Slurmctld")), lines[-1])
    except subprocess.TimeoutExpired:
        said = "no answer within 20 s"
    if said.endswith(" is UP"):
        return None
    return (f"{where}: no SLURM controller answers `scontrol ping` ({said}); start one (make "
            "cluster-up) or point SLURM_CONF at your cluster's slurm.conf")


def _folder_problem(cfg: DictConfig, cell: list[str]) -> str | None:
    """A results or cache folder lgbench could not write (read-only, full), or, with
    resume=true, an earlier result it could not read: before a folder is made, so nothing
    is measured only to be lost and nothing stored is overwritten."""
    run_folders = dict(o.split("=", 1) for o in cell if o.startswith(RUN_FOLDER_KEYS))
    folders = {**(run_folders or {"paths.results_dir": cfg.paths.results_dir}),
               "paths.cache_dir": cfg.paths.cache_dir}
    for key, folder in folders.items():
        found = trust.writable_problem(Path(folder))
        if found:
            return f"{key}={folder}: {found}"
    earlier = Path(cfg.paths.results_dir) / cfg.experiment_name
    if cfg.resume and earlier.is_dir() and (found := resume.unreadable(earlier)):
        return f"resume=true: {found}; move that folder aside (or delete it), then resume"
    return None


def problem(args: list[str]) -> str | None:
    """The first problem of the lgbench command line `args`, as one line; None when every
    cell composes and checks out, or when Hydra is asked for something else (--help, --cfg)."""
    if any(a.startswith("-") and a not in SWEEP_FLAGS for a in args):
        return None
    register_configs()  # the schemas the YAML choices extend (idempotent)
    parser = OverridesParser.create()
    overrides = []
    for arg in (a for a in args if a not in SWEEP_FLAGS):
        try:
            overrides += parser.parse_overrides([arg])
        except OverrideParseException as exc:
            return f"{arg}: {_first_line(exc)}"
    with initialize_config_module(CONF_MODULE, version_base="1.3"):
        found = _schema_choice(overrides)
        if found:
            return found
        cfg, found = _compose(next(_cells(overrides)))
        if cfg is None:
            return found
        found = _launcher_problem(cfg)
        cells = _cells([*_sweeper_params(cfg, overrides), *overrides])
        while not found and (cell := next(cells, None)) is not None:
            cfg, found = _compose(cell)
            found = found or _cell_problem(cfg) or _folder_problem(cfg, cell)
    return found


def _compose(cell: list[str]) -> tuple[DictConfig | None, str | None]:
    """The cell's config, or None and why it does not compose, in one line."""
    try:
        return compose("config", overrides=cell, return_hydra_config=True), None
    except MissingConfigException as exc:
        return None, _missing_choice(exc)
    except ConfigCompositionException as exc:
        cause = exc.__cause__
        if isinstance(cause, (ConfigAttributeError, ConfigKeyError)) and cause.full_key:
            return None, _missing_key(cell, cause.full_key)
        where = _first_line(exc).removeprefix(MERGE_ERROR).rstrip(".")
        return None, f"{where}: {_first_line(cause)}" if cause is not None else where
    except OmegaConfBaseException as exc:
        return None, _first_line(exc)
