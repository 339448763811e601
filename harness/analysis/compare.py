"""Is one side faster than another, by how much, and how surely? Pure functions.

Per cell (the factors the two sides share) and timed metric: the ratio of medians
candidate/baseline with a bootstrap 95% CI (each side resampled on its own) and a two-sided
Mann-Whitney U p-value, on ok, non-warm-up rows. `compare_backends` serves the UML section of
report.md; `compare` compares along any factor (backend, host, run, ...) with the p-values
Holm-corrected across the cells, and `regressed` is the baseline gate of `lgbench-report`.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import comb

import numpy as np
import pandas as pd
from scipy import stats as sps

from harness.analysis.summary import measured_trials, ok_values
from harness.results.records import CELL_COLUMNS, STATUS_OK

# Resamples of the percentile bootstrap of a ratio of medians (no exact method there).
BOOTSTRAP_RESAMPLES = 2000

ALPHA = 0.05
COMPARISON_METRICS = ("launch_s", "total_s", "upload_s", "download_s")
COLUMNS = ("workload", "size_bytes", "metric", "baseline", "candidate", "n_baseline",
           "n_candidate", "median_baseline", "median_candidate", "ratio", "ratio_ci_low",
           "ratio_ci_high", "p_value", "p_holm", "verdict")


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


def contrast(baseline: np.ndarray, candidate: np.ndarray, seed: int = 0) -> dict[str, float]:
    """Sizes, medians, ratio of medians with its CI and the Mann-Whitney p of two samples."""
    ratio, low, high = ratio_of_medians(baseline, candidate, seed)
    p_value = (float(sps.mannwhitneyu(candidate, baseline, alternative="two-sided").pvalue)
               if len(baseline) > 1 and len(candidate) > 1 else float("nan"))
    return {"n_baseline": len(baseline), "n_candidate": len(candidate),
            "median_baseline": float(np.median(baseline)),
            "median_candidate": float(np.median(candidate)), "ratio": ratio,
            "ratio_ci_low": low, "ratio_ci_high": high, "p_value": p_value}


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
            records.append({"workload": workload, "size_bytes": size, "metric": metric,
                            "baseline": baseline, "candidate": candidate, **contrast(a, b, seed)})
    return with_verdicts(pd.DataFrame(records, columns=list(COLUMNS)))


# Where a row came from (added by harness.results.merge): comparable like a factor, but runs
# are pooled unless they are what is compared.
PROVENANCE = ("host", "run")
FACTORS = (*(c for c in CELL_COLUMNS if c != "cell"), *PROVENANCE)
COMPARE_COLUMNS = ("baseline", "candidate", "baseline_cell", "metric", "n_baseline",
                   "n_candidate", "median_baseline", "median_candidate", "ratio", "ratio_ci_low",
                   "ratio_ci_high", "p_value", "p_holm", "verdict")


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (NaN stays NaN and does not count as a test).

    Comparing many cells at 5% each would call some difference significant by chance; Holm
    bounds the chance of any false call at 5% and costs less power than Bonferroni.
    """
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full(p.shape, np.nan)
    tested = np.flatnonzero(~np.isnan(p))
    running = 0.0
    for rank, i in enumerate(tested[np.argsort(p[tested], kind="stable")]):
        running = max(running, min(1.0, (len(tested) - rank) * p[i]))
        adjusted[i] = running
    return adjusted


def compared_columns(by: str) -> tuple[str, ...]:
    """The columns that differ between the sides: a backend brings the accelerator it asks for."""
    return (by, "accel_requested") if by == "backend" else (by,)


def matching_keys(trials: pd.DataFrame, by: str) -> list[str]:
    """The factors a cell must share on both sides: every cell factor but the compared ones,
    plus the host where some host measured more than one side (otherwise the sides come from
    different hosts and the host is part of what is compared). Runs are pooled."""
    compared = compared_columns(by)
    keys = [c for c in CELL_COLUMNS
            if c != "cell" and c in trials.columns and c not in compared]
    if by != "host" and "host" in trials.columns \
            and (trials.groupby("host")[by].nunique() > 1).any():
        keys.append("host")
    return keys


def plain_verdict(candidate: str, ratio: float, low: float, high: float, p_holm: float,
                  n_a: int, n_b: int) -> str:
    """What a reader takes away: which side is slower, by how much, and how surely.

    "surely": the CI excludes 1 and the Holm-corrected Mann-Whitney p is below 5%; "likely":
    the CI excludes 1 but the test does not confirm it (often too few trials for it).
    """
    if np.isnan(low):
        return "too few trials to tell"
    if low > 1:
        direction = f"{candidate} {ratio:.2f}x slower"
    elif high < 1:
        direction = f"{candidate} {1 / ratio:.2f}x faster"
    else:
        return "no clear difference"
    if p_holm < ALPHA:
        return f"{direction} (surely)"
    if 2 / comb(n_a + n_b, n_a) >= ALPHA:
        return f"{direction} (likely: too few trials for the test)"
    return f"{direction} (likely: the test is not significant after Holm)"


def compare(trials: pd.DataFrame, by: str, metrics: Sequence[str] = ("total_s",),
            baseline: object = None, seed: int = 0) -> pd.DataFrame:
    """Every other level of `by` against `baseline` (default: the first level met), per cell
    of the matching keys and per metric, on ok non-warm-up rows.

    Columns: the matching keys, then COMPARE_COLUMNS. Cells measured on one side only are left
    out. p_holm corrects p_value across all rows of the result.
    """
    measured = measured_trials(trials)
    levels = list(pd.unique(measured[by].dropna()))
    baseline = levels[0] if baseline is None and levels else baseline
    keys = matching_keys(measured, by)
    records = []
    for key, rows in measured.groupby(keys, dropna=False, sort=False):
        base = rows[rows[by] == baseline]
        for candidate in (level for level in levels if level != baseline):
            other = rows[rows[by] == candidate]
            for metric in (m for m in metrics if m in rows.columns):
                a, b = ok_values(base, metric), ok_values(other, metric)
                if len(a) == 0 or len(b) == 0:
                    continue
                records.append({
                    **dict(zip(keys, key, strict=True)), "baseline": baseline,
                    "candidate": candidate, "baseline_cell": base["cell"].iloc[0],
                    "metric": metric, **contrast(a, b, seed)})
    return with_verdicts(pd.DataFrame(records, columns=[*keys, *COMPARE_COLUMNS]))


def with_verdicts(result: pd.DataFrame) -> pd.DataFrame:
    """`p_holm` (Mann-Whitney p corrected across the rows) and the one wording of a verdict."""
    result["p_holm"] = holm(result["p_value"])
    result["verdict"] = [
        plain_verdict(str(row.candidate), row.ratio, row.ratio_ci_low, row.ratio_ci_high,
                      row.p_holm, row.n_baseline, row.n_candidate)
        for row in result.itertuples()]
    return result


def regressed(comparison: pd.DataFrame, threshold: float) -> pd.Series:
    """The baseline gate: the candidate is slower by more than `threshold` (0.05 for 5%) with
    95% confidence, i.e. the ratio CI's lower bound exceeds 1 + threshold.

    The CI, not Mann-Whitney, decides: with 3 trials a side the test cannot reach 5% at all,
    and a gate on the CI's bound also ignores shifts smaller than the threshold that a
    significance test would flag on a long run. A cell without a CI never fails the gate.
    """
    return comparison["ratio_ci_low"] > 1 + threshold
