"""Small file systems for the fault tests: a tmpfs of a given size (read-only if asked), and
filling one to its last byte. Tests run as root, which mount needs."""

from __future__ import annotations

import subprocess
from pathlib import Path


def tmpfs(mounted: list[Path], path: Path, size: str = "4m", *options: str) -> Path:
    """Mount a tmpfs of `size` on path (made if missing) and note it in `mounted` (the
    `mounts` fixture unmounts them). Mode 0755: lgbench refuses a folder others can write
    to, and a tmpfs's default is 1777."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join([f"size={size}", "mode=0755",
                                                            *options]), "tmpfs", str(path)],
                   check=True)
    mounted.append(path)
    return path


def fill(folder: Path) -> None:
    """Fill folder's file system to the last byte."""
    subprocess.run(["dd", "if=/dev/zero", f"of={folder / 'filler'}", "bs=64k"],
                   capture_output=True, check=False)
