"""Fixtures and the session's set-up: headless matplotlib, `run_lgbench` in a tmp dir, the
run's shared folders for guest images and the appliance cache, a one-node SLURM cluster
(scripts/slurm_cluster.py), the unprivileged attacker with the folder it plants in
(tests/helpers/attacker.py); under pytest-xdist, a temporary folder per worker and one worker
for the tests that touch what the whole host shares; the libvirt daemons the run started
stopped at its end. Helpers live in tests/helpers/."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
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


# Folders the whole run shares, its workers included: made by the run's first process
# (pytest_configure) in /var/tmp (pytest's are in a 0700 tree, where libvirt's qemu user could
# be granted nothing), named to the workers in the environment, removed at the run's end.
SHARED_FOLDERS = {"LGBENCH_TEST_IMAGES": "lgbench-test-images-",
                  "LGBENCH_TEST_CACHE": "lgbench-test-cache-"}


@pytest.fixture(scope="session")
def guest_images() -> Path:
    """One images folder for the whole run: recipes are built once, on first use (two
    workers building one recipe at once is what lgbench-images is made for)."""
    return Path(os.environ["LGBENCH_TEST_IMAGES"])


@pytest.fixture(scope="session")
def shared_cache() -> Path:
    """One LGBENCH_CACHE (supermin appliance, KVM verdict, doctor facts) for the appliance
    tests that are not about a fresh cache, which costs about a minute here: built once in
    the run, by whichever worker needs it first."""
    return Path(os.environ["LGBENCH_TEST_CACHE"])


SLURM_CLUSTER = Path(__file__).parents[1] / "scripts" / "slurm_cluster.py"


def _slurm_cluster(command: str, state: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SLURM_CLUSTER), command, "--state", str(state)],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="session")
def slurm_cluster():
    """`slurm_cluster(command, state)` -> CompletedProcess: scripts/slurm_cluster.py up or
    down on that state folder."""
    return _slurm_cluster


@pytest.fixture(scope="module")
def slurm(tmp_path_factory) -> Iterator[Path]:
    """A running one-node SLURM cluster's state folder (tests/cli/test_slurm*.py); SLURM_CONF
    points at it while the module's tests run. Its daemons are gone afterwards (checked)."""
    yield from _running_slurm(tmp_path_factory.mktemp("slurm"))


def _running_slurm(state: Path) -> Iterator[Path]:
    started = _slurm_cluster("up", state)
    assert started.returncode == 0, started.stderr
    pids = [d["pid"] for d in json.loads((state / "daemons.json").read_text())["daemons"].values()]
    previous = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(state / "slurm.conf")
    try:
        yield state
    finally:
        if previous is None:
            os.environ.pop("SLURM_CONF")
        else:
            os.environ["SLURM_CONF"] = previous
        stopped = _slurm_cluster("down", state)
        assert stopped.returncode == 0, stopped.stderr
        assert not [p for p in pids if psutil.pid_exists(p)
                    and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]


# Fixtures that need root: a real unprivileged account, tmpfs mounts, the SLURM cluster.
ROOT_FIXTURES = {"attacker", "public", "mounts", "slurm", "slurm_cluster"}


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist names each item's group from its markers
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that uses a root fixture carries the marker `root`, so `-m "not root"` (make
    test-fast) is a tier any user can run. Root tests and `host` tests (libvirtd, its limits
    and domains, the SLURM cluster, the attacker's account) share what the whole host has:
    under pytest-xdist they all run on one worker, one after another. The slow ones
    (appliances, and that worker's share) run first, so that the quick ones fill the workers'
    ends."""
    for item in items:
        if ROOT_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.root)
        if item.get_closest_marker("root") or item.get_closest_marker("host"):
            item.add_marker(pytest.mark.xdist_group("host"))
    items.sort(key=lambda item: not (item.get_closest_marker("appliance")
                                     or item.get_closest_marker("xdist_group")))


@pytest.hookimpl(trylast=True)  # after pytest-xdist has named the groups
def pytest_collection_finish(session: pytest.Session) -> None:
    """Under `--dist loadgroup`, a grouped test whose node id lacks its group would run beside
    the others of its group (pytest 9.2 made xdist 3.8 drop groups silently,
    pytest-dev/pytest-xdist#1386): stop the run instead."""
    if not (is_xdist_worker(session.config) and session.config.getvalue("loadgroup")):
        return
    lost = [item.nodeid for item in session.items if (group := item.get_closest_marker(
        "xdist_group")) and not item.nodeid.endswith(f"@{group.args[0]}")]
    if lost:
        raise pytest.UsageError(f"pytest-xdist did not group the tests (e.g. {lost[0]}): "
                                "check the pytest and pytest-xdist versions in pyproject.toml")


DAEMONS_BEFORE = pytest.StashKey[set[int]]()


def is_xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist, each worker's trials (and libguestfs's own folders) live in a
    temporary folder of the worker's, so a test's process checks (tests/helpers/lgbench.py
    TRIALS) see its own appliances and not the other worker's. The first process of the run
    (the controller, or pytest itself without -n) keeps the fault matrix's file and notes the
    libvirt daemons already running."""
    if is_xdist_worker(config):
        worker_tmp = Path(tempfile.gettempdir()) / f"lgbench-tests-{config.workerinput['workerid']}"
        shutil.rmtree(worker_tmp, ignore_errors=True)
        worker_tmp.mkdir()
        worker_tmp.chmod(0o1777)  # like /tmp: libvirt's qemu user passes through it
        os.environ["TMPDIR"] = str(worker_tmp)
        tempfile.tempdir = None
        return
    config.stash[DAEMONS_BEFORE] = {p.pid for p in libvirt_daemons()}
    for variable, prefix in SHARED_FOLDERS.items():
        os.environ[variable] = tempfile.mkdtemp(prefix=prefix, dir="/var/tmp")
    matrix.start()


def pytest_unconfigure(config: pytest.Config) -> None:
    """The worker's temporary folder goes; the run's end stops the libvirt daemons it started
    (by pid: the harness starts libvirtd and virtlogd when a libvirt cell needs them), so no
    test relies on a running daemon and the host is left as it was found."""
    if is_xdist_worker(config):
        shutil.rmtree(os.environ["TMPDIR"], ignore_errors=True)
        return
    started = [p for p in libvirt_daemons() if p.pid not in config.stash[DAEMONS_BEFORE]]
    for daemon in started:
        daemon.terminate()
    _, alive = psutil.wait_procs(started, timeout=20)
    for daemon in alive:
        daemon.kill()
    for variable in SHARED_FOLDERS:
        shutil.rmtree(os.environ.pop(variable), ignore_errors=True)
    matrix.stop()


def libvirt_daemons() -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["name"]) if p.info["name"] in ("libvirtd", "virtlogd")]


def pytest_terminal_summary(terminalreporter) -> None:
    """The fault matrix of the faults injected and bad inputs tried in this session."""
    found = matrix.lines()
    if found:
        terminalreporter.section("fault matrix")
        for line in found:
            terminalreporter.write_line(line)
