"""backend=uml: the qemu->linux.uml translation (fast, nothing boots) and real UML appliances
(marker `appliance`): launch rows, teardown after close and timeout, checksummed transfers
(16 MiB each way, two appliances in parallel), the preload that keeps the channel alive, a
clear error for what UML cannot do, and the settings that measure the shim (the direct
channel) and the devices udev processes (append)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pandas as pd
import psutil
import pytest
from helpers import lgbench as cli

from harness.backends.base import BackendUnavailable
from harness.backends.uml import SHIM, UmlBackend, build_preload, relay, shim

SOCK = "/tmp/libguestfsX/guestfsd.sock"


def cannot_run(reason: str) -> NoReturn:
    """Skip a UML test only where linux.uml is not installed at all; where it is installed, a
    UML test that cannot run means the backend is broken here, which is a failure."""
    if shutil.which("linux.uml") is not None:
        pytest.fail(f"linux.uml is installed, but {reason}")
    pytest.skip(f"linux.uml is not installed ({reason})")


def qemu_argv(*drives: str, extra: tuple[str, ...] = ()) -> list[str]:
    """A qemu command line shaped like libguestfs 1.48's direct backend's."""
    argv = ["-global", "virtio-blk-pci.scsi=off", "-no-user-config", "-nodefaults",
            "-display", "none", "-machine", "accel=tcg", "-m", "1280", "-no-reboot",
            "-kernel", "/a/kernel", "-initrd", "/a/initrd"]
    for drive in drives:
        argv += ["-drive", drive, "-device", "scsi-hd,drive=x"]
    argv += ["-serial", "stdio", "-chardev", f"socket,path={SOCK},id=channel0",
             "-append", "panic=1 console=ttyS0 root=UUID=abc quiet TERM=xterm", *extra]
    return argv


def fake_probe(chain: dict[str, list[dict]], empty: bool = True) -> shim.Probe:
    return shim.Probe(info=lambda path: chain[path], overlay_empty=lambda path: empty)


@pytest.fixture
def images(tmp_path: Path) -> dict[str, str]:
    names = ("disk.img", "root", "overlay.qcow2", "orig.img", "user.qcow2", "a,b.img")
    paths = {name: str(tmp_path / name) for name in names}
    for path in paths.values():
        Path(path).write_bytes(b"\0" * 512)
    return paths


def test_translate_maps_drives_root_memory_console_and_channel(images: dict[str, str]) -> None:
    argv = qemu_argv(f"file={images['disk.img']},cache=writeback,format=raw,id=hd0,if=none",
                     f"file={images['overlay.qcow2']},format=qcow2,id=hd1,if=none",
                     f"file={images['root']},snapshot=on,id=appliance,if=none,format=raw",
                     extra=("-lgbench-workdir", "/w"))
    chain = {images["overlay.qcow2"]: [
        {"format": "qcow2", "full-backing-filename": images["orig.img"]},
        {"format": "raw"}]}
    words = shim.translate(argv, "/w/uml-1", (3, 6), fake_probe(chain))
    assert words[0] == "linux.uml"
    assert "mem=1280M" in words and "noreboot" in words
    assert f"ubd0d={images['disk.img']}" in words
    # Read-only: a COW file on the original; snapshot=on: a COW file. Neither locks the
    # original, which qemu appliances may be reading at the same time.
    assert f"ubd1c=/w/uml-1/ubdb.cow,{images['orig.img']}" in words
    assert f"ubd2c=/w/uml-1/ubdc.cow,{images['root']}" in words
    assert "root=/dev/ubdc" in words and "guestfs_channel=/dev/ttyS0" in words
    assert "con=null" in words and "con0=fd:0,fd:1" in words and "ssl0=fd:3,fd:6" in words
    assert "quiet" in words and "TERM=xterm" in words
    assert not [w for w in words if w in ("console=ttyS0", "root=UUID=abc")]
    assert "uml_dir=/w/uml-1" in words and not [w for w in words if "lgbench" in w]


def test_translate_unescapes_doubled_commas(images: dict[str, str]) -> None:
    escaped = images["a,b.img"].replace(",", ",,")
    argv = qemu_argv(f"file={escaped},format=raw,id=hd0,if=none",
                     f"file={images['root']},snapshot=on,id=appliance,format=raw")
    assert f"ubd0d={images['a,b.img']}" in shim.translate(argv, "/w", (3, 6), fake_probe({}))


def test_translate_probes_unnamed_formats_and_refuses_qcow2(images: dict[str, str]) -> None:
    root = f"file={images['root']},snapshot=on,id=appliance,format=raw"
    qcow = {images["user.qcow2"]: [{"format": "qcow2"}]}
    with pytest.raises(shim.Unsupported, match="qcow2.*raw"):
        shim.translate(qemu_argv(f"file={images['user.qcow2']},id=hd0", root), "/w", (3, 6),
                       fake_probe(qcow))
    # An overlay with data of its own is a real qcow2 disk, not libguestfs's read-only overlay.
    chain = {images["overlay.qcow2"]: [{"format": "qcow2", "backing-filename": "/o"},
                                       {"format": "raw"}]}
    with pytest.raises(shim.Unsupported, match="qcow2"):
        shim.translate(qemu_argv(f"file={images['overlay.qcow2']},format=qcow2", root), "/w",
                       (3, 6), fake_probe(chain, empty=False))
    raw = {images["disk.img"]: [{"format": "raw"}]}
    words = shim.translate(qemu_argv(f"file={images['disk.img']},id=hd0", root), "/w", (3, 6),
                           fake_probe(raw))
    assert f"ubd0d={images['disk.img']}" in words


def test_translate_refuses_more_disks_than_ubd_has(images: dict[str, str]) -> None:
    drives = [f"file={images['disk.img']},format=raw,id=hd{i}" for i in range(16)]
    drives.append(f"file={images['root']},snapshot=on,id=appliance,format=raw")
    with pytest.raises(shim.Unsupported, match="16 UBD devices"):
        shim.translate(qemu_argv(*drives), "/w", (3, 6), fake_probe({}))
    assert UmlBackend("uml").max_disks == 15


def test_translate_refuses_network_drives_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(shim.Unsupported, match="local file"):
        shim.translate(qemu_argv("file.driver=nbd,file.host=h,id=hd0"), "/w", (3, 6))
    with pytest.raises(shim.Unsupported, match="no such file"):
        shim.translate(qemu_argv(f"file={tmp_path}/nope,format=raw"), "/w", (3, 6))


def test_relay_pacing_settings() -> None:
    assert relay.Pacing.parse("") == relay.Pacing(chunk=0, rearm=1)  # unpaced, re-armed
    assert not relay.Pacing.parse("").paced
    assert relay.Pacing.parse("chunk=256,gap_ms=3,rearm=0") == relay.Pacing(
        chunk=256, gap_ms=3.0, rearm=0)
    with pytest.raises(ValueError, match="unknown relay setting"):
        relay.Pacing.parse("speed=9")
    with pytest.raises(ValueError, match="chunk"):
        relay.Pacing.parse("chunk=4000")
    with pytest.raises(ValueError, match="rearm"):
        relay.Pacing.parse("rearm=2")


def test_uml_environment_names_the_fds_to_rearm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(shim.REARM_VARIABLE, "99")
    env = shim.uml_environment("/p.so", (7,))
    assert env["LD_PRELOAD"].startswith("/p.so") and env[shim.REARM_VARIABLE] == "7"
    assert shim.REARM_VARIABLE not in shim.uml_environment("/p.so", ())


# What UML 6.1 does with the channel's input fd, played with ctypes in a plain process that has
# the preload library: activate_fd's ADD, line_throttle's DEL, line_unthrottle's reads.
REARM_SCRIPT = """
import ctypes, os, sys
fd, w = int(sys.argv[1]), int(sys.argv[2])
libc = ctypes.CDLL(None, use_errno=True)
class Ev(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("events", ctypes.c_uint32), ("ptr", ctypes.c_void_p)]
IN, ET, ADD, DEL = 0x1, 1 << 31, 1, 2
entry = ctypes.create_string_buffer(bytes(range(200)))  # UML's irq_entry
ep = libc.epoll_create1(0)
assert libc.epoll_ctl(ep, ADD, fd, ctypes.byref(Ev(IN | ET, ctypes.addressof(entry)))) == 0
out = (Ev * 4)()
def ready():
    return [out[i].ptr for i in range(libc.epoll_wait(ep, out, 4, 0))]
