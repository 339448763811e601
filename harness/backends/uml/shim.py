#!/usr/bin/env python3
"""A qemu-compatible hypervisor for libguestfs's direct backend that runs the appliance under
User-Mode Linux (`set_hv()` points here).

Feature probes (no `-kernel` in argv: `-help`, `-version`, `-device ?`, QMP ...) run the real
qemu. The launch is translated (`translate`, a pure function) into a `linux.uml` command line:
each `-drive` becomes a UBD device (COW overlays for snapshot and read-only drives), the
appliance drive is `root=`, `-m` gives `mem=`, the console goes back to libguestfs on fd 0/1,
and the daemon channel is UML's serial line ttyS0, fed through a relay (relay.py) from the
Unix socket libguestfs listens on (uml_preload.c re-arms its read interrupt, which UML loses
when the guest tty throttles). The shim then execs linux.uml, so libguestfs's pid for the
appliance is UML's; the relay lives on in the same process group.

Standard library only: this runs under the system python3, outside lgbench's venv.
Extra options only lgbench passes (through `guestfs.config`), stripped before anything runs:
  -lgbench-workdir DIR   where COW files and UML's pid/mconsole files go (default: the folder of
                         libguestfs's daemon socket)
  -lgbench-linux PATH    the UML kernel (default: linux.uml on PATH)
  -lgbench-relay K=V,..  daemon channel settings (see relay.Pacing), or `direct`: no relay,
                         UML's ttyS0 reads and writes libguestfs's socket itself, as
                         libguestfs's own UML backend did (ssl3=fd:N), to measure the relay
  -lgbench-preload PATH  uml_preload.c built (setsid, XSAVE, the channel's read interrupt)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field

try:
    from . import relay
except ImportError:  # run as a program, perhaps with PYTHONSAFEPATH (a submitit job): its folder
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import relay  # type: ignore[no-redef]

QEMU = "/usr/bin/qemu-system-x86_64"
QEMU_IMG = "qemu-img"
UBD_MAX = 16  # arch/um/drivers/ubd_kern.c MAX_DEV: ubd0..ubd15 (ubda..ubdp)
# qemu options libguestfs uses that take no value; every other option takes one.
QEMU_FLAGS = {"-no-user-config", "-nodefaults", "-no-reboot", "-no-hpet", "-nographic",
              "-enable-kvm", "-no-acpi", "-no-kvm-pit-reinjection", "-S", "-no-shutdown"}
DROPPED_KERNEL_WORDS = ("root=", "console=")
GUEST_CHANNEL = "/dev/ttyS0"
EXIT_UNSUPPORTED = 3
DIRECT_CHANNEL = "direct"  # -lgbench-relay direct: the socket is UML's channel, no relay
REARM_VARIABLE = "LGBENCH_UML_REARM_FDS"  # read by uml_preload.c
UMID = "m"  # short: uml_dir/umid/mconsole must fit a Unix socket address (108 bytes)
# A drive under a COW file of its own: 'c', no file locks. UML would hold a read lock over the
# whole backing file, which qemu takes as a writer: no qemu appliance could start from the
# same cached appliance while a UML one runs ("Failed to get "consistent read" lock"). The
# backing file is only read; the COW file is this launch's alone.
COW_FLAGS = "c"


class Unsupported(Exception):
    """The launch asks for something UML cannot do; the message says what."""


@dataclass
class Drive:
    """One qemu `-drive`, as far as UML cares."""

    file: str
    format: str | None = None
    snapshot: bool = False
    readonly: bool = False
    id: str | None = None
    options: dict[str, str] = field(default_factory=dict)


@dataclass
class Launch:
    """What a qemu command line asks for, in UML's terms."""

    memory_mib: int | None
    drives: list[Drive]
    append: list[str]
    socket_path: str
    no_reboot: bool
    workdir: str | None = None
    linux: str = "linux.uml"
    relay: str = ""
    preload: str | None = None


def split_options(value: str) -> list[str]:
    """Split a qemu option string on commas; a doubled comma is a literal comma."""
    parts, current, i = [], [], 0
    while i < len(value):
        char = value[i]
        if char == ",":
            if value[i + 1:i + 2] == ",":
                current.append(",")
                i += 2
                continue
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
        i += 1
    parts.append("".join(current))
    return parts


def option_dict(value: str) -> dict[str, str]:
    """`a=1,b=2,flag` -> {'a': '1', 'b': '2', 'flag': ''}."""
    out = {}
    for part in split_options(value):
        key, _, val = part.partition("=")
        out[key] = val
    return out


def memory_mib(value: str) -> int:
    """qemu's `-m` value (`1280`, `1280M`, `2G`, `size=1280`) in MiB."""
    value = option_dict(value).get("size", value) if "=" in value else value
    units = {"k": 1 / 1024, "m": 1, "g": 1024, "t": 1024 * 1024}
    suffix = value[-1:].lower()
    if suffix in units:
        return max(1, int(float(value[:-1]) * units[suffix]))
    return int(value)


