"""What report.md says first: one sentence per cell with its answer (its time, the CI, the
performance guide's expectation where there is one), and why KVM was not used, in a few words."""

from __future__ import annotations

import math
import re
from typing import Any

import pandas as pd

from harness.analysis import guide
from harness.analysis.summary import measured_trials
from harness.reporting.text import LISTED, code, left_out, md
from harness.results.records import repetition_metric

REASON_LENGTH = 160  # characters of a KVM verdict kept in the report (metadata.json has it all)


def short_kvm_reason(reason: str | None) -> str:
    """The cause of a KVM verdict: what the appliance said (not libguestfs's generic advice),
    its first line, and the CPU flags note."""
    if not reason:
        return "not probed"
    cause = reason.split(" | appliance: ", 1)[-1] if " | appliance: " in reason else reason
    cause = cause.split(" / ")[0].strip()
    flags = re.search(r"\(CPU flags: [^)]*\)", reason)
    if len(cause) > REASON_LENGTH:
        cause = cause[:REASON_LENGTH - 3].rstrip() + "..."
    return f"{cause} {flags.group(0)}" if flags and flags.group(0) not in cause else cause


def cell_sentence(row: pd.Series, accel: str) -> str:
    """`cell`: what it measured (median, 95% CI), against the performance guide's launch figure."""
    total = "launch+close" if row.get("workload") in (None, "launch") else "launch, work, close"
    what = {"total_s": total, "makespan_s": "makespan"}.get(row["metric"], md(row["metric"]))
    if row["n_ok"] == 0:
        return f"- {code(row['cell'])}: no successful trial of {row['n']}."
    interval = (f"95% CI {row['ci_low']:.3g}-{row['ci_high']:.3g} s"
                if not math.isnan(row["ci_low"]) else
                f"no 95% CI from {row['n_ok']} value{'s' if row['n_ok'] != 1 else ''}")
    sentence = (f"- {code(row['cell'])}: {what} **{row['median']:.3g} s** ({interval}) under "
                f"{md(accel)}")
    if row.get("workload") == "launch" and row["metric"] == "total_s":
        sentence += (f", {row['median'] / guide.LAUNCH_UNDER_S:.1f}x the performance guide's "
                     f"{guide.LAUNCH_UNDER_S:g} s expectation")
    if row["n_ok"] < row["n"]:
        sentence += f"; {row['n'] - row['n_ok']} of {row['n']} trials failed"
    return sentence + "."


def headline_lines(summary: pd.DataFrame, trials: pd.DataFrame,
                   metadata: list[dict[str, Any]]) -> list[str]:
    """The answer per cell (makespan for N > 1, else launch+close), then KVM's verdict."""
    measured = measured_trials(trials[["cell", "warmup", "parallel", "workload", "status",
                                       "accel_effective"]])
    parallel = measured.groupby("cell")["parallel"].max()
    workload = measured.groupby("cell")["workload"].first()
    ran = measured[measured["status"] == "ok"].groupby("cell")["accel_effective"].unique()
    wanted = summary["metric"] == summary["cell"].map(
        lambda cell: repetition_metric(parallel.get(cell, 1)))
    first = summary[wanted].drop_duplicates("cell").set_index("cell", drop=False)
    cells = [cell for cell in pd.unique(summary["cell"]) if cell in first.index]
    lines = []
    for cell in cells[:LISTED]:
        row = first.loc[cell].copy()
        row["workload"] = workload.get(cell)
        accels = sorted(str(a).upper() for a in ran.get(cell, []) if pd.notna(a))
        lines.append(cell_sentence(row, "/".join(accels) or "no accelerator"))
    if len(cells) > LISTED:
        lines.append(left_out(len(cells) - LISTED, "cells: each in summary.csv"))
    backends = [m.get("backend", {}) for m in metadata]
    verdicts = {(b.get("accel") == "kvm", short_kvm_reason(b["kvm_verdict"]))
                for b in backends if b.get("kvm_verdict")}
    lines += [f"- KVM {'usable' if usable else 'unusable'} here: {md(reason)}."
              for usable, reason in sorted(verdicts)]
    return lines
