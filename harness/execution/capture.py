"""What an appliance says while a timeline trial runs: every message with its time (boot stages
are derived from those). The last messages of a failed launch: host.handles.ConsoleTail."""

from __future__ import annotations

import time
from typing import Any

from harness.host.handles import EVENT_APPLIANCE, EVENT_LIBRARY, EVENT_TRACE, EVENT_WARNING


class EventLog:
    """Collect a handle's messages as (seconds since `origin`, event kind, line)."""

    def __init__(self, handle: Any, origin: float) -> None:
        self.origin = origin
        self.events: list[tuple[float, str, str]] = []
        self._pending: dict[str, str] = {}  # console output arrives in pieces, not lines
        self._names = {EVENT_APPLIANCE: "appliance", EVENT_LIBRARY: "library",
                       EVENT_WARNING: "warning", EVENT_TRACE: "trace"}
        handle.set_event_callback(self._on_event, sum(self._names))

    def _on_event(self, event: int, event_handle: int, buf: str | bytes, array: Any) -> None:
        now = time.perf_counter() - self.origin
        if isinstance(buf, bytes):
            buf = buf.decode(errors="replace")
        kind = self._names.get(event, str(event))
        text = self._pending.pop(kind, "") + buf
        *lines, rest = text.replace("\r", "").split("\n")
        if kind != "appliance":  # library and trace messages are whole lines already
            lines, rest = [*lines, rest], ""
        self.events += [(now, kind, line) for line in lines if line.strip()]
        if rest:
            self._pending[kind] = rest

    def first(self, prefix: str) -> float | None:
        """When the first message starting with `prefix` came, if one did."""
        return next((t for t, _, line in self.events if line.startswith(prefix)), None)

    def flush(self) -> list[tuple[float, str, str]]:
        """All events, an unterminated last console line included."""
        now = time.perf_counter() - self.origin
        self.events += [(now, kind, rest) for kind, rest in self._pending.items() if rest.strip()]
        self._pending.clear()
        return self.events
