"""Is one backend faster than another, by how much, and how surely? Pure functions.

Per workload (and transfer size) and timed metric: the ratio of medians candidate/baseline
with a bootstrap 95% CI (each side resampled on its own) and a two-sided Mann-Whitney U
p-value, on ok, non-warm-up rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import comb

import numpy as np
import pandas as pd
from scipy import stats as sps

from harness.records import STATUS_OK
from harness.stats import BOOTSTRAP_RESAMPLES, measured_trials

ALPHA = 0.05
COMPARISON_METRICS = ("launch_s", "total_s", "upload_s", "download_s")
COLUMNS = ("workload", "size_bytes", "metric", "baseline", "candidate", "n_baseline",
           "n_candidate", "median_baseline", "median_candidate", "ratio", "ratio_ci_low",
           "ratio_ci_high", "p_value", "verdict")


def ratio_of_medians(baseline: np.ndarray, candidate: np.ndarray, seed: int = 0
                     ) -> tuple[float, float, float]:
    """median(candidate) / median(baseline) with a percentile-bootstrap 95% CI.

    The CI is NaN with fewer than two values on either side.
    """
    ratio = float(np.median(candidate) / np.median(baseline))
    if len(baseline) < 2 or len(candidate) < 2:
        return ratio, float("nan"), float("nan")
    if np.ptp(baseline) == 0 and np.ptp(candidate) == 0:
        return ratio, ratio, ratio
    result = sps.bootstrap(
        (candidate, baseline), lambda c, b, axis=-1: (np.median(c, axis=axis)
                                                      / np.median(b, axis=axis)),
        paired=False, vectorized=True, n_resamples=BOOTSTRAP_RESAMPLES, method="percentile",
        random_state=np.random.default_rng(seed))
    return ratio, float(result.confidence_interval.low), float(result.confidence_interval.high)


def _verdict(ratio: float, low: float, high: float, p_value: float, n_a: int, n_b: int) -> str:
    if np.isnan(p_value) or np.isnan(low):
        return "too few trials to tell"
    # The smallest two-sided p Mann-Whitney can give for these sample sizes.
    if 2 / comb(n_a + n_b, n_a) >= ALPHA:
        return f"too few trials for the test (needs about 4 per side; CI {low:.2f} to {high:.2f})"
    if p_value < ALPHA and low > 1:
        return f"candidate slower ({ratio:.2f}x)"
    if p_value < ALPHA and high < 1:
        return f"candidate faster ({1 / ratio:.2f}x)"
    return "no significant difference"


def compare_backends(trials: pd.DataFrame, baseline: str, candidate: str,
                     metrics: Sequence[str] = COMPARISON_METRICS, seed: int = 0
                     ) -> pd.DataFrame:
    """candidate vs baseline backend per workload, transfer size and metric."""
    ok = measured_trials(trials)
    ok = ok[(ok["status"] == STATUS_OK) & ok["backend"].isin([baseline, candidate])]
    if "size_bytes" not in ok.columns:
        ok = ok.assign(size_bytes=np.nan)
    records = []
    for (workload, size), rows in ok.groupby(["workload", "size_bytes"], dropna=False,
                                             sort=True):
        for metric in (m for m in metrics if m in rows.columns):
            a = rows.loc[rows["backend"] == baseline, metric].dropna().to_numpy(dtype=float)
            b = rows.loc[rows["backend"] == candidate, metric].dropna().to_numpy(dtype=float)
            if len(a) == 0 or len(b) == 0:
                continue
            ratio, low, high = ratio_of_medians(a, b, seed)
            p_value = (float(sps.mannwhitneyu(b, a, alternative="two-sided").pvalue)
                       if len(a) > 1 and len(b) > 1 else float("nan"))
            records.append({
                "workload": workload, "size_bytes": size, "metric": metric,
                "baseline": baseline, "candidate": candidate, "n_baseline": len(a),
                "n_candidate": len(b), "median_baseline": float(np.median(a)),
                "median_candidate": float(np.median(b)), "ratio": ratio, "ratio_ci_low": low,
                "ratio_ci_high": high, "p_value": p_value,
                "verdict": _verdict(ratio, low, high, p_value, len(a), len(b))})
    return pd.DataFrame(records, columns=list(COLUMNS))
