"""The fault tests' one fixture: tmpfs mounts undone after each test."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def mounts() -> Iterator[list[Path]]:
    """Folders the test mounted a tmpfs on (helpers.mounts.tmpfs): unmounted after it,
    whatever happened."""
    mounted: list[Path] = []
    yield mounted
    for path in reversed(mounted):
        subprocess.run(["umount", "-l", str(path)], check=False)
