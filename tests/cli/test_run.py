"""`lgbench` and `lgbench-report` as users run them, on the fake backend (subprocesses)."""

from __future__ import annotations

import importlib.metadata
import json
import signal
import subprocess
from pathlib import Path

import pandas as pd
import psutil
import pytest
from helpers.lgbench import (
    LGBENCH_REPORT,
    alive,
    interrupt_when,
    run_in_process_in,
    run_lgbench_in,
    start_in,
    wait_for,
)

import harness
from harness.results.records import SCHEMA_VERSION

TRIAL_COLUMNS = ["schema_version", "run_id", "cell", "backend", "accel_requested",
                 "accel_effective", "appliance", "workload", "parallel", "instance", "repetition",
                 "warmup", "status", "error", "started_at", "ended_at", "launch_s", "total_s"]
SUMMARY_COLUMNS = ["cell", "metric", "n", "n_ok", "success_rate", "mean", "median", "stdev",
                   "ci_low", "ci_high", "ci_level", "min", "max", "n_outliers"]
PNG = b"\x89PNG\r\n\x1a\n"


def assert_clean_failure(result, *words):
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output
    for word in words:
        assert word in result.stderr, result.stderr


# Bad input on the command line: tests/cli/test_precheck.py.


@pytest.fixture(scope="module")
def fake_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fake_run")
    result = run_in_process_in(tmp, "backend=fake", "runs=2", "warmup=1")
    assert result.returncode == 0, result.stdout + result.stderr
    return tmp / "run", result


def test_a_fake_run_prints_its_summary(fake_run):
    run_dir, result = fake_run
    assert "Traceback" not in result.stdout + result.stderr
    assert "fake/cached-hot/launch/p1" in result.stdout
    assert str(run_dir) in result.stdout


def test_a_fake_run_writes_every_trial(fake_run):
    run_dir, _ = fake_run
    trials = pd.read_parquet(run_dir / "trials.parquet")
    missing = [c for c in TRIAL_COLUMNS if c not in trials.columns]
    assert missing == []
    assert len(trials) == 3
    assert trials["warmup"].tolist() == [True, False, False]
    assert trials["repetition"].tolist() == [0, 1, 2]
    assert set(trials["status"]) == {"ok"}
    assert set(trials["backend"]) == {"fake"}
    assert set(trials["accel_effective"]) == {"tcg"}
    assert set(trials["cell"]) == {"fake/cached-hot/launch/p1"}
    assert set(trials["schema_version"]) == {SCHEMA_VERSION}
    assert trials["launch_s"].between(0.05, 5).all()
    assert (trials["total_s"] >= trials["launch_s"]).all()
    assert (trials["ended_at"] > trials["started_at"]).all()
    assert trials["run_id"].nunique() == 1


def test_a_run_records_its_lgbench_and_how_noisy_the_host_was(fake_run):
    run_dir, _ = fake_run
    metadata = json.loads((run_dir / "metadata.json").read_text())
    assert metadata["lgbench"]["version"] == importlib.metadata.version("lgbench")
    checkout = Path(harness.__file__).resolve().parents[1]
    head = subprocess.run(["git", "-C", str(checkout), "rev-parse", "HEAD"],
                          capture_output=True, text=True).stdout.strip()
    assert metadata["lgbench"]["commit"] == (head or None)
    for when in ("noise_before", "noise_after"):
        noise = metadata[when]
        assert len(noise["loadavg"]) == 3 and noise["steal_s"] >= 0
        assert isinstance(noise["hypervisor_processes"], int)


def test_a_fake_run_summarises_without_warmups(fake_run):
    run_dir, _ = fake_run
    summary = pd.read_csv(run_dir / "summary.csv")
    assert [c for c in SUMMARY_COLUMNS if c not in summary.columns] == []
    launch = summary[summary["metric"] == "launch_s"]
    assert len(launch) == 1
    row = launch.iloc[0]
    assert (row["n"], row["n_ok"], row["success_rate"]) == (2, 2, 1.0)
    assert pd.isna(row["ci_low"]) and pd.isna(row["ci_level"])  # 2 runs: no 95% interval
    trials = pd.read_parquet(run_dir / "trials.parquet")
    measured = trials[~trials["warmup"]]
    assert row["median"] == pytest.approx(measured["launch_s"].median())


