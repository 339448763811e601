"""What a cell is (the part of its resolved config that defines its measurements, which
`resume=true` matches), and cell labels that never pool two configurations.

A label names the factors people sweep (harness.plan.cell_label: backend, appliance, workload,
N, memory...). Cells analysed together (a sweep's jobs, a run's resumed parts) may still differ
in a key the label does not show: a hypervisor wrapper, a timeout, a workload setting. Their
rows would then be summarised as one cell. `distinguish` appends each such key and its value to
the labels it would otherwise merge, from the configurations the runs' metadata.json stores.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pandas as pd

# Keys that change how a run is carried out or judged, not what a cell measures.
NOT_CELL_KEYS = ("hydra", "resume", "allow_failures", "objective", "round")
# runs=auto's knobs, which mean nothing with a fixed number of runs (and runs stored before
# runs=auto existed lack them).
AUTO_RUNS_KEYS = ("precision", "min_runs", "max_runs", "budget_s")
# Keys added later, at the value every run stored before them measured with.
LATER_KEYS = {"page_cache": "hot", "backend.hv_wrapper": None, "append": ""}


def cell_identity(config: dict[str, Any]) -> dict[str, Any]:
    """The part of a resolved config that defines a cell's measurements (a copy)."""
    ignored = NOT_CELL_KEYS + (() if config.get("runs") == "auto" else AUTO_RUNS_KEYS)
    identity = copy.deepcopy({k: v for k, v in config.items() if k not in ignored})
    for dotted, default in LATER_KEYS.items():
        *parents, key = dotted.split(".")
        node: Any = identity
        for parent in parents:
            node = node.get(parent) if isinstance(node, dict) else None
        if isinstance(node, dict) and key in node and node[key] == default:
            del node[key]
    return identity


# Where results and caches live: the same cell measured into another folder is the same cell.
NOT_A_FACTOR = ("paths", "experiment_name")


def flat(config: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Dotted key -> value (as JSON text) of every leaf of a nested config."""
    leaves: dict[str, str] = {}
    for key, value in config.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            leaves.update(flat(value, f"{dotted}."))
        else:
            leaves[dotted] = json.dumps(value, sort_keys=True)
    return leaves


def factors(config: dict[str, Any]) -> dict[str, str]:
    """The leaves of a stored config that define what its cell measured; a key added later
    has, where a config lacks it, the value every run before it measured with."""
    identity = {k: v for k, v in cell_identity(config).items() if k not in NOT_A_FACTOR}
    leaves = flat(identity)
    for dotted, default in LATER_KEYS.items():
        if dotted.split(".")[0] in identity:
            leaves.setdefault(dotted, json.dumps(default))
    return leaves


def shown(value: str) -> str:
    """A value as a label shows it: text without its quotes, null as none."""
    loaded = json.loads(value)
    if loaded is None:
        return "none"
    return loaded if isinstance(loaded, str) else value.replace(" ", "")


def distinguish(trials: pd.DataFrame, configs: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """`trials` with the label of every cell that shares its label with another configuration
    extended by the keys in which they differ (`.../launch/p1/backend.hv_wrapper=none`).

    configs: run_id -> the config its metadata.json stores; rows of other runs keep their label.
    """
    if trials.empty or "run_id" not in trials.columns:
        return trials
    labels = trials.groupby("run_id", sort=False)["cell"].first()
    renamed: dict[str, str] = {}
    for label, run_ids in labels.groupby(labels, sort=False):
        known = {run_id: factors(configs[run_id]) for run_id in run_ids.index
                 if run_id in configs}
        if len({json.dumps(f, sort_keys=True) for f in known.values()}) < 2:
            continue
        keys = sorted({k for f in known.values() for k in f})
        differing = [k for k in keys if len({f.get(k) for f in known.values()}) > 1]
        for run_id, leaves in known.items():
            said = ",".join(f"{k}={shown(leaves[k]) if k in leaves else 'unset'}"
                            for k in differing)
            renamed[run_id] = f"{label}/{said}"
    if not renamed:
        return trials
    trials = trials.copy()
    trials["cell"] = trials["run_id"].map(renamed).fillna(trials["cell"])
    return trials
