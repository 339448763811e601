"""Summary statistics of the tidy trial frame: pure functions, DataFrame in, DataFrame out.

Warm-up rows stay in trials.parquet (flagged) but never enter a statistic here. Failed trials
count towards `n` and the success rate, so a cell that never worked still gets its rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from harness.results.records import CELL_COLUMNS, STATUS_OK, STATUSES, TIMED_COLUMNS

# Measured once per repetition (all parallel instances together) and copied onto every
# instance's row, so each repetition must count once.
REPETITION_METRICS = ("makespan_s",)


BOOTSTRAP_RESAMPLES = 2000


SUMMARY_STATS = ("n", "n_ok", "success_rate", "success_ci_low", "success_ci_high", "mean",
                 "median", "stdev", "ci_low", "ci_high", "min", "max", "n_outliers")


def wilson_interval(k: int, n: int) -> tuple[float, float]:
    """Wilson 95% interval of a success rate: sane at k=0, k=n and small n, unlike Wald's."""
    if n == 0:
        return (np.nan, np.nan)
    ci = sps.binomtest(k, n).proportion_ci(method="wilson")
    return (float(ci.low), float(ci.high))


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


def _median_ci(values: np.ndarray, seed: int) -> tuple[float, float]:
    """Percentile-bootstrap 95% CI of the median.

    NaN below 2 values (nothing to resample); the value itself when all values are equal
    (every resample gives it). A fresh generator per call keeps a cell's CI independent of
    which other cells are in the frame.
    """
    if values.size < 2:
        return (np.nan, np.nan)
    if np.all(values == values[0]):
        return (float(values[0]), float(values[0]))
    result = sps.bootstrap((values,), np.median, n_resamples=BOOTSTRAP_RESAMPLES,
                           vectorized=True, method="percentile",
                           random_state=np.random.default_rng(seed))
    return (float(result.confidence_interval.low), float(result.confidence_interval.high))


def _describe(values: np.ndarray, seed: int) -> dict[str, float]:
    """Location, spread, median CI and outliers of one cell's successful values (may be empty)."""
    if values.size == 0:
        return {"mean": np.nan, "median": np.nan, "stdev": np.nan, "ci_low": np.nan,
                "ci_high": np.nan, "min": np.nan, "max": np.nan, "n_outliers": 0}
    ci_low, ci_high = _median_ci(values, seed)
    return {
        "mean": float(np.mean(values)),
        "median": float(np.median(values)),
        "stdev": float(np.std(values, ddof=1)) if values.size >= 2 else np.nan,
        "ci_low": ci_low,
        "ci_high": ci_high,
        "min": float(np.min(values)),
        "max": float(np.max(values)),
        "n_outliers": outlier_count(values),
    }


def _outcomes(cell_rows: pd.DataFrame, metric: str) -> tuple[int, int, np.ndarray]:
    """(n, n_ok, successful non-NaN values) of one metric in one cell.

    A per-repetition metric is judged per repetition: it succeeded only if every instance of
    that repetition did, and its value (the same on every instance's row) is taken once.
    """
    ok = cell_rows["status"] == STATUS_OK
    if metric not in REPETITION_METRICS:
        values = cell_rows.loc[ok, metric].dropna().to_numpy(dtype=float)
        return len(cell_rows), int(ok.sum()), values
    # Repetition numbers restart in every run (and every job of a sweep).
    keys = [k for k in ("run_id", "repetition") if k in cell_rows.columns]
    per_repetition = (cell_rows.assign(ok=ok)
                      .groupby(keys)
                      .agg(ok=("ok", "all"), value=(metric, "max")))  # max skips NaN
    values = per_repetition.loc[per_repetition["ok"], "value"].dropna().to_numpy(dtype=float)
    return len(per_repetition), int(per_repetition["ok"].sum()), values


def ok_values(rows: pd.DataFrame, metric: str) -> np.ndarray:
    """The successful values of `metric` in these rows (a per-repetition metric once per
    repetition that fully succeeded): the sample a statistic or a comparison is taken of."""
    return _outcomes(rows, metric)[2]


def measured_trials(trials: pd.DataFrame) -> pd.DataFrame:
    """The rows stats use: everything except warm-ups."""
    return trials[~trials["warmup"].astype(bool)]


def summarize(trials: pd.DataFrame, timed_columns: Sequence[str] = TIMED_COLUMNS,
              seed: int = 0) -> pd.DataFrame:
    """One row per (cell, timed metric): success counts and rate, and statistics of ok values.

    Columns: the CELL_COLUMNS present, `metric`, then SUMMARY_STATS. Warm-ups are excluded.
    Cells keep the order in which they first appear (the plan's order); a missing memsize is a
    cell of its own. A metric is summarised when some ok, non-warm-up row measured it; if none
    did (every trial failed), every timed column present is, so the failures still show.

    `n` counts trials of any status and `n_ok` the ok ones, except for makespan_s, which is one
    measurement per repetition: there `n` counts repetitions and `n_ok` the repetitions whose
    instances all succeeded.

    `ci_low`/`ci_high` bound the median (percentile bootstrap, seeded by `seed`): NaN with fewer
    than 2 values, both equal to the value when all values are equal.
    """
    rows = measured_trials(trials)
    keys = [c for c in CELL_COLUMNS if c in rows.columns]
    present = [m for m in timed_columns if m in rows.columns]
    ok_rows = rows[rows["status"] == STATUS_OK]
    metrics = [m for m in present if ok_rows[m].notna().any()] or present

    records = []
    for cell_key, cell_rows in rows.groupby(keys, dropna=False, sort=False):
        for metric in metrics:
            n, n_ok, values = _outcomes(cell_rows, metric)
            success_ci_low, success_ci_high = wilson_interval(n_ok, n)
            records.append({
                **dict(zip(keys, cell_key, strict=True)),
                "metric": metric,
                "n": n,
                "n_ok": n_ok,
                "success_rate": n_ok / n,
                "success_ci_low": success_ci_low,
                "success_ci_high": success_ci_high,
                **_describe(values, seed),
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
