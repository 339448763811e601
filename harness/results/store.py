"""Atomic writes and reads of run outputs: trials.parquet, summary.csv, metadata.json.

Every write goes through harness.host.trust: into a folder checked to be the user's own, to a
temporary file renamed over the target, so a reader (or a crash) never sees half a file and a
link planted at the target is replaced, never followed.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from harness.host import trust
from harness.results import cells
from harness.results.records import SCHEMA_VERSION, TrialRow

TRIALS_FILE = "trials.parquet"
SUMMARY_FILE = "summary.csv"
SUMMARY_JSON_FILE = "summary.json"  # the same numbers with the runs' metadata, for programs
METADATA_FILE = "metadata.json"
EVENTS_FILE = "events.parquet"  # timestamped libguestfs events of timeline=true runs
STAGES_FILE = "stages.parquet"  # boot stages of those trials (harness.analysis.stages)
SCALING_FILE = "scaling.csv"  # makespan against N per series
CAPACITY_FILE = "capacity.csv"  # trials per hour against N per series
COMPARISON_FILE = "comparison.csv"  # UML against the other backend
CLIENT_LIMIT_FILE = "client_limit.csv"  # libvirt cells past a max_clients of their own
OPERATIONS_FILE = "operations.csv"  # workload=operations: per strategy and M
APPLIANCES_FILE = "appliances.csv"  # several appliance kinds: each against cached-hot
SHIM_COST_FILE = "shim_cost.csv"  # UML: lgbench's relay against a direct channel
REPORT_FILE = "report.md"


def _checked(path: Path) -> Path:
    """`path`, once its folder is made or checked to be the user's own (trust.secure_folder)."""
    trust.secure_folder(path.parent)
    return path


def write_frame_parquet(path: Path, frame: pd.DataFrame) -> None:
    trust.atomic_write(_checked(path), lambda tmp: frame.to_parquet(tmp, index=False))


def write_csv(path: Path, frame: pd.DataFrame) -> None:
    trust.atomic_write(_checked(path), lambda tmp: frame.to_csv(tmp, index=False))


def json_text(data: Any) -> str:
    """The JSON lgbench writes (and prints with --json)."""
    return json.dumps(data, indent=2, sort_keys=True, default=str)


def json_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A table's rows for JSON, missing values as null (JSON has no NaN)."""
    return frame.astype(object).where(frame.notna(), None).to_dict(orient="records")


def write_json(path: Path, data: Any) -> None:
    write_text(path, json_text(data))


def write_text(path: Path, text: str) -> None:
    trust.write_text(_checked(path), text)


class TrialWriter:
    """Rows of one run directory, rewritten to trials.parquet after every repetition; `rows`:
    those already there, when a round adds to them (read_rows)."""

    def __init__(self, run_dir: Path, file_name: str = TRIALS_FILE,
                 rows: list[dict[str, Any]] | None = None) -> None:
        self.path = run_dir / file_name
        self.rows: list[dict[str, Any]] = list(rows or [])

    def __call__(self, rows: Iterable[TrialRow | dict[str, Any]]) -> None:
        self.rows.extend(row if isinstance(row, dict) else row.to_dict() for row in rows)
        write_frame_parquet(self.path, pd.DataFrame(self.rows))


# Control characters (terminal escapes among them) in text read back: shown as spaces, so a
# stored run cannot drive the terminal of whoever prints its summary; tabs and newlines stay.
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _subfolders(folder: Path) -> list[Path]:
    """The real folders in `folder`: a link to a folder elsewhere is not one of its jobs."""
    if not folder.is_dir():
        return []
    return [p for p in folder.iterdir() if p.is_dir() and not p.is_symlink()]


def job_dirs(sweep_root: Path) -> list[Path]:
    """The job folders of a sweep root that hold trials, in job order (0, 1, ..., 10)."""
    jobs = [p for p in _subfolders(sweep_root) if (p / TRIALS_FILE).exists()]
    return sorted(jobs, key=lambda p: (not p.name.isdigit(), len(p.name), p.name))


def run_files(run_dirs: Iterable[Path], file_name: str) -> list[Path]:
    """The file of each run folder; for a sweep root without one, its jobs' files."""
    files: list[Path] = []
    for run_dir in run_dirs:
        own = run_dir / file_name
        files += [own] if own.exists() else [d / file_name for d in job_dirs(run_dir)
                                             if (d / file_name).exists()]
    return files