def parse_qemu(argv: list[str]) -> Launch:
    """Read the parts of a libguestfs qemu command line that UML needs."""
    memory, drives, append, socket_path = None, [], [], None
    no_reboot, workdir, linux, relay_opts, preload = False, None, "linux.uml", "", None
    i = 0
    while i < len(argv):
        option = argv[i]
        if option in QEMU_FLAGS or not option.startswith("-"):
            no_reboot = no_reboot or option == "-no-reboot"
            i += 1
            continue
        value = argv[i + 1] if i + 1 < len(argv) else ""
        i += 2
        if option == "-m":
            memory = memory_mib(value)
        elif option == "-drive":
            opts = option_dict(value)
            if "file" not in opts:
                raise Unsupported(f"drive without a local file ({value}): UML needs a file")
            drives.append(Drive(file=opts["file"], format=opts.get("format"),
                                snapshot=opts.get("snapshot") == "on",
                                readonly=opts.get("readonly") == "on", id=opts.get("id"),
                                options=opts))
        elif option == "-append":
            append = value.split()
        elif option == "-chardev":
            opts = option_dict(value)
            if opts.get("socket", None) == "" and "path" in opts:
                socket_path = opts["path"]
        elif option == "-lgbench-workdir":
            workdir = value
        elif option == "-lgbench-linux":
            linux = value
        elif option == "-lgbench-relay":
            relay_opts = value
        elif option == "-lgbench-preload":
            preload = value
    if socket_path is None:
        raise Unsupported("no -chardev socket,path=... for the daemon channel in the qemu "
                          "command line")
    return Launch(memory, drives, append, socket_path, no_reboot, workdir, linux, relay_opts,
                  preload)


