"""Warnings a performance engineer expects before trusting a cell's numbers: a spread too wide,
a drift across repetitions, warm-ups that were not enough, outliers, and other appliances or a
hypervisor taking CPU time during the cell. Pure functions of the trials and the runs' metadata.

Each cell is read as its repetitions in order: the appliance's total_s, or with N appliances the
repetition's makespan (the value runs=auto makes precise), ok repetitions only. The drift,
warm-up and outlier checks are tests: their levels hold for the whole analysis, split over its
cells (Bonferroni), so a 12-cell sweep of well-behaved runs does not warn just by having cells.

Every cell is judged at once (cell_warnings): the spread and outlier rules on grouped medians,
the drift and warm-up tests screened by their normal approximations, computed for all cells
together, so that scipy's exact tests run only for the few cells that could fail them.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from harness.analysis.summary import group_medians, grouped_outcomes
from harness.results.records import repetition_metric

UNSTABLE_CV = 0.10  # robust coefficient of variation (1.4826 MAD / median) above which to warn
MIN_SPREAD_VALUES = 6  # the spread and outlier rules need this many runs (a MAD of 3 is noise)
DRIFT_ALPHA = 0.01  # two-sided Kendall tau test of value against repetition order
MIN_DRIFT_VALUES = 6  # below this the test cannot reach 1%
WARM_UP_ALPHA = 0.05  # one-sided Mann-Whitney of the first quarter of runs against the rest
MIN_WARM_UP_VALUES = 8  # below this the test cannot reach 5% (2 of 8: p >= 1/28)
OUTLIER_ALPHA = 0.05  # P(a warning) for normal runs: the largest modified z-score's null
OUTLIER_NULL_VALUES = 2_000_000  # values simulated for that null, over every draw of one size
MIN_NULL_DRAWS = 2000  # draws of that null at least
SIMULATED_UP_TO = OUTLIER_NULL_VALUES // MIN_NULL_DRAWS  # values a cell; its null computed beyond
MAD_VARIANCE = 1.3605  # n x the variance of 1.4826 MAD / sigma in normal samples (asymptotic)
# Where a test's normal approximation (all cells at once) is above SCREEN x its level, its exact
# p is above the level too (so for every outcome of the samples small enough for the exact
# tests: tests/analysis/test_noise.py), so scipy's test is left out: a cell's level is at most
# DRIFT_ALPHA or WARM_UP_ALPHA, split over the cells.
SCREEN = 2.0
PAIRWISE_UP_TO = 2000  # values a cell; a larger cell's Kendall tau is scipy's alone
PAIRS_AT_ONCE = 4_000_000  # pairs of values compared in one numpy array
STEAL_SHARE = 0.02  # stolen CPU time, as a share of the cell's wall time x cores
COLUMNS = ("run_id", "cell", "check", "message")


def repetition_values(trials: pd.DataFrame, cell: np.ndarray, cells: int
                      ) -> tuple[np.ndarray, np.ndarray]:
    """One value per fully ok measured repetition of each cell (cell[i] in 0..cells-1 for row
    i, -1 to leave it out), in repetition order: the cell of each value, and the values, cell
    by cell."""
    cell = np.where(trials["warmup"].astype(bool).to_numpy(), -1, cell)
    order = np.argsort(trials["repetition"].to_numpy(), kind="stable")
    if (order != np.arange(order.size)).any():  # rows the runner wrote in order stay as they are
        trials, cell = trials.iloc[order], cell[order]
    parallel = pd.Series(trials["parallel"].to_numpy()).groupby(cell).max().reindex(
        range(cells)).to_numpy()
    # (a row of no cell, -1, reads the False appended)
    makespan = np.append([repetition_metric(n) != "total_s" for n in parallel], False)[cell]
    of, values = [], []
    for chosen, metric in ((~makespan, "total_s"), (makespan, "makespan_s")):
        group = np.where(chosen, cell, -1)
        if (group >= 0).any():
            taken = grouped_outcomes(trials, group, cells, metric)
            of.append(taken[2])
            values.append(taken[3])
    if not of:
        return np.zeros(0, dtype=int), np.zeros(0)
    of, values = np.concatenate(of), np.concatenate(values)
    order = np.argsort(of, kind="stable")
    return of[order], values[order]


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
    return float(_kendall(values).pvalue)


def _kendall(values: np.ndarray) -> Any:
    """scipy's Kendall tau of the values against their order (scipy.stats is imported here, where
    a cell fails the screen: half a second that most reports never need to spend)."""
    from scipy import stats

    return stats.kendalltau(np.arange(values.size), values)


def slow_start_p(values: np.ndarray) -> float:
    """One-sided p (exact for small n) that the first quarter of the measured runs is slower
    than the rest: the caches or the host were still warming up. NaN below 8 values."""
    if values.size < MIN_WARM_UP_VALUES:
        return float("nan")
    first = values.size // 4
    from scipy import stats  # as in _kendall

    return float(stats.mannwhitneyu(values[:first], values[first:],
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
    draws = max(MIN_NULL_DRAWS, OUTLIER_NULL_VALUES // n)
    x = np.random.default_rng(n).normal(size=(draws, n))
    x -= _row_medians(x)[:, None]
    np.abs(x, out=x)  # in place: this is the one large array of a report
    return np.sort(0.6745 * x.max(axis=1) / _row_medians(x))


def _row_medians(x: np.ndarray) -> np.ndarray:
    """np.median of each row (the same numbers), from one partition of a copy."""
    low, high = (x.shape[1] - 1) // 2, x.shape[1] // 2
    middle = np.partition(x, sorted({low, high}), axis=1)
    return (middle[:, low] + middle[:, high]) / 2


def largest_z_p(scores: np.ndarray, n: int) -> np.ndarray:
    """How often normal runs of n values have a largest modified z-score at or above each of
    `scores`: the share of the simulated null up to SIMULATED_UP_TO values. Beyond, where that
    simulation would take minutes and gigabytes (a cell of 10^6 runs: 15 GiB), the law it
    approaches: the largest |z| of n normal values, P = 1 - (1 - 2 Phi(-s))^n, with the
    MAD's own error (relative variance MAD_VARIANCE / n) averaged over (Gauss-Hermite); it
    agrees with the simulated null within its own noise from a few hundred values on."""
    scores = np.asarray(scores, dtype=float)
    if n <= SIMULATED_UP_TO:
        null = _largest_z_null(n)
        return (null.size - np.searchsorted(null, scores) + 1) / (null.size + 1)
    nodes, weights = np.polynomial.hermite_e.hermegauss(32)
    scale = 1 + nodes * np.sqrt(MAD_VARIANCE / n)
    below = n * np.log1p(-2 * special.ndtr(-scores[..., None] * scale))
    return -np.expm1(below) @ (weights / weights.sum())


def outlier_p(values: np.ndarray) -> float:
    """How often normal runs of this many have one as far out as this cell's farthest
    (largest_z_p). NaN below MIN_SPREAD_VALUES values or with a MAD of 0."""
    if values.size < MIN_SPREAD_VALUES or np.isnan(score := largest_modified_z(values)):
        return float("nan")
    return float(largest_z_p(np.array(score), values.size))


def smp_ignored(trials: pd.DataFrame, cell: np.ndarray) -> dict[int, str]:
    """What to say of each cell whose appliances ran on fewer vCPUs than asked (UML is
    uniprocessor), by its first such row."""
    if "smp_effective" not in trials:
        return {}
    fewer = (trials["smp_effective"] < trials["smp"]).to_numpy() & (cell >= 0)
    cells, first = np.unique(cell[fewer], return_index=True)
    return {int(c): f"smp={int(row.smp)} was asked, but {row.backend} ran each appliance on "
                    f"{int(row.smp_effective)} vCPU (User-Mode Linux is uniprocessor): smp "
                    "changes nothing here"
            for c, row in zip(cells, trials[fewer].iloc[first].itertuples(), strict=True)}


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


def _kendall_s(values: np.ndarray, start: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Kendall's S (concordant minus discordant pairs) of each cell's values against their
    order, compared pairwise for cells of the same size together; NaN past PAIRWISE_UP_TO."""
    s = np.full(size.size, np.nan)
    for n in np.unique(size[(size >= MIN_DRIFT_VALUES) & (size <= PAIRWISE_UP_TO)]):
        same = np.flatnonzero(size == n)
        later = np.triu(np.ones((n, n), dtype=bool), k=1)
        for batch in np.array_split(same, -(-same.size * n * n // PAIRS_AT_ONCE)):
            x = values[start[batch, None] + np.arange(n)]
            s[batch] = np.sign(x[:, None, :] - x[:, :, None])[:, later].sum(axis=1)
    return s


def _screened(values: np.ndarray, of: np.ndarray, size: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """The normal approximations of drift_p and slow_start_p for every cell (ties corrected,
    as scipy's asymptotic tests are): the screen that spares most cells scipy's tests. The
    values come cell by cell (`of` ascending)."""
    start = np.cumsum(size) - size
    order = np.concatenate([begin + np.argsort(piece, kind="stable") for begin, piece
                            in zip(start, np.split(values, start[1:]), strict=True)])
    ordered, group = values[order], of[order]
    first = np.ones(values.size, dtype=bool)
    first[1:] = (ordered[1:] != ordered[:-1]) | (group[1:] != group[:-1])
    run = np.cumsum(first) - 1
    tied = np.bincount(run).astype(float)  # values in each run of equal ones
    run_cell = group[first]
    kendall_ties = np.bincount(run_cell, tied * (tied - 1) * (2 * tied + 5), size.size)
    rank_ties = np.bincount(run_cell, tied ** 3 - tied, size.size)
    n = size.astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = _kendall_s(values, start, size)
        drift = 2 * special.ndtr(-np.abs(s) / np.sqrt((n * (n - 1) * (2 * n + 5)
                                                       - kendall_ties) / 18))
        # Mann-Whitney's U of the first quarter against the rest, from average ranks
        rank = np.empty(values.size)
        rank[order] = (np.flatnonzero(first)[run] - start[group]
                       + (tied[run] + 1) / 2)
        n1 = size // 4
        in_first = np.arange(values.size) - start[of] < n1[of]
        u = np.bincount(of[in_first], rank[in_first], size.size) - n1 * (n1 + 1) / 2
        n2 = size - n1
        sd = np.sqrt(n1 * n2 / 12 * ((n + 1) - rank_ties / (n * (n - 1))))
        slow_start = special.ndtr(-(u - n1 * n2 / 2 - 0.5) / sd)
    # too few values to test: nothing to screen (NaN, what is left to scipy, is past its reach)
    return (np.where(size < MIN_DRIFT_VALUES, 1.0, drift),
            np.where(size < MIN_WARM_UP_VALUES, 1.0, slow_start))


def cell_warnings(trials: pd.DataFrame, metadata: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per warning: run_id, cell, check and a sentence that says what to do."""
    cells = trials.groupby(["run_id", "cell"], sort=False)  # a missing key: no cell
    cell, count = cells.ngroup().fillna(-1).to_numpy(dtype=int), cells.ngroups
    if not count:
        return pd.DataFrame([], columns=list(COLUMNS))
    share = 1 / count  # of each test's level, for each cell
    of, values = repetition_values(trials, cell, count)
    size = np.bincount(of, minlength=count)
    start = np.cumsum(size) - size
    median = group_medians(of, values, count)
    distance = np.abs(values - median[of])
    mad = group_medians(of, distance, count)
    with np.errstate(divide="ignore", invalid="ignore"):
        cv = np.where(size >= MIN_SPREAD_VALUES, 1.4826 * mad / median, np.nan)
    drift, slow_start = _screened(values, of, size)
    found: dict[int, list[tuple[str, str]]] = {c: [] for c in range(count)}
    for c in np.flatnonzero(cv > UNSTABLE_CV):
        found[c].append(("unstable", f"robust CV {cv[c]:.0%} > {UNSTABLE_CV:.0%}: the median "
                         "is uncertain; more runs or a quieter host"))
    for c in np.flatnonzero(~(drift >= SCREEN * DRIFT_ALPHA)):
        cell_values = values[start[c]:start[c] + size[c]]
        if (p := drift_p(cell_values)) < DRIFT_ALPHA * share:
            tau = _kendall(cell_values).statistic
            found[c].append(("drift", f"runs got {'slower' if tau > 0 else 'faster'} in order "
                             f"(Kendall tau {tau:+.2f}, p {p:.2g}): the host changed under "
                             "the cell"))
    for c in np.flatnonzero(~(slow_start >= SCREEN * WARM_UP_ALPHA)):
        cell_values = values[start[c]:start[c] + size[c]]
        if (p := slow_start_p(cell_values)) < WARM_UP_ALPHA * share:
            first = cell_values.size // 4
            found[c].append(("warm-up", f"the first {first} measured runs (median "
                             f"{np.median(cell_values[:first]):.2f} s) are slower than the "
                             f"rest ({np.median(cell_values[first:]):.2f} s; Mann-Whitney "
                             f"p {p:.2g}): add warm-ups"))
    farthest = np.zeros(count)
    np.maximum.at(farthest, of, distance)
    with np.errstate(divide="ignore", invalid="ignore"):
        score = 0.6745 * farthest / mad
        outliers = np.bincount(of[0.6745 * distance / mad[of] > 3.5], minlength=count)
    judged = (size >= MIN_SPREAD_VALUES) & (mad > 0)
    outlier = np.full(count, np.nan)
    for n in np.unique(size[judged]):
        outlier[judged & (size == n)] = largest_z_p(score[judged & (size == n)], n)
    for c in np.flatnonzero(outlier < OUTLIER_ALPHA * share):
        found[c].append(("outliers", f"{outliers[c]} of {size[c]} runs are outliers "
                         f"(modified z > 3.5; the farthest at {score[c]:.1f}, p "
                         f"{outlier[c]:.2g} for normal runs)"))
    for c, message in smp_ignored(trials, cell).items():
        found[c].append(("smp ignored", message))
    host: dict[Any, list[tuple[str, str]]] = {}
    for meta in metadata:
        host.setdefault(meta.get("run_id"), []).extend(host_warnings(meta))
    records = [{"run_id": run_id, "cell": name, "check": check, "message": message}
               for c, (run_id, name) in enumerate(cells.size().index)
               for check, message in found[c] + host.get(run_id, [])]
    return pd.DataFrame(records, columns=list(COLUMNS))
