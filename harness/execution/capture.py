"""Keep the last messages of an appliance, so a failed launch says why."""

from __future__ import annotations

from collections import deque
from typing import Any


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
                   if any(word in line.lower() for word in ("error", "fail", "cannot", "abort"))]
        if telling:
            message += " | appliance: " + " / ".join(telling[-3:])
        return message
