"""Is one side faster than another, by how much, and how surely? One method and one wording
for every comparison lgbench prints. Pure functions.

The ratio candidate/baseline is a Hodges-Lehmann estimate on log times (harness.analysis.ranks):
paired by round where the sides were measured in the same interleaved rounds (both sides' rows
carry `round`), so that a host drifting during the run falls on both sides alike; unpaired
otherwise, and then said to be "not interleaved". Its interval inverts the same rank test, so a
direction is claimed exactly when the interval excludes 1: the interval and the test cannot
disagree. The intervals of a family (the comparisons judged together: every one a report
prints) hold jointly at 95% (Bonferroni), so the chance of any wrong direction among them stays
at most 5%. The baseline gate of `lgbench-report` is the same method, one-sided.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from harness.analysis import ranks
from harness.analysis.summary import measured_trials, ok_values, ok_values_by_round
from harness.results.records import CELL_COLUMNS

ALPHA = 0.05  # the chance of any wrong direction among a family's verdicts
# The gate's false-alarm rate across all its cells: one-sided, as a 95% interval's lower end.
GATE_ALPHA = 0.025
GATE_FAIL, GATE_PASS = "FAIL", "pass"
NOT_INTERLEAVED = "not interleaved: host drift not controlled"

# How every comparison is made, in the words of a report's table.
METHOD = ("Ratio candidate / baseline: a Hodges-Lehmann estimate on log times with the interval "
          "of its rank test (Wilcoxon's, paired by round, where the sides were interleaved; "
          "Mann-Whitney's otherwise); the intervals of all the report's comparisons hold "
          "jointly at 95%, and a direction is named only where the interval excludes 1.")
COMPARISON_METRICS = ("launch_s", "total_s", "upload_s", "download_s")
PER_TRIAL_METRICS = ("launch_s", "total_s", "makespan_s")  # one value per trial, any size
# What with_verdicts adds to the sides' sizes and medians.
VERDICT_COLUMNS = ("ratio", "ratio_ci_low", "ratio_ci_high", "interleaved", "family",
                   "verdict")
SIDE_COLUMNS = ("n_baseline", "n_candidate", "median_baseline", "median_candidate")
SAMPLES = "_samples"  # the sides' values, from `sides` to `with_verdicts` only


def sides(baseline: np.ndarray, candidate: np.ndarray,
          paired: tuple[np.ndarray, np.ndarray] | None = None) -> dict[str, Any]:
    """Sizes and medians of the two samples, and the samples for with_verdicts. `paired`:
    the values of the rounds both sides measured (baseline's, candidate's, in the same order),
    where the sides were interleaved."""
    return {"n_baseline": len(baseline), "n_candidate": len(candidate),
            "median_baseline": float(np.median(baseline)),
            "median_candidate": float(np.median(candidate)),
            SAMPLES: (np.asarray(baseline, float), np.asarray(candidate, float), paired)}


def sides_of(base: pd.DataFrame, other: pd.DataFrame, metric: str) -> dict[str, Any]:
    """`sides` of two cells' rows: their ok values, paired by round where interleaved."""
    return sides(ok_values(base, metric), ok_values(other, metric),
                 paired_values(base, other, metric))


def ratio_interval(samples: tuple, alpha: float, one_sided: bool = False
                   ) -> tuple[float, float, float, bool]:
    """(ratio, low, high, interleaved) of candidate / baseline at confidence 1 - alpha:
    paired by round when the sides share at least two rounds, else unpaired. Ends the sizes
    cannot reach are 0 and inf."""
    baseline, candidate, paired = samples
    if paired is not None and len(paired[0]) >= 2:
        estimate, low, high = ranks.paired_shift_interval(
            np.log(paired[1]) - np.log(paired[0]), alpha, one_sided)
        interleaved = True
    else:
        estimate, low, high = ranks.shift_interval(np.log(baseline), np.log(candidate),
                                                   alpha, one_sided)
        interleaved = False
    return float(np.exp(estimate)), float(np.exp(low)), float(np.exp(high)), interleaved


