"""A stand-in backend for fast tests of the runner, stats and plots: no appliance.

Its handle starts a `sleep` child as the "hypervisor", so process clean-up is tested for real.
Its launch can plant what real hosts do: times spread around launch_s, two modes (a share of
launches slower by a factor, the shape of TCG launch times here), a run's own level (one run of
a host is a few percent off another), and a host that slows down while the process runs (so
comparisons and the gate are tested end to end through lgbench).
"""

from __future__ import annotations

import hashlib
import math
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from harness.backends.base import Backend
from harness.host import trust

STARTED = time.monotonic()  # the "host" drifts from when this process began


class FakeHandle:
    """The few guestfs handle methods the workloads call."""

    def __init__(self, launch_s: float, fail: bool, hang: bool, corrupt: bool,
                 tmpdir: Path) -> None:
        self.launch_s, self.fail, self.hang, self.tmpdir = launch_s, fail, hang, tmpdir
        self.corrupt = corrupt
        self.child: subprocess.Popen | None = None
        self.drives: list[str] = []
        self.files: dict[str, bytes] = {}  # the "guest filesystem"

    def add_drive_ro(self, path: str) -> None:
        self.drives.append(path)

    def add_drive_scratch(self, size: int) -> None:
        self.drives.append(f"scratch:{size}")

    def list_devices(self) -> list[str]:
        return [f"/dev/sd{chr(ord('a') + i)}" for i in range(len(self.drives))]

    def mkfs(self, fstype: str, device: str) -> None:
        self.files.clear()

    def mount(self, device: str, mountpoint: str) -> None:
        """Nothing to mount: files live in a dict."""

    def get_tmpdir(self) -> str:
        return str(self.tmpdir)

    def upload(self, filename: str, remote: str) -> None:
        self.files[remote] = Path(filename).read_bytes()

    def download(self, remote: str, filename: str) -> None:
        data = self.files[remote]
        if self.corrupt:  # one flipped bit, as a faulty channel would
            data = bytes([data[0] ^ 1]) + data[1:]
        trust.write_bytes(Path(filename), data)

    def checksum(self, csumtype: str, path: str) -> str:
        return hashlib.new(csumtype, self.files[path]).hexdigest()

    def rm(self, path: str) -> None:
        del self.files[path]

    def ping_daemon(self) -> None:
        """A round trip to no daemon: instant."""

    def set_event_callback(self, callback: Any, events: int) -> None:
        """Fake appliances print nothing."""

    def set_cachedir(self, path: str) -> None:
        self.cachedir = path

    def set_path(self, path: str) -> None:
        self.path = path

    def set_trace(self, trace: bool) -> None:
        """Fake appliances trace nothing."""

    def set_append(self, append: str) -> None:
        self.append = append

    def launch(self) -> None:
        # The tmpdir in argv lets the runner's clean-up find this process, like qemu's.
        self.child = subprocess.Popen(
            [sys.executable, "-P", "-c", "import time; time.sleep(3600)", str(self.tmpdir)])
        if self.fail:
            raise RuntimeError("fake launch failed")
        time.sleep(3600 if self.hang else self.launch_s)

    def get_pid(self) -> int:
        assert self.child is not None
        return self.child.pid

    def close(self) -> None:
        if self.child is not None:
            self.child.kill()
            self.child.wait()


class FakeBackend(Backend):
    records_host_facts = False  # no hypervisor is involved; host probes would only slow tests

    def __init__(self, name: str = "fake", accel: str = "tcg", launch_s: float = 0.05,
                 fail: bool = False, hang: bool = False, corrupt: bool = False,
                 spread: float = 0.0, slow_share: float = 0.0, slow_factor: float = 1.0,
                 drift_per_min: float = 0.0, level: float = 1.0) -> None:
        super().__init__(name, accel)
        self.launch_s, self.fail, self.hang, self.corrupt = launch_s, fail, hang, corrupt
        self.spread, self.drift_per_min, self.level = spread, drift_per_min, level
        self.slow_share, self.slow_factor = slow_share, slow_factor

    def planted_launch_s(self) -> float:
        """launch_s at this run's level, spread (log-normal, sd `spread`), `slow_factor` times
        longer for a `slow_share` of launches, and slowed by `drift_per_min` for every minute
        since this process began."""
        minutes = (time.monotonic() - STARTED) / 60
        mode = self.slow_factor if random.random() < self.slow_share else 1.0
        return (self.launch_s * self.level * mode * math.exp(random.gauss(0.0, self.spread))
                * (1 + self.drift_per_min * minutes))

    def create_handle(self, memsize: int | None, smp: int, tmpdir: Path, verbose: bool) -> Any:
        return FakeHandle(self.planted_launch_s(), self.fail, self.hang, self.corrupt, tmpdir)

    def effective_accel(self, handle: Any, tmpdir: Path) -> str:
        return self.accel
