"""What lgbench trusts on disk, and the checks that earn that trust: the one place that makes
folders, writes, reads back, moves, removes or chmods what lgbench owns.

lgbench runs as root and executes, loads or reports what it finds in its cache (the UML preload
library, the KVM verdict, appliances, guest images, inspection results), its results folders and
the SLURM cluster's state. Like libguestfs with its own cache, it uses a folder only when the
effective user owns it, nobody else can write to it, and nobody else can swap it through a
parent; and a file it reads back only when it is a regular file of that user that nobody else
can write. Files are written to a new name created with O_EXCL|O_NOFOLLOW and renamed over the
target, so a symlink planted at the target is replaced, never followed; removals and mode
changes never follow links either. tests/test_trust_boundary.py fails on a write anywhere else.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import pwd
import shutil
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger(__name__)
OTHERS_WRITE = stat.S_IWGRP | stat.S_IWOTH


class UntrustedPath(Exception):
    """A folder or file lgbench would rely on is not safe; the message names it, says what is
    wrong and how to fix it."""


def default_cache_dir() -> Path:
    """$LGBENCH_CACHE, else a per-user folder in /var/tmp (as libguestfs's .guestfs-UID)."""
    return Path(os.environ.get("LGBENCH_CACHE") or f"/var/tmp/lgbench-{os.geteuid()}")


def user_name(uid: int) -> str:
    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def folder_problem(st: os.stat_result) -> tuple[str, str] | None:
    """What makes a folder (its lstat) unsafe to rely on, and the fix; or None."""
    if stat.S_ISLNK(st.st_mode):
        return "is a symbolic link, not a folder", "remove the link or name the real folder"
    if not stat.S_ISDIR(st.st_mode):
        return "is not a folder", "remove it or name another folder"
    if st.st_uid != os.geteuid():
        return (f"is owned by {user_name(st.st_uid)}, not by {user_name(os.geteuid())} who "
                f"runs lgbench", "remove it (its contents cannot be trusted) or name a folder "
                "of your own")
    if st.st_mode & OTHERS_WRITE:
        return (f"is writable by group or others (mode {stat.S_IMODE(st.st_mode):04o})",
                "check its contents, then chmod go-w it, or name another folder")
    return None


def _ancestors(path: Path) -> list[Path]:
    """Every folder whose entries lead to path, along the path as written and as resolved."""
    written, resolved = path.parent, Path(os.path.realpath(path.parent))
    return sorted({*written.parents, written, *resolved.parents, resolved})


def parent_problem(path: Path) -> str | None:
    """Why someone other than the user or root could replace `path` through a parent."""
    me = os.geteuid()
    for ancestor in _ancestors(path):
        try:
            st = os.lstat(ancestor)
        except FileNotFoundError:
            continue
        if st.st_uid not in (0, me):
            return f"its parent {ancestor} is owned by {user_name(st.st_uid)}"
        if (not stat.S_ISLNK(st.st_mode) and st.st_mode & OTHERS_WRITE
                and not st.st_mode & stat.S_ISVTX):
            return (f"its parent {ancestor} is writable by group or others without the sticky "
                    f"bit (mode {stat.S_IMODE(st.st_mode):04o})")
    return None


def secure_folder(path: Path, private: bool = False) -> Path:
    """The folder `path`, created if missing (0700 if private, else 0755, parents alike) or
    checked if present; raises UntrustedPath when it or a parent is not safe to rely on."""
    path = Path(os.path.abspath(path))
    if not os.path.lexists(path.parent):
        secure_folder(path.parent)
    problem = parent_problem(path)
    if problem:
        raise UntrustedPath(f"will not use {path}: {problem}, so others could replace "
                            f"it; name a folder whose parents only you or root can change")
    try:
        os.mkdir(path, 0o700 if private else 0o755)
        os.chmod(path, 0o700 if private else 0o755)  # whatever the umask
    except FileExistsError:
        pass
    found = folder_problem(os.lstat(path))
    if found:
        what, fix = found
        raise UntrustedPath(f"will not use {path}: it {what}; {fix}")
    return path


def private_folder(path: Path) -> Path:
    """A folder only the user can enter (daemon state, keys, sockets): made 0700 when missing;
    when present, refused unless it is the user's own folder with mode 0700 exactly, since
    anything already in a folder someone else could enter might have been planted."""
    path = Path(os.path.abspath(path))
    existed = os.path.lexists(path)
    secure_folder(path, private=True)
    mode = stat.S_IMODE(os.lstat(path).st_mode)
    if existed and mode != 0o700:
        raise UntrustedPath(f"will not use {path}: its mode is {mode:04o}, not 0700, so others "
                            f"may have put files in it; remove it (it is made afresh)")
    return path


MIN_FREE_BYTES = 1 << 20  # less than this left in a folder, and its first rows would not fit


def writable_problem(path: Path) -> str | None:
    """Why lgbench could not write in the folder `path` (or make it, when missing): a read-only
    or full file system, no write right, a file in the way; None when it can. Asked before
    anything launches, so a run is not measured only to be lost."""
    existing = Path(os.path.abspath(path))
    while not os.path.lexists(existing):
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is not a folder"
    fs = os.statvfs(existing)
    if fs.f_flag & os.ST_RDONLY:
        return f"{existing} is on a read-only file system"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing} cannot be written by {user_name(os.geteuid())}"
    free = fs.f_bavail * fs.f_frsize
    if free < MIN_FREE_BYTES:
        return f"the file system of {existing} is full ({free // 1024} KiB free)"
    return None


