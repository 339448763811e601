"""libvirtd's client limit: when each appliance got its connection, against N, with the limit
marked, so the knee (the first N past max_clients) shows. Drawn from the trials and the
client-limit table of harness.analysis.client_limit."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from harness.analysis.client_limit import LIMIT_COLUMN
from harness.analysis.summary import measured_trials
from harness.plotting.common import no_data, pyplot

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def connection_waits(trials: pd.DataFrame, table: pd.DataFrame) -> Figure:
    """Left: each instance's time from release to libvirtd accepting its connection, per N.
    Right: the median makespan per N. A dashed line marks max_clients on both."""
    plt = pyplot()
    fig, (waits, makespan) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    rows = measured_trials(trials)
    rows = rows[rows[LIMIT_COLUMN].notna()]
    if table.empty or "connected_s" not in rows.columns or rows["connected_s"].isna().all():
        waits.set_title("libvirt connection wait against N")
        no_data(waits, "no connection times (run with timeline=true)")
        makespan.set_axis_off()
        return fig
    limit = int(table["max_clients"].iloc[0])
    waits.scatter(rows["parallel"], rows["connected_s"], s=14, alpha=0.6, color="C0")
    waits.set_title("libvirt connection accepted, per appliance")
    waits.set_ylabel("seconds from release to connection")
    makespan.plot(table["parallel"], table["makespan_median_s"], marker="o", color="C0")
    makespan.set_title("makespan (median of repetitions)")
    makespan.set_ylabel("seconds")
    makespan.set_ylim(bottom=0)
    for ax in (waits, makespan):
        ax.axvline(limit, color="tab:red", linestyle="--", label=f"max_clients = {limit}")
        ax.set_xlabel("appliances launched in parallel (N)")
        ax.legend(loc="upper left", fontsize="small")
    return fig
