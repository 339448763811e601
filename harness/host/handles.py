"""guestfs handles at the ground floor, because the host's own checks launch an appliance (the
KVM verdict, the doctor's TCG launch, through host.probe): the one factory every handle comes
from, and the console tail that says why a launch failed.
"""

from __future__ import annotations

import sys
from collections import deque
from pathlib import Path
from typing import Any

# libguestfs's event bits (guestfs.h, a stable ABI): here rather than read from the bindings,
# so that the fake backend's handles run where the bindings are missing.
EVENT_APPLIANCE, EVENT_LIBRARY, EVENT_TRACE, EVENT_WARNING = 0x10, 0x20, 0x40, 0x200


# Debian installs the bindings (python3-guestfs) for /usr/bin/python3 only.
BINDINGS_FIX = ("install python3-guestfs and make the venv from /usr/bin/python3 with "
                "--system-site-packages (make run does both)")


def bindings_problem() -> str | None:
    """Why this interpreter cannot import libguestfs's Python bindings (None: it can); the
    fix is BINDINGS_FIX."""
    try:
        import guestfs  # noqa: F401
    except ImportError as exc:
        return f"this Python ({sys.executable}) cannot import libguestfs's bindings ({exc})"
    return None


def guestfs_handle(memsize: int | None, smp: int, tmpdir: Path | None, verbose: bool,
                   backend: str, settings: list[str]) -> Any:
    """A new guestfs handle with the settings every driver shares (the one place handles
    are made: drivers, the accelerator probe and image builds)."""
    import guestfs

    g = guestfs.GuestFS(python_return_dict=True, close_on_exit=False)
    g.set_backend(backend)
    g.set_backend_settings(settings)
    if tmpdir is not None:
        g.set_tmpdir(str(tmpdir))
    if memsize is not None:
        g.set_memsize(memsize)
    g.set_smp(smp)
    g.set_verbose(verbose)
    return g


class ConsoleTail:
    """Collect libguestfs console, library and warning messages for one handle."""

    def __init__(self, handle: Any, keep: int = 40) -> None:
        self.lines: deque[str] = deque(maxlen=keep)
        handle.set_event_callback(self._on_event, EVENT_APPLIANCE | EVENT_LIBRARY | EVENT_WARNING)

    def _on_event(self, event: int, event_handle: int, buf: str | bytes, array: Any) -> None:
        if isinstance(buf, bytes):
            buf = buf.decode(errors="replace")
        self.lines.extend(line.strip() for line in buf.splitlines() if line.strip())

    def explain(self, exc: BaseException) -> str:
        """The libguestfs error plus the console lines that name the cause, on one line."""
        message = " ".join(str(exc).split())
        telling = [line for line in self.lines
                   if any(word in line.lower()
                          for word in ("error", "fail", "cannot", "abort", "panic"))]
        if telling:
            message += " | appliance: " + " / ".join(telling[-3:])
        return message
