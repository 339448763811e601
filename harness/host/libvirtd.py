"""libvirtd on this host: its daemons started when absent, its client limits read and set,
and the one right its qemu user needs on lgbench's private cache."""

from __future__ import annotations

import json
import logging
import os
import pwd
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from harness.host import processes, trust


class LibvirtdError(Exception):
    """libvirtd cannot serve lgbench here; the message says why."""


log = logging.getLogger(__name__)
LIBVIRT_SOCKET = "/var/run/libvirt/libvirt-sock"
QEMU_CONF = "/etc/libvirt/qemu.conf"
LIMITS_TO_RESTORE = "libvirtd-limits-to-restore.json"  # in the cache while a cell changed them
DAEMONS = ("virtlogd", "libvirtd")


def daemon_running(name: str) -> bool:
    return any(p.info["name"] == name for p in processes.psutil.process_iter(["name"]))


def ensure_daemons(wait_s: float = 20.0) -> list[str]:
    """Start virtlogd and libvirtd when they are not running; return the ones started."""
    started = []
    for name in DAEMONS:
        if daemon_running(name):
            continue
        if shutil.which(name) is None:
            raise LibvirtdError(f"{name} is not installed (apt-get install "
                                     f"libvirt-daemon-system)")
        result = subprocess.run([name, "-d"], capture_output=True, text=True)
        if result.returncode != 0:
            raise LibvirtdError(f"could not start {name}: {result.stderr.strip()}")
        started.append(name)
    deadline = time.monotonic() + wait_s
    while not os.path.exists(LIBVIRT_SOCKET):
        if time.monotonic() > deadline:
            raise LibvirtdError(f"libvirtd started but {LIBVIRT_SOCKET} did not appear "
                                     f"within {wait_s:.0f} s")
        time.sleep(0.2)
    return started


def qemu_user() -> str:
    """The user libvirtd runs qemu as (qemu.conf's `user`, else the packaged default)."""
    try:
        text = Path(QEMU_CONF).read_text()
    except OSError:
        text = ""
    configured = re.findall(r'^\s*user\s*=\s*"([^"]+)"', text, re.MULTILINE)
    if configured:
        return configured[-1].lstrip("+")
    try:
        return pwd.getpwnam("libvirt-qemu").pw_name  # Debian's build default
    except KeyError:
        return "qemu"


def grant_qemu_traverse(folder: Path) -> str:
    """Let libvirt's qemu user pass through `folder` (an ACL entry u:USER:x), so it reaches
    the appliance and images below by name without reading or changing anything else of
    the cache; returns the user. Nothing to grant where qemu runs as root."""
    user = qemu_user()
    if user in ("root", "0"):
        return user
    if shutil.which("setfacl") is None:
        raise LibvirtdError(f"backend=libvirt needs setfacl (apt-get install acl) to let "
                                 f"{user} reach the appliance in {folder}")
    result = subprocess.run(["setfacl", "-m", f"u:{user}:x", str(folder)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise LibvirtdError(f"could not let {user} traverse {folder} for libvirt's qemu "
                                 f"(setfacl: {result.stderr.strip()}); put the cache on a "
                                 f"filesystem with POSIX ACLs")
    return user


def client_limits() -> dict[str, Any]:
    """The running libvirtd's client and worker limits (virt-admin), as recorded facts."""
    limits: dict[str, Any] = {}
    for command in ("srv-clients-info", "srv-threadpool-info"):
        result = subprocess.run(["virt-admin", command, "libvirtd"], capture_output=True,
                                text=True)
        if result.returncode != 0:
            limits[command] = f"unavailable: {result.stderr.strip()}"
            continue
        for line in result.stdout.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                limits[key.strip()] = int(value) if value.strip().isdigit() else value.strip()
    return limits


def set_limits(max_clients: int | None = None, max_unauth_clients: int | None = None,
               max_workers: int | None = None) -> None:
    """Change the running libvirtd's limits (virt-admin; the config files stay untouched)."""
    commands = []
    if max_clients is not None or max_unauth_clients is not None:
        command = ["virt-admin", "srv-clients-set", "libvirtd"]
        if max_unauth_clients is not None:
            command += ["--max-unauth-clients", str(max_unauth_clients)]
        if max_clients is not None:
            command += ["--max-clients", str(max_clients)]
        commands.append(command)
    if max_workers is not None:
        commands.append(["virt-admin", "srv-threadpool-set", "libvirtd",
                         "--max-workers", str(max_workers)])
    for command in commands:
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise LibvirtdError(f"{' '.join(command)} failed: {result.stderr.strip()}")


def require_virt_admin() -> None:
    """libvirtd's limits are read and set through virt-admin."""
    if shutil.which("virt-admin") is None:
        raise LibvirtdError("virt-admin is missing (apt-get install libvirt-clients): "
                            "lgbench cannot set libvirtd's limits, so it measures nothing")


def impose_limits(state_dir: Path, max_clients: int | None, max_workers: int | None) -> None:
    """Run libvirtd under these limits until restore_limits. The daemon's own limits are
    written to `state_dir` first, so that a later lgbench restores them even if this one is
    killed before it can."""
    require_virt_admin()
    restore_limits(state_dir)
    own = client_limits()
    try:
        saved = {"max_clients": own["nclients_max"],
                 "max_unauth_clients": own["nclients_unauth_max"],
                 "max_workers": own["maxWorkers"]}
    except KeyError as exc:
        raise LibvirtdError(f"cannot read libvirtd's limits with virt-admin: {own}") from exc
    trust.atomic_write(state_dir / LIMITS_TO_RESTORE,
                       lambda tmp: Path(tmp).write_text(json.dumps(saved)))
    # libvirtd refuses max_clients below max_unauth_clients: lower that one with it.
    unauth = (max_clients if max_clients is not None and max_clients < saved["max_unauth_clients"]
              else None)
    set_limits(max_clients=max_clients, max_unauth_clients=unauth, max_workers=max_workers)
    log.info("libvirtd limits for this cell: max_clients %s, max_workers %s (its own: %s)",
             max_clients, max_workers, saved)


def restore_limits(state_dir: Path) -> dict[str, int] | None:
    """Put back the limits impose_limits saved in `state_dir`, if any; return them."""
    path = state_dir / LIMITS_TO_RESTORE
    text = trust.read_trusted(path)
    if text is None:
        return None
    saved = json.loads(text)
    set_limits(**saved)
    trust.remove(path)
    log.info("libvirtd limits restored: %s", saved)
    return saved
