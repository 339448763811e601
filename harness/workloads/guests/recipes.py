"""Guest disk images that libguestfs inspection recognises, built here without internet.

The inspection baseline needs real-looking guests: a Debian made by debootstrap from the
machine's apt mirror, a synthetic Debian on LVM written through the guestfs API in about a
minute, and a disk with no operating system. Each image is cached under a name keyed by a hash
of its recipe, so changing a recipe (or RECIPE_FORMAT) builds a new image instead of reusing a
stale one; a build writes a hidden temp file and renames it, so a failed or interrupted build
leaves nothing that looks like an image.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.host import trust
from harness.workloads.guests import debian, synthetic
from harness.workloads.guests.disk import Log, digest, sources_dir

RECIPE_FORMAT = 1  # bump when a change here alters the bytes of every recipe's image


@dataclass(frozen=True)
class Recipe:
    name: str
    summary: str
    inputs: Callable[[], dict[str, Any]]  # everything the image's bytes depend on (hashed)
    make: Callable[[Path, Path, Log, str], None]  # (target disk, images dir, progress, accel)


RECIPES: dict[str, Recipe] = {
    "debian": Recipe("debian", "Debian 12 minbase by debootstrap from the apt mirror, "
                     "one ext4 root partition (minutes)", debian.inputs, debian.make),
    "linux-lvm": Recipe("linux-lvm", "synthetic Debian 12: ext4 /boot + LVM (/, /var, /home, "
                        "swap), dpkg database and icon (about a minute)",
                        synthetic.lvm_inputs, synthetic.make_linux_lvm),
    "no-os": Recipe("no-os", "one empty ext4 partition, no operating system",
                    synthetic.no_os_inputs, synthetic.make_no_os),
    "two-os": Recipe("two-os", "two minimal roots (Debian 12, Fedora 39) on two partitions",
                     synthetic.two_os_inputs, synthetic.make_two_os),
}


def default_images_dir() -> Path:
    """$LGBENCH_CACHE/images, else /var/tmp/lgbench-UID/images (as conf/paths/default.yaml)."""
    return trust.default_cache_dir() / "images"


def _recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; recipes: {', '.join(RECIPES)}")
    return RECIPES[name]


def recipe_hash(name: str) -> str:
    """12 hex digits over the recipe's name, format version and inputs."""
    return digest({"name": name, "format": RECIPE_FORMAT, "inputs": _recipe(name).inputs()})


def image_path(name: str, images_dir: Path) -> Path:
    """Where recipe `name`'s image lives (whether built or not)."""
    return Path(images_dir) / f"{name}-{recipe_hash(name)}.img"


def build(name: str, images_dir: Path, log: Log = print, accel: str = "auto") -> Path:
    """The image of recipe `name`, built first unless already cached.

    `accel` is kvm, tcg or auto (the harness's KVM verdict: KVM only where it really ran).
    """
    recipe = _recipe(name)
    path = trust.secure_folder(images_dir) / image_path(name, images_dir).name
    if trust.trusted_file(path):
        return path
    start = time.monotonic()

    def progress(message: str) -> None:
        log(f"lgbench-images: {name}: [{time.monotonic() - start:6.1f} s] {message}")

    trust.atomic_write(path, lambda part: recipe.make(Path(part), path.parent, progress, accel))
    progress(f"built {path}")
    return path


def resolve(spec: str, images_dir: Path, log: Log = print, accel: str = "auto") -> Path:
    """A recipe name -> its image (built if needed); anything else -> Path(spec) unchanged."""
    if spec in RECIPES:
        return build(spec, images_dir, log, accel)
    return Path(spec)


def list_images(images_dir: Path) -> list[dict[str, Any]]:
    """Every built image in images_dir, current recipe or not."""
    found = []
    for path in sorted(Path(images_dir).glob("*.img")):
        match = re.fullmatch(r"(.+)-([0-9a-f]{12})\.img", path.name)
        if not match:
            continue
        name, digest = match[1], match[2]
        st = path.stat()
        found.append({
            "name": name,
            "path": str(path),
            "size_bytes": st.st_size,
            "allocated_bytes": st.st_blocks * 512,
            "built_at": datetime.fromtimestamp(st.st_mtime, UTC).isoformat(timespec="seconds"),
            "hash": digest,
            "current": name in RECIPES and digest == recipe_hash(name),
        })
    return found


def remove(name: str, images_dir: Path) -> bool:
    """Delete every image of `name` (any recipe hash) and its kept build inputs."""
    removed = False
    for image in list_images(images_dir):
        if image["name"] == name:
            trust.remove(Path(image["path"]))
            removed = True
    sources = sources_dir(name, images_dir)
    if os.path.lexists(sources):
        trust.remove_tree(sources)
        removed = True
    return removed
