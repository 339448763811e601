"""Backend comparison: ratio of medians with a bootstrap CI and Mann-Whitney p-values."""

import numpy as np
import pandas as pd
from helpers.lgbench import lgbench
from helpers.rows import trial

from harness.analysis.compare import compare_backends, ratio_of_medians


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
    assert row["p_value"] < 0.01 and row["verdict"] == f"uml {row['ratio']:.2f}x slower (surely)"
    assert row["ratio_ci_low"] > 1.2


def test_same_distributions_are_no_clear_difference_and_failures_are_left_out():
    rng = np.random.default_rng(3)
    trials = pd.DataFrame(rows("tcg", 10 + rng.normal(0, 0.3, 8))
                          + rows("uml", 10 + rng.normal(0, 0.3, 8))
                          + [trial(backend="uml", status="error", launch_s=99.0)])
    row = compare_backends(trials, "tcg", "uml", metrics=["launch_s"]).iloc[0]
    assert row["verdict"] == "no clear difference"
    assert row["n_candidate"] == 8


def test_transfer_sizes_are_compared_separately():
    trials = pd.DataFrame(
        [trial(backend=b, workload="transfer", size_bytes=s, repetition=r,
               upload_s=(1 if b == "tcg" else 10) * s / 1e6 + 0.01 * r)
         for b in ("tcg", "uml") for s in (1e6, 4e6) for r in range(4)])
    result = compare_backends(trials, "tcg", "uml", metrics=["upload_s"])
    assert list(result["size_bytes"]) == [1e6, 4e6]
    assert all(abs(r - 10) < 1 for r in result["ratio"])


def test_a_sweep_with_uml_reports_the_comparison_and_the_seed_claims(tmp_path):
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


def test_three_trials_a_side_cannot_be_significant_and_the_verdict_says_so():
    trials = pd.DataFrame(rows("tcg", [10.0, 10.1, 10.2]) + rows("uml", [20.0, 20.1, 20.2]))
    row = compare_backends(trials, "tcg", "uml", metrics=["launch_s"]).iloc[0]
    assert row["p_value"] >= 0.05
    assert row["verdict"] == f"uml {row['ratio']:.2f}x slower (likely: too few trials for the test)"
