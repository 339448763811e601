"""Cost per operation against M, one line per strategy: where launching once pays off."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from harness.plotting.common import no_data, pyplot

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def cost_per_operation(table: pd.DataFrame) -> Figure:
    """Median seconds per operation (total / M) against M, a line per strategy and a panel
    per backend, with the 95% CI as error bars where there is one. `table` is
    analysis.operations' operations_table."""
    plt = pyplot()
    backends = list(pd.unique(table["backend"])) or ["none"]
    fig, axes = plt.subplots(1, len(backends), squeeze=False, sharey=True,
                             figsize=(6.0 * len(backends), 4.5), layout="constrained")
    for ax, backend in zip(axes[0], backends, strict=True):
        rows = table[table["backend"] == backend]
        ax.set_title(f"cost per operation: {backend}")
        if rows["per_operation_median"].notna().sum() == 0:
            no_data(ax, "no successful operations trials")
            continue
        for strategy, line in rows.groupby("strategy", sort=True):
            line = line.sort_values("count")
            low = (line["per_operation_median"] - line["per_operation_ci_low"]).fillna(0.0)
            high = (line["per_operation_ci_high"] - line["per_operation_median"]).fillna(0.0)
            ax.errorbar(line["count"], line["per_operation_median"], yerr=[low, high],
                        marker="o", capsize=3, label=strategy)
        counts = np.sort(pd.unique(rows["count"]))
        ax.set_xscale("log", base=2)
        ax.set_xticks(counts, [str(c) for c in counts])
        ax.set_ylim(bottom=0)
        ax.set_xlabel("operations per trial (M)")
        ax.set_ylabel("seconds per operation (median)")
        ax.legend(fontsize="small")
    return fig
