"""The inspection baseline and several guests per appliance, on real appliances (TCG here)."""

from __future__ import annotations

import random
import subprocess
from functools import partial
from pathlib import Path

import pandas as pd
import pytest
from helpers import lgbench as cli
from helpers.matrix import record_fault

pytestmark = pytest.mark.appliance


@pytest.fixture
def lgbench(tmp_path: Path, guest_images: Path, shared_cache: Path):
    """`lgbench(*args)` into tmp_path/run with the session's images and cache -> (result, dir)."""
    return partial(_lgbench, tmp_path, guest_images, shared_cache)


def _lgbench(tmp: Path, images: Path, cache: Path, *args: str
             ) -> tuple[subprocess.CompletedProcess, Path]:
    run_dir = tmp / "run"
    result = cli.lgbench(*args, "probe_timeout_s=10", f"paths.images_dir={images}",
                         f"hydra.run.dir={run_dir}", cache=cache, timeout=900)
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    return result, run_dir


def measured(run_dir: Path) -> pd.DataFrame:
    trials = pd.read_parquet(run_dir / "trials.parquet")
    return trials[~trials["warmup"]]


def test_the_inspection_baseline_times_each_step_and_caches(tmp_path, lgbench):
    """The warm-up inspects (a cache miss, every step timed); the measured trial reuses it."""
    result, run_dir = lgbench("backend=tcg", "workload=inspect_cached",
                              "workload.image=linux-lvm", "runs=1", "warmup=1")
    assert result.returncode == 0, result.stderr[-3000:]
    trials = pd.read_parquet(run_dir / "trials.parquet")
    assert list(trials["status"]) == ["ok", "ok"], trials["error"].tolist()
    miss, hit = trials.sort_values("repetition").to_dict("records")
    assert miss["os_type"] == "linux" and miss["distro"] == "debian"
    steps = ("launch_s", "inspect_s", "mount_s", "applications_s", "icon_s", "umount_s")
    assert all(miss[step] > 0 for step in steps), miss
    # Every step happened inside the trial: their sum is less than the trial's total.
    assert sum(miss[step] for step in steps) < miss["total_s"]
    assert miss["applications"] > 0 and miss["icon_bytes"] > 0
    assert miss["filesystems_mounted"] >= 3 and not miss["cache_hit"]
    assert hit["cache_hit"] and pd.isna(hit["inspect_s"]) and pd.isna(hit["applications_s"])
    assert hit["distro"] == miss["distro"] and hit["applications"] == miss["applications"]
    assert hit["mount_s"] > 0  # the filesystems are still mounted, from the cached layout
    report = (run_dir / "report.md").read_text()
    assert "## Inspection" in report
    assert "the performance guide's \"≤ 5 seconds greater\"" in report
    assert "a hit saves" in report


def test_a_disk_with_a_random_partition_table_and_no_os_is_an_error_row_saying_what_it_holds(
        tmp_path, lgbench):
    """Partitions of random sizes and types (seeded), none with a filesystem."""
    rng = random.Random(7)
    count = rng.randint(2, 4)
    table = "label: dos\n" + "".join(f",{rng.randint(2, 12)}MiB,{rng.choice(['83', '7', 'b'])}\n"
                                     for _ in range(count))
    disk = tmp_path / "random.img"
    with open(disk, "wb") as f:
        f.truncate(64 * 2**20)
    subprocess.run(["sfdisk", "--quiet", str(disk)], input=table, text=True, check=True)
    result, run_dir = lgbench("backend=tcg", "workload=inspect",
                              f"workload.image={disk}", "runs=1", "warmup=0")
    assert result.returncode == 3, result.stderr[-3000:]  # no ok trial
    (row,) = pd.read_parquet(run_dir / "trials.parquet").to_dict("records")
    partitions = ", ".join(f"/dev/sda{i}" for i in range(1, count + 1))
    record_fault(f"inspect a raw disk with a random partition table ({count} partitions, no "
                 "filesystem)", f"{row['status']} row: {row['error']}", tmp=tmp_path)
    assert row["status"] == "error" and row["error"] == (
        f"no operating system found in {disk}: {count} partition(s) ({partitions}), "
        "filesystems: none")
    assert row["launch_s"] > 0 and row["inspect_s"] > 0


@pytest.mark.parametrize("mode", ["shared", "separate"])
def test_two_cloned_guests_in_one_appliance_or_one_each(tmp_path, lgbench, mode):
    result, run_dir = lgbench("backend=tcg", "workload=multi_guest",
                              "workload.images=[linux-lvm]", "workload.guests=2",
                              f"workload.mode={mode}", "runs=1", "warmup=0")
    assert result.returncode == 0, result.stderr[-3000:]
    (row,) = pd.read_parquet(run_dir / "trials.parquet").to_dict("records")
    assert row["status"] == "ok", row["error"]
    assert row["guests_found"] == 2 and row["clones"] == 1
    # In one appliance the clone's /boot, named by UUID in fstab, resolves to the first disk,
    # and the duplicate volume groups are found only with LVM filtered to each disk.
    why = {k: row[k] for k in ("rescanned", "misattributed")}
    assert (row["misattributed_mounts"] > 0) == (mode == "shared"), why
    assert row["filtered_rescans"] == (2 if mode == "shared" else 0), why
    assert "per guest" in (run_dir / "report.md").read_text()


