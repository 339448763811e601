"""What a person watching a cell sees while it runs.

On a terminal: one live line (rich) with the cell (i of N in a sweep, with the sweep's ETA),
the repetition (k of n, warm-ups marked), the appliances finished of those released, the last
repetition's result and the cell's ETA. Elsewhere (CI, submitit jobs, a redirect): the log line
per repetition. Only the launching process draws, while it waits on the workers: nothing is
drawn inside an appliance's timed region, which runs in the workers.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass
from typing import Any, TextIO

log = logging.getLogger("harness.execution.runner")

REFRESH_PER_SECOND = 2  # a redraw costs the launching process little, and it is not timed


@dataclass(frozen=True)
class TrialOutcome:
    """How one appliance of a repetition ended (its first row: a transfer's trial has more)."""

    status: str
    total_s: float | None
    error: str | None


@dataclass(frozen=True)
class RepetitionDone:
    """A repetition's rows were emitted: what the runner knows, for a display to word."""

    number: int  # 1-based
    of: int  # the most repetitions the cell runs, warm-ups included
    warmup: bool
    trials: tuple[TrialOutcome, ...]  # one per appliance launched
    eta_s: float  # the cell's time left at its pace so far
    eta_at_most: bool  # runs=auto: the cell may stop sooner


def trial_line(done: RepetitionDone) -> str:
    """The repetition's result and the cell's ETA, as one line."""
    results = ", ".join(f"{t.status} {t.total_s:.2f} s" if t.total_s is not None
                        else f"{t.status}: {t.error}" for t in done.trials)
    return (f"trial {done.number}/{done.of}{' (warm-up)' if done.warmup else ''}: {results} | "
            f"cell ETA {'at most ' if done.eta_at_most else ''}{_clock(done.eta_s)}")


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s"


class Progress:
    """The plain kind: a log line per finished repetition, nothing in between."""

    def start_repetition(self, number: int, total: int, warmup: bool, instances: int) -> None:
        """Repetition `number` (1-based) of `total` is about to release its instances."""

    def instance_finished(self, finished: int, instances: int) -> None:
        """`finished` of the repetition's `instances` have sent their rows."""

    def end_repetition(self, done: RepetitionDone) -> None:
        """The repetition's result and the cell's ETA, as a log line."""
        log.info("%s", trial_line(done))

    def close(self) -> None:
        """The cell is over."""


class TerminalHandler(logging.StreamHandler):
    """Log lines to whatever sys.stdout is when each is written (conf/config.yaml): while the
    live line is drawn that is rich's proxy, which prints them above the line; a stream fixed
    when logging was configured would cut through it."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(stream)

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stdout

    @stream.setter
    def stream(self, value: TextIO | None) -> None:
        """Ignored: the stream is always the current sys.stdout."""


class LiveProgress(Progress):
    """A live line on the terminal (rich), redrawn twice a second with the repetition's
    elapsed time (a launch takes seconds with nothing else to show), the log lines and
    anything else printed above it."""

    def __init__(self, cell: str, position: str = "", console: Any = None) -> None:
        from rich.console import Console
        from rich.live import Live

        self.cell, self.position = cell, position
        self.repetition = self.appliances = self.last = ""
        self.started: float | None = None
        self.live = Live(self, console=console or Console(stderr=True),
                         refresh_per_second=REFRESH_PER_SECOND, transient=True)
        self.live.start()

    def __rich__(self) -> Any:
        """The line as it is now: rich calls this at every redraw."""
        from rich.text import Text

        elapsed = ("" if self.started is None else
                   f"{time.monotonic() - self.started:.0f} s")
        parts = [f"{self.position}: {self.cell}" if self.position else self.cell,
                 self.repetition, elapsed, self.appliances, self.last]
        return Text(" | ".join(p for p in parts if p), no_wrap=True, overflow="ellipsis")

    def start_repetition(self, number: int, total: int, warmup: bool, instances: int) -> None:
        self.repetition = f"repetition {number} of {total}{' (warm-up)' if warmup else ''}"
        self.appliances = f"appliances 0/{instances} finished"
        self.started = time.monotonic()
        self.live.refresh()

    def instance_finished(self, finished: int, instances: int) -> None:
        self.appliances = f"appliances {finished}/{instances} finished"
        self.live.refresh()

    def end_repetition(self, done: RepetitionDone) -> None:
        super().end_repetition(done)  # the log (file and terminal), printed above the line
        self.last = f"last: {trial_line(done)}"
        self.started = None
        self.live.refresh()

    def close(self) -> None:
        self.live.stop()
