"""`lgbench-report`: summaries, plots and reports again from stored runs, without re-running."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.report import build_report, table


def main(argv: list[str] | None = None) -> int:
    """`lgbench-report RUN_DIR...`: summaries, plots and report.md again from stored trials."""
    parser = argparse.ArgumentParser(prog="lgbench-report", description=main.__doc__)
    parser.add_argument("run_dirs", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, help="output folder (default: the first RUN_DIR)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    args = parser.parse_args(argv)
    for d in args.run_dirs:
        if not d.is_dir():
            parser.error(f"{d} is not a directory")
    try:
        summary = build_report(args.run_dirs, args.out or args.run_dirs[0], seed=args.seed)
    except (FileNotFoundError, ValueError) as exc:
        parser.error(str(exc))
    print(table(summary))
    return 0
