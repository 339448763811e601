"""Unit tests of harness.analysis.stats on hand-built trial frames."""

import math

import numpy as np
import pandas as pd
import pytest
from helpers.rows import trial
from helpers.samples import SAMPLERS, true_median
from scipy import stats as sps

from harness.analysis.scaling import series_labels
from harness.analysis.summary import (
    describe_groups,
    median_ci,
    outlier_count,
    status_counts,
    success_interval,
    summarize,
)
from harness.results.records import STATUSES


def frame(rows):
    return pd.DataFrame(rows)


def summary_row(summary, metric="launch_s", **cell):
    """The single summary row of `metric` in the cell matching `cell` (column=value)."""
    selected = summary[summary["metric"] == metric]
    for column, value in cell.items():
        selected = selected[selected[column] == value]
    assert len(selected) == 1
    return selected.iloc[0]


def test_summary_columns_in_order():
    summary = summarize(frame([trial(repetition=r) for r in range(3)]))
    assert list(summary.columns) == [
        "cell", "backend", "accel_requested", "appliance", "cache_state", "workload",
        "parallel", "memsize", "smp", "metric", "n", "n_ok", "success_rate", "success_ci_low",
        "success_ci_high", "mean", "median", "stdev", "ci_low", "ci_high", "ci_level", "min",
        "max", "n_outliers",
    ]


def test_metric_never_measured_is_left_out():
    summary = summarize(frame([trial(repetition=r) for r in range(3)]))
    assert sorted(summary["metric"]) == ["launch_s", "total_s"]


def test_warmups_excluded():
    rows = [trial(repetition=r, launch_s=float(r + 1)) for r in range(5)]
    rows.append(trial(repetition=-1, warmup=True, launch_s=1000.0))
    row = summary_row(summarize(frame(rows)))
    assert row["n"] == 5
    assert row["median"] == 3.0
    assert row["max"] == 5.0
    assert row["mean"] == 3.0
    assert row["stdev"] == pytest.approx(np.std([1, 2, 3, 4, 5], ddof=1))


def test_counts_and_success_rate_with_failures():
    rows = [trial(repetition=r, launch_s=10.0 + r) for r in range(8)]
    rows += [trial(repetition=8, status="error", launch_s=np.nan, error="boom"),
             trial(repetition=9, status="timeout", launch_s=np.nan)]
    row = summary_row(summarize(frame(rows)))
    assert (row["n"], row["n_ok"]) == (10, 8)
    assert row["success_rate"] == pytest.approx(0.8)
    assert row["success_ci_low"] == pytest.approx(0.4439, abs=1e-4)
    assert row["success_ci_high"] == pytest.approx(0.9748, abs=1e-4)
    assert row["median"] == pytest.approx(13.5)


def test_success_interval_known_values():
    """Clopper-Pearson's bounds (as R's binom.test gives them)."""
    low, high = success_interval(8, 10)
    assert low == pytest.approx(0.4439, abs=1e-4)
    assert high == pytest.approx(0.9748, abs=1e-4)
    low, high = success_interval(0, 10)
    assert low == 0.0
    assert high == pytest.approx(0.3085, abs=1e-4)
    assert success_interval(10, 10) == (pytest.approx(0.6915, abs=1e-4), 1.0)


def test_success_interval_without_trials_is_nan():
    assert all(math.isnan(bound) for bound in success_interval(0, 0))


def test_median_ci_is_a_pair_of_order_statistics_with_its_exact_level():
    values = [12.1, 11.8, 12.6, 13.0, 12.2, 11.9, 12.4, 12.8, 12.0, 12.3]
    rows = frame([trial(repetition=r, launch_s=v) for r, v in enumerate(values)])
    row = summary_row(summarize(rows))
    # n = 10: k = 1, [x(2), x(9)], coverage 1 - 2 * 11/1024
    assert (row["ci_low"], row["ci_high"]) == (11.9, 12.8)
    assert row["ci_level"] == pytest.approx(1 - 22 / 1024)


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_below_six_values_no_interval_claims_95_percent(n):
    """[min, max] of 5 values covers the median 93.75% of the time: not labelled 95%."""
    rows = frame([trial(repetition=r, launch_s=10.0 + r) for r in range(n)])
    row = summary_row(summarize(rows))
    assert math.isnan(row["ci_low"]) and math.isnan(row["ci_high"])
    assert math.isnan(row["ci_level"])


