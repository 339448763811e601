"""The daemon channel between libguestfs's Unix socket and UML's serial line ttyS0.

UML reads its serial input one byte per host read() into the guest tty. Once more than about
3.9 KiB sit unread there, the tty throttles the line and UML's line driver takes the fd out of
its epoll set (line_throttle -> deactivate_chan -> deactivate_fd: epoll_ctl DEL, and its irq
entry freed); line_unthrottle reads what is pending once but never re-arms it, so from then on
input that arrives later is never noticed and the handle hangs. This happens whenever
libguestfs sends more than that while guestfsd is not reading, which FileIn streams (upload,
tar_in ...) do: the chunks follow the request while guestfsd is still busy (udevadm settle).

The fix is in UML's process (uml_preload.c, `rearm`): the input pipe's read interrupt comes
back once the throttled tty has taken what was pending (where UML forgets to re-arm it).
With it the relay just moves bytes both ways through pipes (`chunk=0`, the default).

Without it (`rearm=0`, or a linux.uml the library cannot be preloaded into), the relay can
pace host->guest bytes instead: a chunk at a time into a one-page pipe, the next only after
UML has taken the last (FIONREAD on the pipe) and a gap. That is a heuristic (512 B / 2 ms
got through in a few runs, 1 KiB / 2 ms failed 2 of 3). Either way a watchdog turns a stall
into a clear error: when input has waited in the pipe for `stall_s` and UML's epoll set no
longer watches the pipe, the relay says so on the console and stops UML, and the library call
fails instead of hanging.

Standard library only (runs under the system python3 next to linux.uml).
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import signal
import sys
import termios
import time
from dataclasses import dataclass, fields

F_SETPIPE_SZ = 1031
EPOLLIN = 0x1
PIPE_PAGE = 4096
PIPE_BIG = 1 << 20  # guest->host pipe capacity
# Host->guest pipe capacity when bytes are not paced: UML's read interrupt takes all the pipe
# holds into the guest tty's flip buffers, which should stay far below their 640 KiB limit.
PIPE_IN = 64 << 10
TTY_THROTTLE_AT = 4096 - 128  # n_tty throttles with more than this unread
BACKLOG_MAX = 4 << 20  # bytes buffered per direction before the relay stops reading


@dataclass(frozen=True)
class Pacing:
    """How host->guest bytes are fed to UML."""

    chunk: int = 0  # bytes per write into UML's input pipe (< 3968); 0: unpaced
    gap_ms: float = 0.0  # paced: after a chunk, wait at least this long and until UML took it
    stall_s: float = 10.0  # input left untaken this long with UML's read interrupt gone: dead
    rearm: int = 1  # keep the input pipe's read interrupt armed (uml_preload.c); 0: don't

    @classmethod
    def parse(cls, text: str) -> Pacing:
        """`chunk=1024,gap_ms=1` -> Pacing; unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        values: dict[str, float] = {}
        for part in filter(None, text.split(",")):
            key, _, value = part.partition("=")
            if key not in known:
                raise ValueError(f"unknown relay setting {key!r} (known: {', '.join(known)})")
            values[key] = int(value) if key in ("chunk", "rearm") else float(value)
        pacing = cls(**values)  # type: ignore[arg-type]
        if not 0 <= pacing.chunk < TTY_THROTTLE_AT:
            raise ValueError(f"relay chunk must be 0 (unpaced) or 1..{TTY_THROTTLE_AT - 1} "
                             f"bytes (got {pacing.chunk})")
        if pacing.rearm not in (0, 1):
            raise ValueError(f"relay rearm must be 0 or 1 (got {pacing.rearm})")
        return pacing

    @property
    def paced(self) -> bool:
        return self.chunk > 0


