"""Comparisons: one method (a Hodges-Lehmann ratio with the interval of its rank test, paired by
round where interleaved, joint over a family) and one wording; the intervals' coverage, the
family's error rate, the drift that interleaving removes, and the gate's error rates checked
by simulation, with their Monte Carlo margins (3 standard errors)."""

import math

import numpy as np
import pandas as pd
import pytest
from helpers.lgbench import in_process
from helpers.rows import judged, transfers, trial
from helpers.samples import SAMPLERS, directions_claimed, sweep_times
from scipy import stats as sps

from harness.analysis import ranks
from harness.analysis.compare import (
    ALPHA,
    COMPARISON_METRICS,
    GATE_ALPHA,
    NOT_INTERLEAVED,
    gate,
    gate_bound,
    pair_up,
    plain_verdict,
    ratio_interval,
    with_verdicts,
)
from harness.reporting.studies.uml import stage_trials, uml_pairs


def rows(backend, values, rounds=None, **extra):
    return [trial(backend=backend, cell=backend, repetition=i, launch_s=v, total_s=v + 0.1,
                  **({} if rounds is None else {"round": rounds[i]}), **extra)
            for i, v in enumerate(values)]


def margin(rate: float, repeats: int) -> float:
    """3 standard errors of a simulated rate."""
    return 3 * math.sqrt(rate * (1 - rate) / repeats)


def claims_direction(low: float, high: float) -> bool:
    return low > 1 or high < 1


# --- the rank intervals -------------------------------------------------------------------

@pytest.mark.parametrize(("n", "m"), [(3, 4), (5, 5), (8, 6), (12, 12)])
def test_the_exact_null_distributions_are_scipys(n, m):
    """P(U <= 0) and P(W+ <= 0) are the exact one-sided p of full separation."""
    x, y = np.arange(n, dtype=float), np.arange(m, dtype=float) + 100
    assert ranks._mann_whitney_cdf(n, m)[0] == pytest.approx(
        sps.mannwhitneyu(y, x, alternative="greater", method="exact").pvalue)
    assert ranks._signed_rank_cdf(n)[0] == pytest.approx(
        sps.wilcoxon(np.arange(1, n + 1), alternative="greater", method="exact").pvalue)


def test_the_interval_and_the_test_never_disagree():
    """A direction is claimed exactly when the exact two-sided test rejects, for unpaired and
    paired samples, over 300 random pairs of samples of every shape."""
    rng = np.random.default_rng(11)
    for i in range(300):
        shape = sorted(SAMPLERS)[i % 3]
        n, shift = 4 + i % 9, rng.choice([1.0, 1.03, 1.1])
        a, b = SAMPLERS[shape](rng, n), SAMPLERS[shape](rng, n + 2) * shift
        _, low, high = ranks.shift_interval(np.log(a), np.log(b), ALPHA)
        p = sps.mannwhitneyu(b, a, method="exact").pvalue
        assert (low > 0 or high < 0) == (p <= ALPHA), (n, p, low, high)
        d = np.log(SAMPLERS[shape](rng, n) * shift) - np.log(SAMPLERS[shape](rng, n))
        _, low, high = ranks.paired_shift_interval(d, ALPHA)
        p = sps.wilcoxon(d, method="exact").pvalue
        assert (low > 0 or high < 0) == (p <= ALPHA), (n, p, low, high)


@pytest.mark.parametrize("shape", sorted(SAMPLERS))
@pytest.mark.parametrize("n", [5, 10, 20])
def test_the_ratio_interval_covers_the_true_ratio_at_95_percent(shape, n):
    """A candidate 7% slower than the baseline (every time times 1.07), over 600 simulated
    pairs of samples: the interval holds 1.07 at least 95% of the time, unpaired and paired."""
    rng = np.random.default_rng(n)
    covered = {False: 0, True: 0}
    for _ in range(600):
        a, b = SAMPLERS[shape](rng, n), SAMPLERS[shape](rng, n) * 1.07
        for paired in (False, True):
            _, low, high, _ = ratio_interval((a, b, (a, b) if paired else None), ALPHA)
            covered[paired] += low <= 1.07 <= high
    for hits in covered.values():
        assert hits / 600 >= 0.95 - margin(0.95, 600), covered


# --- verdicts and their wording -----------------------------------------------------------

