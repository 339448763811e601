"""What appliances cost the host in memory, read from /proc: the appliance's peak resident
size, its helpers' private memory, and the host's memory in use."""

from __future__ import annotations

import psutil

MIB = 2**20


def host_used_mib() -> float:
    """Memory in use on the host: total minus what is available to new processes."""
    memory = psutil.virtual_memory()
    return (memory.total - memory.available) / MIB


def peak_resident_mib(pid: int) -> float | None:
    """The process's peak resident set size so far (VmHWM), or None when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        return None
    return None


def private_mib(pid: int) -> float:
    """Memory only this process holds (USS): what it costs beyond pages it shares."""
    try:
        return psutil.Process(pid).memory_full_info().uss / MIB
    except psutil.Error:
        return 0.0


def appliance_cost(appliance_pid: int, helper_pids: list[int]) -> dict[str, float | None]:
    """One appliance's host memory: its hypervisor's peak resident size plus the private
    memory of the processes running it (worker, libguestfs's recovery process).

    Helpers count by USS because a forked worker shares most of its pages with lgbench.
    """
    peak = peak_resident_mib(appliance_pid)
    helpers = sum(private_mib(pid) for pid in helper_pids if pid != appliance_pid)
    return {"appliance_rss_peak_mib": peak,
            "host_cost_mib": None if peak is None else peak + helpers}
