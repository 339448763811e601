"""libguestfs's libvirt backend: libvirtd starts qemu; the harness makes sure the daemons run."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

from harness.backends.base import BackendUnavailable
from harness.backends.direct import DirectBackend
from harness.host import libvirtd, processes

log = logging.getLogger(__name__)


class LibvirtBackend(DirectBackend):
    """Same accelerator logic as direct; qemu is a child of libvirtd, found by its tmpdir.

    `max_clients` / `max_workers` run the cell under chosen libvirtd limits (2013's default
    was 20 clients); the daemon's own limits are put back after the cell, even on failure,
    and by the next cell if lgbench was killed first.
    """

    libguestfs_backend = "libvirt"
    # libguestfs's debug line once libvirtd has accepted the handle's connection
    connected_message = "successfully opened libvirt handle"

    def __init__(self, name: str, accel: str = "auto", max_clients: int | None = None,
                 max_workers: int | None = None) -> None:
        super().__init__(name, accel)
        self.max_clients, self.max_workers = max_clients, max_workers
        self.started_daemons: list[str] = []
        self.limits: dict[str, Any] = {}
        self.state_dir: Path | None = None
        self.qemu_user: str | None = None

    def setup(self, cache_dir: Path, probe_timeout_s: float) -> None:
        limited = self.max_clients is not None or self.max_workers is not None
        try:
            if limited:
                libvirtd.require_virt_admin()  # before touching the daemons
            self.started_daemons = libvirtd.ensure_daemons()
            if limited:
                self.state_dir = cache_dir
                libvirtd.impose_limits(cache_dir, self.max_clients, self.max_workers)
            elif shutil.which("virt-admin"):
                libvirtd.restore_limits(cache_dir)  # left changed by a killed lgbench
            self.limits = libvirtd.client_limits()
            self.qemu_user = libvirtd.grant_qemu_traverse(cache_dir)
        except libvirtd.LibvirtdError as exc:
            raise BackendUnavailable(str(exc)) from exc
        super().setup(cache_dir, probe_timeout_s)

    def teardown(self) -> None:
        if self.state_dir is not None:
            try:
                libvirtd.restore_limits(self.state_dir)
            except libvirtd.LibvirtdError as exc:  # e.g. libvirtd killed during the cell
                log.warning("libvirtd's limits not restored (%s); the saved ones stay for the "
                            "next libvirt cell", str(exc).splitlines()[0])
            self.state_dir = None

    def metadata(self) -> dict[str, Any]:
        return {**super().metadata(), "daemons_started_by_harness": self.started_daemons,
                "libvirtd_limits": self.limits, "qemu_user_granted_cache_traverse": self.qemu_user}

    def row_fields(self) -> dict[str, Any]:
        """A cell run under its own max_clients says which limit was in force."""
        if self.max_clients is None:
            return {}
        return {"libvirt_max_clients": self.limits.get("nclients_max", self.max_clients)}

    def appliance_pid(self, handle: Any, tmpdir: Path) -> int:
        """libvirtd's qemu for this instance: the one naming the instance's own folder."""
        qemus = [p for p in processes.referencing(str(tmpdir)) if "qemu" in p.name()]
        if len(qemus) != 1:
            raise RuntimeError(f"expected one qemu process using {tmpdir}, found {len(qemus)}")
        return qemus[0].pid
