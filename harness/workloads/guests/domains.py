"""Persistent libvirt domains over lgbench's guest images, for the guide's second inspection
baseline, `guestfish --ro -d GuestName -i exit`: defined (never started) through virsh, on the
image itself (raw) or on a qcow2 overlay of it, and undefined again.

lgbench's domains are named `lgbench-<recipe>-<format>` and carry a marker in their
description; undefine refuses a domain without it, so a user's domain is never touched.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from xml.sax.saxutils import escape

from harness.host import libvirtd, trust
from harness.workloads.guests import recipes
from harness.workloads.guests.disk import Log

URI = "qemu:///system"
MARKER = "lgbench guest domain"
FORMATS = ("raw", "qcow2")


class DomainError(Exception):
    """A domain cannot be defined or removed; the message says why."""


def domain_name(recipe: str, fmt: str) -> str:
    return f"lgbench-{recipe}-{fmt}"


def _virsh(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["virsh", "-q", "-c", URI, *args], capture_output=True, text=True)


def _domain_xml(name: str, disk: Path, fmt: str) -> str:
    return f"""<domain type='qemu'>
  <name>{escape(name)}</name>
  <description>{MARKER}</description>
  <memory unit='MiB'>512</memory>
  <os><type arch='x86_64'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='{fmt}'/>
      <source file='{escape(str(disk))}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
  </devices>
</domain>
"""


def is_lgbench_domain(name: str) -> bool:
    """Whether a domain of that name exists and is one lgbench defined."""
    found = _virsh("desc", name)
    return found.returncode == 0 and found.stdout.strip() == MARKER


def overlay_path(name: str, images_dir: Path) -> Path:
    return images_dir / "domains" / f"{name}.qcow2"


def define(recipe: str, images_dir: Path, fmt: str = "raw", accel: str = "auto",
           log: Log = print) -> str:
    """Define the domain over a recipe's image (built if needed, logging to `log`); return
    its name."""
    if fmt not in FORMATS:
        raise DomainError(f"--format must be one of {', '.join(FORMATS)} (got {fmt})")
    if recipe not in recipes.RECIPES:
        raise DomainError(f"unknown recipe {recipe!r}; recipes: {', '.join(recipes.RECIPES)}")
    name = domain_name(recipe, fmt)
    if _virsh("dominfo", name).returncode == 0 and not is_lgbench_domain(name):
        raise DomainError(f"a domain called {name} exists and is not lgbench's: left alone")
    image = recipes.build(recipe, images_dir, log, accel).resolve()
    disk = image
    if fmt == "qcow2":
        disk = overlay_path(name, images_dir)
        trust.secure_folder(disk.parent, private=True)
        created = subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b",
                                  str(image), str(disk)], capture_output=True, text=True)
        if created.returncode != 0:
            raise DomainError(f"qemu-img create failed: {created.stderr.strip()}")
    try:
        libvirtd.ensure_daemons()
        # libvirt's qemu user must reach the disks by name when the libvirt backend runs it.
        for folder in {image.parent, disk.parent}:
            libvirtd.grant_qemu_traverse(folder)
    except libvirtd.LibvirtdError as exc:
        raise DomainError(str(exc)) from exc
    xml = images_dir / f"{name}.xml"
    trust.write_text(xml, _domain_xml(name, disk, fmt))
    try:
        defined = _virsh("define", str(xml))
    finally:
        trust.remove(xml)
    if defined.returncode != 0:
        raise DomainError(f"virsh define failed: {defined.stderr.strip()}")
    return name


def undefine(name: str, images_dir: Path) -> None:
    """Remove one of lgbench's domains and its overlay."""
    try:
        libvirtd.ensure_daemons()
    except libvirtd.LibvirtdError as exc:
        raise DomainError(str(exc)) from exc
    if not is_lgbench_domain(name):
        raise DomainError(f"no domain of lgbench's called {name}")
    removed = _virsh("undefine", name)
    if removed.returncode != 0:
        raise DomainError(f"virsh undefine failed: {removed.stderr.strip()}")
    trust.remove(overlay_path(name, images_dir))