def test_six_values_give_the_range_at_its_exact_level():
    low, high, level = median_ci([3.0, 1.0, 2.0, 6.0, 5.0, 4.0])
    assert (low, high) == (1.0, 6.0) and level == pytest.approx(1 - 2 / 64)


@pytest.mark.parametrize("shape", sorted(SAMPLERS))
@pytest.mark.parametrize("n", [6, 10, 20, 50])
def test_median_ci_covers_as_often_as_it_says(shape, n):
    """Coverage over 2000 simulated samples is the stated exact level within 0.02 (about 4.5
    standard errors), and that level is at least 95%."""
    rng = np.random.default_rng(n)
    truth = true_median(shape)
    samples = SAMPLERS[shape](rng, (2000, n))
    intervals = [median_ci(sample) for sample in samples]
    level = intervals[0][2]
    covered = np.mean([low <= truth <= high for low, high, _ in intervals])
    assert level >= 0.95
    assert abs(covered - level) < 0.02, (covered, level)


def test_median_ci_nan_for_single_value():
    row = summary_row(summarize(frame([trial(launch_s=12.0)])))
    assert row["median"] == 12.0
    assert math.isnan(row["ci_low"]) and math.isnan(row["ci_high"])
    assert math.isnan(row["stdev"])


def test_median_ci_of_equal_values_is_the_value():
    rows = frame([trial(repetition=r, launch_s=7.0) for r in range(6)])
    row = summary_row(summarize(rows))
    assert (row["ci_low"], row["ci_high"]) == (7.0, 7.0)


def test_outlier_count_flags_injected_value_not_noise():
    noise = np.random.default_rng(0).uniform(11.5, 12.5, size=20)
    assert outlier_count(noise) == 0
    assert outlier_count(np.append(noise, 10 * np.median(noise))) == 1


def test_outlier_count_threshold_is_modified_z_of_3_5():
    # median 10 and MAD 1, so the last value's modified z-score is 0.6745 * (x - 10)
    assert outlier_count([9, 9, 10, 10, 11, 11, 15.5]) == 1  # z = 3.71
    assert outlier_count([9, 9, 10, 10, 11, 11, 15.0]) == 0  # z = 3.37


def test_outlier_count_zero_mad_flags_nothing():
    assert outlier_count([5.0, 5.0, 5.0, 50.0]) == 0
    assert outlier_count([]) == 0


def test_summary_counts_outliers():
    values = [12.0, 12.2, 11.9, 12.1, 12.3, 11.8, 120.0]
    rows = frame([trial(repetition=r, launch_s=v) for r, v in enumerate(values)])
    assert summary_row(summarize(rows))["n_outliers"] == 1


def test_makespan_counted_once_per_repetition():
    makespans = [30.0, 33.0, 36.0]
    rows = [trial(repetition=r, instance=i, parallel=4, makespan_s=m)
            for r, m in enumerate(makespans) for i in range(4)]
    summary = summarize(frame(rows))
    makespan = summary_row(summary, "makespan_s")
    assert (makespan["n"], makespan["n_ok"]) == (3, 3)
    assert makespan["mean"] == 33.0
    assert makespan["stdev"] == 3.0
    assert summary_row(summary, "launch_s")["n"] == 12


def test_parallel_cell_counts_each_repetition_once_by_its_median():
    values = {0: [10.0, 11.0, 30.0], 1: [20.0, 21.0, 22.0]}
    rows = [trial(repetition=r, instance=i, parallel=3, launch_s=v)
            for r, vs in values.items() for i, v in enumerate(vs)]
    rows[2]["status"] = "error"  # repetition 0 keeps 10 and 11: median 10.5
    row = summary_row(summarize(frame(rows)))
    assert (row["n"], row["n_ok"]) == (6, 5)
    assert (row["min"], row["max"]) == (10.5, 21.0)


