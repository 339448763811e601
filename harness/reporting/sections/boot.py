"""## Boot stages: where a launch goes, from timeline=true trials, and the cost of verbose mode.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from harness.analysis import stages as timeline
from harness.analysis.summary import measured_trials
from harness.plotting import plots
from harness.results import store
from harness.results.records import STATUS_OK


def read_events(run_dirs: list[Path]) -> pd.DataFrame | None:
    """The events of timeline=true runs (a sweep root's from its jobs), or None if none."""
    files = []
    for run_dir in run_dirs:
        own = run_dir / store.EVENTS_FILE
        files += [own] if own.exists() else sorted(run_dir.glob(f"*/{store.EVENTS_FILE}"))
    frames = [pd.read_parquet(f) for f in files]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else None


def stage_markers(metadata: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The markers the run was configured with (config `stages`), else conf/stages/default."""
    for meta in metadata:
        markers = (meta.get("config", {}).get("stages") or {}).get("markers")
        if markers:
            return markers
    return timeline.default_markers()


def verbose_cost_lines(trials: pd.DataFrame, summary: pd.DataFrame) -> list[str]:
    """Median launch_s with and without timeline (verbose) per cell measured both ways."""
    lines = ["### The cost of verbose mode", "",
             "`timeline=true` turns on libguestfs's verbose and trace output, which slows the "
             "launch it measures (the appliance prints its console; /init skips its diagnostic "
             "dump through `guestfs_boot_analysis=1`, as libguestfs's boot-analysis did).", ""]
    measured = measured_trials(trials)
    ok = measured[(measured["status"] == STATUS_OK) & measured["launch_s"].notna()]
    found = False
    for cell, rows in ok.groupby("cell", sort=False):
        on = rows.loc[rows["timeline"], "launch_s"]
        off = rows.loc[~rows["timeline"], "launch_s"]
        if on.empty or off.empty:
            continue
        found = True
        lines.append(f"- `{cell}`: median launch_s **{on.median():.2f} s** with timeline "
                     f"(n={len(on)}) against **{off.median():.2f} s** without (n={len(off)}): "
                     f"+{on.median() - off.median():.2f} s, a slowdown of "
                     f"**{on.median() / off.median():.2f}x**.")
    if not found:
        lines.append("- No cell of this run was measured both with and without timeline. "
                     "Measure it with a sweep of the same cell: "
                     "`lgbench -m timeline=false,true ...`.")
    dump = summary[summary["stage"] == "verbose dump"]
    for _, row in dump.iterrows():
        lines.append(f"- `{row['cell']}`: /init's diagnostic dump, printed only in verbose mode "
                     f"(stage `verbose dump`), alone takes a median {row['median']:.2f} s.")
    return lines


def boot_stages(run_dirs: list[Path], out_dir: Path, trials: pd.DataFrame,
                metadata: list[dict[str, Any]]) -> tuple[list[str], list[Path]]:
    """For runs with events: stages.parquet, plots/stages.png, plots/timeline*.png (one
    representative trial per cell) and the lines of "## Boot stages". Nothing otherwise."""
    events = read_events(run_dirs)
    if events is None:
        return [], []
    stage_rows = timeline.stages(events, stage_markers(metadata))
    store.write_frame_parquet(out_dir / store.STAGES_FILE, stage_rows)
    # Statistics on trials that succeeded; stages.parquet keeps every trial.
    ok_keys = (trials.loc[trials["status"] == STATUS_OK, timeline.TRIAL_KEY]
               .drop_duplicates())
    ok_stages = stage_rows.merge(ok_keys, on=timeline.TRIAL_KEY)
    summary = timeline.stage_summary(ok_stages)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures = {"stages.png": plots.stage_bars(summary)}
    lines = ["## Boot stages", "",
             "Each trial's timestamped libguestfs events (console, library and trace messages) "
             "split into stages by the markers of `conf/stages/` (recorded in metadata.json); a "
             "stage lasts until the next one found starts. One row per trial and stage in "
             f"`{store.STAGES_FILE}`. Seconds since the instance's release; median and mean over "
             "ok trials, warm-ups excluded; `median_start` orders the stages.", ""]
    if summary.empty:
        lines.append("No successful non-warm-up trial has events to split.")
    else:
        lines.append(summary.to_markdown(index=False, floatfmt=".3f"))
    lines.append("")
    for i, (cell, rows) in enumerate(ok_stages.groupby("cell", sort=False)):
        trial = timeline.representative_trial(rows)
        if trial.empty:
            continue
        name = "timeline.png" if i == 0 else f"timeline-{i + 1}.png"
        figures[name] = plots.trial_timeline(trial)
        first = trial.iloc[0]
        lines.append(f"- `plots/{name}`: `{cell}`, repetition {first['repetition']}, instance "
                     f"{first['instance']}, the trial whose total ({trial['duration'].sum():.2f}"
                     " s from the first stage) is closest to the cell's median.")
    lines += ["", *verbose_cost_lines(trials, summary)]
    paths = []
    for name, figure in figures.items():
        path = out_dir / "plots" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(figure)
        paths.append(path)
    return lines, paths
