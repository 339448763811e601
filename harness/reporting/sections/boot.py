"""## Boot stages: where a launch goes, from timeline=true trials, and the cost of verbose mode.
"""

from __future__ import annotations

import pandas as pd

from harness.analysis.stages import BootStages
from harness.analysis.summary import measured_trials
from harness.reporting.text import code, markdown_table, md
from harness.results import store
from harness.results.records import STATUS_OK, TIMELINE_SUFFIX


def verbose_cost_lines(trials: pd.DataFrame, summary: pd.DataFrame) -> list[str]:
    """Median launch_s with and without timeline (verbose) per cell measured both ways."""
    lines = ["### The cost of verbose mode", "",
             "`timeline=true` turns on libguestfs's verbose and trace output, which slows the "
             "launch it measures (the appliance prints its console; /init skips its diagnostic "
             "dump through `guestfs_boot_analysis=1`, as libguestfs's boot-analysis did).", ""]
    measured = measured_trials(trials)
    ok = measured[(measured["status"] == STATUS_OK) & measured["launch_s"].notna()]
    found = False
    for cell, rows in ok.groupby(ok["cell"].str.removesuffix(TIMELINE_SUFFIX), sort=False):
        on = rows.loc[rows["timeline"], "launch_s"]
        off = rows.loc[~rows["timeline"], "launch_s"]
        if on.empty or off.empty:
            continue
        found = True
        lines.append(f"- {code(cell)}: median launch_s **{on.median():.2f} s** with timeline "
                     f"(n={len(on)}) against **{off.median():.2f} s** without (n={len(off)}): "
                     f"+{on.median() - off.median():.2f} s, a slowdown of "
                     f"**{on.median() / off.median():.2f}x**.")
    if not found:
        lines.append("- No cell of this run was measured both with and without timeline. "
                     "Measure it with a sweep of the same cell: "
                     "`lgbench -m timeline=false,true ...`.")
    dump = summary[summary["stage"] == "verbose dump"]
    for _, row in dump.iterrows():
        lines.append(f"- {code(row['cell'])}: /init's diagnostic dump, printed only in verbose "
                     f"mode (stage `verbose dump`), alone takes a median {row['median']:.2f} s.")
    return lines


def boot_section(boot: BootStages, trials: pd.DataFrame,
                 timeline_plots: dict[str, str]) -> list[str]:
    """The lines of "## Boot stages"; `timeline_plots` maps a cell to its timeline figure."""
    lines = ["## Boot stages", "",
             "Each trial's timestamped libguestfs events (console, library and trace messages) "
             "split into stages by the markers of `conf/stages/` (recorded in metadata.json); a "
             "stage lasts until the next one found starts. One row per trial and stage in "
             f"`{store.STAGES_FILE}`. Seconds since the instance's release; median and mean over "
             "ok trials, warm-ups excluded; `median_start` orders the stages.", ""]
    if boot.summary.empty:
        lines.append("No successful non-warm-up trial has events to split.")
    else:
        lines.append(markdown_table(boot.summary, floatfmt=".3f"))
    lines.append("")
    for cell, trial in boot.representatives.items():
        first = trial.iloc[0]
        lines.append(f"- `plots/{timeline_plots[cell]}`: {code(cell)}, repetition "
                     f"{md(first['repetition'])}, instance {md(first['instance'])}, the trial "
                     f"whose total ({trial['duration'].sum():.2f} s from the first stage) is "
                     "closest to the cell's median.")
    return [*lines, "", *verbose_cost_lines(trials, boot.summary)]
