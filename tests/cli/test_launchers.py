"""Hydra launchers: the basic one by default, submitit_slurm composes, submitit_local runs a
sweep as concurrent jobs (progress, metadata, aggregate, report warning, Ctrl-C)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest
from helpers.lgbench import TCG, alive, run_lgbench_in, start, wait_for, within

WARNING = "cells ran as concurrent jobs (Hydra launcher submitit_local)"


@pytest.mark.parametrize(("launcher", "said"), [
    (None, "2 cells in rounds"),  # the default: tests/cli/test_interleaved.py
    ("basic", "Launching 2 jobs locally")])  # Hydra's basic launcher: one after another
def test_the_local_launchers_run_one_cell_at_a_time(tmp_path, launcher, said):
    root = tmp_path / "sweep"
    chosen = [f"hydra/launcher={launcher}"] if launcher else []
    result = run_lgbench_in(tmp_path, "-m", "backend=fake", "backend.launch_s=0.05,0.1",
                            "runs=1", "warmup=0", *chosen, f"hydra.sweep.dir={root}")
    assert result.returncode == 0, result.stderr
    assert said in result.stdout + result.stderr
    for meta in [root / "metadata.json", *root.glob("*/metadata.json")]:
        assert json.loads(meta.read_text())["launcher"] == (launcher or "interleaved")
    assert "cells ran as concurrent jobs" not in (root / "report.md").read_text()


def test_submitit_slurm_composes_with_the_usual_keys(tmp_path):
    result = run_lgbench_in(tmp_path, "--cfg", "hydra", "hydra/launcher=submitit_slurm",
                            "hydra.launcher.partition=bench", "hydra.launcher.timeout_min=240",
                            "hydra.launcher.array_parallelism=4", "paths.results_dir=/shared/lgb")
    assert result.returncode == 0, result.stderr
    assert "_target_: hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher" \
        in result.stdout
    for line in ("partition: bench", "timeout_min: 240", "array_parallelism: 4",
                 "submitit_folder: ${hydra.sweep.dir}/.submitit/%j"):
        assert line in result.stdout


def check_submitit_sweep(root: Path, result: subprocess.CompletedProcess, rows: int) -> None:
    """What every submitit_local sweep must leave: jobs, aggregate, metadata, warning."""
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Submitit 'local' sweep output dir" in output
    assert sorted(p.parent.name for p in root.glob("*/trials.parquet")) == ["0", "1"]
    for job in ("0", "1"):
        meta = json.loads((root / job / "metadata.json").read_text())
        assert meta["launcher"] == "submitit_local" and meta["interrupted"] is False
        assert f"cell {int(job) + 1} of 2" in (root / job / "lgbench.log").read_text()
    assert json.loads((root / "metadata.json").read_text())["launcher"] == "submitit_local"
    assert len(pd.read_parquet(root / "trials.parquet")) == rows
    assert f"aggregate of 2 cells: {root}" in output
    assert WARNING in (root / "report.md").read_text()


def test_submitit_local_runs_a_sweep_as_concurrent_jobs(tmp_path):
    root = tmp_path / "sweep"
    result = run_lgbench_in(tmp_path, "-m", "hydra/launcher=submitit_local", "backend=fake",
                            "backend.launch_s=0.5,0.6", "runs=4", "warmup=0",
                            f"hydra.sweep.dir={root}")
    check_submitit_sweep(root, result, rows=8)
    spans = [pd.read_parquet(root / job / "trials.parquet") for job in ("0", "1")]
    first, second = sorted((t["started_at"].min(), t["ended_at"].max()) for t in spans)
    assert second[0] < first[1], "the jobs did not overlap"


def descendants(pid: int) -> set[int]:
    try:
        return {p.pid for p in psutil.Process(pid).children(recursive=True)}
    except psutil.NoSuchProcess:
        return set()


def hung_fakes(pids: set[int]) -> list[int]:
    found = []
    for pid in pids:
        try:
            if any("time.sleep(3600)" in a for a in psutil.Process(pid).cmdline()):
                found.append(pid)
        except psutil.Error:
            continue
    return found


def ignore_sigint() -> None:
    """As a script's background job (or nohup) starts: SIGINT ignored, inherited by exec."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize(("terminal", "started_ignoring"), [(False, False), (True, False),
                                                            (False, True)],
                         ids=["signal-to-lgbench", "terminal-ctrl-c", "started-ignoring-sigint"])
