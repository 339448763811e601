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
