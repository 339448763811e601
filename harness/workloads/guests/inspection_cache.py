"""Inspection results kept between trials, as guestfs-performance(1) suggests.

"If you previously performed inspection on the guest, then it may be safe to cache and reuse
the results from last time." An entry is keyed by the image's identity: its path, size,
modification time and a hash of its first MiBs, so an image changed in place is inspected again.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from harness.host import trust

HASHED_BYTES = 4 * 2**20


def image_identity(path: Path) -> str:
    """A key that changes when the image is replaced or written to."""
    st = path.stat()
    digest = hashlib.sha256(f"{path.resolve()}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    with open(path, "rb") as f:
        digest.update(f.read(HASHED_BYTES))
    return digest.hexdigest()


def load(cache_dir: Path, identity: str) -> dict[str, Any] | None:
    """The cached inspection of the image with this identity, or None."""
    try:
        return json.loads(trust.read_trusted(cache_dir / f"{identity}.json") or "null")
    except json.JSONDecodeError:
        return None


def save(cache_dir: Path, identity: str, results: dict[str, Any]) -> None:
    """Store atomically: parallel trials may write the same entry at once."""
    target = trust.secure_folder(cache_dir) / f"{identity}.json"
    trust.atomic_write(target, lambda tmp: Path(tmp).write_text(json.dumps(results)))
