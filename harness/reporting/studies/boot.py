"""Boot stages: where a launch goes, from the events of timeline=true trials, and what
verbose mode (which the timeline needs) costs the launch it measures."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from harness.analysis.stages import BootStages, boot_stages, configured_markers
from harness.analysis.summary import measured_trials
from harness.plotting.stages import stage_bars, trial_timeline
from harness.reporting.studies.base import Rows, Study
from harness.reporting.text import code, markdown_table, md
from harness.results import store
from harness.results.records import STATUS_OK, TIMELINE_SUFFIX


@dataclass(frozen=True)
class Boot:
    stages: BootStages
    verbose_cost: pd.DataFrame  # per cell measured both ways: launch_s with and without
    timeline_plots: dict[str, str]  # cell -> the file name of its timeline figure


class BootStudy(Study[Boot]):
    name = "boot"

    def applies(self, rows: Rows) -> bool:
        return rows.events is not None

    def analyse(self, rows: Rows, earlier: Mapping[str, Any]) -> Boot:
        assert rows.events is not None
        found = boot_stages(rows.events, configured_markers(rows.metadata), rows.trials)
        plots = {cell: "timeline.png" if i == 0 else f"timeline-{i + 1}.png"
                 for i, cell in enumerate(found.representatives)}
        return Boot(found, verbose_cost(rows.trials), plots)

    def files(self, result: Boot) -> dict[str, pd.DataFrame]:
        return {store.STAGES_FILE: result.stages.rows}

    def figures(self, result: Boot) -> dict[str, Any]:
        return {"stages.png": stage_bars(result.stages.summary),
                **{result.timeline_plots[cell]: trial_timeline(trial)
                   for cell, trial in result.stages.representatives.items()}}

    def section(self, result: Boot) -> list[str]:
        return boot_section(result)


def verbose_cost(trials: pd.DataFrame) -> pd.DataFrame:
    """Median launch_s with and without timeline (verbose) per cell measured both ways."""
    measured = measured_trials(trials)
    ok = measured[(measured["status"] == STATUS_OK) & measured["launch_s"].notna()]
    records = []
    for cell, rows in ok.groupby(ok["cell"].str.removesuffix(TIMELINE_SUFFIX), sort=False):
        on = rows.loc[rows["timeline"], "launch_s"]
        off = rows.loc[~rows["timeline"], "launch_s"]
        if len(on) and len(off):
            records.append({"cell": cell, "n_on": len(on), "median_on": on.median(),
                            "n_off": len(off), "median_off": off.median()})
    return pd.DataFrame(records, columns=["cell", "n_on", "median_on", "n_off", "median_off"])


def verbose_cost_lines(cost: pd.DataFrame, summary: pd.DataFrame) -> list[str]:
    lines = ["### The cost of verbose mode", "",
             "`timeline=true` turns on libguestfs's verbose and trace output, which slows the "
             "launch it measures (the appliance prints its console; /init skips its diagnostic "
             "dump through `guestfs_boot_analysis=1`, as libguestfs's boot-analysis did).", ""]
    for row in cost.itertuples():
        lines.append(f"- {code(row.cell)}: median launch_s **{row.median_on:.2f} s** with "
                     f"timeline (n={row.n_on}) against **{row.median_off:.2f} s** without "
                     f"(n={row.n_off}): +{row.median_on - row.median_off:.2f} s, a slowdown of "
                     f"**{row.median_on / row.median_off:.2f}x**.")
    if cost.empty:
        lines.append("- No cell of this run was measured both with and without timeline. "
                     "Measure it with a sweep of the same cell: "
                     "`lgbench -m timeline=false,true ...`.")
    dump = summary[summary["stage"] == "verbose dump"]
    for _, row in dump.iterrows():
        lines.append(f"- {code(row['cell'])}: /init's diagnostic dump, printed only in verbose "
                     f"mode (stage `verbose dump`), alone takes a median {row['median']:.2f} s.")
    return lines


def boot_section(result: Boot) -> list[str]:
    """The lines of "## Boot stages"."""
    boot, timeline_plots = result.stages, result.timeline_plots
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
    return [*lines, "", *verbose_cost_lines(result.verbose_cost, boot.summary)]
