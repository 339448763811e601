"""guestfs-performance(1) BASELINE: `guestfish -a /dev/null run` (launch, then close)."""

from __future__ import annotations

from typing import Any

from harness.workloads.base import Workload


class LaunchWorkload(Workload):
    def add_drives(self, handle: Any) -> None:
        handle.add_drive_ro("/dev/null")
