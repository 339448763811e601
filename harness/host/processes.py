"""Ending what trials start: process groups, stragglers found by command line, parent death."""

from __future__ import annotations

import ctypes
import os
import re
import signal
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
    qemu itself and reports only a closed connection. A thread waits with WNOWAIT, leaving the
    child for its owner to reap; children of this program's own name (libguestfs's recovery
    process, which close() SIGKILLs) are not what failed."""

    def __init__(self) -> None:
        self._killed: str | None = None
        self._seen = threading.Event()
        self._own_name = psutil.Process().name()
        threading.Thread(target=self._watch, daemon=True).start()

    def killed(self, settle_s: float = 0.5) -> str | None:
        """What was killed, if anything; waits up to settle_s for a death just noticed by
        the library (the watcher needs a moment to name it)."""
        self._seen.wait(settle_s)
        return self._killed

    def _watch(self) -> None:
        while True:
            try:
                info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOWAIT)
            except ChildProcessError:  # no child yet
                time.sleep(0.05)
                continue
            if info is None:
                continue
            name = _name(info.si_pid)
            if info.si_code in (os.CLD_KILLED, os.CLD_DUMPED) and name != self._own_name:
                self._killed = (f"{name} (pid {info.si_pid}) was killed by signal "
                                f"{info.si_status} ({signal.Signals(info.si_status).name})")
                self._seen.set()
                return
            while _waitable(info.si_pid):  # until its owner reaps it
                time.sleep(0.05)


def _name(pid: int) -> str:
    try:
        return psutil.Process(pid).name()
    except psutil.Error:
        return "a child process"


def _waitable(pid: int) -> bool:
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return False
