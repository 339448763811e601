"""Guest disk images that libguestfs inspection recognises, built here without internet.

The inspection baseline needs real-looking guests: a Debian made by debootstrap from the
machine's apt mirror, a synthetic Debian on LVM written through the guestfs API in about a
minute, and a disk with no operating system. Each image is cached under a name keyed by a hash
of its recipe, so changing a recipe (or RECIPE_FORMAT) builds a new image instead of reusing a
stale one; a build writes a hidden temp file and renames it, so a failed or interrupted build
leaves nothing that looks like an image.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.host import processes, trust

RECIPE_FORMAT = 1  # bump when a change here alters the bytes of every recipe's image
PROBE_TIMEOUT_S = 60.0  # the harness's bound on its one-off KVM probe
FALLBACK_MIRROR = "http://deb.debian.org/debian"
MiB = 2**20

Log = Callable[[str], None]


@dataclass(frozen=True)
class Recipe:
    name: str
    summary: str
    inputs: Callable[[], dict[str, Any]]  # everything the image's bytes depend on (hashed)
    make: Callable[[Path, Path, Log, str], None]  # (target disk, images dir, progress, accel)


# ---------------------------------------------------------------- where images live


def default_images_dir() -> Path:
    """$LGBENCH_CACHE/images, else /var/tmp/lgbench-UID/images (as conf/paths/default.yaml)."""
    return trust.default_cache_dir() / "images"


def _recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; recipes: {', '.join(RECIPES)}")
    return RECIPES[name]


def _digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]


def recipe_hash(name: str) -> str:
    """12 hex digits over the recipe's name, format version and inputs."""
    return _digest({"name": name, "format": RECIPE_FORMAT, "inputs": _recipe(name).inputs()})


def image_path(name: str, images_dir: Path) -> Path:
    """Where recipe `name`'s image lives (whether built or not)."""
    return Path(images_dir) / f"{name}-{recipe_hash(name)}.img"


def _sources_dir(name: str, images_dir: Path) -> Path:
    """Build inputs worth keeping between builds (the debootstrap tarball)."""
    return Path(images_dir) / "sources" / name


# ---------------------------------------------------------------- building


def build(name: str, images_dir: Path, log: Log = print, accel: str = "auto") -> Path:
    """The image of recipe `name`, built first unless already cached.

    `accel` is kvm, tcg or auto (the harness's KVM verdict: KVM only where it really ran).
    """
    recipe = _recipe(name)
    path = trust.secure_folder(images_dir) / image_path(name, images_dir).name
    if trust.trusted_file(path):
        return path
    part = path.with_name(f".{path.name}.{os.getpid()}.part")
    start = time.monotonic()

    def progress(message: str) -> None:
        log(f"lgbench-images: {name}: [{time.monotonic() - start:6.1f} s] {message}")

    try:
        recipe.make(part, path.parent, progress, accel)
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)
    progress(f"built {path}")
    return path


def resolve(spec: str, images_dir: Path, log: Log = print, accel: str = "auto") -> Path:
    """A recipe name -> its image (built if needed); anything else -> Path(spec) unchanged."""
    if spec in RECIPES:
        return build(spec, images_dir, log, accel)
    return Path(spec)


def _accel(accel: str) -> str:
    if accel != "auto":
        return accel
    from harness.host.accelerator import kvm_verdict

    return "kvm" if kvm_verdict(trust.default_cache_dir(), PROBE_TIMEOUT_S).usable else "tcg"


@contextmanager
def _appliance(disk: Path, size: int, accel: str, progress: Log) -> Iterator[Any]:
    """A new sparse raw disk of `size` bytes attached read-write to a launched appliance.

    Leaving the block cleanly shuts the appliance down, so a write error fails the build; the
    handle (and its qemu) is closed whatever happens.
    """
    import guestfs

    g = guestfs.GuestFS(python_return_dict=True, close_on_exit=False)
    try:
        g.disk_create(str(disk), "raw", size, preallocation="sparse")
        g.set_backend("direct")
        chosen = _accel(accel)
        g.set_backend_settings([f"force_{chosen}"])
        g.add_drive_opts(str(disk), format="raw", readonly=False)
        progress(f"launching an appliance ({chosen})")
        g.launch()
        yield g
        g.shutdown()
    finally:
        g.close()


