"""Several guests per appliance: K guests' disks in one appliance against one appliance per
guest, and the interactions between cloned guests that guestfs-performance(1) warns of."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from harness.analysis.summary import measured_trials
from harness.reporting.studies.base import Rows, Study
from harness.reporting.text import markdown_table, md
from harness.results.records import STATUS_OK

# Counts of a multi_guest trial, shown as whole numbers.
COUNTS = ("guests", "clones", "guests_found", "misattributed_mounts", "filtered_rescans")


class MultiGuestStudy(Study[pd.DataFrame]):
    """Result: per_guest's table."""

    name = "multi_guest"

    def applies(self, rows: Rows) -> bool:
        return bool((rows.trials["workload"] == "multi_guest").any())

    def analyse(self, rows: Rows, earlier: Mapping[str, Any]) -> pd.DataFrame:
        return per_guest(rows.trials)

    def section(self, result: pd.DataFrame) -> list[str]:
        return multi_guest_section(result)


def per_guest(trials: pd.DataFrame) -> pd.DataFrame:
    """Seconds per guest in each multi_guest cell: the trial's total over its K guests."""
    measured = measured_trials(trials)
    ok = measured[(measured["workload"] == "multi_guest") & (measured["status"] == STATUS_OK)]
    if ok.empty:
        return pd.DataFrame()
    ok = ok.assign(per_guest_s=ok["total_s"] / ok["guests"])
    return (ok.groupby(["backend", "mode", "guests", "clones"], sort=False)
            .agg(n=("per_guest_s", "size"), total_s=("total_s", "median"),
                 per_guest_s=("per_guest_s", "median"), guests_found=("guests_found", "min"),
                 misattributed_mounts=("misattributed_mounts", "max"),
                 filtered_rescans=("filtered_rescans", "max"))
            .reset_index()
            .astype(dict.fromkeys(COUNTS, "Int64")))  # the trials' columns are float


def multi_guest_section(table: pd.DataFrame) -> list[str]:
    if table.empty:
        return ["## Several guests per appliance", "", "- No successful multi_guest trials."]
    lines = ["## Several guests per appliance", "",
             "Medians; per guest = the trial's total_s / K. shared: K disks in one appliance; "
             "separate: K appliances one after another.", "",
             markdown_table(table, floatfmt=".2f"), ""]
    for (backend, k), rows in table.groupby(["backend", "guests"], sort=False):
        modes = rows.set_index("mode")["per_guest_s"]
        if {"shared", "separate"} <= set(modes.index):
            lines.append(f"- {md(backend)}, K={md(k)}: {modes['shared']:.2f} s per guest in one "
                         f"appliance against {modes['separate']:.2f} s with one appliance each "
                         f"({modes['separate'] / modes['shared']:.1f}x).")
    for row in table[(table["misattributed_mounts"] > 0)
                     | (table["filtered_rescans"] > 0)].itertuples():
        lines.append(f"- {md(row.backend)}, {md(row.mode)}, K={md(row.guests)}: "
                     f"{md(row.clones)} cloned guest(s), the interactions the performance guide "
                     "warns of: "
                     f"{row.misattributed_mounts} mountpoint(s) resolved to another guest's "
                     f"disk (the same filesystem UUID on clones); {row.filtered_rescans} "
                     f"guest(s) hidden from inspection (a volume group LVM will not activate "
                     f"beside its clone) needed an inspection of their own with LVM filtered "
                     f"to their disk.")
    return lines
