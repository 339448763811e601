"""The Workload base class: what is done inside one appliance.

A workload adds its drives before launch and then returns measurements: one dict per row
(a transfer workload gives one row per size). It times its own steps with Timer, the one
clock of the harness; launch and close are timed by the runner.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

# Gives another handle configured like the runner's (backend, memory, appliance), not launched.
OpenHandle = Callable[[], Any]


class WorkloadError(Exception):
    """The workload cannot run with this input (e.g. a missing image); rows become `error`."""


class Timer:
    """`with Timer() as t: ...` then `t.seconds`, and `t.start`/`t.end` on perf_counter, the
    runner's clock (system-wide monotonic on Linux, so instances' blocks can be lined up)."""

    def __enter__(self) -> Timer:
        self.seconds = self.end = float("nan")
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.end = time.perf_counter()
        self.seconds = self.end - self.start


class Workload:
    """Default: nothing to add, nothing to do after launch, one row."""

    # The durations (seconds) this workload's rows carry beyond the runner's launch_s,
    # total_s and makespan_s; results.records.TIMED_COLUMNS must hold them all (tested).
    timed_columns: ClassVar[tuple[str, ...]] = ()

    # True when run() launches every appliance itself (e.g. through guestfish processes):
    # the runner then hands it a configured, unlaunched handle, and its first row names the
    # accelerator those appliances ran under (`accel_effective`).
    launches_own_appliances = False

    def __init__(self, name: str) -> None:
        self.name = name

    def variant(self) -> str:
        """What tells this workload's cells apart beyond its name (e.g. the image), or ''."""
        return ""

    def setup(self, accel: str) -> None:
        """Once per cell, untimed (e.g. find or build the guest image on the cell's
        accelerator `accel`); raise WorkloadError when the workload cannot run."""

    def problems(self, scratch_dir: str, instances: int) -> list[str]:
        """Why this workload cannot run here (e.g. too little free space), checked up front."""
        return []

    def prepare(self, host_dir: Path) -> None:
        """Host-side set-up (e.g. payload files) before the instance is released: untimed."""

    def add_drives(self, handle: Any) -> None:
        """Add the disks before launch (inside the timed launch)."""

    def run(self, handle: Any, open_handle: OpenHandle) -> list[dict[str, Any]]:
        """Work on the launched appliance; one dict of extra columns per row.

        `open_handle` is for workloads that launch more appliances in the same trial.

        A dict may carry `status` and `error` (e.g. a checksum mismatch is an `error` row).
        """
        return [{}]
