"""Appliance types against the cached appliance with a hot cache (guestfs-performance(1),
USING A FIXED APPLIANCE), per backend, workload and page-cache state.
"""

from __future__ import annotations

import pandas as pd

from harness.analysis.compare import SAMPLES, SIDE_COLUMNS, sides_of
from harness.analysis.summary import measured_trials, ok_values

BASELINE_KIND = "cached-hot"

# What must match between the two sides; the workload's variant is part of its cell name.
MATCHING = ("backend", "workload", "page_cache", "parallel", "memsize", "smp")

# After the MATCHING factors present (then compare's VERDICT_COLUMNS).
COMPARED_COLUMNS = ("baseline", "candidate", "metric", *SIDE_COLUMNS)


def appliance_kinds(trials: pd.DataFrame) -> pd.Series:
    """`cached-hot`, `cached-cold`, `fixed`, `fixed_shm`: the type, with the cached one's
    cache state."""
    cached = trials["appliance"] == "cached"
    return trials["appliance"].where(~cached, "cached-" + trials["cache_state"].astype(str))


def has_appliance_types(trials: pd.DataFrame) -> bool:
    kinds = appliance_kinds(trials)
    return bool((kinds == BASELINE_KIND).any() and kinds.nunique() > 1)


def appliance_pairs(trials: pd.DataFrame, metric: str = "total_s") -> pd.DataFrame:
    """Every other appliance kind against `cached-hot` in each group of MATCHING factors:
    harness.analysis.compare's rows, to be judged."""
    rows = measured_trials(trials)
    rows = rows.assign(kind=appliance_kinds(rows),
                       workload=rows["cell"].str.split("/").str[2],
                       page_cache=rows.get("page_cache", pd.Series("hot", index=rows.index))
                       .fillna("hot"))
    keys = [c for c in MATCHING if c in rows.columns]
    records = []
    for key, group in rows.groupby(keys, dropna=False, sort=True):
        base = group[group["kind"] == BASELINE_KIND]
        for kind in sorted(set(group["kind"]) - {BASELINE_KIND}):
            other = group[group["kind"] == kind]
            if ok_values(base, metric).size and ok_values(other, metric).size:
                records.append({**dict(zip(keys, key, strict=True)), "baseline": BASELINE_KIND,
                                "candidate": kind, "metric": metric,
                                **sides_of(base, other, metric)})
    return pd.DataFrame(records, columns=[*keys, *COMPARED_COLUMNS, SAMPLES])
