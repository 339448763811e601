"""The launch baseline: guestfs-performance(1)'s first measurement, each launch cell's median
launch+close held against "under 6 seconds", saying which accelerator ran it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from harness.analysis import guide
from harness.analysis.summary import measured_trials
from harness.reporting.studies.base import Rows, Study
from harness.reporting.text import code, listed, md
from harness.results.records import STATUS_OK


class LaunchBaseline(Study[pd.DataFrame]):
    """Result: one row per launch cell (cell, median_s, accels, meets)."""

    name = "launch"
    claims = (guide.LAUNCH,)

    def applies(self, rows: Rows) -> bool:
        return True  # the report says so when there is no launch to hold against the guide

    def analyse(self, rows: Rows, earlier: Mapping[str, Any]) -> pd.DataFrame:
        trials = rows.trials[["cell", "warmup", "workload", "status", "total_s",
                              "accel_effective", "parallel"]]
        measured = measured_trials(trials)
        launch = measured[(measured["workload"] == "launch") & (measured["status"] == STATUS_OK)]
        cells = launch.groupby("cell", sort=False)
        median, parallel = cells["total_s"].median(), cells["parallel"].max()
        ran = launch[["cell", "accel_effective"]].dropna().drop_duplicates()
        accels = ran.groupby("cell")["accel_effective"].agg(lambda a: ", ".join(sorted(a))
                                                            ).reindex(median.index, fill_value="")
        return pd.DataFrame({"cell": median.index, "median_s": median.to_numpy(),
                             "accels": accels.to_numpy(),
                             "meets": (median < guide.LAUNCH_UNDER_S).to_numpy(),
                             "parallel": parallel.to_numpy()},
                            columns=["cell", "median_s", "accels", "meets", "parallel"])

    def expectations(self, result: pd.DataFrame) -> list[guide.Expectation]:
        result = result[result["parallel"] == 1]  # the guide times one appliance alone
        if result.empty:
            return [guide.Expectation(guide.LAUNCH, guide.UNCHECKABLE,
                                      "no successful launch of one appliance alone")]
        missed = result[~result["meets"]]
        worst = result.loc[result["median_s"].idxmax()]
        measured = (f"{len(result) - len(missed)} of {len(result)} cells launching one "
                    f"appliance under "
                    f"{guide.LAUNCH_UNDER_S:g} s; the slowest {worst['cell']}, median "
                    f"{worst['median_s']:.1f} s under {worst['accels'] or 'no accelerator'}"
                    + ("" if (result["accels"] == "kvm").all() else
                       " (the guide assumes KVM)"))
        return [guide.Expectation(guide.LAUNCH, guide.FAILS if len(missed) else guide.HOLDS,
                                  measured)]

    def section(self, result: pd.DataFrame) -> list[str]:
        lines = []
        for row in result.itertuples():
            verdict = "meets" if row.meets else "does not meet"
            note = "" if row.accels == "kvm" else (
                " The performance guide's figure assumes KVM; this cell ran without it, so a "
                "miss is expected.")
            lines.append(f"- {code(row.cell)}: median launch+close {row.median_s:.2f} s under "
                         f"**{md(row.accels)}** {verdict} the performance guide's \"under "
                         f"{guide.LAUNCH_UNDER_S:g} seconds\".{note}")
        return ["## The performance guide's expectation", "", *guide.LAUNCH.quote(), "",
                *(listed(lines, "cells: each in summary.csv") or
                  ["- No successful launch trials to compare."])]
