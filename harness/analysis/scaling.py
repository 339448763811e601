"""Parallel appliances: makespan against N per series, efficiency, a linear fit with CIs, and
its agreement with a published figure (guestfs-performance(1) PARALLEL APPLIANCES).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from harness.analysis.fieller import fieller_ratio
from harness.analysis.summary import describe_groups, grouped_outcomes, measured_trials
from harness.results.records import CELL_COLUMNS, STATUS_OK, STATUSES

# The factors of a cell other than N: cells that differ only in `parallel` form one series
# (a transfer's sizes are rows of one trial, sharing its makespan, not series of their own).
SERIES_COLUMNS = tuple(c for c in CELL_COLUMNS if c not in ("cell", "parallel", "size_bytes"))


SCALING_STATS = ("n_reps", "n_reps_ok", "median", "ci_low", "ci_high", "ci_level", "efficiency",
                 "speedup", "n_instances", "n_failed", "failure_rate", "host_mem_peak_mib",
                 "appliance_cost_mib", *STATUSES)


FIT_STATS = ("n_points", "n_min", "n_max", "slope", "slope_ci_low", "slope_ci_high",
             "intercept", "r_squared", "t1", "normalized_slope", "normalized_ci_low",
             "normalized_ci_high", "lack_of_fit_p", "spread_p")

# Below this p the report says the line's assumptions fail (the curve bends, the spread varies).
ASSUMPTION_ALPHA = 0.05


COMPARISON_COLUMNS = ("series", "n_min", "n_max", "normalized_slope", "normalized_ci_low",
                      "normalized_ci_high", "published_n_min", "published_n_max",
                      "published_slope", "published_t1", "published_normalized_slope",
                      "published_normalized_low", "published_normalized_high",
                      "published_reading_error_s", "ratio", "ratio_ci_low", "ratio_ci_high")
# A published point's reading precision (+/- seconds), where its figure gives one.
READING_ERROR = "reading_error_s"


def series_labels(trials: pd.DataFrame, columns: Sequence[str] = SERIES_COLUMNS) -> pd.Series:
    """A readable series name per row: the backend, plus `factor=value` for any other factor
    of `columns` that varies among one backend's rows (so two memsizes of one backend stay
    apart; what differs only between backends, like the accelerator each asks for, the
    backend's name already says)."""
    varying = [c for c in columns if c not in ("cell", "backend") and c in trials.columns
               and (trials.groupby("backend")[c].nunique(dropna=False) > 1).any()]
    labels = trials["backend"].astype(str)
    for column in varying:
        labels = labels + f", {column}=" + trials[column].astype(str)
    return labels


def grouped_series(trials: pd.DataFrame,
            columns: Sequence[str] = SERIES_COLUMNS) -> list[tuple[dict, str, pd.DataFrame]]:
    """(factor values, label, non-warm-up rows) of each series, in the order they first appear."""
    rows = measured_trials(trials)
    rows = rows.assign(series=series_labels(rows, columns))
    keys = [c for c in columns if c in rows.columns]
    return [(dict(zip(keys, key, strict=True)), series_rows["series"].iloc[0], series_rows)
            for key, series_rows in rows.groupby(keys, dropna=False, sort=False)]


def _column(rows: pd.DataFrame, name: str) -> pd.Series:
    """A column of rows as numbers, all NaN where runs from before schema 3 lack it (None
    where only some of the runs merged do)."""
    return rows[name].astype(float) if name in rows.columns else pd.Series(np.nan,
                                                                           index=rows.index)


@dataclass(frozen=True)
class Points:
    """The measured rows of a sweep by series and N, as grouped_series orders them."""

    rows: pd.DataFrame  # measured rows of a known N
    point: np.ndarray  # the point of each row: series by series, N ascending
    series: np.ndarray  # the series of each point
    parallel: np.ndarray  # the N of each point
    factors: list[tuple]  # the factor values of each series (as groupby gives its keys)
    labels: np.ndarray  # the label of each series
    keys: list[str]  # the factors' columns


