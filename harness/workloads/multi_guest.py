"""Several guests per appliance, as guestfs-performance(1)'s "launch fewer appliances" suggests.

mode=shared adds the K guests' disks to one appliance (as virt-df does) and inspects and mounts
each guest in turn; mode=separate launches one appliance per guest, one after another. The seed
warns that disks then interact: cloned guests share filesystem UUIDs and volume group names.
Each guest is inspected with LVM filtered to its own disk (guestfs_lvm_set_filter), and a
mountpoint whose device lies on another guest's disk (a UUID that fstab names resolving to a
clone) is counted in `misattributed_mounts` rather than hidden.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.records import STATUS_ERROR
from harness.workloads.base import OpenHandle, Workload, WorkloadError
from harness.workloads.inspect import describe, find_image, image_label, mount_all

MODES = ("shared", "separate")


class MultiGuestWorkload(Workload):
    def __init__(self, name: str, images: list[str], guests: int, mode: str,
                 images_dir: str) -> None:
        super().__init__(name)
        if mode not in MODES:
            raise ValueError(f"workload.mode must be one of {', '.join(MODES)} (got {mode})")
        if guests < 1 or not images:
            raise ValueError(f"workload.guests must be at least 1 and workload.images not empty "
                             f"(got guests={guests}, images={list(images)})")
        self.specs = list(images)
        self.guests, self.mode = guests, mode
        self.images_dir = Path(images_dir)
        self.disks: list[tuple[Path, str]] = []  # (path, format) per guest, set by setup()

    def variant(self) -> str:
        return f"{self.mode}+k{self.guests}+{'+'.join(image_label(s) for s in self.specs)}"

    def setup(self, accel: str) -> None:
        found = [find_image(spec, self.images_dir, accel) for spec in self.specs]
        # Guest i is image i modulo the list: a repeated image is a clone.
        self.disks = [found[i % len(found)] for i in range(self.guests)]

    def clones(self) -> int:
        """Guests whose image already belongs to an earlier guest."""
        return self.guests - len({path.resolve() for path, _ in self.disks})

    def add_drives(self, handle: Any) -> None:
        limit = handle.max_disks()
        if self.guests > limit:
            raise WorkloadError(f"workload.guests={self.guests} is more than this backend's "
                                f"max_disks={limit}")
        for path, fmt in self.disks if self.mode == "shared" else self.disks[:1]:
            handle.add_drive_opts(str(path), readonly=True, format=fmt)

    def run(self, handle: Any, open_handle: OpenHandle) -> list[dict[str, Any]]:
        if self.mode == "shared":
            devices = handle.list_devices()
            outcomes = [inspect_guest(handle, device) for device in devices]
        else:
            outcomes = [inspect_guest(handle, handle.list_devices()[0])]
            handle.shutdown()  # the first appliance ends before the next one starts
            for path, fmt in self.disks[1:]:
                outcomes.append(separate_guest(open_handle(), path, fmt))
        found = [o for o in outcomes if o is not None]
        row: dict[str, Any] = {
            "guests": self.guests, "mode": self.mode, "clones": self.clones(),
            "guests_found": len(found),
            "misattributed_mounts": sum(o["misattributed_mounts"] for o in found),
            "distros": ",".join(sorted({o["distro"] for o in found}))}
        if not found:
            row.update(status=STATUS_ERROR,
                       error=f"no operating system found on any of the {self.guests} disks")
        return [row]


def separate_guest(handle: Any, path: Path, fmt: str) -> dict[str, Any] | None:
    """One more appliance for one guest: launch, inspect, mount, close."""
    try:
        handle.add_drive_opts(str(path), readonly=True, format=fmt)
        handle.launch()
        return inspect_guest(handle, handle.list_devices()[0])
    finally:
        handle.close()


def inspect_guest(handle: Any, device: str) -> dict[str, Any] | None:
    """Inspect and mount the guest on `device` only, then unmount; None if it has no OS."""
    handle.lvm_set_filter([device])
    roots = [r for r in handle.inspect_os() if disk_of(handle, r, device) == device]
    if not roots:
        return None
    results = describe(handle, roots[0])
    mount_all(handle, results["mountpoints"])
    handle.umount_all()
    misattributed = sum(disk_of(handle, dev, device) != device
                        for _, dev in results["mountpoints"])
    return {**results, "misattributed_mounts": misattributed}


def disk_of(handle: Any, filesystem: str, filtered_disk: str) -> str:
    """The whole disk a filesystem lives on; a logical volume is on the one disk LVM sees."""
    if handle.is_lv(filesystem):
        return filtered_disk
    if filesystem in handle.list_devices():
        return filesystem
    return handle.part_to_dev(filesystem)
