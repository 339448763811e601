"""CellPlan.from_config: the composed config, field by field, into the runner's plan."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_module

from harness.analysis.precision import StopRule
from harness.config import register_configs
from harness.plan import CellPlan


@pytest.fixture(autouse=True)
def cache_env(tmp_path, monkeypatch):
    monkeypatch.setenv("LGBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("LGBENCH_RESULTS", str(tmp_path / "results"))


def composed(*overrides: str):
    register_configs()
    with initialize_config_module(config_module="harness.conf", version_base="1.3"):
        return compose(config_name="config", overrides=["backend=fake", *overrides])


def test_a_fixed_number_of_runs_is_planned_as_configured(tmp_path):
    cfg = composed("runs=3", "warmup=1", "parallel=2", "memsize=512", "smp=2", "timeout_s=90",
                   "probe_timeout_s=7", "verbose=true", "timeline=true", "page_cache=cold",
                   "append=quiet")
    plan = CellPlan.from_config(cfg, "host:run", "debian")
    assert plan == CellPlan(
        run_id="host:run", cell="fake/cached-hot/launch[debian]/p2/m512/smp2/append[quiet]"
        "/page-cold/timeline", parallel=2, runs=3, warmup=1, memsize=512, smp=2, timeout_s=90,
        cache_dir=tmp_path / "cache", probe_timeout_s=7, verbose=True, timeline=True,
        stop_rule=None, page_cache="cold", append="quiet", interleaved=False)
    assert isinstance(plan.cache_dir, Path)


def test_runs_auto_plans_up_to_max_runs_under_its_stop_rule():
    cfg = composed("runs=auto", "precision=0.1", "min_runs=7", "max_runs=12", "budget_s=60")
    plan = CellPlan.from_config(cfg, "host:run", "")
    assert (plan.runs, plan.stop_rule) == (12, StopRule(0.1, 7, 12, 60.0))
    assert plan.planned_repetitions == plan.warmup + 7


@pytest.mark.parametrize("runs", ["4", "auto"])
def test_an_interleaved_round_leaves_stopping_to_the_launcher(runs):
    plan = CellPlan.from_config(composed(f"runs={runs}", "max_runs=9", "round=1"), "h:r", "")
    assert plan.interleaved and plan.stop_rule is None
    assert plan.runs == (9 if runs == "auto" else 4)