def read_trusted(path: Path) -> bytes | None:
    """The bytes of a cached file, or None when there is none or it cannot be trusted (a
    symlink, not the user's, writable by others): such a file is removed, so it is rebuilt."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        return _discard(path, "it is a symbolic link")
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        problem = file_problem(st)
        if problem:
            return _discard(path, problem)
        return f.read()


def read_back(path: Path) -> bytes:
    """The bytes of the user's own regular file at `path` (stored results, a run's figure, a
    daemon's pid file), opened without following a link: a link, a FIFO or another user's
    file planted there (to make root copy a secret into a report, or to hang it) raises
    UntrustedPath; a missing one FileNotFoundError. Nothing is removed: unlike a cached file,
    it is not lgbench's to rebuild."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except NotADirectoryError:
        raise FileNotFoundError(errno.ENOENT, "no such file", str(path)) from None
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        raise UntrustedPath(f"will not read {path}: it is a symbolic link") from None
    with os.fdopen(fd, "rb") as f:
        problem = file_problem(os.fstat(f.fileno()))
        if problem:
            raise UntrustedPath(f"will not read {path}: {problem}; only files of "
                                f"{user_name(os.geteuid())} are read back")
        return f.read()


def read_own(path: Path) -> bytes | None:
    """read_back's bytes, or None when there is no such file or it is not the user's own."""
    try:
        return read_back(path)
    except (FileNotFoundError, UntrustedPath):
        return None


def file_problem(st: os.stat_result) -> str | None:
    """What makes a file (its stat) unsafe to load or execute, or None."""
    if not stat.S_ISREG(st.st_mode):
        return "it is not a regular file"
    if st.st_uid != os.geteuid():
        return f"it is owned by {user_name(st.st_uid)}"
    if st.st_mode & OTHERS_WRITE:
        return f"it is writable by group or others (mode {stat.S_IMODE(st.st_mode):04o})"
    return None


