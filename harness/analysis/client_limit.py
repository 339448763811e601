"""libvirtd's client limit (guestfs-performance(1): "out of the box libvirt limits the number of
client connections to 20"): what happened to the appliances past it, per N.

A connection past max_clients can only be accepted once another client leaves, and a handle
leaves only when it closes, after its launch. So an instance counts as queued when libvirtd
accepted its connection (`connected_s`, from timeline trials) no earlier than the first
appliance of its repetition had launched (the smallest `launch_s`; libvirt frees the slot
during close, a little before close returns). A refused one is an error row naming the failed
connection.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.analysis.scaling import grouped_series
from harness.results.records import STATUS_OK

LIMIT_COLUMN = "libvirt_max_clients"
REFUSED_WORDS = "could not connect to libvirt"  # libguestfs's message when libvirtd refuses

CLIENT_LIMIT_COLUMNS = ("series", "parallel", "max_clients", "n_reps", "n_instances", "n_ok",
                        "n_refused", "n_queued", "queued_per_rep", "queued_wait_median_s",
                        "connect_median_s", "makespan_median_s")


def has_client_limit(trials: pd.DataFrame) -> bool:
    """Whether some cell ran libvirt under a max_clients of its own."""
    return LIMIT_COLUMN in trials.columns and trials[LIMIT_COLUMN].notna().any()


def _queued(rows: pd.DataFrame) -> pd.Series:
    """Per instance row: connected only once an appliance of its repetition had launched."""
    first_launched = rows.groupby("repetition")["launch_s"].transform("min")
    return rows["connected_s"] >= first_launched


def client_limit_table(trials: pd.DataFrame) -> pd.DataFrame:
    """One row per series and N of the limited cells: refused, queued and how long they waited."""
    limited = trials[trials[LIMIT_COLUMN].notna()]
    if "connected_s" not in limited.columns:
        limited = limited.assign(connected_s=np.nan)
    records = []
    for _, label, rows in grouped_series(limited):
        for n, at_n in rows.groupby("parallel", sort=True):
            queued = _queued(at_n)
            waits = at_n.loc[queued, "connected_s"]
            prompt = at_n.loc[~queued & at_n["connected_s"].notna(), "connected_s"]
            refused = at_n["error"].fillna("").str.contains(REFUSED_WORDS, regex=False)
            n_reps = at_n["repetition"].nunique()
            records.append({
                "series": label, "parallel": int(n),
                "max_clients": int(at_n[LIMIT_COLUMN].iloc[0]), "n_reps": n_reps,
                "n_instances": len(at_n), "n_ok": int((at_n["status"] == STATUS_OK).sum()),
                "n_refused": int(refused.sum()), "n_queued": int(queued.sum()),
                "queued_per_rep": queued.sum() / n_reps,
                "queued_wait_median_s": waits.median() if len(waits) else np.nan,
                "connect_median_s": prompt.median() if len(prompt) else np.nan,
                "makespan_median_s": at_n.groupby("repetition")["makespan_s"].first().median(),
            })
    return pd.DataFrame(records, columns=list(CLIENT_LIMIT_COLUMNS))


def behaviour(table: pd.DataFrame) -> str:
    """What this libvirt does past its limit: `queued`, `refused`, `both`, `not reached` (no
    N above the limit) or `unknown` (no connection times: timeline=false)."""
    past = table[table["parallel"] > table["max_clients"]]
    if past.empty:
        return "not reached"
    refused, queued = past["n_refused"].sum() > 0, past["n_queued"].sum() > 0
    if refused and queued:
        return "both"
    if refused:
        return "refused"
    if queued:
        return "queued"
    return "unknown" if past["connect_median_s"].isna().all() else "neither"