def _partition(g: Any, sizes_mib: list[int]) -> list[str]:
    """MBR partitions of these sizes (the last one takes the rest of the disk)."""
    device = g.list_devices()[0]
    g.part_init(device, "mbr")
    start = 2048
    for index, size in enumerate(sizes_mib):
        end = -1 if index == len(sizes_mib) - 1 else start + size * MiB // 512 - 1
        g.part_add(device, "p", start, end)
        start = end + 1
    return g.list_partitions()


# ---------------------------------------------------------------- no-os


NO_OS = {"disk_mib": 256, "label": "data"}


def _make_no_os(target: Path, images_dir: Path, progress: Log, accel: str) -> None:
    with _appliance(target, NO_OS["disk_mib"] * MiB, accel, progress) as g:
        (data,) = _partition(g, [NO_OS["disk_mib"]])
        progress("making an empty ext4 filesystem")
        g.mkfs("ext4", data, label=NO_OS["label"])


# ---------------------------------------------------------------- linux-lvm (synthetic)


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


def _make_linux_lvm(target: Path, images_dir: Path, progress: Log, accel: str) -> None:
    vg, lvs = LVM["vg"], LVM["lvs_mib"]
    with _appliance(target, LVM["disk_mib"] * MiB, accel, progress) as g:
        boot, pv = _partition(g, [LVM["boot_mib"], LVM["disk_mib"] - LVM["boot_mib"]])
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
            g.mkdir(mountpoint)
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
        g.chmod(0o755, f"/usr/bin/{binary}")
    g.write(DEBIAN_ICON, icon_png(LVM["icon_px"]))
    g.write(f"/boot/vmlinuz-{kernel}", f"placeholder kernel {kernel}\n")
    g.write(f"/boot/initrd.img-{kernel}", f"placeholder initrd {kernel}\n")
    g.write("/var/lib/dpkg/status", dpkg_status(LVM["packages"]))
    g.write("/home/alice/.profile", "# lgbench synthetic user\n")


# ---------------------------------------------------------------- debian (debootstrap)


DEBIAN = {"suite": "bookworm", "variant": "minbase", "disk_mib": 1024,
          "hostname": "lgbench-debian", "version": 1}


def apt_mirror(suite: str, sources_list: Path = Path("/etc/apt/sources.list"),
               sources_dir: Path = Path("/etc/apt/sources.list.d")) -> str:
    """The Debian mirror this machine's apt uses: one serving `suite`, else the main archive
    of another release (it serves `suite` too), else deb.debian.org."""
    entries: list[tuple[str, list[str]]] = []
    one_line = [sources_list, *sorted(sources_dir.glob("*.list"))]
    for path in one_line:
        for line in _read(path).splitlines():
            found = re.match(r"\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", line)
            if found:
                entries.append((found[1], [found[2]]))
    for path in sorted(sources_dir.glob("*.sources")):
        for fields in _deb822(_read(path)):
            if "deb" in fields.get("types", "").split() and fields.get("enabled") != "no":
                entries += [(uri, fields.get("suites", "").split())
                            for uri in fields.get("uris", "").split()]
    for uri, suites in entries:
        if suite in suites:
            return uri.rstrip("/")
    for uri, suites in entries:
        if "security" not in uri and any(re.fullmatch(r"[a-z]+", s) for s in suites):
            return uri.rstrip("/")
    return FALLBACK_MIRROR


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _deb822(text: str) -> list[dict[str, str]]:
    """Paragraphs of a deb822 file as {lowercase field: value} (comments dropped)."""
    paragraphs: list[dict[str, str]] = []
    fields: dict[str, str] = {}
    key = None
    for line in text.splitlines() + [""]:
        if line.startswith("#"):
            continue
        if not line.strip():
            if fields:
                paragraphs.append(fields)
            fields, key = {}, None
        elif line[0].isspace() and key:
            fields[key] += " " + line.strip()
        elif ":" in line:
            key, value = line.split(":", 1)
            key = key.strip().lower()
            fields[key] = value.strip()
    return paragraphs


