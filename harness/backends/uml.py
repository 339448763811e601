"""User-Mode Linux. libguestfs 1.48 removed its UML backend; until lgbench's own shim lands,
every trial is an `unsupported` row that says so."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.backends.base import Backend, BackendUnavailable


class UmlBackend(Backend):
    def setup(self, cache_dir: Path, probe_timeout_s: float) -> None:
        raise BackendUnavailable(
            "libguestfs 1.48 has no UML backend (removed in 1.48.0: 'invalid backend: uml'); "
            "lgbench's UML shim is not implemented yet")

    def create_handle(self, memsize: int | None, smp: int, tmpdir: Path, verbose: bool) -> Any:
        raise BackendUnavailable("UML is not implemented yet")

    def effective_accel(self, handle: Any, tmpdir: Path) -> str:
        return "uml"