os.write(w, b"a")
shadow = ready()
assert len(shadow) == 1 and shadow[0] != ctypes.addressof(entry), "the shadow is in the set"
assert ctypes.string_at(shadow[0], 200) == bytes(range(200)), "a copy of UML's entry"
assert os.read(fd, 1) == b"a"
assert libc.epoll_ctl(ep, DEL, fd, None) == 0  # throttled
ctypes.memset(entry, 0, 200)  # UML kfree()s its entry
os.write(w, b"bc")
assert ready() == [], "no interrupt while the tty is throttled"
assert os.read(fd, 1) + os.read(fd, 1) == b"bc"  # line_unthrottle reads what is there...
try:
    os.read(fd, 1)
    raise AssertionError("pipe should be empty")
except BlockingIOError:  # ... until EAGAIN: the interrupt is back
    pass
os.write(w, b"d")
assert ready() == shadow, "the read interrupt is armed again, on the shadow"
assert ctypes.string_at(shadow[0], 200) == bytes(range(200))
assert os.read(fd, 1) == b"d"
print("ok")
"""


def test_preload_rearms_the_read_interrupt_after_a_throttle(tmp_path: Path) -> None:
    if not (shutil.which("cc") or shutil.which("gcc")):
        cannot_run("there is no C compiler to build the UML preload library")
    library = build_preload(tmp_path)
    r, w = os.pipe()
    os.set_blocking(r, False)
    try:
        result = subprocess.run(
            [sys.executable, "-c", REARM_SCRIPT, str(r), str(w)], pass_fds=(r, w),
            capture_output=True, text=True, timeout=60,
            env={**os.environ, "LD_PRELOAD": str(library), shim.REARM_VARIABLE: str(r)})
    finally:
        os.close(r)
        os.close(w)
    assert result.stdout.strip() == "ok", result.stderr
    assert "throttled the daemon channel" in result.stderr


def test_shim_is_executable_and_passes_probes_to_qemu() -> None:
    assert os.access(SHIM, os.X_OK), "chmod +x harness/backends/uml/shim.py"
    if not shutil.which("qemu-system-x86_64"):
        cannot_run("qemu-system-x86_64, which answers libguestfs's probes, is not installed")
    result = subprocess.run([str(SHIM), "-version"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and "QEMU emulator" in result.stdout


def test_setup_says_why_uml_cannot_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(BackendUnavailable, match="no-such-linux.*user-mode-linux"):
        UmlBackend("uml", linux="no-such-linux").setup(tmp_path, 1)
    monkeypatch.setattr("harness.backends.uml.noexec_mount", lambda path: True)
    monkeypatch.setattr("shutil.which", lambda name: "/usr/bin/" + name)
    with pytest.raises(BackendUnavailable, match="/dev/shm is mounted noexec"):
        UmlBackend("uml").setup(tmp_path, 1)


# -- real appliances ------------------------------------------------------------------------

def uml_pids() -> set[int]:
    """Living linux.uml processes of lgbench trials or of these tests."""
    return {p.pid for p in psutil.process_iter(["name", "cmdline", "status"])
            if p.info["status"] != psutil.STATUS_ZOMBIE and p.info["name"] == "linux.uml"
            and (cli.names_a_trial(p.info["cmdline"])
                 or any(f"{tempfile.gettempdir()}/lgbench-uml-test-" in a
                        for a in p.info["cmdline"] or ()))}


@pytest.fixture(scope="module")
def cache_dir(shared_cache: Path) -> Path:
    return shared_cache


@pytest.fixture
def backend(cache_dir: Path) -> UmlBackend:
    uml = UmlBackend("uml")
    try:
        uml.setup(cache_dir, 60)
    except BackendUnavailable as exc:
        cannot_run(f"the UML backend cannot start: {exc}")
    return uml


def lgbench(cache_dir: Path, *args: str) -> subprocess.CompletedProcess:
    """lgbench backend=uml on the session's cache, from pytest's folder."""
    return cli.lgbench("backend=uml", *args, cache=cache_dir, timeout=300)


@pytest.mark.appliance
def test_uml_launch_rows_and_nothing_left(cache_dir: Path, tmp_path: Path) -> None:
    result = lgbench(cache_dir, "runs=1", "warmup=1", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 0, result.stderr
    trials = pd.read_parquet(tmp_path / "trials.parquet")
    assert list(trials["warmup"]) == [True, False]
    assert (trials["status"] == "ok").all(), trials[["status", "error"]]
    assert set(trials["accel_effective"]) == {"uml"}
    assert not uml_pids()


@pytest.mark.appliance
def test_uml_timeout_kills_every_uml_process(cache_dir: Path, tmp_path: Path) -> None:
    result = lgbench(cache_dir, "runs=1", "warmup=0", "timeout_s=3", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 3, result.stderr  # no ok trial
    row = pd.read_parquet(tmp_path / "trials.parquet").iloc[0]
    assert row["status"] == "timeout"
    assert not uml_pids()


@pytest.fixture
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="lgbench-uml-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.appliance
def test_uml_transfers_both_ways_with_matching_sha256(backend: UmlBackend, cache_dir: Path,
                                                      workdir: Path) -> None:
    size, piece = 2 << 20, 1 << 20
    g = backend.create_handle(None, 1, workdir, False)
    try:
        g.set_cachedir(str(cache_dir))
        g.add_drive_scratch(size + (16 << 20))
        g.launch()
        assert backend.effective_accel(g, workdir) == "uml"
        # qemu can still open the cached appliance UML runs from, as a qemu appliance would.
        root = next(cache_dir.glob(".guestfs-*/appliance.d/root"))
        opened = subprocess.run(["qemu-io", "-r", "-f", "raw", "-c", "quit", str(root)],
                                capture_output=True, text=True)
        assert opened.returncode == 0, opened.stderr
        device = g.list_devices()[0]
        data = os.urandom(size)
        for offset in range(0, size, piece):  # host -> guest through the paced relay
            g.pwrite_device(device, data[offset:offset + piece], offset)
        back = b"".join(g.pread_device(device, piece, offset) for offset in range(0, size, piece))
        assert hashlib.sha256(back).digest() == hashlib.sha256(data).digest()
        g.download_offset(device, str(workdir / "out"), 0, size)  # a FileOut stream
        assert hashlib.sha256((workdir / "out").read_bytes()).digest() == \
            hashlib.sha256(data).digest()
    finally:
        g.close()
    assert not uml_pids()


@pytest.mark.appliance
def test_uml_refuses_a_qcow2_disk_clearly(backend: UmlBackend, cache_dir: Path,
                                          workdir: Path) -> None:
    disk = workdir / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "16M"], check=True)
    g = backend.create_handle(None, 1, workdir, False)
    messages = []
    import guestfs

    g.set_event_callback(lambda ev, eh, buf, arr: messages.append(buf), guestfs.EVENT_APPLIANCE)
    try:
        g.set_cachedir(str(cache_dir))
        g.add_drive(str(disk), format="qcow2")
        with pytest.raises(RuntimeError):
            g.launch()
    finally:
        g.close()
    text = "".join(m.decode() if isinstance(m, bytes) else m for m in messages)
    assert "unsupported" in text and "qcow2" in text and "raw" in text
    assert not uml_pids()


def uml_gone(wait_s: float = 5.0) -> bool:
    """No linux.uml left, allowing the relay its moment to end UML's helpers after close
    (it does so asynchronously: under parallel load a helper can outlive lgbench briefly)."""
    import time

    deadline = time.monotonic() + wait_s
    while uml_pids():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def sizes_override(sizes: list[int]) -> str:
    return f"workload.sizes=[{','.join(map(str, sizes))}]"


def transfer_rows(tmp_path: Path, result: subprocess.CompletedProcess) -> pd.DataFrame:
    """The run's rows, all ok and verified; a failure shows each row's error (the UML console's
    telling lines: a kernel panic says so) as well as the end of lgbench's stderr."""
    written = tmp_path / "trials.parquet"
    trials = pd.read_parquet(written) if written.exists() else pd.DataFrame()
    errors = trials.get("error", pd.Series(dtype=object)).dropna().tolist()
    assert result.returncode == 0, (result.stderr[-3000:], errors)
    problems = trials[(trials["status"] != "ok") | ~trials["sha_ok"].astype(bool)]
    assert problems.empty, problems[["instance", "size_bytes", "status", "error"]].to_string()
    return trials


