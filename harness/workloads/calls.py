"""Many small calls on one launched appliance: what a libguestfs call costs once launched.

A call is a round trip to the appliance's daemon over its channel: virtio-serial under qemu,
a serial line under UML (through lgbench's relay, or the socket itself with
backend.relay=direct). `ping_daemon` does no work in the guest, so its time is the channel's
and the library's. Rows: `calls`, `calls_s` (all of them) and `call_s` (the median call).
"""

from __future__ import annotations

import statistics
from typing import Any

from harness.workloads.base import OpenHandle, Timer, Workload


class CallsWorkload(Workload):
    timed_columns = ("calls_s", "call_s")

    def __init__(self, name: str, count: int) -> None:
        super().__init__(name)
        if count < 1:
            raise ValueError(f"workload.count must be at least 1 (got {count})")
        self.count = count

    def variant(self) -> str:
        return f"m{self.count}"

    def add_drives(self, handle: Any) -> None:
        handle.add_drive_ro("/dev/null")

    def run(self, handle: Any, open_handle: OpenHandle) -> list[dict[str, Any]]:
        times = []
        with Timer() as all_calls:
            for _ in range(self.count):
                with Timer() as call:
                    handle.ping_daemon()
                times.append(call.seconds)
        return [{"calls": self.count, "calls_s": all_calls.seconds,
                 "call_s": statistics.median(times)}]
