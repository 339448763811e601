"""Can N appliances run at once here? Checked before launching, so a cell that cannot fit
becomes `infeasible` rows with the numbers instead of an out-of-memory host.

Memory follows what appliances of the same kind really used on this host (their measured
host cost, cached per backend, appliance, workload and memsize) plus MARGIN; until one was
measured, the guest's whole RAM plus OVERHEAD_MIB, which is what a guest could use at most.
"""

from __future__ import annotations

import json
import resource
from pathlib import Path

import psutil

from harness.host import trust

# Host memory an appliance may cost beyond its guest RAM when nothing was measured: qemu's own
# RSS (TCG translation cache included), the worker and libguestfs's recovery process.
OVERHEAD_MIB = 300
# Added to a measured cost: a guest touches more of its RAM on some launches than on others.
MARGIN = 0.25
FOOTPRINTS_FILE = "appliance-footprints.json"
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


def measured_footprints(cache_dir: Path) -> dict[str, float]:
    """Host cost (MiB) last measured per kind of appliance here (backend/appliance/workload/
    memsize), from the cache."""
    return json.loads(trust.read_trusted(cache_dir / FOOTPRINTS_FILE) or "{}")


def measured_footprint(cache_dir: Path, kind: str) -> float | None:
    """The host cost (MiB) last measured for one appliance of this kind here, if any."""
    return measured_footprints(cache_dir).get(kind)


def record_footprint(cache_dir: Path, kind: str, cost_mib: float) -> None:
    """Remember the largest host cost one appliance of this kind had in a repetition."""
    recorded = measured_footprints(cache_dir)
    recorded[kind] = round(cost_mib, 1)
    trust.atomic_write(cache_dir / FOOTPRINTS_FILE,
                       lambda tmp: Path(tmp).write_text(json.dumps(recorded, indent=1)))


def model() -> dict[str, float]:
    """The memory model's constants, for metadata.json (the report states them)."""
    return {"margin": MARGIN, "unmeasured_overhead_mib": OVERHEAD_MIB}


def per_appliance_mib(memsize_mib: int | None, measured_mib: float | None) -> tuple[float, str]:
    """The memory charged per appliance, and how it was reckoned (for the row's reason)."""
    memsize = memsize_mib or LIBGUESTFS_DEFAULT_MEMSIZE_MIB
    if measured_mib is None:
        return memsize + OVERHEAD_MIB, f"memsize {memsize} + {OVERHEAD_MIB} (not measured yet)"
    return measured_mib * (1 + MARGIN), f"measured {measured_mib:.0f} + {MARGIN:.0%} margin"


def memory_problem(parallel: int, memsize_mib: int | None,
                   measured_mib: float | None) -> str | None:
    """Why `parallel` appliances would not fit in the memory available now (None: they fit)."""
    per_appliance, reckoning = per_appliance_mib(memsize_mib, measured_mib)
    need = parallel * per_appliance
    available = psutil.virtual_memory().available / 2**20
    if need <= available:
        return None
    return (f"memory: {parallel} x {per_appliance:.0f} MiB ({reckoning}) = {need:.0f} MiB > "
            f"{available:.0f} MiB available")


def most_that_fit(memsize_mib: int | None, measured_mib: float | None) -> int:
    """How many appliances fit in the memory available now, charged as memory_problem
    charges them (a sweep searching N adds none past it)."""
    per_appliance, _ = per_appliance_mib(memsize_mib, measured_mib)
    return int(psutil.virtual_memory().available / 2**20 // per_appliance)


def problems(parallel: int, memsize_mib: int | None, measured_mib: float | None = None,
             check_memory: bool = True) -> list[str]:
    """Why `parallel` appliances of `memsize_mib` cannot run at once here (empty: they can)."""
    found = []
    if check_memory and (problem := memory_problem(parallel, memsize_mib, measured_mib)):
        found.append(problem)
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


class CellFeasibility:
    """Whether one cell's appliances fit this host, and what they cost here, in one place
    because the memory check moves: with nothing of this kind measured here yet, a cell of
    N > 1 appliances with warm-ups is judged after its warm-up measured one, not on the
    guest's whole RAM before; and every repetition's cost is kept for the cells after it."""

    def __init__(self, cache_dir: Path, kind: str, parallel: int, memsize_mib: int | None,
                 warmup: int) -> None:
        self.cache_dir, self.kind = cache_dir, kind  # kind: backend/appliance/workload/mMEMSIZE
        self.parallel, self.memsize_mib, self.warmup = parallel, memsize_mib, warmup
        self.measured_mib = measured_footprint(cache_dir, kind)
        self.memory_deferred = self.measured_mib is None and warmup > 0 and parallel > 1

    def problems(self) -> list[str]:
        """Why the cell cannot start here (empty: it can); memory only if not deferred."""
        return problems(self.parallel, self.memsize_mib, self.measured_mib,
                        check_memory=not self.memory_deferred)

    def problem_before(self, rep: int) -> str | None:
        """Why repetition `rep` cannot run: at the first measured one, with the memory check
        deferred, N appliances at the cost the warm-ups measured do not fit."""
        if rep != self.warmup or not self.memory_deferred:
            return None
        return memory_problem(self.parallel, self.memsize_mib,
                              measured_footprint(self.cache_dir, self.kind))

    def record(self, costs: list[float | None]) -> None:
        """Keep the largest host cost a repetition's appliances had (None: not measured)."""
        if measured := [c for c in costs if c is not None]:
            record_footprint(self.cache_dir, self.kind, max(measured))
