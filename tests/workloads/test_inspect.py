"""Inspection workloads without an appliance: image checks, the inspection cache, the report."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from helpers.matrix import record_fault

from harness.workloads.base import WorkloadError
from harness.workloads.guests import inspection_cache
from harness.workloads.inspect import InspectWorkload, find_image
from harness.workloads.multi_guest import MultiGuestWorkload, disk_of


def test_a_missing_image_is_named_with_the_recipes(tmp_path):
    with pytest.raises(WorkloadError, match=r"/nonexistent: no such file.*linux-lvm"):
        find_image("/nonexistent", tmp_path)


def test_an_empty_file_is_not_a_disk_image(tmp_path):
    (tmp_path / "empty.img").touch()
    with pytest.raises(WorkloadError, match="empty file"):
        find_image(str(tmp_path / "empty.img"), tmp_path)


def test_a_directory_is_not_a_disk_image(tmp_path):
    with pytest.raises(WorkloadError, match="not a file"):
        find_image(str(tmp_path), tmp_path)


def test_an_image_qemu_cannot_open_is_explained(tmp_path):
    image = tmp_path / "orphan.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-u", "-f", "qcow2", "-F", "raw", "-b",
                    str(tmp_path / "gone.raw"), str(image), "1M"], check=True)
    with pytest.raises(WorkloadError, match="qemu-img cannot read it"):
        find_image(str(image), tmp_path)


def test_a_raw_file_is_found_with_its_format(tmp_path):
    image = tmp_path / "disk.img"
    image.write_bytes(b"\0" * 4096)
    assert find_image(str(image), tmp_path) == (image, "raw")


def test_a_qcow2_named_img_is_opened_as_qcow2(tmp_path):
    """The format comes from the bytes, never the name: a qcow2 read as raw would show its
    header as the guest's disk."""
    image = tmp_path / "disk.img"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(image), "1M"], check=True)
    assert find_image(str(image), tmp_path) == (image, "qcow2")


def test_a_device_node_that_is_no_disk_is_refused():
    with pytest.raises(WorkloadError, match="/dev/null: not a file or block device"):
        find_image("/dev/null", Path("/nonexistent"))


def test_an_image_its_reader_may_not_read_is_refused_with_the_reason():
    """Root reads any file, so this is the case of a user without root: qemu-img's own
    "Permission denied" must reach the row, not a guess or a traceback."""
    folder = Path(tempfile.mkdtemp(prefix="lgbench-unreadable-", dir="/var/tmp"))
    try:
        folder.chmod(0o755)
        image = folder / "disk.img"
        image.write_bytes(b"\0" * 4096)
        image.chmod(0o000)
        probe = (f"from pathlib import Path\nfrom harness.workloads.inspect import find_image\n"
                 f"find_image({str(image)!r}, Path('/nonexistent'))")
        result = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup",
                                 "--clear-groups", sys.executable, "-c", probe],
                                capture_output=True, text=True)
        assert result.returncode != 0
        assert "qemu-img cannot read it" in result.stderr
        assert "Permission denied" in result.stderr
        record_fault("an image without read permission, inspected by a user without root",
                     result.stderr.strip().splitlines()[-1].replace(str(folder), "<tmp>"))
    finally:
        shutil.rmtree(folder)


def test_the_identity_changes_when_the_image_is_written(tmp_path):
    image = tmp_path / "disk.img"
    image.write_bytes(b"a" * 1000)
    first = inspection_cache.image_identity(image)
    assert inspection_cache.image_identity(image) == first
    image.write_bytes(b"b" * 1000)
    os.utime(image, ns=(0, 0))  # same size, and even an older mtime: the content tells
    assert inspection_cache.image_identity(image) != first


def test_cached_results_come_back(tmp_path):
    assert inspection_cache.load(tmp_path, "abc") is None
    inspection_cache.save(tmp_path / "c", "abc", {"distro": "debian", "mountpoints": [["/", "x"]]})
    assert inspection_cache.load(tmp_path / "c", "abc")["distro"] == "debian"
    assert list((tmp_path / "c").iterdir()) == [tmp_path / "c" / "abc.json"]


