"""`lgbench-doctor`: is this host set up to run libguestfs fast? (harness.host.checks)"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from harness.host import accelerator, feasibility, trust
from harness.host.checks import Check, run_checks


def render(checks: list[Check]) -> str:
    lines = []
    for c in checks:
        lines.append(f"[{c.verdict.upper():4}] {c.name}: {c.evidence}")
        if c.advice:
            lines.append(f"       -> {c.advice}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """`lgbench-doctor`: is this host set up to run libguestfs fast?"""
    parser = argparse.ArgumentParser(prog="lgbench-doctor", description=main.__doc__)
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--memsize", type=int, default=feasibility.LIBGUESTFS_DEFAULT_MEMSIZE_MIB,
                        help="appliance memory (MiB) for the parallel estimate")
    parser.add_argument("--cache-dir", type=Path,
                        default=trust.default_cache_dir())
    parser.add_argument("--probe-timeout", type=float, default=accelerator.PROBE_TIMEOUT_S,
                        help="bound on the one-off KVM launch probe (seconds)")
    args = parser.parse_args(argv)
    checks = run_checks(args.cache_dir, args.memsize, args.probe_timeout)
    if args.json:
        print(json.dumps([asdict(c) for c in checks], indent=2))
    else:
        print(render(checks))
    # No KVM is a finding, not a broken set-up: lgbench measures with TCG or UML then.
    return 1 if any(c.verdict == "fail" and c.name != "KVM appliance launch" for c in checks) \
        else 0


if __name__ == "__main__":
    sys.exit(main())