def test_a_clearly_slower_candidate_is_called_slower_in_the_one_wording():
    rng = np.random.default_rng(2)
    trials = pd.DataFrame(rows("tcg", 10 + rng.normal(0, 0.3, 8))
                          + rows("uml", 14 + rng.normal(0, 0.3, 8)))
    row = judged(trials, "backend", ["launch_s"], baseline="tcg").iloc[0]
    assert row["verdict"] == (f"uml {row['ratio']:.2f}x slower than tcg (95% CI "
                              f"{row['ratio_ci_low']:.2f}-{row['ratio_ci_high']:.2f}; "
                              f"{NOT_INTERLEAVED})")
    assert 1.3 < row["ratio_ci_low"] < row["ratio"] < row["ratio_ci_high"] < 1.5
    assert row["family"] == 1 and not row["interleaved"]


@pytest.mark.parametrize(("ratio", "low", "high", "said"), [
    (1.04, 1.003, 1.07, "b 1.04x slower than a (95% CI 1.003-1.07)"),
    (0.96, 0.94, 0.9996, "b 1.04x faster than a (95% CI 1.0004-1.06)"),
    (1.04, 0.996, 1.07, "no clear difference between b and a (95% CI of the ratio 0.996-1.07)"),
    (1.04, 1.0, 1.07, "no clear difference between b and a (95% CI of the ratio 1.00-1.07)"),
])
def test_an_end_near_1_keeps_the_digits_that_put_it_on_its_side(ratio, low, high, said):
    """A direction claimed from 1.003 read "(95% CI 1.00-1.07)" in a sweep's output."""
    assert plain_verdict("a", "b", ratio, low, high, 1, True, 6) == said


def test_same_distributions_are_no_clear_difference_and_failures_are_left_out():
    rng = np.random.default_rng(3)
    trials = pd.DataFrame(rows("tcg", 10 + rng.normal(0, 0.3, 8))
                          + rows("uml", 10 + rng.normal(0, 0.3, 8))
                          + [trial(backend="uml", status="error", launch_s=99.0)])
    row = judged(trials, "backend", ["launch_s"], baseline="tcg").iloc[0]
    assert row["verdict"].startswith("no clear difference between uml and tcg (95% CI of the "
                                     "ratio")
    assert row["n_candidate"] == 8


@pytest.mark.parametrize(("n", "tells"), [(3, False), (4, True)])
def test_too_few_trials_say_how_many_would_do(n, tells):
    """3 a side cannot give a two-sided 95% interval (full separation has p = 0.1), 4 can."""
    values = [10.0 + 0.1 * i for i in range(n)]
    trials = pd.DataFrame(rows("tcg", values) + rows("uml", [2 * v for v in values]))
    row = judged(trials, "backend", ["launch_s"], baseline="tcg").iloc[0]
    assert row["ratio"] == pytest.approx(2.0, rel=0.05)
    if tells:
        assert row["verdict"].startswith("uml 2.0")
    else:
        assert row["ratio_ci_low"] == 0 and math.isinf(row["ratio_ci_high"])
        assert row["verdict"] == (f"too few trials to tell (3 trials a side; 4 can give a 95% "
                                  f"CI; {NOT_INTERLEAVED})")


def test_a_family_widens_every_interval_and_says_so():
    """Twelve sizes compared at once: each interval holds jointly with the others, so at 5 a
    side (whose smallest p, 0.008, cannot pass 0.05/12) nothing can be told, and the verdict
    says how many trials a side could."""
    rng = np.random.default_rng(7)
    trials = pd.DataFrame([r for size in range(12) for r in (
        rows("tcg", 10 + rng.normal(0, 0.1, 5), workload="transfer", size_bytes=size)
        + rows("uml", 12 + rng.normal(0, 0.1, 5), workload="transfer", size_bytes=size))])
    verdicts = judged(trials, "backend", ["launch_s"], baseline="tcg")["verdict"]
    assert len(verdicts) == 12
    assert verdicts.str.startswith("too few trials to tell (5 trials a side; 6 can give a 95% "
                                   "CI, jointly over 12 comparisons").all()
    alone = judged(trials[trials["size_bytes"] == 0], "backend", ["launch_s"])["verdict"]
    assert alone.iloc[0].startswith("uml 1.2")


def test_rows_of_one_interleaved_run_are_paired_by_round():
    """A host that drifts 10% over the run: paired by round the drift cancels; the verdict
    says neither "not interleaved" nor a direction."""
    drift = np.linspace(10, 11, 12)
    trials = pd.DataFrame(rows("tcg", drift, rounds=list(range(1, 13)))
                          + rows("uml", drift * 1.001, rounds=list(range(1, 13))))
    row = judged(trials, "backend", ["launch_s"], baseline="tcg").iloc[0]
    assert row["interleaved"] and NOT_INTERLEAVED not in row["verdict"]
    assert row["ratio_ci_high"] - row["ratio_ci_low"] < 0.01


