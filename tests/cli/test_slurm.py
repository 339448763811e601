"""hydra/launcher=submitit_slurm on a real one-node SLURM cluster (scripts/slurm_cluster.py),
started for these tests in a folder of their own and stopped after (the `slurm` fixture of
tests/conftest.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest
from helpers.lgbench import LGBENCH_REPORT, TCG, lgbench, names_a_trial, start, wait_for, within


def test_a_second_cluster_on_the_same_folder_is_refused(slurm, slurm_cluster):
    again = slurm_cluster("up", slurm)
    assert again.returncode == 1 and "already running" in again.stderr


@pytest.mark.appliance
def test_a_sweep_of_a_fake_and_a_real_tcg_cell_runs_as_slurm_jobs(slurm, shared_cache,
                                                                   tmp_path):
    root = tmp_path / "sweep"
    result = lgbench("-m", "backend=fake,tcg", *TCG[1:], "hydra/launcher=submitit_slurm",
                     "hydra.launcher.partition=bench", f"hydra.sweep.dir={root}",
                     timeout=900, **within(tmp_path, cache=shared_cache))
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"aggregate of 2 cells: {root}" in result.stdout
    trials = pd.read_parquet(root / "trials.parquet")
    assert sorted(trials["backend"]) == ["fake", "tcg"] and set(trials["status"]) == {"ok"}
    assert set(trials.loc[trials["backend"] == "tcg", "accel_effective"]) == {"tcg"}
    for job in ("0", "1"):
        assert (root / job / "trials.parquet").exists() and (root / job / "lgbench.log").exists()
    job_ids = sorted(p.name for p in (root / ".submitit").iterdir()
                     if p.is_dir() and "_" in p.name)  # array tasks: <job>_<task>
    assert len(job_ids) == 2 and all(list((root / ".submitit" / j).glob("*_log.out"))
                                     for j in job_ids)
    accounted = subprocess.run(["sacct", "-n", "-X", "-o", "JobID,State"], capture_output=True,
                               text=True, env=os.environ).stdout
    states = dict(line.split() for line in accounted.splitlines())
    assert all(states.get(job) == "COMPLETED" for job in job_ids), accounted


# Two fake cells long enough to be caught running.
SLOW_SWEEP = ("-m", "backend=fake", "backend.launch_s=6", "memsize=512,1024", "runs=1",
              "warmup=0", "hydra/launcher=submitit_slurm", "hydra.launcher.partition=bench")


def queued() -> dict[str, str]:
    shown = subprocess.run(["squeue", "-h", "-o", "%i %T"], capture_output=True, text=True)
    return dict(line.split() for line in shown.stdout.splitlines())


def both_measuring(root: Path):
    """Both jobs running and each in its first repetition (its log says so)."""
    def ready() -> dict[str, str] | None:
        jobs = queued()
        logs = [root / job / "lgbench.log" for job in ("0", "1")]
        started = all(log.exists() and "1 appliance(s) each" in log.read_text() for log in logs)
        return jobs if started and set(jobs.values()) == {"RUNNING"} else None
    return ready


def fake_hypervisors(since: float) -> list[int]:
    """This test's stand-in hypervisors of the fake backend (their argv names a trial folder of
    this worker's), started since then and still alive."""
    return [p.pid for p in psutil.process_iter(["cmdline", "create_time", "status"])
            if p.info["create_time"] >= since and p.info["status"] != psutil.STATUS_ZOMBIE
            and "time.sleep(3600)" in " ".join(p.info["cmdline"] or ())
            and names_a_trial(p.info["cmdline"])]


def test_a_cancelled_job_ends_the_sweep_clearly_and_resume_measures_only_its_cell(slurm,
                                                                                   tmp_path):
    root = tmp_path / "sweep"
    proc = start(*SLOW_SWEEP, f"hydra.sweep.dir={root}", **within(tmp_path))
    try:
        running = wait_for(both_measuring(root), timeout=60)
        assert running, queued()
        first = min(running)  # the array's first task
        subprocess.run(["scancel", first], check=True)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 4, err[-2000:]
    assert f"a cell of the sweep did not finish (job {first} ended CANCELLED" in err
    assert "Traceback" not in err and "aggregate of 1 cells" in out
    assert len(pd.read_parquet(root / "trials.parquet")) == 1  # the other cell's run
    again = lgbench(*SLOW_SWEEP, f"hydra.sweep.dir={root}", "resume=true", timeout=300,
                    **within(tmp_path))
    assert again.returncode == 0, again.stderr[-2000:]
    skipped = [job.name for job in root.iterdir() if job.name.isdigit()
               and "skipped" in (job / "lgbench.log").read_text()]
    assert len(skipped) == 1 and f"aggregate of 2 cells: {root}" in again.stdout
    report = lgbench(str(root), program=LGBENCH_REPORT, cache=None, cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    merged = pd.read_csv(root / "summary.csv")
    assert merged["cell"].nunique() == 2 and not merged["cell"].str.contains(":").any()


def test_ctrl_c_of_lgbench_cancels_its_slurm_jobs(slurm, tmp_path):
    since = time.time()
    root = tmp_path / "sweep"
    proc = start(*SLOW_SWEEP, f"hydra.sweep.dir={root}", **within(tmp_path))
    try:
        assert wait_for(both_measuring(root), timeout=60), queued()
        assert wait_for(lambda: fake_hypervisors(since), timeout=30)  # the check below sees them
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err[-2000:]
    assert queued() == {}
    assert not fake_hypervisors(since)
    logs = [(root / job / "lgbench.log").read_text() for job in ("0", "1")]
    assert all("interrupted" in log for log in logs)
