"""Faults in the results and cache folders (read-only, full, corrupted files) and a bug inside a
workload, on the fake backend: what is proven here is lgbench's own handling of its files, not
the appliance stack. Each test records its row of the fault matrix (tests/helpers/matrix.py)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pandas as pd
import psutil
import pytest
from helpers.lgbench import (
    LGBENCH_REPORT,
    in_process,
    lgbench,
    lgbench_env,
    names_a_trial,
    start,
    wait_for,
)
from helpers.matrix import record_fault
from helpers.mounts import fill, tmpfs

TESTS_DIR = Path(__file__).parents[1]
FAKE = ("backend=fake", "warmup=0")


def fake_children() -> set[int]:
    """Living stand-in hypervisors of fake trials (their argv names the trial's folder)."""
    return {p.pid for p in psutil.process_iter(["cmdline", "status"])
            if p.info["status"] != psutil.STATUS_ZOMBIE
            and names_a_trial(p.info["cmdline"])}


def rows_in(path: Path) -> int:
    return len(pd.read_parquet(path))


def fill_after_rows(proc: subprocess.Popen, run_dir: Path) -> tuple[int, str]:
    """Once run_dir holds 3 rows, fill its disk; wait for lgbench to end. Returns the rows
    written before the disk filled and lgbench's stderr."""
    trials = run_dir / "trials.parquet"
    try:
        assert wait_for(lambda: trials.exists() and rows_in(trials) >= 3, 60)
        written = rows_in(trials)
        fill(run_dir)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    return written, err


def temporaries(folder: Path) -> list[Path]:
    """Half-written files of lgbench's atomic writes (.<name>.<random>) left in folder."""
    return [p for p in folder.rglob(".*") if p.is_file() and p.parent.name != ".hydra"]


@pytest.mark.parametrize("key", ["paths.results_dir", "paths.cache_dir"])
def test_a_read_only_folder_is_refused_before_anything_launches(tmp_path, mounts, key):
    read_only = tmpfs(mounts, tmp_path / "ro", "1m", "ro")
    other = {"paths.results_dir": "paths.cache_dir", "paths.cache_dir": "paths.results_dir"}
    result = lgbench(*FAKE, f"{key}={read_only / 'lgbench'}",
                     f"{other[key]}={tmp_path / 'writable'}", cache=None, cwd=tmp_path)
    said = result.stderr.strip().splitlines()
    record_fault(f"read-only {key}", f"exit {result.returncode}: {said[-1] if said else ''}",
                 tmp=tmp_path)
    assert result.returncode == 2, result.stderr
    assert said == [f"lgbench: error: {key}={read_only / 'lgbench'}: {read_only} is on a "
                    "read-only file system"]
    assert not (tmp_path / "writable").exists()  # refused before any folder was made


def test_a_full_results_disk_ends_the_run_with_its_rows_intact(tmp_path, mounts):
    run_dir = tmpfs(mounts, tmp_path / "run")
    before = fake_children()
    proc = start(*FAKE, "runs=500", "backend.launch_s=0.1", f"hydra.run.dir={run_dir}",
                 cache=tmp_path / "cache", cwd=tmp_path)
    written, err = fill_after_rows(proc, run_dir)
    kept = rows_in(run_dir / "trials.parquet")
    leaked = fake_children() - before
    said = err.strip().splitlines()[-1]
    record_fault("results disk full during a run", f"exit {proc.returncode}: {said}",
                 max(0, written - kept), len(leaked), tmp=tmp_path)
    assert proc.returncode == 4, err
    assert said.startswith(f"lgbench: error: results could not be written in {run_dir} (No "
                           "space left on device); what was written before is intact"), err
    assert "Traceback" not in err
    assert kept >= written
    assert not temporaries(run_dir)
    assert not leaked


def test_a_full_disk_fails_one_cell_of_a_sweep_and_the_others_and_aggregate_are_written(
        tmp_path, mounts):
    """Cell 0's folder is a small tmpfs filled while it runs; cell 1 and the sweep root are on
    the ordinary disk."""
    root = tmp_path / "sweep"
    first = tmpfs(mounts, root / "0")
    proc = start("-m", *FAKE, "runs=500,3", "backend.launch_s=0.1",
                 f"hydra.sweep.dir={root}", cache=tmp_path / "cache", cwd=tmp_path)
    written, err = fill_after_rows(proc, first)
    said = err.strip().splitlines()[-1]
    kept = rows_in(first / "trials.parquet")
    record_fault("results disk of one sweep cell full", f"exit {proc.returncode}: {said}",
                 max(0, written - kept), tmp=tmp_path)
    assert proc.returncode == 4, err
    assert said.startswith("lgbench: error: a cell of the sweep did not finish (results could "
                           f"not be written in {first} (No space left on device)"), err
    assert said.endswith("the aggregate holds the 2 cell(s) with results; resume=true "
                         "measures the rest"), err
    assert kept >= written
    assert rows_in(root / "1" / "trials.parquet") == 3
    assert rows_in(root / "trials.parquet") == kept + 3


def test_a_bug_inside_a_workload_is_a_row_and_the_sweep_goes_on(tmp_path):
    root = tmp_path / "sweep"
    env = {**lgbench_env(tmp_path / "cache"), "PYTHONPATH": str(TESTS_DIR)}
    result = subprocess.run(
        [str(LGBENCH_REPORT.parent / "lgbench"), "-m", *FAKE, "runs=2",
         "workload._target_=helpers.crashing.CrashingWorkload,"
         "harness.workloads.launch.LaunchWorkload", f"hydra.sweep.dir={root}"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    trials = pd.read_parquet(root / "trials.parquet")
    said = result.stderr.strip().splitlines()[-1]
    record_fault("a bug raising inside a workload, in a sweep",
                 f"exit {result.returncode}: error rows; {said}", tmp=tmp_path)
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    errors = trials[trials["status"] == "error"]
    assert len(errors) == 2 and errors["error"].str.contains(
        "ZeroDivisionError('a bug planted in the workload')", regex=False).all()
    assert (trials[trials["status"] == "ok"]["cell"].nunique(), len(trials)) == (1, 4)


@pytest.fixture(scope="module")
def stored_run(tmp_path_factory) -> Path:
    """A fake run of three trials, as the corrupted copies' original."""
    tmp = tmp_path_factory.mktemp("stored")
    result = in_process(*FAKE, "runs=3", f"paths.results_dir={tmp / 'results'}",
                        cache=tmp / "cache", cwd=tmp)
    assert result.returncode == 0, result.stderr
    return next((tmp / "results" / "default").iterdir())


def refused_in_one_line(result: subprocess.CompletedProcess, fault: str, tmp: Path) -> str:
    """The one line a refusal (exit 2) said, recorded in the matrix."""
    said = result.stderr.strip().splitlines()
    record_fault(fault, f"exit {result.returncode}: {said[-1] if said else ''}", tmp=tmp)
    assert result.returncode == 2 and len(said) == 1, result.stderr
    return said[0]


def corrupt(run_dir: Path, name: str) -> bytes:
    """Cut the file to its first 300 bytes, as a crash of another program or a full disk
    would; returns what it now holds."""
    path = run_dir / name
    data = path.read_bytes()[:300]
    path.write_bytes(data)
    return data


@pytest.mark.parametrize("name", ["trials.parquet", "metadata.json"])
def test_lgbench_report_names_a_corrupted_file_and_overwrites_nothing(stored_run, tmp_path,
                                                                      name):
    run_dir = tmp_path / "run"
    shutil.copytree(stored_run, run_dir)
    data = corrupt(run_dir, name)
    before = {p: p.stat().st_mtime_ns for p in run_dir.rglob("*")}
    result = lgbench(str(run_dir), cache=None, program=LGBENCH_REPORT)
    said = refused_in_one_line(result, f"truncated {name} given to lgbench-report", tmp_path)
    assert said.startswith(f"lgbench-report: error: cannot read {run_dir / name}: ")
    assert (run_dir / name).read_bytes() == data
    assert {p: p.stat().st_mtime_ns for p in run_dir.rglob("*")} == before


@pytest.mark.parametrize("name", ["trials.parquet", "metadata.json"])
def test_resume_names_a_corrupted_file_and_measures_nothing(stored_run, tmp_path, name):
    results = tmp_path / "results"
    run_dir = results / "default" / stored_run.name
    shutil.copytree(stored_run, run_dir)
    data = corrupt(run_dir, name)
    result = lgbench(*FAKE, "runs=3", "resume=true", f"paths.results_dir={results}",
                     cache=tmp_path / "cache", cwd=tmp_path)
    said = refused_in_one_line(result, f"truncated {name} under resume=true", tmp_path)
    assert said.startswith(f"lgbench: error: resume=true: cannot read {run_dir / name}: ")
    assert said.endswith("move that folder aside (or delete it), then resume")
    assert (run_dir / name).read_bytes() == data
    assert [p.name for p in (results / "default").iterdir()] == [stored_run.name]


def test_a_full_cache_folder_is_refused_before_anything_launches(tmp_path, mounts):
    full = tmpfs(mounts, tmp_path / "full", "1m")
    fill(full)
    result = lgbench(*FAKE, f"paths.cache_dir={full / 'cache'}", cache=None, cwd=tmp_path,
                     results=tmp_path / "results")
    said = result.stderr.strip().splitlines()
    record_fault("cache folder's disk full before a run", f"exit {result.returncode}: "
                 f"{said[-1] if said else ''}", tmp=tmp_path)
    assert result.returncode == 2, result.stderr
    assert said == [f"lgbench: error: paths.cache_dir={full / 'cache'}: the file system of "
                    f"{full} is full (0 KiB free)"]
    assert not (tmp_path / "results").exists()