def read_irq_armed(pid: int, fd: int) -> bool | None:
    """Whether process pid's epoll set waits for input on its fd (None: cannot tell)."""
    try:
        fd_dir = f"/proc/{pid}/fd"
        for name in os.listdir(fd_dir):
            try:
                if os.readlink(f"{fd_dir}/{name}") != "anon_inode:[eventpoll]":
                    continue
                with open(f"/proc/{pid}/fdinfo/{name}") as info:
                    for line in info:
                        words = line.split()
                        if words[:1] == ["tfd:"] and int(words[1]) == fd:
                            return bool(int(words[3], 16) & EPOLLIN)
            except (OSError, ValueError, IndexError):
                continue
    except OSError:
        return None
    return False


def start(sock: int, to_guest: int, from_guest: int, uml_pid: int, uml_input_fd: int,
          pacing: Pacing, marker: str) -> None:
    """Run the relay in a detached grandchild (same process group); return at once.

    When the channel ends, UML helpers still alive (argv containing marker) are killed: UML's
    SIGIO helper outlives a UML stopped by libguestfs's SIGTERM.
    """
    child = os.fork()
    if child:
        os.waitpid(child, 0)
        return
    try:
        if os.fork():
            os._exit(0)
        keep = {2, sock, to_guest, from_guest}
        for fd in _open_fds():
            if fd not in keep:
                try:
                    os.close(fd)
                except OSError:
                    pass
        Relay(sock, to_guest, from_guest, uml_pid, uml_input_fd, pacing).run()
        _end_stragglers(uml_pid, marker)
    except BaseException as exc:  # the relay must never return into the shim
        _say(f"relay failed: {exc!r}")
    os._exit(0)


