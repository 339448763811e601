"""Processes or threads: does lgbench's one-worker-per-appliance change the makespan?

guestfs-performance(1)'s script launched N handles as threads of one process; lgbench forks a
worker per appliance. This interleaves, per N, the guide's script (threads, Python bindings,
timed around thread start .. last join) with `lgbench parallel=N` (its makespan_s), on the
same accelerator, memsize and appliance cache, and prints both medians and their ratio.
Target: within 5% at N = 4 and 8.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd

from harness.host import trust
from harness.host.handles import guestfs_handle

LGBENCH = Path(sys.executable).parent / "lgbench"
TARGET = 0.05


def guide_script_once(n: int, accel: str, memsize: int, cachedir: Path) -> float:
    """The performance guide's Perl script for one N, in Python: N threads, each new handle, add
    /dev/null, launch, close; seconds from before the first thread starts to the last join."""
    errors: list[BaseException] = []

    def test() -> None:
        try:
            with tempfile.TemporaryDirectory(prefix="lgb-threads-") as tmp:
                g = guestfs_handle(memsize, 1, Path(tmp), False, "direct", [f"force_{accel}"])
                g.set_cachedir(str(cachedir))
                g.add_drive_ro("/dev/null")
                g.launch()
                g.close()
        except Exception as exc:  # the Perl script died on the first error
            errors.append(exc)

    start = time.perf_counter()
    threads = [threading.Thread(target=test) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise SystemExit(f"launch failed with {n} threads: {errors[0]}")
    return elapsed


def lgbench_once(n: int, accel: str, memsize: int, cache_dir: Path, out: Path) -> float:
    env = {**os.environ, "LGBENCH_CACHE": str(cache_dir)}
    subprocess.run([str(LGBENCH), f"backend={accel}", f"parallel={n}", f"memsize={memsize}",
                    "runs=1", "warmup=0", f"hydra.run.dir={out}"], env=env, check=True,
                   capture_output=True)
    trials = pd.read_parquet(out / "trials.parquet")
    if not (trials["status"] == "ok").all():
        raise SystemExit(f"lgbench trial failed: {trials['error'].dropna().iloc[0]}")
    return float(trials["makespan_s"].iloc[0])


def verdict(threads: list[float], workers: list[float], n: int) -> str:
    """PASS within the target; a larger gap than either mode's own spread between rounds is a
    FAIL; a gap inside that spread says nothing yet (more --rounds)."""
    if n not in (4, 8):
        return "-"
    t, w = statistics.median(threads), statistics.median(workers)
    if abs(w / t - 1) <= TARGET:
        return "PASS"
    spread = max(max(threads) - min(threads), max(workers) - min(workers))
    return "FAIL" if abs(w - t) > spread else "INCONCLUSIVE (within the round-to-round spread)"



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parallel", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved pairs per N")
    parser.add_argument("--accel", default="tcg", choices=["tcg", "kvm"])
    parser.add_argument("--memsize", type=int, default=500, help="MiB, as the performance guide's "
                                                                 "plot")
    parser.add_argument("--cache-dir", type=Path, default=trust.default_cache_dir())
    args = parser.parse_args()
    trust.secure_folder(args.cache_dir, private=True)
    cachedir = trust.secure_folder(args.cache_dir / "supermin")
    guide_script_once(1, args.accel, args.memsize, cachedir)  # the guide's warm-up, untimed
    threads: dict[int, list[float]] = {n: [] for n in args.parallel}
    workers: dict[int, list[float]] = {n: [] for n in args.parallel}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for n in args.parallel:
                threads[n].append(guide_script_once(n, args.accel, args.memsize, cachedir))
                workers[n].append(lgbench_once(n, args.accel, args.memsize, args.cache_dir,
                                               Path(tmp) / f"{r}-{n}"))
                print(f"round {r + 1}/{args.rounds} N={n}: threads {threads[n][-1]:.2f} s, "
                      f"lgbench workers {workers[n][-1]:.2f} s", flush=True)
    for n in args.parallel:
        t, w = statistics.median(threads[n]), statistics.median(workers[n])
        print(f"N={n}: threads (the guide's script) median {t:.2f} s (range {min(threads[n]):.2f}-"
              f"{max(threads[n]):.2f}), lgbench workers median {w:.2f} s (range "
              f"{min(workers[n]):.2f}-{max(workers[n]):.2f}), ratio {w / t:.3f} (target "
              f"within {TARGET:.0%} at N=4, 8): {verdict(threads[n], workers[n], n)}")


if __name__ == "__main__":
    main()
