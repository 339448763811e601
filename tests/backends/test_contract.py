"""The contract every backend driver keeps, whatever runs its appliance: setup on a fresh
private cache, a handle configured as asked, a launch on the promised accelerator, and no
process of the instance left once it is closed and cleaned up.

Real drivers launch once each (10-30 s under TCG) and share one cache for the module.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest
from hydra import compose, initialize_config_module
from hydra.utils import instantiate
from omegaconf import DictConfig

from harness.appliances.base import Appliance
from harness.backends.base import Backend, BackendUnavailable
from harness.config import register_configs
from harness.host import processes, trust

MEMSIZE, SMP = 1024, 2  # neither is libguestfs's default, so the getters show they were set
# A KVM launch answers within seconds where KVM works; here it hangs, and the probe need not
# wait its full minute to say so (the probe itself is tested in tests/test_appliance.py).
PROBE_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Driver:
    name: str  # the conf/backend choice
    libguestfs_backend: str | None  # what handle.get_backend() says; None: not a guestfs handle
    accels: frozenset[str]  # what backend.accel may be after setup


DRIVERS = [
    pytest.param(Driver("fake", None, frozenset({"tcg"})), id="fake"),
    pytest.param(Driver("tcg", "direct", frozenset({"tcg"})), id="tcg",
                 marks=pytest.mark.appliance),
    pytest.param(Driver("libvirt", "libvirt", frozenset({"kvm", "tcg"})), id="libvirt",
                 marks=[pytest.mark.appliance, pytest.mark.host]),
    pytest.param(Driver("uml", "direct", frozenset({"uml"})), id="uml",
                 marks=pytest.mark.appliance),
]


@pytest.fixture(params=DRIVERS)
def driver(request: pytest.FixtureRequest) -> Driver:
    return request.param


@pytest.fixture(scope="module")
def cache_dir() -> Iterator[Path]:
    """A fresh private cache in /var/tmp: libvirt's qemu user can be granted a way in there,
    never through pytest's 0700 tmp tree."""
    path = trust.secure_folder(Path(tempfile.mkdtemp(prefix="lgbench-contract-",
                                                     dir="/var/tmp")), private=True)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def instance_dir() -> Iterator[Path]:
    """An instance tmpdir as the runner makes it: reachable by libvirt's qemu user. Whatever
    a failed test leaves running in it is killed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="lgb-"))
    path.chmod(0o755)
    yield path
    processes.kill_referencing(str(path))
    shutil.rmtree(path, ignore_errors=True)


def composed(driver: Driver, cache_dir: Path) -> DictConfig:
    register_configs()
    with initialize_config_module(config_module="harness.conf", version_base="1.3"):
        return compose(config_name="config",
                       overrides=[f"backend={driver.name}", f"paths.cache_dir={cache_dir}"])


@contextmanager
def set_up(driver: Driver, cache_dir: Path) -> Iterator[tuple[Backend, Appliance]]:
    """The driver and appliance of the composed config, set up; torn down on the way out."""
    cfg = composed(driver, cache_dir)
    backend: Backend = instantiate(cfg.backend)
    try:
        try:
            backend.setup(cache_dir, PROBE_TIMEOUT_S)
        except BackendUnavailable as exc:  # every driver must run on this host
            pytest.fail(f"{driver.name} setup refused a fresh private cache: {exc}")
        yield backend, instantiate(cfg.appliance)
    finally:
        backend.teardown()


@contextmanager
def opened(backend: Backend, tmpdir: Path) -> Iterator[Any]:
    handle = backend.create_handle(MEMSIZE, SMP, tmpdir, False)
    try:
        yield handle
    finally:
        handle.close()


def survivors(tmpdir: Path) -> list[str]:
    """Living processes (zombies aside) whose command line mentions tmpdir."""
    alive = []
    for proc in processes.referencing(str(tmpdir)):
        try:
            if proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(f"{proc.pid} {' '.join(proc.cmdline())[:300]}")
        except psutil.NoSuchProcess:
            continue
    return alive


def test_setup_accepts_a_fresh_private_cache_and_resolves_the_accel(
        driver: Driver, cache_dir: Path) -> None:
    with set_up(driver, cache_dir) as (backend, _):
        assert backend.accel in driver.accels
    assert trust.folder_problem(cache_dir.lstat()) is None, "setup left the cache untrusted"


def test_create_handle_configures_memsize_smp_tmpdir_and_libguestfs_backend(
        driver: Driver, cache_dir: Path, instance_dir: Path) -> None:
    with set_up(driver, cache_dir) as (backend, _), opened(backend, instance_dir) as handle:
        assert handle.get_tmpdir() == str(instance_dir)
        if driver.libguestfs_backend is None:  # the fake handle has no memsize or smp
            return
        assert (handle.get_memsize(), handle.get_smp(), handle.get_backend()) == \
            (MEMSIZE, SMP, driver.libguestfs_backend)


def test_launch_runs_on_the_promised_accel_and_leaves_no_process_behind(
        driver: Driver, cache_dir: Path, instance_dir: Path) -> None:
    with set_up(driver, cache_dir) as (backend, appliance):
        appliance.prepare()
        with opened(backend, instance_dir) as handle:
            appliance.configure(handle)
            handle.add_drive_ro("/dev/null")
            handle.launch()
            assert backend.effective_accel(handle, instance_dir) == backend.accel
        backend.cleanup(instance_dir)
    left = survivors(instance_dir)
    assert left == [], f"processes of the instance outlived its clean-up: {left}"
