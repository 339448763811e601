"""Host and stack provenance for metadata.json: what a reader needs to trust a number."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any

import psutil

from harness.host.accelerator import cpu_virt_flags, dev_kvm_problem

VERSION_COMMANDS = {
    "qemu": ["qemu-system-x86_64", "--version"],
    "libvirt": ["libvirtd", "--version"],
    "supermin": ["supermin", "--version"],
    "linux_uml": ["linux.uml", "--version"],
}


def _first_line(command: list[str]) -> str | None:
    if shutil.which(command[0]) is None:
        return None
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=20,
                                stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unknown ({exc})"
    out = (result.stdout or result.stderr).strip()
    return out.splitlines()[0] if out else None


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def virtualization(*only: str) -> str:
    """What this host itself runs under (systemd-detect-virt), e.g. docker, kvm or none;
    with "--vm", the hypervisor alone (a container's host may be a virtual machine)."""
    return _first_line(["systemd-detect-virt", *only]) or "unknown"


def libguestfs_version() -> str | None:
    try:
        import guestfs
    except ImportError:
        return None
    v = guestfs.GuestFS(close_on_exit=False).version()
    return f"{v['major']}.{v['minor']}.{v['release']}{v['extra']}"


def dev_kvm_state() -> dict[str, Any]:
    state: dict[str, Any] = {"exists": os.path.exists("/dev/kvm"), "problem": dev_kvm_problem()}
    if state["exists"]:
        state["mode"] = oct(os.stat("/dev/kvm").st_mode & 0o777)
    return state


def host_metadata() -> dict[str, Any]:
    """Host CPU, memory, kernel, virtualisation, /dev/kvm, and the stack's versions."""
    return {
        "hostname": platform.node(),
        "cpu_model": cpu_model(),
        "cpu_virt_flags": cpu_virt_flags(),
        "cores": os.cpu_count(),
        "memory_bytes": psutil.virtual_memory().total,
        "memory_available_bytes": psutil.virtual_memory().available,
        "kernel": platform.release(),
        "virtualization": virtualization(),
        "virtual_machine": virtualization("--vm"),
        "dev_kvm": dev_kvm_state(),
        "python": platform.python_version(),
        "versions": {"libguestfs": libguestfs_version(),
                     **{name: _first_line(cmd) for name, cmd in VERSION_COMMANDS.items()}},
    }


def lgbench_provenance() -> dict[str, str | None]:
    """lgbench's version, and its git commit when it runs from a checkout (else None)."""
    from importlib import metadata

    try:
        version = metadata.version("lgbench")
    except metadata.PackageNotFoundError:
        version = None
    source = Path(__file__).resolve().parents[2]
    commit = None
    if (source / ".git").exists() and shutil.which("git"):
        result = subprocess.run(["git", "-C", str(source), "rev-parse", "HEAD"],
                                capture_output=True, text=True)
        commit = result.stdout.strip() or None
    return {"version": version, "commit": commit}


def noise() -> dict[str, Any]:
    """What else loads the host now: load averages, CPU time stolen by the hypervisor so far
    (cumulative, seconds), the CPU frequency governor, and other hypervisor processes (someone
    else's appliances slow yours). Taken before and after each cell."""
    steal = psutil.cpu_times()._asdict().get("steal")
    try:
        governor = Path("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor").read_text()
    except OSError:
        governor = None
    hypervisors = sum(1 for p in psutil.process_iter(["name"])
                      if (p.info["name"] or "").startswith(("qemu", "linux.uml")))
    return {"loadavg": list(os.getloadavg()), "steal_s": steal,
            "cpu_governor": governor.strip() if governor else None,
            "hypervisor_processes": hypervisors}


def on_tmpfs(path: Path) -> bool:
    """Whether path lies on a tmpfs mount (longest matching mount point wins)."""
    best, fstype = "", ""
    for line in Path("/proc/mounts").read_text().splitlines():
        _, mount_point, kind, *_ = line.split()
        if str(path).startswith(mount_point) and len(mount_point) > len(best):
            best, fstype = mount_point, kind
    return fstype == "tmpfs"
