"""Can N appliances run at once here? Checked before launching, so a cell that cannot fit
becomes `infeasible` rows with the numbers instead of an out-of-memory host."""

from __future__ import annotations

import resource
from pathlib import Path

import psutil

# Host memory an appliance costs beyond its guest RAM: qemu's own RSS (TCG translation cache
# included), the worker process and libguestfs's recovery process. Measured here: see
# benchmarks/appliance_footprint.py.
OVERHEAD_MIB = 300
# Tasks (processes + threads) per appliance: worker, recovery process, qemu and its threads.
TASKS_PER_APPLIANCE = 16
# File descriptors per appliance, system-wide (qemu's eventfds dominate).
FILES_PER_APPLIANCE = 200
LIBGUESTFS_DEFAULT_MEMSIZE_MIB = 1280  # libguestfs >= 1.44 when memsize is not set


def _read_int(path: str) -> int | None:
    try:
        return int(Path(path).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def problems(parallel: int, memsize_mib: int | None) -> list[str]:
    """Why `parallel` appliances of `memsize_mib` cannot run at once here (empty: they can)."""
    memsize = memsize_mib or LIBGUESTFS_DEFAULT_MEMSIZE_MIB
    found = []
    need = parallel * (memsize + OVERHEAD_MIB)
    available = psutil.virtual_memory().available // 2**20
    if need > available:
        found.append(f"memory: {parallel} x (memsize {memsize} + overhead {OVERHEAD_MIB}) MiB = "
                     f"{need} MiB > {available} MiB available")
    tasks = parallel * TASKS_PER_APPLIANCE
    soft_nproc, _ = resource.getrlimit(resource.RLIMIT_NPROC)
    task_limits = [("threads-max", _read_int("/proc/sys/kernel/threads-max")),
                   ("pid_max", _read_int("/proc/sys/kernel/pid_max")),
                   ("RLIMIT_NPROC", None if soft_nproc == resource.RLIM_INFINITY else soft_nproc)]
    in_use = len(psutil.pids())
    for name, limit in task_limits:
        if limit is not None and tasks + in_use > limit:
            found.append(f"processes: {parallel} x {TASKS_PER_APPLIANCE} tasks + {in_use} in use "
                         f"> {name} {limit}")
    file_nr = Path("/proc/sys/fs/file-nr").read_text().split()
    files_in_use, files_max = int(file_nr[0]), int(file_nr[2])
    if files_in_use + parallel * FILES_PER_APPLIANCE > files_max:
        found.append(f"open files: {files_in_use} in use + {parallel} x {FILES_PER_APPLIANCE} "
                     f"> fs.file-max {files_max}")
    return found