def test_cells_are_told_apart_by_image_and_flags(tmp_path):
    image = tmp_path / "x" / "guest.img"
    image.parent.mkdir()
    image.write_bytes(b"\0" * 4096)
    plain = InspectWorkload("inspect", "linux-lvm", str(tmp_path), str(tmp_path))
    full = InspectWorkload("inspect", str(image), str(tmp_path), str(tmp_path),
                           applications=True, icon=True, cache=True)
    assert plain.variant() == "linux-lvm"
    assert full.variant() == "guest.img+apps+icon+cache"


def test_a_repeated_image_makes_clones(tmp_path):
    a, b = tmp_path / "a.img", tmp_path / "b.img"
    for image in (a, b):
        image.write_bytes(b"\0" * 4096)
    workload = MultiGuestWorkload("multi_guest", [str(a), str(b)], 5, "shared", str(tmp_path))
    workload.setup("tcg")
    assert [path for path, _ in workload.disks] == [a, b, a, b, a]
    assert workload.clones() == 3
    assert workload.variant() == "shared+k5+a.img+b.img"


@pytest.mark.parametrize(("kwargs", "words"), [({"mode": "both"}, "workload.mode"),
                                               ({"guests": 0}, "at least 1")])
def test_bad_multi_guest_settings_are_refused(tmp_path, kwargs, words):
    settings = {"images": ["linux-lvm"], "guests": 2, "mode": "shared", **kwargs}
    with pytest.raises(ValueError, match=words):
        MultiGuestWorkload("multi_guest", images_dir=str(tmp_path), **settings)


def test_a_broken_image_gives_error_rows_not_tracebacks(run_lgbench, tmp_path):
    image = tmp_path / "empty.img"
    image.touch()
    result = run_lgbench("backend=fake", "workload=inspect", f"workload.image={image}",
                         "runs=2", "warmup=1")
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    trials = pd.read_parquet(tmp_path / "run" / "trials.parquet")
    assert list(trials["status"]) == ["error"] * 3
    assert trials["error"].str.contains("empty file").all()


@pytest.mark.parametrize("workload", ["inspect", "operations"])
def test_a_missing_image_path_is_refused_before_anything_runs(run_lgbench, tmp_path, workload):
    result = run_lgbench("backend=fake", f"workload={workload}",
                         "workload.image=/nonexistent/disk.img", "runs=2")
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == ("lgbench: error: workload.image: no such file: "
                                     "/nonexistent/disk.img (nor a recipe: debian, linux-lvm, "
                                     "no-os, two-os)")
    assert not (tmp_path / "run").exists()


class OneDiskLvm:
    """The guestfs calls disk_of makes, for a one-disk appliance whose volume group lgbench
    sits on /dev/sda2 while LVM's listing names /dev/sdb2 (as it did once in CI)."""

    def list_devices(self):
        return ["/dev/sda"]

    def list_partitions(self):
        return ["/dev/sda1", "/dev/sda2"]

    def part_to_dev(self, partition):
        return partition[:-1]

    def lvm_canonical_lv_name(self, lv):
        return "/dev/lgbench/root"

    def vgpvuuids(self, group):
        return ["abc-def"]

    def pvs_full(self):
        return [{"pv_name": "/dev/sdb2", "pv_uuid": b"abcdef"}]

    def pvuuid(self, device):
        if device != "/dev/sda2":
            raise RuntimeError(f"{device}: not a physical volume")
        return "abc-def"


def test_a_logical_volume_on_a_device_lvm_misnames_is_found_on_its_real_disk():
    assert disk_of(OneDiskLvm(), "/dev/lgbench/root") == "/dev/sda"


def test_a_volume_group_on_no_disk_of_the_appliance_is_an_error_naming_it():
    handle = OneDiskLvm()
    handle.vgpvuuids = lambda group: ["other"]
    handle.pvs_full = lambda: [{"pv_name": "/dev/sdb2", "pv_uuid": "other"}]
    with pytest.raises(RuntimeError, match="volume group lgbench.*/dev/sdb2"):
        disk_of(handle, "/dev/lgbench/root")
