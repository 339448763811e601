"""Ending what trials start: process groups, stragglers found by command line, parent death."""

from __future__ import annotations

import ctypes
import os
import re
import signal
import socket
import struct
import subprocess
import threading
import time

import psutil

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux prctl)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def run_in_group(command: list[str], env: dict[str, str] | None = None,
                 timeout: float | None = None) -> subprocess.CompletedProcess:
    """Run a command in a process group of its own, and kill the whole group when it returns,
    times out (TimeoutExpired) or is interrupted (Ctrl-C): its helpers never outlive it."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        kill_group(proc.pid)
        proc.wait()
    return subprocess.CompletedProcess(command, proc.returncode, out, err)


def kill_group(pgid: int, wait_s: float = 10.0) -> None:
    """SIGKILL a whole process group and wait until its members are dead (gone or zombies).

    A process in the middle of a KVM or disk call can take a while to die after SIGKILL;
    returning before that would let it overlap the next trial.
    """
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + wait_s
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)


def group_members(pgid: int) -> list[int]:
    """Pids of the living (non-zombie) processes in a process group."""
    members = []
    for proc in psutil.process_iter(["pid", "status"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                members.append(proc.pid)
        except (ProcessLookupError, psutil.Error):
            continue
    return members


def referencing(folder: str) -> list[psutil.Process]:
    """Processes (not this one) whose command line names `folder` or a path below it.

    A whole path component must match: an instance folder `<tmp>/1` is not named by a qemu
    using `<tmp>/10/...` (with 11 or more appliances at once that mix-up gave wrong rows).
    """
    named = re.compile(re.escape(folder.rstrip("/")) + r"(?=/|$|[,:;=\s])")
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        if proc.pid == os.getpid():
            continue
        if any(named.search(arg) for arg in proc.info["cmdline"] or ()):
            found.append(proc)
    return found


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def kill_referencing(folder: str, wait_s: float = 10.0) -> list[int]:
    """SIGKILL every process whose command line names `folder`; return their pids once dead.

    Dead means gone or a zombie: a killed orphan may wait long for pid 1 to reap it.
    """
    procs = referencing(folder)
    for proc in procs:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    deadline = time.monotonic() + wait_s
    while any(_alive(p) for p in procs) and time.monotonic() < deadline:
        time.sleep(0.05)
    return [p.pid for p in procs]


class ChildDeaths:
    """Watches this process's children for the first one killed by a signal (a hypervisor
    SIGKILLed by the OOM killer or a user), so a failed trial can say so: libguestfs reaps its
    qemu itself, at once, and reports only a closed connection. The kernel's process events
    (the netlink proc connector, root only) tell every exit with its status to a listener
    that need not be the parent, so nothing races libguestfs's waitpid. Children of this
    program's own name (libguestfs's recovery process, SIGKILLed when a handle closes) are
    not what failed. Where the connector cannot be opened, nothing is reported."""

    def __init__(self) -> None:
        self._killed: str | None = None
        self._seen = threading.Event()
        self._names: dict[int, str] = {}  # children's program names, taken at their exec
        self._me, self._own_name = os.getpid(), psutil.Process().name()
        try:
            self._events = _proc_events()
        except OSError:
            return
        threading.Thread(target=self._watch, daemon=True).start()

    def killed(self, settle_s: float = 0.5) -> str | None:
        """What was killed, if anything; waits up to settle_s for the event of a death the
        library has just noticed."""
        self._seen.wait(settle_s)
        return self._killed

    def _watch(self) -> None:
        while True:
            try:
                data = self._events.recv(65536)
            except OSError:  # ENOBUFS: a burst of the host's events overflowed; read on
                continue
            (what,) = struct.unpack_from("I", data, PROC_EVENT_OFFSET)
            if what == PROC_EVENT_EXEC:
                pid, tgid = struct.unpack_from("II", data, PROC_EVENT_DATA)
                if pid == tgid and _parent(pid) == self._me:
                    self._names[pid] = _name(pid)
            elif what == PROC_EVENT_EXIT:
                pid, tgid, status, _, _, parent = struct.unpack_from("6I", data,
                                                                     PROC_EVENT_DATA)
                name = self._names.get(pid) or _name(pid)
                signum = status & 0x7F
                if (pid == tgid and parent == self._me and signum
                        and name != self._own_name):
                    self._killed = (f"{name} (pid {pid}) was killed by signal {signum} "
                                    f"({signal.Signals(signum).name})")
                    self._seen.set()
                    self._events.close()
                    return


# The proc connector (linux/cn_proc.h, linux/connector.h): a netlink datagram is a 16-byte
# nlmsghdr, a 20-byte cn_msg, then the proc_event: what, cpu, timestamp (16 bytes) and its data.
NETLINK_CONNECTOR, CN_IDX_PROC, CN_VAL_PROC, PROC_CN_MCAST_LISTEN = 11, 1, 1, 1
PROC_EVENT_EXEC, PROC_EVENT_EXIT = 0x2, 0x80000000
PROC_EVENT_OFFSET, PROC_EVENT_DATA = 36, 52


def _proc_events() -> socket.socket:
    """A netlink socket subscribed to the kernel's process events (fork, exec, exit)."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_CONNECTOR)
    try:
        sock.bind((0, CN_IDX_PROC))
        listen = struct.pack("I", PROC_CN_MCAST_LISTEN)
        message = struct.pack("IIIIHH", CN_IDX_PROC, CN_VAL_PROC, 0, 0, len(listen), 0) + listen
        sock.send(struct.pack("IHHII", 16 + len(message), 3, 0, 0, 0) + message)  # NLMSG_DONE
    except OSError:
        sock.close()
        raise
    return sock


def _parent(pid: int) -> int | None:
    try:
        return psutil.Process(pid).ppid()
    except psutil.Error:
        return None


def _name(pid: int) -> str:
    try:
        return psutil.Process(pid).name()
    except psutil.Error:
        return "a child process"