def test_a_fake_run_records_host_and_config(fake_run):
    run_dir, _ = fake_run
    meta = json.loads((run_dir / "metadata.json").read_text())
    host = meta["host"]
    assert host["cpu_model"] and host["kernel"]
    assert isinstance(host["cores"], int) and host["cores"] >= 1
    assert "libguestfs" in host["versions"] and "qemu" in host["versions"]
    config = meta["config"]
    assert config["backend"]["name"] == "fake"
    assert (config["runs"], config["warmup"]) == (2, 1)
    assert meta["interrupted"] is False
    assert meta["ended_at"] >= meta["started_at"]
    assert meta["backend"]["accel"] == "tcg"
    assert meta["cell"] == "fake/cached-hot/launch/p1"


def test_a_fake_run_draws_plots_and_a_report(fake_run):
    run_dir, _ = fake_run
    pngs = sorted((run_dir / "plots").glob("*.png"))
    assert pngs
    assert all(p.read_bytes()[:8] == PNG for p in pngs)
    report = (run_dir / "report.md").read_text()
    assert "3 trial rows (1 warm-up rows" in report
    assert "fake/cached-hot/launch/p1" in report
    for png in pngs:
        assert f"(plots/{png.name})" in report
    assert (run_dir / ".hydra" / "config.yaml").exists()


def test_the_cache_follows_lgbench_cache(fake_run):
    run_dir, _ = fake_run
    meta = json.loads((run_dir / "metadata.json").read_text())
    assert meta["config"]["paths"]["cache_dir"] == str(run_dir.parent / "cache")
    assert meta["appliance"]["dir"].startswith(str(run_dir.parent / "cache"))


def test_lgbench_report_recomputes_the_summary(fake_run, tmp_path):
    run_dir, _ = fake_run
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-r", str(run_dir), str(copy)], check=True)
    original = pd.read_csv(copy / "summary.csv")
    (copy / "summary.csv").unlink()
    (copy / "report.md").unlink()
    result = run_lgbench_in(tmp_path, str(copy), program=LGBENCH_REPORT)
    assert result.returncode == 0, result.stderr
    pd.testing.assert_frame_equal(pd.read_csv(copy / "summary.csv"), original)
    assert (copy / "report.md").exists()
    assert "launch_s" in result.stdout


@pytest.mark.parametrize("args", [["/nonexistent"], ["EMPTY"]])
def test_lgbench_report_fails_cleanly(tmp_path, args):
    (tmp_path / "empty").mkdir()
    args = [str(tmp_path / "empty") if a == "EMPTY" else a for a in args]
    result = run_lgbench_in(tmp_path, *args, program=LGBENCH_REPORT)
    assert_clean_failure(result, "lgbench-report: error:", args[0])


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sweep")
    root = tmp / "sweep"
    result = run_in_process_in(tmp, "-m", "backend=fake", "backend.launch_s=0.05,0.1",
                               "runs=1", "warmup=0", f"hydra.sweep.dir={root}")
    assert result.returncode == 0, result.stdout + result.stderr
    return root, result


def test_a_run_without_an_ok_trial_exits_3_and_says_what_happened(tmp_path):
    result = run_lgbench_in(tmp_path, "backend=fake", "backend.fail=true", "runs=2",
                            "warmup=1")
    assert result.returncode == 3, result.stdout + result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"lgbench: no ok trial in 1 cell(s) (fake/cached-hot/launch/p1 in {tmp_path / 'run'}: "
        "2 error); exit 3 (allow_failures=true where failures are the finding)")
    assert (tmp_path / "run" / "report.md").exists()
    allowed = run_lgbench_in(tmp_path, "backend=fake", "backend.fail=true", "runs=1",
                             "warmup=0", "allow_failures=true")
    assert allowed.returncode == 0, allowed.stderr


def test_a_sweep_finishes_every_cell_then_exits_3_for_the_one_without_an_ok_trial(tmp_path):
    root = tmp_path / "sweep"
    result = run_lgbench_in(tmp_path, "-m", "backend=fake", "backend.fail=true,false",
                            "runs=1", "warmup=0", f"hydra.sweep.dir={root}")
    assert result.returncode == 3, result.stdout + result.stderr
    assert f"no ok trial in 1 cell(s) (fake/cached-hot/launch/p1 in {root / '0'}: 1 error)" \
        in result.stderr
    statuses = pd.read_parquet(root / "trials.parquet")["status"]
    assert sorted(statuses) == ["error", "ok"]  # both cells ran; the aggregate is written