def qemu_img_info(path: str) -> list[dict]:
    """`qemu-img info --backing-chain` of an image: the image first, then its backing files."""
    result = subprocess.run([QEMU_IMG, "info", "--output=json", "--backing-chain", "-U", path],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise Unsupported(f"qemu-img info {path}: {result.stderr.strip()}")
    chain = json.loads(result.stdout)
    return chain if isinstance(chain, list) else [chain]


def overlay_is_empty(path: str) -> bool:
    """Whether a qcow2 overlay holds no data of its own (all reads come from its backing)."""
    result = subprocess.run([QEMU_IMG, "map", "--output=json", "-U", path],
                            capture_output=True, text=True)
    if result.returncode != 0:
        return False
    return not any(extent.get("depth") == 0 and extent.get("data")
                   for extent in json.loads(result.stdout))


@dataclass
class Probe:
    """How translate() inspects images; replaced by fakes in unit tests."""

    info: Callable[[str], list[dict]] = qemu_img_info
    overlay_empty: Callable[[str], bool] = overlay_is_empty


def ubd_name(index: int) -> str:
    return "ubd" + chr(ord("a") + index)


def ubd_argument(index: int, drive: Drive, cow_dir: str, probe: Probe) -> str:
    """The `ubdN...=` word for one drive, or Unsupported with the reason."""
    path, fmt = drive.file, drive.format
    if not os.path.exists(path):
        raise Unsupported(f"drive {path}: no such file (UML can only use local files)")
    chain = None
    if fmt is None:
        chain = probe.info(path)
        fmt = chain[0].get("format")
    if fmt == "qcow2":
        chain = chain or probe.info(path)
        backing = chain[1] if len(chain) > 1 else None
        # libguestfs hands a read-only drive over as a fresh qcow2 overlay on the original;
        # UML gets the original read-only under a COW file of its own.
        if (backing is None or backing.get("format") != "raw"
                or not probe.overlay_empty(path)):
            raise Unsupported(f"drive {path} is qcow2: User-Mode Linux can only use raw images "
                              f"(convert it with qemu-img convert -O raw)")
        backing_file = (chain[0].get("full-backing-filename")
                        or chain[0].get("backing-filename"))
        return f"ubd{index}{COW_FLAGS}={cow_dir}/{ubd_name(index)}.cow,{backing_file}"
    if fmt != "raw":
        raise Unsupported(f"drive {path} has format {fmt}: User-Mode Linux can only use raw "
                          f"images")
    if drive.snapshot:
        return f"ubd{index}{COW_FLAGS}={cow_dir}/{ubd_name(index)}.cow,{path}"
    # 'd': the file is data, never taken for a COW file whatever its first bytes say.
    return f"ubd{index}{'r' if drive.readonly else ''}d={path}"


def translate(argv: list[str], cow_dir: str, channel_fds: tuple[int, int],
              probe: Probe | None = None) -> list[str]:
    """qemu argv (without argv[0]) -> linux.uml argv. Raises Unsupported with the reason.

    cow_dir holds the COW files and UML's pid/mconsole folder; channel_fds are the (read,
    write) file descriptors UML's ttyS0 uses for the daemon channel.
    """
    probe = probe or Probe()
    launch = parse_qemu(argv)
    if len(launch.drives) > UBD_MAX:
        raise Unsupported(f"{len(launch.drives)} drives (the appliance included): User-Mode "
                          f"Linux has {UBD_MAX} UBD devices (ubda..ubdp), so at most "
                          f"{UBD_MAX - 1} disks besides the appliance")
    if not launch.drives:
        raise Unsupported("no appliance drive in the qemu command line")
    appliance = next((i for i, d in enumerate(launch.drives) if d.id == "appliance"),
                     len(launch.drives) - 1)
    words = [launch.linux]
    if launch.memory_mib:
        words.append(f"mem={launch.memory_mib}M")
    words += [f"uml_dir={cow_dir}", f"umid={UMID}", "con=null",
              "con0=fd:0,fd:1", "ssl=null", f"ssl0=fd:{channel_fds[0]},fd:{channel_fds[1]}"]
    if launch.no_reboot:
        words.append("noreboot")
    for index, drive in enumerate(launch.drives):
        words.append(ubd_argument(index, drive, cow_dir, probe))
    # The appliance root boots directly (its /init is libguestfs's), without supermin's initrd.
    words += [f"root=/dev/{ubd_name(appliance)}", "rw", "init=/init",
              f"guestfs_channel={GUEST_CHANNEL}"]
    words += [w for w in launch.append if not w.startswith(DROPPED_KERNEL_WORDS)]
    return words


def _connect(path: str) -> int:
    import socket

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    return sock.detach()


def uml_environment(preload: str | None, rearm_fds: tuple[int, ...] = ()) -> dict[str, str]:
    """UML maps its RAM from a file in TMP/TEMP/TMPDIR, else /dev/shm: prefer /dev/shm.
    `preload` (uml_preload.c) goes in LD_PRELOAD; `rearm_fds` are the fds whose read
    interrupt it keeps armed (the daemon channel's input)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("TMP", "TEMP", "TMPDIR", REARM_VARIABLE)}
    if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        env["TMPDIR"] = "/dev/shm"
    if preload:
        env["LD_PRELOAD"] = " ".join(filter(None, [preload, env.get("LD_PRELOAD")]))
        if rearm_fds:
            env[REARM_VARIABLE] = ",".join(map(str, rearm_fds))
    return env


def _linux(words: list[str]) -> str:
    """The UML kernel's path (words[0] looked up on PATH)."""
    linux = shutil.which(words[0])
    if linux is None:
        raise Unsupported(f"{words[0]} not found (apt-get install user-mode-linux)")
    return linux


def launch(argv: list[str]) -> None:
    """Boot the appliance under UML: relay started, then this process becomes linux.uml."""
    parsed = parse_qemu(argv)
    base = parsed.workdir or os.path.dirname(parsed.socket_path)
    cow_dir = tempfile.mkdtemp(prefix="uml-", dir=base)
    if parsed.relay == DIRECT_CHANNEL:
        sock = _connect(parsed.socket_path)
        words = translate(argv, cow_dir, (sock, sock))
        os.set_inheritable(sock, True)
        os.execve(_linux(words), words, uml_environment(parsed.preload, (sock,)))
    to_guest_r, to_guest_w = os.pipe()
    from_guest_r, from_guest_w = os.pipe()
    words = translate(argv, cow_dir, (to_guest_r, from_guest_w))
    linux = _linux(words)
    pacing = relay.Pacing.parse(parsed.relay)
    sock = _connect(parsed.socket_path)
    relay.start(sock, to_guest_w, from_guest_r, os.getpid(), to_guest_r, pacing,
                f"uml_dir={cow_dir}")
    for fd in (sock, to_guest_w, from_guest_r):
        os.close(fd)
    os.set_inheritable(to_guest_r, True)
    os.set_inheritable(from_guest_w, True)
    os.execve(linux, words,
              uml_environment(parsed.preload, (to_guest_r,) if pacing.rearm else ()))


def main(argv: list[str]) -> int:
    if "-kernel" not in argv:
        os.execv(QEMU, [QEMU, *argv])
    try:
        launch(argv)
    except Unsupported as exc:
        print(f"lgbench uml: unsupported: {exc}", file=sys.stderr, flush=True)
        return EXIT_UNSUPPORTED
    except (OSError, ValueError) as exc:
        print(f"lgbench uml: cannot start the appliance: {exc}", file=sys.stderr, flush=True)
        return 1
    return 1  # not reached: launch() execs


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
