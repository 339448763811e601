"""Which processes belong to a folder: whole path components, so instance 1 is not 10."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.host.processes import kill_referencing, referencing


@pytest.fixture
def sleepers(tmp_path: Path) -> Iterator[dict[str, subprocess.Popen]]:
    """A process naming each of the instance folders 1, 10 and 11 on its command line, as
    qemu names its overlay (`file=<folder>/overlay.qcow2,cache=unsafe`)."""
    procs = {n: subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)",
                                  f"file={tmp_path / n}/overlay.qcow2,cache=unsafe"])
             for n in ("1", "10", "11")}
    yield procs
    for proc in procs.values():
        proc.kill()
        proc.wait()


def test_a_folder_names_its_own_processes_only(tmp_path: Path,
                                               sleepers: dict[str, subprocess.Popen]) -> None:
    for n, proc in sleepers.items():
        assert [p.pid for p in referencing(str(tmp_path / n))] == [proc.pid], n
    assert sorted(p.pid for p in referencing(str(tmp_path))) == \
        sorted(p.pid for p in sleepers.values())


def test_killing_instance_1_spares_instances_10_and_11(
        tmp_path: Path, sleepers: dict[str, subprocess.Popen]) -> None:
    assert kill_referencing(str(tmp_path / "1")) == [sleepers["1"].pid]
    assert sleepers["10"].poll() is None and sleepers["11"].poll() is None
