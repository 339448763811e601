"""Upload and download through the appliance, verified by SHA-256 both ways.

guestfs-performance(1): uploads and downloads are "as much as 10 times slower" on UML (an
emulated serial port) than on KVM (virtio-serial). One row per size: upload_s, download_s,
their MiB/s, and sha_ok; a mismatch is an `error` row, so data is never silently wrong.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from harness.host import trust
from harness.results.records import STATUS_ERROR
from harness.workloads.base import OpenHandle, Timer, Workload

MiB = 2**20
# ext4 metadata and journal on the scratch disk, beyond the largest file.
FILESYSTEM_SLACK = 128 * MiB


def payload(size: int, seed: int) -> bytes:
    """Deterministic pseudo-random bytes: the same size and seed give the same data."""
    return np.random.default_rng([seed, size]).bytes(size)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(4 * MiB):
            digest.update(chunk)
    return digest.hexdigest()


class TransferWorkload(Workload):
    timed_columns = ("upload_s", "download_s")

    def __init__(self, name: str, sizes: list[int], seed: int = 0) -> None:
        super().__init__(name)
        if not sizes or min(sizes) <= 0:
            raise ValueError(f"workload.sizes must be positive byte counts (got {sizes})")
        twice = sorted({s for s in sizes if list(sizes).count(s) > 1})
        if twice:  # one payload per size, uploaded then gone: a size is measured once a trial
            raise ValueError(f"workload.sizes lists {', '.join(map(str, twice))} more than once "
                             f"(got {list(sizes)}): each size is measured once per trial; for "
                             "more samples raise runs")
        self.sizes = [int(s) for s in sizes]
        self.seed = seed
        self.expected: dict[int, str] = {}  # sha256 of each payload, set by prepare()

    def disk_bytes(self) -> int:
        return int(max(self.sizes) * 1.1) + FILESYSTEM_SLACK

    def problems(self, scratch_dir: str, instances: int) -> list[str]:
        # Per instance: the scratch disk filling up, every payload file, one downloaded copy.
        per_instance = self.disk_bytes() + sum(self.sizes) + max(self.sizes)
        free = shutil.disk_usage(scratch_dir).free
        if instances * per_instance > free:
            return [f"disk: {instances} x {per_instance / MiB:.0f} MiB needed in {scratch_dir}, "
                    f"{free / MiB:.0f} MiB free"]
        return []

    def prepare(self, host_dir: Path) -> None:
        """Write and hash the payloads before the timed trial starts."""
        for size in self.sizes:
            source = host_dir / f"up-{size}"
            trust.write_bytes(source, payload(size, self.seed))
            self.expected[size] = sha256_file(source)

    def add_drives(self, handle: Any) -> None:
        handle.add_drive_scratch(self.disk_bytes())

    def run(self, handle: Any, open_handle: OpenHandle) -> list[dict[str, Any]]:
        device = handle.list_devices()[0]
        handle.mkfs("ext4", device)
        handle.mount(device, "/")
        host_dir = Path(handle.get_tmpdir())
        return [self._transfer(handle, size, host_dir) for size in self.sizes]

    def _transfer(self, handle: Any, size: int, host_dir: Path) -> dict[str, Any]:
        source, copy = host_dir / f"up-{size}", host_dir / f"down-{size}"
        expected = self.expected[size]
        with Timer() as up:
            handle.upload(str(source), "/payload")
        in_guest = handle.checksum("sha256", "/payload")
        with Timer() as down:
            handle.download("/payload", str(copy))
        returned = sha256_file(copy)
        handle.rm("/payload")
        trust.remove(source)
        trust.remove(copy)
        row: dict[str, Any] = {
            "size_bytes": size, "upload_s": up.seconds, "download_s": down.seconds,
            # When each transfer ran, to line up parallel instances (aggregate bandwidth).
            "upload_start": up.start, "upload_end": up.end,
            "download_start": down.start, "download_end": down.end,
            "upload_mib_s": size / MiB / up.seconds, "download_mib_s": size / MiB / down.seconds,
            "sha_ok": in_guest == expected and returned == expected}
        if in_guest != expected:
            row.update(status=STATUS_ERROR, error=f"upload of {size} bytes corrupted: guest "
                                                  f"sha256 {in_guest} != {expected}")
        elif returned != expected:
            row.update(status=STATUS_ERROR, error=f"download of {size} bytes corrupted: host "
                                                  f"sha256 {returned} != {expected}")
        return row
