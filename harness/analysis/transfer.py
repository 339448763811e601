"""Upload and download: t = t0 + size/bandwidth fitted per series and direction, bandwidth
ratios between backends (Fieller), and the aggregate bandwidth of parallel appliances.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pandas as pd
from scipy import special

from harness.analysis.fieller import fieller_ratio
from harness.analysis.scaling import fit_values, grouped_series, ols_fit
from harness.analysis.summary import measured_trials
from harness.results.records import CELL_COLUMNS, STATUS_OK

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


def weighted_fit(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """y = intercept + slope * x as ols_fit gives it, but weighted by 1 / fitted^2 (a
    transfer's noise grows with its time) with HC3 sandwich standard errors, which hold
    whatever the noise really does. Equal weights and the textbook errors covered the
    bandwidth 64-72% of the time when the noise was 5% of each time; this covers 95-99%
    whether the noise is proportional or constant (tests/analysis/test_transfer.py)."""
    first = ols_fit(x, y)
    if x.size < 3 or np.isnan(first["slope"]):
        return first
    design = np.column_stack([np.ones_like(x), x])
    fitted = design @ np.array([first["intercept"], first["slope"]])
    weights = 1 / np.maximum(fitted, np.min(y[y > 0], initial=1e-9)) ** 2
    bread = np.linalg.inv((design.T * weights) @ design)
    intercept, slope = bread @ (design.T * weights) @ y
    residuals = y - intercept - slope * x
    leverage = np.einsum("ij,jk,ik->i", design, bread, design) * weights
    if np.any(leverage >= 1 - 1e-9):  # a point alone at its size: its residual is 0
        return first
    meat = (design.T * (weights * residuals / (1 - leverage)) ** 2) @ design
    covariance = bread @ meat @ bread
    intercept_se, slope_se = np.sqrt(np.diag(covariance))
    return fit_values(slope, slope_se, intercept, intercept_se,
                      special.stdtrit(x.size - 2, 0.975), first["r_squared"])


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
    from a slow start, which MiB/s at one size cannot. 95% CIs are t-based on robust errors
    (weighted_fit; see _model_values for the bandwidth's). A series is every cell factor but
    the size (TRANSFER_SERIES_COLUMNS);
    one whose transfers all failed keeps its rows, with `n` 0 and NaN values, so a backend that
    could not run still shows. `accel_effective` lists what the fitted appliances ran under.
    """
    records = []
    transfers = _transfer_rows(trials) if has_transfers(trials) else trials.iloc[0:0]
    for factors, label, rows in grouped_series(transfers, TRANSFER_SERIES_COLUMNS):
        ok = rows[rows["status"] == STATUS_OK]
        for direction in DIRECTIONS:
            points = ok.dropna(subset=["size_bytes", f"{direction}_s"])
            sizes = points["size_bytes"].to_numpy(dtype=float) / MiB
            fit = weighted_fit(sizes, points[f"{direction}_s"].to_numpy(dtype=float))
            records.append({
                **factors, "series": label, "direction": direction,
                "accel_effective": ", ".join(sorted(points["accel_effective"].dropna().unique())),
                "n_sizes": np.unique(sizes).size, "size_min_mib": min(sizes, default=np.nan),
                "size_max_mib": max(sizes, default=np.nan), **_model_values(fit, len(points))})
    keys = [c for c in TRANSFER_SERIES_COLUMNS if c in trials.columns]
    return pd.DataFrame(records, columns=[*keys, *TRANSFER_MODEL_COLUMNS])


def model_rows(model: pd.DataFrame) -> pd.DataFrame:
    """summary.csv's rows of the model: one per series and direction (`metric` upload_model or
    download_model, size_bytes empty, MODEL_STATS filled)."""
    keys = [c for c in TRANSFER_SERIES_COLUMNS if c in model.columns]
    return model.assign(metric=model["direction"] + "_model")[[*keys, "metric", *MODEL_STATS]]


def _bandwidth_ratio_ci(a: float, se_a: float, b: float, se_b: float,
                        df: int) -> tuple[float, float, float]:
    """a / b of two independent positive slopes, with Fieller's 95% CI; its low end stops at 0
    (a ratio of bandwidths is positive)."""
    if not (a > 0 and b > 0):
        return (np.nan, np.nan, np.nan)
    ratio, low, high = fieller_ratio(a, b, se_a**2, se_b**2, 0.0, df)
    return (ratio, max(0.0, low) if not np.isnan(low) else low, high)


def bandwidth_ratio(model: pd.DataFrame, numerator_backend: str,
                    denominator_backend: str) -> pd.DataFrame:
    """Bandwidth of one backend over another's, per direction, for each pair of series that
    differ only in backend (the same appliance, N, memsize, ...).

    The ratio is slope_denominator / slope_numerator of the two fits. Its 95% CI propagates the
    fits' uncertainty by Fieller's theorem with the t quantile of the smaller residual degrees
    of freedom (conservative): unlike the delta method it says when the data cannot bound the
    ratio (ratio_ci_high inf, when the numerator's bandwidth has no upper limit).
    """
    # uml_channel is UML's own setting (empty for any other backend): not a key to match on.
    keys = ["direction", *[c for c in TRANSFER_SERIES_COLUMNS if c in model.columns
                           and c not in ("cell", "backend", "accel_requested", "uml_channel")]]
    numerator = model[model["backend"] == numerator_backend]
    denominator = model[model["backend"] == denominator_backend]
    records = []
    for _, pair in numerator.merge(denominator, on=keys, suffixes=("_num", "_den")).iterrows():
        ratio, low, high = _bandwidth_ratio_ci(
            pair["slope_s_per_mib_den"], pair["slope_se_den"], pair["slope_s_per_mib_num"],
            pair["slope_se_num"], min(pair["df_num"], pair["df_den"]))
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
