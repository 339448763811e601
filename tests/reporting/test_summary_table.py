"""The summary table as people read it: constant columns left out, times rounded to the noise."""

import pandas as pd
import pytest
from helpers.rows import trial

from harness.analysis.summary import summarize
from harness.reporting.build import run_lines
from harness.reporting.summary import displayed, noise_decimals, table


@pytest.mark.parametrize("stdev, decimals", [(0.12, 2), (2.1, 1), (15.0, 0), (0.0001, 3),
                                              (float("nan"), 3), (0.0, 3)])
def test_times_keep_the_decimals_the_noise_supports(stdev, decimals):
    assert noise_decimals(stdev) == decimals


@pytest.mark.parametrize("stdev, median, shown", [(1e-5, 2.5e-4, "0.00025"),
                                                  (0.0, 2.5e-4, "0.00025"),
                                                  (0.004, 0.051, "0.051")])
def test_a_sub_millisecond_median_keeps_two_significant_digits(stdev, median, shown):
    assert f"{median:.{noise_decimals(stdev, median)}f}" == shown


def summary_of(values_by_cell):
    return summarize(pd.DataFrame([
        trial(cell=cell, repetition=r, launch_s=v, total_s=v + 0.5)
        for cell, values in values_by_cell.items() for r, v in enumerate(values)]))


def test_columns_the_same_in_every_row_are_left_out_and_named():
    shown, omitted = displayed(summary_of({"a": [10.0, 12.0, 11.0], "b": [20.0, 21.0, 22.0]}))
    for column in ("success_rate", "ci_low", "ci_high", "ci_level", "n_outliers"):
        assert column not in shown.columns
    assert omitted == ["success_rate 1", "ci_low none", "ci_high none", "ci_level none",
                       "n_outliers 0"]
    assert list(shown["median"]) == ["11.0", "11.5", "21.0", "21.5"]  # stdev 1: 1 decimal


def test_a_column_that_varies_stays():
    summary = summary_of({"a": [10.0, 10.1, 10.2, 10.3, 10.4, 10.5], "b": [20.0, 21.0]})
    shown, omitted = displayed(summary)
    assert {"ci_low", "ci_high", "ci_level"} <= set(shown.columns)
    assert list(shown["ci_low"]) == ["10.00", "10.50", "", ""]
    assert "(the same in every row: success_rate 1, n_outliers 0)" in table(summary)


def test_runs_on_one_host_are_named_on_one_line():
    host = {"hostname": "vm", "cpu_model": "Xeon", "cores": 2, "kernel": "6.1",
            "versions": {"libguestfs": "1.48.6"}}
    metadata = [{"run_id": f"vm:sweep/{i}", "host": host, "backend": {}} for i in range(12)]
    metadata.append({"run_id": "other:r1", "host": {**host, "hostname": "other"},
                     "backend": {}})
    lines = run_lines(metadata, pd.DataFrame([trial()]))
    assert lines == [
        "- 12 runs (`vm:sweep/0`, `vm:sweep/1`, ...) on `vm`: Xeon, 2 cores, kernel 6.1, "
        "libguestfs 1.48.6; KVM: not probed",
        "- run `other:r1` on `other`: Xeon, 2 cores, kernel 6.1, libguestfs 1.48.6; KVM: "
        "not probed"]
