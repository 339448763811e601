"""Inspection: guestfs-performance(1)'s second baseline (a guest inspected, against the launch
baseline), what each step costs, and what the inspection cache saves."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from harness.analysis import guide
from harness.analysis.summary import measured_trials
from harness.reporting.studies.base import Rows, Study
from harness.reporting.text import code, markdown_table, md
from harness.results.records import STATUS_OK

STEPS = ("launch_s", "inspect_s", "mount_s", "applications_s", "icon_s", "umount_s")


@dataclass(frozen=True)
class Inspection:
    steps: pd.DataFrame  # median seconds of each step per cell, and what was found
    expectations: pd.DataFrame  # per cell: its median, the extra over the launch baseline
    cache: pd.DataFrame  # what the inspection cache saves: within a cell, and across cells


class InspectionStudy(Study[Inspection]):
    name = "inspection"
    claims = (guide.INSPECTION,)

    def applies(self, rows: Rows) -> bool:
        return bool((rows.trials["workload"] == "inspect").any())

    def analyse(self, rows: Rows, earlier: Mapping[str, Any]) -> Inspection:
        return Inspection(step_medians(rows.trials), expectations(rows.trials),
                          cache_savings(rows.trials))

    def section(self, result: Inspection) -> list[str]:
        return inspection_section(result)

    def expectations(self, result: Inspection) -> list[guide.Expectation]:
        found = result.expectations
        if found.empty:
            return [guide.Expectation(guide.INSPECTION, guide.UNCHECKABLE,
                                      "no successful inspection")]
        over = found["extra_s"] > guide.INSPECTION_EXTRA_S
        measured = "; ".join(
            f"{row.cell}: {row.extra_s:+.1f} s over "
            + (f"{row.against_cell}'s {row.against_median_s:.1f} s"
               if row.against_cell is not None else "its own launch")
            + ("" if row.accels == "kvm" else f" (under {row.accels}; the guide assumes KVM)")
            for row in found.itertuples())
        return [guide.Expectation(guide.INSPECTION, guide.FAILS if over.any() else guide.HOLDS,
                                  f"medians, {measured}")]


def step_medians(trials: pd.DataFrame) -> pd.DataFrame:
    """Median seconds of each step per inspect cell (ok, measured trials), plus what was found."""
    ok = _ok(trials, "inspect")
    records = []
    for cell, rows in ok.groupby("cell", sort=False):
        record = {"cell": cell, "n": len(rows)}
        for column in ("distro", "version", "hostname", "applications"):
            if column in rows and rows[column].notna().any():
                record[column] = rows[column].dropna().iloc[0]
        record.update({step: rows[step].median() for step in (*STEPS, "total_s")
                       if step in rows and rows[step].notna().any()})
        records.append(record)
    return pd.DataFrame(records)


def inspection_section(result: Inspection) -> list[str]:
    lines = ["## Inspection", ""]
    steps = result.steps
    if steps.empty:
        lines.append("- No successful inspection trials.")
    else:
        # Rounded here, not by tabulate, which would also reformat versions such as "12.5".
        shown = steps.round(2).astype(object).where(steps.notna(), "")
        if "applications" in steps:
            shown["applications"] = [str(int(v)) if v == v else "" for v in steps["applications"]]
        lines += ["Median seconds per step (ok trials, warm-ups excluded).", "",
                  markdown_table(shown, disable_numparse=True), "",
                  "### The performance guide's expectation", "", *guide.INSPECTION.quote(), "",
                  *expectation_lines(result.expectations)]
    cache = cache_lines(result.cache)
    if cache:
        lines += ["", "### Cached inspection results", "", *cache]
    return lines


def expectations(trials: pd.DataFrame) -> pd.DataFrame:
    """Inspection baseline <= launch baseline + 5 s: against the launch of one appliance alone
    with the same backend and appliance when the run has one (the first such cell), else
    against the launch measured in the same trials."""
    launch = _ok(trials, "launch")
    launch = launch[launch["parallel"] == 1]
    records = []
    for cell, rows in _ok(trials, "inspect").groupby("cell", sort=False):
        alike = launch[(launch["backend"] == rows["backend"].iloc[0])
                       & (launch["appliance"] == rows["appliance"].iloc[0])]
        baseline = alike[alike["cell"] == alike["cell"].iloc[0]] if len(alike) else alike
        median = rows["total_s"].median()
        records.append({
            "cell": cell, "median_s": median,
            "against_cell": baseline["cell"].iloc[0] if len(baseline) else None,
            "against_median_s": baseline["total_s"].median() if len(baseline) else None,
            "extra_s": (median - baseline["total_s"].median() if len(baseline) else
                        (rows["total_s"] - rows["launch_s"]).median()),
            "accels": ", ".join(sorted(rows["accel_effective"].dropna().unique()))})
    return pd.DataFrame(records, columns=["cell", "median_s", "against_cell",
                                          "against_median_s", "extra_s", "accels"])


def expectation_lines(found: pd.DataFrame) -> list[str]:
    lines = []
    for row in found.itertuples():
        if row.against_cell is not None:
            against = (f"the launch baseline of this run ({md(row.against_cell)}, "
                       f"median {row.against_median_s:.2f} s)")
        else:
            against = "the launch of the same trials (close included in the extra)"
        verdict = "meets" if row.extra_s <= guide.INSPECTION_EXTRA_S else "does not meet"
        note = "" if row.accels == "kvm" else (f" It ran under {md(row.accels)}; the "
                                               "performance guide's figures assume KVM.")
        lines.append(f"- {code(row.cell)}: median {row.median_s:.2f} s, {row.extra_s:+.2f} s "
                     f"over {against}: {verdict} the performance guide's \"≤ "
                     f"{guide.INSPECTION_EXTRA_S:g} seconds greater\".{note}")
    return lines


def cache_savings(trials: pd.DataFrame) -> pd.DataFrame:
    """What reusing inspection results saves: misses (usually the first, warm-up trial) against
    hits of the same cell (`within`), and cached cells against uncached cells of the same image
    (`across`)."""
    inspect = trials[(trials["workload"] == "inspect") & (trials["status"] == STATUS_OK)]
    records = []
    if "cache_hit" not in inspect or not inspect["cache_hit"].notna().any():
        return pd.DataFrame(records, columns=CACHE_COLUMNS)
    cached = inspect[inspect["cache_hit"].notna()]
    for cell, rows in cached.groupby("cell", sort=False):
        hit = rows["cache_hit"].astype(bool)
        records.append({"kind": "within", "cell": cell,
                        "n_without": int((~hit).sum()), "n_with": int(hit.sum()),
                        "median_without_s": rows.loc[~hit, "total_s"].median(),
                        "median_with_s": rows.loc[hit, "total_s"].median()})
    measured = measured_trials(inspect)
    # A cached cell against the same cell without the cache (same backend, image and steps).
    same_steps = measured["cell"].str.replace("+cache", "", regex=False)
    for uncached_cell, rows in measured.groupby(same_steps, sort=False):
        with_cache = rows[rows["cache_hit"].notna()]
        without = rows[rows["cache_hit"].isna()]
        if len(with_cache) and len(without):
            records.append({"kind": "across", "cell": uncached_cell,
                            "n_without": len(without), "n_with": len(with_cache),
                            "median_without_s": without["total_s"].median(),
                            "median_with_s": with_cache["total_s"].median()})
    return pd.DataFrame(records, columns=CACHE_COLUMNS)


CACHE_COLUMNS = ["kind", "cell", "n_without", "n_with", "median_without_s", "median_with_s"]


def cache_lines(savings: pd.DataFrame) -> list[str]:
    lines = []
    for row in savings.itertuples():
        saved = row.median_without_s - row.median_with_s
        if row.kind == "across":
            lines.append(f"- {code(row.cell)} median {row.median_without_s:.2f} s, "
                         f"with the cache {row.median_with_s:.2f} s: {saved:+.2f} s saved.")
        elif row.n_with and row.n_without:
            lines.append(f"- {code(row.cell)} (warm-ups included): miss median "
                         f"{row.median_without_s:.2f} s (n={row.n_without}), hit median "
                         f"{row.median_with_s:.2f} s (n={row.n_with}): a hit saves "
                         f"{saved:.2f} s ({saved / row.median_without_s:.0%}).")
        else:
            lines.append(f"- {code(row.cell)}: {row.n_with} hits, {row.n_without} misses: "
                         "nothing to compare within the cell.")
    return lines


def _ok(trials: pd.DataFrame, workload: str) -> pd.DataFrame:
    measured = measured_trials(trials)
    return measured[(measured["workload"] == workload) & (measured["status"] == STATUS_OK)]
