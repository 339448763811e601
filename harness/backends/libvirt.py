"""libguestfs's libvirt backend: libvirtd starts qemu; the harness makes sure the daemons run."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from harness.backends.base import BackendUnavailable
from harness.backends.direct import DirectBackend
from harness.host import libvirtd, processes
from harness.host.accelerator import accel_of_process

log = logging.getLogger(__name__)


class LibvirtBackend(DirectBackend):
    """Same accelerator logic as direct; qemu is a child of libvirtd, found by its tmpdir.

    `max_clients` / `max_workers` run the cell under chosen libvirtd limits (2013's default
    was 20 clients); the daemon's own limits are put back after the cell, even on failure.
    """

    libguestfs_backend = "libvirt"

    def __init__(self, name: str, accel: str = "auto", max_clients: int | None = None,
                 max_workers: int | None = None) -> None:
        super().__init__(name, accel)
        self.max_clients, self.max_workers = max_clients, max_workers
        self.started_daemons: list[str] = []
        self.limits: dict[str, Any] = {}
        self.original_limits: dict[str, Any] | None = None
        self.qemu_user: str | None = None

    def setup(self, cache_dir: Path, probe_timeout_s: float) -> None:
        try:
            self.started_daemons = libvirtd.ensure_daemons()
            if self.max_clients is not None or self.max_workers is not None:
                self.original_limits = libvirtd.client_limits()
                unauth = self.original_limits["nclients_unauth_max"]
                libvirtd.set_limits(
                    max_clients=self.max_clients,
                    # libvirtd refuses max_clients below max_unauth_clients
                    max_unauth_clients=(self.max_clients if self.max_clients is not None
                                        and self.max_clients < unauth else None),
                    max_workers=self.max_workers)
            self.limits = libvirtd.client_limits()
            self.qemu_user = libvirtd.grant_qemu_traverse(cache_dir)
        except libvirtd.LibvirtdError as exc:
            raise BackendUnavailable(str(exc)) from exc
        super().setup(cache_dir, probe_timeout_s)

    def teardown(self) -> None:
        if self.original_limits is None:
            return
        original = self.original_limits
        libvirtd.set_limits(max_clients=original["nclients_max"],
                   max_unauth_clients=original["nclients_unauth_max"],
                   max_workers=original["maxWorkers"])
        self.original_limits = None
        log.info("libvirtd limits restored: max_clients %s, max_workers %s",
                 original["nclients_max"], original["maxWorkers"])

    def metadata(self) -> dict[str, Any]:
        return {**super().metadata(), "daemons_started_by_harness": self.started_daemons,
                "libvirtd_limits": self.limits, "qemu_user_granted_cache_traverse": self.qemu_user}

    def effective_accel(self, handle: Any, tmpdir: Path) -> str:
        qemus = [p for p in processes.referencing(str(tmpdir)) if "qemu" in p.name()]
        if len(qemus) != 1:
            raise RuntimeError(f"expected one qemu process using {tmpdir}, found {len(qemus)}")
        return accel_of_process(qemus[0].pid)
