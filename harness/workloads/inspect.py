"""guestfs-performance(1) BASELINE: `guestfish --ro -a disk.img -i exit`.

Launch on a guest image, inspect it, mount its filesystems as inspection says (shortest
mountpoint first, as guestfish -i does), unmount, close. Inspection, mounting, listing
applications and fetching the icon are timed apart, because the guide's advice on shortening
inspection is about which of them to skip; `cache` reuses earlier inspection results.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from harness.host import libvirtd
from harness.results.records import STATUS_ERROR
from harness.workloads.base import OpenHandle, Timer, Workload, WorkloadError
from harness.workloads.guests import inspection_cache, recipes

# The image inspected when neither workload.image nor workload.domain is given.
DEFAULT_IMAGE = "linux-lvm"


def check_image_spec(key: str, spec: str) -> None:
    """Refuse, before anything runs, an image that is neither a recipe nor a file here: a
    mistyped recipe or path, which would otherwise fail every trial. An image that exists but
    is broken stays a row of its own (find_image)."""
    if spec in recipes.RECIPES or Path(spec).exists():
        return
    if "/" in spec or Path(spec).suffix:
        raise ValueError(f"{key}: no such file: {spec} (nor a recipe: "
                         f"{', '.join(recipes.RECIPES)})")
    raise ValueError(f"{key}: no recipe named {spec!r} (recipes: {', '.join(recipes.RECIPES)}); "
                     "give a disk image by its path")


def find_image(spec: str, images_dir: Path, accel: str = "auto") -> tuple[Path, str]:
    """The image a `workload.image` names (a recipe, built if needed on `accel`, or a path)
    and its format. Raises WorkloadError with a message a user can act on.
    """
    try:
        # The cell's own accelerator: no second KVM probe; UML builds on qemu like the rest.
        path = recipes.resolve(spec, images_dir, accel=accel if accel in ("kvm", "tcg")
                              else "auto")
    except Exception as exc:  # a recipe build failing must be a row, not a traceback
        raise WorkloadError(f"building image {spec!r} failed: {exc}") from exc
    if not path.exists():
        raise WorkloadError(f"image {spec}: no such file, and not one of the recipes "
                            f"{', '.join(recipes.RECIPES)}")
    if not path.is_file() and not path.is_block_device():
        raise WorkloadError(f"image {spec}: not a file or block device")
    if path.stat().st_size == 0 and path.is_file():
        raise WorkloadError(f"image {spec}: empty file (0 bytes), not a disk image")
    # --backing-chain opens every backing file too, so a broken chain is caught here.
    info = subprocess.run(["qemu-img", "info", "--output=json", "-U", "--backing-chain",
                           str(path)], capture_output=True, text=True)
    if info.returncode != 0:
        reason = info.stderr.strip().splitlines()[-1] if info.stderr.strip() else "no reason"
        raise WorkloadError(f"image {spec}: qemu-img cannot read it: {reason}")
    return path, json.loads(info.stdout)[0]["format"]


def image_label(spec: str) -> str:
    """A recipe name as is, a path by its file name."""
    return spec if spec in recipes.RECIPES else Path(spec).name


def what_is_on_it(handle: Any) -> str:
    """What a disk without an operating system holds, said in a line: its partitions and
    the filesystems libguestfs recognised."""
    partitions = handle.list_partitions()
    filesystems = ", ".join(f"{device} {kind}" for device, kind
                            in handle.list_filesystems().items() if kind != "unknown")
    listed = f" ({', '.join(partitions)})" if partitions else ""
    return f"{len(partitions)} partition(s){listed}, filesystems: {filesystems or 'none'}"


def describe(handle: Any, root: str) -> dict[str, Any]:
    """What inspection says about one operating system, JSON-ready."""
    return {
        "root": root,
        "os_type": handle.inspect_get_type(root),
        "distro": handle.inspect_get_distro(root),
        "version": f"{handle.inspect_get_major_version(root)}."
                   f"{handle.inspect_get_minor_version(root)}",
        "product_name": handle.inspect_get_product_name(root),
        "hostname": handle.inspect_get_hostname(root),
        # Shortest first, so / is mounted before /boot.
        "mountpoints": sorted(handle.inspect_get_mountpoints(root).items(),
                              key=lambda item: len(item[0])),
    }


def mount_all(handle: Any, mountpoints: list[tuple[str, str]]) -> None:
    for mountpoint, device in mountpoints:
        handle.mount_ro(device, mountpoint)


class InspectWorkload(Workload):
    timed_columns = ("lookup_s", "inspect_s", "mount_s", "applications_s", "icon_s", "umount_s")

    def __init__(self, name: str, image: str | None, images_dir: str, cache_dir: str,
                 applications: bool = False, icon: bool = False, cache: bool = False,
                 domain: str | None = None) -> None:
        super().__init__(name)
        if image is not None and domain is not None:
            raise ValueError(f"workload.image ({image}) and workload.domain ({domain}) are "
                             f"both set: inspect one or the other")
        if cache and domain is not None:
            raise ValueError("workload.cache needs workload.image: cached results are kept "
                             "per image file, and a domain names its disks only in libvirt")
        self.spec = image if image is not None else DEFAULT_IMAGE
        check_image_spec("workload.image", self.spec)
        self.domain = domain  # a libvirt domain, added as `guestfish --ro -d NAME` does
        self.images_dir = Path(images_dir)
        self.cache_dir = Path(cache_dir)
        self.applications, self.icon, self.cache = applications, icon, cache
        self.path: Path | None = None  # set by setup()
        self.format = ""

    def variant(self) -> str:
        flags = [flag for flag, on in (("apps", self.applications), ("icon", self.icon),
                                       ("cache", self.cache)) if on]
        what = f"domain:{self.domain}" if self.domain else image_label(self.spec)
        return "+".join([what, *flags])

    def setup(self, accel: str) -> None:
        if self.domain is not None:
            try:  # libguestfs reads the domain's disks from libvirtd, on any backend
                libvirtd.ensure_daemons()
            except libvirtd.LibvirtdError as exc:
                raise WorkloadError(str(exc)) from exc
            return
        self.path, self.format = find_image(self.spec, self.images_dir, accel)

    def add_drives(self, handle: Any) -> None:
        if self.domain is not None:
            handle.add_domain(self.domain, readonly=True)
        else:
            handle.add_drive_opts(str(self.path), readonly=True, format=self.format)

    def run(self, handle: Any, open_handle: OpenHandle) -> list[dict[str, Any]]:
        source = f"domain {self.domain}" if self.domain else str(self.path)
        row: dict[str, Any] = {"image": source, "image_format": self.format or None}
        found = None
        if self.cache:
            with Timer() as lookup:
                identity = inspection_cache.image_identity(self.path)
                found = inspection_cache.load(self.cache_dir, identity)
                if found is not None and not self._answers(found):
                    found = None
            row.update(lookup_s=lookup.seconds, cache_hit=found is not None)
        results = found
        if results is None:
            with Timer() as inspecting:
                roots = handle.inspect_os()
            row.update(inspect_s=inspecting.seconds, roots=len(roots),
                       roots_found="; ".join(f"{root} {handle.inspect_get_distro(root)} "
                                             f"{handle.inspect_get_major_version(root)}"
                                             for root in roots))
            if not roots:
                return [{**row, "status": STATUS_ERROR,
                         "error": f"no operating system found in {source}: "
                                  f"{what_is_on_it(handle)}"}]
            results = describe(handle, roots[0])  # the first of several, as virt-inspector
        row.update({k: v for k, v in results.items() if k not in ("root", "mountpoints")})
        row["filesystems_mounted"] = len(results["mountpoints"])
        with Timer() as mounting:
            mount_all(handle, results["mountpoints"])
        row["mount_s"] = mounting.seconds
        if self.applications:
            if found is None:
                with Timer() as listing:
                    results["applications"] = len(
                        handle.inspect_list_applications2(results["root"]))
                row["applications_s"] = listing.seconds
            row["applications"] = results["applications"]
        if self.icon:
            if found is None:
                with Timer() as fetching:
                    results["icon_bytes"] = len(handle.inspect_get_icon(
                        results["root"], favicon=False, highquality=False))
                row["icon_s"] = fetching.seconds
            row["icon_bytes"] = results["icon_bytes"]
        with Timer() as unmounting:
            handle.umount_all()
        row["umount_s"] = unmounting.seconds
        if self.cache and found is None:
            inspection_cache.save(self.cache_dir, identity, results)
        return [row]

    def _answers(self, cached: dict[str, Any]) -> bool:
        """Whether a cached entry holds everything this cell asks for."""
        return ((not self.applications or "applications" in cached)
                and (not self.icon or "icon_bytes" in cached))