class UnreadableResults(ValueError):
    """A stored results file that cannot be read (truncated, corrupted): the message names it."""


def read_json(path: Path) -> Any:
    """A stored JSON file, read back through trust (the user's own regular file only)."""
    try:
        return json.loads(trust.read_back(path))
    except ValueError as exc:
        raise UnreadableResults(f"cannot read {path}: {exc}") from exc


def read_parquet(path: Path, **kwargs: Any) -> pd.DataFrame:
    """A stored parquet file, read back through trust, its text free of control characters."""
    try:
        frame = pd.read_parquet(io.BytesIO(trust.read_back(path)), **kwargs)
    except (pa.ArrowException, ValueError) as exc:
        raise UnreadableResults(f"cannot read {path}: {str(exc).splitlines()[0]}") from exc
    for column in frame.columns:
        if frame[column].dtype.kind == "O" and not _clean(frame[column]):  # object or str
            frame[column] = frame[column].map(
                lambda v: CONTROL.sub(" ", v) if isinstance(v, str) else v)
    return frame


def _clean(values: pd.Series) -> bool:
    """Whether read_parquet's cleaning would leave this column exactly as it is, dtype
    included, so that a million rows need not pass through it one by one: a text column none
    of whose distinct values holds a control character, or a column of None alone. (Cleaning
    any other object column also settles its dtype, as map does: ints and None become
    floats.)"""
    if isinstance(values.dtype, pd.StringDtype):
        return not any(CONTROL.search(v) for v in values.dropna().unique())
    return all(v is None for v in values.to_numpy())


def read_rows(run_dir: Path, file_name: str = TRIALS_FILE) -> list[dict[str, Any]]:
    """The rows of one run folder's file (none if it has none yet), as TrialWriter holds them."""
    path = run_dir / file_name
    if not path.exists():
        return []
    frame = read_parquet(path)
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def read_metadata(run_dirs: Iterable[Path]) -> list[dict[str, Any]]:
    """metadata.json of each run folder and of each job under it (a sweep root has both)."""
    files = [f for d in run_dirs
             for f in [d / METADATA_FILE, *sorted(j / METADATA_FILE for j in _subfolders(d))]
             if f.exists()]
    return [read_json(f) for f in files]


def stored_configs(trials_files: Iterable[Path]) -> dict[str, dict[str, Any]]:
    """run_id -> config, from the metadata.json beside each trials file that has one (a sweep
    root's own records no config: its jobs do)."""
    configs = {}
    for meta_file in (f.parent / METADATA_FILE for f in trials_files):
        if meta_file.exists():
            meta = read_json(meta_file)
            if isinstance(meta.get("config"), dict) and meta.get("run_id"):
                configs[str(meta["run_id"])] = meta["config"]
    return configs


def read_events(run_dirs: Iterable[Path]) -> pd.DataFrame | None:
    """The events of timeline=true runs, or None when no run recorded any."""
    frames = [f for f in map(read_parquet, run_files(run_dirs, EVENTS_FILE)) if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else None


def read_trials(run_dirs: Iterable[Path]) -> pd.DataFrame:
    """All trial rows under the given run directories (a sweep root includes its jobs), each
    cell under a label no other configuration among them shares (harness.results.cells)."""
    run_dirs = list(run_dirs)
    files = run_files(run_dirs, TRIALS_FILE)
    frames = [read_parquet(f) for f in files]
    if not frames:
        raise FileNotFoundError(f"no {TRIALS_FILE} in {', '.join(map(str, run_dirs))}")
    trials = cells.distinguish(pd.concat(frames, ignore_index=True), stored_configs(files))
    if "timeline" not in trials.columns:  # schema 1: no trial recorded a timeline
        trials["timeline"] = False
    trials["timeline"] = trials["timeline"].fillna(False).astype(bool)
    # Rows from before page_cache existed ran with the page cache as it was: hot.
    trials["page_cache"] = trials.get("page_cache", pd.Series(index=trials.index,
                                                              dtype=object)).fillna("hot")
    # Rows from before append existed added nothing to the kernel's command line.
    trials["append"] = trials.get("append", pd.Series(index=trials.index,
                                                      dtype=object)).fillna("")
    newer = trials[trials["schema_version"] > SCHEMA_VERSION]
    if len(newer):
        raise ValueError(f"trials written by a newer lgbench (schema "
                         f"{newer['schema_version'].max()} > {SCHEMA_VERSION})")
    return trials
