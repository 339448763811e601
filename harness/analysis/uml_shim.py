"""What lgbench's UML shim costs. libguestfs 1.48 has no UML backend, so lgbench runs
linux.uml through a shim whose relay carries the appliance's channel; `backend.relay=direct`
hands libguestfs's socket to UML itself, as libguestfs's own UML backend did. Both sides in
one run, per cell: the ratio relay / direct on the launch, the whole trial and one call."""

from __future__ import annotations

import pandas as pd

from harness.analysis.compare import compare

SHIM_METRICS = ("launch_s", "total_s", "call_s")
DIRECT, RELAY = "direct", "relay"


def has_both_channels(trials: pd.DataFrame) -> bool:
    return "uml_channel" in trials.columns and {DIRECT, RELAY} <= set(trials["uml_channel"])


def shim_cost(trials: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """`compare`'s table of relay against direct, plus `overhead` (ratio - 1) and its CI."""
    uml = trials[trials["uml_channel"].isin([DIRECT, RELAY])]
    table = compare(uml, "uml_channel", SHIM_METRICS, baseline=DIRECT, seed=seed)
    for column, ratio in (("overhead", "ratio"), ("overhead_ci_low", "ratio_ci_low"),
                          ("overhead_ci_high", "ratio_ci_high")):
        table[column] = table[ratio] - 1
    return table