def family_claims(design: str, cells: int, n: int, repeats: int, **host) -> float:
    """Share of simulated sweeps (tests/helpers/samples.py) where the engine claims some
    direction."""
    rng = np.random.default_rng(cells * 100 + n)
    return float(np.mean([directions_claimed(design, sweep_times(
        rng, design, cells, n, **{"shape": "normal", **host}), ALPHA).any()
        for _ in range(repeats)]))


def test_twelve_cells_without_a_difference_claim_some_direction_in_at_most_5_percent():
    rate = family_claims("sequential", cells=12, n=10, repeats=400)
    assert rate <= ALPHA + margin(ALPHA, 400), rate


def test_the_family_is_judged_as_one_through_with_verdicts():
    """with_verdicts judges its rows jointly, as the simulation's directions_claimed does."""
    rng = np.random.default_rng(3)
    times = sweep_times(rng, "sequential", 12, 10, "normal", slowdowns=[1.3] + [1.0] * 11)
    pairs = pd.DataFrame([{"baseline": "a", "candidate": f"c{i}", "n_baseline": 10,
                           "n_candidate": 10, "median_baseline": 0, "median_candidate": 0,
                           "_samples": (times[0], times[i], None)} for i in range(1, 13)])
    judged = with_verdicts(pairs)
    found = np.where(judged["ratio_ci_low"] > 1, 1, np.where(judged["ratio_ci_high"] < 1, -1, 0))
    assert list(found) == list(directions_claimed("sequential", times, ALPHA))
    assert found[0] == 1 and (judged["family"] == 12).all()


@pytest.mark.parametrize("shape", ["normal", "bimodal"])
def test_a_drifting_host_misleads_a_sequential_sweep_but_not_an_interleaved_one(shape):
    """The host slows 5% across a two-cell sweep, no real difference, 20 a side: run one
    after another, most comparisons claim a direction (that is why lgbench interleaves);
    interleaved and paired by round, at most 5%."""
    assert family_claims("sequential", 1, 20, 300, drift=0.05, shape=shape) > 0.3
    rate = family_claims("interleaved", 1, 20, 300, drift=0.05, shape=shape)
    assert rate <= ALPHA + margin(ALPHA, 300), rate


def test_a_real_5_percent_slowdown_of_bimodal_launches_is_called_in_80_percent():
    """TCG's two clusters, 20 rounds interleaved, the candidate 5% slower."""
    rate = family_claims("interleaved", 1, 20, 300, shape="bimodal", slowdowns=[1.05])
    assert rate >= 0.8, rate


def test_uml_is_compared_on_plain_trials_never_pooled_with_slower_timeline_ones():
    """kvm_vs_uml runs each cell plain and with a timeline (verbose, slower), and may add
    kernel words: the ratio is of the plain cells, as libguestfs would run them."""
    trials = pd.DataFrame(
        rows("tcg", [10.0] * 6, timeline=False) + rows("uml", [5.0] * 6, timeline=False)
        + rows("tcg", [11.0] * 6, timeline=True) + rows("uml", [9.0] * 6, timeline=True)
        + rows("uml", [1.0] * 6, timeline=False, append="pty.legacy_count=0"))
    row = with_verdicts(uml_pairs(trials)).set_index("metric").loc["launch_s"]
    assert row["ratio"] == pytest.approx(0.5) and row["n_candidate"] == 6
    timeline_only = trials[trials["timeline"]]
    row = with_verdicts(uml_pairs(timeline_only)).set_index("metric").loc["launch_s"]
    assert row["ratio"] == pytest.approx(9.0 / 11.0)


def test_the_stage_table_sets_launch_trials_side_by_side_where_the_run_has_them():
    trials = pd.DataFrame(
        rows("uml", [5.0] * 2, timeline=True, workload="launch")
        + rows("uml", [9.0] * 2, timeline=True, workload="transfer")
        + rows("uml", [4.0] * 2, timeline=False, workload="launch"))
    assert set(stage_trials(trials)["launch_s"]) == {5.0}
    transfers = trials[trials["workload"] == "transfer"]
    assert set(stage_trials(transfers)["launch_s"]) == {9.0}


