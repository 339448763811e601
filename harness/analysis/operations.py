"""Fewer launches (guestfs-performance(1)): per strategy and M, the trial's total and the cost
per operation with CIs, each strategy's speed-up over a launch per operation, and the M from
which one launch pays for itself.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from harness.analysis.compare import SAMPLES, SIDE_COLUMNS, sides_of
from harness.analysis.scaling import ols_fit
from harness.analysis.summary import _describe, measured_trials, ok_values

OPERATIONS_WORKLOAD = "operations"

# The speed-up of every strategy is over the one that launches an appliance per operation.
BASELINE_STRATEGY = "handle_per_operation"

# Each one-launch strategy against the strategy that does the same work a launch at a time.
PAYS_OFF_AGAINST = {"one_handle": "handle_per_operation",
                    "guestfish_listen": "guestfish_per_operation"}

OPERATIONS_COLUMNS = ("backend", "strategy", "count", "n", "n_ok", "launches", "total_median",
                      "total_ci_low", "total_ci_high", "per_operation_median",
                      "per_operation_ci_low", "per_operation_ci_high", "speedup",
                      "speedup_ci_low", "speedup_ci_high", "verdict")

BREAK_EVEN_COLUMNS = ("backend", "strategy", "against", "intercept_s", "slope_s",
                      "against_intercept_s", "against_slope_s", "break_even_count")


def has_operations(trials: pd.DataFrame) -> bool:
    return bool((trials["workload"] == OPERATIONS_WORKLOAD).any())


def _operations_rows(trials: pd.DataFrame) -> pd.DataFrame:
    """The measured operations rows that say their strategy and M (a trial that failed
    before the workload ran has neither; the failures section shows it)."""
    rows = measured_trials(trials[trials["workload"] == OPERATIONS_WORKLOAD])
    if "count" not in rows.columns or "strategy" not in rows.columns:
        return rows.iloc[0:0].assign(strategy=pd.Series(dtype=object),
                                     count=pd.Series(dtype=int))
    return rows.dropna(subset=["strategy", "count"]).astype({"count": int})


def operations_pairs(trials: pd.DataFrame) -> pd.DataFrame:
    """Each strategy against handle_per_operation at the same backend and M:
    harness.analysis.compare's rows, to be judged (with the backend and M)."""
    rows = _operations_rows(trials)
    compared = []
    for (backend, strategy, count), group in rows.groupby(["backend", "strategy", "count"],
                                                          sort=True):
        baseline = rows[(rows["backend"] == backend) & (rows["count"] == count)
                        & (rows["strategy"] == BASELINE_STRATEGY)]
        if strategy != BASELINE_STRATEGY and ok_values(group, "total_s").size \
                and ok_values(baseline, "total_s").size:
            compared.append({"backend": backend, "count": count, "baseline": BASELINE_STRATEGY,
                             "candidate": strategy, **sides_of(baseline, group, "total_s")})
    return pd.DataFrame(compared, columns=["backend", "count", "baseline", "candidate",
                                           *SIDE_COLUMNS, SAMPLES])


def _speedup(judged: Any | None, strategy: str) -> dict[str, Any]:
    """The speed-up columns from a judged row: 1 / its ratio and interval (NaN where the
    sizes give no interval); the baseline strategy's speed-up is 1 by definition."""
    if judged is None:
        return {"speedup": 1.0 if strategy == BASELINE_STRATEGY else np.nan,
                "speedup_ci_low": np.nan, "speedup_ci_high": np.nan, "verdict": ""}
    bounded = judged.ratio_ci_low > 0 and np.isfinite(judged.ratio_ci_high)
    return {"speedup": 1 / judged.ratio,
            "speedup_ci_low": 1 / judged.ratio_ci_high if bounded else np.nan,
            "speedup_ci_high": 1 / judged.ratio_ci_low if bounded else np.nan,
            "verdict": judged.verdict}


def operations_table(trials: pd.DataFrame, judged: pd.DataFrame) -> pd.DataFrame:
    """One row per backend, strategy and M: the total (the trial's total_s, launches
    included) and the cost per operation (total / M), medians with their 95% CIs (NaN below 6
    trials), and, from the judged operations_pairs, the speed-up of the strategy over
    handle_per_operation (1 / the ratio strategy / handle_per_operation) with its interval
    and verdict."""
    rows = _operations_rows(trials)
    speedups = {(r.backend, r.candidate, r.count): r for r in judged.itertuples()}
    records = []
    for (backend, strategy, count), group in rows.groupby(["backend", "strategy", "count"],
                                                          sort=True):
        total = ok_values(group, "total_s")
        described, per_operation = _describe(total), _describe(total / count)
        records.append({
            "backend": backend, "strategy": strategy, "count": count, "n": len(group),
            "n_ok": total.size, "launches": group["launches"].max(),
            "total_median": described["median"], "total_ci_low": described["ci_low"],
            "total_ci_high": described["ci_high"],
            "per_operation_median": per_operation["median"],
            "per_operation_ci_low": per_operation["ci_low"],
            "per_operation_ci_high": per_operation["ci_high"],
            **_speedup(speedups.get((backend, strategy, count)), strategy)})
    return pd.DataFrame(records, columns=list(OPERATIONS_COLUMNS))


def break_even(trials: pd.DataFrame) -> pd.DataFrame:
    """For each one-launch strategy: total = intercept + slope * M fitted to its ok trials and
    to those of its launch-per-operation counterpart; `break_even_count` is the M where the
    lines cross (one launch is cheaper beyond it), NaN when they do not cross at M >= 1
    ahead (the one-launch strategy's slope is not smaller) or either has fewer than 2 M."""
    rows = _operations_rows(trials)
    records = []
    for backend, backend_rows in rows.groupby("backend", sort=True):
        for strategy, against in PAYS_OFF_AGAINST.items():
            one, other = (_fit(backend_rows, s) for s in (strategy, against))
            if one is None or other is None:
                continue
            crossing = ((one["intercept"] - other["intercept"]) / (other["slope"] - one["slope"])
                        if other["slope"] > one["slope"] else np.nan)
            records.append({"backend": backend, "strategy": strategy, "against": against,
                            "intercept_s": one["intercept"], "slope_s": one["slope"],
                            "against_intercept_s": other["intercept"],
                            "against_slope_s": other["slope"],
                            "break_even_count": (np.nan if np.isnan(crossing)
                                                 else max(crossing, 1.0))})
    return pd.DataFrame(records, columns=list(BREAK_EVEN_COLUMNS))


def _fit(rows: pd.DataFrame, strategy: str) -> dict[str, float] | None:
    """The straight line of total_s against M of one strategy's ok trials, or None."""
    chosen = rows[rows["strategy"] == strategy]
    x, y = [], []
    for count, group in chosen.groupby("count"):
        values = ok_values(group, "total_s")
        x += [float(count)] * values.size
        y += list(values)
    if len(set(x)) < 2:
        return None
    return ols_fit(np.asarray(x), np.asarray(y))
