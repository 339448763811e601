"""Where a launch goes: libguestfs events, timestamped, turned into boot stages.

A trial with `timeline=true` records every library, trace, warning and appliance-console
message with its time since the instance was released (EventLog, in the worker). Stages are
derived afterwards from those events by the regular-expression markers in conf/stages/, so
they can be recomputed from events.parquet without re-running.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import pandas as pd

from harness.analysis.compare import SAMPLES, sides
from harness.analysis.summary import median_ci
from harness.results.records import STATUS_OK

# A trial's identity in events.parquet and stages.parquet.
TRIAL_KEY = ["run_id", "cell", "repetition", "instance", "warmup"]
STAGE_COLUMNS = [*TRIAL_KEY, "stage", "start", "end", "duration"]
SUMMARY_COLUMNS = ["cell", "stage", "n", "median", "mean", "median_start"]


@dataclass(frozen=True)
class Marker:
    """One way a stage shows its start: an event of `kind` (None: any) matching `pattern`.

    With `printk`, the start is moved back to when the kernel's clock read 0, as the stage's
    `[   seconds]` console lines tell: a kernel holds its first messages until its console is
    up, so the marker line itself arrives late (most under UML).
    """

    stage: str
    kind: str | None
    pattern: re.Pattern[str]
    printk: bool = False

    def matches(self, kind: str, message: str) -> bool:
        return self.kind in (None, kind) and self.pattern.search(message) is not None


def compile_markers(markers: Iterable[Mapping[str, Any]]) -> dict[str, list[Marker]]:
    """The configured {stage, kind, pattern} entries by stage, in the order of each stage's
    first entry, their regular expressions compiled."""
    by_stage: dict[str, list[Marker]] = {}
    for entry in markers:
        try:
            pattern = re.compile(entry["pattern"])
        except re.error as exc:
            raise ValueError(f"stage {entry['stage']!r}: bad pattern "
                             f"{entry['pattern']!r}: {exc}") from exc
        marker = Marker(entry["stage"], entry.get("kind"), pattern,
                        bool(entry.get("printk", False)))
        by_stage.setdefault(marker.stage, []).append(marker)
    return by_stage


def default_markers() -> list[dict[str, Any]]:
    """The markers of conf/stages/default.yaml (for runs recorded before the `stages` group)."""
    import yaml

    text = resources.files("harness.conf").joinpath("stages/default.yaml").read_text()
    return yaml.safe_load(text)["markers"]


def _trial_stages(kinds: list[str], messages: list[str], times: list[float],
                  by_stage: dict[str, list[Marker]]) -> list[tuple[str, float, float]]:
    """(stage, start, end) of one trial whose events are in time order."""
    starts = []  # (stage, index of the event that starts it)
    position = 0
    for stage, markers in by_stage.items():
        found = next((i for i in range(position, len(messages))
                      if any(m.matches(kinds[i], messages[i]) for m in markers)), None)
        if found is not None:
            starts.append((stage, found))
            position = found + 1
    if not starts:
        return []
    bounds = [times[i] for _, i in starts] + [times[-1]]
    for n, (stage, i) in enumerate(starts):
        if n > 0 and any(m.printk for m in by_stage[stage]):
            end = starts[n + 1][1] if n + 1 < len(starts) else len(times)
            kernel_zero = _kernel_zero(kinds[i:end], messages[i:end], times[i:end])
            if kernel_zero is not None:  # never before the previous stage's start
                bounds[n] = min(bounds[n], max(bounds[n - 1], kernel_zero))
    return [(stage, bounds[n], bounds[n + 1]) for n, (stage, _) in enumerate(starts)]


PRINTK = re.compile(r"\[\s*(\d+\.\d+)\]")


def _kernel_zero(kinds: list[str], messages: list[str], times: list[float]) -> float | None:
    """When the kernel's printk clock read 0, in trial time: the earliest arrival minus
    printk stamp among these console lines (a line is printed at, never before, its stamp)."""
    zeros = [t - float(match[1]) for kind, message, t in zip(kinds, messages, times, strict=True)
             if kind == "appliance" and (match := PRINTK.search(message))]
    return min(zeros) if zeros else None


def stages(events: pd.DataFrame, markers: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Boot stages of every trial in `events` (the columns of events.parquet): the trial key,
    stage, start, end and duration in seconds since the instance's release.

    Stages are tried in the order of their first marker. A stage starts at the first event,
    after the previous stage's start, that one of its markers matches, and ends where the next
    stage found starts; the last one ends at the trial's last event. A stage that no marker
    finds is left out, so a trial's durations add up to its span from the first stage found.
    """
    by_stage = compile_markers(markers)
    rows = []
    ordered = events.sort_values("t_s", kind="stable")
    for key, trial in ordered.groupby(TRIAL_KEY, sort=False):
        found = _trial_stages(list(trial["kind"]), list(trial["message"]), list(trial["t_s"]),
                              by_stage)
        rows += [(*key, stage, start, end, end - start) for stage, start, end in found]
    return pd.DataFrame(rows, columns=STAGE_COLUMNS)


def stage_summary(stage_rows: pd.DataFrame) -> pd.DataFrame:
    """Per cell and stage, warm-ups excluded: n trials, median and mean duration, and the
    median start; stages in the order they start."""
    measured = stage_rows[~stage_rows["warmup"].astype(bool)]
    summary = (measured.groupby(["cell", "stage"], sort=False)
               .agg(n=("duration", "size"), median=("duration", "median"),
                    mean=("duration", "mean"), median_start=("start", "median"))
               .reset_index())
    cells = list(pd.unique(measured["cell"]))
    summary["cell_order"] = summary["cell"].map(cells.index)
    return (summary.sort_values(["cell_order", "median_start"], kind="stable")
            .drop(columns="cell_order").reset_index(drop=True)[SUMMARY_COLUMNS])


