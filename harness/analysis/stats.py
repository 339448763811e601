"""Summary statistics of the tidy trial frame: pure functions, DataFrame in, DataFrame out.

Warm-up rows stay in trials.parquet (flagged) but never enter a statistic here. Failed trials
count towards `n` and the success rate, so a cell that never worked still gets its rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

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


# The factors of a cell other than N: cells that differ only in `parallel` form one series
# (a transfer's sizes are rows of one trial, sharing its makespan, not series of their own).
SERIES_COLUMNS = tuple(c for c in CELL_COLUMNS if c not in ("cell", "parallel", "size_bytes"))

SCALING_STATS = ("n_reps", "n_reps_ok", "median", "ci_low", "ci_high", "efficiency", "speedup",
                 "n_instances", "n_failed", "failure_rate", *STATUSES)

FIT_STATS = ("n_points", "n_min", "n_max", "slope", "slope_ci_low", "slope_ci_high",
             "intercept", "r_squared", "t1", "normalized_slope", "normalized_ci_low",
             "normalized_ci_high")

COMPARISON_COLUMNS = ("series", "n_min", "n_max", "normalized_slope", "normalized_ci_low",
                      "normalized_ci_high", "published_n_min", "published_n_max",
                      "published_slope", "published_t1", "published_normalized_slope", "ratio",
                      "ratio_ci_low", "ratio_ci_high")


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


def _series(trials: pd.DataFrame,
            columns: Sequence[str] = SERIES_COLUMNS) -> list[tuple[dict, str, pd.DataFrame]]:
    """(factor values, label, non-warm-up rows) of each series, in the order they first appear."""
    rows = measured_trials(trials)
    rows = rows.assign(series=series_labels(rows, columns))
    keys = [c for c in columns if c in rows.columns]
    return [(dict(zip(keys, key, strict=True)), series_rows["series"].iloc[0], series_rows)
            for key, series_rows in rows.groupby(keys, dropna=False, sort=False)]


def scaling(trials: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """One row per series and N: the makespan of N appliances released together, and failures.

    `median`, `ci_low`, `ci_high` are the median makespan of the repetitions whose instances
    all succeeded, with its bootstrap 95% CI (as in summarize). `efficiency` is T(1)/T(N):
    1 when N appliances take as long as one (the seed's "little difference"), 1/N when they
    take as long as N launched one after another. `speedup` is N * T(1)/T(N), the gain over
    launching them one after another. Both are NaN without an N=1 cell in the series.
    Failures count instance rows: `n_failed` of `n_instances` were not ok, then a count per
    status.
    """
    records = []
    for factors, label, series_rows in _series(trials):
        per_n = []
        for n, rows in series_rows.groupby("parallel", sort=True):
            n_reps, n_reps_ok, values = _outcomes(rows, "makespan_s")
            described = _describe(values, seed)
            statuses = rows["status"].value_counts()
            n_failed = len(rows) - int(statuses.get(STATUS_OK, 0))
            per_n.append({**factors, "series": label, "parallel": int(n), "n_reps": n_reps,
                          "n_reps_ok": n_reps_ok, "median": described["median"],
                          "ci_low": described["ci_low"], "ci_high": described["ci_high"],
                          "n_instances": len(rows), "n_failed": n_failed,
                          "failure_rate": n_failed / len(rows),
                          **{s: int(statuses.get(s, 0)) for s in STATUSES}})
        t1 = next((r["median"] for r in per_n if r["parallel"] == 1), np.nan)
        for record in per_n:
            record["efficiency"] = t1 / record["median"]
            record["speedup"] = record["parallel"] * record["efficiency"]
        records += per_n
    keys = [c for c in SERIES_COLUMNS if c in trials.columns]
    return pd.DataFrame(records, columns=[*keys, "series", "parallel", *SCALING_STATS])


def _fit(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
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
        quantile = sps.t.ppf(0.975, x.size - 2)
    return {"slope": float(slope), "slope_se": float(slope_se),
            "slope_ci_low": float(slope - quantile * slope_se),
            "slope_ci_high": float(slope + quantile * slope_se), "intercept": float(intercept),
            "intercept_ci_low": float(intercept - quantile * intercept_se),
            "intercept_ci_high": float(intercept + quantile * intercept_se),
            "r_squared": float(1 - sse / syy) if syy > 0 else np.nan}


def linear_fit(trials: pd.DataFrame) -> pd.DataFrame:
    """One row per series: makespan = intercept + slope * N fitted to every ok repetition.

    `slope` is the seconds each extra appliance adds; `normalized_slope` (and its CI) divides
    it by T(1), the median makespan at N=1, so hosts of different speed compare: the fraction
    of one launch each extra appliance costs. `n_min`..`n_max` is the range of N fitted.
    """
    records = []
    for factors, label, series_rows in _series(trials):
        x, y, t1 = [], [], np.nan
        for n, rows in series_rows.groupby("parallel", sort=True):
            values = _outcomes(rows, "makespan_s")[2]
            x += [float(n)] * values.size
            y += list(values)
            if n == 1 and values.size:
                t1 = float(np.median(values))
        fit = _fit(np.asarray(x), np.asarray(y))
        records.append({**factors, "series": label, "n_points": len(x),
                        "n_min": min(x, default=np.nan), "n_max": max(x, default=np.nan),
                        **fit, "t1": t1, "normalized_slope": fit["slope"] / t1,
                        "normalized_ci_low": fit["slope_ci_low"] / t1,
                        "normalized_ci_high": fit["slope_ci_high"] / t1})
    keys = [c for c in SERIES_COLUMNS if c in trials.columns]
    return pd.DataFrame(records, columns=[*keys, "series", *FIT_STATS])


def compare_reference(measured_fit: pd.DataFrame, reference_frame: pd.DataFrame) -> pd.DataFrame:
    """Measured against published normalised slope, one row per measured series.

    The published points (`n_parallel`, `seconds`) are fitted over the measured range of N
    only, since the published curve bends (flat up to 4, then steeper): a 1..3 sweep must not be
    held against the slope of 1..20. Published seconds are normalised by the published N=1
    value. `ratio` is measured / published normalised slope, its CI the measured slope's CI
    (the published figure has one sample per N and gives no uncertainty).
    """
    published_x = reference_frame["n_parallel"].to_numpy(dtype=float)
    published_y = reference_frame["seconds"].to_numpy(dtype=float)
    published_t1 = float(published_y[published_x == 1][0]) if (published_x == 1).any() else np.nan
    records = []
    for _, measured in measured_fit.iterrows():
        in_range = (published_x >= measured["n_min"]) & (published_x <= measured["n_max"])
        published = _fit(published_x[in_range], published_y[in_range])
        published_normalized = published["slope"] / published_t1
        records.append({
            "series": measured["series"], "n_min": measured["n_min"], "n_max": measured["n_max"],
            "normalized_slope": measured["normalized_slope"],
            "normalized_ci_low": measured["normalized_ci_low"],
            "normalized_ci_high": measured["normalized_ci_high"],
            "published_n_min": published_x[in_range].min() if in_range.any() else np.nan,
            "published_n_max": published_x[in_range].max() if in_range.any() else np.nan,
            "published_slope": published["slope"], "published_t1": published_t1,
            "published_normalized_slope": published_normalized,
            "ratio": measured["normalized_slope"] / published_normalized,
            "ratio_ci_low": measured["normalized_ci_low"] / published_normalized,
            "ratio_ci_high": measured["normalized_ci_high"] / published_normalized,
        })
    return pd.DataFrame(records, columns=list(COMPARISON_COLUMNS))


# Upload and download (the transfer workload: one row per size).

MiB = 2**20
TRANSFER_WORKLOAD = "transfer"
DIRECTIONS = ("upload", "download")
MODEL_METRICS = tuple(f"{direction}_model" for direction in DIRECTIONS)

# A transfer series: every cell factor but the size, which is the fit's x.
TRANSFER_SERIES_COLUMNS = tuple(c for c in CELL_COLUMNS if c != "size_bytes")

# The model's columns in summary.csv; `n` there is the number of transfers fitted.
MODEL_STATS = ("overhead_ms", "overhead_ci_low", "overhead_ci_high", "bandwidth_mib_s",
               "bandwidth_ci_low", "bandwidth_ci_high", "r2", "n")

TRANSFER_MODEL_COLUMNS = ("series", "direction", "accel_effective", "n_sizes", "size_min_mib",
                          "size_max_mib", *MODEL_STATS, "slope_s_per_mib", "slope_se", "df")

RATIO_COLUMNS = ("numerator", "denominator", "numerator_mib_s", "denominator_mib_s", "ratio",
                 "ratio_ci_low", "ratio_ci_high")

AGGREGATE_COLUMNS = ("run_id", "repetition", "direction", "n_ok", "span_s", "aggregate_mib_s",
                     "overlap")


def has_transfers(trials: pd.DataFrame) -> bool:
    """Whether any row measured a transfer (a run of only failed launches has no size)."""
    return "size_bytes" in trials.columns and bool(trials["size_bytes"].notna().any())


def _transfer_rows(trials: pd.DataFrame) -> pd.DataFrame:
    """The transfer workload's rows, failed ones included (they have no size)."""
    return trials[trials["workload"] == TRANSFER_WORKLOAD]


def _model_values(fit: dict[str, float], n: int) -> dict[str, float]:
    """The line fitted to seconds against MiB as overhead (ms) and bandwidth (MiB/s).

    bandwidth = 1 / slope, so its CI is the slope's inverted: a slope CI reaching 0 or below
    leaves the bandwidth without an upper limit (inf); a slope of 0 or below has no bandwidth
    (NaN), the size's effect being lost in the noise.
    """
    slope, low, high = fit["slope"], fit["slope_ci_low"], fit["slope_ci_high"]
    ci_high = np.nan if np.isnan(low) else (1 / low if low > 0 else np.inf)
    return {"overhead_ms": 1000 * fit["intercept"],
            "overhead_ci_low": 1000 * fit["intercept_ci_low"],
            "overhead_ci_high": 1000 * fit["intercept_ci_high"],
            "bandwidth_mib_s": 1 / slope if slope > 0 else np.nan,
            "bandwidth_ci_low": 1 / high if high > 0 else np.nan,
            "bandwidth_ci_high": ci_high,
            "r2": fit["r_squared"], "n": n, "slope_s_per_mib": slope, "slope_se": fit["slope_se"],
            "df": max(n - 2, 0)}


def transfer_model(trials: pd.DataFrame) -> pd.DataFrame:
    """One row per series and direction: t = t0 + size / bandwidth, fitted by least squares
    to every ok, non-warm-up transfer (each repetition's each size is a point).

    The fixed cost t0 (`overhead_ms`) and the bandwidth (`bandwidth_mib_s`) tell a slow channel
    from a slow start, which MiB/s at one size cannot. 95% CIs are t-based (see _model_values
    for the bandwidth's). A series is every cell factor but the size (TRANSFER_SERIES_COLUMNS);
    one whose transfers all failed keeps its rows, with `n` 0 and NaN values, so a backend that
    could not run still shows. `accel_effective` lists what the fitted appliances ran under.
    """
    records = []
    transfers = _transfer_rows(trials) if has_transfers(trials) else trials.iloc[0:0]
    for factors, label, rows in _series(transfers, TRANSFER_SERIES_COLUMNS):
        ok = rows[rows["status"] == STATUS_OK]
        for direction in DIRECTIONS:
            points = ok.dropna(subset=["size_bytes", f"{direction}_s"])
            sizes = points["size_bytes"].to_numpy(dtype=float) / MiB
            fit = _fit(sizes, points[f"{direction}_s"].to_numpy(dtype=float))
            records.append({
                **factors, "series": label, "direction": direction,
                "accel_effective": ", ".join(sorted(points["accel_effective"].dropna().unique())),
                "n_sizes": np.unique(sizes).size, "size_min_mib": min(sizes, default=np.nan),
                "size_max_mib": max(sizes, default=np.nan), **_model_values(fit, len(points))})
    keys = [c for c in TRANSFER_SERIES_COLUMNS if c in trials.columns]
    return pd.DataFrame(records, columns=[*keys, *TRANSFER_MODEL_COLUMNS])


def summary_with_model(summary: pd.DataFrame, model: pd.DataFrame) -> pd.DataFrame:
    """summary.csv: the per-cell summary, then a row per series and direction of the transfer
    model (`metric` upload_model or download_model, size_bytes empty, MODEL_STATS filled).

    Counts and sizes are nullable integers, so they stay integers where the other rows leave
    them empty.
    """
    keys = [c for c in TRANSFER_SERIES_COLUMNS if c in model.columns]
    model_rows = model.assign(metric=model["direction"] + "_model")[[*keys, "metric",
                                                                     *MODEL_STATS]]
    combined = pd.concat([summary, model_rows], ignore_index=True)
    integers = [c for c in ("size_bytes", "n", "n_ok", "n_outliers") if c in combined.columns]
    return combined.astype(dict.fromkeys(integers, "Int64"))


def _fieller(a: float, se_a: float, b: float, se_b: float,
             df: int) -> tuple[float, float, float]:
    """a / b of two independent positive estimates, with Fieller's 95% CI.

    The CI is unbounded (NaN, inf) when b's own CI reaches 0, and its low end stops at 0 when
    a's does (a ratio of bandwidths is positive).
    """
    if not (a > 0 and b > 0):
        return (np.nan, np.nan, np.nan)
    if df < 1 or np.isnan(se_a) or np.isnan(se_b):
        return (a / b, np.nan, np.nan)
    q2 = sps.t.ppf(0.975, df) ** 2
    denominator = b**2 - q2 * se_b**2
    if denominator <= 0:
        return (a / b, np.nan, np.inf)
    root = np.sqrt(q2 * (a**2 * se_b**2 + b**2 * se_a**2 - q2 * se_a**2 * se_b**2))
    return (a / b, max(0.0, (a * b - root) / denominator), (a * b + root) / denominator)


def bandwidth_ratio(model: pd.DataFrame, numerator_backend: str,
                    denominator_backend: str) -> pd.DataFrame:
    """Bandwidth of one backend over another's, per direction, for each pair of series that
    differ only in backend (the same appliance, N, memsize, ...).

    The ratio is slope_denominator / slope_numerator of the two fits. Its 95% CI propagates the
    fits' uncertainty by Fieller's theorem with the t quantile of the smaller residual degrees
    of freedom (conservative): unlike the delta method it says when the data cannot bound the
    ratio (ratio_ci_high inf, when the numerator's bandwidth has no upper limit).
    """
    keys = ["direction", *[c for c in TRANSFER_SERIES_COLUMNS if c in model.columns
                           and c not in ("cell", "backend", "accel_requested")]]
    numerator = model[model["backend"] == numerator_backend]
    denominator = model[model["backend"] == denominator_backend]
    records = []
    for _, pair in numerator.merge(denominator, on=keys, suffixes=("_num", "_den")).iterrows():
        ratio, low, high = _fieller(pair["slope_s_per_mib_den"], pair["slope_se_den"],
                                    pair["slope_s_per_mib_num"], pair["slope_se_num"],
                                    min(pair["df_num"], pair["df_den"]))
        records.append({**{k: pair[k] for k in keys}, "numerator": pair["series_num"],
                        "denominator": pair["series_den"],
                        "numerator_mib_s": pair["bandwidth_mib_s_num"],
                        "denominator_mib_s": pair["bandwidth_mib_s_den"],
                        "ratio": ratio, "ratio_ci_low": low, "ratio_ci_high": high})
    return pd.DataFrame(records, columns=[*keys, *RATIO_COLUMNS])


def _overlap_seconds(intervals: list[tuple[float, float]]) -> float:
    """Seconds during which two or more of the intervals run at once."""
    edges = sorted({t for interval in intervals for t in interval})
    return sum(end - start for start, end in pairwise(edges)
               if sum(s <= start and end <= e for s, e in intervals) >= 2)


def aggregate_bandwidth(trials: pd.DataFrame) -> pd.DataFrame:
    """One row per cell, repetition, size and direction: the bandwidth of a cell's N appliances
    together, bytes moved / (last end - first start), in MiB/s.

    Each appliance works through the sizes on its own after its launch, so the N transfers of
    one size need not run at once: `overlap` is the share of that span in which two or more did
    (1: all along, 0: one after another), how far the aggregate is a concurrent bandwidth.
    Needs every instance ok at that size and timed, else NaN (`n_ok` counts those that were;
    rows stored before transfers carried their times have none). N = 1 cells get rows too
    (overlap 0), the single-appliance baseline.
    """
    if not has_transfers(trials):
        return pd.DataFrame(columns=[*CELL_COLUMNS, *AGGREGATE_COLUMNS])
    rows = measured_trials(_transfer_rows(trials)).dropna(subset=["size_bytes"])
    times = [f"{direction}_{edge}" for direction in DIRECTIONS for edge in ("start", "end")]
    rows = rows.assign(**{c: np.nan for c in times if c not in rows.columns})
    keys = [*[c for c in CELL_COLUMNS if c in rows.columns], "run_id", "repetition"]
    records = []
    for key, group in rows.groupby(keys, dropna=False, sort=False):
        n, size = int(group["parallel"].iloc[0]), float(group["size_bytes"].iloc[0])
        for direction in DIRECTIONS:
            ok = group[group["status"] == STATUS_OK].dropna(
                subset=[f"{direction}_start", f"{direction}_end"])
            intervals = list(zip(ok[f"{direction}_start"], ok[f"{direction}_end"], strict=True))
            record = {**dict(zip(keys, key, strict=True)), "direction": direction,
                      "n_ok": len(ok), "span_s": np.nan, "aggregate_mib_s": np.nan,
                      "overlap": np.nan}
            span = (max(e for _, e in intervals) - min(s for s, _ in intervals)
                    if intervals else 0.0)
            if ok["instance"].nunique() == n and span > 0:
                record.update(span_s=span, aggregate_mib_s=len(ok) * size / MiB / span,
                              overlap=_overlap_seconds(intervals) / span)
            records.append(record)
    return pd.DataFrame(records, columns=[*keys[:-2], *AGGREGATE_COLUMNS])
