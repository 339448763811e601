"""A fixed appliance from libguestfs-make-fixed-appliance, used through set_path (never
rebuilt); `fixed_shm` copies the on-disk one to tmpfs, as guestfs-performance(1) tried."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from harness.appliances.base import Appliance, ApplianceError
from harness.host import processes, trust

FIXED_FILES = ("kernel", "initrd", "root", "README.fixed")


class FixedAppliance(Appliance):
    """Built once into `dir`; with `fixed_source` (fixed_shm), copied from that on-disk
    appliance instead of building a second one. A file lgbench may not trust is removed and
    the appliance built again."""

    TYPES = ("fixed", "fixed_shm")

    def __init__(self, dir: str, type: str = "fixed", fixed_source: str | None = None) -> None:
        super().__init__(type, dir, cache_state="fixed")
        self.fixed_source = Path(fixed_source) if fixed_source else None

    def prepare(self) -> None:
        trust.secure_folder(self.dir)
        if fixed_appliance_ready(self.dir):
            return
        if self.fixed_source is None:
            build_fixed(self.dir)
            return
        trust.secure_folder(self.fixed_source)
        if not fixed_appliance_ready(self.fixed_source):
            build_fixed(self.fixed_source)
        copy_sparse(self.fixed_source, self.dir)

    def configure(self, handle: Any) -> None:
        handle.set_path(str(self.dir))

    def files(self) -> list[Path]:
        return [self.dir / name for name in FIXED_FILES if (self.dir / name).exists()]


def fixed_appliance_ready(directory: Path) -> bool:
    """Whether a complete fixed appliance that lgbench may boot is in directory."""
    return all([trust.trusted_file(directory / name) for name in FIXED_FILES])


def build_fixed(directory: Path) -> None:
    """Build a fixed appliance with libguestfs-make-fixed-appliance, atomically."""
    if shutil.which("libguestfs-make-fixed-appliance") is None:
        raise ApplianceError("libguestfs-make-fixed-appliance not found "
                             "(apt-get install libguestfs-tools)")
    staging = _staging_folder(directory)
    # The tool launches an appliance with libguestfs's default accel=kvm:tcg, which hangs
    # where /dev/kvm exists but cannot run a guest; TCG builds the same appliance everywhere.
    env = {**os.environ, "LIBGUESTFS_BACKEND_SETTINGS": "force_tcg"}
    result = processes.run_in_group(["libguestfs-make-fixed-appliance", str(staging)], env=env)
    if result.returncode != 0:
        trust.remove_tree(staging, ignore_errors=True)
        raise ApplianceError(f"libguestfs-make-fixed-appliance failed: {result.stderr.strip()}")
    trust.remove_tree(directory, ignore_errors=True)
    trust.move(staging, directory)


def _staging_folder(directory: Path) -> Path:
    """A new folder beside `directory` that nobody else can have planted (mkdtemp is
    exclusive), readable by libvirt's qemu once renamed into place."""
    staging = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}."))
    trust.set_mode(staging, 0o755)
    return staging


def allocated_bytes(directory: Path) -> int:
    """Bytes the files of a folder really occupy (holes excluded)."""
    return sum(f.stat().st_blocks * 512 for f in directory.iterdir() if f.is_file())


def copy_sparse(source: Path, directory: Path) -> None:
    """Copy a fixed appliance keeping holes (the root is mostly holes), atomically."""
    need, free = allocated_bytes(source), shutil.disk_usage(directory.parent).free
    if need > free:
        raise ApplianceError(f"{directory.parent} has {free / 2**20:.0f} MiB free; the fixed "
                             f"appliance needs {need / 2**20:.0f} MiB")
    staging = _staging_folder(directory)
    result = subprocess.run(["cp", "-rT", "--sparse=always", str(source), str(staging)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        trust.remove_tree(staging, ignore_errors=True)
        raise ApplianceError(f"copying the fixed appliance to {directory} failed: "
                             f"{result.stderr.strip()}")
    trust.remove_tree(directory, ignore_errors=True)
    trust.move(staging, directory)
