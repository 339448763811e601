"""runs=auto: keep measuring a cell until its median is known precisely enough, or a limit says
stop. The runner asks after every measured repetition; the reason it stopped is recorded.

Precision is the relative half-width of the median's distribution-free CI (median_ci). The run
stops when the 99% CI is within it and reports the 95% one: stopping the first time a 95% CI
comes out narrow favours samples that are narrow by chance (on bimodal launch times the
reported CI then covered 88% for a stated 96%); the wider check keeps coverage at its level in
every shape tests/analysis/test_precision.py draws. A 99% CI needs 8 values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

STOP_CONFIDENCE = 0.99  # the CI whose width decides the stop (the reported one stays at 95%)

STOP_RUNS = "runs"  # the fixed number of runs=N was measured
STOP_PRECISION = "precision"
STOP_MAX_RUNS = "max_runs"
STOP_BUDGET = "budget"


def relative_half_width(values: Sequence[float] | np.ndarray,
                        confidence: float = STOP_CONFIDENCE) -> float:
    """Half the width of the median's CI at `confidence` over the median; NaN where there are
    too few values for one (below 8 at 99%)."""
    from harness.analysis.summary import median_ci  # pandas: not for `lgbench --help`

    low, high, _ = median_ci(values, confidence)
    return float((high - low) / 2 / np.median(values)) if np.isfinite(low) else float("nan")


@dataclass(frozen=True)
class StopRule:
    """When runs=auto stops: `precision` reached by the 99% CI (after at least `min_runs`),
    `max_runs` measured, or the next repetition would end past `budget_s` since the cell started."""

    precision: float
    min_runs: int
    max_runs: int
    budget_s: float

    def reason(self, values: Sequence[float], runs_done: int, elapsed_s: float,
               next_s: float) -> str | None:
        """Why to stop after `runs_done` measured repetitions whose ok values are `values`,
        `elapsed_s` into the cell, the next repetition expected to take `next_s`; else None."""
        if runs_done >= self.min_runs and relative_half_width(values) <= self.precision:
            return STOP_PRECISION
        if runs_done >= self.max_runs:
            return STOP_MAX_RUNS
        if elapsed_s + next_s > self.budget_s:
            return STOP_BUDGET
        return None
