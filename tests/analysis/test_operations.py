"""Fewer launches: the per-strategy table, speed-ups, the break-even M, the report section and
the plot, on hand-built operations rows."""

import math

import numpy as np
import pandas as pd
import pytest
from helpers.rows import trial

from harness.analysis.compare import with_verdicts
from harness.analysis.operations import break_even, operations_pairs, operations_table
from harness.plotting.operations import cost_per_operation
from harness.reporting.studies.operations import operations_section

LAUNCH_S, OPERATION_S = 10.0, 1.0


def operations_rows(strategies=("one_handle", "handle_per_operation"), counts=(1, 4, 16),
                    reps=6, noise=0.0):
    """Totals as the strategies would make them: one launch, or a launch per operation."""
    rng = np.random.default_rng(0)
    rows = []
    for strategy in strategies:
        for count in counts:
            launches = 1 if strategy in ("one_handle", "guestfish_listen") else count
            for rep in range(reps):
                total = launches * LAUNCH_S + count * OPERATION_S + noise * rng.normal()
                rows.append(trial(cell=f"tcg/{strategy}/m{count}", workload="operations",
                                  strategy=strategy, count=count, launches=launches,
                                  repetition=rep, launch_s=np.nan, total_s=total))
    return pd.DataFrame(rows)


def table_of(rows: pd.DataFrame) -> pd.DataFrame:
    return operations_table(rows, with_verdicts(operations_pairs(rows)))


def test_table_has_total_per_operation_and_speedup_per_strategy_and_m():
    table = table_of(operations_rows()).set_index(["strategy", "count"])
    assert len(table) == 6
    one = table.loc[("one_handle", 4)]
    assert one["total_median"] == pytest.approx(LAUNCH_S + 4 * OPERATION_S)
    assert one["per_operation_median"] == pytest.approx((LAUNCH_S + 4 * OPERATION_S) / 4)
    assert (one["launches"], one["n_ok"]) == (1, 6)
    # 6 trials give a 95% median CI; identical values make it a point.
    assert one["total_ci_low"] == one["total_ci_high"] == one["total_median"]
    per_operation = 4 * (LAUNCH_S + OPERATION_S)
    assert one["speedup"] == pytest.approx(per_operation / (LAUNCH_S + 4 * OPERATION_S))
    assert table.loc[("handle_per_operation", 16), "speedup"] == pytest.approx(1.0)
    assert table.loc[("one_handle", 1), "speedup"] == pytest.approx(1.0)


def test_speedup_interval_from_five_trials_a_side_and_not_below():
    """Three M compared at once: 4 a side cannot give an interval jointly over 3, 5 can."""
    noisy = table_of(operations_rows(noise=0.3)).set_index(["strategy", "count"])
    low, high = noisy.loc[("one_handle", 16), ["speedup_ci_low", "speedup_ci_high"]]
    assert low < noisy.loc[("one_handle", 16), "speedup"] < high
    few = table_of(operations_rows(reps=4, noise=0.3)).set_index(["strategy", "count"])
    assert math.isnan(few.loc[("one_handle", 16), "speedup_ci_low"])
    assert math.isnan(few.loc[("one_handle", 16), "total_ci_low"])  # 4 < 6 trials


def test_failed_trials_are_counted_but_not_measured():
    rows = operations_rows(strategies=("one_handle",), counts=(4,))
    rows.loc[0, "status"] = "error"
    row = table_of(rows).iloc[0]
    assert (row["n"], row["n_ok"]) == (6, 5)
    assert math.isnan(row["speedup"])  # no handle_per_operation cell to compare with


def test_break_even_where_the_fitted_totals_cross():
    table = break_even(operations_rows(noise=0.1)).set_index("strategy")
    row = table.loc["one_handle"]
    assert row["against"] == "handle_per_operation"
    # one launch: 10 + 1 M; a launch each: 11 M; they cross at M = 1.
    assert row["break_even_count"] == pytest.approx(1.0, abs=0.05)
    assert row["slope_s"] == pytest.approx(OPERATION_S, abs=0.05)
    assert row["against_slope_s"] == pytest.approx(LAUNCH_S + OPERATION_S, abs=0.05)


def test_break_even_of_a_listener_with_a_start_cost():
    """A strategy with a dearer start (30 s) but cheaper operations pays off further out."""
    rows = operations_rows(strategies=("guestfish_listen", "guestfish_per_operation"))
    listen = rows["strategy"] == "guestfish_listen"
    rows.loc[listen, "total_s"] += 20.0
    row = break_even(rows).set_index("strategy").loc["guestfish_listen"]
    assert row["break_even_count"] == pytest.approx(3.0)  # 30 + M = 11 M


def test_no_break_even_without_two_m_or_without_a_crossing():
    assert break_even(operations_rows(counts=(4,))).empty
    rows = operations_rows()
    one = rows["strategy"] == "one_handle"
    rows.loc[one, "total_s"] = rows.loc[one, "count"] * 20.0  # dearer per operation
    assert math.isnan(break_even(rows).iloc[0]["break_even_count"])


def test_report_section_leads_with_the_seed_and_gives_the_break_even():
    rows = operations_rows()
    lines = "\n".join(operations_section(table_of(rows), break_even(rows)))
    assert lines.startswith("## Fewer launches")
    assert "By far the most effective" in lines
    assert "`one_handle` pays for itself against `handle_per_operation` from M = **1.0**" in lines
    assert "| one_handle" in lines and "| 16 " in lines


def test_plot_draws_a_line_per_strategy():
    figure = cost_per_operation(table_of(operations_rows()))
    (ax,) = figure.axes
    assert sorted(line.get_label() for line in ax.containers) == [
        "handle_per_operation", "one_handle"]
    assert ax.get_xlabel() == "operations per trial (M)"


def test_rows_of_trials_that_failed_before_the_workload_are_left_out():
    failed = pd.DataFrame([trial(cell="tcg/op", workload="operations", status="timeout")])
    assert table_of(failed).empty and break_even(failed).empty
    mixed = pd.concat([operations_rows(counts=(4,)), failed], ignore_index=True)
    assert len(table_of(mixed)) == 2
