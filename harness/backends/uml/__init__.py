"""User-Mode Linux appliances on libguestfs >= 1.48, which removed its UML backend.

The direct backend runs `shim.py` as its hypervisor (`set_hv`): feature probes go to the real
qemu, the launch becomes a `linux.uml` command line (UBD disks, COW overlays, the appliance root,
the console on fd 0/1, the daemon channel on ttyS0 through a relay). A small LD_PRELOAD
library (uml_preload.c, built once per host into the cache) keeps UML in the worker's process
group, lets UML 6.1 run guest processes on hosts with a large XSAVE area (AVX-512, AMX), and
re-arms the channel's read interrupt that UML loses when the guest tty throttles (without it,
any upload stalls the handle).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from harness.backends.base import Backend, BackendUnavailable
from harness.backends.uml.shim import DIRECT_CHANNEL
from harness.host import trust
from harness.host.accelerator import accel_of_process
from harness.host.handles import guestfs_handle

HERE = Path(__file__).resolve().parent
SHIM = HERE / "shim.py"
PRELOAD_SOURCE = HERE / "uml_preload.c"
UBD_DEVICES = 16  # arch/um/drivers/ubd_kern.c MAX_DEV (ubd16= is "Device number out of range")


def noexec_mount(path: str) -> bool:
    """Whether path lies on a filesystem mounted noexec."""
    return bool(os.statvfs(path).f_flag & os.ST_NOEXEC)


def build_preload(cache_dir: Path) -> Path:
    """Compile uml_preload.c once per source version into cache_dir/uml/.

    linux.uml runs as root with this library loaded, so a cached copy is used only when it is
    the user's, nobody else can write it, and its SHA-256 is the one recorded when it was
    built (beside it, as trusted as it); anything else is built again.
    """
    source = PRELOAD_SOURCE.read_bytes()
    folder = trust.secure_folder(cache_dir, private=True) / "uml"
    target = trust.secure_folder(folder) / f"uml-preload-{_sha256(source)[:12]}.so"
    recorded = target.with_name(target.name + ".sha256")
    built = trust.read_trusted(target)
    if built is not None and trust.read_trusted(recorded) == _sha256(built).encode():
        return target
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise BackendUnavailable("backend=uml needs a C compiler (apt-get install gcc) to build "
                                 "its small linux.uml preload library")

    def compile_to(path: str) -> None:
        result = subprocess.run([compiler, "-shared", "-fPIC", "-O2", "-o", path,
                                 str(PRELOAD_SOURCE), "-ldl"], capture_output=True, text=True)
        if result.returncode != 0:
            raise BackendUnavailable(f"building the linux.uml preload library failed: "
                                     f"{result.stderr.strip()}")

    trust.atomic_write(target, compile_to, mode=0o755)
    digest = _sha256(target.read_bytes()).encode()
    trust.atomic_write(recorded, lambda path: Path(path).write_bytes(digest))
    return target


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class UmlBackend(Backend):
    """The appliance under linux.uml, driven by libguestfs's direct backend through the shim."""

    def __init__(self, name: str, accel: str = "uml", linux: str = "linux.uml",
                 relay: str = "") -> None:
        super().__init__(name, accel)
        self.linux = linux
        self.relay = relay
        self.linux_path: str | None = None
        self.preload: Path | None = None
        # Disks a workload may add: UBD has 16 devices and the appliance root takes one.
        self.max_disks = UBD_DEVICES - 1

    def setup(self, cache_dir: Path, probe_timeout_s: float) -> None:
        self.linux_path = shutil.which(self.linux)
        if self.linux_path is None:
            raise BackendUnavailable(f"{self.linux} not found: backend=uml needs User-Mode "
                                     f"Linux (apt-get install user-mode-linux)")
        # UML maps its RAM from a file it creates in /dev/shm (or TMPDIR) with PROT_EXEC.
        if os.path.isdir("/dev/shm") and noexec_mount("/dev/shm"):
            raise BackendUnavailable("/dev/shm is mounted noexec: UML maps its memory from "
                                     "there with PROT_EXEC (remount with exec)")
        self.preload = build_preload(cache_dir)

    def metadata(self) -> dict[str, Any]:
        return {**super().metadata(), "libguestfs_backend": "direct", "hv": str(SHIM),
                "linux": self.linux_path, "ubd_devices": UBD_DEVICES,
                "max_disks": self.max_disks, "relay": self.relay or "defaults",
                "preload": str(self.preload) if self.preload else None}

    def effective_smp(self, smp: int) -> int:
        """UML is uniprocessor: the shim drops qemu's -smp."""
        return 1

    def row_fields(self) -> dict[str, Any]:
        """Whether the daemon channel ran through lgbench's relay or straight on the socket
        (relay=direct, as libguestfs's UML backend did): the relay's cost is measured so."""
        return {"uml_channel": "direct" if self.relay == DIRECT_CHANNEL else "relay"}

    def hypervisor(self, tmpdir: Path) -> Path:
        """The shim, or (installed without its exec bit) a wrapper in tmpdir that runs it."""
        if os.access(SHIM, os.X_OK):
            return SHIM
        wrapper = tmpdir / "lgbench-uml-hv"
        trust.write_text(wrapper, f'#!/bin/sh\nexec python3 "{SHIM}" "$@"\n', mode=0o755)
        return wrapper

    def create_handle(self, memsize: int | None, smp: int, tmpdir: Path, verbose: bool) -> Any:
        if self.preload is None:
            raise BackendUnavailable("UmlBackend.setup() was not run")
        g = guestfs_handle(memsize, smp, tmpdir, verbose, backend="direct", settings=[])
        g.set_hv(str(self.hypervisor(tmpdir)))
        # Extra "qemu" options only the shim knows (it strips them).
        g.config("-lgbench-workdir", str(tmpdir))
        g.config("-lgbench-linux", self.linux_path or self.linux)
        g.config("-lgbench-preload", str(self.preload))
        if self.relay:
            g.config("-lgbench-relay", self.relay)
        return g

    def effective_accel(self, handle: Any, tmpdir: Path) -> str:
        pid = self.appliance_pid(handle, tmpdir)
        try:
            exe = os.path.basename(os.readlink(f"/proc/{pid}/exe"))
        except OSError as exc:
            return f"unknown ({exc.strerror})"
        if exe.startswith("linux"):
            return "uml"
        if exe.startswith("qemu"):
            return accel_of_process(pid)
        return exe
