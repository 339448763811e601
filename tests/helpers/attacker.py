"""An unprivileged local user who attacks root's lgbench: a real account made for the tests
and removed after, a sticky world-writable folder to plant in first, and the check that an
attack was refused in one line. Its fixtures (attacker, public) reach every test through
tests/conftest.py."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# One account per pytest-xdist worker: one worker's clean-up never removes another's.
ATTACKER = "-".join(filter(None, ("lgbench-attacker", os.environ.get("PYTEST_XDIST_WORKER"))))


@pytest.fixture(scope="module")
def attacker() -> Iterator[pwd.struct_passwd]:
    """An unprivileged account for the attacks, made for these tests and removed after."""
    if os.geteuid() != 0:
        pytest.fail("these tests attack root's lgbench: run them as root (as make test does)")
    created = subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                              "/usr/sbin/nologin", ATTACKER], capture_output=True, text=True)
    assert created.returncode in (0, 9), created.stderr  # 9: left by an interrupted session
    yield pwd.getpwnam(ATTACKER)
    subprocess.run(["userdel", ATTACKER], capture_output=True)


def as_attacker(*command: str, check: bool = True) -> subprocess.CompletedProcess:
    """`command` run as the attacker, output captured."""
    return subprocess.run(["runuser", "-u", ATTACKER, "--", *command], check=check,
                          capture_output=True, text=True)


@pytest.fixture
def public(attacker: pwd.struct_passwd) -> Iterator[Path]:
    """A fresh folder in world-writable, sticky /var/tmp, where the attacker plants first."""
    path = Path(tempfile.mkdtemp(prefix="lgbench-trust-", dir="/var/tmp"))
    path.chmod(0o1777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def assert_refused(result: subprocess.CompletedProcess, folder: Path, what: str,
                   program: str = "lgbench") -> None:
    """Exit 2 with one line naming the folder and what is wrong; no traceback."""
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{program}: error: "), result.stderr
    assert str(folder) in lines[0] and what in lines[0], lines[0]
    assert "Traceback" not in result.stderr
