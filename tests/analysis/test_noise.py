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
    WARM_UP_ALPHA,
    cell_warnings,
    drift_p,
    outlier_p,
    robust_cv,
    slow_start_p,
)


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