@pytest.mark.appliance
def test_uml_transfer_workload_uploads_and_downloads_verified(cache_dir: Path,
                                                             tmp_path: Path) -> None:
    """The acceptance command on two UML appliances at once, each doing several transfers in a
    row, 16 MiB each way among them (FileIn/FileOut streams, SHA-256 both ways): uploads
    larger than the guest tty's 4 KiB used to stall the channel."""
    sizes = [1 << 20, 16 << 20, 3 << 20]
    result = lgbench(cache_dir, "workload=transfer", sizes_override(sizes), "parallel=2",
                     "runs=1", "warmup=0", f"hydra.run.dir={tmp_path}")
    trials = transfer_rows(tmp_path, result)
    assert sorted(trials["size_bytes"]) == sorted(sizes * 2)
    assert set(trials["instance"]) == {0, 1}
    assert (trials["upload_s"] > 0).all() and (trials["download_s"] > 0).all()
    assert uml_gone()


LEAN = "pty.legacy_count=0 con=none ssl=none"


def tty_devices(g) -> int:
    return int(g.debug("sh", ["ls /sys/class/tty | wc -l"]).strip())


@pytest.mark.appliance
def test_the_lean_kernel_words_leave_out_the_ttys_udev_would_process(backend: UmlBackend,
                                                                     cache_dir: Path,
                                                                     workdir: Path) -> None:
    """UML's kernel registers 256 legacy pty pairs and 64 console and 64 serial lines (the
    appliance kernel under qemu has none of the first and 4 serial lines); with LEAN only the
    console, ttyS0 (the channel) and the tty core's own devices are left."""
    g = backend.create_handle(None, 1, workdir, False)
    try:
        g.set_cachedir(str(cache_dir))
        g.set_append(LEAN)
        g.add_drive_ro("/dev/null")
        g.launch()
        assert tty_devices(g) < 10
        assert set(LEAN.split()) <= set(g.debug("sh", ["cat /proc/cmdline"]).split())
    finally:
        g.close()
    assert uml_gone()