def test_ctrl_c_during_a_submitit_local_sweep_ends_every_job(tmp_path, terminal,
                                                             started_ignoring):
    """The terminal's Ctrl-C reaches the whole foreground group (launcher, submitit's
    controllers and jobs); a signal to lgbench alone must reach the jobs too, also when
    lgbench was started with SIGINT ignored."""
    root = tmp_path / "sweep"
    proc = start("-m", "hydra/launcher=submitit_local", "backend=fake", "backend.hang=true",
                 "backend.launch_s=0.05,0.06", "timeout_s=600", "runs=2", "warmup=0",
                 f"hydra.sweep.dir={root}", start_new_session=True,
                 preexec_fn=ignore_sigint if started_ignoring else None, **within(tmp_path))
    seen: set[int] = set()

    def both_hung() -> bool:
        seen.update(descendants(proc.pid))
        return len(hung_fakes(seen)) == 2

    try:
        hung = wait_for(both_hung, 60)
        if terminal:
            os.killpg(proc.pid, signal.SIGINT)
        else:
            proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert hung, "the two jobs' fake hypervisors never ran"
    assert proc.returncode == 130, out + err
    assert wait_for(lambda: not [p for p in seen if alive(p)], 10), "a job process survived"
    for job in ("0", "1"):
        assert json.loads((root / job / "metadata.json").read_text())["interrupted"] is True


def qemu_pids(pids: set[int]) -> set[int]:
    found = set()
    for pid in pids:
        try:
            if "qemu" in psutil.Process(pid).name():
                found.add(pid)
        except psutil.Error:
            continue
    return found


@pytest.mark.appliance
def test_submitit_local_sweeps_real_appliances(shared_cache, tmp_path):
    root = tmp_path / "sweep"
    proc = start("-m", "hydra/launcher=submitit_local", *TCG, "memsize=512,640",
                 f"hydra.sweep.dir={root}", **within(tmp_path, cache=shared_cache))
    qemus: set[int] = set()
    try:
        deadline = time.monotonic() + 300
        while proc.poll() is None and time.monotonic() < deadline:
            qemus.update(qemu_pids(descendants(proc.pid)))
            time.sleep(0.2)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    check_submitit_sweep(root, subprocess.CompletedProcess(proc.args, proc.returncode, out, err),
                         rows=2)
    trials = pd.read_parquet(root / "trials.parquet")
    assert set(trials["status"]) == {"ok"} and set(trials["accel_effective"]) == {"tcg"}
    assert len(qemus) >= 2, "no qemu per cell among the jobs' processes"
    assert wait_for(lambda: not [p for p in qemus if alive(p)], 10), "a qemu was left over"


def test_a_sweep_ends_with_each_swept_factors_comparison_in_the_one_wording(tmp_path):
    """Six interleaved rounds, one comparison: a 95% interval, paired by round; a direction
    only where the interval excludes 1."""
    result = run_lgbench_in(tmp_path, "-m", "backend=fake", "memsize=512,1024", "runs=6",
                            "warmup=0", f"hydra.sweep.dir={tmp_path / 'sweep'}")
    assert result.returncode == 0, result.stderr
    said = re.search(r"fake/cached-hot/launch/p1/m512: (no clear difference between "
                     r"memsize=1024 and memsize=512 \(95% CI of the ratio|memsize=1024 "
                     r"\d+\.\d\dx (slower|faster) than memsize=512 \(95% CI) "
                     r"(\d+\.\d{2,})-(\d+\.\d{2,})\)", result.stdout)
    assert said, result.stdout
    low, high = float(said.group(3)), float(said.group(4))
    assert low <= high and (said.group(2) is None) == (low <= 1 <= high)
    assert said.group(0).split(": ", 1)[1] in (tmp_path / "sweep" / "report.md").read_text()
