"""Summary statistics of the tidy trial frame: pure functions, DataFrame in, DataFrame out.

Warm-up rows stay in trials.parquet (flagged) but never enter a statistic here. Failed trials
count towards `n` and the success rate, so a cell that never worked still gets its rows.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from harness.results.records import (
    CELL_COLUMNS,
    RUNNER_COLUMNS,
    STATUS_OK,
    STATUSES,
    TIMED_COLUMNS,
)

# Measured once per repetition (all parallel instances together) and copied onto every
# instance's row, so each repetition must count once.
REPETITION_METRICS = ("makespan_s",)


CONFIDENCE = 0.95  # of every interval lgbench prints
Z_95 = float(sps.norm.ppf(0.5 + CONFIDENCE / 2))


SUMMARY_STATS = ("n", "n_ok", "success_rate", "success_ci_low", "success_ci_high", "mean",
                 "median", "stdev", "ci_low", "ci_high", "ci_level", "min", "max", "n_outliers")


def success_interval(k: int, n: int) -> tuple[float, float]:
    """Clopper-Pearson 95% interval of a success rate, k of n: exact, so it covers at least
    95% at every true rate, also near 100% where launches mostly work (Wilson's dips to 83-86%
    there at n = 5-30)."""
    if n == 0:
        return (np.nan, np.nan)
    alpha = 1 - CONFIDENCE
    low = float(sps.beta.ppf(alpha / 2, k, n - k + 1)) if k > 0 else 0.0
    high = float(sps.beta.ppf(1 - alpha / 2, k + 1, n - k)) if k < n else 1.0
    return (low, high)


def outlier_count(values: Sequence[float] | np.ndarray) -> int:
    """Values whose modified z-score (Iglewicz & Hoaglin) exceeds 3.5.

    Median and MAD are robust, so one slow launch cannot hide itself by inflating the spread.
    With MAD 0 (at least half the values equal) the score is undefined and nothing is flagged.
    """
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return 0
    median = np.median(x)
    mad = np.median(np.abs(x - median))
    if mad == 0:
        return 0
    return int(np.sum(0.6745 * np.abs(x - median) / mad > 3.5))


def median_ci(values: np.ndarray | Sequence[float],
              confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """Distribution-free CI of the median from order statistics, and its exact coverage.

    For sorted x(1) <= ... <= x(n), [x(k+1), x(n-k)] covers the true median with probability
    1 - 2 P(B <= k), B ~ Binomial(n, 1/2), for any continuous distribution (at least that with
    ties); k is the largest that keeps this at or above `confidence`. Below 6 values no pair
    reaches 95% (even [min, max] covers only 93.75% at n = 5): then (NaN, NaN, NaN), never the
    range under a label it does not earn.
    """
    x = np.sort(np.asarray(values, dtype=float))
    n = x.size
    k, level = order_statistic_rank(n, confidence)
    if k < 0:
        return (np.nan, np.nan, np.nan)
    return (float(x[k]), float(x[n - 1 - k]), level)


@functools.lru_cache(maxsize=4096)
def order_statistic_rank(n: int, confidence: float) -> tuple[int, float]:
    """k and the exact coverage of [x(k+1), x(n-k)] for n values (-1 and NaN when no such
    interval reaches `confidence`). Cached: cells of a sweep share a few sizes."""
    alpha = 1 - confidence
    if n == 0 or 2 * sps.binom.cdf(0, n, 0.5) > alpha:
        return (-1, float("nan"))
    k = int(sps.binom.ppf(alpha / 2, n, 0.5))
    while 2 * sps.binom.cdf(k, n, 0.5) > alpha:
        k -= 1
    return (k, float(1 - 2 * sps.binom.cdf(k, n, 0.5)))


def _describe(values: np.ndarray) -> dict[str, float]:
    """Location, spread, median CI and outliers of one cell's successful values (may be empty)."""
    if values.size == 0:
        return {"mean": np.nan, "median": np.nan, "stdev": np.nan, "ci_low": np.nan,
                "ci_high": np.nan, "ci_level": np.nan, "min": np.nan, "max": np.nan,
                "n_outliers": 0}
    ci_low, ci_high, ci_level = median_ci(values)
    return {
        "mean": float(np.mean(values)),
        "median": float(np.median(values)),
        "stdev": float(np.std(values, ddof=1)) if values.size >= 2 else np.nan,
        "ci_low": ci_low,
        "ci_high": ci_high,
        "ci_level": ci_level,
        "min": float(np.min(values)),
        "max": float(np.max(values)),
        "n_outliers": outlier_count(values),
    }


def _outcomes(cell_rows: pd.DataFrame, metric: str) -> tuple[int, int, np.ndarray]:
    """(n, n_ok, independent successful values) of one metric in one cell.

    A per-repetition metric is judged per repetition: it succeeded only if every instance of
    that repetition did, and its value (the same on every instance's row) is taken once.
    A per-instance metric of a parallel cell gives one value per repetition, the median of its
    ok instances: instances launched together share the host's contention, so they are not
    independent, and counting each would make every interval and test far too sure.
    """
    ok = cell_rows["status"] == STATUS_OK
    # Repetition numbers restart in every run (and every job of a sweep).
    keys = [cell_rows[k] for k in ("run_id", "repetition") if k in cell_rows.columns]
    if metric not in REPETITION_METRICS:
        values = cell_rows.loc[ok, metric]
        if "instance" in cell_rows.columns and (cell_rows["instance"] > 0).any():
            values = values.groupby([key[ok] for key in keys]).median()
        return len(cell_rows), int(ok.sum()), values.dropna().to_numpy(dtype=float)
    all_ok = ok.groupby(keys).all()
    value = cell_rows[metric].groupby(keys).max()  # max skips NaN
    values = value[all_ok].dropna().to_numpy(dtype=float)
    return len(all_ok), int(all_ok.sum()), values


