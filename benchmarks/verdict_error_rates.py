"""How often is a comparison lgbench prints wrong, and how often does it find a real
difference? Simulated sweeps, judged by lgbench's own comparison (harness.analysis.compare),
measured one cell after another (`sequential`) and in interleaved rounds.

Each row is what real hosts do to a sweep (tests/helpers/samples.py simulates it): independent
trials, a host that slows 5% across the sweep, a level of its own for each stretch of time
(sd 2%), TCG's bimodal launch times, twelve cells at once. `any wrong` is the share of sweeps
where some verdict names a direction that is not there (the family-wise error, target at most
5%); `found` the share of the real differences called in the right direction (power).
Target: every `any wrong` of an interleaved sweep at most 5% beyond simulation error.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))  # the tests' simulators
from helpers.samples import directions_claimed, sweep_times  # noqa: E402

from harness.analysis.compare import ALPHA  # noqa: E402

# (label, cells, trials a side, host and shape, real slowdowns of the cells or None)
SCENARIOS = (
    ("2 cells, independent", 1, 20, {"shape": "normal"}, None),
    ("2 cells, host drifts 5%", 1, 20, {"shape": "normal", "drift": 0.05}, None),
    ("2 cells bimodal, drifts 5%", 1, 20, {"shape": "bimodal", "drift": 0.05}, None),
    ("2 cells, levels sd 2%", 1, 20, {"shape": "normal", "cell_sd": 0.02}, None),
    ("12 cells, no difference", 12, 10, {"shape": "normal"}, None),
    ("12 cells, 2 are 5% slower", 12, 20, {"shape": "normal"}, [1.05, 1.05] + [1.0] * 10),
    ("bimodal, 5% slower", 1, 20, {"shape": "bimodal"}, [1.05]),
    ("bimodal 5% slower, drifts", 1, 20, {"shape": "bimodal", "drift": 0.05}, [1.05]),
)
DESIGNS = ("sequential", "interleaved")


def rates(design: str, cells: int, n: int, host: dict, slowdowns: list[float] | None,
          repeats: int) -> tuple[float, float]:
    """(share of sweeps with some wrong direction, share of real differences found)."""
    rng = np.random.default_rng(cells * 1000 + n)
    truth = np.sign(np.log(slowdowns)) if slowdowns else np.zeros(cells)
    wrong = found = 0
    for _ in range(repeats):
        claimed = directions_claimed(design, sweep_times(rng, design, cells, n, **host,
                                                         slowdowns=slowdowns), ALPHA)
        wrong += bool(((claimed != 0) & (claimed != truth)).any())
        found += int(((claimed == truth) & (truth != 0)).sum())
    real = int((truth != 0).sum()) * repeats
    return wrong / repeats, (found / real if real else math.nan)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1000, help="sweeps per figure")
    args = parser.parse_args()
    tolerance = 3 * math.sqrt(ALPHA * (1 - ALPHA) / args.repeats)
    print(f"{args.repeats} simulated sweeps per figure; directions jointly at {1 - ALPHA:.0%}")
    print(f"{'scenario':<28} {'n':>3}  " + "  ".join(
        f"{d + ' any wrong':>22} {'found':>6}" for d in DESIGNS))
    worst = 0.0
    for label, cells, n, host, slowdowns in SCENARIOS:
        line = f"{label:<28} {n:>3}  "
        for design in DESIGNS:
            wrong, found = rates(design, cells, n, host, slowdowns, args.repeats)
            if design == "interleaved":
                worst = max(worst, wrong)
            shown = "" if math.isnan(found) else f"{found:.1%}"
            line += f"{wrong:>22.1%} {shown:>6}  "
        print(line.rstrip())
    met = worst <= ALPHA + tolerance
    print(f"worst interleaved family-wise error {worst:.2%} (target at most {ALPHA:.0%} + "
          f"{tolerance:.2%} simulation error): {'met' if met else 'MISSED'}")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
