"""workload=operations on real appliances (TCG here): each strategy at M=2 in one sweep, and
the guestfish processes ended with a trial that times out. The guest is the debootstrapped
Debian (one ext4 root: an operation takes about 6.5 s under TCG where linux-lvm's five
filesystems take 12 s), built once by tests/workloads/test_guests.py, which runs first on the
same worker (xdist group `debian`)."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import psutil
import pytest
from helpers import lgbench as cli

pytestmark = [pytest.mark.appliance, pytest.mark.xdist_group("debian")]


def lgbench(tmp: Path, images: Path, cache: Path, *args: str):
    return cli.lgbench(*args, "backend=tcg", "workload=operations", "workload.image=debian",
                       "workload.count=2", "runs=1", "warmup=0", "probe_timeout_s=10",
                       f"paths.images_dir={images}",
                       cache=cache, timeout=1200)


def guestfish_pids() -> set[int]:
    """Living guestfish processes of lgbench trials (their argv names a trial folder)."""
    return {p.pid for p in psutil.process_iter(["name", "cmdline", "status"])
            if p.info["status"] != psutil.STATUS_ZOMBIE and p.info["name"] == "guestfish"
            and cli.names_a_trial(p.info["cmdline"])}


def test_every_strategy_does_m_operations_with_its_own_launches(tmp_path, guest_images,
                                                                shared_cache):
    result = lgbench(tmp_path, guest_images, shared_cache, "-m",
                     "workload.strategy=one_handle,handle_per_operation,guestfish_listen,"
                     "guestfish_per_operation", f"hydra.sweep.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    trials = pd.concat(pd.read_parquet(tmp_path / str(i) / "trials.parquet") for i in range(4))
    assert (trials["status"] == "ok").all(), trials[["strategy", "error"]]
    rows = trials.set_index("strategy")
    assert rows["launches"].to_dict() == {"one_handle": 1, "handle_per_operation": 2,
                                          "guestfish_listen": 1, "guestfish_per_operation": 2}
    assert set(trials["accel_effective"]) == {"tcg"}  # read from each appliance's qemu
    # The first launch is timed on its own where it can be (runner or listener).
    launch = rows["launch_s"]
    assert (launch.drop("guestfish_per_operation") > 1).all() and pd.isna(
        launch["guestfish_per_operation"])
    for strategy, row in rows.iterrows():
        times = [float(t) for t in row["operation_times_s"].split(",")]
        assert len(times) == 2 and all(t > 0 for t in times), strategy
        assert row["operations_s"] == pytest.approx(sum(times), abs=1e-3)
        assert row["operations_s"] <= row["total_s"], strategy
    # A launch per operation: the second operation costs a launch; with one launch it doesn't.
    second = {strategy: float(rows.loc[strategy, "operation_times_s"].split(",")[1])
              for strategy in ("one_handle", "handle_per_operation")}
    # (Under TCG an operation on this guest takes about 6.5 s, a launch 11 s.)
    assert second["handle_per_operation"] > (second["one_handle"]
                                             + 0.5 * rows.loc["one_handle", "launch_s"])
    report = (tmp_path / "report.md").read_text()
    assert "## Fewer launches" in report and "By far the most effective" in report
    assert set(pd.read_csv(tmp_path / "operations.csv")["strategy"]) == set(rows.index)
    assert not guestfish_pids() and not cli.appliance_pids()


def test_a_listening_guestfish_ends_with_a_trial_that_times_out(tmp_path, guest_images,
                                                                shared_cache):
    start = time.monotonic()
    result = lgbench(tmp_path, guest_images, shared_cache, "workload.strategy=guestfish_listen",
                     "timeout_s=6", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 3, result.stderr[-3000:]  # no ok trial
    (row,) = pd.read_parquet(tmp_path / "trials.parquet").to_dict("records")
    assert row["status"] == "timeout", row["error"]
    assert time.monotonic() - start < 120
    assert not guestfish_pids() and not cli.appliance_pids()