def stage_order(summary: pd.DataFrame) -> list[str]:
    """All stages of `summary` (rows in start order per cell) in one order: a stage one cell
    lacks (no firmware under UML) keeps its place after the stage that precedes it elsewhere."""
    order: list[str] = []
    for _, rows in summary.groupby("cell", sort=False):
        previous = -1
        for stage in rows["stage"]:
            if stage not in order:
                order.insert(previous + 1, stage)
            previous = order.index(stage)
    return order


def trial_totals(stage_rows: pd.DataFrame) -> pd.DataFrame:
    """Per trial: the span its stages cover (first stage's start to the trial's last event)."""
    return (stage_rows.groupby(TRIAL_KEY, sort=False)["duration"].sum()
            .rename("total").reset_index())


def representative_trial(stage_rows: pd.DataFrame) -> pd.DataFrame:
    """The stages of the non-warm-up trial whose total is closest to the median total (the
    first such trial on a tie); empty when there is no non-warm-up trial."""
    measured = stage_rows[~stage_rows["warmup"].astype(bool)]
    if measured.empty:
        return measured
    totals = trial_totals(measured)
    distance = (totals["total"] - totals["total"].median()).abs()
    chosen = totals.loc[distance.idxmin(), TRIAL_KEY]
    same = (measured[TRIAL_KEY] == chosen.to_numpy()).all(axis=1)
    return measured[same].reset_index(drop=True)


def configured_markers(metadata: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The markers the runs were configured with (config `stages`), else conf/stages/default."""
    for meta in metadata:
        markers = (meta.get("config", {}).get("stages") or {}).get("markers")
        if markers:
            return markers
    return default_markers()


@dataclass(frozen=True)
class BootStages:
    """The stages of timeline=true trials: every trial's (written to stages.parquet), the
    summary over ok trials and one representative ok trial per cell."""

    rows: pd.DataFrame
    ok_rows: pd.DataFrame  # the stages of the trials that succeeded
    summary: pd.DataFrame
    representatives: dict[str, pd.DataFrame]  # cell -> its representative trial's stages


def boot_stages(events: pd.DataFrame, markers: list[dict[str, Any]],
                trials: pd.DataFrame) -> BootStages:
    """Stages of every trial with events; statistics on the trials that succeeded."""
    rows = stages(events, markers)
    ok_keys = trials.loc[trials["status"] == STATUS_OK, TRIAL_KEY].drop_duplicates()
    ok_stages = rows.merge(ok_keys, on=TRIAL_KEY)
    representatives = {cell: representative_trial(cell_rows)
                       for cell, cell_rows in ok_stages.groupby("cell", sort=False)}
    return BootStages(rows, ok_stages, stage_summary(ok_stages),
                      {cell: trial for cell, trial in representatives.items() if not trial.empty})


def stage_pairs(boot: BootStages, trials: pd.DataFrame, baseline: str, candidate: str
                ) -> pd.DataFrame:
    """Per boot stage, the candidate backend (UML) against the baseline (TCG or KVM) on their
    measured ok trials: n, median with its CI on each side, and the samples
    harness.analysis.compare judges (paired by round where interleaved). Stages in boot
    order; a stage one side lacks (no firmware under UML) is left out, as there is nothing to
    divide."""
    columns = [*TRIAL_KEY, "backend", *(["round"] if "round" in trials.columns else [])]
    backends = trials[columns].drop_duplicates(TRIAL_KEY)
    rows = boot.ok_rows.merge(backends, on=TRIAL_KEY)
    rows = rows[~rows["warmup"].astype(bool)]
    records = []
    for stage in stage_order(boot.summary):
        durations = rows[rows["stage"] == stage]
        base = durations[durations["backend"] == baseline]
        other = durations[durations["backend"] == candidate]
        a, b = base["duration"].to_numpy(dtype=float), other["duration"].to_numpy(dtype=float)
        if len(a) == 0 or len(b) == 0:
            continue
        (a_low, a_high, _), (b_low, b_high, _) = median_ci(a), median_ci(b)
        records.append({"stage": stage, "baseline": baseline, "candidate": candidate,
                        **sides(a, b, _by_round(base, other)), "baseline_ci_low": a_low,
                        "baseline_ci_high": a_high, "candidate_ci_low": b_low,
                        "candidate_ci_high": b_high})
    return pd.DataFrame(records, columns=[
        "stage", "baseline", "candidate", "n_baseline", "n_candidate", "median_baseline",
        "baseline_ci_low", "baseline_ci_high", "median_candidate", "candidate_ci_low",
        "candidate_ci_high", SAMPLES])


def _by_round(base: pd.DataFrame, other: pd.DataFrame) -> tuple | None:
    """Both sides' stage durations in the interleaved rounds they share (a round's median
    instance), or None where the trials were not interleaved."""
    if "round" not in base.columns or base["round"].isna().any() or other["round"].isna().any():
        return None
    a = base.groupby("round")["duration"].median()
    b = other.groupby("round")["duration"].median()
    shared = a.index.intersection(b.index)
    return a[shared].to_numpy(dtype=float), b[shared].to_numpy(dtype=float)
