"""What does the harness add to a launch? `make bench`.

Interleaves bare `guestfish -a /dev/null run` (timed around the whole command) with the
harness's own launch+close figure (total_s of one trial through the runner), on the same
accelerator and appliance cache, and prints both medians and their ratio. Target: under 3%.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from harness.host import trust

LGBENCH = Path(sys.executable).parent / "lgbench"


def guestfish_once(accel: str, cache_dir: Path) -> float:
    env = {**os.environ, "LIBGUESTFS_BACKEND": "direct",
           "LIBGUESTFS_BACKEND_SETTINGS": f"force_{accel}",
           "LIBGUESTFS_CACHEDIR": str(cache_dir / "supermin")}
    start = time.perf_counter()
    subprocess.run(["guestfish", "-a", "/dev/null", "run"], env=env, check=True)
    return time.perf_counter() - start


def harness_once(accel: str, cache_dir: Path, out: Path) -> float:
    env = {**os.environ, "LGBENCH_CACHE": str(cache_dir)}
    subprocess.run([str(LGBENCH), f"backend={accel}", "runs=1", "warmup=0",
                    f"hydra.run.dir={out}"], env=env, check=True, capture_output=True)
    row = pd.read_parquet(out / "trials.parquet").iloc[0]
    if row["status"] != "ok":
        raise SystemExit(f"harness trial failed: {row['error']}")
    return float(row["total_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5, help="interleaved pairs to time")
    parser.add_argument("--accel", default="tcg", choices=["tcg", "kvm"])
    parser.add_argument("--cache-dir", type=Path, default=trust.default_cache_dir())
    args = parser.parse_args()
    trust.secure_folder(args.cache_dir, private=True)
    guestfish_once(args.accel, args.cache_dir)  # warm the appliance cache, untimed
    bare, harness = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.pairs):
            bare.append(guestfish_once(args.accel, args.cache_dir))
            harness.append(harness_once(args.accel, args.cache_dir, Path(tmp) / str(i)))
            print(f"pair {i + 1}/{args.pairs}: guestfish {bare[-1]:.2f} s, "
                  f"lgbench {harness[-1]:.2f} s", flush=True)
    b, h = statistics.median(bare), statistics.median(harness)
    overhead = (h - b) / b * 100
    print(f"accel {args.accel}: guestfish median {b:.3f} s, lgbench median {h:.3f} s, "
          f"overhead {overhead:+.1f}% (target < 3%): {'PASS' if overhead < 3 else 'FAIL'}")


if __name__ == "__main__":
    main()
