"""Transfer throughput against size, with the fitted t0 + size/bandwidth model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from harness.analysis.scaling import series_labels
from harness.analysis.summary import measured_trials
from harness.analysis.transfer import (
    DIRECTIONS,
    TRANSFER_SERIES_COLUMNS,
    TRANSFER_WORKLOAD,
    MiB,
    has_transfers,
)
from harness.plotting.common import no_data, pyplot
from harness.results.records import STATUS_OK

if TYPE_CHECKING:
    from matplotlib.figure import Figure



def throughput_vs_size(trials: pd.DataFrame, model: pd.DataFrame) -> Figure:
    """MiB/s of every ok transfer against its size, a panel per direction and a colour per
    series, with the fitted model's curve size / (t0 + size / bandwidth) over the sizes.

    The curve shows why small transfers look slow: t0 dominates them, the bandwidth the large
    ones. Both axes are logarithmic: sizes go in powers of 4, and backends may differ tenfold
    (UML against KVM). `model` is analysis.transfer's transfer_model of these trials.
    """
    plt = pyplot()

    # Labelled as in the model: from the transfer workload's rows, failed ones included.
    measured = measured_trials(trials[trials["workload"] == TRANSFER_WORKLOAD])
    measured = measured.assign(series=series_labels(measured,
                                                          TRANSFER_SERIES_COLUMNS))
    ok = measured[measured["status"] == STATUS_OK]
    ok = ok.dropna(subset=["size_bytes"]) if has_transfers(ok) else ok.iloc[0:0]
    series = list(pd.unique(ok["series"]))
    colors = {name: f"C{i}" for i, name in enumerate(series)}

    fig, axes = plt.subplots(1, len(DIRECTIONS), sharey=True, figsize=(12.0, 5.0),
                             layout="constrained")
    if ok.empty:
        axes[0].set_title("transfer throughput against size")
        no_data(axes[0], "no successful transfers")
        axes[1].set_axis_off()
        return fig

    sizes = np.sort(pd.unique(ok["size_bytes"] / MiB))
    for ax, direction in zip(axes, DIRECTIONS, strict=True):
        for name, rows in ok.groupby("series", sort=False):
            size_mib = rows["size_bytes"] / MiB
            ax.scatter(size_mib, size_mib / rows[f"{direction}_s"], color=colors[name],
                       alpha=0.7, label=f"{name}: measured")
        fits = model[(model["direction"] == direction) & model["series"].isin(series)]
        for _, fit in fits.iterrows():
            t0, bandwidth = fit["overhead_ms"] / 1000, fit["bandwidth_mib_s"]
            if not np.isfinite(t0) or not np.isfinite(bandwidth):
                continue
            curve = np.geomspace(fit["size_min_mib"], fit["size_max_mib"], 50)
            ax.plot(curve, curve / (t0 + curve / bandwidth), color=colors[fit["series"]],
                    label=f"{fit['series']}: fit, {1000 * t0:.3g} ms + size / "
                          f"{bandwidth:.4g} MiB/s")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(sizes, [f"{s:g}" for s in sizes])
        ax.minorticks_off()
        ax.set_title(f"{direction} (ok transfers, warm-ups excluded)")
        ax.set_xlabel("size (MiB, log scale)")
        ax.legend(fontsize="small")
    axes[0].set_ylabel("throughput (MiB/s, log scale)")
    return fig
