"""How often does `lgbench-report --baseline --candidate` raise a false alarm, and how often
does it catch a real slowdown? Simulated pairs of runs, the gate's own test.

Launch times are drawn as TCG launches here look: normal with a 4% spread, log-normal (a long
tail of slow launches), and bimodal (two clusters about 1 s apart). Per trials a side: the
false-alarm rate under no change (threshold 0%) and at a slowdown of exactly the threshold
(5%), and the detection rate of a 10% and a 20% slowdown against a 5% threshold. Sizes the
gate refuses (it could never fail there) print "refused". Target: no false-alarm rate above
the gate's 2.5% beyond simulation error (3 standard errors).
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from harness.analysis.compare import GATE_ALPHA, p_slower, smallest_p

SAMPLERS = {
    "normal": lambda rng, size: rng.normal(12.0, 0.5, size),
    "log-normal": lambda rng, size: 10.0 + rng.lognormal(0.0, 1.0, size),
    "bimodal": lambda rng, size: rng.normal(11.7, 0.15, size) + (rng.random(size) < 0.4),
}
# (label, candidate slowdown, gate threshold); the first two are false alarms.
SCENARIOS = (("no change, 0%", 1.0, 0.0), ("5% slower, 5%", 1.05, 0.05),
             ("10% slower, 5%", 1.10, 0.05), ("20% slower, 5%", 1.20, 0.05))


def fail_rate(shape: str, n: int, slowdown: float, threshold: float, repeats: int) -> float:
    """Share of simulated run pairs (n trials a side) the gate fails."""
    rng = np.random.default_rng(n)
    samples = SAMPLERS[shape](rng, (repeats, 2, n))
    return float(np.mean([p_slower(a, b * slowdown, threshold) < GATE_ALPHA
                          for a, b in samples]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=4000, help="run pairs per figure")
    parser.add_argument("--sizes", type=int, nargs="+", default=[2, 3, 5, 10, 20])
    args = parser.parse_args()
    tolerance = 3 * math.sqrt(GATE_ALPHA * (1 - GATE_ALPHA) / args.repeats)
    print(f"gate level {GATE_ALPHA:.1%}; {args.repeats} simulated run pairs per figure")
    print(f"{'shape':<11} {'a side':>6}  " + "  ".join(f"{s[0]:>15}" for s in SCENARIOS))
    worst = 0.0
    for shape in SAMPLERS:
        for n in args.sizes:
            if smallest_p(n, n) > GATE_ALPHA:
                print(f"{shape:<11} {n:>6}  " + "  ".join(f"{'refused':>15}" for _ in SCENARIOS))
                continue
            rates = [fail_rate(shape, n, slowdown, threshold, args.repeats)
                     for _, slowdown, threshold in SCENARIOS]
            worst = max(worst, *rates[:2])
            print(f"{shape:<11} {n:>6}  " + "  ".join(f"{r:>15.1%}" for r in rates))
    met = worst <= GATE_ALPHA + tolerance
    print(f"worst false-alarm rate {worst:.2%} (target at most {GATE_ALPHA:.1%} + "
          f"{tolerance:.2%} simulation error): {'met' if met else 'MISSED'}")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
