"""Does lgbench answer at once? `make bench`.

Times `lgbench --help`, `lgbench --version` and a shell-completion query (what a TAB runs) as
a user's shell starts them, the median of K runs each (after one run that fills the OS's file
cache). Target: each under 0.5 s. Exit status 0 when every target is met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

LGBENCH = Path(sys.executable).parent / "lgbench"
TARGET_S = 0.5
COMMANDS = {
    "lgbench --help": (["--help"], {}),
    "lgbench --version": (["--version"], {}),
    "completion (TAB after backend=)": (["-sc", "query=bash"], {"COMP_LINE": "lgbench backend="}),
}


def timed(args: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([str(LGBENCH), *args], env={**os.environ, **env}, check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, metavar="K")
    args = parser.parse_args()
    met = True
    for name, (argv, env) in COMMANDS.items():
        timed(argv, env)  # the file cache, as a user's second call finds it
        median = statistics.median(timed(argv, env) for _ in range(args.repeat))
        ok = median < TARGET_S
        met &= ok
        print(f"{name}: median of {args.repeat}: {median:.3f} s; target < {TARGET_S} s: "
              f"{'met' if ok else 'MISSED'}")
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    main()
