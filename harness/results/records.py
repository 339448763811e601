"""The trial row: one appliance instance in one repetition of one cell.

Format history (bump SCHEMA_VERSION on any change of columns or meaning):
  1: first version.
  2: `timeline` (the trial recorded verbose events, which slows it) became a column and a
     cell factor.
  3: memory and process columns: `appliance_pid`, `appliance_rss_peak_mib` (the hypervisor's
     peak resident size), `host_cost_mib` (that plus its helpers' private memory),
     `host_mem_start_mib` / `host_mem_peak_mib` (host memory in use at the repetition's
     release and at its peak); libvirt: `libvirt_max_clients` (the limit in force) and, in
     timeline trials, `connected_s` (release until libvirtd accepted the connection).
  4: `failed_in` on a failed trial's row: `drives` (adding the guest's disks or domain,
     before any launch), `launch`, or `workload` (after the launch; for a workload that
     launches its own appliances, anywhere in it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

SCHEMA_VERSION = 4

# A timeline (verbose) trial is slower: its cell label ends so, never read as the plain cell.
TIMELINE_SUFFIX = "/timeline"

# The value of `runs` (config, metadata.json) that measures until the median is precise.
RUNS_AUTO = "auto"
# Measured repetitions of a cell without runs=: the fewest whose median has a 95% CI.
DEFAULT_RUNS = 6

STATUS_OK = "ok"
STATUS_ERROR = "error"
STATUS_TIMEOUT = "timeout"
STATUS_UNSUPPORTED = "unsupported"
STATUS_INFEASIBLE = "infeasible"
STATUSES = (STATUS_OK, STATUS_ERROR, STATUS_TIMEOUT, STATUS_UNSUPPORTED, STATUS_INFEASIBLE)

# Columns holding durations in seconds: the runner's, then those the workloads declare
# (Workload.timed_columns); stats summarise each of them.
RUNNER_COLUMNS = ("launch_s", "total_s", "makespan_s")  # every trial's, whatever the workload
TIMED_COLUMNS = (*RUNNER_COLUMNS, "connected_s", "upload_s", "download_s",
                 "lookup_s", "inspect_s", "mount_s", "applications_s", "icon_s", "umount_s",
                 "operations_s", "per_operation_s", "first_operation_s", "calls_s", "call_s")


def repetition_metric(parallel: int) -> str:
    """The value one repetition of a cell stands for: with N > 1 appliances at once, its
    makespan (its N instances are not independent trials), else the trial's launch+close. The
    one rule for runs=auto, the headline, the noise checks and a sweep's comparisons."""
    return "makespan_s" if parallel > 1 else "total_s"


# Columns that identify a cell (the swept factors), plus the transfer size, which splits one
# trial into rows; stats group by those present.
CELL_COLUMNS = ("cell", "backend", "accel_requested", "appliance", "cache_state", "workload",
                "parallel", "memsize", "smp", "timeline", "libvirt_max_clients", "page_cache",
                "append", "uml_channel", "size_bytes")


@dataclass(frozen=True)
class TrialRow:
    """One row of trials.parquet. Workload-specific measurements go in `extra`."""

    run_id: str
    cell: str
    backend: str
    accel_requested: str
    accel_effective: str | None
    appliance: str
    cache_state: str
    workload: str
    parallel: int
    memsize: int | None
    smp: int
    instance: int
    repetition: int
    warmup: bool
    status: str
    error: str | None
    started_at: float | None  # wall clock, seconds since the epoch
    ended_at: float | None
    launch_s: float | None
    total_s: float | None
    makespan_s: float | None
    timeline: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}; expected one of {STATUSES}")

    def to_dict(self) -> dict[str, Any]:
        """A flat dict: `extra` becomes ordinary columns."""
        row = asdict(self)
        row.update(row.pop("extra"))
        return row
