"""Shared test helpers: headless matplotlib, and `lgbench` run as a subprocess in a tmp dir."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

BIN = Path(sys.executable).parent
LGBENCH = BIN / "lgbench"
LGBENCH_REPORT = BIN / "lgbench-report"


def lgbench_env(tmp: Path) -> dict[str, str]:
    """The environment of a test run: caches and default results under tmp, short Hydra errors."""
    env = {**os.environ, "LGBENCH_CACHE": str(tmp / "cache"),
           "LGBENCH_RESULTS": str(tmp / "results")}
    env.pop("HYDRA_FULL_ERROR", None)  # the clean-error tests must see what users see
    return env


def run_lgbench_in(tmp: Path, *args: str, program: Path = LGBENCH,
                   timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `lgbench ARGS hydra.run.dir=TMP/run` (or another console script with ARGS) in tmp."""
    command = [str(program), *args]
    if program == LGBENCH:
        command.append(f"hydra.run.dir={tmp / 'run'}")
    return subprocess.run(command, capture_output=True, text=True, env=lgbench_env(tmp),
                          cwd=tmp, timeout=timeout, stdin=subprocess.DEVNULL)


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