def _debian_source() -> dict[str, Any]:
    """What the debootstrap tree depends on."""
    return {"suite": DEBIAN["suite"], "variant": DEBIAN["variant"],
            "mirror": apt_mirror(DEBIAN["suite"])}


def _debian_inputs() -> dict[str, Any]:
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
    for line in _read(Path("/proc/self/mounts")).splitlines():
        point = line.split()[1].encode().decode("unicode_escape")
        if point == str(tree) or point.startswith(f"{tree}/"):
            mounts.append(point)
    for point in sorted(mounts, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)
    shutil.rmtree(tree, ignore_errors=True)


def debootstrap_tarball(images_dir: Path, progress: Log) -> Path:
    """A tar of a debootstrapped tree, made once and kept for rebuilds."""
    source = _debian_source()
    tarball = (_sources_dir("debian", images_dir)
               / f"{source['suite']}-{source['variant']}-{_digest(source)}.tar")
    trust.secure_folder(tarball.parent)
    if trust.trusted_file(tarball):
        progress(f"reusing {tarball}")
        return tarball
    tree = Path(tempfile.mkdtemp(prefix=".debootstrap-", dir=tarball.parent))
    part = tarball.with_name(f".{tarball.name}.{os.getpid()}.part")
    try:
        progress(f"debootstrap --variant={source['variant']} {source['suite']} "
                 f"from {source['mirror']} (minutes)")
        _run_logged(["debootstrap", f"--variant={source['variant']}", source["suite"],
                     str(tree), source["mirror"]], progress)
        progress("packing the tree")
        _run_logged(["tar", "--numeric-owner", "--exclude=./var/cache/apt/archives/*.deb",
                     "-C", str(tree), "-cf", str(part), "."], progress)
        os.replace(part, tarball)
    finally:
        part.unlink(missing_ok=True)
        _remove_tree(tree)
    return tarball


def _make_debian(target: Path, images_dir: Path, progress: Log, accel: str) -> None:
    tarball = debootstrap_tarball(images_dir, progress)
    hostname = DEBIAN["hostname"]
    with _appliance(target, DEBIAN["disk_mib"] * MiB, accel, progress) as g:
        (root,) = _partition(g, [DEBIAN["disk_mib"]])
        g.mkfs("ext4", root, label="root")
        g.mount(root, "/")
        progress(f"copying the tree in ({tarball.stat().st_size // MiB} MiB)")
        g.tar_in(str(tarball), "/")
        g.write("/etc/fstab", f"UUID={g.vfs_uuid(root)} / ext4 errors=remount-ro 0 1\n")
        g.write("/etc/hostname", hostname + "\n")
        g.write("/etc/hosts", f"127.0.0.1\tlocalhost\n127.0.1.1\t{hostname}\n")


RECIPES: dict[str, Recipe] = {
    "debian": Recipe("debian", "Debian 12 minbase by debootstrap from the apt mirror, "
                     "one ext4 root partition (minutes)", _debian_inputs, _make_debian),
    "linux-lvm": Recipe("linux-lvm", "synthetic Debian 12: ext4 /boot + LVM (/, /var, /home, "
                        "swap), dpkg database and icon (about a minute)",
                        lambda: {**LVM, "icon": DEBIAN_ICON}, _make_linux_lvm),
    "no-os": Recipe("no-os", "one empty ext4 partition, no operating system",
                    lambda: dict(NO_OS), _make_no_os),
}


