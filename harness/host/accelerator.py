"""Is KVM usable here? Cheap checks first, then one bounded real launch; the verdict is cached.

/dev/kvm can exist where KVM cannot run a guest (nested virtualisation without svm/vmx: qemu
aborts, or the guest hangs after SeaBIOS), so only a launched appliance is proof.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.host import processes, trust

PROBE_TIMEOUT_S = 60.0  # bound on the one-off KVM launch probe (it can hang, not fail)


@dataclass(frozen=True)
class KvmVerdict:
    usable: bool
    reason: str
    probed: bool  # a real appliance launch was tried (not only the cheap checks)


def cpu_virt_flags() -> list[str]:
    """The hardware virtualisation flags (vmx, svm) this CPU advertises."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[1].split())
    return sorted(flags & {"vmx", "svm"})


def dev_kvm_problem() -> str | None:
    """Why /dev/kvm cannot be used by this user, or None when it opens read-write."""
    if not os.path.exists("/dev/kvm"):
        return "/dev/kvm does not exist (no kvm module, or not exposed to this machine)"
    try:
        os.close(os.open("/dev/kvm", os.O_RDWR))
    except OSError as exc:
        return f"/dev/kvm cannot be opened read-write by uid {os.getuid()}: {exc.strerror}"
    return None


def host_fingerprint() -> str:
    """What a verdict depends on: host, kernel, CPU, /dev/kvm and the libguestfs/qemu stack."""
    parts = [platform.node(), platform.release(), ",".join(cpu_virt_flags())]
    for path in ("/dev/kvm", "/usr/bin/qemu-system-x86_64"):
        try:
            st = os.stat(path)
            parts.append(f"{path}:{st.st_mode}:{st.st_rdev}:{st.st_mtime_ns}")
        except OSError:
            parts.append(f"{path}:absent")
    try:
        import guestfs

        parts.append(str(guestfs.GuestFS(close_on_exit=False).version()))
    except Exception as exc:  # no bindings: the fingerprint still differs from a host with them
        parts.append(f"guestfs:{exc}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def kvm_verdict(cache_dir: Path, timeout_s: float) -> KvmVerdict:
    """The cached verdict for this host and stack, probing once when there is none."""
    problem = dev_kvm_problem()
    if problem:
        return KvmVerdict(False, problem, probed=False)
    cache_file = trust.secure_folder(cache_dir, private=True) / "kvm-verdicts.json"
    key = host_fingerprint()
    cached = json.loads(trust.read_trusted(cache_file) or "{}")
    if key in cached:
        return KvmVerdict(**cached[key])
    print(f"lgbench: probing KVM with one appliance launch (at most {timeout_s:.0f} s, "
          f"done once per host)", file=sys.stderr, flush=True)
    verdict = probe_launch(cache_dir, timeout_s)
    cached[key] = asdict(verdict)
    trust.atomic_write(cache_file, lambda tmp: Path(tmp).write_text(json.dumps(cached, indent=2)))
    return verdict


def launch_probe(accel: str, cache_dir: Path, timeout_s: float) -> tuple[bool, str]:
    """Launch a /dev/null appliance with `accel` forced, in its own process group, bounded.

    Returns (launched under that accelerator, what happened).
    """
    supermin = trust.secure_folder(cache_dir / "supermin")
    try:
        result = processes.run_in_group(
            # -P: the working folder is not put on sys.path, so nothing there is imported.
            [sys.executable, "-P", "-m", "harness.host.probe", accel, str(supermin)],
            timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return False, f"did not finish launching within {timeout_s:.0f} s"
    lines = result.stdout.strip().splitlines()
    last = lines[-1] if lines else "no output"
    if result.returncode == 0 and last == accel:
        return True, f"launched in {lines[-2]} s"
    return False, f"launch failed: {last}"


def probe_launch(cache_dir: Path, timeout_s: float) -> KvmVerdict:
    """The KVM verdict from one KVM-forced launch."""
    flags = cpu_virt_flags()
    flag_note = f"CPU flags: {' '.join(flags) or 'no vmx/svm'}"
    launched, what = launch_probe("kvm", cache_dir, timeout_s)
    if launched:
        return KvmVerdict(True, f"a KVM appliance {what} ({flag_note})", probed=True)
    hang = "the guest hangs under KVM; " if what.startswith("did not finish") else ""
    return KvmVerdict(False, f"a KVM appliance {what} ({hang}{flag_note})", probed=True)


def accel_of_process(pid: int) -> str:
    """`kvm` if the qemu process holds a KVM VM file descriptor, else `tcg`.

    qemu with accel=kvm:tcg may open /dev/kvm and still fall back to TCG; a `kvm-vm` anon inode
    exists only when a KVM virtual machine was really created.
    """
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            if os.readlink(os.path.join(fd_dir, fd)) == "anon_inode:kvm-vm":
                return "kvm"
        except OSError:
            continue
    return "tcg"
