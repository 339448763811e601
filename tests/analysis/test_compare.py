"""Comparisons: ratio of medians with a bootstrap CI and Mann-Whitney p-values, and the
baseline gate; the CI's coverage and the gate's error rates checked by simulation."""

import numpy as np
import pandas as pd
import pytest
from helpers.lgbench import lgbench
from helpers.rows import trial
from helpers.samples import SAMPLERS
from scipy import stats as sps

from harness.analysis.compare import (
    GATE_ALPHA,
    compare_backends,
    holm,
    p_slower,
    ratio_of_medians,
    smallest_p,
    trials_needed,
    trials_to_confirm,
)
from harness.reporting.sections.uml import stage_trials, uml_comparison


def rows(backend, values, **extra):
    return [trial(backend=backend, cell=backend, repetition=i, launch_s=v, total_s=v + 0.1,
                  **extra) for i, v in enumerate(values)]


def test_ratio_of_medians_and_its_ci():
    rng = np.random.default_rng(1)
    a, b = 10 + rng.normal(0, 0.2, 20), 15 + rng.normal(0, 0.2, 20)
    ratio, low, high = ratio_of_medians(a, b)
    assert abs(ratio - 1.5) < 0.05
    assert low < ratio < high and low > 1.4 and high < 1.6
    assert np.isnan(ratio_of_medians(a[:1], b)[1])


def test_a_clearly_slower_candidate_is_called_slower():
    rng = np.random.default_rng(2)
    trials = pd.DataFrame(rows("tcg", 10 + rng.normal(0, 0.3, 8))
                          + rows("uml", 14 + rng.normal(0, 0.3, 8)))
    result = compare_backends(trials, "tcg", "uml", metrics=["launch_s"])
    row = result.iloc[0]
    assert row["p_value"] < 0.01
    assert row["verdict"] == (f"uml {row['ratio']:.2f}x slower (95% CI "
        f"{row['ratio_ci_low']:.2f}-{row['ratio_ci_high']:.2f}, p={row['p_holm']:.2g})")
    assert row["ratio_ci_low"] > 1.2


def test_same_distributions_are_no_clear_difference_and_failures_are_left_out():
    rng = np.random.default_rng(3)
    trials = pd.DataFrame(rows("tcg", 10 + rng.normal(0, 0.3, 8))
                          + rows("uml", 10 + rng.normal(0, 0.3, 8))
                          + [trial(backend="uml", status="error", launch_s=99.0)])
    row = compare_backends(trials, "tcg", "uml", metrics=["launch_s"]).iloc[0]
    assert row["verdict"].startswith("no clear difference (95% CI of the ratio")
    assert row["n_candidate"] == 8


def test_transfer_sizes_are_compared_separately():
    trials = pd.DataFrame(
        [trial(backend=b, workload="transfer", size_bytes=s, repetition=r,
               upload_s=(1 if b == "tcg" else 10) * s / 1e6 + 0.01 * r)
         for b in ("tcg", "uml") for s in (1e6, 4e6) for r in range(4)])
    result = compare_backends(trials, "tcg", "uml", metrics=["upload_s"])
    assert list(result["size_bytes"]) == [1e6, 4e6]
    assert all(abs(r - 10) < 1 for r in result["ratio"])


def test_a_sweep_with_uml_reports_the_comparison_and_the_guide_claims(tmp_path):
    # Two fake backends, one of them named uml.
    result = lgbench("-m", "backend=fake", "backend.name=fake,uml", "runs=4", "warmup=0",
                     f"hydra.sweep.dir={tmp_path}", cache=tmp_path / "cache",
                     results=tmp_path / "results", timeout=120)
    assert result.returncode == 0, result.stderr
    report = (tmp_path / "report.md").read_text()
    assert "## UML against `fake`" in report
    assert "as much as 10 times slower on UML than KVM" in report
    comparison = pd.read_csv(tmp_path / "comparison.csv")
    assert set(comparison["metric"]) >= {"launch_s", "total_s"}
    assert (comparison["candidate"] == "uml").all()


@pytest.mark.parametrize("n", [2, 3, 4])
def test_below_five_trials_a_side_no_ratio_ci_is_claimed(n):
    """The bootstrap CI of 2 against 2 covers the truth 60% of the time, of 4 against 4 94%."""
    values = [10.0 + 0.1 * i for i in range(n)]
    trials = pd.DataFrame(rows("tcg", values) + rows("uml", [2 * v for v in values]))
    row = compare_backends(trials, "tcg", "uml", metrics=["launch_s"]).iloc[0]
    assert row["ratio"] == pytest.approx(2.0)
    assert np.isnan(row["ratio_ci_low"]) and np.isnan(row["ratio_ci_high"])
    assert row["verdict"] == "too few trials to tell"


@pytest.mark.parametrize("shape", sorted(SAMPLERS))
@pytest.mark.parametrize("n", [5, 10])
def test_ratio_ci_covers_about_95_percent_from_five_a_side(shape, n):
    """Both sides from one distribution, true ratio of medians 1: over 400 simulated pairs of
    samples the bootstrap CI holds 1 at 95% within 0.03 (2.75 standard errors)."""
    rng = np.random.default_rng(n)
    covered = [low <= 1 <= high for low, high in (
        ratio_of_medians(SAMPLERS[shape](rng, n), SAMPLERS[shape](rng, n), seed=i)[1:]
        for i in range(400))]
    assert abs(np.mean(covered) - 0.95) < 0.03, np.mean(covered)


