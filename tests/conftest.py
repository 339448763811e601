"""Fixtures only: headless matplotlib, `run_lgbench` in a tmp dir, the session's shared
folders for guest images and the appliance cache, the libvirt daemons the session started
stopped at its end, and the unprivileged attacker with the folder it plants in
(tests/helpers/attacker.py). Helpers live in tests/helpers/."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import matplotlib
import psutil
import pytest
from helpers import matrix
from helpers.attacker import attacker, public  # noqa: F401  (fixtures for attack tests)
from helpers.lgbench import run_lgbench_in

matplotlib.use("Agg")


@pytest.fixture
def run_lgbench(tmp_path: Path):
    """`run_lgbench(*args, program=LGBENCH)` -> CompletedProcess; the run dir is tmp_path/run."""
    return partial(run_lgbench_in, tmp_path)


def _session_folder(prefix: str) -> Iterator[Path]:
    """A private folder under /var/tmp (pytest's are in a 0700 tree, where libvirt's qemu
    user could be granted nothing)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/var/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def guest_images() -> Iterator[Path]:
    """One images folder for the whole session: recipes are built once, on first use."""
    yield from _session_folder("lgbench-test-images-")


@pytest.fixture(scope="session")
def shared_cache() -> Iterator[Path]:
    """One LGBENCH_CACHE (supermin appliance, KVM verdict, doctor facts) for the appliance
    tests that are not about a fresh cache, which costs about a minute here."""
    yield from _session_folder("lgbench-test-cache-")


def libvirt_daemons() -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["name"]) if p.info["name"] in ("libvirtd", "virtlogd")]


@pytest.fixture(scope="session", autouse=True)
def stop_the_daemons_the_tests_started() -> Iterator[None]:
    """The harness starts libvirtd and virtlogd when a libvirt cell needs them; the ones the
    session started are stopped after it (by pid), so no test relies on a running daemon and
    the host is left as it was found."""
    before = {p.pid for p in libvirt_daemons()}
    yield
    started = [p for p in libvirt_daemons() if p.pid not in before]
    for daemon in started:
        daemon.terminate()
    _, alive = psutil.wait_procs(started, timeout=20)
    for daemon in alive:
        daemon.kill()


def pytest_terminal_summary(terminalreporter) -> None:
    """The fault matrix of the faults injected and bad inputs tried in this session."""
    found = matrix.lines()
    if found:
        terminalreporter.section("fault matrix")
        for line in found:
            terminalreporter.write_line(line)
