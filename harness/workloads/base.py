"""The Workload base class. Workloads say what to do; the runner times it."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

# The runner's stopwatch: `with phase("inspect_s"):` times a block into that column.
Phase = Callable[[str], AbstractContextManager[None]]


class Workload:
    """Default: nothing to add and nothing to do after launch."""

    def __init__(self, name: str) -> None:
        self.name = name

    def add_drives(self, handle: Any) -> None:
        """Add the disks before launch (inside the timed launch)."""

    def run(self, handle: Any, phase: Phase) -> dict[str, Any]:
        """Work on the launched appliance, timing steps with `phase`; return extra columns."""
        return {}
