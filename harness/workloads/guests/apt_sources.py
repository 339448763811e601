"""The Debian mirror this machine's apt uses (one-line and deb822 sources), so a debootstrap
needs no address of its own."""

from __future__ import annotations

import re
from pathlib import Path

FALLBACK_MIRROR = "http://deb.debian.org/debian"


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
