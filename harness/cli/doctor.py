"""`lgbench-doctor`: is this host set up to run libguestfs fast? (harness.host.checks)"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from harness.cli.usage import version_text
from harness.host import accelerator, feasibility, trust
from harness.host.checks import Check, each_check


def render(checks: list[Check]) -> str:
    return "\n".join(render_one(c) for c in checks)


def render_one(check: Check) -> str:
    line = f"[{check.verdict.upper():4}] {check.name}: {check.evidence}"
    return line + (f"\n       -> {check.advice}" if check.advice else "")


def main(argv: list[str] | None = None) -> int:
    """`lgbench-doctor`: is this host set up to run libguestfs fast?"""
    parser = argparse.ArgumentParser(prog="lgbench-doctor", description=main.__doc__)
    parser.add_argument("--version", action="version", version=version_text(parser.prog))
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--memsize", type=int, default=feasibility.LIBGUESTFS_DEFAULT_MEMSIZE_MIB,
                        help="appliance memory (MiB) for the parallel estimate")
    parser.add_argument("--cache-dir", type=Path,
                        default=trust.default_cache_dir())
    parser.add_argument("--probe-timeout", type=float, default=accelerator.PROBE_TIMEOUT_S,
                        help="bound on the one-off KVM launch probe (seconds)")
    args = parser.parse_args(argv)
    checks = []
    for check in each_check(args.cache_dir, args.memsize, args.probe_timeout):
        checks.append(check)
        if not args.json:  # each as it finishes: the launch checks take a while
            print(render_one(check), flush=True)
    if args.json:
        print(json.dumps([asdict(c) for c in checks], indent=2))
    # No KVM is a finding, not a broken set-up: lgbench measures with TCG or UML then.
    return 1 if any(c.verdict == "fail" and c.name != "KVM appliance launch" for c in checks) \
        else 0


if __name__ == "__main__":
    sys.exit(main())
