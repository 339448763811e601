"""workload=operations without an appliance: input checks, guestfish's environment, the
remote operation's commands, and the row each strategy makes."""

import re
from pathlib import Path

import pytest
from helpers.lgbench import run_in_process_in

from harness.workloads.base import WorkloadError
from harness.workloads.operations import (
    OperationsWorkload,
    _remote_operation,
    guestfish_environment,
    operation_commands,
)


def workload(strategy="one_handle", count=4):
    return OperationsWorkload("operations", "linux-lvm", "/nonexistent", strategy, count)


@pytest.mark.parametrize("strategy, count, message", [
    ("fastest", 4, "workload.strategy must be one of one_handle, handle_per_operation"),
    ("one_handle", 0, "workload.count must be at least 1 (got 0)")])
def test_bad_strategy_or_count_is_one_clear_error(strategy, count, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        workload(strategy, count)


def test_only_guestfish_strategies_launch_their_own_appliances():
    assert not workload("one_handle").launches_own_appliances
    assert not workload("handle_per_operation").launches_own_appliances
    assert workload("guestfish_listen").launches_own_appliances
    assert workload("guestfish_per_operation").launches_own_appliances


class ConfiguredHandle:
    """The getters guestfish_environment reads, as a configured guestfs handle answers them."""

    def __init__(self, smp=1, append=None):
        self.smp, self.append = smp, append

    def get_smp(self):
        return self.smp

    def get_backend(self):
        return "direct"

    def get_backend_settings(self):
        return ["force_tcg", "x=1"]

    def get_memsize(self):
        return 512

    def get_tmpdir(self):
        return "/tmp/instance"

    def get_cachedir(self):
        return "/cache/appliance"

    def get_path(self):
        return "/usr/lib/guestfs"

    def get_hv(self):
        return "/usr/bin/qemu-system-x86_64"

    def get_append(self):
        return self.append


def test_guestfish_gets_the_handles_settings():
    env = guestfish_environment(ConfiguredHandle(append="quiet"))
    assert env["LIBGUESTFS_BACKEND"] == "direct"
    assert env["LIBGUESTFS_BACKEND_SETTINGS"] == "force_tcg:x=1"
    assert env["LIBGUESTFS_MEMSIZE"] == "512"
    assert env["LIBGUESTFS_TMPDIR"] == "/tmp/instance"
    assert env["LIBGUESTFS_CACHEDIR"] == "/cache/appliance"
    assert env["LIBGUESTFS_PATH"] == "/usr/lib/guestfs"
    assert env["LIBGUESTFS_HV"] == "/usr/bin/qemu-system-x86_64"
    assert env["LIBGUESTFS_APPEND"] == "quiet"
    assert "LIBGUESTFS_APPEND" not in guestfish_environment(ConfiguredHandle())


def test_guestfish_strategies_refuse_smp_above_one():
    with pytest.raises(WorkloadError, match="need smp=1"):
        guestfish_environment(ConfiguredHandle(smp=2))


def test_a_remote_operation_mounts_what_inspection_found_shortest_first():
    sent = []
    answers = {"inspect-os": "/dev/vg/root\n",
               "inspect-get-mountpoints": "/boot: /dev/sda1\n/: /dev/vg/root\n",
               "checksum": "abc123\n"}

    def remote(*args):
        sent.append(args)
        return answers.get(args[0], "")

    assert _remote_operation(remote, Path("/tmp/i")) == "abc123"
    assert sent[:4] == [("inspect-os",), ("inspect-get-mountpoints", "/dev/vg/root"),
                        ("mount", "/dev/vg/root", "/"), ("mount", "/dev/sda1", "/boot")]
    assert [tuple(c) for c in operation_commands(Path("/tmp/i"))] == sent[4:]


def test_a_remote_operation_without_an_os_is_an_error():
    with pytest.raises(WorkloadError, match="no operating system found"):
        _remote_operation(lambda *args: "", Path("/tmp/i"))


@pytest.mark.parametrize("strategy, launches", [
    ("one_handle", 1), ("handle_per_operation", 3), ("guestfish_listen", 1),
    ("guestfish_per_operation", 3)])
def test_the_row_counts_launches_and_times(strategy, launches):
    chosen = workload(strategy, 3)
    chosen.expected = "good"
    row = chosen._row([4.0, 1.0, 1.0], {"checksum": "good"})
    assert row["launches"] == launches
    assert (row["operations_s"], row["per_operation_s"], row["first_operation_s"]) == (
        6.0, 2.0, 4.0)
    assert row["operation_times_s"] == "4.0000,1.0000,1.0000"
    assert "status" not in row


def test_a_wrong_checksum_is_an_error_row():
    chosen = workload()
    chosen.expected = "good"
    row = chosen._row([1.0], {"checksum": "bad"})
    assert row["status"] == "error" and "'bad'" in row["error"]


@pytest.mark.parametrize("args, message", [
    (("workload=operations", "workload.strategy=fastest"), "workload.strategy must be one of"),
    (("workload=operations", "workload.count=0"), "workload.count must be at least 1"),
    (("workload=inspect", "workload.image=linux-lvm", "workload.domain=guest"),
     "workload.image (linux-lvm) and workload.domain (guest) are both set")])
def test_bad_workload_settings_are_one_line_before_any_launch(tmp_path, args, message):
    result = run_in_process_in(tmp_path, "backend=fake", *args)
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("lgbench: error: ") and message in line
    assert not (tmp_path / "run" / "trials.parquet").exists()
