"""Which processes belong to a folder (whole path components, so instance 1 is not 10), and
which child was killed by a signal."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.host.processes import ChildDeaths, kill_referencing, referencing


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


def test_a_child_killed_by_a_signal_is_named_and_left_for_its_owner_to_reap() -> None:
    deaths = ChildDeaths()
    subprocess.run(["true"], check=True)  # an ordinary exit is not a failure
    assert deaths.killed(settle_s=0.3) is None
    sleeper = subprocess.Popen(["sleep", "30"])
    sleeper.kill()
    assert deaths.killed(settle_s=5) == \
        f"sleep (pid {sleeper.pid}) was killed by signal 9 (SIGKILL)"
    assert sleeper.wait(timeout=5) == -9  # the status was still there for its owner