def plain_verdict(baseline: str, candidate: str, ratio: float, low: float, high: float,
                  family: int, interleaved: bool, n: int) -> str:
    """The one wording of a comparison, e.g. "uml 1.19x slower than tcg (95% CI 1.08-1.33)";
    a direction only where the interval excludes 1; "jointly over K comparisons" where the
    interval is one of a family; "not interleaved" where host drift was not controlled."""
    notes = (f", jointly over {family} comparisons" if family > 1 else "") + (
        "" if interleaved else f"; {NOT_INTERLEAVED}")
    if not 0 < low <= high < np.inf:
        fewest = ranks.fewest_a_side(ALPHA / family, interleaved)
        unit = ("round" if interleaved else "trial") + ("" if n == 1 else "s") + (
            "" if interleaved else " a side")
        return f"too few trials to tell ({n} {unit}; {fewest} can give a 95% CI{notes})"
    if low > 1:
        direction, factor, interval = "slower", ratio, (low, high)
    elif high < 1:
        direction, factor, interval = "faster", 1 / ratio, (1 / high, 1 / low)
    else:
        return (f"no clear difference between {candidate} and {baseline} (95% CI of the "
                f"ratio {ratio_bound(low)}-{ratio_bound(high)}{notes})")
    return (f"{candidate} {factor:.2f}x {direction} than {baseline} (95% CI "
            f"{ratio_bound(interval[0])}-{ratio_bound(interval[1])}{notes})")


def ratio_bound(bound: float) -> str:
    """An interval's end to two decimals, or as many more as keep it on its side of 1: a
    direction claimed from 1.003 must not read "1.00"."""
    digits = 2
    while bound != 1 and round(bound, digits) == 1 and digits < 6:
        digits += 1
    return f"{bound:.{digits}f}"


def with_verdicts(records: pd.DataFrame, family: int | None = None) -> pd.DataFrame:
    """Each row's ratio, its interval (joint over the family: the rows, unless a larger
    family is named) and its verdict, from the samples `sides` put in the rows."""
    family = max(1, family or len(records))
    judged = []
    for row in records.to_dict("records"):
        samples = row.pop(SAMPLES)
        ratio, low, high, interleaved = ratio_interval(samples, ALPHA / family)
        n = (len(samples[2][0]) if interleaved
             else min(row["n_baseline"], row["n_candidate"]))
        judged.append({**row, "ratio": ratio, "ratio_ci_low": low, "ratio_ci_high": high,
                       "interleaved": interleaved, "family": family,
                       "verdict": plain_verdict(str(row["baseline"]), str(row["candidate"]),
                                                ratio, low, high, family, interleaved, n)})
    columns = [c for c in records.columns if c != SAMPLES]
    return pd.DataFrame(judged, columns=[*columns, *VERDICT_COLUMNS])


# Where a row came from (added by harness.results.merge): comparable like a factor, but runs
# are pooled unless they are what is compared.
PROVENANCE = ("host", "run")
FACTORS = (*(c for c in CELL_COLUMNS if c != "cell"), *PROVENANCE)
COMPARE_COLUMNS = ("baseline", "candidate", "baseline_cell", "metric", *SIDE_COLUMNS)


# What a backend brings with it: the accelerator it asks for, and factors only it has.
BACKEND_COLUMNS = ("accel_requested", "uml_channel", "libvirt_max_clients")


def compared_columns(by: str) -> tuple[str, ...]:
    """The columns that differ between the sides: a backend brings its BACKEND_COLUMNS."""
    return (by, *BACKEND_COLUMNS) if by == "backend" else (by,)


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


