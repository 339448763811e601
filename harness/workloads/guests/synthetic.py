"""Guests written through the guestfs API in a minute, no download: a synthetic Debian 12 on
LVM that inspection recognises (os-release, fstab, a dpkg database, the icon), a disk with
no operating system, and a disk with two."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any

from harness.workloads.guests.disk import Log, MiB, attached_disk, partition

NO_OS = {"disk_mib": 256, "label": "data"}


def no_os_inputs() -> dict[str, Any]:
    return dict(NO_OS)


def make_no_os(target: Path, images_dir: Path, progress: Log, accel: str) -> None:
    with attached_disk(target, NO_OS["disk_mib"] * MiB, accel, progress) as g:
        (data,) = partition(g, [NO_OS["disk_mib"]])
        progress("making an empty ext4 filesystem")
        g.mkfs("ext4", data, label=NO_OS["label"])


# Two systems on one disk, as a dual-boot machine or a recovered disk: inspection finds two
# roots, and a tool must say which one it describes.
TWO_OS = {
    "disk_mib": 256,
    "roots": {
        "debian": 'NAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n'
                  'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n',
        "fedora": 'NAME="Fedora Linux"\nVERSION_ID=39\nID=fedora\n'
                  'PRETTY_NAME="Fedora Linux 39 (Server Edition)"\n',
    },
}


def two_os_inputs() -> dict[str, Any]:
    return dict(TWO_OS)


def make_two_os(target: Path, images_dir: Path, progress: Log, accel: str) -> None:
    roots = TWO_OS["roots"]
    with attached_disk(target, TWO_OS["disk_mib"] * MiB, accel, progress) as g:
        devices = partition(g, [TWO_OS["disk_mib"] // len(roots)] * len(roots))
        for device, (name, os_release) in zip(devices, roots.items(), strict=True):
            progress(f"a minimal {name} root on {device}")
            g.mkfs("ext4", device, label=name)
            g.mount(device, "/")
            for directory in ("/etc", "/usr/bin"):
                g.mkdir_p(directory)
            g.ln_s("usr/bin", "/bin")
            g.write("/etc/os-release", os_release)
            g.write("/etc/fstab", f"LABEL={name} / ext4 defaults 0 1\n")
            g.write("/usr/bin/sh", elf_header())
            g.umount("/")


# name, version: a plausible installed set for the dpkg database (bookworm versions).
DPKG_PACKAGES = """
base-files 12.4+deb12u5
base-passwd 3.6.1
bash 5.2.15-2+b2
bsdutils 1:2.38.1-5+b1
coreutils 9.1-1
dash 0.5.12-2
debconf 1.5.82
debian-archive-keyring 2023.3+deb12u1
debianutils 5.7-0.5~deb12u1
diffutils 1:3.8-4
dpkg 1.21.22
e2fsprogs 1.47.0-2
findutils 4.9.0-4
gcc-12-base 12.2.0-14
grep 3.8-5
grub-pc 2.06-13+deb12u1
gzip 1.12-1
hostname 3.23+nmu1
init-system-helpers 1.65.2
libacl1 2.3.1-3
libc-bin 2.36-9+deb12u7
libc6 2.36-9+deb12u7
libgcc-s1 12.2.0-14
libselinux1 3.4-1+b6
libssl3 3.0.13-1~deb12u1
libsystemd0 252.26-1~deb12u2
libzstd1 1.5.4+dfsg2-5
linux-image-6.1.0-18-amd64 6.1.76-1
login 1:4.13+dfsg1-1+b1
lvm2 2.03.16-2
mawk 1.3.4.20200120-3.1
mount 2.38.1-5+b1
ncurses-base 6.4-4
openssh-server 1:9.2p1-2+deb12u3
passwd 1:4.13+dfsg1-1+b1
perl-base 5.36.0-7+deb12u1
sed 4.9-1
systemd 252.26-1~deb12u2
sysvinit-utils 3.06-4
tar 1.34+dfsg-1.2+deb12u1
tzdata 2024a-0+deb12u1
util-linux 2.38.1-5+b1
zlib1g 1:1.2.13.dfsg-1
"""

LVM = {
    "disk_mib": 1024,
    "boot_mib": 256,
    "vg": "lgbench",
    "lvs_mib": {"root": 400, "var": 160, "home": 96, "swap": 64},
    "hostname": "lgbench-lvm",
    "kernel": "6.1.0-18-amd64",
    "os_release": (
        'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\n'
        'VERSION_ID="12"\nVERSION="12 (bookworm)"\nVERSION_CODENAME=bookworm\nID=debian\n'
        'HOME_URL="https://www.debian.org/"\n'),
    "debian_version": "12.5\n",
    "packages": DPKG_PACKAGES,
    "icon_px": 32,
    "binaries": ["bash", "ls", "sh"],  # ELF headers only: inspection reads the arch from them
    "version": 1,
}
# Where inspect_get_icon looks on a Debian guest (libguestfs lib/inspect-icon.c): a PNG of
# 16..1024 px a side and under 2048 bytes.
DEBIAN_ICON = "/usr/share/pixmaps/debian-logo.png"


def icon_png(size: int) -> bytes:
    """A small RGBA PNG: a Debian-red disc on a transparent square."""
    centre, radius = (size - 1) / 2, size / 2 - 1
    red, clear = bytes((215, 10, 83, 255)), bytes(4)
    rows = b"".join(
        b"\0" + b"".join(red if (x - centre) ** 2 + (y - centre) ** 2 <= radius ** 2 else clear
                         for x in range(size))
        for y in range(size))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))


def elf_header() -> bytes:
    """The 64-byte header of an x86-64 ELF executable: all `file` needs to name the arch."""
    ident = b"\x7fELF" + bytes((2, 1, 1)) + bytes(9)  # 64-bit, little-endian, version 1
    return ident + struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0x401000, 0, 0, 0, 64, 0, 0, 0, 0, 0)


def dpkg_status(packages: str) -> str:
    """/var/lib/dpkg/status with every package installed; each stanza ends with a blank line
    (libguestfs drops a last stanza without one)."""
    return "".join(
        f"Package: {name}\nStatus: install ok installed\nPriority: optional\n"
        f"Section: misc\nInstalled-Size: 1024\nMaintainer: Debian <debian@example.org>\n"
        f"Architecture: amd64\nVersion: {version}\n"
        f"Description: {name} (lgbench synthetic guest)\n\n"
        for name, version in (line.split() for line in packages.strip().splitlines()))


def lvm_inputs() -> dict[str, Any]:
    return {**LVM, "icon": DEBIAN_ICON}


def make_linux_lvm(target: Path, images_dir: Path, progress: Log, accel: str) -> None:
    vg, lvs = LVM["vg"], LVM["lvs_mib"]
    with attached_disk(target, LVM["disk_mib"] * MiB, accel, progress) as g:
        boot, pv = partition(g, [LVM["boot_mib"], LVM["disk_mib"] - LVM["boot_mib"]])
        g.part_set_mbr_id(g.list_devices()[0], 2, 0x8E)  # Linux LVM
        progress(f"LVM: volume group {vg} with {', '.join(lvs)}")
        g.pvcreate(pv)
        g.vgcreate(vg, [pv])
        for lv, size in lvs.items():
            g.lvcreate(lv, vg, size)
        progress("filesystems: ext4 /boot, /, /var, /home and swap")
        g.mkfs("ext4", boot, label="boot")
        for lv in ("root", "var", "home"):
            g.mkfs("ext4", f"/dev/{vg}/{lv}", label=lv)
        g.mkswap(f"/dev/{vg}/swap", label="swap")
        g.mount(f"/dev/{vg}/root", "/")
        for mountpoint, device in (("/boot", boot), ("/var", f"/dev/{vg}/var"),
                                   ("/home", f"/dev/{vg}/home")):
            g.mkdir(mountpoint)  # trust: in the appliance
            g.mount(device, mountpoint)
        progress("writing the guest's files")
        _write_linux_tree(g, g.vfs_uuid(boot))


def _write_linux_tree(g: Any, boot_uuid: str) -> None:
    """A merged-/usr Debian 12 skeleton with what inspection reads."""
    vg, kernel = LVM["vg"], LVM["kernel"]
    for directory in ("/etc", "/usr/bin", "/usr/sbin", "/usr/lib", "/usr/share/pixmaps",
                      "/root", "/tmp", "/home/alice", "/var/lib/dpkg", "/var/log", "/var/tmp"):
        g.mkdir_p(directory)
    for link in ("bin", "sbin", "lib"):
        g.ln_s(f"usr/{link}", f"/{link}")
    g.write("/etc/os-release", LVM["os_release"])
    g.write("/etc/debian_version", LVM["debian_version"])
    g.write("/etc/hostname", LVM["hostname"] + "\n")
    g.write("/etc/hosts", f"127.0.0.1\tlocalhost\n127.0.1.1\t{LVM['hostname']}\n")
    g.write("/etc/fstab",
            f"/dev/mapper/{vg}-root / ext4 errors=remount-ro 0 1\n"
            f"UUID={boot_uuid} /boot ext4 defaults 0 2\n"
            f"/dev/mapper/{vg}-home /home ext4 defaults 0 2\n"
            f"/dev/mapper/{vg}-var /var ext4 defaults 0 2\n"
            f"/dev/mapper/{vg}-swap none swap sw 0 0\n")
    for binary in LVM["binaries"]:
        g.write(f"/usr/bin/{binary}", elf_header())
        g.chmod(0o755, f"/usr/bin/{binary}")  # trust: in the appliance
    g.write(DEBIAN_ICON, icon_png(LVM["icon_px"]))
    g.write(f"/boot/vmlinuz-{kernel}", f"placeholder kernel {kernel}\n")
    g.write(f"/boot/initrd.img-{kernel}", f"placeholder initrd {kernel}\n")
    g.write("/var/lib/dpkg/status", dpkg_status(LVM["packages"]))
    g.write("/home/alice/.profile", "# lgbench synthetic user\n")