def _points(trials: pd.DataFrame) -> Points:
    """The measured rows by series and N, for every series at once."""
    rows = measured_trials(trials)
    labels = series_labels(rows).to_numpy()
    keys = [c for c in SERIES_COLUMNS if c in rows.columns]
    grouped = rows.groupby(keys, dropna=False, sort=False)
    series = grouped.ngroup().to_numpy()
    index = grouped.size().index
    factors = list(index) if len(keys) > 1 else [(key,) for key in index]
    labels = labels[np.unique(series, return_index=True)[1]]
    known = rows["parallel"].notna().to_numpy()
    rows, series = rows[known], series[known]
    points = rows.groupby([series, rows["parallel"].to_numpy()], sort=True)
    ids = points.size().index
    return Points(rows, points.ngroup().to_numpy(), ids.get_level_values(0).to_numpy(),
                  ids.get_level_values(1).to_numpy(), factors, labels, keys)


def scaling_table(trials: pd.DataFrame) -> pd.DataFrame:
    """One row per series and N: the makespan of N appliances released together, and failures.

    `median`, `ci_low`, `ci_high` are the median makespan of the repetitions whose instances
    all succeeded, with its distribution-free 95% CI (as in summarize; NaN below 6).
    `efficiency` is T(1)/T(N): 1 when N appliances take as long as one (the guide's "little
    difference"), 1/N when they take as long as N launched one after another. `speedup` is
    N * T(1)/T(N), the gain over launching them one after another. Both are NaN without an
    N=1 cell in the series. Failures count instance rows: `n_failed` of `n_instances` were
    not ok, then a count per status. Memory: `host_mem_peak_mib`, the most host memory in use
    during any repetition at this N; `appliance_cost_mib`, the median host cost of one ok
    appliance (its hypervisor's peak resident size plus its helpers' private memory). NaN for
    runs without them.
    """
    keys = [c for c in SERIES_COLUMNS if c in trials.columns]
    columns = [*keys, "series", "parallel", *SCALING_STATS]
    points = _points(trials)
    count, rows, point = len(points.series), points.rows, points.point
    if not count:
        return pd.DataFrame([], columns=columns)
    n_reps, n_reps_ok, of, values = grouped_outcomes(rows, point, count, "makespan_s")
    described = describe_groups(of, values, count)
    status = rows["status"].to_numpy()
    statuses = {s: np.bincount(point[status == s], minlength=count) for s in STATUSES}
    n_instances = np.bincount(point, minlength=count)
    n_failed = n_instances - statuses[STATUS_OK]
    ok = status == STATUS_OK
    median = described["median"].to_numpy()
    at_one = dict(zip(points.series[points.parallel == 1], median[points.parallel == 1],
                      strict=True))
    efficiency = np.array([at_one.get(s, np.nan) for s in points.series]) / median
    parallel = points.parallel.astype(int)
    table = pd.DataFrame([points.factors[s] for s in points.series], columns=points.keys)
    table = table.assign(
        series=list(points.labels[points.series]), parallel=parallel, n_reps=n_reps,
        n_reps_ok=n_reps_ok, median=median, ci_low=described["ci_low"],
        ci_high=described["ci_high"], ci_level=described["ci_level"], efficiency=efficiency,
        speedup=parallel * efficiency, n_instances=n_instances, n_failed=n_failed,
        failure_rate=n_failed / n_instances,
        host_mem_peak_mib=_column(rows, "host_mem_peak_mib").groupby(point).max().to_numpy(),
        appliance_cost_mib=_column(rows, "host_cost_mib")[ok].groupby(point[ok]).median()
        .reindex(range(count)).to_numpy(), **statuses)
    return table[columns]


