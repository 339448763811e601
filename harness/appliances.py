"""The appliance a trial boots: supermin-cached (hot or cold), fixed, or fixed on tmpfs.

guestfs-performance(1) "USING A FIXED APPLIANCE": a fixed appliance is never rebuilt; the seed
found no measurable gain, even from /dev/shm. These types let a run check that on its host.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from harness import processes, trust

FIXED_FILES = ("kernel", "initrd", "root", "README.fixed")


class ApplianceError(Exception):
    """The appliance cannot be prepared; the message says why."""


def sparse_sha256(path: Path) -> str:
    """SHA-256 of a file's data extents and their offsets: fast on the sparse 4 GB root."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        fd = f.fileno()
        end = os.fstat(fd).st_size
        offset = 0
        while offset < end:
            try:
                start = os.lseek(fd, offset, os.SEEK_DATA)
            except OSError:  # no more data
                break
            stop = os.lseek(fd, start, os.SEEK_HOLE)
            digest.update(f"{start}:".encode())
            f.seek(start)
            remaining = stop - start
            while remaining:
                chunk = f.read(min(remaining, 1 << 20))
                digest.update(chunk)
                remaining -= len(chunk)
            offset = stop
    digest.update(f"size:{end}".encode())
    return digest.hexdigest()


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
        shutil.rmtree(staging, ignore_errors=True)
        raise ApplianceError(f"libguestfs-make-fixed-appliance failed: {result.stderr.strip()}")
    shutil.rmtree(directory, ignore_errors=True)
    staging.rename(directory)


def _staging_folder(directory: Path) -> Path:
    """A new folder beside `directory` that nobody else can have planted (mkdtemp is
    exclusive), readable by libvirt's qemu once renamed into place."""
    staging = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}."))
    staging.chmod(0o755)
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
        shutil.rmtree(staging, ignore_errors=True)
        raise ApplianceError(f"copying the fixed appliance to {directory} failed: "
                             f"{result.stderr.strip()}")
    shutil.rmtree(directory, ignore_errors=True)
    staging.rename(directory)


class Appliance:
    """Where the appliance comes from, and what must happen before each trial."""

    def __init__(self, type: str, cache_state: str, dir: str, fixed_source: str | None = None
                 ) -> None:
        self.type = type
        self.cache_state = cache_state if type == "cached" else "fixed"
        self.dir = Path(dir)
        # fixed_shm copies the on-disk fixed appliance instead of building a second one.
        self.fixed_source = Path(fixed_source) if fixed_source else None

    def prepare(self) -> None:
        """Make the appliance exist (untimed, once per cell). Its folder must be the user's
        and closed to others (trust.UntrustedPath otherwise); a fixed appliance with a file
        that is not is built again."""
        trust.secure_folder(self.dir)
        if self.type == "cached":
            return
        if fixed_appliance_ready(self.dir):
            return
        if self.type == "fixed_shm" and self.fixed_source is not None:
            trust.secure_folder(self.fixed_source)
            if not fixed_appliance_ready(self.fixed_source):
                build_fixed(self.fixed_source)
            copy_sparse(self.fixed_source, self.dir)
        else:
            build_fixed(self.dir)

    def before_trial(self) -> None:
        """Cold cache: empty the supermin cache so the trial pays the appliance build."""
        if self.type == "cached" and self.cache_state == "cold":
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir.mkdir(parents=True)

    def configure(self, handle: Any) -> None:
        """Point a new handle at this appliance."""
        if self.type == "cached":
            handle.set_cachedir(str(self.dir))
        else:
            handle.set_path(str(self.dir))

    def metadata(self) -> dict[str, Any]:
        """Type, location and content hashes of the appliance files as they are now."""
        if self.type == "cached":
            files = sorted(self.dir.glob(".guestfs-*/appliance.d/*"))
        else:
            files = [self.dir / name for name in FIXED_FILES if (self.dir / name).exists()]
        return {
            "type": self.type,
            "cache_state": self.cache_state,
            "dir": str(self.dir),
            "on_tmpfs": _on_tmpfs(self.dir),
            "files": {f.name: {"size": f.stat().st_size, "sha256": sparse_sha256(f)}
                      for f in files if f.is_file()},
        }


def _on_tmpfs(path: Path) -> bool:
    """Whether path lies on a tmpfs mount (longest matching mount point wins)."""
    best, fstype = "", ""
    for line in Path("/proc/mounts").read_text().splitlines():
        _, mount_point, kind, *_ = line.split()
        if str(path).startswith(mount_point) and len(mount_point) > len(best):
            best, fstype = mount_point, kind
    return fstype == "tmpfs"