def ok_values(rows: pd.DataFrame, metric: str) -> np.ndarray:
    """The independent successful values of `metric` in these rows (see _outcomes: one per
    repetition in a parallel cell): the sample a statistic or a comparison is taken of."""
    return _outcomes(rows, metric)[2]


def ok_values_by_round(rows: pd.DataFrame, metric: str) -> pd.Series:
    """A cell's ok values of `metric` by interleaved round (rows with `round`): one per round,
    as ok_values takes them, indexed by the round."""
    rounds = rows[rows["round"].notna()]
    return pd.Series({r: values[0] for r, group in rounds.groupby("round", sort=True)
                      if len(values := ok_values(group, metric))}, dtype=float)


def measured_trials(trials: pd.DataFrame) -> pd.DataFrame:
    """The rows stats use: everything except warm-ups."""
    return trials[~trials["warmup"].astype(bool)]


def summarize(trials: pd.DataFrame, timed_columns: Sequence[str] = TIMED_COLUMNS
              ) -> pd.DataFrame:
    """One row per (cell, timed metric): success counts and rate, and statistics of ok values.

    Columns: the CELL_COLUMNS present, `metric`, then SUMMARY_STATS. Warm-ups are excluded.
    Cells keep the order in which they first appear (the plan's order); a missing memsize is a
    cell of its own. A cell's metrics are those some of its ok, non-warm-up rows measured; if
    none did (every trial failed), those any of its rows hold, else the runner's, so the
    failures still show.

    `n` counts trials of any status and `n_ok` the ok ones, except for makespan_s, which is one
    measurement per repetition: there `n` counts repetitions and `n_ok` the repetitions whose
    instances all succeeded. In a parallel cell the statistics of a per-instance metric are
    those of its repetitions' medians (instances of one repetition are not independent).

    `ci_low`/`ci_high` bound the median (median_ci: order statistics, distribution-free) and
    `ci_level` is that interval's exact coverage (at least 95%); all three are NaN below 6 ok
    values, where no such interval reaches 95%.
    """
    rows = measured_trials(trials)
    keys = [c for c in CELL_COLUMNS if c in rows.columns]
    present = [m for m in timed_columns if m in rows.columns]
    ok_rows = rows[rows["status"] == STATUS_OK]
    metrics = [m for m in present if ok_rows[m].notna().any()] or present

    records = []
    for cell_key, cell_rows in rows.groupby(keys, dropna=False, sort=False):
        # A cell's own metrics: a launch cell beside inspection cells has no inspect_s row.
        cell_ok = cell_rows[cell_rows["status"] == STATUS_OK]
        cell_metrics = ([m for m in metrics if cell_ok[m].notna().any()]
                        or [m for m in metrics if cell_rows[m].notna().any()]
                        or [m for m in metrics if m in RUNNER_COLUMNS] or metrics)
        for metric in cell_metrics:
            n, n_ok, values = _outcomes(cell_rows, metric)
            success_ci_low, success_ci_high = success_interval(n_ok, n)
            records.append({
                **dict(zip(keys, cell_key, strict=True)),
                "metric": metric,
                "n": n,
                "n_ok": n_ok,
                "success_rate": n_ok / n,
                "success_ci_low": success_ci_low,
                "success_ci_high": success_ci_high,
                **_describe(values),
            })
    return pd.DataFrame(records, columns=[*keys, "metric", *SUMMARY_STATS])


def status_counts(trials: pd.DataFrame) -> pd.DataFrame:
    """One row per cell with a count column per status (all five, zeros included), warm-ups
    excluded: the data behind the success/failure grid."""
    rows = measured_trials(trials)
    keys = [c for c in CELL_COLUMNS if c in rows.columns]
    indicators = pd.get_dummies(pd.Categorical(rows["status"], categories=STATUSES),
                                dtype=int)
    indicators.index = rows.index
    counts = pd.concat([rows[keys], indicators], axis=1)
    return counts.groupby(keys, dropna=False, sort=False)[list(STATUSES)].sum().reset_index()


def cells_without_ok(trials: pd.DataFrame) -> dict[str, dict[str, int]]:
    """The cells none of whose measured trials is ok, each with its non-zero status counts:
    a run whose every trial failed has measured nothing, and should not look like success."""
    counts = status_counts(trials)
    failed = counts[counts[STATUS_OK] == 0]
    return {str(row["cell"]): {status: int(row[status]) for status in STATUSES if row[status]}
            for _, row in failed.iterrows()}


def objective(trials: pd.DataFrame, metric: str) -> float:
    """What a Hydra sweeper minimises for one cell: the median of `metric` over its ok,
    measured trials; infinity when there is none (a configuration that failed is the worst)."""
    values = ok_values(measured_trials(trials), metric) if metric in trials.columns else []
    return float(np.median(values)) if len(values) else float("inf")
