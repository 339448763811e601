"""Is one side faster than another, by how much, and how surely? Pure functions.

Per cell (the factors the two sides share) and timed metric: the ratio of medians
candidate/baseline with a bootstrap 95% CI (each side resampled on its own; no exact method
exists for a ratio of medians) and a two-sided Mann-Whitney U p-value, on ok, non-warm-up rows
(a parallel cell's repetitions, not its instances, are the sample: summary.ok_values).
`compare_backends` serves the UML section of report.md; `compare` compares along any factor
(backend, host, run, ...) with the p-values Holm-corrected across the cells, and `gate` is the
baseline gate of `lgbench-report`: a one-sided Mann-Whitney test, exact for small samples.
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
# Below this many values a side the bootstrap CI covers far less than 95% (simulated: 60% at
# 2, 91% at 3, 94% at 4 a side, for normal, log-normal and bimodal times), so none is given.
MIN_BOOTSTRAP_VALUES = 5
# The gate's false-alarm rate across all cells: one-sided, as the lower bound of a 95% CI.
GATE_ALPHA = 0.025
GATE_FAIL, GATE_PASS = "FAIL", "pass"

ALPHA = 0.05
COMPARISON_METRICS = ("launch_s", "total_s", "upload_s", "download_s")
COLUMNS = ("workload", "size_bytes", "metric", "baseline", "candidate", "n_baseline",
           "n_candidate", "median_baseline", "median_candidate", "ratio", "ratio_ci_low",
           "ratio_ci_high", "p_value", "p_holm", "verdict")


def ratio_of_medians(baseline: np.ndarray, candidate: np.ndarray, seed: int = 0
                     ) -> tuple[float, float, float]:
    """median(candidate) / median(baseline) with a percentile-bootstrap 95% CI.

    The CI is NaN with fewer than MIN_BOOTSTRAP_VALUES values on either side.
    """
    ratio = float(np.median(candidate) / np.median(baseline))
    if min(len(baseline), len(candidate)) < MIN_BOOTSTRAP_VALUES:
        return ratio, float("nan"), float("nan")
    if np.ptp(baseline) == 0 and np.ptp(candidate) == 0:
        return ratio, ratio, ratio
    result = sps.bootstrap(
        (candidate, baseline), lambda c, b, axis=-1: (np.median(c, axis=axis)
                                                      / np.median(b, axis=axis)),
        paired=False, vectorized=True, n_resamples=BOOTSTRAP_RESAMPLES, method="percentile",
        random_state=np.random.default_rng(seed))
    return ratio, float(result.confidence_interval.low), float(result.confidence_interval.high)


def p_slower(baseline: np.ndarray, candidate: np.ndarray, threshold: float) -> float:
    """One-sided Mann-Whitney p that the candidate is slower than the baseline times
    1 + threshold (exact for small samples, normal approximation for large ones).

    Under no change (or a slowdown of exactly the threshold) a p below alpha happens at most
    alpha of the time, whatever the distribution of the times: nothing assumes normality.
    """
    return float(sps.mannwhitneyu(candidate / (1 + threshold), baseline,
                                  alternative="greater").pvalue)


def smallest_p(n_baseline: int, n_candidate: int) -> float:
    """The smallest one-sided Mann-Whitney p these sizes allow: every candidate value above
    every baseline value. 1/10 at 3 against 2, 1/20 at 3 a side, 1/70 at 4 a side."""
    return 1 / comb(n_baseline + n_candidate, n_baseline)


def trials_needed(alpha: float) -> int:
    """Trials a side for the one-sided test to be able to reach alpha."""
    n = 1
    while smallest_p(n, n) > alpha:
        n += 1
    return n


def contrast(baseline: np.ndarray, candidate: np.ndarray, seed: int = 0,
             threshold: float | None = None) -> dict[str, float]:
    """Sizes, medians, ratio of medians with its CI and the Mann-Whitney p of two samples;
    with a threshold, also the gate's one-sided `p_slower`."""
    ratio, low, high = ratio_of_medians(baseline, candidate, seed)
    p_value = (float(sps.mannwhitneyu(candidate, baseline, alternative="two-sided").pvalue)
               if len(baseline) > 1 and len(candidate) > 1 else float("nan"))
    gate_p = {} if threshold is None else {"p_slower": p_slower(baseline, candidate, threshold)}
    return {"n_baseline": len(baseline), "n_candidate": len(candidate),
            "median_baseline": float(np.median(baseline)),
            "median_candidate": float(np.median(candidate)), "ratio": ratio,
            "ratio_ci_low": low, "ratio_ci_high": high, "p_value": p_value, **gate_p}


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


