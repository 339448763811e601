"""guestfs handles at the ground floor, because the host's own checks launch an appliance (the
KVM verdict, the doctor's TCG launch, through host.probe): the one factory every handle comes
from, and the console tail that says why a launch failed.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Any


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
        import guestfs

        self.lines: deque[str] = deque(maxlen=keep)
        events = guestfs.EVENT_APPLIANCE | guestfs.EVENT_LIBRARY | guestfs.EVENT_WARNING
        handle.set_event_callback(self._on_event, events)

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
