"""Distribution-free intervals for a shift, from rank tests: Hodges-Lehmann estimates with the
interval that inverts the same test, so an interval and its test can never disagree.

Two samples (Mann-Whitney): the shift is the median of all pairwise differences; paired
samples (Wilcoxon signed-rank): the median of the Walsh averages of the differences. The
interval's ends are order statistics of those, at the rank the test's exact null distribution
gives (its normal approximation beyond EXACT_UP_TO values a side). Pure functions.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import special

# Exact null distributions up to this many values a side (the counts stay small integers).
EXACT_UP_TO = 60


@lru_cache(maxsize=256)
def _mann_whitney_cdf(n: int, m: int) -> np.ndarray:
    """P(U <= u) for u = 0..n*m under no difference, U counting the pairs where the second
    sample's value is the larger. Built up one value at a time: the largest of i + j values
    is a first-sample one (adds no pair) or a second-sample one (adds i pairs)."""
    previous = [np.ones(1) for _ in range(m + 1)]  # i = 0: only u = 0
    for i in range(1, n + 1):
        row = [np.ones(1)]
        for j in range(1, m + 1):
            counts = np.zeros(i * j + 1)
            counts[:len(previous[j])] += previous[j]
            counts[i:i + len(row[j - 1])] += row[j - 1]
            row.append(counts)
        previous = row
    return np.cumsum(previous[m]) / previous[m].sum()


@lru_cache(maxsize=256)
def _signed_rank_cdf(n: int) -> np.ndarray:
    """P(W+ <= w) for w = 0..n(n+1)/2 under no difference."""
    distribution = np.ones(1)
    for rank in range(1, n + 1):
        distribution = np.concatenate([distribution, np.zeros(rank)]) + np.concatenate(
            [np.zeros(rank), distribution])
    return np.cumsum(distribution) / distribution.sum()


def _order_rank(cdf: np.ndarray | None, pairs: int, mean: float, sd: float,
                alpha: float) -> int:
    """The largest k with P(statistic <= k - 1) <= alpha (0: no such k): the k-th smallest
    of the `pairs` differences bounds the shift below at level 1 - alpha."""
    if cdf is not None:
        return int(np.searchsorted(cdf, alpha, side="right"))
    k = int(np.floor(mean - special.ndtri(1 - alpha) * sd + 0.5))
    return max(0, min(k, pairs))


def _bounds(differences: np.ndarray, k_two_sided: int) -> tuple[float, float]:
    ordered = np.sort(differences)
    if k_two_sided < 1:
        return float("-inf"), float("inf")
    return float(ordered[k_two_sided - 1]), float(ordered[-k_two_sided])


def shift_interval(baseline: np.ndarray, candidate: np.ndarray, alpha: float,
                   one_sided: bool = False) -> tuple[float, float, float]:
    """(estimate, low, high) of the shift candidate - baseline of two independent samples,
    at confidence 1 - alpha (two-sided; one_sided: only `low` is a bound, `high` is +inf).
    Infinite ends where the sizes cannot reach that confidence."""
    x, y = np.asarray(baseline, float), np.asarray(candidate, float)
    n, m = len(x), len(y)
    differences = (y[None, :] - x[:, None]).ravel()
    exact = max(n, m) <= EXACT_UP_TO
    cdf = _mann_whitney_cdf(n, m) if exact else None
    mean, sd = n * m / 2, np.sqrt(n * m * (n + m + 1) / 12)
    k = _order_rank(cdf, n * m, mean, sd, alpha if one_sided else alpha / 2)
    low, high = _bounds(differences, k)
    return float(np.median(differences)), low, (float("inf") if one_sided else high)


def paired_shift_interval(differences: np.ndarray, alpha: float, one_sided: bool = False
                          ) -> tuple[float, float, float]:
    """(estimate, low, high) of the shift of paired differences (candidate - baseline per
    pair), at confidence 1 - alpha, as shift_interval."""
    d = np.asarray(differences, float)
    n = len(d)
    i, j = np.triu_indices(n)
    walsh = (d[i] + d[j]) / 2
    pairs = n * (n + 1) // 2
    cdf = _signed_rank_cdf(n) if n <= EXACT_UP_TO else None
    mean, sd = pairs / 2, np.sqrt(n * (n + 1) * (2 * n + 1) / 24)
    k = _order_rank(cdf, pairs, mean, sd, alpha if one_sided else alpha / 2)
    low, high = _bounds(walsh, k)
    return float(np.median(walsh)), low, (float("inf") if one_sided else high)


def fewest_a_side(alpha: float, paired: bool) -> int:
    """The fewest values a side (pairs, if paired) whose two-sided interval at 1 - alpha is
    finite."""
    n = 1
    while (_signed_rank_cdf(n)[0] if paired else _mann_whitney_cdf(n, n)[0]) > alpha / 2:
        n += 1
    return n
