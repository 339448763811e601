"""The report's inspection section: the guide's second baseline, what each step costs, what the
inspection cache saves, and several guests per appliance against one appliance each."""

from __future__ import annotations

import pandas as pd

from harness.analysis import guide
from harness.analysis.summary import measured_trials
from harness.reporting.text import code, markdown_table, md
from harness.results.records import STATUS_OK

STEPS = ("launch_s", "inspect_s", "mount_s", "applications_s", "icon_s", "umount_s")


def has_inspection(trials: pd.DataFrame) -> bool:
    return bool(trials["workload"].isin(["inspect", "multi_guest"]).any())


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


def inspection_section(trials: pd.DataFrame) -> list[str]:
    lines = ["## Inspection", ""]
    steps = step_medians(trials)
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
                  *expectation_lines(trials, steps)]
    cache = cache_lines(trials)
    if cache:
        lines += ["", "### Cached inspection results", "", *cache]
    multi = multi_guest_lines(trials)
    if multi:
        lines += ["", "### Several guests per appliance", "", *multi]
    return lines


def expectation_lines(trials: pd.DataFrame, steps: pd.DataFrame) -> list[str]:
    """Inspection baseline <= launch baseline + 5 s: against a launch cell of the same backend
    when the run has one, else against the launch measured in the same trials."""
    launch = _ok(trials, "launch")
    ok = _ok(trials, "inspect")
    lines = []
    for cell, rows in ok.groupby("cell", sort=False):
        backend = rows["backend"].iloc[0]
        baseline = launch[launch["backend"] == backend]
        if len(baseline):
            extra = rows["total_s"].median() - baseline["total_s"].median()
            against = f"the launch baseline of this run ({md(baseline['cell'].iloc[0])}, " \
                      f"median {baseline['total_s'].median():.2f} s)"
        else:
            extra = (rows["total_s"] - rows["launch_s"]).median()
            against = "the launch of the same trials (close included in the extra)"
        verdict = "meets" if extra <= guide.INSPECTION_EXTRA_S else "does not meet"
        accels = ", ".join(sorted(rows["accel_effective"].dropna().unique()))
        note = "" if accels == "kvm" else (f" It ran under {md(accels)}; the performance guide's "
                                           "figures "
                                           "assume KVM.")
        lines.append(f"- {code(cell)}: median {rows['total_s'].median():.2f} s, {extra:+.2f} s "
                     f"over {against}: {verdict} the performance guide's \"≤ "
                     f"{guide.INSPECTION_EXTRA_S:g} seconds greater\".{note}")
    return lines


def cache_lines(trials: pd.DataFrame) -> list[str]:
    """What reusing inspection results saves: misses (usually the first, warm-up trial) against
    hits of the same cell, and cached cells against uncached cells of the same image."""
    inspect = trials[(trials["workload"] == "inspect") & (trials["status"] == STATUS_OK)]
    if "cache_hit" not in inspect or not inspect["cache_hit"].notna().any():
        return []
    lines = []
    cached = inspect[inspect["cache_hit"].notna()]
    for cell, rows in cached.groupby("cell", sort=False):
        hits = rows[rows["cache_hit"].astype(bool)]
        misses = rows[~rows["cache_hit"].astype(bool)]
        if len(hits) and len(misses):
            saved = misses["total_s"].median() - hits["total_s"].median()
            lines.append(f"- {code(cell)} (warm-ups included): miss median "
                         f"{misses['total_s'].median():.2f} s (n={len(misses)}), hit median "
                         f"{hits['total_s'].median():.2f} s (n={len(hits)}): a hit saves "
                         f"{saved:.2f} s ({saved / misses['total_s'].median():.0%}).")
        else:
            lines.append(f"- {code(cell)}: {len(hits)} hits, {len(misses)} misses: nothing to "
                         f"compare within the cell.")
    measured = measured_trials(inspect)
    # A cached cell against the same cell without the cache (same backend, image and steps).
    same_steps = measured["cell"].str.replace("+cache", "", regex=False)
    for uncached_cell, rows in measured.groupby(same_steps, sort=False):
        with_cache = rows[rows["cache_hit"].notna()]
        without = rows[rows["cache_hit"].isna()]
        if len(with_cache) and len(without):
            saved = without["total_s"].median() - with_cache["total_s"].median()
            lines.append(f"- {code(uncached_cell)} median {without['total_s'].median():.2f} s, "
                         f"with the cache {with_cache['total_s'].median():.2f} s: "
                         f"{saved:+.2f} s saved.")
    return lines


def per_guest(trials: pd.DataFrame) -> pd.DataFrame:
    """Seconds per guest in each multi_guest cell: the trial's total over its K guests."""
    ok = _ok(trials, "multi_guest")
    if ok.empty:
        return pd.DataFrame()
    ok = ok.assign(per_guest_s=ok["total_s"] / ok["guests"])
    return (ok.groupby(["backend", "mode", "guests", "clones"], sort=False)
            .agg(n=("per_guest_s", "size"), total_s=("total_s", "median"),
                 per_guest_s=("per_guest_s", "median"), guests_found=("guests_found", "min"),
                 misattributed_mounts=("misattributed_mounts", "max"),
                 filtered_rescans=("filtered_rescans", "max"))
            .reset_index())


def multi_guest_lines(trials: pd.DataFrame) -> list[str]:
    table = per_guest(trials)
    if table.empty:
        return []
    lines = ["Medians; per guest = the trial's total_s / K. shared: K disks in one appliance; "
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


def _ok(trials: pd.DataFrame, workload: str) -> pd.DataFrame:
    measured = measured_trials(trials)
    return measured[(measured["workload"] == workload) & (measured["status"] == STATUS_OK)]
