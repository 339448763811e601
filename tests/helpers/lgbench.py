"""How tests run lgbench's console scripts: as subprocesses, in an environment that names the
cache (and, where given, the results folder) and shows Hydra's short errors, or `lgbench` called
in this process where the test is about what a run writes and prints rather than about the
process; and the process checks that go with them (alive, wait_for, interrupt_when,
appliance_pids)."""

from __future__ import annotations

import io
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import psutil

BIN = Path(sys.executable).parent
LGBENCH = BIN / "lgbench"
LGBENCH_REPORT = BIN / "lgbench-report"
LGBENCH_IMAGES = BIN / "lgbench-images"
LGBENCH_DOCTOR = BIN / "lgbench-doctor"

# Real TCG appliances in a shared cache: a bounded KVM probe (it hangs here) keeps a fresh cache
# cheap.
TCG = ("backend=tcg", "runs=1", "warmup=0", "probe_timeout_s=10")


def lgbench_env(cache: Path | None, results: Path | None = None) -> dict[str, str]:
    """This process's environment with LGBENCH_CACHE=cache and LGBENCH_RESULTS=results (None:
    left as they are here), and without HYDRA_FULL_ERROR: the clean-error tests must see what
    users see."""
    env = dict(os.environ)
    if cache is not None:
        env["LGBENCH_CACHE"] = str(cache)
    if results is not None:
        env["LGBENCH_RESULTS"] = str(results)
    env.pop("HYDRA_FULL_ERROR", None)
    return env


def within(tmp: Path, cache: Path | None = None) -> dict[str, Path]:
    """The keywords of a run kept in tmp: cache tmp/cache (or `cache`), results tmp/results,
    working folder tmp."""
    return {"cache": cache or tmp / "cache", "results": tmp / "results", "cwd": tmp}


def lgbench(*args: str, cache: Path | None, results: Path | None = None,
            cwd: Path | None = None, program: Path = LGBENCH,
            timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `program ARGS` (lgbench unless another console script is named) to its end, output
    captured. cache and results: as lgbench_env; cwd None: pytest's own working folder."""
    return subprocess.run([str(program), *args], capture_output=True, text=True,
                          env=lgbench_env(cache, results), cwd=cwd, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def in_process(*args: str, cache: Path | None, results: Path | None = None,
               cwd: Path | None = None) -> subprocess.CompletedProcess:
    """`lgbench ARGS` as `lgbench` would run it, environment and working folder included, but
    called in this process: no interpreter start and no imports (about 1.4 s a call here).
    Whatever the call changes in this process (environment, argv, working folder, signal
    handlers, logging, Hydra's global state) is put back. For tests about what a run writes and
    prints; exit on signals, leaks and the console script itself keep their subprocess tests."""
    from hydra.core.global_hydra import GlobalHydra

    from harness.cli import run as entry

    env, argv, cwd_before = dict(os.environ), sys.argv, os.getcwd()
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    root = logging.getLogger()
    root_handlers, root_level = root.handlers[:], root.level
    out, err = io.StringIO(), io.StringIO()
    code: int = 0
    run_env = lgbench_env(cache, results)  # before the clear: it copies this environment
    os.environ.clear()
    os.environ.update(run_env)
    sys.argv = ["lgbench", *args]
    try:
        if cwd is not None:
            os.chdir(cwd)
        GlobalHydra.instance().clear()
        with redirect_stdout(out), redirect_stderr(err):
            try:
                entry.main()
            except SystemExit as exc:
                if isinstance(exc.code, str):  # sys.exit("...") prints it and exits 1
                    print(exc.code, file=sys.stderr)
                code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    finally:
        GlobalHydra.instance().clear()
        for handler in root.handlers:
            if handler not in root_handlers:
                handler.close()
        root.handlers[:] = root_handlers
        root.setLevel(root_level)
        os.chdir(cwd_before)
        sys.argv = argv
        os.environ.clear()
        os.environ.update(env)
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    return subprocess.CompletedProcess(["lgbench", *args], code, out.getvalue(), err.getvalue())


def run_in_process_in(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    """`lgbench ARGS hydra.run.dir=TMP/run` in tmp, as run_lgbench_in runs it, but called in
    this process (in_process)."""
    return in_process(*args, f"hydra.run.dir={tmp / 'run'}", **within(tmp))


def start(*args: str, cache: Path | None, results: Path | None = None,
          cwd: Path | None = None, program: Path = LGBENCH, **popen) -> subprocess.Popen:
    """`program ARGS` started as `lgbench` runs it, stdout and stderr piped (text); further
    keywords go to Popen (start_new_session=True, say). The caller ends it."""
    return subprocess.Popen([str(program), *args], env=lgbench_env(cache, results), cwd=cwd,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **popen)


def run_lgbench_in(tmp: Path, *args: str, program: Path = LGBENCH,
                   timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `lgbench ARGS hydra.run.dir=TMP/run` (or another console script with ARGS) in tmp,
    with its cache and default results there too."""
    run_dir = [f"hydra.run.dir={tmp / 'run'}"] if program == LGBENCH else []
    return lgbench(*args, *run_dir, program=program, timeout=timeout, **within(tmp))


def start_in(tmp: Path, *args: str) -> subprocess.Popen:
    """`lgbench ARGS hydra.run.dir=TMP/run` started in tmp, as run_lgbench_in runs it."""
    return start(*args, f"hydra.run.dir={tmp / 'run'}", **within(tmp))


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_for(condition, timeout: float):
    """condition()'s first truthy value within timeout seconds, else None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.1)
    return None


def interrupt_when(proc, ready, sig=signal.SIGINT):
    """Wait for `ready()` (a truthy value), send `sig`, and return (value, stdout + stderr);
    the process never outlives the test."""
    try:
        value = ready()
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return value, out + err


def trials_folder() -> str:
    """Where this test process's trials make their folders: `<TMPDIR>/lgb-...` (each
    pytest-xdist worker has its own TMPDIR, tests/conftest.py), so the process checks below
    see this worker's processes only."""
    return f"{tempfile.gettempdir()}/lgb-"


def names_a_trial(cmdline: list[str] | None) -> bool:
    """Whether a process's argv names a trial folder of this test process."""
    return any(trials_folder() in a for a in cmdline or ())


def of_another_worker(cmdline: list[str] | None) -> bool:
    """Whether a process's argv names another pytest-xdist worker's TMPDIR
    (`<tmp>/lgbench-tests-gwN`, tests/conftest.py): a process of that worker's tests, which
    may share this one's cache."""
    mine = tempfile.gettempdir().rstrip("/") + "/"
    return any("/lgbench-tests-gw" in a and mine not in a for a in cmdline or ())


def appliance_pids() -> set[int]:
    """Living qemu and UML processes of lgbench trials (their argv names <TMPDIR>/lgb-...).

    A killed process whose parent is gone may linger as a zombie where pid 1 does not reap.
    """
    return {p.pid for p in psutil.process_iter(["name", "cmdline", "status"])
            if p.info["status"] != psutil.STATUS_ZOMBIE
            and ("qemu" in (p.info["name"] or "") or "linux" in (p.info["name"] or ""))
            and names_a_trial(p.info["cmdline"])}
