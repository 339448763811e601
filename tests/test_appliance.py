"""Real appliances (marker `appliance`): every capability of the launch baseline, booted for real.

The run's shared cache (one supermin appliance and one KVM verdict, tests/conftest.py) serves
every test but the one about a new cache; tests that are not about launching share what they
can.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import psutil
import pytest
from helpers import lgbench as cli
from helpers.lgbench import LGBENCH_DOCTOR, appliance_pids
from helpers.matrix import record_fault

from harness.host import accelerator
from harness.host.processes import referencing

pytestmark = pytest.mark.appliance


@pytest.fixture(scope="module")
def cache_dir(shared_cache: Path) -> Path:
    """The run's private cache (0700) in /var/tmp: libvirt's qemu user reaches the appliance
    in it only through the traverse right lgbench grants (pytest's tmp folders are 0700 all
    the way up, so nothing could be granted there)."""
    return shared_cache


@pytest.fixture
def new_cache() -> Iterator[Path]:
    """A cache of its own, new as on a new machine."""
    path = Path(tempfile.mkdtemp(prefix="lgbench-test-new-cache-", dir="/var/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def lgbench(cache_dir: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """lgbench on the module's cache, from pytest's folder; every test names its run dir."""
    return cli.lgbench(*args, cache=cache_dir, timeout=timeout)


def trials_of(run_dir: Path) -> pd.DataFrame:
    return pd.read_parquet(run_dir / "trials.parquet")


# What a KVM verdict or row must name when KVM did not work: /dev/kvm, or how the launch failed.
KVM_FAILURE = re.compile(r"/dev/kvm|did not finish launching within \d+ s|launch failed: \S")


def host_virt_flags() -> set[str]:
    """vmx/svm as /proc/cpuinfo lists them, read here rather than through the harness."""
    flags: set[str] = set()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            flags.update(value.split())
    return flags & {"vmx", "svm"}


def dev_kvm_opens() -> bool:
    """Whether /dev/kvm opens read-write for this user, tried here."""
    try:
        os.close(os.open("/dev/kvm", os.O_RDWR))
    except OSError:
        return False
    return True


def test_two_lgbench_sharing_a_new_cache_both_complete(new_cache: Path, tmp_path: Path) -> None:
    """On a new cache: supermin appliance, KVM verdict, host facts, a guest image and its
    inspection cache built by two runs at once; both measure correct rows (the image holds two
    operating systems: both are named, the first is the one described), and every cached file
    is whole afterwards."""
    cache_dir = new_cache
    procs = [cli.start("backend=auto", "workload=inspect", "workload.cache=true",
                       "workload.image=two-os",
                       "runs=1", "warmup=0", "probe_timeout_s=10",
                       f"hydra.run.dir={tmp_path / name}", cache=cache_dir) for name in "ab"]
    try:
        results = [p.communicate(timeout=900) for p in procs]
    finally:
        for p in procs:
            p.kill()
    rows = [trials_of(tmp_path / name).iloc[0] for name in "ab"]
    cached = list(cache_dir.rglob("*.json"))
    torn = []
    for path in cached:
        try:
            json.loads(path.read_text())
        except ValueError:
            torn.append(path)
    images = list((cache_dir / "images").iterdir())
    record_fault("two lgbench at once on one new cache (appliance, verdict, image, inspection)",
                 f"exits {[p.returncode for p in procs]}, rows {[r['status'] for r in rows]}, "
                 f"{len(torn)} of {len(cached)} cached files torn, "
                 f"images {sorted(i.name for i in images)}")
    record_fault("inspect a disk with two operating systems",
                 f"rows {[(r['status'], int(r['roots']), r['roots_found']) for r in rows]}")
    assert [p.returncode for p in procs] == [0, 0], [err[-2000:] for _, err in results]
    assert [(r["status"], r["roots"], r["distro"]) for r in rows] == [("ok", 2, "debian")] * 2
    assert [r["roots_found"] for r in rows] == ["/dev/sda1 debian 12; /dev/sda2 fedora 39"] * 2
    assert cached and not torn
    assert any(p.parent.name == "inspection" for p in cached)
    assert [i.name.startswith("two-os-") for i in images] == [True]  # one image, no leftovers


FIXED_BUILD = "libguestfs-make-fixed-appliance"


def test_kvm_probe_gives_a_reasoned_verdict(cache_dir: Path) -> None:
    flags, opens = host_virt_flags(), dev_kvm_opens()
    verdict = accelerator.kvm_verdict(cache_dir, timeout_s=45)
    if not opens:  # nothing to probe with
        assert (verdict.usable, verdict.probed) == (False, False), verdict
        assert "/dev/kvm" in verdict.reason, verdict
    elif not flags:  # no vmx/svm: no KVM guest can run, whatever /dev/kvm says
        assert (verdict.usable, verdict.probed) == (False, True), verdict
        assert KVM_FAILURE.search(verdict.reason) and "no vmx/svm" in verdict.reason, verdict
    else:  # only a launch can tell; either way the reason says what happened
        assert verdict.probed, verdict
        if verdict.usable:
            assert re.search(r"launched in [\d.]+ s", verdict.reason), verdict
        else:
            assert KVM_FAILURE.search(verdict.reason), verdict
    # The cache is the run's shared one: the other worker's appliances use it too, and so does
    # its fixed appliance's build (libguestfs-make-fixed-appliance, which no probe runs).
    assert not [p for p in referencing(str(cache_dir)) if p.status() != psutil.STATUS_ZOMBIE
                and not cli.of_another_worker(p.cmdline())
                and not any(FIXED_BUILD in a for a in p.cmdline())], \
        "the probe left processes running"
    # Cached: the second call answers at once with the same verdict.
    start = time.monotonic()
    assert accelerator.kvm_verdict(cache_dir, timeout_s=45) == verdict
    assert time.monotonic() - start < 5


def test_tcg_baseline_writes_rows_summary_and_plots(cache_dir: Path, tmp_path: Path) -> None:
    """The launch baseline on real launches: rows, summary, plots, report. qemu runs through a
    wrapper script (backend.hv_wrapper, the guide's debugging recipe) that logs its arguments
    and execs it. (runs=auto's stopping is proven on the fake backend, tests/cli/test_run.py.)"""
    wrapper, argv_log = tmp_path / "wrapper" / "qemu.sh", tmp_path / "wrapper" / "argv"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> {argv_log}\nexec qemu-system-x86_64 "$@"\n')
    wrapper.chmod(0o755)
    result = lgbench(cache_dir, "backend=tcg", "runs=2", "warmup=1",
                     f"backend.hv_wrapper={wrapper}", f"hydra.run.dir={tmp_path / 'run'}")
    tmp_path = tmp_path / "run"
    assert result.returncode == 0, result.stderr
    trials = trials_of(tmp_path)
    assert len(trials) == 3 and list(trials["warmup"]) == [True, False, False]
    measured = trials[~trials["warmup"]]
    assert (measured["status"] == "ok").sum() == 2, trials[["status", "error"]]
    assert set(trials["accel_effective"]) == {"tcg"}
    assert (measured["total_s"] >= measured["launch_s"]).all()
    summary = pd.read_csv(tmp_path / "summary.csv")
    launch = summary[summary["metric"] == "launch_s"].iloc[0]
    assert launch["n_ok"] == 2 and launch["median"] == measured["launch_s"].median()
    assert pd.isna(launch["ci_low"])  # no distribution-free 95% CI from 2 values
    metadata = json.loads((tmp_path / "metadata.json").read_text())
    assert metadata["stop_reason"] == "runs"
    assert list((tmp_path / "plots").glob("*.png"))
    assert metadata["host"]["versions"]["libguestfs"].startswith("1.")
    assert metadata["appliance"]["files"]["kernel"]["sha256"]
    assert metadata["backend"]["hv_wrapper"] == str(wrapper)
    launches = [line for line in argv_log.read_text().splitlines() if "-kernel " in line]
    assert len(launches) == 3 and all("accel=tcg" in line for line in launches)
    report = (tmp_path / "report.md").read_text()
    assert "under 6 seconds" in report
    assert "tcg" in result.stdout and "median" in result.stdout
    assert not appliance_pids()


def test_kvm_request_on_a_host_without_kvm_is_a_reasoned_row(cache_dir: Path,
                                                             tmp_path: Path) -> None:
    flags, opens = host_virt_flags(), dev_kvm_opens()
    result = lgbench(cache_dir, "backend=kvm", "runs=1", "warmup=0", "probe_timeout_s=45",
                     f"hydra.run.dir={tmp_path}")
    row = trials_of(tmp_path).iloc[0]
    shown = row[["status", "error", "accel_effective"]].to_dict()
    # 3: the cell has no ok trial, unless KVM works here
    assert result.returncode == (0 if row["status"] == "ok" else 3), result.stderr
    if opens and flags and row["status"] == "ok":
        # KVM can work here, and did: the runner found a KVM VM in the qemu process.
        assert row["accel_effective"] == "kvm", shown
    else:
        assert row["status"] == "unsupported", shown
        assert pd.isna(row["accel_effective"]), shown  # nothing was launched
        assert "KVM is not usable" in row["error"], shown
        assert KVM_FAILURE.search(row["error"]), shown
        if not opens:
            assert "/dev/kvm" in row["error"], shown
        elif not flags:
            assert "no vmx/svm" in row["error"], shown


@pytest.mark.host
def test_sweep_over_direct_and_libvirt_writes_the_aggregate(cache_dir: Path,
                                                            tmp_path: Path) -> None:
    result = lgbench(cache_dir, "-m", "backend=tcg,libvirt", "runs=1", "warmup=0",
                     f"hydra.sweep.dir={tmp_path}")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "0" / "trials.parquet").exists()
    assert (tmp_path / "1" / "trials.parquet").exists()
    trials = trials_of(tmp_path)
    assert sorted(trials["backend"]) == ["libvirt", "tcg"]
    assert (trials["status"] == "ok").all(), trials[["backend", "error"]]
    assert set(trials["accel_effective"]) == {"tcg"}
    assert set(pd.read_csv(tmp_path / "summary.csv")["backend"]) == {"tcg", "libvirt"}
    # In rounds (the default launcher): the one measured round of each, in the recorded order.
    assert list(trials["round"]) == [1, 1]
    assert json.loads((tmp_path / "rounds.json").read_text())["rounds_done"] == 1
    libvirt_meta = json.loads((tmp_path / "1" / "metadata.json").read_text())["backend"]
    assert libvirt_meta["libvirtd_limits"]["nclients_max"] > 0
    assert not appliance_pids()


def test_timeout_kills_the_appliance(cache_dir: Path, tmp_path: Path) -> None:
    start = time.monotonic()
    result = lgbench(cache_dir, "backend=tcg", "runs=1", "warmup=0", "timeout_s=4",
                     f"hydra.run.dir={tmp_path}")
    assert result.returncode == 3, result.stderr  # no ok trial
    assert time.monotonic() - start < 40
    row = trials_of(tmp_path).iloc[0]
    assert row["status"] == "timeout" and "timeout_s=4" in row["error"]
    assert not appliance_pids()


def test_ctrl_c_ends_the_running_appliance_and_keeps_rows(cache_dir: Path,
                                                          tmp_path: Path) -> None:
    proc = cli.start("backend=tcg", "runs=5", "warmup=0", f"hydra.run.dir={tmp_path}",
                     cache=cache_dir)
    try:
        deadline = time.monotonic() + 120
        # Wait for the first row on disk, then for the next appliance to be running.
        while not (tmp_path / "trials.parquet").exists() and time.monotonic() < deadline:
            time.sleep(0.5)
        while not appliance_pids() and time.monotonic() < deadline:
            time.sleep(0.2)
        running = appliance_pids()
        assert running, "no appliance started"
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    finally:
        proc.kill()
        proc.communicate()
    assert proc.returncode == 130
    assert not running & appliance_pids()
    assert len(trials_of(tmp_path)) >= 1


@pytest.mark.parametrize("appliance", ["fixed", "fixed_shm", "cached_cold"])
def test_appliance_types_launch(cache_dir: Path, tmp_path: Path, appliance: str) -> None:
    overrides = [f"appliance={appliance}"]
    shm_dir = Path(f"/dev/shm/lgbench-test-{os.getpid()}")
    if appliance == "fixed_shm":
        overrides.append(f"appliance.dir={shm_dir}")
    started = time.time()
    try:
        result = lgbench(cache_dir, "backend=tcg", "runs=1", "warmup=0", *overrides,
                         f"hydra.run.dir={tmp_path}")
        assert result.returncode == 0, result.stderr
        row = trials_of(tmp_path).iloc[0]
        assert row["status"] == "ok", row["error"]
        meta = json.loads((tmp_path / "metadata.json").read_text())["appliance"]
        assert {"kernel", "initrd", "root"} <= set(meta["files"])
        if appliance == "fixed_shm":
            assert meta["on_tmpfs"] and meta["dir"] == str(shm_dir)
        if appliance == "cached_cold":
            kernel = next(Path(meta["dir"]).glob(".guestfs-*/appliance.d/kernel"))
            assert kernel.stat().st_mtime >= started, "cold run reused the old appliance"
    finally:
        subprocess.run(["rm", "-rf", str(shm_dir)])


def test_a_sweep_searching_n_adds_a_larger_n_whose_appliances_overlap(cache_dir: Path,
                                                                       tmp_path: Path) -> None:
    """Two TCG appliances at once finish more launches per hour than one (2 CPUs or more),
    so after 3 rounds the N search adds N = 3 (parallel_max), which joins the rounds left:
    its three appliances run at once, and a repetition's makespan spans them."""
    result = lgbench(cache_dir, "-m", "backend=tcg", "parallel=1,2", "parallel_max=3",
                     "runs=6", "warmup=0", "memsize=512", f"hydra.sweep.dir={tmp_path}")
    assert result.returncode == 0, result.stderr
    trials = trials_of(tmp_path)
    assert (trials["status"] == "ok").all(), trials["error"]
    added = trials[trials["parallel"] == 3]
    assert sorted(added["round"]) == [4, 4, 4, 5, 5, 5, 6, 6, 6], trials[["parallel", "round"]]
    for _, repetition in added.groupby("round"):
        assert sorted(repetition["instance"]) == [0, 1, 2]
        # Every pair of [start, end] intervals overlaps: the three ran at once.
        assert repetition["started_at"].max() < repetition["ended_at"].min()
        makespan = repetition["makespan_s"].iloc[0]
        assert repetition["total_s"].max() <= makespan < repetition["total_s"].sum()
    assert json.loads((tmp_path / "rounds.json").read_text())["added"] == [
        {"cell": 1, "parallel": 3}]
    assert 3 in set(pd.read_csv(tmp_path / "capacity.csv")["parallel"])
    assert not appliance_pids()


def test_parallel_beyond_memory_is_infeasible_without_launching(cache_dir: Path,
                                                                tmp_path: Path) -> None:
    start = time.monotonic()
    result = lgbench(cache_dir, "backend=tcg", "parallel=200", "memsize=2048", "runs=1",
                     "warmup=0", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 3, result.stderr  # no ok trial
    trials = trials_of(tmp_path)
    assert len(trials) == 200 and (trials["status"] == "infeasible").all()
    assert re.match(r"memory: 200 x \d+ MiB \(.*\) = \d+ MiB > \d+ MiB available",
                    trials["error"].iloc[0]), trials["error"].iloc[0]
    assert time.monotonic() - start < 30


@pytest.mark.host
def test_libvirt_past_its_client_limit_queues_and_tells_instances_apart(cache_dir: Path,
                                                                        tmp_path: Path) -> None:
    """4 appliances under libvirtd max_clients=3: each row has its own qemu, the one past the
    limit waits for a connection until an appliance closes (after the first launch), and
    libvirtd's own limits are back afterwards. (Instance 1 told from 10 and 11:
    tests/host/test_processes.py.)"""
    from harness.host.libvirtd import client_limits, ensure_daemons

    ensure_daemons()
    before = client_limits()
    result = lgbench(cache_dir, "backend=libvirt", "backend.max_clients=3", "parallel=4",
                     "memsize=256", "runs=1", "warmup=0", "timeline=true",
                     f"hydra.run.dir={tmp_path}", timeout=900)
    assert result.returncode == 0, result.stderr
    trials = trials_of(tmp_path)
    assert len(trials) == 4 and (trials["status"] == "ok").all(), trials["error"].tolist()
    assert trials["appliance_pid"].nunique() == 4
    assert set(trials["accel_effective"]) == {"tcg"}
    assert set(trials["libvirt_max_clients"]) == {3}
    queued = trials[trials["connected_s"] >= trials["launch_s"].min()]
    assert len(queued) == 1, trials[["instance", "connected_s", "total_s"]]
    assert (trials.drop(queued.index)["connected_s"] < 5).all()
    assert (trials["appliance_rss_peak_mib"] > 50).all()
    assert (trials["host_mem_peak_mib"] > trials["host_mem_start_mib"]).all()
    backend = json.loads((tmp_path / "metadata.json").read_text())["backend"]
    during = backend["libvirtd_limits"]
    assert during["nclients_max"] == 3 and during["nclients_unauth_max"] == 3
    # The private cache stays closed to others; libvirt's qemu user may only pass through.
    user = backend["qemu_user_granted_cache_traverse"]
    acl = subprocess.run(["getfacl", "-cp", str(cache_dir)], capture_output=True, text=True)
    assert f"user:{user}:--x" in acl.stdout.splitlines(), acl.stdout
    assert "other::---" in acl.stdout.splitlines()
    after = client_limits()
    assert (after["nclients_max"], after["nclients_unauth_max"]) == \
        (before["nclients_max"], before["nclients_unauth_max"])
    assert not appliance_pids()


@pytest.mark.host
def test_libvirt_limits_come_back_after_ctrl_c_and_after_a_killed_run(cache_dir: Path,
                                                                      tmp_path: Path) -> None:
    from harness.host.libvirtd import LIMITS_TO_RESTORE, client_limits, ensure_daemons

    ensure_daemons()
    own = client_limits()["nclients_max"]
    saved = cache_dir / LIMITS_TO_RESTORE

    def started(max_clients: int, run_dir: Path) -> subprocess.Popen:
        proc = cli.start("backend=libvirt", f"backend.max_clients={max_clients}", "runs=3",
                         "warmup=0", "memsize=256", f"hydra.run.dir={run_dir}", cache=cache_dir)
        assert cli.wait_for(lambda: saved.exists() and appliance_pids(), 120), \
            "the cell never launched under its limits"
        return proc

    killed = started(3, tmp_path / "killed")
    killed.kill()  # SIGKILL: nothing of lgbench runs after this
    killed.communicate()
    assert client_limits()["nclients_max"] == 3 and saved.exists()
    assert cli.wait_for(lambda: not appliance_pids(), 30), "the killed run's qemu lives on"

    interrupted = started(4, tmp_path / "interrupted")  # restores 3 -> own, then sets 4
    assert client_limits()["nclients_max"] == 4
    interrupted.send_signal(signal.SIGINT)
    interrupted.communicate(timeout=60)
    assert interrupted.returncode == 130
    assert client_limits()["nclients_max"] == own and not saved.exists()
    assert not appliance_pids()


def test_doctor_reports_accelerators_and_parallel_estimate(cache_dir: Path) -> None:
    start = time.monotonic()
    result = cli.lgbench("--json", program=LGBENCH_DOCTOR, cache=cache_dir, timeout=300)
    assert result.returncode == 0, result.stderr
    checks = {c["name"]: c for c in json.loads(result.stdout)}
    kvm = checks["KVM appliance launch"]
    if not (host_virt_flags() and dev_kvm_opens()):  # KVM cannot work here
        assert kvm["verdict"] == "fail" and KVM_FAILURE.search(kvm["evidence"]), kvm
    elif kvm["verdict"] == "ok":
        assert re.search(r"launched in [\d.]+ s", kvm["evidence"]), kvm
    else:
        assert kvm["verdict"] == "fail" and KVM_FAILURE.search(kvm["evidence"]), kvm
    # The doctor reports the verdict the probe test cached; it does not probe again.
    assert kvm["evidence"] == accelerator.kvm_verdict(cache_dir, timeout_s=45).reason
    assert checks["TCG appliance launch"]["verdict"] == "ok"
    assert checks["User-Mode Linux"]["verdict"] == "ok"
    assert "at once" in checks["parallel appliances"]["evidence"]
    assert time.monotonic() - start < 60


def test_a_failed_launch_runs_libguestfs_test_tool_with_the_cells_settings(
        cache_dir: Path, tmp_path: Path) -> None:
    """A hypervisor that cannot start (a wrapper that exits 1): the trials are error rows,
    and libguestfs-test-tool, run once with the same backend settings, hypervisor and
    appliance, fails the same way; its output is kept and named in the report."""
    wrapper = tmp_path / "bin" / "broken-qemu"
    wrapper.parent.mkdir()
    wrapper.write_text("#!/bin/sh\necho 'broken-qemu: refusing to start' >&2\nexit 1\n")
    wrapper.chmod(0o755)
    result = lgbench(cache_dir, "backend=tcg", "runs=1", "warmup=0",
                     f"backend.hv_wrapper={wrapper}", f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 3, result.stderr
    run = tmp_path / "run"
    assert set(trials_of(run)["status"]) == {"error"}
    tool = json.loads((run / "metadata.json").read_text())["test_tool"]
    assert tool["exit_status"] not in (0, None)
    output = (run / "libguestfs-test-tool.txt").read_text()
    assert f"LIBGUESTFS_HV={wrapper}" in output
    assert "LIBGUESTFS_BACKEND_SETTINGS=force_tcg" in output
    assert f"{wrapper} exited with error status 1" in tool["gist"]
    assert tool["gist"] in (run / "report.md").read_text()
    assert not appliance_pids()
