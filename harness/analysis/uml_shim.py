"""What lgbench's UML shim costs. libguestfs 1.48 has no UML backend, so lgbench runs
linux.uml through a shim whose relay carries the appliance's channel; `backend.relay=direct`
hands libguestfs's socket to UML itself, as libguestfs's own UML backend did. Both sides in
one run, per cell: the ratio relay / direct on the launch, the whole trial and one call."""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.analysis.compare import pair_up

SHIM_METRICS = ("launch_s", "total_s", "call_s")
DIRECT, RELAY = "direct", "relay"


def has_both_channels(trials: pd.DataFrame) -> bool:
    return "uml_channel" in trials.columns and {DIRECT, RELAY} <= set(trials["uml_channel"])


def shim_pairs(trials: pd.DataFrame) -> pd.DataFrame:
    """Relay against direct, per cell and metric: harness.analysis.compare's rows, to be
    judged."""
    uml = trials[trials["uml_channel"].isin([DIRECT, RELAY])]
    return pair_up(uml, "uml_channel", SHIM_METRICS, baseline=DIRECT)


def shim_cost(judged: pd.DataFrame) -> pd.DataFrame:
    """The judged relay-against-direct table, plus `overhead` (ratio - 1) and its interval."""
    table = judged.copy()
    bounded = (table["ratio_ci_low"] > 0) & np.isfinite(table["ratio_ci_high"])
    table["overhead"] = table["ratio"] - 1
    table["overhead_ci_low"] = (table["ratio_ci_low"] - 1).where(bounded)
    table["overhead_ci_high"] = (table["ratio_ci_high"] - 1).where(bounded)
    return table
