"""Record the small real runs in tests/data/runs/, which reporting, analysis and plotting tests
read instead of booting appliances (issue 29). Each is an ordinary lgbench run on this host;
only its rows and metadata are kept (trials.parquet, metadata.json, events.parquet when there
is one): a test makes the summary, figures and reports again from them.

    .venv/bin/python tests/data/record_runs.py            # every run
    .venv/bin/python tests/data/record_runs.py tcg_launch # one of them

Run as root on a machine set up by `make run` (TCG, libvirt and UML all work there), with
nothing else running: the numbers are real measurements and tests check what they show.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from harness.host import trust

HERE = Path(__file__).resolve().parent / "runs"
LGBENCH = Path(sys.executable).parent / "lgbench"
KEPT = ("trials.parquet", "metadata.json", "events.parquet", "rounds.json")
COMMON = ("warmup=0", "probe_timeout_s=10")
# name: the lgbench arguments of the run (a sweep with -m), each the rows of a study or two.
RUNS = {
    "tcg_launch": ("backend=tcg", "runs=4"),
    "libvirt_launch": ("backend=libvirt", "runs=1"),
    "tcg_parallel": ("-m", "backend=tcg", "parallel=1,2,3", "memsize=512", "runs=2"),
    "tcg_inspection": ("-m", "backend=tcg", "workload=launch,inspect_cached,multi_guest",
                       "runs=2"),
    "tcg_operations": ("-m", "backend=tcg", "workload=operations",
                       "workload.strategy=one_handle,handle_per_operation", "workload.count=2",
                       "runs=2"),
    "tcg_appliances": ("-m", "backend=tcg", "appliance=cached,fixed", "runs=2"),
    "uml_vs_tcg": ("-m", "backend=tcg,uml", "workload=launch,transfer_small",
                   "timeline=false,true", "runs=2"),
    "uml_shim_cost": ("experiment=uml_shim_cost", "runs=2"),
}


def record(name: str, scratch: Path) -> None:
    """Run `name` into scratch (on the user's usual cache), then keep its rows and metadata in
    tests/data/runs/<name>/."""
    run_dir = scratch / name
    args = RUNS[name]
    sweep = "-m" in args or any(a.startswith("experiment=") for a in args)
    where = f"hydra.{'sweep' if sweep else 'run'}.dir={run_dir}"
    done = subprocess.run([str(LGBENCH), *args, *COMMON, where],
                          env=dict(os.environ),
                          capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise SystemExit(f"record_runs: {name} failed (exit {done.returncode}):\n"
                         f"{done.stderr[-2000:]}")
    for found in sorted(run_dir.rglob("*")):
        if found.name in KEPT:
            data = trust.read_own(found)
            if data is not None:
                folder = trust.secure_folder(HERE / name / found.parent.relative_to(run_dir))
                trust.write_bytes(folder / found.name, data)
    kept = HERE / name
    print(f"record_runs: {name} -> {kept}", flush=True)


def main(names: list[str]) -> int:
    unknown = sorted(set(names) - set(RUNS))
    if unknown:
        print(f"record_runs: no run named {', '.join(unknown)}; runs: {', '.join(RUNS)}",
              file=sys.stderr)
        return 2
    trust.secure_folder(HERE)
    with tempfile.TemporaryDirectory(prefix="lgbench-record-", dir="/var/tmp") as scratch:
        for name in names or list(RUNS):
            record(name, Path(scratch))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