def test_parallel_cell_interval_covers_when_repetitions_differ():
    """Instances of one repetition share a random slowdown (the host's contention that time).
    The interval over repetition medians covers the true median at its level; one over all
    instances, as if independent, would cover far less."""
    rng = np.random.default_rng(7)
    samples, reps, instances = 400, 10, 8
    shared = rng.normal(0, 1.0, (samples, reps, 1))
    times = 20 + shared + rng.normal(0, 1.0, (samples, reps, instances))
    rows = pd.DataFrame({
        "cell": np.repeat(np.arange(samples), reps * instances), "parallel": instances,
        "run_id": "r1", "repetition": np.tile(np.repeat(np.arange(reps), instances), samples),
        "instance": np.tile(np.arange(instances), samples * reps), "warmup": False,
        "status": "ok", "launch_s": times.ravel()})
    summary = summarize(rows, ["launch_s"])
    level = summary["ci_level"].iloc[0]
    covered = np.mean((summary["ci_low"] <= 20) & (20 <= summary["ci_high"]))
    assert level >= 0.95 and covered >= level - 0.03, (covered, level)
    pooled = [median_ci(sample.ravel()) for sample in times]
    assert np.mean([low <= 20 <= high for low, high, _ in pooled]) < 0.85


def test_makespan_repetition_with_a_failed_instance_is_not_ok():
    rows = [trial(repetition=r, instance=i, parallel=2, makespan_s=30.0 + r)
            for r in range(3) for i in range(2)]
    rows[1] = trial(repetition=0, instance=1, parallel=2, makespan_s=30.0, status="error")
    makespan = summary_row(summarize(frame(rows)), "makespan_s")
    assert (makespan["n"], makespan["n_ok"]) == (3, 2)
    assert makespan["min"] == 31.0


def test_cell_with_only_failures_is_present():
    rows = [trial(cell="a", repetition=r) for r in range(3)]
    rows += [trial(cell="b", repetition=r, status="error", launch_s=np.nan, total_s=np.nan)
             for r in range(3)]
    row = summary_row(summarize(frame(rows)), cell="b")
    assert (row["n"], row["n_ok"], row["success_rate"]) == (3, 0, 0.0)
    assert math.isnan(row["median"]) and math.isnan(row["mean"])
    assert row["n_outliers"] == 0


def test_frame_where_everything_failed_still_has_rows():
    rows = [trial(repetition=r, status="timeout", launch_s=np.nan, total_s=np.nan)
            for r in range(2)]
    summary = summarize(frame(rows))
    assert sorted(summary["metric"]) == ["launch_s", "makespan_s", "total_s"]
    assert (summary["n_ok"] == 0).all() and (summary["n"] == 2).all()


def test_missing_memsize_is_its_own_cell():
    rows = [trial(cell="m512", memsize=512, repetition=r, launch_s=10.0) for r in range(2)]
    rows += [trial(cell="mdefault", memsize=None, repetition=r, launch_s=20.0) for r in range(2)]
    launch = summarize(frame(rows)).query("metric == 'launch_s'")
    assert len(launch) == 2
    default = launch[launch["memsize"].isna()]
    assert list(default["cell"]) == ["mdefault"]
    assert list(default["median"]) == [20.0]


def test_status_counts_has_every_status_and_skips_warmups():
    rows = [trial(cell="a", repetition=0), trial(cell="a", repetition=1, status="error"),
            trial(cell="a", repetition=-1, warmup=True, status="timeout"),
            trial(cell="b", memsize=None, status="unsupported")]
    counts = status_counts(frame(rows))
    assert list(counts.columns[-5:]) == list(STATUSES)
    a = counts[counts["cell"] == "a"].iloc[0]
    b = counts[counts["cell"] == "b"].iloc[0]
    assert [a[s] for s in STATUSES] == [1, 1, 0, 0, 0]
    assert [b[s] for s in STATUSES] == [0, 0, 0, 1, 0]


def test_series_labels_name_only_the_factors_that_vary():
    rows = frame([trial(backend="direct"), trial(backend="libvirt"),
                  trial(backend="libvirt", memsize=2048, parallel=4)])
    assert list(series_labels(rows)) == [
        "direct, memsize=512", "libvirt, memsize=512", "libvirt, memsize=2048"]
    assert list(series_labels(rows.iloc[:2])) == ["direct", "libvirt"]


