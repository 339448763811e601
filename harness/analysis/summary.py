"""Summary statistics of the tidy trial frame: pure functions, DataFrame in, DataFrame out.

Warm-up rows stay in trials.parquet (flagged) but never enter a statistic here. Failed trials
count towards `n` and the success rate, so a cell that never worked still gets its rows.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import special

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
Z_95 = float(special.ndtri(0.5 + CONFIDENCE / 2))


SUMMARY_STATS = ("n", "n_ok", "success_rate", "success_ci_low", "success_ci_high", "mean",
                 "median", "stdev", "ci_low", "ci_high", "ci_level", "min", "max", "n_outliers")


def success_interval(k: int, n: int) -> tuple[float, float]:
    """Clopper-Pearson 95% interval of a success rate, k of n: exact, so it covers at least
    95% at every true rate, also near 100% where launches mostly work (Wilson's dips to 83-86%
    there at n = 5-30)."""
    low, high = success_intervals(np.array([k]), np.array([n]))
    return (float(low[0]), float(high[0]))


def success_intervals(k: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """success_interval of every (k, n) pair at once (NaN where n is 0)."""
    alpha = 1 - CONFIDENCE
    low = np.where(k > 0, special.betaincinv(k, n - k + 1, alpha / 2), 0.0)
    high = np.where(k < n, special.betaincinv(k + 1, n - k, 1 - alpha / 2), 1.0)
    return np.where(n > 0, low, np.nan), np.where(n > 0, high, np.nan)


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
    if n == 0 or 2 * special.bdtr(0, n, 0.5) > alpha:
        return (-1, float("nan"))
    k = max(0, int(n / 2 - special.ndtri(1 - alpha / 2) * math.sqrt(n) / 2))  # near it
    while 2 * special.bdtr(k + 1, n, 0.5) <= alpha:
        k += 1
    while 2 * special.bdtr(k, n, 0.5) > alpha:
        k -= 1
    return (k, float(1 - 2 * special.bdtr(k, n, 0.5)))


DESCRIBED = ("mean", "median", "stdev", "ci_low", "ci_high", "ci_level", "min", "max",
             "n_outliers")


def _pieces(group: np.ndarray, values: np.ndarray, groups: int
            ) -> tuple[list[np.ndarray], np.ndarray]:
    """Each group's values in their order (group[i] in 0..groups-1 is the group of
    values[i]), and each group's size."""
    size = np.bincount(group, minlength=groups)
    order = np.argsort(group, kind="stable")
    return np.split(values[order], np.cumsum(size)[:-1])[:groups], size


