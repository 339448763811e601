"""UML against the other backend of the run (launch, transfers and, with timeline=true, each
boot stage), and guestfs-performance(1)'s UML sentences checked against it."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from harness.analysis import guide
from harness.analysis.compare import COMPARISON_METRICS, METHOD, pair_up
from harness.analysis.stages import stage_pairs
from harness.analysis.summary import measured_trials
from harness.analysis.uml_claims import check_claims
from harness.plotting.comparison import ratio_chart
from harness.reporting.studies.base import Rows, Study
from harness.reporting.text import code, markdown_table, md, number
from harness.results import store

UML_BACKEND = "uml"
DIRECT_BACKENDS = ("auto", "kvm", "tcg")  # libguestfs's direct backend, by accelerator
# What the guide's UML sentences are judged on: the launch, and each way of a transfer.
CLAIM_METRICS = ("launch_s", "upload_s", "download_s")


@dataclass(frozen=True)
class UmlComparison:
    trials: pd.DataFrame
    other: str  # the other backend
    accel: str  # what the other backend ran under
    virt: str  # the host's virtualization, for the guide's bare-metal/virtualized sentences
    comparison: pd.DataFrame  # UML against the other per workload, size and metric
    by_stage: pd.DataFrame | None  # the same per boot stage (timeline=true runs)
    claims: pd.DataFrame | None = None  # the guide's sentences, once the comparison is judged


class UmlStudy(Study[UmlComparison]):
    name = "uml"
    claims = (guide.UML_BAREMETAL, guide.UML_VIRTUALIZED, guide.UML_TRANSFER, guide.UML_QCOW2)

    def applies(self, rows: Rows) -> bool:
        return other_backend(rows.trials) is not None

    def analyse(self, rows: Rows, earlier: Mapping[str, Any]) -> UmlComparison:
        other = other_backend(rows.trials)
        trials = rows.trials[rows.trials["backend"].isin([UML_BACKEND, other])]
        # A sweep of experiment=assess's steps judges each cell's total in its own comparison.
        metrics = CLAIM_METRICS if "step" in rows.options.swept else COMPARISON_METRICS
        pairs = uml_pairs(trials, metrics)
        assert pairs is not None
        boot = earlier.get("boot")
        by_stage = (stage_pairs(boot.stages, stage_trials(trials), other, UML_BACKEND)
                    if boot is not None and len(pairs) else None)
        measured = measured_trials(trials)
        accel = ", ".join(sorted(measured.loc[measured["backend"] == other, "accel_effective"]
                                 .dropna().unique())) or "unknown"
        host = next((m["host"] for m in rows.metadata if m.get("host")), {})
        virt = host.get("virtual_machine") or host.get("virtualization")  # older runs
        return UmlComparison(trials, other, accel, virt or "", pairs, by_stage)

    def comparisons(self, result: UmlComparison) -> dict[str, pd.DataFrame]:
        return {"uml": result.comparison,
                **({} if result.by_stage is None else {"stages": result.by_stage})}

    def judged(self, result: UmlComparison,
               verdicts: dict[str, pd.DataFrame]) -> UmlComparison:
        return dataclasses.replace(
            result, comparison=verdicts["uml"], by_stage=verdicts.get("stages"),
            claims=check_claims(verdicts["uml"], result.trials, result.virt))

    def files(self, result: UmlComparison) -> dict[str, pd.DataFrame]:
        return {store.COMPARISON_FILE: result.comparison}

    def figures(self, result: UmlComparison) -> dict[str, Any]:
        if result.comparison.empty:
            return {}
        labels = [f"{r.metric}, {r.workload}" + ("" if pd.isna(r.size_bytes) else
                                                 f", {r.size_bytes / 2**20:g} MiB")
                  for r in result.comparison.itertuples()]
        return {"uml_ratios.png": ratio_chart(result.comparison, labels,
                                              f"uml against {result.other}")}

    def expectations(self, result: UmlComparison) -> list[guide.Expectation]:
        if result.claims is None:
            return []
        by_words = {claim.words: claim for claim in self.claims}
        return [guide.Expectation(by_words[row.claim], row.verdict, row.measured)
                for row in result.claims.itertuples()]

    def section(self, result: UmlComparison) -> list[str]:
        return comparison_section(result)


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


def other_backend(trials: pd.DataFrame) -> str | None:
    """The backend UML is held against: the run's one other backend or, where it has more
    (experiment=assess: the direct backend and libvirt), its one direct backend."""
    backends = set(trials["backend"].dropna())
    others = sorted(backends - {UML_BACKEND})
    if len(others) > 1:
        others = [backend for backend in others if backend in DIRECT_BACKENDS]
    return others[0] if UML_BACKEND in backends and len(others) == 1 else None


def uml_pairs(trials: pd.DataFrame, metrics: tuple[str, ...] = COMPARISON_METRICS
              ) -> pd.DataFrame | None:
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
    return pair_up(plain, "backend", metrics, baseline=others[0])


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


def comparison_section(result: UmlComparison) -> list[str]:
    """UML/other ratios with their intervals, the guide's UML claims checked against them; led
    by the stage-by-stage table when the run recorded a timeline."""
    comparison, by_stage, claims = result.comparison, result.by_stage, result.claims
    other = comparison["baseline"].iloc[0] if len(comparison) else "the other backend"
    accel = result.accel if len(comparison) else "unknown"
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