def paired_values(base: pd.DataFrame, other: pd.DataFrame, metric: str
                  ) -> tuple[np.ndarray, np.ndarray] | None:
    """Both sides' values in the rounds they share, where both were measured in the same
    interleaved run (rows with `round`); None otherwise."""
    if "round" not in base.columns or base["round"].isna().any() or other["round"].isna().any():
        return None
    if "run_id" in base.columns and set(base["run_id"].str.split("/").str[0]) != set(
            other["run_id"].str.split("/").str[0]):
        return None  # rounds of different sweeps share numbers, not the host's moment
    a, b = ok_values_by_round(base, metric), ok_values_by_round(other, metric)
    shared = a.index.intersection(b.index)
    return a[shared].to_numpy(dtype=float), b[shared].to_numpy(dtype=float)


def pair_up(trials: pd.DataFrame, by: str, metrics: Sequence[str] = ("total_s",),
            baseline: object = None) -> pd.DataFrame:
    """Every other level of `by` against `baseline` (default: the first level met), per cell
    of the matching keys and per metric, on ok non-warm-up rows: the rows to judge
    (with_verdicts, with the run's other comparisons; or gate). Columns: the matching keys,
    COMPARE_COLUMNS and the samples. Cells measured on one side only are left out."""
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
                if not (len(ok_values(base, metric)) and len(ok_values(other, metric))):
                    continue
                records.append({
                    **dict(zip(keys, key, strict=True)), "baseline": baseline,
                    "candidate": candidate, "baseline_cell": base["cell"].iloc[0],
                    "metric": metric, **sides_of(base, other, metric)})
    paired_up = pd.DataFrame(records, columns=[*keys, *COMPARE_COLUMNS, SAMPLES])
    if "size_bytes" not in keys:
        return paired_up
    # A transfer trial has one launch and one total for all its sizes: each is compared once
    # (as many times, one comparison would repeat and widen every interval of the family).
    per_trial = paired_up["metric"].isin(PER_TRIAL_METRICS)
    paired_up.loc[per_trial, "size_bytes"] = float("nan")
    repeated = per_trial & paired_up.duplicated([c for c in paired_up.columns if c != SAMPLES])
    return paired_up[~repeated].reset_index(drop=True)


def run_level_bound(low: float, ratio: float, run_sd: float, alpha: float) -> float:
    """The lower end of a ratio's one-sided interval widened by a run-to-run level: trials of
    two runs measured at different times differ by the runs' levels too (sd `run_sd` each, on
    the log scale), which no number of trials within the runs averages away."""
    within = np.log(ratio) - np.log(low)
    between = special.ndtri(1 - alpha) * np.sqrt(2) * run_sd
    return float(np.exp(np.log(ratio) - np.hypot(within, between)))


def gate_bound(samples: tuple, alpha: float, run_sd: float) -> float:
    """The gate's lower end of a ratio at one-sided confidence 1 - alpha: widened by the
    run-to-run level where the sides were not interleaved (0: the sizes give none)."""
    ratio, low, _, interleaved = ratio_interval(samples, alpha, one_sided=True)
    if interleaved or low == 0 or run_sd == 0:
        return low
    return run_level_bound(low, ratio, run_sd, alpha)


def gate(paired_up: pd.DataFrame, threshold: float, run_sd: float = 0.0,
         alpha: float = GATE_ALPHA) -> pd.DataFrame:
    """The baseline gate on `pair_up` rows: FAIL where the one-sided lower end of the ratio's
    interval (joint over the rows at 1 - alpha; widened by the run-to-run level `run_sd` where
    the sides were not interleaved) is above 1 + threshold. `gate_low` is that end;
    `gate_can_fail`: whether the row's sizes give it a finite end at all."""
    alpha_each = alpha / max(1, len(paired_up))
    judged = with_verdicts(paired_up.copy())
    judged["gate_low"] = [gate_bound(s, alpha_each, run_sd) for s in paired_up[SAMPLES]]
    judged["gate_can_fail"] = judged["gate_low"] > 0
    judged["gate"] = np.where(judged["gate_low"] > 1 + threshold, GATE_FAIL, GATE_PASS)
    return judged
