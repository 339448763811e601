"""hydra/launcher=submitit_slurm on a real one-node SLURM cluster (scripts/slurm_cluster.py),
started for these tests in a folder of their own and stopped after."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import psutil
import pytest
from helpers.lgbench import TCG, lgbench, within

CLUSTER = Path(__file__).parents[2] / "scripts" / "slurm_cluster.py"


def cluster(command: str, state: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(CLUSTER), command, "--state", str(state)],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def slurm(tmp_path_factory) -> Iterator[Path]:
    """A running cluster's state folder; SLURM_CONF points at it while the tests run. Its
    daemons are gone afterwards (checked)."""
    state = tmp_path_factory.mktemp("slurm")
    started = cluster("up", state)
    assert started.returncode == 0, started.stderr
    pids = [int((state / f"{d}.pid").read_text()) for d in ("munged", "slurmctld", "slurmd")]
    previous = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(state / "slurm.conf")
    try:
        yield state
    finally:
        if previous is None:
            os.environ.pop("SLURM_CONF")
        else:
            os.environ["SLURM_CONF"] = previous
        stopped = cluster("down", state)
        assert stopped.returncode == 0, stopped.stderr
        assert not [p for p in pids if psutil.pid_exists(p)
                    and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]


def test_a_second_cluster_on_the_same_folder_is_refused(slurm):
    again = cluster("up", slurm)
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
    job_ids = sorted(p.name for p in (root / ".submitit").iterdir() if "_" in p.name)
    assert len(job_ids) == 2 and all(list((root / ".submitit" / j).glob("*_log.out"))
                                     for j in job_ids)
    accounted = subprocess.run(["sacct", "-c", "-n", "-o", "JobID,State"], capture_output=True,
                               text=True, env=os.environ).stdout
    assert accounted.count("COMPLETED") >= 2, accounted
