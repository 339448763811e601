"""The guide's `guestfish --ro -d GuestName -i exit`: lgbench-images defines libvirt domains
over a built image (raw, and a qcow2 overlay), workload.domain inspects them on the direct and
libvirt backends, and undefine removes them; an unknown domain is an error row."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from helpers import lgbench as cli

pytestmark = [pytest.mark.appliance, pytest.mark.host]

RAW, QCOW2 = "lgbench-linux-lvm-raw", "lgbench-linux-lvm-qcow2"


def images(images_dir: Path, cache: Path, *args: str) -> subprocess.CompletedProcess:
    return cli.lgbench(*args, "--images-dir", str(images_dir), cache=cache,
                       program=cli.LGBENCH_IMAGES, timeout=900)


def defined(name: str) -> bool:
    return subprocess.run(["virsh", "-c", "qemu:///system", "dominfo", name],
                          capture_output=True).returncode == 0


@pytest.fixture
def domains(guest_images: Path, shared_cache: Path):
    made = []
    try:
        for fmt in ("raw", "qcow2"):
            result = images(guest_images, shared_cache, "define", "linux-lvm", "--format", fmt)
            assert result.returncode == 0, result.stderr[-3000:]
            made.append(result.stdout.strip())
        yield made
    finally:
        for name in made:
            images(guest_images, shared_cache, "undefine", name)


def test_domains_are_inspected_by_name_on_direct_and_libvirt(tmp_path, guest_images,
                                                             shared_cache, domains):
    assert domains == [RAW, QCOW2] and all(defined(name) for name in domains)
    # Each backend and each format once, as `guestfish --ro -d NAME` would open them.
    pairs = (("tcg", RAW), ("libvirt", QCOW2))
    for backend, name in pairs:
        result = cli.lgbench(f"backend={backend}", f"workload.domain={name}",
                             "workload=inspect", "runs=1", "warmup=0", "probe_timeout_s=10",
                             f"paths.images_dir={guest_images}",
                             f"hydra.run.dir={tmp_path / backend}", cache=shared_cache,
                             timeout=1200)
        assert result.returncode == 0, result.stderr[-3000:]
    trials = pd.concat(pd.read_parquet(path) for path in tmp_path.glob("*/trials.parquet"))
    assert (trials["status"] == "ok").all(), trials[["cell", "error"]]
    assert sorted(zip(trials["backend"], trials["image"], strict=True)) == sorted(
        (backend, f"domain {name}") for backend, name in pairs)
    assert set(trials["distro"]) == {"debian"} and (trials["inspect_s"] > 0).all()
    # Undefining removes the domain, its overlay, and refuses what lgbench did not define.
    for name in domains:
        assert images(guest_images, shared_cache, "undefine", name).returncode == 0
        assert not defined(name)
    assert not (guest_images / "domains" / f"{QCOW2}.qcow2").exists()
    refused = images(guest_images, shared_cache, "undefine", "not-lgbench-guest")
    assert refused.returncode == 2 and "no domain of lgbench's called" in refused.stderr


def test_an_unknown_domain_is_an_error_row_naming_it(tmp_path, guest_images, shared_cache):
    result = cli.lgbench("backend=tcg", "workload=inspect", "workload.domain=lgbench-no-such",
                         "runs=1", "warmup=0", "probe_timeout_s=10",
                         f"paths.images_dir={guest_images}", f"hydra.run.dir={tmp_path}",
                         cache=shared_cache, timeout=600)
    assert result.returncode == 3, result.stderr[-3000:]
    (row,) = pd.read_parquet(tmp_path / "trials.parquet").to_dict("records")
    assert row["status"] == "error" and "lgbench-no-such" in row["error"]
    # No launch began: nothing for libguestfs-test-tool to diagnose (it would take 20 s).
    assert row["failed_in"] == "drives"
    assert "test_tool" not in json.loads((tmp_path / "metadata.json").read_text())
