"""How often does `lgbench-report --baseline --candidate` raise a false alarm, and how often
does it catch a real slowdown? Simulated pairs of runs, judged by the gate's own bound.

Launch times are drawn as TCG launches here look: normal with a 4% spread, log-normal (a long
tail of slow launches), and bimodal (two clusters about 1 s apart). Each run also has a level
of its own (the host's state that day: a log-normal factor of sd `run sd` on all its trials),
which the gate allows for with --run-sd (3%, its default). Per trials a side and run-level sd:
the false-alarm rate under no change (threshold 0%) and at a slowdown just under the threshold
(4% against 5%), and the detection rate of a 10% and a 20% slowdown against 5%. Sizes the gate
refuses (it could never fail there) print "refused". Target: no false-alarm rate above the
gate's 2.5% beyond simulation error (3 standard errors), for run-level sds up to 3%.
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from harness.analysis import ranks
from harness.analysis.compare import GATE_ALPHA, gate_bound

SAMPLERS = {
    "normal": lambda rng, size: rng.normal(12.0, 0.5, size),
    "log-normal": lambda rng, size: 10.0 + rng.lognormal(0.0, 1.0, size),
    "bimodal": lambda rng, size: rng.normal(11.7, 0.15, size) + (rng.random(size) < 0.4),
}
# (label, candidate slowdown, gate threshold); the first two are false alarms.
SCENARIOS = (("no change, 0%", 1.0, 0.0), ("4% slower, 5%", 1.04, 0.05),
             ("10% slower, 5%", 1.10, 0.05), ("20% slower, 5%", 1.20, 0.05))
GATE_RUN_SD = 0.03  # lgbench-report's default --run-sd


def fail_rate(shape: str, n: int, run_sd: float, slowdown: float, threshold: float,
              repeats: int) -> float:
    """Share of simulated run pairs (n trials a side, each run with its own level) the gate
    fails."""
    rng = np.random.default_rng(n)
    samples = SAMPLERS[shape](rng, (repeats, 2, n))
    levels = np.exp(rng.normal(0.0, run_sd, (repeats, 2, 1)))
    samples = samples * levels
    return float(np.mean([gate_bound((a, b * slowdown, None), GATE_ALPHA, GATE_RUN_SD)
                          > 1 + threshold for a, b in samples]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=4000, help="run pairs per figure")
    parser.add_argument("--sizes", type=int, nargs="+", default=[3, 5, 10, 20, 40])
    parser.add_argument("--run-sds", type=float, nargs="+", default=[0.0, 0.02, 0.03])
    args = parser.parse_args()
    tolerance = 3 * math.sqrt(GATE_ALPHA * (1 - GATE_ALPHA) / args.repeats)
    print(f"gate level {GATE_ALPHA:.1%}, --run-sd {GATE_RUN_SD:.0%}; {args.repeats} simulated "
          "run pairs per figure")
    print(f"{'shape':<11} {'run sd':>6} {'a side':>6}  "
          + "  ".join(f"{s[0]:>15}" for s in SCENARIOS))
    worst = 0.0
    fewest = ranks.fewest_a_side(2 * GATE_ALPHA, paired=False)
    for shape in SAMPLERS:
        for run_sd in args.run_sds:
            for n in args.sizes:
                row = f"{shape:<11} {run_sd:>6.0%} {n:>6}  "
                if n < fewest:
                    print(row + "  ".join(f"{'refused':>15}" for _ in SCENARIOS))
                    continue
                rates = [fail_rate(shape, n, run_sd, slowdown, threshold, args.repeats)
                         for _, slowdown, threshold in SCENARIOS]
                worst = max(worst, *rates[:2])
                print(row + "  ".join(f"{r:>15.1%}" for r in rates))
    met = worst <= GATE_ALPHA + tolerance
    print(f"worst false-alarm rate {worst:.2%} (target at most {GATE_ALPHA:.1%} + "
          f"{tolerance:.2%} simulation error): {'met' if met else 'MISSED'}")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
