"""A workload with a planted bug, for the fault tests: lgbench loads it through
`workload._target_=helpers.crashing.CrashingWorkload` with tests/ on PYTHONPATH."""

from __future__ import annotations

from typing import Any

from harness.workloads.launch import LaunchWorkload


class CrashingWorkload(LaunchWorkload):
    def run(self, handle: Any, open_handle: Any) -> list[dict[str, Any]]:
        raise ZeroDivisionError("a bug planted in the workload")
