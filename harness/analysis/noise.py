"""Warnings a performance engineer expects before trusting a cell's numbers: a spread too wide,
a drift across repetitions, warm-ups that were not enough, outliers, and other appliances or a
hypervisor taking CPU time during the cell. Pure functions of the trials and the runs' metadata.

Each cell is read as its repetitions in order: the appliance's total_s, or with N appliances the
repetition's makespan (the value runs=auto makes precise), ok repetitions only. The drift,
warm-up and outlier checks are tests: their levels hold for the whole analysis, split over its
cells (Bonferroni), so a 12-cell sweep of well-behaved runs does not warn just by having cells.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from harness.analysis.summary import measured_trials, ok_values, outlier_count
from harness.results.records import repetition_metric

UNSTABLE_CV = 0.10  # robust coefficient of variation (1.4826 MAD / median) above which to warn
MIN_SPREAD_VALUES = 6  # the spread and outlier rules need this many runs (a MAD of 3 is noise)
DRIFT_ALPHA = 0.01  # two-sided Kendall tau test of value against repetition order
MIN_DRIFT_VALUES = 6  # below this the test cannot reach 1%
WARM_UP_ALPHA = 0.05  # one-sided Mann-Whitney of the first quarter of runs against the rest
MIN_WARM_UP_VALUES = 8  # below this the test cannot reach 5% (2 of 8: p >= 1/28)
OUTLIER_ALPHA = 0.05  # P(a warning) for normal runs: the largest modified z-score's null
OUTLIER_NULL_VALUES = 2_000_000  # values simulated for that null, over every draw of one size
STEAL_SHARE = 0.02  # stolen CPU time, as a share of the cell's wall time x cores
COLUMNS = ("run_id", "cell", "check", "message")


def repetition_values(cell_rows: pd.DataFrame) -> np.ndarray:
    """One value per fully ok measured repetition, in repetition order."""
    rows = measured_trials(cell_rows).sort_values("repetition", kind="stable")
    return ok_values(rows, repetition_metric(rows["parallel"].max()))


def robust_cv(values: np.ndarray) -> float:
    """1.4826 x MAD / median: the coefficient of variation for normal data, but one slow launch
    cannot inflate it. NaN below MIN_SPREAD_VALUES values."""
    if values.size < MIN_SPREAD_VALUES:
        return float("nan")
    median = np.median(values)
    return float(1.4826 * np.median(np.abs(values - median)) / median)


def drift_p(values: np.ndarray) -> float:
    """Two-sided p of Kendall's tau between value and repetition order (exact for small n):
    a host warming up, throttling or filling a cache makes later runs faster or slower."""
    if values.size < MIN_DRIFT_VALUES or np.ptp(values) == 0:
        return float("nan")
    return float(sps.kendalltau(np.arange(values.size), values).pvalue)


def slow_start_p(values: np.ndarray) -> float:
    """One-sided p (exact for small n) that the first quarter of the measured runs is slower
    than the rest: the caches or the host were still warming up. NaN below 8 values."""
    if values.size < MIN_WARM_UP_VALUES:
        return float("nan")
    first = values.size // 4
    return float(sps.mannwhitneyu(values[:first], values[first:],
                                  alternative="greater").pvalue)


def largest_modified_z(values: np.ndarray) -> float:
    """The largest modified z-score (Iglewicz & Hoaglin: 0.6745 |x - median| / MAD); NaN
    where the MAD is 0."""
    median = np.median(values)
    mad = np.median(np.abs(values - median))
    return float(0.6745 * np.max(np.abs(values - median)) / mad) if mad > 0 else float("nan")


@functools.lru_cache(maxsize=128)
def _largest_z_null(n: int) -> np.ndarray:
    """The largest modified z-scores of simulated normal samples of n values, sorted (seeded,
    so a cell is judged the same every time)."""
    draws = max(2000, OUTLIER_NULL_VALUES // n)
    x = np.random.default_rng(n).normal(size=(draws, n))
    median = np.median(x, axis=1, keepdims=True)
    mad = np.median(np.abs(x - median), axis=1)
    return np.sort(0.6745 * np.abs(x - median).max(axis=1) / mad)


def outlier_p(values: np.ndarray) -> float:
    """How often normal runs of this many have one as far out as this cell's farthest: the
    share of the simulated null at or above its largest modified z-score. NaN below
    MIN_SPREAD_VALUES values or with a MAD of 0."""
    if values.size < MIN_SPREAD_VALUES or np.isnan(score := largest_modified_z(values)):
        return float("nan")
    null = _largest_z_null(values.size)
    return float((null.size - np.searchsorted(null, score) + 1) / (null.size + 1))


def smp_ignored(rows: pd.DataFrame) -> str | None:
    """What to say when the appliances ran on fewer vCPUs than asked (UML is uniprocessor)."""
    if "smp_effective" not in rows:
        return None
    fewer = rows[rows["smp_effective"] < rows["smp"]]
    if fewer.empty:
        return None
    first = fewer.iloc[0]
    return (f"smp={int(first['smp'])} was asked, but {first['backend']} ran each appliance on "
            f"{int(first['smp_effective'])} vCPU (User-Mode Linux is uniprocessor): smp changes "
            "nothing here")


def host_warnings(meta: dict[str, Any]) -> list[tuple[str, str]]:
    """Other hypervisor processes, and CPU time stolen by the host's hypervisor, during the
    cell (from the noise taken before and after it)."""
    before, after = meta.get("noise_before") or {}, meta.get("noise_after") or {}
    found = []
    others = max(before.get("hypervisor_processes") or 0, after.get("hypervisor_processes") or 0)
    if others:
        found.append(("other hypervisors", f"{others} other qemu/linux.uml process(es) ran on "
                      "the host around this cell: someone else's appliances slow yours"))
    cores = (meta.get("host") or {}).get("cores") or 1
    wall = (meta.get("ended_at") or 0) - (meta.get("started_at") or 0)
    if before.get("steal_s") is not None and after.get("steal_s") is not None and wall > 0:
        stolen = after["steal_s"] - before["steal_s"]
        if stolen > STEAL_SHARE * wall * cores:
            found.append(("stolen CPU", f"the host's hypervisor took {stolen:.1f} s of CPU "
                          f"time ({stolen / (wall * cores):.0%} of the cell's)"))
    return found


def cell_warnings(trials: pd.DataFrame, metadata: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per warning: run_id, cell, check and a sentence that says what to do."""
    records = []
    cells = trials.groupby(["run_id", "cell"], sort=False)
    share = 1 / max(1, cells.ngroups)  # of each test's level, for each cell
    for (run_id, cell), rows in cells:
        values = repetition_values(rows)
        found = []
        if (cv := robust_cv(values)) > UNSTABLE_CV:
            found.append(("unstable", f"robust CV {cv:.0%} > {UNSTABLE_CV:.0%}: the median is "
                          "uncertain; more runs or a quieter host"))
        if (p := drift_p(values)) < DRIFT_ALPHA * share:
            tau = sps.kendalltau(np.arange(values.size), values).statistic
            found.append(("drift", f"runs got {'slower' if tau > 0 else 'faster'} in order "
                          f"(Kendall tau {tau:+.2f}, p {p:.2g}): the host changed under the "
                          "cell"))
        if (p := slow_start_p(values)) < WARM_UP_ALPHA * share:
            found.append(("warm-up", f"the first {values.size // 4} measured runs (median "
                          f"{np.median(values[:values.size // 4]):.2f} s) are slower than the "
                          f"rest ({np.median(values[values.size // 4:]):.2f} s; Mann-Whitney "
                          f"p {p:.2g}): add warm-ups"))
        if (p := outlier_p(values)) < OUTLIER_ALPHA * share:
            found.append(("outliers", f"{outlier_count(values)} of {values.size} runs are "
                          f"outliers (modified z > 3.5; the farthest at "
                          f"{largest_modified_z(values):.1f}, p {p:.2g} for normal runs)"))
        if (ignored := smp_ignored(rows)) is not None:
            found.append(("smp ignored", ignored))
        for meta in (m for m in metadata if m.get("run_id") == run_id):
            found += host_warnings(meta)
        records += [{"run_id": run_id, "cell": cell, "check": check, "message": message}
                    for check, message in found]
    return pd.DataFrame(records, columns=list(COLUMNS))
