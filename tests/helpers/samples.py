"""Simulated launch times for the tests that check an interval's coverage or a test's error
rate: normal, heavy-tailed, and bimodal (TCG launches here often form two clusters about 1 s
apart). Each sampler takes a numpy Generator and a shape."""

from __future__ import annotations

import numpy as np

SAMPLERS = {
    "normal": lambda rng, size: rng.normal(12.0, 0.5, size),
    "log-normal": lambda rng, size: 10.0 + rng.lognormal(0.0, 1.0, size),
    "bimodal": lambda rng, size: rng.normal(11.7, 0.15, size) + (rng.random(size) < 0.4),
}


def true_median(shape: str) -> float:
    """The population median: exact for normal and log-normal, from 2 million draws for the
    mixture."""
    exact = {"normal": 12.0, "log-normal": 11.0}
    if shape in exact:
        return exact[shape]
    return float(np.median(SAMPLERS[shape](np.random.default_rng(99), 2_000_000)))


def sweep_times(rng: np.random.Generator, design: str, cells: int, n: int, shape: str,
                drift: float = 0.0, cell_sd: float = 0.0, slowdowns: np.ndarray | None = None
                ) -> np.ndarray:
    """Times of a simulated sweep, shape (cells + 1, n): row 0 the baseline. `sequential`
    measures each cell's n trials one after another; `interleaved` one trial of every cell per
    round, in a new random order each round. What a real host adds: `drift` (it slows that
    share across the sweep, trial after trial) and `cell_sd` (a level of its own, log sd, for
    each stretch of time a cell is measured in: a cell's block when sequential, a round when
    interleaved). `slowdowns`: each cell's real factor (default 1)."""
    sides = cells + 1
    times = SAMPLERS[shape](rng, (sides, n))
    if design == "sequential":
        order = np.arange(sides * n).reshape(sides, n)
        level = rng.normal(0, cell_sd, (sides, 1))
    else:
        order = np.array([rng.permutation(sides) for _ in range(n)]).T * n + np.arange(n)
        level = rng.normal(0, cell_sd, (1, n))
    times = times * (1 + drift * order / (sides * n)) * np.exp(level)
    if slowdowns is not None:
        times[1:] *= np.asarray(slowdowns)[:, None]
    return times


def directions_claimed(design: str, times: np.ndarray, alpha: float) -> np.ndarray:
    """For each cell against the baseline (row 0): +1 slower, -1 faster, 0 no direction, by
    lgbench's comparison (paired by round when interleaved) jointly over the cells."""
    from harness.analysis.compare import ratio_interval

    base, found = times[0], []
    for cell in times[1:]:
        paired = (base, cell) if design == "interleaved" else None
        _, low, high, _ = ratio_interval((base, cell, paired), alpha / (len(times) - 1))
        found.append(1 if low > 1 else -1 if high < 1 else 0)
    return np.array(found)