@pytest.mark.appliance
def test_a_direct_channel_launches_and_answers_calls_without_the_relay(cache_dir: Path,
                                                                      tmp_path: Path) -> None:
    """The shim's cost is measured against this channel: launch, then small calls over it."""
    result = lgbench(cache_dir, "backend.relay=direct", f"append='{LEAN}'", "workload=calls",
                     "workload.count=20", "runs=1", "warmup=0", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    (row,) = pd.read_parquet(tmp_path / "trials.parquet").to_dict("records")
    assert row["status"] == "ok", row["error"]
    assert (row["uml_channel"], row["append"], row["calls"]) == ("direct", LEAN, 20)
    assert 0 < row["call_s"] < 1.0 and row["calls_s"] < row["total_s"]  # a call: ~65 ms
    assert row["cell"].endswith("/channel-direct/append[pty.legacy_count=0,con=none,ssl=none]")
    assert uml_gone()


@pytest.mark.appliance
def test_a_tiny_search_over_uml_settings_measures_what_it_returns(cache_dir: Path,
                                                                 tmp_path: Path) -> None:
    """experiment=tune_launch_uml with two real cells (the channel searched, the rest fixed):
    each cell ran with the channel it was given, and the best printed is the faster one."""
    result = lgbench(cache_dir, "experiment=tune_launch_uml", f"append='{LEAN}'", "memsize=512",
                     "appliance=cached", "runs=1", "warmup=0", "hydra.sweeper.n_trials=2",
                     f"hydra.sweep.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    trials = pd.read_parquet(tmp_path / "trials.parquet")
    assert set(trials["status"]) == {"ok"} and len(trials) == 2
    assert all(("/channel-direct" in row.cell) == (row.uml_channel == "direct")
               for row in trials.itertuples())
    best = trials.loc[trials["total_s"].idxmin()]
    said = result.stdout.split("measure it again with:")[1]
    assert f"median total_s {best['total_s']:.3f} s" in result.stdout
    assert ("backend.relay=direct" in said) == (best["uml_channel"] == "direct")
    assert uml_gone()
