"""A new sparse raw disk attached read-write to a launched appliance, and its partitions:
what every recipe writes its guest through; and the hashing and folders recipes share."""

from __future__ import annotations

import errno
import hashlib
import json
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harness.host import trust
from harness.host.accelerator import PROBE_TIMEOUT_S, kvm_verdict
from harness.host.handles import guestfs_handle

MiB = 2**20

Log = Callable[[str], None]  # a recipe's progress lines


def resolve_accel(accel: str) -> str:
    """kvm or tcg as asked; `auto`: KVM only where the harness's verdict says it runs."""
    if accel != "auto":
        return accel
    return "kvm" if kvm_verdict(trust.default_cache_dir(), PROBE_TIMEOUT_S).usable else "tcg"


@contextmanager
def attached_disk(disk: Path, size: int, accel: str, progress: Log) -> Iterator[Any]:
    """A new sparse raw disk of `size` bytes attached read-write to a launched appliance.

    Leaving the block cleanly shuts the appliance down, so a write error fails the build; the
    handle (and its qemu) is closed whatever happens. Refused (ENOSPC) up front when the
    folder has less free space than the disk may grow to.
    """
    free = shutil.disk_usage(disk.parent).free
    if free < size:  # qemu would pause the guest on ENOSPC, and the build hang, not fail
        raise OSError(errno.ENOSPC, f"{disk.parent} has {free // MiB} MiB free; the image "
                      f"can grow to {size // MiB} MiB")
    chosen = resolve_accel(accel)
    g = guestfs_handle(None, 1, None, False, backend="direct", settings=[f"force_{chosen}"])
    try:
        g.disk_create(str(disk), "raw", size, preallocation="sparse")
        g.add_drive_opts(str(disk), format="raw", readonly=False)
        progress(f"launching an appliance ({chosen})")
        g.launch()
        yield g
        g.shutdown()
    finally:
        g.close()


def partition(g: Any, sizes_mib: list[int]) -> list[str]:
    """MBR partitions of these sizes (the last one takes the rest of the disk)."""
    device = g.list_devices()[0]
    g.part_init(device, "mbr")
    start = 2048
    for index, size in enumerate(sizes_mib):
        end = -1 if index == len(sizes_mib) - 1 else start + size * MiB // 512 - 1
        g.part_add(device, "p", start, end)
        start = end + 1
    return g.list_partitions()


def digest(data: Any) -> str:
    """12 hex digits of a stable hash of `data` (a recipe's inputs, debootstrap's source)."""
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]


def sources_dir(name: str, images_dir: Path) -> Path:
    """Build inputs worth keeping between builds (the debootstrap tarball)."""
    return Path(images_dir) / "sources" / name
