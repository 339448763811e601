"""The Backend base class: what every driver does, in lifecycle order.

setup (once per cell, untimed; raises BackendUnavailable to skip) -> create_handle (per
instance) -> launch (by the runner, timed) -> effective_accel, appliance_pid (untimed) ->
cleanup (after every repetition) -> teardown (once per cell, even on failure).
The runner owns timing; drivers never time anything.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

from harness.host import processes


class BackendUnavailable(Exception):
    """This backend cannot run here; the message says why (rows become `unsupported`)."""


class Backend(ABC):
    """A way of running the libguestfs appliance (a libguestfs backend plus an accelerator)."""

    # Whether runs record lgbench-doctor's host facts (they launch appliances once per host).
    records_host_facts: ClassVar[bool] = True
    # A libguestfs debug line saying the handle's connection to a daemon was accepted: timeline
    # trials record when it came (column connected_s); None: no daemon in between.
    connected_message: ClassVar[str | None] = None
    # Whether libguestfs-test-tool can be run with this backend's handle settings when a
    # launch fails (the guide's first diagnostic); not for stand-ins or lgbench's own shims.
    test_tool_applies: ClassVar[bool] = False

    def __init__(self, name: str, accel: str = "auto") -> None:
        self.name = name
        self.accel_requested = accel
        # The accelerator trials must run with; `auto` is resolved by setup().
        self.accel = accel

    def setup(self, cache_dir: Path, probe_timeout_s: float) -> None:
        """Prepare the host once per cell (daemons, accelerator verdict).

        Raises BackendUnavailable with the reason when trials cannot run here. By default
        there is nothing to prepare.
        """
        return

    def teardown(self) -> None:
        """Undo what setup changed on the host (called after the cell, even on failure)."""
        return

    def metadata(self) -> dict[str, Any]:
        """Facts about this backend on this host, for metadata.json."""
        return {"name": self.name, "accel_requested": self.accel_requested, "accel": self.accel}

    @abstractmethod
    def create_handle(self, memsize: int | None, smp: int, tmpdir: Path, verbose: bool) -> Any:
        """A configured, not yet launched guestfs handle whose temporary files go in tmpdir."""

    @abstractmethod
    def effective_accel(self, handle: Any, tmpdir: Path) -> str:
        """The accelerator the launched appliance really runs on, read from the running process."""

    def row_fields(self) -> dict[str, Any]:
        """Settings of this backend every row of the cell carries (set by setup)."""
        return {}

    def effective_smp(self, smp: int) -> int:
        """The vCPUs an appliance asked for `smp` really gets."""
        return smp

    def appliance_pid(self, handle: Any, tmpdir: Path) -> int:
        """The launched appliance's hypervisor process (qemu, linux.uml)."""
        return handle.get_pid()

    def cleanup(self, tmpdir: Path) -> list[int]:
        """End every process still tied to a repetition's tmpdir; return their pids.

        The direct backend's qemu is also killed with its worker's process group; this catches
        what lives elsewhere (libvirt's qemu is a child of libvirtd).
        """
        return processes.kill_referencing(str(tmpdir))


def handle_environment(handle: Any) -> dict[str, str]:
    """A configured handle's settings as the LIBGUESTFS_* environment that guestfish and
    libguestfs-test-tool read (guestfs(3) ENVIRONMENT VARIABLES), on top of this process's."""
    env = {**os.environ, "LIBGUESTFS_BACKEND": handle.get_backend(),
           "LIBGUESTFS_BACKEND_SETTINGS": ":".join(handle.get_backend_settings()),
           "LIBGUESTFS_MEMSIZE": str(handle.get_memsize()),
           "LIBGUESTFS_TMPDIR": handle.get_tmpdir(), "LIBGUESTFS_CACHEDIR": handle.get_cachedir(),
           "LIBGUESTFS_PATH": handle.get_path(), "LIBGUESTFS_HV": handle.get_hv()}
    if handle.get_append():
        env["LIBGUESTFS_APPEND"] = handle.get_append()
    return env