@pytest.mark.parametrize("n", [5, 10, 20, 30, 100])
def test_success_interval_covers_at_least_95_percent_at_every_rate(n):
    """Exact coverage (summed over the binomial distribution, no simulation error) at true
    success rates from 0.5 to 0.999, where launches live: never below 95%."""
    bounds = [success_interval(k, n) for k in range(n + 1)]
    for p in np.linspace(0.5, 0.999, 200):
        coverage = sum(sps.binom.pmf(k, n, p) for k, (low, high) in enumerate(bounds)
                       if low <= p <= high)
        assert coverage >= 0.95 - 1e-9, (p, coverage)


def test_each_cell_is_summarised_on_the_metrics_it_measured():
    """A launch cell beside an inspection cell gets no empty inspect_s row; a cell whose
    trials all failed still shows the runner's metrics."""
    rows = ([trial(cell="launch", repetition=r) for r in range(3)]
            + [trial(cell="inspect", workload="inspect", repetition=r, inspect_s=2.0 + r)
               for r in range(3)]
            + [trial(cell="failed", status="error", launch_s=np.nan, total_s=np.nan,
                     repetition=r) for r in range(3)])
    summary = summarize(pd.DataFrame(rows))
    metrics = summary.groupby("cell", sort=False)["metric"].apply(list).to_dict()
    assert metrics == {"launch": ["launch_s", "total_s"],
                       "inspect": ["launch_s", "total_s", "inspect_s"],
                       "failed": ["launch_s", "total_s"]}
    assert (summary.loc[summary["cell"] == "failed", "n_ok"] == 0).all()


def mixed_cells(seed: int) -> pd.DataFrame:
    """Twelve cells: N of 1 and 3, a few failed instances, ties, a missing memsize, two runs
    of one cell (repetition numbers restart), warm-ups first."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(12):
        n = 3 if c % 3 == 0 else 1
        for run in (("a", "b") if c == 5 else ("a",)):
            for r in range(int(rng.integers(3, 15))):
                makespan = round(float(rng.normal(12, 0.5)), 1)
                rows += [trial(cell=f"c{c}", run_id=f"{run}{c}", parallel=n, instance=i,
                               repetition=r, warmup=r == 0, memsize=None if c == 7 else 512,
                               total_s=round(float(rng.normal(12, 0.5)), 1),
                               makespan_s=makespan if n > 1 else np.nan,
                               status="error" if rng.random() < 0.05 else "ok")
                         for i in range(n)]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_cell_summarised_at_once_as_it_is_alone(seed):
    """The statistics of all cells at once (grouped, vectorised) are those of each cell
    summarised by itself, to the last digit."""
    trials = mixed_cells(seed)
    together = summarize(trials)
    alone = pd.concat([summarize(trials[trials["cell"] == cell])
                       for cell in pd.unique(trials["cell"])], ignore_index=True)
    pd.testing.assert_frame_equal(together, alone, check_exact=True)


def test_describe_groups_takes_each_group_as_numpy_does():
    rng = np.random.default_rng(4)
    sizes = [0, 1, 2, 5, 6, 7, 40, 3]
    group = np.repeat(np.arange(len(sizes)), sizes)
    values = np.round(rng.normal(12, 0.5, group.size), 1)  # ties too
    shuffled = rng.permutation(group.size)
    described = describe_groups(group[shuffled], values[shuffled], len(sizes))
    for g, size in enumerate(sizes):
        x = values[shuffled][group[shuffled] == g]
        row = described.iloc[g]
        if size == 0:
            assert row.drop("n_outliers").isna().all() and row["n_outliers"] == 0
            continue
        low, high, level = median_ci(x)
        expected = [np.mean(x), np.median(x), np.std(x, ddof=1) if size > 1 else np.nan,
                    low, high, level, x.min(), x.max(), outlier_count(x)]
        np.testing.assert_array_equal(row.to_numpy(dtype=float), np.array(expected, dtype=float))