def executable_problem(path: Path) -> str | None:
    """Why lgbench must not run the program at `path` (a user's hypervisor wrapper), or None:
    it must be a regular executable file, owned by the user or root and writable by no one
    else, reached through folders only they can change (a link, through its target too)."""
    real = Path(os.path.realpath(path))
    try:
        st = os.stat(real)
    except FileNotFoundError:
        return "it does not exist"
    if not stat.S_ISREG(st.st_mode):
        return "it is not a regular file"
    if st.st_uid not in (0, os.geteuid()):
        return f"it is owned by {user_name(st.st_uid)}"
    if st.st_mode & OTHERS_WRITE:
        return f"it is writable by group or others (mode {stat.S_IMODE(st.st_mode):04o})"
    if not st.st_mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH):
        return "it is not executable"
    return parent_problem(Path(os.path.abspath(path))) or parent_problem(real)


def trusted_file(path: Path) -> bool:
    """Whether a cached file exists and may be used as it is; an untrusted one is removed."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    problem = "it is a symbolic link" if stat.S_ISLNK(st.st_mode) else file_problem(st)
    if problem:
        _discard(path, problem)
        return False
    return True


def _discard(path: Path, problem: str) -> None:
    log.warning("ignoring and removing %s: %s; it will be made again", path, problem)
    try:
        os.unlink(path)
    except IsADirectoryError:
        raise UntrustedPath(f"will not use {path}: {problem}; remove it") from None
    except FileNotFoundError:
        pass
    return None


def atomic_write(path: Path, write: Callable[[str], None], mode: int = 0o644) -> None:
    """Write through `write(temporary path)` to a new file beside `path` (O_EXCL|O_NOFOLLOW:
    a planted name or symlink cannot redirect it), then rename it over `path`. The file gets
    `mode` less the umask: readable by others unless the umask says otherwise (results are
    shared); the one atomic write of the harness."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    try:
        write(tmp)
        os.chmod(tmp, mode & ~umask)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):  # already renamed when Ctrl-C came late
            os.unlink(tmp)
        raise


def write_bytes(path: Path, data: bytes, mode: int = 0o644) -> None:
    """`data` as the file `path`, written atomically (atomic_write)."""
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(data), mode)


def write_text(path: Path, text: str, mode: int = 0o644) -> None:
    """`text` as the file `path`, written atomically (atomic_write)."""
    write_bytes(path, text.encode(), mode)


def create_file(path: Path, mode: int = 0o644) -> BinaryIO:
    """A new file at `path` for output written as it comes (a log, a program's stdout):
    whatever was there is removed first (a link itself, never its target) and the file is
    created with O_EXCL|O_NOFOLLOW, so nothing planted can redirect it."""
    remove(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    return os.fdopen(fd, "wb")


def remove(path: Path) -> None:
    """Remove the file or link at `path` (a link itself, never what it points to); nothing
    there is fine."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def remove_tree(path: Path, ignore_errors: bool = False) -> None:
    """Remove the folder `path` and everything in it without following any link: a link at
    `path` or inside it is removed itself (shutil.rmtree works through file descriptors on
    Linux, so a link swapped in meanwhile is not followed either)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        remove(path)
        return
    shutil.rmtree(path, ignore_errors=ignore_errors)


def set_mode(path: Path, mode: int) -> None:
    """chmod `path`, refusing to follow a link planted there (ELOOP)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        os.fchmod(fd, mode)
    finally:
        os.close(fd)


def move(source: Path, target: Path) -> None:
    """Rename `source` to `target` in the same file system (into folders lgbench checked): a
    link at either is moved or replaced, never followed."""
    os.replace(source, target)


def write_kernel_setting(path: Path, text: str) -> None:
    """Write a kernel setting under /proc/sys (e.g. vm/drop_caches); nothing else."""
    if not os.path.abspath(path).startswith("/proc/sys/"):
        raise ValueError(f"{path} is not a kernel setting under /proc/sys")
    fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "w") as control:
        control.write(text)


def discard_output(fd: int) -> None:
    """Point `fd` (stdout, whose reader went away) at /dev/null, the system's own device: what
    is still buffered for it is dropped at exit instead of raising BrokenPipeError."""
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, fd)
    os.close(null)