def test_runs_auto_measures_until_precise_and_says_why_it_stopped(tmp_path):
    """precision=0.9: 0.5 s fake launches meet it at min_runs, even with a busy host's spikes;
    resumed, the cell is done."""
    args = ("backend=fake", "backend.launch_s=0.5", "runs=auto", "precision=0.9", "min_runs=7",
            "warmup=1", "resume=true")
    result = run_in_process_in(tmp_path, *args)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 warm-up + 7..30 runs until the median is within 90%" in result.stdout
    assert "runs=auto: stopped after 8 runs (precision)" in result.stdout
    run_dir = tmp_path / "run"
    assert json.loads((run_dir / "metadata.json").read_text())["stop_reason"] == "precision"
    assert pd.read_parquet(run_dir / "trials.parquet")["repetition"].max() == 8
    assert "8 runs, stopped by precision" in (run_dir / "report.md").read_text()
    again = run_in_process_in(tmp_path, *args)
    assert "complete in" in again.stdout and "skipped" in again.stdout


def test_a_sweep_writes_one_folder_per_job(sweep):
    root, result = sweep
    assert "Traceback" not in result.stdout + result.stderr
    jobs = sorted(p.parent.name for p in root.glob("*/trials.parquet"))
    assert jobs == ["0", "1"]
    launch = [pd.read_parquet(root / j / "trials.parquet")["launch_s"].tolist() for j in jobs]
    assert [len(x) for x in launch] == [1, 1]
    assert 0.05 <= launch[0][0] < 0.1 <= launch[1][0]
    for j in jobs:
        assert (root / j / "summary.csv").exists() and (root / j / "metadata.json").exists()


def test_a_sweep_aggregates_at_its_root(sweep):
    root, _ = sweep
    trials = pd.read_parquet(root / "trials.parquet")
    assert len(trials) == 2
    fast, slow = sorted(trials["launch_s"])
    assert 0.05 <= fast < 0.1 <= slow
    summary = pd.read_csv(root / "summary.csv")
    launch = summary[summary["metric"] == "launch_s"].set_index("cell")
    # Two configurations, two cells: the swept key, outside the usual label, is added to it.
    assert sorted(launch.index) == ["fake/cached-hot/launch/p1/backend.launch_s=0.05",
                                    "fake/cached-hot/launch/p1/backend.launch_s=0.1"]
    assert (launch["n"] == 1).all() and (launch["n_ok"] == 1).all()
    assert json.loads((root / "metadata.json").read_text())["jobs"] == ["0", "1"]
    assert (root / "report.md").exists() and list((root / "plots").glob("*.png"))


def test_a_sweep_root_counts_the_makespan_of_every_job(sweep):
    """Each job measured one repetition (parallel=1: makespan == total): one makespan a cell,
    its own."""
    root, _ = sweep
    summary = pd.read_csv(root / "summary.csv")
    makespan = summary[summary["metric"] == "makespan_s"].set_index("cell")["median"]
    trials = pd.read_parquet(root / "trials.parquet").set_index("cell")["makespan_s"]
    assert len(makespan) == 2
    assert makespan.to_dict() == pytest.approx(trials.to_dict())


def hung_child(parent: int) -> psutil.Process | None:
    """The fake hypervisor started under `parent` (a worker's child), if it runs yet."""
    for proc in psutil.process_iter(["cmdline"]):
        if not any("time.sleep(3600)" in a for a in proc.info["cmdline"] or ()):
            continue
        try:
            if parent in {p.pid for p in proc.parents()}:
                return proc
        except psutil.Error:
            continue
    return None


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_kills_the_hung_appliance_and_exits_130(tmp_path, sig):
    proc = start_in(tmp_path, "backend=fake", "backend.hang=true", "timeout_s=600", "runs=3",
                 "warmup=0")
    child, output = interrupt_when(proc, lambda: wait_for(lambda: hung_child(proc.pid), 15), sig)
    assert child is not None, "the fake hypervisor never started"
    assert proc.returncode == 130, output
    assert "Traceback" not in output
    assert wait_for(lambda: not alive(child.pid), 5), "the fake hypervisor survived"
    meta = json.loads((tmp_path / "run" / "metadata.json").read_text())
    assert meta["interrupted"] is True


def test_an_interrupt_keeps_the_trials_measured_so_far(tmp_path):
    proc = start_in(tmp_path, "backend=fake", "backend.launch_s=0.5", "runs=20", "warmup=0")
    trials = tmp_path / "run" / "trials.parquet"
    written, output = interrupt_when(proc, lambda: wait_for(trials.exists, 20))
    assert written, "no trial row was written"
    assert proc.returncode == 130, output
    kept = pd.read_parquet(trials)
    assert 1 <= len(kept) < 20
    assert set(kept["status"]) == {"ok"}
    summary = pd.read_csv(tmp_path / "run" / "summary.csv")
    assert summary.loc[summary["metric"] == "launch_s", "n"].iloc[0] == len(kept)
