"""Cells analysed together never share a label unless they share a configuration: every key of
the config, set to two values, gives two labels; a whole fake sweep over keys the label does
not name reports two cells."""

from __future__ import annotations

import copy

import pandas as pd
import pytest
from helpers.lgbench import run_in_process_in
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

import harness.cli.run  # noqa: F401  (registers the structured configs)
from harness.plan import cell_label
from harness.results import store
from harness.results.cells import NOT_A_FACTOR, NOT_CELL_KEYS, distinguish, flat

WORKLOADS = ("launch", "transfer", "operations", "inspect", "multi_guest", "calls")


def fake_config(workload: str):
    """The composed config of a fake run of `workload`, and its resolved values."""
    with initialize_config_module(config_module="harness.conf", version_base="1.3"):
        cfg = compose(config_name="config", overrides=["backend=fake", f"workload={workload}"])
    return cfg, OmegaConf.to_container(
        OmegaConf.create({k: v for k, v in cfg.items() if k != "hydra"}), resolve=True)


def other_value(value):
    """A second value of the same kind."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    if isinstance(value, list):
        return [*value, value[-1] if value else 1]
    if value is None:
        return "set"
    return f"{value}-other"


def with_value(config: dict, dotted: str, value) -> dict:
    changed = copy.deepcopy(config)
    *parents, key = dotted.split(".")
    node = changed
    for parent in parents:
        node = node[parent]
    node[key] = value
    return changed


def rows(label: str, *run_ids: str) -> pd.DataFrame:
    return pd.DataFrame([{"run_id": r, "cell": label, "total_s": 1.0} for r in run_ids])


CONFIGS = {workload: fake_config(workload) for workload in WORKLOADS}
CFG, CONFIG = CONFIGS["launch"]
LABEL = cell_label(CFG)
NOT_FACTORS = (*NOT_CELL_KEYS, *NOT_A_FACTOR)
AUTO_ONLY = ("precision", "min_runs", "max_runs", "budget_s")  # runs=auto's knobs


@pytest.mark.parametrize(("workload", "key"), [(w, k) for w, (_, c) in CONFIGS.items()
                                               for k in sorted(flat(c))
                                               if w == "launch" or k.startswith("workload.")])
def test_every_key_set_to_two_values_gives_two_cells_unless_it_is_not_a_factor(workload, key):
    cfg, config = CONFIGS[workload]
    value = config
    for part in key.split("."):
        value = value[part]
    label = cell_label(cfg)
    configs = {"a": config, "b": with_value(config, key, other_value(value))}
    labels = distinguish(rows(label, "a", "b"), configs).groupby("run_id")["cell"].first()
    if key.split(".")[0] in NOT_FACTORS or (config["runs"] != "auto" and key in AUTO_ONLY):
        assert labels["a"] == labels["b"] == label
    else:
        assert labels["a"] != labels["b"], key
        assert all(name.startswith(f"{label}/{key}=") for name in labels), labels


def test_cells_of_one_configuration_keep_their_label_and_unknown_runs_are_left_alone():
    resumed = distinguish(rows(LABEL, "a", "a-resumed"), {"a": CONFIG, "a-resumed": CONFIG})
    assert set(resumed["cell"]) == {LABEL}
    partial = distinguish(rows(LABEL, "a", "old"), {"a": CONFIG})
    assert set(partial["cell"]) == {LABEL}


def test_a_fake_sweep_over_keys_the_label_does_not_name_reports_each_cell(tmp_path):
    """A sweep over a key outside the label (here the timeout) was one pooled cell of n=4."""
    sweep = tmp_path / "sweep"
    result = run_in_process_in(tmp_path, "-m", "backend=fake", "timeout_s=100,200", "runs=2",
                               "warmup=0", f"hydra.sweep.dir={sweep}")
    assert result.returncode == 0, result.stderr
    trials = store.read_trials([sweep])
    assert sorted(trials["cell"].unique()) == [f"{LABEL}/timeout_s=100.0",
                                               f"{LABEL}/timeout_s=200.0"]
    assert trials.groupby("cell").size().tolist() == [2, 2]
    summary = pd.read_csv(sweep / store.SUMMARY_FILE)
    assert sorted(summary["cell"].unique()) == sorted(trials["cell"].unique())
