"""Faults in the real stack (marker `appliance`): a hypervisor killed during a launch and during
a transfer, lgbench itself killed, libvirtd killed (two lgbench sharing one new cache are in
tests/test_appliance.py, whose new cache they fill). Each asserts the rows, that no process is
left, and that earlier rows are intact; each records its row of the fault matrix
(tests/helpers/matrix.py)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pandas as pd
import psutil
import pytest
from helpers import lgbench as cli
from helpers.lgbench import appliance_pids, wait_for
from helpers.matrix import record_fault
from helpers.mounts import tmpfs

pytestmark = pytest.mark.appliance

# Transfers long enough to be caught in the middle, also with the other worker busy (TCG moves
# ~60 MiB/s here, UML ~4 MiB/s).
PAYLOAD = {"tcg": 192 << 20, "uml": 8 << 20}


def trials_of(run_dir: Path) -> pd.DataFrame:
    return pd.read_parquet(run_dir / "trials.parquet")


def hypervisors() -> set[int]:
    """The appliances' own processes: qemu, or linux.uml without the helper processes UML
    forks (they share its command line)."""
    pids = appliance_pids()
    return {pid for pid in pids if parent(pid) not in pids}


def parent(pid: int) -> int | None:
    try:
        return psutil.Process(pid).ppid()
    except psutil.Error:
        return None


def new_appliances(before: set[int], count: int, timeout: float = 120) -> list[int]:
    """The pids of `count` appliances started since `before` was taken."""
    found = wait_for(lambda: (pids := sorted(hypervisors() - before))[count - 1:] and pids,
                     timeout)
    assert found, f"fewer than {count} appliance(s) started within {timeout:g} s"
    return found


def transferring(pid: int) -> bool:
    """Whether the trial that launched appliance `pid` has a payload open: the library reads
    the upload's source and writes the download's copy while they run."""
    try:
        files = psutil.Process(pid).parent().open_files()
    except (psutil.Error, AttributeError):
        return False
    return any("/up-" in f.path or "/down-" in f.path for f in files)


def signalled(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[rows["error"].fillna("").str.contains("killed by signal 9 (SIGKILL)",
                                                      regex=False)]


@pytest.mark.parametrize("backend", ["tcg", "uml"])
def test_a_hypervisor_killed_during_launch_or_transfer_fails_only_its_instance(
        shared_cache, tmp_path, backend):
    """Three appliances at once: one is SIGKILLed while it boots, another while it uploads or
    downloads; each of the two fails alone, and the third finishes ok, its transfer verified
    (this is also the transfer workload's proof on a real TCG appliance)."""
    run_dir = tmp_path / "run"
    before = appliance_pids()
    proc = cli.start(f"backend={backend}", "workload=transfer",
                     f"workload.sizes=[{PAYLOAD[backend]}]", "parallel=3", "runs=1", "warmup=0",
                     "probe_timeout_s=10", "allow_failures=true", f"hydra.run.dir={run_dir}",
                     cache=shared_cache)
    try:
        # Early in a run the other worker may still be building the shared appliance.
        booting = new_appliances(before, 3, timeout=600)
        os.kill(booting[0], signal.SIGKILL)
        # Scanned afresh each time: the killed linux.uml's helpers, orphaned for a moment,
        # look like appliances of their own.
        victim = wait_for(lambda: next((p for p in hypervisors() - before - {booting[0]}
                                        if transferring(p)), None), 600)
        if victim is None:
            proc.communicate(timeout=900)
            pytest.fail("no appliance was seen transferring; rows:\n"
                        + trials_of(run_dir)[["instance", "status", "error"]].to_string())
        os.kill(victim, signal.SIGKILL)
        out, err = proc.communicate(timeout=900)
    finally:
        proc.kill()
    trials = trials_of(run_dir)
    leaked = appliance_pids() - before
    killed = signalled(trials)
    record_fault(f"SIGKILL of {backend}'s hypervisor during a launch and during an upload, "
                 "3 appliances at once", f"exit {proc.returncode}; {len(killed)} error rows "
                 f"naming the signal, {(trials['status'] == 'ok').sum()} ok",
                 leaked=len(leaked))
    assert proc.returncode == 0, err[-3000:]
    assert not leaked
    assert killed["instance"].nunique() == 2, trials[["instance", "status", "error"]]
    assert killed["launch_s"].isna().any() and killed["launch_s"].notna().any(), \
        killed[["instance", "launch_s", "error"]]  # one died booting, one transferring
    survivor = trials[~trials["instance"].isin(killed["instance"])]
    assert len(survivor) == 1 and (survivor["status"] == "ok").all(), \
        survivor[["status", "error"]]
    # Its payload went up and came back whole (SHA-256 both ways).
    assert survivor["sha_ok"].all() and (survivor[["upload_s", "download_s"]] > 0).all(axis=None)


@pytest.mark.parametrize("backend", ["tcg", "uml"])
def test_lgbench_killed_leaves_no_appliance_and_resume_completes_the_cell(
        shared_cache, tmp_path, backend):
    run_dir = tmp_path / "run"
    args = (f"backend={backend}", "runs=1", "warmup=0", "probe_timeout_s=10",
            f"hydra.run.dir={run_dir}")
    before = appliance_pids()
    proc = cli.start(*args, cache=shared_cache)
    try:
        new_appliances(before, 1)
        proc.kill()  # SIGKILL: nothing of lgbench runs after this
        proc.communicate()
    finally:
        proc.kill()
    gone = wait_for(lambda: not (appliance_pids() - before), 10)
    leaked = appliance_pids() - before
    resumed = cli.lgbench(*args, "resume=true", cache=shared_cache, timeout=600)
    trials = trials_of(run_dir)
    record_fault(f"SIGKILL of lgbench during a {backend} launch",
                 f"appliances gone within 10 s: {bool(gone)}; resume=true exit "
                 f"{resumed.returncode}, {len(trials)} row(s)", leaked=len(leaked))
    assert gone, f"still running 10 s after lgbench was killed: {leaked}"
    assert resumed.returncode == 0, (resumed.stderr[-3000:], list(trials["error"].dropna()))
    assert list(trials["status"]) == ["ok"]


def libvirtd_pids() -> list[int]:
    return [p.pid for p in psutil.process_iter(["name"]) if p.info["name"] == "libvirtd"]


@pytest.mark.host
def test_libvirtd_killed_during_a_cell_fails_it_and_the_next_cell_starts_it_again(
        shared_cache, tmp_path):
    """The cells run under a client limit of their own: after the killed daemon, the new one
    ends with its own limits."""
    from harness.host.libvirtd import client_limits, ensure_daemons

    ensure_daemons()
    own = client_limits()["nclients_max"]
    root = tmp_path / "sweep"
    before = appliance_pids()
    proc = cli.start("-m", "backend=libvirt", "backend.max_clients=3", "runs=1", "warmup=0",
                     "memsize=512,640", "allow_failures=true", f"hydra.sweep.dir={root}",
                     cache=shared_cache)
    try:
        new_appliances(before, 1)
        daemons = libvirtd_pids()
        assert daemons, "no libvirtd while a libvirt appliance runs"
        for pid in daemons:
            os.kill(pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=600)
    finally:
        proc.kill()
    leaked = appliance_pids() - before
    # The cells run in interleaved rounds (in a seeded order): the first measured is killed.
    first, second = sorted((trials_of(root / job) for job in "01"),
                           key=lambda rows: rows["started_at"].iloc[0])
    record_fault("SIGKILL of libvirtd during a libvirt launch",
                 f"exit {proc.returncode}; killed cell: {first['status'].iloc[0]} "
                 f"({str(first['error'].iloc[0])[:80]}...); next cell: "
                 f"{second['status'].iloc[0]}", leaked=len(leaked))
    assert proc.returncode == 0, err[-3000:]
    assert first["status"].iloc[0] == "error" and first["error"].iloc[0]
    assert list(second["status"]) == ["ok"], second[["status", "error"]]
    assert not leaked
    assert client_limits()["nclients_max"] == own



def test_a_cache_disk_that_fills_during_the_appliance_build_fails_the_cell_in_rows(tmp_path,
                                                                                   mounts):
    """48 MiB pass the up-front check (1 MiB) but not supermin's build of the appliance: an
    error row, no traceback (the host checks' own supermin build fails first and is recorded
    as a failed check)."""
    cache = tmpfs(mounts, tmp_path / "cache", "48m")
    before = appliance_pids()
    result = cli.lgbench("backend=tcg", "runs=1", "warmup=0", f"hydra.run.dir={tmp_path / 'run'}",
                         cache=cache, timeout=600)
    trials = trials_of(tmp_path / "run")
    said = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else ""
    record_fault("cache disk full during the supermin appliance build",
                 f"exit {result.returncode}; {trials['status'].iloc[0]} row: "
                 f"{str(trials['error'].iloc[0])[:160]}", leaked=len(appliance_pids() - before),
                 tmp=tmp_path)
    assert result.returncode == 3, result.stderr[-3000:]
    assert "Traceback" not in result.stderr and said.startswith("lgbench: no ok trial")
    assert list(trials["status"]) == ["error"]
    assert not appliance_pids() - before


def test_an_images_folder_too_small_for_an_image_build_is_an_error_row(shared_cache,
                                                                       tmp_path, mounts):
    """2 MiB pass lgbench's up-front check but cannot hold the 256 MiB guest disk: the build
    is refused before it launches (a build left to fill the disk would hang: qemu pauses the
    guest on ENOSPC)."""
    images = tmpfs(mounts, tmp_path / "images", "2m")
    result = cli.lgbench("backend=tcg", "workload=inspect", "workload.image=two-os", "runs=1",
                         "warmup=0", f"paths.images_dir={images}",
                         f"hydra.run.dir={tmp_path / 'run'}", cache=shared_cache, timeout=300)
    trials = trials_of(tmp_path / "run")
    record_fault("images disk too small for a guest image build",
                 f"exit {result.returncode}; {trials['status'].iloc[0]} row: "
                 f"{str(trials['error'].iloc[0])[:160]}", tmp=tmp_path)
    assert result.returncode == 3, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert list(trials["status"]) == ["error"]
    assert trials["error"].iloc[0].startswith("building image 'two-os' failed: ")
    assert f"{images} has 2 MiB free; the image can grow to 256 MiB" in trials["error"].iloc[0]
    assert [p.name for p in images.iterdir()] == []  # no half-built image left