# ---------------------------------------------------------------- listing and removing


def list_images(images_dir: Path) -> list[dict[str, Any]]:
    """Every built image in images_dir, current recipe or not."""
    found = []
    for path in sorted(Path(images_dir).glob("*.img")):
        match = re.fullmatch(r"(.+)-([0-9a-f]{12})\.img", path.name)
        if not match:
            continue
        name, digest = match[1], match[2]
        st = path.stat()
        found.append({
            "name": name,
            "path": str(path),
            "size_bytes": st.st_size,
            "allocated_bytes": st.st_blocks * 512,
            "built_at": datetime.fromtimestamp(st.st_mtime, UTC).isoformat(timespec="seconds"),
            "hash": digest,
            "current": name in RECIPES and digest == recipe_hash(name),
        })
    return found


def remove(name: str, images_dir: Path) -> bool:
    """Delete every image of `name` (any recipe hash) and its kept build inputs."""
    removed = False
    for image in list_images(images_dir):
        if image["name"] == name:
            Path(image["path"]).unlink(missing_ok=True)
            removed = True
    sources = _sources_dir(name, images_dir)
    if sources.exists():
        shutil.rmtree(sources)
        removed = True
    return removed


# ---------------------------------------------------------------- command line


def _human(size: int) -> str:
    return f"{size / MiB:.0f} MiB" if size < 2**30 else f"{size / 2**30:.1f} GiB"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lgbench-images", description="Build and manage guest disk images for inspection.")
    commands = parser.add_subparsers(dest="command", required=True)
    for command, text in (("build", "build a recipe's image (cached if already built)"),
                          ("list", "list the built images"),
                          ("remove", "remove a recipe's images and kept build inputs"),
                          ("recipes", "list the recipes")):
        sub = commands.add_parser(command, help=text)
        if command in ("build", "remove"):
            sub.add_argument("name")
        sub.add_argument("--images-dir", type=Path, default=default_images_dir(),
                         help="default: $LGBENCH_CACHE/images or /var/tmp/lgbench-UID/images")
        if command == "build":
            sub.add_argument("--accel", choices=("auto", "kvm", "tcg"), default="auto",
                             help="auto: KVM only where the harness saw it run (default)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    images_dir: Path = args.images_dir

    def error(message: str) -> int:
        print(f"lgbench-images: error: {message}", file=sys.stderr)
        return 2

    if args.command == "recipes":
        for name, recipe in RECIPES.items():
            built = "built" if image_path(name, images_dir).exists() else "not built"
            print(f"{name:10} {recipe_hash(name)}  {built:9}  {recipe.summary}")
        return 0
    if args.command == "list":
        images = list_images(images_dir)
        if not images:
            print(f"no images in {images_dir}")
        for image in images:
            stale = "" if image["current"] else "  (stale recipe)"
            print(f"{image['name']:10} {image['hash']}  {_human(image['size_bytes']):>8} "
                  f"({_human(image['allocated_bytes'])} used)  {image['built_at']}  "
                  f"{image['path']}{stale}")
        return 0
    if args.name not in RECIPES and args.command == "build":
        return error(f"unknown recipe {args.name!r}; recipes: {', '.join(RECIPES)}")
    if args.command == "remove":
        if remove(args.name, images_dir):
            print(f"removed {args.name} from {images_dir}")
            return 0
        return error(f"no image of {args.name!r} in {images_dir}")
    cached = image_path(args.name, images_dir).exists()
    try:
        path = build(args.name, images_dir, lambda line: print(line, file=sys.stderr,
                                                               flush=True), args.accel)
    except KeyboardInterrupt:
        error(f"build of {args.name} interrupted; nothing left behind")
        return 130
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return error(f"build of {args.name} failed: {first}")
    print(f"{path}{'  (cached)' if cached else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