def ols_fit(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Least squares y = intercept + slope * x, with standard errors and t-based 95% CIs of
    slope and intercept.

    Written out rather than scipy's linregress, which gives a NaN standard error for a
    perfectly flat line (the ideal parallel result). The CIs need 3 points (1 residual degree
    of freedom) and the fit needs 2 distinct x; short of that the values are NaN.
    """
    nan = {"slope": np.nan, "slope_se": np.nan, "slope_ci_low": np.nan,
           "slope_ci_high": np.nan, "intercept": np.nan, "intercept_ci_low": np.nan,
           "intercept_ci_high": np.nan, "r_squared": np.nan}
    if np.unique(x).size < 2:
        return nan
    sxx = np.sum((x - x.mean()) ** 2)
    slope = np.sum((x - x.mean()) * (y - y.mean())) / sxx
    intercept = y.mean() - slope * x.mean()
    sse = np.sum((y - intercept - slope * x) ** 2)
    syy = np.sum((y - y.mean()) ** 2)
    slope_se = intercept_se = quantile = np.nan
    if x.size > 2:
        variance = sse / (x.size - 2)
        slope_se = np.sqrt(variance / sxx)
        intercept_se = np.sqrt(variance * (1 / x.size + x.mean() ** 2 / sxx))
        quantile = special.stdtrit(x.size - 2, 0.975)
    return fit_values(slope, slope_se, intercept, intercept_se, quantile,
                      1 - sse / syy if syy > 0 else np.nan)


def fit_values(slope: float, slope_se: float, intercept: float, intercept_se: float,
               quantile: float, r_squared: float) -> dict[str, float]:
    """A fitted line as ols_fit returns it: estimates with their CIs (quantile x error)."""
    return {"slope": float(slope), "slope_se": float(slope_se),
            "slope_ci_low": float(slope - quantile * slope_se),
            "slope_ci_high": float(slope + quantile * slope_se), "intercept": float(intercept),
            "intercept_ci_low": float(intercept - quantile * intercept_se),
            "intercept_ci_high": float(intercept + quantile * intercept_se),
            "r_squared": float(r_squared)}


def linear_fit(trials: pd.DataFrame) -> pd.DataFrame:
    """One row per series: makespan = intercept + slope * N fitted to every ok repetition.

    `slope` is the seconds each extra appliance adds; `normalized_slope` divides it by T(1),
    the mean makespan at N=1, so hosts of different speed compare: the fraction of one launch
    each extra appliance costs. Its CI is Fieller's, since T(1) is measured too (and shares its
    repetitions with the fit): the fit's residual variance gives T(1)'s variance and its
    covariance with the slope. `n_min`..`n_max` is the range of N fitted.

    The fit assumes a straight line with equal spread at every N; on real sweeps the curve
    often bends (flat while N fits the CPUs, steeper after) and spreads more at large N.
    `lack_of_fit_p` and `spread_p` test both, so the report can say when b is only an average
    over the range and its CI approximate.
    """
    keys = [c for c in SERIES_COLUMNS if c in trials.columns]
    columns = [*keys, "series", *FIT_STATS]
    points = _points(trials)
    if not points.factors:
        return pd.DataFrame([], columns=columns)
    _, _, of, values = grouped_outcomes(points.rows, points.point, len(points.series),
                                        "makespan_s")
    cut = np.searchsorted(points.series[of], np.arange(1, len(points.factors)))  # in order
    records = []
    for factors, label, x, y in zip(points.factors, points.labels,
                                    np.split(points.parallel[of].astype(float), cut),
                                    np.split(values, cut), strict=True):
        fit = ols_fit(x, y)
        normalized = normalized_slope(fit, x, y)
        checks = {"lack_of_fit_p": lack_of_fit_p(x, y, fit), "spread_p": spread_p(x, y)}
        records.append({**dict(zip(points.keys, factors, strict=True)), "series": label,
                        "n_points": x.size, "n_min": x.min() if x.size else np.nan,
                        "n_max": x.max() if x.size else np.nan,
                        **fit, "t1": y[x == 1].mean() if (x == 1).any() else np.nan,
                        **dict(zip(("normalized_slope", "normalized_ci_low",
                                    "normalized_ci_high"), normalized, strict=True)),
                        **checks})
    return pd.DataFrame(records, columns=columns)


def lack_of_fit_p(x: np.ndarray, y: np.ndarray, fit: dict[str, float]) -> float:
    """p of the lack-of-fit F test: do the means at each N stray from the line more than the
    repetitions at one N scatter? NaN without 3 distinct N and repeated runs at some N."""
    levels = np.unique(x)
    pure_error = sum(np.sum((y[x == n] - y[x == n].mean()) ** 2) for n in levels)
    df_lack, df_pure = levels.size - 2, x.size - levels.size
    if df_lack < 1 or df_pure < 1 or pure_error == 0:
        return np.nan
    sse = np.sum((y - fit["intercept"] - fit["slope"] * x) ** 2)
    f = ((sse - pure_error) / df_lack) / (pure_error / df_pure)
    return float(special.fdtrc(df_lack, df_pure, f))


def spread_p(x: np.ndarray, y: np.ndarray) -> float:
    """p of a test that the makespan's spread changes with N: Kendall's tau between N and
    each repetition's distance from the median at its N (the median's own zero left out).

    A trend test, not Brown-Forsythe's: with 3 repetitions per N an equal-spread test across
    the N barely ever fires (1% of sweeps whose spread grows 20-fold, simulated). NaN without
    2 N of 2+ repetitions.
    """
    medians = {n: np.median(y[x == n]) for n in np.unique(x) if (x == n).sum() >= 2}
    if len(medians) < 2:
        return np.nan
    repeated = np.isin(x, list(medians))
    distance = np.abs(y[repeated] - np.array([medians[n] for n in x[repeated]]))
    kept = distance > 0
    if np.unique(x[repeated][kept]).size < 2 or np.ptp(distance[kept]) == 0:
        return np.nan
    from scipy import stats  # half a second to import: only where a test runs

    return float(stats.kendalltau(x[repeated][kept], distance[kept]).pvalue)


def normalized_slope(fit: dict[str, float], x: np.ndarray,
                      y: np.ndarray) -> tuple[float, float, float]:
    """slope / T(1) with Fieller's 95% CI, T(1) the mean of the N=1 repetitions.

    Under the fit's model (independent, equal-variance errors around each N's mean), the mean
    of n1 values at N=1 has variance s^2 / n1, and its covariance with the slope is
    s^2 * (1 - mean(x)) / Sxx = slope_se^2 * (1 - mean(x)).
    """
    at_one = x == 1
    if not at_one.any():
        return (np.nan, np.nan, np.nan)
    slope_variance = fit["slope_se"] ** 2
    residual_variance = slope_variance * np.sum((x - x.mean()) ** 2)
    return fieller_ratio(fit["slope"], float(y[at_one].mean()), slope_variance,
                         residual_variance / at_one.sum(), slope_variance * (1 - x.mean()),
                         x.size - 2)


def published_range(x: np.ndarray, y: np.ndarray, error: np.ndarray,
                    t1: float, t1_error: float) -> tuple[float, float]:
    """The least and the greatest slope / T(1) of a least-squares line through points each
    anywhere within +/- `error` of its reading (T(1) within +/- t1_error): the slope is a
    weighted sum of the points, weights (x - mean) / Sxx, so its extremes move every point
    by its error, in the direction of its weight."""
    weights = (x - x.mean()) / np.sum((x - x.mean()) ** 2)
    slope, reach = float(weights @ y), float(np.abs(weights) @ error)
    low, high = slope - reach, slope + reach
    return (low / (t1 + t1_error if low >= 0 else t1 - t1_error),
            high / (t1 - t1_error if high >= 0 else t1 + t1_error))


def ratio_interval(low: float, high: float, published_low: float,
                   published_high: float) -> tuple[float, float]:
    """measured / published where the measured value lies in [low, high] (its CI) and the
    published one surely in [published_low, published_high] (> 0 where it is bounded): the
    ratio's interval covers as often as the measured CI does. Unbounded above when the
    published range reaches 0; none without a measured CI."""
    if np.isnan(high):
        return (np.nan, np.nan)
    if published_low <= 0:
        return (low / published_high if low > 0 else np.nan, np.inf)
    return (low / (published_high if low >= 0 else published_low),
            high / (published_low if high >= 0 else published_high))


def compare_reference(measured_fit: pd.DataFrame, reference_frame: pd.DataFrame) -> pd.DataFrame:
    """Measured against published normalised slope, one row per measured series.

    The published points (`n_parallel`, `seconds`) are fitted over the measured range of N
    only, since the published curve bends (flat up to 4, then steeper): a 1..3 sweep must not be
    held against the slope of 1..20. Published seconds are normalised by the published N=1
    value. `ratio` is measured / published normalised slope. Its CI takes the measured
    slope's CI against every published slope the points allow within their reading precision
    (`reading_error_s`, e.g. a plot read by character position); points without one are taken
    as exact.
    """
    published_x = reference_frame["n_parallel"].to_numpy(dtype=float)
    published_y = reference_frame["seconds"].to_numpy(dtype=float)
    errors = (reference_frame[READING_ERROR].to_numpy(dtype=float)
              if READING_ERROR in reference_frame else np.zeros_like(published_y))
    at_one = published_x == 1
    published_t1 = float(published_y[at_one][0]) if at_one.any() else np.nan
    t1_error = float(errors[at_one][0]) if at_one.any() else np.nan
    records = []
    for _, measured in measured_fit.iterrows():
        in_range = (published_x >= measured["n_min"]) & (published_x <= measured["n_max"])
        published = ols_fit(published_x[in_range], published_y[in_range])
        published_normalized = published["slope"] / published_t1
        low, high = (published_range(published_x[in_range], published_y[in_range],
                                     errors[in_range], published_t1, t1_error)
                     if in_range.sum() >= 2 else (np.nan, np.nan))
        ratio_low, ratio_high = ratio_interval(measured["normalized_ci_low"],
                                               measured["normalized_ci_high"], low, high)
        records.append({
            "series": measured["series"], "n_min": measured["n_min"], "n_max": measured["n_max"],
            "normalized_slope": measured["normalized_slope"],
            "normalized_ci_low": measured["normalized_ci_low"],
            "normalized_ci_high": measured["normalized_ci_high"],
            "published_n_min": published_x[in_range].min() if in_range.any() else np.nan,
            "published_n_max": published_x[in_range].max() if in_range.any() else np.nan,
            "published_slope": published["slope"], "published_t1": published_t1,
            "published_normalized_slope": published_normalized,
            "published_normalized_low": low, "published_normalized_high": high,
            "published_reading_error_s": float(errors[in_range].max()) if in_range.any()
            else np.nan,
            "ratio": measured["normalized_slope"] / published_normalized,
            "ratio_ci_low": ratio_low, "ratio_ci_high": ratio_high,
        })
    return pd.DataFrame(records, columns=list(COMPARISON_COLUMNS))


SECONDS_PER_HOUR = 3600.0


def capacity(scaling: pd.DataFrame) -> pd.DataFrame:
    """What the host sustains: trials of the series' workload finished per hour with N
    appliances at once (N x 3600 / the median makespan of the repetitions in which all N
    succeeded), from scaling_table's rows. The interval is the median's 95% CI through the
    same decreasing map, so it covers as often as that CI does (none below 6 repetitions).
    `best`: the N of each series with the highest median throughput."""
    per_hour = scaling["parallel"] * SECONDS_PER_HOUR
    table = scaling[["series", "workload", "parallel", "n_reps_ok", "infeasible"]].assign(
        per_hour=per_hour / scaling["median"], per_hour_ci_low=per_hour / scaling["ci_high"],
        per_hour_ci_high=per_hour / scaling["ci_low"])
    best = table.dropna(subset=["per_hour"]).groupby("series", sort=False)["per_hour"].idxmax()
    return table.assign(best=table.index.isin(best.to_numpy()))


# Throughput still grows at a series' largest N when that N gives at least this much more per
# hour than the best smaller N: a sweep with parallel_max then measures twice that N.
GROWTH = 1.05
GROWTH_COLUMNS = ("series", "parallel", "n_reps_ok", "previous", "gain", "growing")


def growth(capacity: pd.DataFrame) -> pd.DataFrame:
    """Per series with trials per hour at a smaller N: its largest N tried (`parallel`), the
    best smaller N (`previous`), the one's per hour over the other's (`gain`, NaN where the
    largest N had no repetition all ok: refused or failed) and whether that still counts as
    growing (`gain` >= GROWTH)."""
    records = []
    for series, table in capacity.groupby("series", sort=False):
        table = table.sort_values("parallel")
        largest, smaller = table.iloc[-1], table.iloc[:-1].dropna(subset=["per_hour"])
        if smaller.empty:
            continue
        previous = smaller.loc[smaller["per_hour"].idxmax()]
        gain = largest["per_hour"] / previous["per_hour"]
        records.append({"series": series, "parallel": int(largest["parallel"]),
                        "n_reps_ok": int(largest["n_reps_ok"]),
                        "previous": int(previous["parallel"]), "gain": gain,
                        "growing": bool(gain >= GROWTH)})
    return pd.DataFrame(records, columns=list(GROWTH_COLUMNS))
