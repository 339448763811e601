"""`resume=true`: interrupted sweeps and runs measure only their missing cells (fake backend;
the interrupted runs are subprocesses), and once with real TCG appliances."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
from helpers.lgbench import (
    TCG,
    in_process,
    interrupt_when,
    lgbench,
    run_in_process_in,
    start,
    start_in,
    wait_for,
    within,
)

RESULT_FILES = ("trials.parquet", "metadata.json", "summary.csv", "report.md")


def mtimes(run_dir: Path) -> dict[str, int]:
    return {name: (run_dir / name).stat().st_mtime_ns for name in RESULT_FILES}


def launch_s_of(run_dir: Path) -> float:
    return json.loads((run_dir / "metadata.json").read_text())["config"]["backend"]["launch_s"]


def test_resume_after_an_interrupted_sweep_measures_only_the_missing_cells(tmp_path):
    """Cells one after another (the basic launcher; an interleaved sweep's resume is in
    tests/cli/test_interleaved.py). The second cell is long enough (5 s) for the interrupt to
    land in it on a busy machine."""
    cells = ["-m", "backend=fake", "backend.launch_s=0.05,1.0,0.06", "runs=5", "warmup=0",
             "hydra/launcher=basic"]
    proc = start(*cells, **within(tmp_path))  # no sweep dir: resume finds it in results/
    experiment = tmp_path / "results" / "default"
    partial = wait_for(lambda: next(experiment.glob("*/1/trials.parquet"), None), 60)
    _, output = interrupt_when(proc, lambda: partial)
    assert partial is not None, output
    assert proc.returncode == 130, output
    [root] = experiment.iterdir()
    assert not (root / "2").exists(), "the interrupted sweep went on"
    assert len(pd.read_parquet(root / "1" / "trials.parquet")) < 5
    complete = mtimes(root / "0")
    resumed_at = time.time()

    result = in_process(*cells, "resume=true", **within(tmp_path))

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert list(experiment.iterdir()) == [root], "resume did not reuse the latest sweep"
    assert f"cell 1 of 3: complete in {root / '0'}, skipped" in output
    assert "cell 2 of 3, " not in output and "cell 2 of 3" in output
    assert mtimes(root / "0") == complete, "a complete cell was rewritten"
    for job, launch_s in (("1", 1.0), ("2", 0.06)):
        trials = pd.read_parquet(root / job / "trials.parquet")
        assert len(trials) == 5 and (trials["started_at"] > resumed_at).all()
        assert launch_s_of(root / job) == launch_s
        assert json.loads((root / job / "metadata.json").read_text())["interrupted"] is False
    [aside] = (root / "1" / "superseded").iterdir()
    old = pd.read_parquet(aside / "trials.parquet")
    assert 1 <= len(old) < 5 and (old["started_at"] < resumed_at).all()
    assert json.loads((aside / "metadata.json").read_text())["interrupted"] is True
    aggregate = pd.read_parquet(root / "trials.parquet")
    assert len(aggregate) == 15 and aggregate["run_id"].nunique() == 3
    assert json.loads((root / "metadata.json").read_text())["jobs"] == ["0", "1", "2"]


def test_resume_matches_cells_by_config_not_by_job_number(tmp_path):
    root = tmp_path / "sweep"
    first = run_in_process_in(tmp_path, "-m", "backend=fake", "backend.launch_s=0.05,0.1",
                              "runs=1", "warmup=0", f"hydra.sweep.dir={root}")
    assert first.returncode == 0, first.stderr
    # A value added in front renumbers every job.
    result = run_in_process_in(tmp_path, "-m", "backend=fake",
                               "backend.launch_s=0.15,0.1,0.05", "runs=1", "warmup=0",
                               "resume=true", f"hydra.sweep.dir={root}")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert f"cell 2 of 3: complete in {root / '1'}, skipped" in output
    assert f"cell 3 of 3: complete in {root / '0'}, skipped" in output
    # Job 0 is the new cell; folder 0 holds another cell, so it goes to 0-2.
    assert launch_s_of(root / "0-2") == 0.15
    assert (launch_s_of(root / "0"), launch_s_of(root / "1")) == (0.05, 0.1)
    assert len(pd.read_parquet(root / "trials.parquet")) == 3


def test_a_changed_setting_is_another_cell(tmp_path):
    """runs=2 is not complete because runs=1 was: resume measures it in a folder of its own."""
    root = tmp_path / "sweep"
    for runs in ("1", "2"):
        result = run_in_process_in(tmp_path, "-m", "backend=fake", f"runs={runs}",
                                   "warmup=0", "resume=true", f"hydra.sweep.dir={root}")
        assert result.returncode == 0, result.stderr
        assert "skipped" not in result.stdout + result.stderr
    assert [len(pd.read_parquet(root / j / "trials.parquet")) for j in ("0", "0-2")] == [1, 2]


def test_an_infeasible_cell_is_a_complete_result(tmp_path):
    """Complete, though without an ok trial (exit 3); allow_failures does not make it another
    cell."""
    args = ("backend=fake", "parallel=64", "memsize=65536", "runs=2", "warmup=0", "resume=true")
    first = run_in_process_in(tmp_path, *args)
    assert first.returncode == 3, first.stderr
    rows = pd.read_parquet(tmp_path / "run" / "trials.parquet")
    assert set(rows["status"]) == {"infeasible"} and len(rows) == 2 * 64
    again = run_in_process_in(tmp_path, *args, "allow_failures=true")
    assert "complete in" in again.stdout and "skipped" in again.stdout
    assert again.returncode == 0, again.stderr


def test_a_single_run_resumes_then_skips(tmp_path):
    args = ("backend=fake", "backend.launch_s=0.4", "runs=8", "warmup=1", "resume=true")
    run_dir = tmp_path / "run"
    trials = run_dir / "trials.parquet"
    proc = start_in(tmp_path, *args)
    written, output = interrupt_when(proc, lambda: wait_for(trials.exists, 30))
    assert written and proc.returncode == 130, output
    resumed_at = time.time()

    result = run_in_process_in(tmp_path, *args)
    assert result.returncode == 0, result.stderr
    assert "incomplete earlier results moved to" in result.stdout
    rows = pd.read_parquet(trials)
    assert len(rows) == 9 and (rows["started_at"] > resumed_at).all()
    assert len(list((run_dir / "superseded").glob("*/trials.parquet"))) == 1
    complete = mtimes(run_dir)

    again = run_in_process_in(tmp_path, *args)
    assert again.returncode == 0, again.stderr
    assert f"cell fake/cached-hot/launch/p1: complete in {run_dir}, skipped" in again.stdout
    assert mtimes(run_dir) == complete


def test_a_single_run_finds_the_latest_run_of_its_cell(tmp_path):
    experiment = tmp_path / "results" / "default"
    # No run dir given: each run goes to, and resume looks in, tmp_path/results.
    assert in_process("backend=fake", "runs=1", "warmup=0", **within(tmp_path)).returncode == 0
    [first] = experiment.iterdir()
    skipped = in_process("backend=fake", "runs=1", "warmup=0", "resume=true", **within(tmp_path))
    assert f"complete in {first}, skipped" in skipped.stdout
    time.sleep(1)  # run folders are named by the second
    other = in_process("backend=fake", "runs=2", "warmup=0", "resume=true", **within(tmp_path))
    assert other.returncode == 0 and "skipped" not in other.stdout
    assert len(list(experiment.iterdir())) == 2


@pytest.mark.appliance
def test_resume_with_real_appliances_measures_only_the_missing_cell(shared_cache, tmp_path):
    root = tmp_path / "sweep"

    def sweep(memsizes: str) -> subprocess.CompletedProcess:
        return lgbench("-m", *TCG, f"memsize={memsizes}", "resume=true",
                       f"hydra.sweep.dir={root}", timeout=300,
                       **within(tmp_path, cache=shared_cache))

    first = sweep("512")
    assert first.returncode == 0, first.stderr
    complete = mtimes(root / "0")
    resumed_at = time.time()
    result = sweep("512,640")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert f"cell 1 of 2: complete in {root / '0'}, skipped" in output
    assert output.count("trial 1/1: ok") == 1, "more than the missing cell was measured"
    assert mtimes(root / "0") == complete
    new = pd.read_parquet(root / "1" / "trials.parquet")
    assert new["cell"].tolist() == ["tcg/cached-hot/launch/p1/m640"]
    assert new["status"].tolist() == ["ok"] and (new["started_at"] > resumed_at).all()
    aggregate = pd.read_parquet(root / "trials.parquet")
    assert sorted(aggregate["cell"]) == ["tcg/cached-hot/launch/p1/m512",
                                         "tcg/cached-hot/launch/p1/m640"]