def test_a_sweep_with_uml_reports_the_comparison_and_the_guide_claims(tmp_path):
    # Two fake backends, one of them named uml.
    result = in_process("-m", "backend=fake", "backend.name=fake,uml", "runs=4", "warmup=0",
                        f"hydra.sweep.dir={tmp_path}", cache=tmp_path / "cache",
                        results=tmp_path / "results")
    assert result.returncode == 0, result.stderr
    report = (tmp_path / "report.md").read_text()
    assert "## UML against `fake`" in report
    assert "as much as 10 times slower on UML than KVM" in report
    comparison = pd.read_csv(tmp_path / "comparison.csv")
    assert set(comparison["metric"]) >= {"launch_s", "total_s"}
    assert (comparison["candidate"] == "uml").all()
    # Every comparison the report prints is one family: the UML table and the sweep's lines.
    assert (comparison["family"] > len(comparison)).all()


# --- the baseline gate --------------------------------------------------------------------

def gate_rate(shape: str, n: int, run_sd: float, slowdown: float, threshold: float,
              repeats: int = 1000) -> float:
    """How often the gate fails a candidate `slowdown` times the baseline, each run with a
    level of its own (sd run_sd), judged with lgbench-report's default --run-sd 3%."""
    rng = np.random.default_rng(n)
    samples = SAMPLERS[shape](rng, (repeats, 2, n)) * np.exp(
        rng.normal(0, run_sd, (repeats, 2, 1)))
    return float(np.mean([gate_bound((a, b * slowdown, None), GATE_ALPHA, 0.03)
                          > 1 + threshold for a, b in samples]))


@pytest.mark.parametrize("shape", sorted(SAMPLERS))
@pytest.mark.parametrize("n", [5, 20])
@pytest.mark.parametrize("run_sd", [0.0, 0.03])
@pytest.mark.parametrize(("slowdown", "threshold"), [(1.0, 0.0), (1.04, 0.05)])
def test_the_gate_false_alarms_at_most_its_level(shape, n, run_sd, slowdown, threshold):
    """No change, or a slowdown under the threshold, with runs whose levels differ (sd up to
    3%): the gate fails at most 2.5% of 1000 simulated pairs of runs (+ 3 standard errors)."""
    rate = gate_rate(shape, n, run_sd, slowdown, threshold)
    assert rate <= GATE_ALPHA + margin(GATE_ALPHA, 1000), rate


def test_the_gate_catches_a_20_percent_slowdown_of_ten_runs_a_side():
    """Launch times with a 4% spread (normal) or two clusters 8% apart (bimodal): nearly
    always where the runs' levels agree; still three times in four where they wander by 3%
    (the price of allowing for it: 0.80 and 0.78 in 1000 simulated pairs here)."""
    for shape in ("normal", "bimodal"):
        assert gate_rate(shape, 10, 0.0, 1.2, 0.05) > 0.95
        assert gate_rate(shape, 10, 0.03, 1.2, 0.05) > 0.75


@pytest.mark.parametrize(("n", "can_fail"), [(3, False), (4, True)])
def test_the_gate_knows_when_it_cannot_fail(n, can_fail):
    """At 3 a side every candidate above every baseline has p = 1/20: never below 2.5%."""
    trials = pd.DataFrame(rows("a", [10.0 + 0.01 * i for i in range(n)], run="baseline")
                          + rows("a", [20.0 + 0.01 * i for i in range(n)], run="candidate"))
    judged = gate(pair_up(trials, "run", ["launch_s"], baseline="baseline"), 0.05)
    assert bool(judged["gate_can_fail"].iloc[0]) is can_fail
    assert (judged["gate"].iloc[0] == "FAIL") is can_fail
    assert ranks.fewest_a_side(2 * GATE_ALPHA, paired=False) == 4


def test_a_transfers_launch_and_total_are_compared_once_whatever_its_sizes():
    """A transfer trial's launch and total are one value for all its sizes: the same
    comparison three times would widen every interval of the family."""
    sizes = (2**20, 2**22, 2**24)
    trials = pd.DataFrame(transfers(lambda size, rep: size / 5e7, sizes=sizes, reps=6)
                          + transfers(lambda size, rep: size / 1e7, sizes=sizes, reps=6,
                                      backend="uml"))
    paired = pair_up(trials, "backend", COMPARISON_METRICS)
    counts = paired["metric"].value_counts().to_dict()
    assert counts == {"launch_s": 1, "total_s": 1, "upload_s": 3, "download_s": 3}
    assert paired.loc[paired["metric"] == "launch_s", "size_bytes"].isna().all()
    assert set(paired.loc[paired["metric"] == "upload_s", "size_bytes"]) == set(sizes)
