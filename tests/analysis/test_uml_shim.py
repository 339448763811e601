"""lgbench's UML relay against a direct channel: the overhead, its CI, and the report lines."""

import numpy as np
import pandas as pd
from helpers.rows import store_run, trial

from harness.analysis.compare import with_verdicts
from harness.analysis.uml_shim import has_both_channels, shim_cost, shim_pairs
from harness.reporting.build import build_report
from harness.reporting.studies.shim import shim_section
from harness.results import store


def channel_rows(channel: str, launch: np.ndarray, call: np.ndarray) -> list[dict]:
    label = "uml/cached-hot/calls[m200]/p1" + ("/channel-direct" if channel == "direct" else "")
    return [trial(backend="uml", cell=label, workload="calls", uml_channel=channel,
                  repetition=i, launch_s=a, total_s=a + 200 * c, call_s=c)
            for i, (a, c) in enumerate(zip(launch, call, strict=True))]


def test_the_relay_overhead_is_relay_over_direct_minus_one_per_metric():
    rng = np.random.default_rng(4)
    direct = channel_rows("direct", 10 + rng.normal(0, 0.05, 8), 0.060 + rng.normal(0, 1e-3, 8))
    relay = channel_rows("relay", 10 + rng.normal(0, 0.05, 8), 0.072 + rng.normal(0, 1e-3, 8))
    cost = shim_cost(with_verdicts(shim_pairs(pd.DataFrame(direct + relay)))).set_index("metric")
    call = cost.loc["call_s"]
    assert call["overhead_ci_low"] < call["overhead"] < call["overhead_ci_high"]
    assert 0.15 < call["overhead_ci_low"] and call["overhead_ci_high"] < 0.25  # true: +20%
    assert call["verdict"].startswith("relay 1.") and "slower" in call["verdict"]
    assert cost.loc["launch_s", "verdict"].startswith("no clear difference")
    lines = "\n".join(shim_section(cost.reset_index()))
    assert "## What lgbench's UML shim costs" in lines
    assert f"{call['overhead'] * 100:+.1f}%" in lines
    assert r"uml/cached-hot/calls\[m200\]/p1/channel-direct" in lines


def test_one_channel_alone_has_no_shim_cost():
    rows = pd.DataFrame(channel_rows("relay", np.full(6, 10.0), np.full(6, 0.07)))
    assert not has_both_channels(rows)
    assert not has_both_channels(rows.drop(columns="uml_channel"))


def test_a_run_with_both_channels_reports_the_shim_cost(tmp_path):
    rng = np.random.default_rng(5)
    run = store_run(tmp_path / "run", [
        *channel_rows("direct", 10 + rng.normal(0, 0.05, 6), np.full(6, 0.06)),
        *channel_rows("relay", 10 + rng.normal(0, 0.05, 6), np.full(6, 0.07))])
    build_report([run], run)
    assert "## What lgbench's UML shim costs" in (run / store.REPORT_FILE).read_text()
    cost = pd.read_csv(run / store.SHIM_COST_FILE)
    assert set(cost["metric"]) == {"launch_s", "total_s", "call_s"}
    assert (cost["candidate"] == "relay").all()
