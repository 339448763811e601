"""The libvirt backend where its parts are missing: rows that say why, libvirtd untouched."""

import pytest

from harness.appliances.cached import CachedAppliance
from harness.backends.libvirt import LibvirtBackend
from harness.execution.runner import run_cell
from harness.host import libvirtd
from harness.plan import CellPlan
from harness.workloads.launch import LaunchWorkload


def unsupported_rows(tmp_path, backend: LibvirtBackend) -> list:
    (tmp_path / "cache").mkdir()
    plan = CellPlan(run_id="t", cell="libvirt/p1", parallel=2, runs=1, warmup=1, memsize=256,
                    smp=1, timeout_s=30.0, cache_dir=tmp_path / "cache", probe_timeout_s=5.0)
    rows: list = []
    run_cell(plan, backend, CachedAppliance(cache_state="hot", dir=str(tmp_path / "c")),
             LaunchWorkload("launch"), rows.extend)
    return rows


@pytest.fixture
def nothing_on_path(monkeypatch, tmp_path):
    """No libvirt program can be found, and no daemon counts as running."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(libvirtd, "daemon_running", lambda name: False)

    def no_daemon_started(*args, **kwargs):
        raise AssertionError("libvirtd's limits or daemons were touched")

    monkeypatch.setattr(libvirtd, "set_limits", no_daemon_started)


def test_limits_without_virt_admin_measure_nothing(tmp_path, nothing_on_path):
    rows = unsupported_rows(tmp_path, LibvirtBackend("libvirt", max_clients=20))
    assert len(rows) == 3 and {r.status for r in rows} == {"unsupported"}
    assert rows[0].error.startswith("virt-admin is missing (apt-get install libvirt-clients)")


def test_a_libvirtd_that_cannot_start_gives_unsupported_rows(tmp_path, nothing_on_path):
    rows = unsupported_rows(tmp_path, LibvirtBackend("libvirt"))
    assert {r.status for r in rows} == {"unsupported"}
    assert rows[0].error == "virtlogd is not installed (apt-get install libvirt-daemon-system)"
