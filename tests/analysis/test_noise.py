"""Warnings about noisy cells: each check fires on the pattern it names and not on clean runs;
the drift test's, the slow-first-run check's and the outlier check's false-alarm rates checked
by simulation, for one cell and for a 12-cell sweep."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers.rows import trial
from helpers.samples import SAMPLERS

from harness.analysis.noise import (
    DRIFT_ALPHA,
    OUTLIER_ALPHA,
    SCREEN,
    SIMULATED_UP_TO,
    WARM_UP_ALPHA,
    _largest_z_null,
    _screened,
    cell_warnings,
    drift_p,
    largest_z_p,
    outlier_p,
    robust_cv,
    slow_start_p,
)
from harness.analysis.summary import measured_trials, ok_values
from harness.results.records import repetition_metric


def cell(values, **extra) -> pd.DataFrame:
    """Measured repetitions of one appliance in this order, after one warm-up."""
    rows = [trial(repetition=0, warmup=True, total_s=99.0)]
    rows += [trial(repetition=r + 1, total_s=v, **extra) for r, v in enumerate(values)]
    return pd.DataFrame(rows)


def checks(values, metadata=(), **extra) -> list[str]:
    return list(cell_warnings(cell(values, **extra), list(metadata))["check"])


CLEAN = [12.0, 12.3, 11.9, 12.1, 12.2, 11.8, 12.05, 12.15]


def test_a_clean_cell_has_no_warning():
    assert checks(CLEAN) == []


def test_a_wide_spread_is_unstable():
    spread = [10.0, 14.0, 12.0, 9.0, 15.0, 11.0, 13.5, 10.5]
    assert robust_cv(np.array(spread)) > 0.10
    assert "unstable" in checks(spread)


def test_runs_slowing_down_in_order_are_a_drift():
    rows = cell_warnings(cell([12.0 + 0.1 * i for i in range(10)]), [])
    (message,) = rows.loc[rows["check"] == "drift", "message"]
    assert message.startswith("runs got slower in order (Kendall tau +1.00")


def test_slow_first_runs_ask_for_more_warm_ups():
    rows = cell_warnings(cell([13.5, 13.0, *CLEAN]), [])
    (message,) = rows.loc[rows["check"] == "warm-up", "message"]
    assert message.startswith("the first 2 measured runs (median 13.25 s) are slower than the "
                              "rest (12.07 s; Mann-Whitney p 0.022)")


def test_an_outlier_is_counted():
    assert checks([*CLEAN[:4], 30.0, *CLEAN[4:]]) == ["outliers"]


@pytest.mark.parametrize("n", [6, 10, 30])
def test_the_outlier_check_false_alarms_at_most_its_level_on_normal_runs(n):
    """Over 3000 simulated cells of normal runs (another seed than the check's own null):
    at most 5% + 1.2% (3 standard errors)."""
    rng = np.random.default_rng(1000 + n)
    alarms = [outlier_p(sample) < OUTLIER_ALPHA for sample in rng.normal(12.0, 0.5, (3000, n))]
    assert np.mean(alarms) <= OUTLIER_ALPHA + 0.012, np.mean(alarms)


def test_a_sweep_of_twelve_well_behaved_cells_rarely_warns():
    """400 simulated 12-cell sweeps of 20 normal, independent runs each, through cell_warnings:
    each of the drift, warm-up and outlier warnings appears in at most its level + 3 standard
    errors of the sweeps (the outlier rule alone used to warn in 81-88% of them)."""
    rng = np.random.default_rng(7)
    template = pd.DataFrame([trial(run_id="sweep", cell=f"c{c}", repetition=r)
                             for c in range(12) for r in range(20)])
    warned = {"drift": 0, "warm-up": 0, "outliers": 0}
    sweeps = 400
    for _ in range(sweeps):
        template["total_s"] = rng.normal(12.0, 0.5, len(template))
        found = set(cell_warnings(template, [])["check"])
        for check in warned:
            warned[check] += check in found
    for check, level in (("drift", DRIFT_ALPHA), ("warm-up", WARM_UP_ALPHA),
                         ("outliers", OUTLIER_ALPHA)):
        margin = 3 * np.sqrt(level * (1 - level) / sweeps)
        assert warned[check] / sweeps <= level + margin, (check, warned)


def test_a_cells_level_is_its_share_of_the_analysis():
    """A run far enough out to warn alone (p about 1%) does not among 12 cells."""
    values = np.array([*CLEAN, 13.1])
    assert 0.004 < outlier_p(values) < OUTLIER_ALPHA
    alone = cell(values)
    assert "outliers" in list(cell_warnings(alone, [])["check"])
    others = [cell(CLEAN).assign(cell=f"other{i}", run_id=f"r{i}") for i in range(11)]
    together = cell_warnings(pd.concat([alone, *others], ignore_index=True), [])
    assert "outliers" not in list(together["check"])


def test_other_hypervisors_and_stolen_time_from_the_metadata():
    meta = {"run_id": "r1", "started_at": 0.0, "ended_at": 100.0, "host": {"cores": 2},
            "noise_before": {"hypervisor_processes": 0, "steal_s": 10.0},
            "noise_after": {"hypervisor_processes": 3, "steal_s": 20.0}}
    assert checks(CLEAN, [meta]) == ["other hypervisors", "stolen CPU"]
    quiet = {**meta, "noise_after": {"hypervisor_processes": 0, "steal_s": 10.5}}
    assert checks(CLEAN, [quiet]) == []


def test_parallel_cells_are_read_by_their_makespans():
    rows = [trial(repetition=r, instance=i, parallel=2, makespan_s=20.0 + 0.1 * r, total_s=5.0)
            for r in range(8) for i in range(2)]
    assert list(cell_warnings(pd.DataFrame(rows), [])["check"]) == ["drift"]


@pytest.mark.parametrize("shape", sorted(SAMPLERS))
@pytest.mark.parametrize("n", [6, 10, 30])
def test_the_drift_test_false_alarms_at_most_its_level(shape, n):
    """Independent runs in random order: over 3000 simulated cells the drift warning fires at
    most 1% + 0.55% (3 standard errors) of the time."""
    rng = np.random.default_rng(n)
    alarms = [drift_p(sample) < DRIFT_ALPHA for sample in SAMPLERS[shape](rng, (3000, n))]
    assert np.mean(alarms) <= DRIFT_ALPHA + 0.0055, np.mean(alarms)


def test_the_drift_test_catches_a_half_percent_per_run_trend():
    rng = np.random.default_rng(1)
    trend = 12.0 * (1 + 0.005 * np.arange(30))
    alarms = [drift_p(trend + rng.normal(0, 0.12, 30)) < DRIFT_ALPHA for _ in range(500)]
    assert np.mean(alarms) > 0.9


@pytest.mark.parametrize("shape", sorted(SAMPLERS))
@pytest.mark.parametrize("n", [8, 12, 30])
def test_the_warm_up_check_false_alarms_at_most_its_level(shape, n):
    """Independent runs: over 3000 simulated cells the warm-up warning fires at most
    5% + 1.2% (3 standard errors) of the time."""
    rng = np.random.default_rng(n)
    alarms = [slow_start_p(sample) < WARM_UP_ALPHA for sample in SAMPLERS[shape](rng, (3000, n))]
    assert np.mean(alarms) <= WARM_UP_ALPHA + 0.012, np.mean(alarms)


def test_three_runs_are_too_few_to_judge_spread_or_outliers():
    assert checks([12.0, 12.1, 15.0]) == []


@pytest.mark.parametrize(("smp", "smp_effective", "warned"), [(2, 1, True), (2, 2, False),
                                                               (1, 1, False)])
def test_smp_a_backend_ignores_is_said_not_silently_dropped(smp, smp_effective, warned):
    rows = cell(CLEAN, backend="uml", smp=smp, smp_effective=smp_effective)
    found = cell_warnings(rows, [])
    assert ("smp ignored" in list(found["check"])) == warned
    if warned:
        assert "uml ran each appliance on 1 vCPU" in found["message"].iloc[0]


def test_the_uml_backend_runs_every_appliance_on_one_vcpu():
    from harness.backends.uml import UmlBackend
    assert UmlBackend("uml").effective_smp(4) == 1


def expected_checks(rows: pd.DataFrame, share: float) -> list[str]:
    """The tests' verdicts on one cell alone, from the one-cell functions."""
    measured = measured_trials(rows).sort_values("repetition", kind="stable")
    values = ok_values(measured, repetition_metric(measured["parallel"].max()))
    return [check for check, fired in (
        ("unstable", robust_cv(values) > 0.10), ("drift", drift_p(values) < DRIFT_ALPHA * share),
        ("warm-up", slow_start_p(values) < WARM_UP_ALPHA * share),
        ("outliers", outlier_p(values) < OUTLIER_ALPHA * share)) if fired]


def random_cells(count: int, seed: int) -> pd.DataFrame:
    """Cells of 6 to 50 runs (exact and asymptotic tests alike), some rounded (ties), with
    trends, slow starts and a far run of every strength, some widely spread, so that verdicts
    fall either way of their levels."""
    rng = np.random.default_rng(seed)
    frames = []
    for c in range(count):
        n = int(rng.choice([6, 8, 12, 20, 33, 36, 50]))
        spread = 0.1 if c % 7 == 0 else 0.01
        values = 12.0 * (1 + rng.normal(0, spread, n) + rng.uniform(0, 0.002) * np.arange(n))
        values[: n // 4] *= 1 + rng.uniform(0, 0.03)
        values[n // 2] *= 1 + rng.uniform(0, 0.2)
        values = np.round(values, 1) if c % 2 else values
        frames.append(cell(values).assign(cell=f"c{c}", run_id=f"r{c}"))
    return pd.concat(frames, ignore_index=True)


def test_all_cells_at_once_are_judged_as_each_alone_would_be():
    """cell_warnings judges every cell at once, sparing most cells scipy's tests by their
    normal approximations; its verdicts are those of the one-cell tests, at the level each
    cell has alone and among 150 others."""
    trials = random_cells(150, seed=5)
    together = cell_warnings(trials, [])
    checks = {}
    for name, rows in trials.groupby("cell", sort=False):
        alone = list(cell_warnings(rows, [])["check"])
        assert alone == expected_checks(rows, 1.0), name
        checks[name] = expected_checks(rows, 1 / 150)
    fired = {name: [] for name in checks}
    for row in together.itertuples():
        fired[row.cell].append(row.check)
    assert fired == checks
    assert {check for found in fired.values() for check in found} == {
        "unstable", "drift", "warm-up", "outliers"}


def test_past_the_simulated_sizes_the_outlier_null_is_the_limit_it_approaches():
    """Beyond SIMULATED_UP_TO values the largest modified z-score is judged by its limit
    law, without simulating 2000 samples of that many (a cell of 10^6 runs: 15 GiB); it
    agrees with a simulation of 4000 such samples (another seed) within its noise."""
    n = SIMULATED_UP_TO + 200
    x = np.random.default_rng(11).normal(size=(4000, n))
    median = np.median(x, axis=1, keepdims=True)
    scores = 0.6745 * np.abs(x - median).max(axis=1) / np.median(np.abs(x - median), axis=1)
    for level, margin in ((0.1, 0.025), (0.05, 0.015), (0.01, 0.006)):
        assert largest_z_p(np.quantile(scores, 1 - level), n) == pytest.approx(level,
                                                                               abs=margin)
    before = _largest_z_null.cache_info().misses
    assert 0 < outlier_p(np.random.default_rng(12).normal(12, 0.5, 100_000)) <= 1
    assert _largest_z_null.cache_info().misses == before


def test_up_to_the_simulated_sizes_the_outlier_null_is_simulated():
    assert largest_z_p(np.array(1e9), SIMULATED_UP_TO) == 1 / (2000 + 1)


def with_inversions(n: int, count: int) -> np.ndarray:
    """A permutation of n values with exactly `count` pairs out of order (by its Lehmer code)."""
    left, values = list(range(n)), []
    for i in range(n):
        step = min(count, n - 1 - i)
        values.append(left.pop(step))
        count -= step
    return np.array(values, dtype=float)


def with_u(n: int, u: int) -> np.ndarray:
    """n values whose first quarter beats `u` pairs of the rest (Mann-Whitney's U)."""
    first, rest = n // 4, n - n // 4
    lead = []
    for _ in range(first):  # from the last: each beats at most as many as the one above
        lead.insert(0, min(u, lead[0] if lead else rest))
        u -= lead[0]
    ranks = [i + c for i, c in enumerate(lead)]
    return np.array(ranks + [r for r in range(n) if r not in ranks], dtype=float)


@pytest.mark.parametrize("n", [6, 7, 10, 20, 33])
def test_the_drift_screen_never_spares_a_cell_the_exact_test_would_flag(n):
    """Every outcome of a cell small enough for Kendall's exact test: wherever its p is below
    the largest level a cell has (DRIFT_ALPHA, alone), the screen sends it to that test."""
    for inversions in range(n * (n - 1) // 2 + 1):
        values = with_inversions(n, inversions)
        if drift_p(values) < DRIFT_ALPHA:
            drift, _ = _screened(values, np.zeros(n, dtype=int), np.array([n]))
            assert drift[0] < SCREEN * DRIFT_ALPHA, (n, inversions)


@pytest.mark.parametrize("n", [8, 9, 12, 24, 35])
def test_the_warm_up_screen_never_spares_a_cell_the_exact_test_would_flag(n):
    first, rest = n // 4, n - n // 4
    for u in range(first * rest + 1):
        values = with_u(n, u)
        if slow_start_p(values) < WARM_UP_ALPHA:
            _, slow_start = _screened(values, np.zeros(n, dtype=int), np.array([n]))
            assert slow_start[0] < SCREEN * WARM_UP_ALPHA, (n, u)