def _middles(ordered: np.ndarray, start: np.ndarray, size: np.ndarray) -> np.ndarray:
    """np.median of each group of `ordered` (sorted within groups); NaN for an empty one."""
    medians = np.full(size.size, np.nan)
    full = size > 0
    medians[full] = (ordered[(start + (size - 1) // 2)[full]]
                     + ordered[(start + size // 2)[full]]) / 2
    return medians


def group_medians(group: np.ndarray, values: np.ndarray, groups: int) -> np.ndarray:
    """np.median of each group's values (group[i] in 0..groups-1 is the group of values[i]);
    NaN for a group without values."""
    pieces = _pieces(group, values, groups)[0]
    return np.array([np.median(piece) if piece.size else np.nan for piece in pieces])


def describe_groups(group: np.ndarray, values: np.ndarray, groups: int) -> pd.DataFrame:
    """Location, spread, median CI and outliers of each group's values at once (group[i] in
    0..groups-1 is the group of values[i]): a row per group, in group order, with the columns
    of DESCRIBED; an empty group has NaN statistics and no outlier.

    Each statistic is the one np.mean, np.median, np.std, median_ci and outlier_count take of
    a group alone; mean and stdev are taken per group by numpy itself, in the values' order,
    so that they round to the last digit as they always have (a grouped sum adds in another
    order)."""
    pieces, size = _pieces(group, np.asarray(values, dtype=float), groups)
    # Sorted within each group, group after group: a sort a group is far quicker than a
    # lexsort of all the values by group and value.
    ordered = np.concatenate([np.sort(piece) for piece in pieces] or [np.zeros(0)])
    start, full = np.cumsum(size) - size, size > 0
    k, level = np.array([order_statistic_rank(n, CONFIDENCE) for n in size]).T.reshape(2, -1)
    has_ci = full & (k >= 0)
    k = k.astype(int)
    described = {name: np.full(groups, np.nan) for name in ("ci_low", "ci_high", "min", "max")}
    described["ci_low"][has_ci] = ordered[(start + k)[has_ci]]
    described["ci_high"][has_ci] = ordered[(start + size - 1 - k)[has_ci]]
    described["min"][full] = ordered[start[full]]
    described["max"][full] = ordered[(start + size - 1)[full]]
    median = _middles(ordered, start, size)
    # outlier_count: modified z-scores from each group's median and MAD
    within = np.repeat(np.arange(groups), size)
    distance = np.abs(ordered - median[within])
    mad = group_medians(within, distance, groups)
    with np.errstate(divide="ignore", invalid="ignore"):
        far = (0.6745 * distance / mad[within] > 3.5) & (mad[within] > 0)
    return pd.DataFrame({
        "mean": [np.mean(piece) if piece.size else np.nan for piece in pieces],
        "median": median,
        "stdev": [np.std(piece, ddof=1) if piece.size >= 2 else np.nan for piece in pieces],
        **described, "ci_level": level,
        "n_outliers": np.bincount(within[far], minlength=groups)}, columns=list(DESCRIBED))


def _describe(values: np.ndarray) -> dict[str, float]:
    """Location, spread, median CI and outliers of one cell's successful values (may be empty)."""
    row = describe_groups(np.zeros(len(values), dtype=int), values, 1)
    return {name: row[name].iloc[0] for name in DESCRIBED}


def _repetitions(rows: pd.DataFrame) -> list[np.ndarray]:
    """The keys of each row's repetition, which sort as groupby sorts them: its run and number
    (numbers restart in every run, and every job of a sweep). NaN where missing, which groupby
    leaves out; a run id by its rank, as strings group slowly."""
    keys = []
    for name in ("run_id", "repetition"):
        if name in rows.columns:
            column = rows[name]
            if pd.api.types.is_numeric_dtype(column):
                keys.append(column.to_numpy(dtype=float))
            else:
                codes = pd.factorize(column, sort=True)[0]
                keys.append(np.where(codes < 0, np.nan, codes))
    return keys


def grouped_outcomes(rows: pd.DataFrame, group: np.ndarray, groups: int, metric: str
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """n and n_ok of each group of rows (group[i] in 0..groups-1 for row i; -1 leaves it out,
    sparing a copy of the others), and the independent successful values of `metric` with the
    group of each, in each group's order.

    A per-repetition metric is judged per repetition: it succeeded only if every instance of
    that repetition did, and its value (the same on every instance's row) is taken once.
    A per-instance metric of a parallel group (some instance > 0) gives one value per
    repetition, the median of its ok instances: instances launched together share the host's
    contention, so they are not independent, and counting each would make every interval and
    test far too sure. Values come in row order, or repetition order where taken per
    repetition.
    """
    kept = group >= 0
    group = group[kept]
    ok = (rows["status"] == STATUS_OK).to_numpy()[kept]
    value = rows[metric].to_numpy(dtype=float)[kept]
    if metric in REPETITION_METRICS:
        keys = [group, *(key[kept] for key in _repetitions(rows))]
        repetitions = pd.DataFrame({"ok": ok, "value": value}).groupby(keys).agg(
            ok=("ok", "all"), value=("value", "max"))  # max skips NaN
        of = repetitions.index.get_level_values(0).to_numpy()
        kept = repetitions["ok"].to_numpy() & repetitions["value"].notna().to_numpy()
        return (np.bincount(of, minlength=groups),
                np.bincount(of, weights=repetitions["ok"].to_numpy(), minlength=groups
                            ).astype(int),
                of[kept], repetitions["value"].to_numpy()[kept])
    n = np.bincount(group, minlength=groups)
    n_ok = np.bincount(group[ok], minlength=groups)
    parallel = np.zeros(groups, dtype=bool)
    if "instance" in rows.columns:
        parallel = np.bincount(group, weights=(rows["instance"] > 0).to_numpy()[kept],
                               minlength=groups) > 0
    single = ok & ~parallel[group] & ~np.isnan(value)
    together = ok & parallel[group]
    if not together.any():
        return n, n_ok, group[single], value[single]
    medians = pd.Series(value[together]).groupby(
        [group[together], *(key[kept][together] for key in _repetitions(rows))]
    ).median().dropna()
    of = np.concatenate([group[single], medians.index.get_level_values(0).to_numpy()])
    taken = np.concatenate([value[single], medians.to_numpy()])
    order = np.argsort(of, kind="stable")
    return n, n_ok, of[order], taken[order]


def _outcomes(cell_rows: pd.DataFrame, metric: str) -> tuple[int, int, np.ndarray]:
    """(n, n_ok, independent successful values) of one metric in one cell (grouped_outcomes
    of one group)."""
    n, n_ok, _, values = grouped_outcomes(cell_rows, np.zeros(len(cell_rows), dtype=int), 1,
                                          metric)
    return int(n[0]), int(n_ok[0]), values


def ok_values(rows: pd.DataFrame, metric: str) -> np.ndarray:
    """The independent successful values of `metric` in these rows (see grouped_outcomes: one
    per repetition in a parallel cell): the sample a statistic or a comparison is taken of."""
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
    keys = [c for c in CELL_COLUMNS if c in trials.columns]
    columns = [*keys, "metric", *SUMMARY_STATS]
    present = [m for m in timed_columns if m in trials.columns]
    cell, index = measured_cells(trials, keys)
    count, measured = len(index), cell >= 0
    ok = (trials["status"] == STATUS_OK).to_numpy() & measured
    metrics = [m for m in present if trials.loc[ok, m].notna().any()] or present
    if not count or not metrics:
        return pd.DataFrame([], columns=columns)
    # A cell's own metrics: a launch cell beside inspection cells has no inspect_s row.
    has = trials[metrics].notna().to_numpy()
    ok_measured = pd.DataFrame(has[ok]).groupby(cell[ok]).any().reindex(
        range(count), fill_value=False).to_numpy()
    any_measured = pd.DataFrame(has[measured]).groupby(cell[measured]).any().to_numpy()
    runner = np.array([m in RUNNER_COLUMNS for m in metrics])
    chosen = np.where(ok_measured.any(axis=1, keepdims=True), ok_measured,
                      np.where(any_measured.any(axis=1, keepdims=True), any_measured,
                               runner if runner.any() else True))

    n, n_ok = (np.zeros((count, len(metrics)), dtype=int) for _ in range(2))
    sample_of, sample = [], []
    for j, metric in enumerate(metrics):
        if chosen[:, j].any():
            n[:, j], n_ok[:, j], of, values = grouped_outcomes(trials, cell, count, metric)
            sample_of.append(of * len(metrics) + j)
            sample.append(values)
    described = describe_groups(np.concatenate(sample_of), np.concatenate(sample),
                                count * len(metrics))
    cell_index, metric_index = np.nonzero(chosen)  # cell by cell, metrics in order
    n, n_ok = n[cell_index, metric_index], n_ok[cell_index, metric_index]
    success_ci_low, success_ci_high = success_intervals(n_ok, n)
    cell_keys = pd.DataFrame(list(index) if len(keys) > 1 else [(key,) for key in index],
                             columns=keys)
    summary = cell_keys.iloc[cell_index].reset_index(drop=True)
    summary["metric"] = [metrics[j] for j in metric_index]
    summary["n"], summary["n_ok"], summary["success_rate"] = n, n_ok, n_ok / n
    summary["success_ci_low"], summary["success_ci_high"] = success_ci_low, success_ci_high
    stats = described.iloc[cell_index * len(metrics) + metric_index].reset_index(drop=True)
    return pd.concat([summary, stats], axis=1)[columns]


def measured_cells(trials: pd.DataFrame, keys: list[str]) -> tuple[np.ndarray, pd.Index]:
    """The cell of each row as the measured rows group by `keys` (a missing value a key of
    its own; cells numbered in the order they first appear), -1 for a warm-up; and each
    cell's keys. Told without copying the measured rows (a million: hundreds of MiB)."""
    grouped = trials.groupby(keys, dropna=False, sort=False)
    every, index = grouped.ngroup().to_numpy(), grouped.size().index
    del grouped  # and its codes of every key
    measured = ~trials["warmup"].astype(bool).to_numpy()
    seen, first = np.unique(every[measured], return_index=True)
    cells = seen[np.argsort(first)]
    number = np.full(len(index), -1)
    number[cells] = np.arange(cells.size)
    return np.where(measured, number[every], -1), index[cells]


def status_counts(trials: pd.DataFrame) -> pd.DataFrame:
    """One row per cell with a count column per status (all five, zeros included), warm-ups
    excluded: the data behind the success/failure grid."""
    cell, index = measured_cells(trials, [c for c in CELL_COLUMNS if c in trials.columns])
    measured = cell >= 0
    return pd.DataFrame({s: np.bincount(cell[measured & (trials["status"] == s).to_numpy()],
                                        minlength=len(index))
                         for s in STATUSES}, index=index).reset_index()


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
