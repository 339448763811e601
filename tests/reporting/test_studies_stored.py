"""Each study on the rows of a real run (tests/data/runs/, recorded by tests/data/record_runs.py
on this kind of host): the report is made again from them, no appliance is booted. The
assertions are about what the rows hold (real launches under TCG or UML), never exact times."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pandas as pd
import pytest

from harness.reporting.build import Analysis, build_report
from harness.reporting.studies.base import Options

RUNS = Path(__file__).parents[1] / "data" / "runs"


@pytest.fixture(scope="module")
def reported(tmp_path_factory):
    """name -> (its analysis, its report.md), each made once from a copy of the stored run."""
    made: dict[str, tuple[Analysis, str]] = {}

    def report(name: str, swept: tuple[str, ...] = ()) -> tuple[Analysis, str]:
        if name not in made:
            run = tmp_path_factory.mktemp("stored") / name
            shutil.copytree(RUNS / name, run)
            found = build_report([run], run, options=Options(swept=swept))
            made[name] = found, (run / "report.md").read_text()
        return made[name]
    return report


def test_parallel_scaling_on_real_appliances(reported):
    found, text = reported("tcg_parallel", ("parallel",))
    scaling = found.results["parallel"].scaling
    assert scaling["parallel"].tolist() == [1, 2, 3] and (scaling["n_reps_ok"] == 2).all()
    # Two TCG appliances on 2 cores take longer together than one alone.
    assert scaling["median"].iloc[1] > scaling["median"].iloc[0]
    fit = found.results["parallel"].fits.iloc[0]
    assert fit["slope"] > 0 and fit["n_points"] == 6
    assert "### Linear fit: makespan = a + b·N" in text
    assert "there should be little difference in launching 1 appliance vs N" in text


def test_inspection_and_several_guests_on_real_appliances(reported):
    found, text = reported("tcg_inspection", ("workload",))
    inspection = found.results["inspection"]
    (steps,) = inspection.steps.to_dict("records")
    assert steps["distro"] == "debian" and steps["inspect_s"] > 0 and steps["applications"] > 0
    (expectation,) = inspection.expectations.to_dict("records")
    assert expectation["against_cell"] == "tcg/cached-hot/launch/p1"
    assert math.isclose(expectation["extra_s"],
                        expectation["median_s"] - expectation["against_median_s"])
    within = inspection.cache[inspection.cache["kind"] == "within"].iloc[0]
    assert within["n_without"] == 1 and within["n_with"] == 1  # the warm-up missed, then a hit
    assert within["median_with_s"] < within["median_without_s"]
    (guests,) = found.results["multi_guest"].to_dict("records")
    assert (guests["mode"], guests["guests"], guests["clones"]) == ("shared", 2, 1)
    assert "## Several guests per appliance" in text and "K=2:" in text
    assert found.family == 2  # the sweep's two workloads against the launch baseline


def test_fewer_launches_on_real_appliances(reported):
    found, text = reported("tcg_operations", ("workload.strategy",))
    table = found.results["operations"].table.set_index("strategy")
    assert table.loc["one_handle", "launches"] == 1
    assert table.loc["handle_per_operation", "launches"] == 2
    # One launch for two operations beats a launch for each, on any host.
    assert table.loc["one_handle", "total_median"] < table.loc["handle_per_operation",
                                                                "total_median"]
    assert "the appliance is launched the minimum number of times" in text


def test_appliance_types_on_real_appliances(reported):
    found, text = reported("tcg_appliances", ("appliance",))
    (row,) = found.results["appliances"].to_dict("records")
    assert (row["baseline"], row["candidate"]) == ("cached-hot", "fixed")
    assert 0.5 < row["ratio"] < 2 and row["verdict"]
    assert "## Appliance types" in text


def test_uml_against_tcg_with_stages_and_transfers_on_real_appliances(reported):
    found, text = reported("uml_vs_tcg", ("backend", "workload", "timeline"))
    uml = found.results["uml"]
    assert uml.other == "tcg" and uml.accel == "tcg"
    assert {"launch_s", "total_s", "upload_s", "download_s"} <= set(uml.comparison["metric"])
    assert {"kernel", "guestfsd"} <= set(uml.by_stage["stage"])
    assert len(uml.claims) == 4 and "cannot be checked here" in uml.claims["verdict"].tolist()
    ratios = found.results["transfer"].ratios["tcg"]
    assert set(ratios["direction"]) == {"upload", "download"}
    boot = found.results["boot"]
    assert len(boot.stages.representatives) == len(boot.timeline_plots) >= 2
    # The stage table reads the boot study's stages, so it comes after it.
    assert text.index("## Boot stages") < text.index("### Where the launch goes")
    # Every comparison of the run in one family: UML's, its stages', the sweep's.
    family = (len(uml.comparison) + len(uml.by_stage)
              + len(found.results["comparison"].pairs))
    assert found.family == family
    assert f"jointly over {family} comparisons" in uml.comparison["verdict"].iloc[0]


def test_the_shim_cost_on_real_appliances(reported):
    found, text = reported("uml_shim_cost", ("backend.relay",))
    cost = found.results["shim"]
    assert "total_s" in set(cost["metric"]) and cost["overhead"].notna().all()
    # 2 runs a side bound nothing: no interval, and no direction claimed.
    assert cost["overhead_ci_low"].isna().all()
    assert cost["verdict"].str.startswith("too few trials to tell").all()
    assert "## What lgbench's UML shim costs" in text


@pytest.mark.parametrize("name", ["tcg_parallel", "tcg_inspection", "tcg_operations",
                                  "tcg_appliances", "uml_vs_tcg", "uml_shim_cost"])
def test_the_stored_runs_are_real(name):
    """What the tests above rely on: rows of real appliances, most of them ok."""
    trials = pd.read_parquet(RUNS / name / "trials.parquet")
    ok = trials[trials["status"] == "ok"]
    assert len(ok) >= 0.9 * len(trials)
    assert set(ok["accel_effective"]) <= {"tcg", "uml"} and (ok["launch_s"] > 1).all()