# --- the baseline gate --------------------------------------------------------------------

def gate_rates(shape: str, n: int, slowdown: float, threshold: float, repeats: int = 2000
               ) -> float:
    """How often the gate's one-sided test fails a candidate `slowdown` times the baseline."""
    rng = np.random.default_rng(n)
    samples = SAMPLERS[shape](rng, (repeats, 2, n))
    return float(np.mean([p_slower(a, b * slowdown, threshold) < GATE_ALPHA
                          for a, b in samples]))


@pytest.mark.parametrize("shape", sorted(SAMPLERS))
@pytest.mark.parametrize("n", [4, 5, 10, 30])
@pytest.mark.parametrize(("slowdown", "threshold"), [(1.0, 0.0), (1.05, 0.05)])
def test_the_gate_false_alarms_at_most_its_level(shape, n, slowdown, threshold):
    """No change, or a slowdown of exactly the threshold: over 2000 simulated pairs of runs
    the gate fails at most 2.5% + 0.011 (3 standard errors) of them."""
    assert gate_rates(shape, n, slowdown, threshold) <= GATE_ALPHA + 0.011


@pytest.mark.parametrize(("n", "can_fail"), [(2, False), (3, False), (4, True)])
def test_the_gate_knows_when_it_cannot_fail(n, can_fail):
    """At 3 a side every candidate above every baseline has p = 1/20: never below 2.5%."""
    assert (smallest_p(n, n) <= GATE_ALPHA) is can_fail
    assert trials_needed(GATE_ALPHA) == 4 and trials_needed(GATE_ALPHA / 10) == 6
    assert gate_rates("normal", n, 2.0, 0.05, repeats=200) == (1.0 if can_fail else 0.0)


def test_the_gate_catches_a_20_percent_slowdown_of_ten_runs_a_side():
    """Launch times with a 4% spread (normal) or two clusters 8% apart (bimodal)."""
    assert gate_rates("normal", 10, 1.2, 0.05) > 0.95
    assert gate_rates("bimodal", 10, 1.2, 0.05) > 0.8


def test_a_sure_verdict_is_wrong_in_at_most_5_percent_of_comparisons_of_six_equal_cells():
    """A verdict without "likely" needs p_holm < 0.05: with six cells and no difference
    anywhere, some cell is called different in at most 5% + 1.4% (3 standard errors) of 2000
    simulated comparisons."""
    rng = np.random.default_rng(5)
    false_calls = 0
    for _ in range(2000):
        samples = SAMPLERS["bimodal"](rng, (6, 2, 8))
        p = [sps.mannwhitneyu(b, a, alternative="two-sided").pvalue for a, b in samples]
        false_calls += bool((holm(p) < 0.05).any())
    assert false_calls / 2000 <= 0.05 + 0.014, false_calls / 2000


def test_uml_is_compared_on_plain_trials_never_pooled_with_slower_timeline_ones():
    """kvm_vs_uml runs each cell plain and with a timeline (verbose, slower), and may add
    kernel words: the ratio is of the plain cells, as libguestfs would run them."""
    trials = pd.DataFrame(
        rows("tcg", [10.0] * 6, timeline=False) + rows("uml", [5.0] * 6, timeline=False)
        + rows("tcg", [11.0] * 6, timeline=True) + rows("uml", [9.0] * 6, timeline=True)
        + rows("uml", [1.0] * 6, timeline=False, append="pty.legacy_count=0"))
    row = uml_comparison(trials).set_index("metric").loc["launch_s"]
    assert row["ratio"] == pytest.approx(0.5) and row["n_candidate"] == 6
    timeline_only = trials[trials["timeline"]]
    row = uml_comparison(timeline_only).set_index("metric").loc["launch_s"]
    assert row["ratio"] == pytest.approx(9.0 / 11.0)


def test_the_stage_table_sets_launch_trials_side_by_side_where_the_run_has_them():
    trials = pd.DataFrame(
        rows("uml", [5.0] * 2, timeline=True, workload="launch")
        + rows("uml", [9.0] * 2, timeline=True, workload="transfer")
        + rows("uml", [4.0] * 2, timeline=False, workload="launch"))
    assert set(stage_trials(trials)["launch_s"]) == {5.0}
    transfers = trials[trials["workload"] == "transfer"]
    assert set(stage_trials(transfers)["launch_s"]) == {9.0}


@pytest.mark.parametrize(("n", "sure"), [(5, False), (6, True)])
def test_a_verdict_says_when_its_sizes_could_never_confirm_it_after_holm(n, sure):
    """Twelve rows, every one fully separated: from 5 a side the smallest two-sided p (0.008)
    times 12 stays above 0.05, so every verdict is "likely" and says 6 would do; from 6 a
    side each is confirmed."""
    rng = np.random.default_rng(7)
    trials = pd.DataFrame([r for size in range(12) for r in (
        rows("tcg", 10 + rng.normal(0, 0.1, n), workload="transfer", size_bytes=size)
        + rows("uml", 12 + rng.normal(0, 0.1, n), workload="transfer", size_bytes=size))])
    verdicts = compare_backends(trials, "tcg", "uml", metrics=["launch_s"])["verdict"]
    assert len(verdicts) == 12 and trials_to_confirm(12) == 6
    if sure:
        assert not verdicts.str.contains("likely").any()
    else:
        assert verdicts.str.contains(
            "likely .*; 5 trials a side cannot confirm it over 12 comparisons, 6 can",
            regex=True).all()
