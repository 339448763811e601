"""Several guests per appliance, as guestfs-performance(1)'s "launch fewer appliances" suggests.

mode=shared adds the K guests' disks to one appliance (as virt-df does), inspects them all at
once and mounts each guest in turn; mode=separate launches one appliance per guest, one after
another. The guide warns that disks then interact: cloned guests share filesystem UUIDs and
volume group names. A guest that inspection cannot see (its volume group a duplicate of a
clone's) is inspected again with LVM filtered to its disk (guestfs_lvm_set_filter:
`filtered_rescans`), and a mountpoint whose device lies on another guest's disk (a UUID that
fstab names resolving to a clone) is counted in `misattributed_mounts` rather than hidden.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.results.records import STATUS_ERROR
from harness.workloads.base import OpenHandle, Workload, WorkloadError
from harness.workloads.inspect import (
    check_image_spec,
    describe,
    find_image,
    image_label,
    mount_all,
)

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
        for spec in images:
            check_image_spec("workload.images", spec)
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
        outcomes, rescanned = inspect_guests(handle)  # every guest, or the first (separate)
        if self.mode == "separate":
            handle.shutdown()  # the first appliance ends before the next one starts
            for index, (path, fmt) in enumerate(self.disks[1:], start=2):
                more, more_rescanned = separate_guest(open_handle(), path, fmt)
                outcomes += more
                rescanned += [f"appliance {index}: {device}" for device in more_rescanned]
        misattributed = [m for o in outcomes for m in o["misattributed"]]
        row: dict[str, Any] = {
            "guests": self.guests, "mode": self.mode, "clones": self.clones(),
            "guests_found": len(outcomes), "filtered_rescans": len(rescanned),
            "misattributed_mounts": len(misattributed),
            # Which disks were inspected again and which mountpoints landed elsewhere: why.
            "rescanned": "; ".join(rescanned), "misattributed": "; ".join(misattributed),
            "distros": ",".join(sorted({o["distro"] for o in outcomes}))}
        if not outcomes:
            row.update(status=STATUS_ERROR,
                       error=f"no operating system found on any of the {self.guests} disks")
        return [row]


def separate_guest(handle: Any, path: Path, fmt: str) -> tuple[list[dict[str, Any]], list[str]]:
    """One more appliance for one guest: launch, inspect, mount, close."""
    try:
        handle.add_drive_opts(str(path), readonly=True, format=fmt)
        handle.launch()
        return inspect_guests(handle)
    finally:
        handle.close()


def inspect_guests(handle: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """Inspect every disk of the appliance once (as virt-df does), then each disk whose guest
    stayed hidden with LVM filtered to it alone: a clone's volume group, a duplicate of one
    already seen, is not activated otherwise. Each guest found is mounted and unmounted.

    Returns one outcome per guest found and the disks inspected again, filtered.
    """
    outcomes: dict[str, dict[str, Any]] = {}
    for root in handle.inspect_os():
        try:
            disk = disk_of(handle, root)
        except RuntimeError:  # a volume LVM would not activate: the clones' duplicate group
            continue
        if disk not in outcomes:
            outcomes[disk] = _mount_guest(handle, root)
    hidden = [d for d in handle.list_devices() if d not in outcomes]
    for device in hidden:
        handle.lvm_set_filter([device])
        roots = [r for r in handle.inspect_os() if disk_of(handle, r) == device]
        if roots:
            outcomes[device] = _mount_guest(handle, roots[0])
    # The filter stays: clearing it re-activates every volume group, which fails on clones.
    return list(outcomes.values()), hidden


def _mount_guest(handle: Any, root: str) -> dict[str, Any]:
    """Describe, mount and unmount one guest; name the mountpoints on another guest's disk."""
    results = describe(handle, root)
    mount_all(handle, results["mountpoints"])
    handle.umount_all()
    home = disk_of(handle, root)
    elsewhere = [(mountpoint, device, disk_of(handle, device))
                 for mountpoint, device in results["mountpoints"]]
    return {**results, "misattributed": [f"{mountpoint} of {root} on {disk}, not {home} "
                                         f"({device})" for mountpoint, device, disk in elsewhere
                                         if disk != home]}


def disk_of(handle: Any, filesystem: str) -> str:
    """The whole disk a filesystem lives on (a logical volume: the disk of its volume group's
    physical volume). Partitions are checked first: is_lv fails while a clone's duplicate
    volume group stays inactive."""
    if filesystem in handle.list_devices():
        return filesystem
    if filesystem in handle.list_partitions():
        return handle.part_to_dev(filesystem)
    group = handle.lvm_canonical_lv_name(filesystem).split("/")[2]
    members = {uuid.replace("-", "") for uuid in handle.vgpvuuids(group)}
    physical = next(pv["pv_name"] for pv in handle.pvs_full()
                    if _text(pv["pv_uuid"]) in members)
    partitions = handle.list_partitions()
    if physical in partitions:
        return handle.part_to_dev(physical)
    if physical in handle.list_devices():
        return physical
    # LVM named a device this appliance does not have (seen once in CI: /dev/sdb2 in a
    # one-disk appliance): ask each partition for its physical volume's UUID instead.
    for partition in partitions:
        try:
            if _text(handle.pvuuid(partition)).replace("-", "") in members:
                return handle.part_to_dev(partition)
        except RuntimeError:  # not a physical volume
            continue
    raise RuntimeError(f"no disk of this appliance holds volume group {group} "
                       f"(LVM names {physical})")


def _text(value: str | bytes) -> str:
    """LVM struct UUIDs may come as bytes, and without the dashes vgpvuuids prints."""
    return value.decode() if isinstance(value, bytes) else value
