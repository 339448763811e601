"""The performance guide's first step when a launch fails: run `libguestfs-test-tool` with the same
settings, once per cell, and keep what it printed beside the run (guestfs-performance(1) and
guestfs-faq(1) ask for its output before anything else)."""

from __future__ import annotations

import math
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from harness.appliances.base import Appliance
from harness.backends.base import Backend, handle_environment
from harness.host import processes, trust
from harness.plan import CellPlan
from harness.results.records import STATUS_ERROR

TEST_TOOL = "libguestfs-test-tool"
TEST_TOOL_FILE = "libguestfs-test-tool.txt"
TEST_TOOL_TIMEOUT_S = 300  # its own -t: how long it waits for the appliance


def launch_failed(rows: list[dict[str, Any]]) -> bool:
    """Whether some trial failed before its appliance finished launching, once its drives
    were added (a domain libvirt does not know, say, is no launch problem to diagnose)."""
    return any(row["status"] == STATUS_ERROR and _missing(row.get("launch_s"))
               and row.get("failed_in") != "drives" for row in rows)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def run_test_tool(backend: Backend, appliance: Appliance, plan: CellPlan,
                  run_dir: Path) -> dict[str, Any]:
    """libguestfs-test-tool under the environment a trial handle of this cell had (backend,
    its settings, hypervisor, memory, appliance); its output in run_dir/TEST_TOOL_FILE.
    Returns what metadata.json records: the file, the exit status (None: killed at the time
    limit) and the gist (its last `error:` line, else its last line). Whatever it started
    has ended on return."""
    tmpdir = Path(tempfile.mkdtemp(prefix="lgb-test-tool-"))
    output = run_dir / TEST_TOOL_FILE
    process = None
    try:
        handle = backend.create_handle(plan.memsize, plan.smp, tmpdir, False)
        if plan.append:
            handle.set_append(plan.append)
        appliance.configure(handle)
        env = handle_environment(handle)
        handle.close()
        with trust.create_file(output) as out:
            process = subprocess.Popen([TEST_TOOL, "-t", str(TEST_TOOL_TIMEOUT_S)], env=env,
                                       stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
            try:
                status: int | None = process.wait(TEST_TOOL_TIMEOUT_S + 60)
            except subprocess.TimeoutExpired:
                status = None
    finally:  # also on a timeout or Ctrl-C: nothing it started outlives it
        if process is not None:
            processes.kill_group(process.pid)
            process.wait()
        processes.kill_referencing(str(tmpdir))
        trust.remove_tree(tmpdir, ignore_errors=True)
    lines = output.read_text(errors="replace").strip().splitlines()
    errors = [line for line in lines if "error:" in line]
    return {"file": str(output), "exit_status": status,
            "gist": (errors or lines or [""])[-1]}
