"""workload=calls on the fake backend: the rows a trial of small calls makes, and bad input."""

import pandas as pd
from helpers.lgbench import run_in_process_in


def test_a_calls_trial_times_every_call_and_the_median_one(tmp_path):
    result = run_in_process_in(tmp_path, "backend=fake", "workload=calls", "workload.count=7",
                               "runs=2", "warmup=0")
    assert result.returncode == 0, result.stderr[-2000:]
    rows = pd.read_parquet(tmp_path / "run" / "trials.parquet")
    assert list(rows["status"]) == ["ok", "ok"]
    assert (rows["calls"] == 7).all()
    assert ((rows["call_s"] > 0) & (rows["call_s"] <= rows["calls_s"])).all()
    assert (rows["calls_s"] < rows["total_s"]).all()
    assert rows["cell"].iloc[0] == "fake/cached-hot/calls[m7]/p1"
    summary = pd.read_csv(tmp_path / "run" / "summary.csv")
    assert {"calls_s", "call_s"} <= set(summary["metric"])