def trials_to_confirm(rows: int, alpha: float = ALPHA) -> int:
    """Trials a side from which a two-sided Mann-Whitney p (at least twice smallest_p) can
    pass Holm's correction over `rows` comparisons."""
    return trials_needed(alpha / (2 * rows))


def plain_verdict(candidate: str, ratio: float, low: float, high: float, p_holm: float,
                  n_a: int, n_b: int, rows: int = 1) -> str:
    """What a reader takes away, in one wording everywhere: which side is slower, by how much,
    the CI of that factor and the Holm-corrected p, e.g. "libvirt 1.19x slower (95% CI
    1.08-1.33, p=0.004)". "likely" when the CI excludes 1 but the test does not confirm it
    after Holm's correction over `rows` comparisons, saying so when these sizes never could;
    "no clear difference" when the CI holds 1.
    """
    if np.isnan(low):
        return "too few trials to tell"
    p = "" if np.isnan(p_holm) else f", p={p_holm:.2g}"
    if low > 1:
        direction, factor, interval = "slower", ratio, (low, high)
    elif high < 1:
        direction, factor, interval = "faster", 1 / ratio, (1 / high, 1 / low)
    else:
        return f"no clear difference (95% CI of the ratio {low:.2f}-{high:.2f}{p})"
    sureness = "" if p_holm < ALPHA else "likely "
    if sureness and 2 * smallest_p(n_a, n_b) * rows >= ALPHA:
        p += (f"; {min(n_a, n_b)} trials a side cannot confirm it over {rows} comparisons, "
              f"{trials_to_confirm(rows)} can")
    return (f"{candidate} {sureness}{factor:.2f}x {direction} "
            f"(95% CI {interval[0]:.2f}-{interval[1]:.2f}{p})")


def ran_faster(baseline: str, candidate: str, ratio: float, low: float, high: float,
               p_holm: float) -> str:
    """hyperfine's wording of one comparison (ratio = median candidate / median baseline):
    which side ran faster, how many times, the CI of that factor and the Holm p."""
    if ratio >= 1:
        fast, slow, factor, low_factor, high_factor = baseline, candidate, ratio, low, high
    else:
        fast, slow, factor = candidate, baseline, 1 / ratio
        low_factor, high_factor = 1 / high, 1 / low
    interval = ("no CI: fewer than 5 trials a side" if np.isnan(low) else
                f"95% CI {low_factor:.2f}-{high_factor:.2f}")
    p = "" if np.isnan(p_holm) else f", p={p_holm:.2g}"
    return f"{fast} ran {factor:.2f}x faster than {slow} ({interval}{p})"


def compare(trials: pd.DataFrame, by: str, metrics: Sequence[str] = ("total_s",),
            baseline: object = None, seed: int = 0, threshold: float | None = None
            ) -> pd.DataFrame:
    """Every other level of `by` against `baseline` (default: the first level met), per cell
    of the matching keys and per metric, on ok non-warm-up rows.

    Columns: the matching keys, then COMPARE_COLUMNS (and `p_slower` with a threshold). Cells
    measured on one side only are left out. p_holm corrects p_value across all rows.
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
                    "metric": metric, **contrast(a, b, seed, threshold)})
    extra = [] if threshold is None else ["p_slower"]
    return with_verdicts(pd.DataFrame(records, columns=[*keys, *COMPARE_COLUMNS, *extra]))


def with_verdicts(result: pd.DataFrame) -> pd.DataFrame:
    """`p_holm` (Mann-Whitney p corrected across the rows) and the one wording of a verdict."""
    result["p_holm"] = holm(result["p_value"])
    result["verdict"] = [
        plain_verdict(str(row.candidate), row.ratio, row.ratio_ci_low, row.ratio_ci_high,
                      row.p_holm, row.n_baseline, row.n_candidate, len(result))
        for row in result.itertuples()]
    return result


def gate(comparison: pd.DataFrame, alpha: float = GATE_ALPHA) -> pd.DataFrame:
    """The baseline gate on a `compare(..., threshold=...)` result: `p_slower_holm` (p_slower
    Holm-corrected across the rows, so the chance of any false FAIL stays below alpha however
    many cells) and `gate`: FAIL when it is below alpha.

    Also `gate_can_fail`: whether the row's sizes let it fail on its own (smallest_p at most
    alpha over the number of rows); a gate that cannot fail would pass any slowdown.
    """
    result = comparison.assign(p_slower_holm=holm(comparison["p_slower"]))
    result["gate_can_fail"] = [smallest_p(a, b) <= alpha / len(result) for a, b in
                               zip(result["n_baseline"], result["n_candidate"], strict=True)]
    result["gate"] = np.where(result["p_slower_holm"] < alpha, GATE_FAIL, GATE_PASS)
    return result
