"""guestfs-performance(1)'s TROUBLESHOOTING POOR PERFORMANCE as checks (lgbench-doctor).

Each check gives a verdict (ok, warn, fail, info), the evidence it saw and the advice the guide
(or experience on hosts like this one) gives. The same facts go into every run's metadata.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil

from harness.host import accelerator, feasibility, handles, trust
from harness.host.facts import on_tmpfs

SUPERMIN_D = Path("/usr/lib/x86_64-linux-gnu/guestfs/supermin.d")


@dataclass(frozen=True)
class Check:
    name: str
    verdict: str  # ok | warn | fail | info
    evidence: str
    advice: str = ""


def check_cpu_flags() -> Check:
    flags = accelerator.cpu_virt_flags()
    if flags:
        return Check("cpu virtualisation", "ok", f"/proc/cpuinfo flags: {' '.join(flags)}")
    return Check("cpu virtualisation", "warn", "no vmx or svm flag in /proc/cpuinfo",
                 "Hardware virtualisation is missing (or not passed through to this VM, or off "
                 "in the BIOS): appliances run under TCG, several times slower. Run libguestfs "
                 "on bare metal, or enable nested virtualisation.")


def check_dev_kvm() -> Check:
    if not os.path.exists("/dev/kvm"):
        return Check("/dev/kvm", "warn", "absent", "Load the kvm_intel or kvm_amd module.")
    mode = oct(os.stat("/dev/kvm").st_mode & 0o777)
    problem = accelerator.dev_kvm_problem()
    if problem:
        return Check("/dev/kvm", "fail", f"mode {mode}; {problem}",
                     "Make /dev/kvm usable by this user (mode 0666 is safe, as the performance "
                     "guide says, "
                     "or add the user to the kvm group).")
    return Check("/dev/kvm", "ok", f"mode {mode}; opens read-write for uid {os.getuid()}")


def check_kvm_launch(cache_dir: Path, timeout_s: float) -> Check:
    verdict = accelerator.kvm_verdict(cache_dir, timeout_s)
    if verdict.usable:
        return Check("KVM appliance launch", "ok", verdict.reason)
    return Check("KVM appliance launch", "fail", verdict.reason,
                 "Use TCG (lgbench backend=auto does), or UML; expect launches well over the "
                 "performance guide's 6 seconds.")


def check_tcg_launch(cache_dir: Path, timeout_s: float) -> Check:
    launched, what = accelerator.launch_probe("tcg", cache_dir, timeout_s)
    if launched:
        return Check("TCG appliance launch", "ok", f"a TCG appliance {what}")
    return Check("TCG appliance launch", "fail", f"a TCG appliance {what}",
                 "Check the libguestfs install: run libguestfs-test-tool.")


def check_uml() -> Check:
    uml = shutil.which("linux.uml")
    if uml is None:
        return Check("User-Mode Linux", "fail", "linux.uml not found",
                     "apt-get install user-mode-linux")
    shm = next((line.split() for line in Path("/proc/mounts").read_text().splitlines()
                if line.split()[1] == "/dev/shm"), None)
    if shm is not None and "noexec" in shm[3].split(","):
        return Check("User-Mode Linux", "fail", f"{uml}; /dev/shm is mounted noexec",
                     "UML maps its memory from /dev/shm: remount it exec, or set TMPDIR.")
    return Check("User-Mode Linux", "ok", f"{uml}; /dev/shm allows exec")


def check_libvirtd() -> Check:
    from harness.host.libvirtd import client_limits, daemon_running

    if not daemon_running("libvirtd"):
        return Check("libvirtd", "info", "not running",
                     "lgbench starts virtlogd and libvirtd when backend=libvirt needs them.")
    limits = client_limits()
    evidence = (f"running; max_clients {limits.get('nclients_max')}, max_unauth_clients "
                f"{limits.get('nclients_unauth_max')}, max_workers {limits.get('maxWorkers')}")
    if isinstance(limits.get("nclients_max"), int) and limits["nclients_max"] <= 20:
        return Check("libvirtd", "warn", evidence,
                     "Each appliance is one client: raise max_clients in libvirtd.conf to run "
                     "more than that many appliances in parallel.")
    return Check("libvirtd", "ok", evidence)


def supermin_build_seconds(output: Path, if_newer: bool) -> float:
    command = ["supermin", "--build", "--format", "ext2", "--copy-kernel", "--host-cpu",
               os.uname().machine, "-o", str(output), str(SUPERMIN_D)]
    if if_newer:
        command.insert(2, "--if-newer")
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def check_appliance_cache(cache_dir: Path) -> Check:
    trust.secure_folder(cache_dir, private=True)
    free = shutil.disk_usage(cache_dir).free / 2**30
    where = f"{cache_dir} ({'tmpfs' if on_tmpfs(cache_dir) else 'disk'}, {free:.1f} GiB free)"
    if shutil.which("supermin") is None or not SUPERMIN_D.is_dir():
        return Check("appliance cache", "fail", f"{where}; supermin or {SUPERMIN_D} missing",
                     "apt-get install libguestfs-tools")
    try:
        with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
            cold = supermin_build_seconds(Path(tmp) / "appliance.d", if_newer=False)
            hot = supermin_build_seconds(Path(tmp) / "appliance.d", if_newer=True)
    except (subprocess.CalledProcessError, OSError) as exc:  # a full cache disk, say
        said = (exc.stderr or b"").decode(errors="replace").strip().splitlines() \
            if isinstance(exc, subprocess.CalledProcessError) else [str(exc)]
        return Check("appliance cache", "fail",
                     f"{where}; supermin --build failed: {said[-1] if said else exc}",
                     "Free space where the cache is, or name another folder (LGBENCH_CACHE).")
    evidence = f"{where}; supermin build: cold {cold:.1f} s, cached check {hot:.1f} s"
    if free < 2:
        return Check("appliance cache", "warn", evidence,
                     "Keep several GiB free: the appliance is rebuilt there after host updates.")
    return Check("appliance cache", "ok", evidence,
                 "A fixed appliance (lgbench appliance=fixed) skips the check and the rebuilds.")


def check_memory(memsize_mib: int, cache_dir: Path) -> Check:
    """How many appliances fit in memory now, as lgbench's feasibility check reckons: the
    largest cost measured here for any appliance of this memsize, else the guest's RAM."""
    available = psutil.virtual_memory().available // 2**20
    costs = [cost for kind, cost in feasibility.measured_footprints(cache_dir).items()
             if kind.endswith(f"/m{memsize_mib}")]
    per_appliance, reckoning = feasibility.per_appliance_mib(memsize_mib, max(costs, default=None))
    count = int(available // per_appliance)
    return Check("parallel appliances", "info" if count else "warn",
                 f"{available} MiB available; {per_appliance:.0f} MiB per appliance at memsize "
                 f"{memsize_mib} ({reckoning}) -> at most {count} at once",
                 "" if count else "Free memory, or lower memsize.")


def check_bindings() -> Check:
    problem = handles.bindings_problem()
    if problem is None:
        return Check("libguestfs bindings", "ok", f"import guestfs works in {sys.executable}")
    return Check("libguestfs bindings", "fail", problem, handles.BINDINGS_FIX.capitalize() + ".")


def each_check(cache_dir: Path, memsize_mib: int, probe_timeout_s: float) -> Iterator[Check]:
    """The checks one at a time, as each finishes (the launches take a while)."""
    yield check_bindings()
    yield check_cpu_flags()
    yield check_dev_kvm()
    yield check_kvm_launch(cache_dir, probe_timeout_s)
    yield check_tcg_launch(cache_dir, probe_timeout_s)
    yield check_uml()
    yield check_libvirtd()
    yield check_appliance_cache(cache_dir)
    yield check_memory(memsize_mib, cache_dir)


def run_checks(cache_dir: Path, memsize_mib: int, probe_timeout_s: float) -> list[Check]:
    return list(each_check(cache_dir, memsize_mib, probe_timeout_s))


def host_facts(cache_dir: Path, probe_timeout_s: float) -> dict[str, Any]:
    """The checks as plain dicts for metadata.json, computed once per host and stack (they
    launch appliances) and cached beside the KVM verdicts."""
    cache_file = cache_dir / "doctor-facts.json"
    key = accelerator.host_fingerprint()
    cached = json.loads(trust.read_trusted(cache_file) or "{}")
    if key not in cached:
        checks = run_checks(cache_dir, feasibility.LIBGUESTFS_DEFAULT_MEMSIZE_MIB,
                            probe_timeout_s)
        cached[key] = {"computed_at": time.time(), "checks": [asdict(c) for c in checks]}
        text = json.dumps(cached, indent=2)
        trust.atomic_write(cache_file, lambda tmp: Path(tmp).write_text(text))
    return cached[key]
