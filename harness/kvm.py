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

from harness import processes


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
    cache_file = cache_dir / "kvm-verdicts.json"
    key = host_fingerprint()
    cached = json.loads(cache_file.read_text()) if cache_file.exists() else {}
    if key in cached:
        return KvmVerdict(**cached[key])
    print(f"lgbench: probing KVM with one appliance launch (at most {timeout_s:.0f} s, "
          f"done once per host)", file=sys.stderr, flush=True)
    verdict = probe_launch(cache_dir, timeout_s)
    cached[key] = asdict(verdict)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(cached, indent=2))
    os.replace(tmp, cache_file)
    return verdict


def probe_launch(cache_dir: Path, timeout_s: float) -> KvmVerdict:
    """Launch a /dev/null appliance with KVM forced, in its own process group, within timeout_s."""
    flags = cpu_virt_flags()
    flag_note = f"CPU flags: {' '.join(flags) or 'no vmx/svm'}"
    try:
        result = processes.run_in_group(
            [sys.executable, "-m", "harness.kvm", str(cache_dir / "supermin")], timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return KvmVerdict(False, f"a KVM appliance did not finish launching within "
                                 f"{timeout_s:.0f} s: the guest hangs under KVM ({flag_note})",
                          probed=True)
    out = result.stdout
    last = out.strip().splitlines()[-1] if out.strip() else ""
    if result.returncode == 0 and last == "kvm":
        return KvmVerdict(True, f"a KVM appliance launched ({flag_note})", probed=True)
    return KvmVerdict(False, f"KVM appliance launch failed: {last or 'no output'} ({flag_note})",
                      probed=True)


def _probe_main(cachedir: str) -> int:
    """Child side of probe_launch: print `kvm`, `tcg` or the error as the last line."""
    import guestfs

    from harness.backends.base import accel_of_process
    from harness.console import ConsoleTail

    os.makedirs(cachedir, exist_ok=True)
    g = guestfs.GuestFS(python_return_dict=True, close_on_exit=False)
    tail = ConsoleTail(g)
    g.set_cachedir(cachedir)
    g.set_backend("direct")
    g.set_backend_settings(["force_kvm"])
    g.add_drive_ro("/dev/null")
    try:
        g.launch()
        print(accel_of_process(g.get_pid()))
    except RuntimeError as exc:
        print(tail.explain(exc))
        return 1
    finally:
        g.close()
    return 0


if __name__ == "__main__":
    sys.exit(_probe_main(sys.argv[1]))
