"""Fieller's 95% CI of a ratio of two normal estimates, which the delta method gets wrong
when the denominator is uncertain: it says when the data cannot bound the ratio at all.
"""

from __future__ import annotations

import math

from scipy import special


def fieller_ratio(numerator: float, denominator: float, var_numerator: float,
                  var_denominator: float, covariance: float,
                  df: float) -> tuple[float, float, float]:
    """numerator / denominator with Fieller's 95% CI (t quantile on `df` degrees of freedom).

    The CI is the set of ratios r for which numerator - r * denominator is not significantly
    different from 0. It is (NaN, inf) when the denominator's own CI reaches 0 (no bound), and
    NaN without a variance or a degree of freedom.
    """
    if denominator == 0 or math.isnan(numerator) or math.isnan(denominator):
        return (math.nan, math.nan, math.nan)
    ratio = numerator / denominator
    if df < 1 or math.isnan(var_numerator + var_denominator + covariance):
        return (ratio, math.nan, math.nan)
    q2 = special.stdtrit(df, 0.975) ** 2
    # (numerator - r * denominator)^2 <= q2 * Var(numerator - r * denominator), a quadratic in r.
    a = denominator**2 - q2 * var_denominator
    b = numerator * denominator - q2 * covariance
    c = numerator**2 - q2 * var_numerator
    discriminant = b**2 - a * c
    if a <= 0 or discriminant < 0:
        return (ratio, math.nan, math.inf)
    root = math.sqrt(discriminant)
    return (ratio, (b - root) / a, (b + root) / a)
