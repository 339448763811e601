"""A real Debian 12 minbase by debootstrap from the machine's apt mirror, copied into one ext4
partition; the debootstrap tarball is kept for rebuilds."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import Any

from harness.host import processes, trust
from harness.workloads.guests.apt_sources import apt_mirror
from harness.workloads.guests.disk import Log, MiB, attached_disk, digest, partition, sources_dir

DEBIAN = {"suite": "bookworm", "variant": "minbase", "disk_mib": 1024,
          "hostname": "lgbench-debian", "version": 1}


def _debian_source() -> dict[str, Any]:
    """What the debootstrap tree depends on."""
    return {"suite": DEBIAN["suite"], "variant": DEBIAN["variant"],
            "mirror": apt_mirror(DEBIAN["suite"])}


def inputs() -> dict[str, Any]:
    return {**DEBIAN, **_debian_source()}


def _run_logged(command: list[str], progress: Log) -> None:
    """Run a command in its own process group, reporting the first of each kind of output line
    (debootstrap's `I: <verb> ...`); the group is killed on return or interruption."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True, stdin=subprocess.DEVNULL)
    tail: list[str] = []
    seen: set[str] = set()
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip()
            tail = [*tail[-9:], line]
            verb = line.split()[1] if line.startswith("I: ") and len(line.split()) > 1 else None
            if verb and verb not in seen:
                seen.add(verb)
                progress(f"{command[0]}: {line[3:]}")
        proc.wait()
    finally:
        processes.kill_group(proc.pid)
        proc.wait()
    if proc.returncode != 0:
        last = next((line for line in reversed(tail) if line.strip()), "no output")
        raise RuntimeError(f"{command[0]} failed (exit {proc.returncode}): {last}")


def _remove_tree(tree: Path) -> None:
    """Delete a chroot tree, first detaching anything debootstrap left mounted in it."""
    mounts = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        point = line.split()[1].encode().decode("unicode_escape")
        if point == str(tree) or point.startswith(f"{tree}/"):
            mounts.append(point)
    for point in sorted(mounts, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)
    trust.remove_tree(tree, ignore_errors=True)


def debootstrap_tarball(images_dir: Path, progress: Log) -> Path:
    """A tar of a debootstrapped tree, made once and kept for rebuilds."""
    source = _debian_source()
    tarball = (sources_dir("debian", images_dir)
               / f"{source['suite']}-{source['variant']}-{digest(source)}.tar")
    trust.secure_folder(tarball.parent)
    if trust.trusted_file(tarball):
        progress(f"reusing {tarball}")
        return tarball
    tree = Path(tempfile.mkdtemp(prefix=".debootstrap-", dir=tarball.parent))
    try:
        progress(f"debootstrap --variant={source['variant']} {source['suite']} "
                 f"from {source['mirror']} (minutes)")
        _run_logged(["debootstrap", f"--variant={source['variant']}", source["suite"],
                     str(tree), source["mirror"]], progress)
        progress("packing the tree")
        trust.atomic_write(tarball, lambda part: _run_logged(
            ["tar", "--numeric-owner", "--exclude=./var/cache/apt/archives/*.deb",
             "-C", str(tree), "-cf", part, "."], progress))
    finally:
        _remove_tree(tree)
    return tarball


def make(target: Path, images_dir: Path, progress: Log, accel: str) -> None:
    tarball = debootstrap_tarball(images_dir, progress)
    hostname = DEBIAN["hostname"]
    with attached_disk(target, DEBIAN["disk_mib"] * MiB, accel, progress) as g:
        (root,) = partition(g, [DEBIAN["disk_mib"]])
        g.mkfs("ext4", root, label="root")
        g.mount(root, "/")
        progress(f"copying the tree in ({tarball.stat().st_size // MiB} MiB)")
        g.tar_in(str(tarball), "/")
        g.write("/etc/fstab", f"UUID={g.vfs_uuid(root)} / ext4 errors=remount-ro 0 1\n")
        g.write("/etc/hostname", hostname + "\n")
        g.write("/etc/hosts", f"127.0.0.1\tlocalhost\n127.0.1.1\t{hostname}\n")
