"""The appliance a trial boots: where it comes from and what must happen before each trial.

guestfs-performance(1) "USING A FIXED APPLIANCE": a fixed appliance is never rebuilt; the guide
found no measurable gain, even from /dev/shm. The kinds (cached.py, fixed.py) let a run check
that on its host; a config chooses one by its `_target_`.
"""

from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from harness.host.facts import on_tmpfs


class ApplianceError(Exception):
    """The appliance cannot be prepared; the message says why."""


class Appliance(ABC):
    """One kind of appliance in `dir`; rows record its `type` and `cache_state`."""

    TYPES: tuple[str, ...] = ()  # the `type` names this kind answers to

    def __init__(self, type: str, dir: str, cache_state: str) -> None:
        self.type = type
        self.dir = Path(dir)
        self.cache_state = cache_state

    @abstractmethod
    def prepare(self) -> None:
        """Make the appliance exist (untimed, once per cell). Its folder must be the user's
        and closed to others (trust.UntrustedPath otherwise)."""

    def before_trial(self) -> None:  # noqa: B027 (most kinds need nothing before a trial)
        """Whatever must happen before each trial (nothing by default)."""

    @abstractmethod
    def configure(self, handle: Any) -> None:
        """Point a new handle at this appliance."""

    @abstractmethod
    def files(self) -> list[Path]:
        """The appliance's files as they are now (kernel, initrd, root, ...)."""

    def metadata(self) -> dict[str, Any]:
        """Type, location and content hashes of the appliance files as they are now."""
        return {
            "type": self.type,
            "cache_state": self.cache_state,
            "dir": str(self.dir),
            "on_tmpfs": on_tmpfs(self.dir),
            "files": {f.name: {"size": f.stat().st_size, "sha256": sparse_sha256(f)}
                      for f in self.files() if f.is_file()},
        }


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
