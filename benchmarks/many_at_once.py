"""32 appliances at once on this host: all ok, peak memory recorded, nothing left running.

Runs `lgbench parallel=N memsize=512` (one warm-up, which measures what one appliance costs
before N launch) and prints the outcome, the host's peak memory in use against its total,
one appliance's cost, and any hypervisor process still alive afterwards.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import psutil

from harness.host import trust

LGBENCH = Path(sys.executable).parent / "lgbench"


def hypervisors() -> list[str]:
    """qemu or UML processes of lgbench trials (their command lines name /tmp/lgb-...)."""
    found = []
    for proc in psutil.process_iter(["pid", "name", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or ())
        if "/lgb-" in cmdline and ("qemu" in proc.info["name"] or "linux" in proc.info["name"]):
            found.append(f"{proc.info['pid']} {proc.info['name']}")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parallel", type=int, default=32)
    parser.add_argument("--memsize", type=int, default=512)
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--cache-dir", type=Path, default=trust.default_cache_dir())
    args = parser.parse_args()
    env = {**os.environ, "LGBENCH_CACHE": str(args.cache_dir)}
    with tempfile.TemporaryDirectory() as tmp:
        started = time.monotonic()
        subprocess.run([str(LGBENCH), f"backend={args.backend}", f"parallel={args.parallel}",
                        f"memsize={args.memsize}", "runs=1", "warmup=1", "timeout_s=1800",
                        f"hydra.run.dir={tmp}"], env=env, check=True, capture_output=True)
        wall = time.monotonic() - started
        trials = pd.read_parquet(Path(tmp) / "trials.parquet")
    measured = trials[~trials["warmup"]]
    ok = int((measured["status"] == "ok").sum())
    total = psutil.virtual_memory().total / 2**30
    peak = measured["host_mem_peak_mib"].max() / 1024
    left = hypervisors()
    print(f"{args.parallel} appliances at once ({args.backend}, memsize {args.memsize}): "
          f"{ok} of {len(measured)} ok, makespan {measured['makespan_s'].iloc[0]:.1f} s "
          f"(run {wall:.0f} s); host memory in use at peak {peak:.1f} of {total:.1f} GiB "
          f"(at release {measured['host_mem_start_mib'].iloc[0] / 1024:.1f} GiB); one "
          f"appliance: median {measured['host_cost_mib'].median():.0f} MiB, hypervisor peak "
          f"RSS {measured['appliance_rss_peak_mib'].median():.0f} MiB; left running: "
          f"{left or 'none'}")
    passed = ok == len(measured) == args.parallel and not left
    print("PASS" if passed else "FAIL")
    if not passed:
        sys.exit(1)


if __name__ == "__main__":
    main()
