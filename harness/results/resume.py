"""`resume=true`: find a cell's earlier results, tell whether they are complete, and pick the
folders a resumed run or sweep writes into.

A cell is its resolved config (all of it but `resume`), not its job number: adding a value to a
sweep renumbers the jobs, and a cell measured with other runs, warm-ups or settings is another
measurement. Cells are complete when their run ended without interruption and every
(repetition, instance) of the plan has a row; infeasible, unsupported, error and timeout rows
count, since measuring again would only repeat them.

Hydra resolves the run and sweep folders before the job starts: the resolvers of
conf/config.yaml (registered by harness.cli.run) pick them with run_folder, sweep_folder and
job_folder here.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from harness.host import trust
from harness.results import store
from harness.results.cells import cell_identity

SUPERSEDED_DIR = "superseded"  # incomplete earlier attempts, kept aside inside the job folder


def metadata(run_dir: Path) -> dict[str, Any] | None:
    """run_dir's metadata.json, or None if it has none readable (or none of the user's own:
    such a folder is not taken as holding any cell)."""
    try:
        return store.read_json(run_dir / store.METADATA_FILE)
    except (OSError, ValueError, trust.UntrustedPath):
        return None


def holds(run_dir: Path, cell: dict[str, Any]) -> bool:
    """Whether run_dir holds results (complete or not) of this cell."""
    meta = metadata(run_dir)
    config = meta.get("config") if meta else None
    return isinstance(config, dict) and cell_identity(config) == cell


def is_complete(run_dir: Path, cell: dict[str, Any]) -> bool:
    """Whether run_dir holds every row of this cell from a run that ended normally."""
    if not holds(run_dir, cell):
        return False
    meta = metadata(run_dir) or {}
    if "ended_at" not in meta or meta.get("interrupted") is not False:
        return False
    try:
        trials = store.read_parquet(run_dir / store.TRIALS_FILE,
                                    columns=["repetition", "instance"])
    except (OSError, ValueError, trust.UntrustedPath):
        return False
    if cell["runs"] == "auto":  # its length is decided as it runs: done once it said why
        return meta.get("stop_reason") is not None
    warmup, runs, parallel = cell["warmup"], cell["runs"], cell["parallel"]
    expected = {(rep, i) for rep in range(warmup + runs)
                for i in range(1 if rep < warmup else parallel)}
    return expected <= set(zip(trials["repetition"], trials["instance"], strict=True))


def record_stop(run_dir: Path, reason: str) -> None:
    """After an interleaved cell's last round: why it stopped, in its metadata (which makes
    it complete); nothing where it had already ended (a failure, or complete before a
    resumed sweep)."""
    meta = metadata(run_dir)
    if meta is not None and meta.get("stop_reason") is None:
        store.write_json(run_dir / store.METADATA_FILE, {**meta, "stop_reason": reason})


def set_aside(run_dir: Path) -> Path | None:
    """Move earlier results out of run_dir into run_dir/superseded/<time>/ so that a new
    measurement never mixes with them (Hydra's .hydra/ and the appended log stay)."""
    if not (run_dir / store.METADATA_FILE).exists() and \
            not (run_dir / store.TRIALS_FILE).exists():
        return None
    aside = run_dir / SUPERSEDED_DIR / time.strftime("%Y-%m-%d_%H-%M-%S")
    trust.secure_folder(aside)
    for path in run_dir.iterdir():
        if path.name not in (".hydra", SUPERSEDED_DIR) and path.suffix != ".log":
            trust.move(path, aside / path.name)
    return aside


def run_folder(fresh: Path, cell: dict[str, Any]) -> Path:
    """The newest run folder beside `fresh` holding this cell, else `fresh`."""
    for run_dir in sorted(fresh.parent.glob("*/"), reverse=True):
        if holds(run_dir, cell):
            return run_dir
    return fresh


def sweep_folder(fresh: Path) -> Path:
    """The newest sweep folder beside `fresh` (one with Hydra's multirun.yaml), else `fresh`."""
    sweeps = sorted(p.parent for p in fresh.parent.glob("*/multirun.yaml"))
    return sweeps[-1] if sweeps else fresh


def job_folder(sweep: Path, num: int, cell: dict[str, Any]) -> str:
    """The job folder in the sweep holding this cell (a complete one first), else the job
    number, or `<num>-2`, ... when another cell's results have that folder."""
    held = [d for d in sorted(sweep.glob("*/")) if holds(d, cell)]
    if held:
        return next((d for d in held if is_complete(d, cell)), held[0]).name
    name, k = str(num), 1
    while (sweep / name / store.METADATA_FILE).exists():
        k += 1
        name = f"{num}-{k}"
    return name


def unreadable(folder: Path) -> str | None:
    """Why an earlier result under folder (its runs and jobs, not what was set aside) cannot be
    read, or None: resume would otherwise take its cell for new and measure it again beside
    it. Cheap: each metadata.json is parsed, each parquet file's footer read."""
    stored = (store.METADATA_FILE, store.TRIALS_FILE, store.EVENTS_FILE)
    for path in sorted(p for p in folder.rglob("*") if p.name in stored
                       and SUPERSEDED_DIR not in p.relative_to(folder).parts):
        try:
            if path.suffix == ".json":
                store.read_json(path)
            else:
                pq.read_metadata(pa.BufferReader(trust.read_back(path)))
        except (store.UnreadableResults, trust.UntrustedPath) as exc:
            return str(exc)
        except (pa.ArrowException, OSError) as exc:
            return f"cannot read {path}: {exc}"
    return None