def _end_stragglers(uml_pid: int, marker: str, wait_s: float = 10.0) -> None:
    """Once UML's main process is gone, SIGKILL its helpers (their argv holds marker)."""
    deadline = time.monotonic() + wait_s
    while _alive(uml_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if marker.encode() in argv:
            try:
                os.kill(int(name), signal.SIGKILL)
            except ProcessLookupError:
                pass


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _open_fds() -> list[int]:
    try:
        return [int(n) for n in os.listdir("/proc/self/fd")]
    except OSError:
        return list(range(3, 256))


def _say(message: str) -> None:
    try:
        os.write(2, f"lgbench uml relay: {message}\n".encode())
    except OSError:
        pass


class Relay:
    def __init__(self, sock: int, to_guest: int, from_guest: int, uml_pid: int,
                 uml_input_fd: int, pacing: Pacing) -> None:
        self.sock, self.to_guest, self.from_guest = sock, to_guest, from_guest
        self.uml_pid, self.uml_input_fd, self.pacing = uml_pid, uml_input_fd, pacing
        self.h2g = bytearray()  # from libguestfs, not yet given to UML
        self.g2h = bytearray()  # from UML, not yet sent to libguestfs
        self.next_put = 0.0  # earliest time for the next chunk
        self.waiting_since: float | None = None  # input untaken in the pipe since then
        self.level = 0  # bytes in UML's input pipe at the last look
        self.next_look = 0.0  # earliest time to look at UML's epoll set again
        for fd in (sock, to_guest, from_guest):
            os.set_blocking(fd, False)
        for fd, size in ((to_guest, PIPE_IN if not pacing.paced else PIPE_PAGE),
                         (from_guest, PIPE_BIG)):
            try:
                fcntl.fcntl(fd, F_SETPIPE_SZ, size)
            except OSError:  # above /proc/sys/fs/pipe-max-size: keep the default
                if size == PIPE_PAGE:
                    raise

    def _in_pipe(self) -> int:
        """Bytes UML has not taken from its input pipe yet."""
        return int.from_bytes(fcntl.ioctl(self.to_guest, termios.FIONREAD, b"\0" * 4), "little")

    def _feed(self, now: float) -> float | None:
        """Give UML the next chunk when it took the last and the gap is over; the poll
        timeout (s) until the next try, None when there is nothing to give (or, unpaced,
        when the pipe's POLLOUT says when)."""
        if not self.h2g:
            return None
        if not self.pacing.paced:
            try:
                n = os.write(self.to_guest, self.h2g)
            except BlockingIOError:
                n = 0
            del self.h2g[:n]
            return None
        if now < self.next_put:
            return self.next_put - now
        if self._in_pipe():
            return self.pacing.gap_ms / 1000
        n = os.write(self.to_guest, self.h2g[:self.pacing.chunk])
        del self.h2g[:n]
        self.next_put = now + self.pacing.gap_ms / 1000
        return self.pacing.gap_ms / 1000 if self.h2g else None

    # -- the loop ---------------------------------------------------------------------------

    def run(self) -> None:
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        poller = select.poll()
        while True:
            now = time.monotonic()
            timeout = self._feed(now)
            wanted = {self.sock: 0, self.from_guest: select.POLLIN, self.to_guest: 0}
            if self.h2g and not self.pacing.paced:
                wanted[self.to_guest] = select.POLLOUT
            if len(self.h2g) < BACKLOG_MAX:
                wanted[self.sock] |= select.POLLIN
            if self.g2h:
                wanted[self.sock] |= select.POLLOUT
            if len(self.g2h) >= BACKLOG_MAX:
                wanted[self.from_guest] = 0
            for fd, events in wanted.items():
                poller.register(fd, events)
            if self.waiting_since is not None or self._in_pipe():
                timeout = min(timeout if timeout is not None else 1.0, 1.0)  # the watchdog
            ready = poller.poll(None if timeout is None else max(0, int(timeout * 1000 + 0.999)))
            for fd, events in ready:
                if not self._serve(fd, events):
                    return
            if self._watchdog():
                return

    def _serve(self, fd: int, events: int) -> bool:
        """Handle one ready fd; False when the relay should end."""
        if fd == self.to_guest:
            return not events & (select.POLLERR | select.POLLHUP)  # UML gone (POLLOUT: _feed)
        if fd == self.from_guest:
            try:
                data = os.read(fd, 1 << 20)
            except BlockingIOError:
                return True
            if not data:
                return False  # UML exited
            self.g2h += data
            return True
        if events & select.POLLIN:
            try:
                data = os.read(fd, 1 << 18)
            except BlockingIOError:
                data = None
            except ConnectionResetError:
                data = b""
            if data == b"":
                return False  # libguestfs closed the channel
            if data:
                self.h2g += data
        if events & select.POLLOUT and self.g2h:
            try:
                n = os.write(fd, self.g2h)
            except BlockingIOError:
                n = 0
            except OSError as exc:
                if exc.errno in (errno.EPIPE, errno.ECONNRESET):
                    return False
                raise
            del self.g2h[:n]
        elif events & (select.POLLHUP | select.POLLERR) and not events & select.POLLIN:
            return False
        return True

    def _watchdog(self) -> bool:
        """True (after stopping UML) when input has waited too long on a dead read interrupt.

        Waiting counts from the last time UML took something from its input pipe; UML's
        epoll set is looked at (in /proc) at most once a second, after a second without
        progress."""
        now = time.monotonic()
        level = self._in_pipe()
        if not level or level < self.level:
            self.waiting_since = None if not level else now
            self.level = level
            return False
        self.level = level
        if self.waiting_since is None:
            self.waiting_since = now
        waited = now - self.waiting_since
        if waited < 1.0 or now < self.next_look:
            return False
        self.next_look = now + 1.0
        armed = read_irq_armed(self.uml_pid, self.uml_input_fd)
        if armed is None:
            return True  # UML is gone
        if armed or waited < self.pacing.stall_s:
            return False
        _say(f"error: the daemon channel stalled: UML has not read its serial input for "
             f"{waited:.0f} s and its read interrupt is off (guest tty throttled); stopping "
             f"the appliance")
        try:
            os.kill(self.uml_pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        return True


if __name__ == "__main__":
    print(Pacing.parse(sys.argv[1] if len(sys.argv) > 1 else ""))
