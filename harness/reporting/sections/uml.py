"""## UML against the other backend of the run, and the guide's UML claims checked against it.
"""

from __future__ import annotations

import pandas as pd

from harness.analysis.compare import COMPARISON_METRICS, METHOD, pair_up
from harness.analysis.summary import measured_trials
from harness.reporting.text import code, markdown_table, md, number

UML_BACKEND = "uml"


def plain_trials(trials: pd.DataFrame, timeline: bool = False) -> pd.DataFrame:
    """The trials run as libguestfs would run them (no extra kernel words), with or without
    a timeline: verbose mode slows a launch, so the two are never pooled."""
    recorded = trials.get("timeline", pd.Series(False, index=trials.index)).fillna(False)
    appended = trials.get("append", pd.Series("", index=trials.index)).fillna("")
    return trials[(recorded.astype(bool) == timeline) & (appended == "")]


def stage_trials(trials: pd.DataFrame) -> pd.DataFrame:
    """The plain timeline trials whose stages are set side by side: the launch workload's
    where the run has it (its last stage is a bare close; another workload's is its work)."""
    timed = plain_trials(trials, timeline=True)
    launch = timed[timed["workload"] == "launch"]
    return launch if len(launch) else timed


def uml_pairs(trials: pd.DataFrame) -> pd.DataFrame | None:
    """UML against the other backend of the run (harness.analysis.compare's rows, to be
    judged), when a run has UML and exactly one other; on the plain trials (those without a
    timeline), or the timeline ones if that is all."""
    backends = set(trials["backend"])
    others = sorted(backends - {UML_BACKEND})
    if UML_BACKEND not in backends or len(others) != 1:
        return None
    plain = plain_trials(trials)
    if not set(plain["backend"]) >= {UML_BACKEND, others[0]}:
        plain = plain_trials(trials, timeline=True)
    if "size_bytes" not in plain.columns:  # a transfer's sizes are a key of the rows
        plain = plain.assign(size_bytes=float("nan"))
    return pair_up(plain, "backend", COMPARISON_METRICS, baseline=others[0])


def stage_lines(by_stage: pd.DataFrame) -> list[str]:
    """The side-by-side stage table: where each backend's launch goes, and the ratio."""
    if by_stage.empty:
        return []
    uml, other = by_stage["candidate"].iloc[0], by_stage["baseline"].iloc[0]

    def median(value: float, low: float, high: float) -> str:
        ci = "" if pd.isna(low) else f" ({number(low, '.3g')}-{number(high, '.3g')})"
        return f"{number(value, '.3g')}{ci}"

    table = pd.DataFrame({
        "stage": by_stage["stage"],
        f"{uml} (s)": [median(r.median_candidate, r.candidate_ci_low, r.candidate_ci_high)
                       for r in by_stage.itertuples()],
        f"{other} (s)": [median(r.median_baseline, r.baseline_ci_low, r.baseline_ci_high)
                         for r in by_stage.itertuples()],
        f"{uml} / {other}": [number(r, ".2f") for r in by_stage["ratio"]],
        "verdict": by_stage["verdict"]})
    return ["### Where the launch goes, stage by stage", "",
            f"Median duration of each boot stage (timeline=true) under {md(uml)} and "
            f"{md(other)} in this run, with its 95% CI where 6 or more trials allow one; the "
            f"ratio and the verdict as in every comparison. {METHOD} A stage only one side has "
            "(firmware: none under UML) is left out.", "",
            markdown_table(table, disable_numparse=True), ""]


def comparison_section(comparison: pd.DataFrame, trials: pd.DataFrame,
                       by_stage: pd.DataFrame | None = None,
                       claims: pd.DataFrame | None = None) -> list[str]:
    """UML/other ratios with CIs and p-values, the guide's UML claims checked against them; led
    by the stage-by-stage table when the run recorded a timeline."""
    measured = measured_trials(trials)
    other = comparison["baseline"].iloc[0] if len(comparison) else "the other backend"
    accel = ", ".join(sorted(measured.loc[measured["backend"] == other, "accel_effective"]
                             .dropna().unique())) or "unknown"
    lines = [f"## UML against {code(other)} (ran under {md(accel)})", ""]
    if by_stage is not None:
        lines += stage_lines(by_stage)
    lines += [METHOD, ""]
    if comparison.empty:
        lines.append("No metric has successful trials on both sides.")
    else:
        keys = [c for c in ("workload", "size_bytes") if c in comparison.columns
                and comparison[c].nunique() > 1]
        table = comparison[[*keys, "metric", "n_baseline", "n_candidate", "median_baseline",
                            "median_candidate", "ratio", "ratio_ci_low", "ratio_ci_high",
                            "verdict"]]
        lines.append(markdown_table(table, floatfmt=".3g"))
    if claims is not None:
        lines += ["", "### The performance guide's UML claims, checked here", "",
                  "Each sentence of guestfs-performance(1) USING USER-MODE LINUX against this "
                  "run: a verdict needs the ratio's interval wholly on one side of the performance "
                  "guide's "
                  "bound (\"the same or slightly slower\": 0.8x-1.25x).", "",
                  markdown_table(claims), ""]
    # One launch line per workload (a transfer's sizes share their launch).
    launch = comparison[comparison["metric"] == "launch_s"].drop_duplicates("workload")
    for _, row in launch.iterrows():
        lines += ["", f"Measured here, launch against {code(other)} under {md(accel)} "
                      f"(workload {md(row['workload'])}): UML takes {row['ratio']:.2f}x the "
                      f"time: {md(row['verdict'])}."]
    if accel != "kvm":
        lines += ["", f"{code(other)} did not run under KVM, so this is UML against software "
                      "emulation: the performance guide's 'under virtualization' case, not its "
                      "bare-metal one."]
    return lines


def shim_section(cost: pd.DataFrame) -> list[str]:
    """What lgbench's relay adds to UML, against a direct channel measured in the same run."""
    lines = ["## What lgbench's UML shim costs", "",
             "libguestfs 1.48 has no UML backend: lgbench's shim runs linux.uml, and by default "
             "a relay carries the appliance's channel (`uml_channel` relay). "
             "`backend.relay=direct` gives libguestfs's socket to UML itself, as libguestfs's "
             "own UML backend did. Overhead: the ratio relay / direct minus 1, with its "
             f"interval. {METHOD}", ""]
    if cost.empty:
        return [*lines, "No metric has successful trials on both channels."]

    def percent(value: float) -> str:
        return "n/a" if pd.isna(value) else f"{value * 100:+.1f}%"

    table = pd.DataFrame({
        "cell (direct side)": cost["baseline_cell"], "metric": cost["metric"],
        "n": [f"{a} vs {b}" for a, b in zip(cost["n_baseline"], cost["n_candidate"],
                                              strict=True)],
        "direct (s)": [number(v, ".3g") for v in cost["median_baseline"]],
        "relay (s)": [number(v, ".3g") for v in cost["median_candidate"]],
        "overhead (interval)": [f"{percent(r.overhead)} ({percent(r.overhead_ci_low)} to "
                              f"{percent(r.overhead_ci_high)})" for r in cost.itertuples()],
        "verdict": cost["verdict"]})
    return [*lines, markdown_table(table, disable_numparse=True)]
