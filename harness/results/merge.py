"""Several stored runs (run folders or sweep roots, from one host or many) as one trial frame.

Each row gains `host` (the hostname its run's metadata.json records) and `run` (which of the
given folders it came from), so runs and hosts can be summarised and compared side by side.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from harness.results import cells, store

UNKNOWN_HOST = "unknown"


def job_dirs(path: Path) -> list[Path]:
    """The folders holding trials: a sweep root's jobs (each with the metadata of the host it
    ran on), else the run folder itself."""
    jobs = store.job_dirs(path)
    if jobs:
        return jobs
    if (path / store.TRIALS_FILE).exists():
        return [path]
    raise FileNotFoundError(f"no {store.TRIALS_FILE} in {path} or its subfolders")


def run_labels(paths: Sequence[Path]) -> list[str]:
    """Short distinct names for the folders: the run_label each run was given (lgbench
    run_label=NAME) where every run has a distinct one, else the fewest trailing path parts
    that tell them apart (`a/run`, `b/run`), the folder name where that suffices."""
    given = [given_label(path) for path in paths]
    if all(given) and len(set(given)) == len(given):
        return [str(label) for label in given]
    parts = [Path(p).resolve().parts for p in paths]
    for depth in range(1, max(map(len, parts)) + 1):
        labels = ["/".join(p[-depth:]) for p in parts]
        if len(set(labels)) == len(set(parts)):
            return labels
    return [str(p) for p in paths]


def given_label(path: Path) -> str | None:
    """The run_label the run (or a sweep's first job) was started with, if any."""
    for meta in store.read_metadata([path]):
        label = (meta.get("config") or {}).get("run_label")
        if label:
            return str(label)
    return None


def hostname(job: Path) -> str:
    """The host a job ran on, as its metadata.json says."""
    meta_file = job / store.METADATA_FILE
    if not meta_file.exists():
        return UNKNOWN_HOST
    return store.read_json(meta_file).get("host", {}).get("hostname") or UNKNOWN_HOST


def load(paths: Sequence[Path], labels: Sequence[str] | None = None) -> pd.DataFrame:
    """The trials of every folder with `host` and `run` columns. Cells of one folder that
    differ in a key their labels do not show get labels of their own; the same cell in two
    folders keeps one label, so runs compare cell by cell. With several hosts, cell labels are
    prefixed `host:` so summaries and plots keep the hosts apart."""
    labels = list(labels) if labels is not None else run_labels(paths)
    frames = []
    for path, label in zip(paths, labels, strict=True):
        jobs = job_dirs(path)
        rows = pd.concat([store.read_trials([job]).assign(host=hostname(job), run=label)
                          for job in jobs], ignore_index=True)
        configs = store.stored_configs(job / store.TRIALS_FILE for job in jobs)
        frames.append(cells.distinguish(rows, configs))  # within a run, never across runs
    trials = pd.concat(frames, ignore_index=True)
    if trials["host"].nunique() > 1:
        trials["cell"] = trials["host"] + ":" + trials["cell"]
    return trials


def apart(trials: pd.DataFrame) -> pd.DataFrame:
    """The trials with each cell measured in several runs labelled `run:cell`, so that each
    run's side is summarised, drawn and reported on its own (comparisons match cells on their
    factors, not their labels, and still pair them)."""
    shared = trials.groupby("cell")["run"].transform("nunique") > 1
    if not shared.any():
        return trials
    return trials.assign(cell=trials["cell"].where(~shared, trials["run"] + ":" + trials["cell"]))
