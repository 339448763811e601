"""The memory model: measured costs with their margin, the guest's RAM until measured, and the
record of costs kept like every other cache file."""

import os
from types import SimpleNamespace

import psutil
import pytest

from harness.host import feasibility


@pytest.fixture
def host_with(monkeypatch):
    """Pretend the host has `available` MiB available."""
    def set_available(available_mib: int) -> None:
        host = SimpleNamespace(virtual_memory=lambda: SimpleNamespace(
            available=available_mib * 2**20), pids=psutil.pids)
        monkeypatch.setattr(feasibility, "psutil", host)
    return set_available


def test_32_measured_appliances_fit_where_the_guest_ram_model_refused(host_with):
    host_with(23_000)  # about what a 24 GiB host has available
    assert feasibility.memory_problem(32, 512, 430.0) is None  # 32 x 537.5 = 17200
    refused = feasibility.memory_problem(32, 512, None)
    assert refused == ("memory: 32 x 812 MiB (memsize 512 + 300 (not measured yet)) = "
                       "25984 MiB > 23000 MiB available")


def test_what_would_not_fit_is_still_refused(host_with):
    host_with(23_000)
    assert feasibility.memory_problem(64, 512, 430.0).startswith(
        "memory: 64 x 538 MiB (measured 430 + 25% margin) = 34400 MiB")


def test_costs_are_kept_per_kind(tmp_path):
    feasibility.record_footprint(tmp_path, "tcg/cached/launch/m512", 431.26)
    feasibility.record_footprint(tmp_path, "libvirt/cached/launch/m512", 455.0)
    assert feasibility.measured_footprint(tmp_path, "tcg/cached/launch/m512") == 431.3
    assert feasibility.measured_footprint(tmp_path, "tcg/cached/launch/m1024") is None


def test_a_cost_record_others_could_write_is_not_believed(tmp_path):
    feasibility.record_footprint(tmp_path, "tcg/cached/launch/m512", 431.0)
    os.chmod(tmp_path / feasibility.FOOTPRINTS_FILE, 0o666)
    assert feasibility.measured_footprint(tmp_path, "tcg/cached/launch/m512") is None


def test_a_cell_of_a_kind_never_measured_here_checks_memory_after_its_warm_up(tmp_path,
                                                                              host_with):
    host_with(1)
    cell = feasibility.CellFeasibility(tmp_path, "tcg/cached/launch/m512", 3, 512, warmup=1)
    assert cell.memory_deferred and not any(p.startswith("memory") for p in cell.problems())
    assert cell.problem_before(0) is None  # the warm-up launches one appliance
    cell.record([None, 400.0, 420.0])  # what the warm-up measured
    assert cell.problem_before(1).startswith("memory: 3 x 525 MiB (measured 420 + 25% margin)")
    assert cell.problem_before(2) is None  # checked once, before the first measured repetition


def test_a_cell_of_a_kind_measured_before_checks_memory_before_anything_launches(tmp_path,
                                                                                 host_with):
    host_with(1)
    feasibility.record_footprint(tmp_path, "tcg/cached/launch/m512", 400.0)
    cell = feasibility.CellFeasibility(tmp_path, "tcg/cached/launch/m512", 3, 512, warmup=1)
    assert not cell.memory_deferred
    assert cell.problems()[0].startswith("memory: 3 x 500 MiB (measured 400 + 25% margin)")
    assert cell.problem_before(1) is None


def test_a_repetition_without_measured_costs_records_nothing(tmp_path):
    cell = feasibility.CellFeasibility(tmp_path, "tcg/cached/launch/m512", 1, 512, warmup=0)
    cell.record([None])
    assert feasibility.measured_footprint(tmp_path, "tcg/cached/launch/m512") is None


def test_most_that_fit_charges_appliances_as_the_check_does(host_with):
    host_with(23_000)
    most = feasibility.most_that_fit(512, 430.0)  # 537.5 MiB each
    assert most == 42
    assert feasibility.memory_problem(most, 512, 430.0) is None
    assert feasibility.memory_problem(most + 1, 512, 430.0) is not None
    assert feasibility.most_that_fit(512, None) == 23_000 // 812
