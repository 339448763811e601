"""Parallel appliances: the makespan of N at once against N, its linear fit, the guide's
"little difference" claim, and the published figure the config names."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from harness.analysis import guide
from harness.analysis.reference import (
    Reference,
    available,
    configured_reference,
    load_reference,
)
from harness.analysis.scaling import (
    ASSUMPTION_ALPHA,
    GROWTH,
    capacity,
    compare_reference,
    growth,
    linear_fit,
    scaling_table,
)
from harness.analysis.summary import measured_trials
from harness.plotting.scaling import (
    capacity_vs_parallel,
    failures_vs_parallel,
    latency_vs_parallel,
    makespan_vs_parallel,
)
from harness.reporting.headline import short_kvm_reason
from harness.reporting.studies.base import Rows, Study
from harness.reporting.text import (
    LISTED,
    code,
    distinct,
    first_listed,
    left_out,
    listed,
    markdown_table,
    md,
    number,
)
from harness.results import store
from harness.results.records import STATUS_INFEASIBLE, STATUS_OK, STATUSES

FEW_SERIES = 3  # series whose verdicts the guide's expectation line can give one by one
SCALING_TABLE_COLUMNS = ["series", "parallel", "n_reps", "n_reps_ok", "median", "ci_low",
                         "ci_high", "efficiency", "speedup", "n_instances", "n_failed",
                         "failure_rate"]


@dataclass(frozen=True)
class Scaling:
    trials: pd.DataFrame
    metadata: list[dict[str, Any]]
    scaling: pd.DataFrame  # makespan against N per series (harness.analysis.scaling)
    fits: pd.DataFrame  # the linear fit per series
    reference_name: str | None  # the published figure the config names
    reference: Reference | None  # that figure, when lgbench ships it
    agreement: pd.DataFrame | None  # the fits against the published figure's
    conditions: dict[str, str]  # this run's side of CONDITIONS
    capacity: pd.DataFrame  # trials per hour against N per series


class ParallelStudy(Study[Scaling]):
    name = "parallel"
    claims = (guide.PARALLEL,)

    def applies(self, rows: Rows) -> bool:
        return rows.trials["parallel"].nunique() > 1

    def analyse(self, rows: Rows, earlier: Mapping[str, Any]) -> Scaling:
        scaling, fits = scaling_table(rows.trials), linear_fit(rows.trials)
        name = configured_reference(rows.metadata)
        reference = load_reference(name) if name in available() else None
        agreement = None if reference is None else compare_reference(fits, reference.frame)
        return Scaling(rows.trials, rows.metadata, scaling, fits, name, reference, agreement,
                       _run_conditions(rows.trials, scaling, rows.metadata), capacity(scaling))

    def files(self, result: Scaling) -> dict[str, pd.DataFrame]:
        return {store.SCALING_FILE: result.scaling, store.CAPACITY_FILE: result.capacity}

    def figures(self, result: Scaling) -> dict[str, Any]:
        figures = {"makespan_vs_parallel.png": makespan_vs_parallel(result.scaling, result.fits,
                                                                     result.reference),
                   "latency_vs_parallel.png": latency_vs_parallel(result.trials),
                   "capacity_vs_parallel.png": capacity_vs_parallel(result.capacity)}
        if result.scaling["n_failed"].sum():  # a plot of nothing failing says nothing
            figures["failures_vs_parallel.png"] = failures_vs_parallel(result.scaling)
        return figures

    def section(self, result: Scaling) -> list[str]:
        return parallel_section(result)

    def headline(self, result: Scaling) -> list[str]:
        lines = capacity_lines(result)
        return [f"capacity, {line}" for line in lines[:LISTED]] + (
            [f"capacity: {len(lines) - LISTED} more series in {store.CAPACITY_FILE}"]
            if len(lines) > LISTED else [])

    def document(self, result: Scaling) -> dict[str, Any]:
        return {"capacity": store.json_records(result.capacity),
                "fits": store.json_records(result.fits)}

    def expectations(self, result: Scaling) -> list[guide.Expectation]:
        found = []
        judged = result.scaling.dropna(subset=["efficiency"])
        for series, rows in judged.groupby("series", sort=False):
            if len(rows) >= 2:
                found.append(((1 / rows["efficiency"]).max(),
                              f"{series}: " + _claim_verdict(rows["parallel"],
                                                             rows["efficiency"])))
        if not found:
            return [guide.Expectation(guide.PARALLEL, guide.UNCHECKABLE, "no series with "
                                      "successful repetitions at N = 1 and a larger N")]
        short = sum(slowest > guide.LITTLE_DIFFERENCE for slowest, _ in found)
        if len(found) <= FEW_SERIES:
            said = "; ".join(text for _, text in found)
        else:  # one line cannot hold each: the count, and the series furthest from T(1)
            said = (f"{len(found) - short} of {len(found)} series hold it; the furthest from "
                    f"T(1), {max(found)[1]}")
        return [guide.Expectation(guide.PARALLEL, guide.FAILS if short else guide.HOLDS,
                                  f"read as a makespan at most "
                                  f"{guide.LITTLE_DIFFERENCE:g}x T(1): {said}")]


# How this run's conditions are set against a published figure's: (row, a word that picks the
# fragment of the reference's notes describing the same thing).
CONDITIONS = [("accelerator", "KVM"), ("CPUs", "core"), ("host memory", "RAM"),
              ("backend", "backend"), ("appliance memory", "appliance memory"),
              ("samples", "sample"), ("warm-up", "warm-up")]


def _run_conditions(trials: pd.DataFrame, scaling: pd.DataFrame,
                   metadata: list[dict[str, Any]]) -> dict[str, str]:
    """This run's side of CONDITIONS: what it ran with, from the trials and the metadata."""
    measured = measured_trials(trials)
    ok = measured[measured["status"] == STATUS_OK]
    hosts = [m["host"] for m in metadata if "host" in m]
    verdicts = [short_kvm_reason(m.get("backend", {}).get("kvm_verdict")) for m in metadata
                if m.get("backend", {}).get("kvm_verdict")]
    memsizes = [None if pd.isna(v) else int(v) for v in measured["memsize"].unique()]
    memory = distinct(f"{h['memory_bytes'] / 2**30:.1f} GiB" for h in hosts
                     if h.get("memory_bytes"))
    warmups = distinct(m["config"]["warmup"] for m in metadata if "config" in m)
    return {
        "accelerator": f"{distinct(ok['accel_effective'].unique())} "
                       f"(KVM: {distinct(verdicts) if any(verdicts) else 'not probed'})",
        "CPUs": f"{distinct(h.get('cores') for h in hosts)} logical CPUs "
                f"(virtualization: {distinct(h.get('virtualization') for h in hosts)})",
        "host memory": memory,
        "backend": distinct(measured["backend"].unique()),
        "appliance memory": (f"{distinct(memsizes)} MiB" if any(memsizes) else
                             "libguestfs's default memsize"),
        "samples": f"{distinct(scaling['n_reps'])} repetitions per N, "
                   f"N = {scaling['parallel'].min()}..{scaling['parallel'].max()}",
        "warm-up": f"{warmups} warm-up repetitions per N (one appliance each)",
    }


def _published_condition(notes: list[str], word: str) -> str:
    """The fragment of a reference's notes that mentions `word` (e.g. "bare metal (KVM
    presumed)"), so its conditions line up with this run's without being typed in again."""
    for note in notes:
        for fragment in re.split(r"[;,]\s*", note):
            if word in fragment:
                return re.sub(r"^\w[\w ]*:\s*", "", fragment).strip().rstrip(".")
    return "not stated"


def _claim_verdict(ns: pd.Series, efficiency: pd.Series) -> str:
    """Up to which N the makespan stays within the "little difference" of T(1)."""
    ns, efficiency = ns.to_numpy(), efficiency.to_numpy()
    largest = (f"at the largest N = {ns[-1]} the makespan is {1 / efficiency[-1]:.2f}x T(1) "
               f"(efficiency {efficiency[-1]:.2f})")
    short = 1 / efficiency > guide.LITTLE_DIFFERENCE
    if not short.any():
        return f"holds at every N measured: {largest}"
    first = short.argmax()  # never N = 1, whose efficiency is 1 by definition
    held = f"holds up to N = {ns[first - 1]}"
    if first == len(ns) - 1:
        return f"{held}; {largest}"
    return (f"{held}; at N = {ns[first]} the makespan is already "
            f"{1 / efficiency[first]:.2f}x T(1); {largest}")


def capacity_lines(result: Scaling) -> list[str]:
    """Per series measured at 2 or more N: the most trials per hour, at which N, and what
    limits it (memory where an N was refused for it, else whether throughput still grows at
    the largest N, by scaling.growth, or larger N gave less)."""
    cores = distinct({m["host"].get("cores") for m in result.metadata if "host" in m} - {None})
    table = result.capacity
    spans = table.groupby("series", sort=False)["parallel"].agg(["nunique", "min", "max"])
    refused = table[table["infeasible"] > 0].groupby("series")["parallel"].min()
    best = table[table["best"]].drop_duplicates("series").set_index("series")
    growing = growth(table).set_index("series")
    lines = []
    for series, span in spans[spans["nunique"] >= 2].iterrows():  # not an assess cell alone
        if series not in best.index:
            lines.append(f"{series}: no N had a repetition in which every appliance succeeded")
            continue
        top = best.loc[series]
        unit = "launches" if top["workload"] == "launch" else f"{top['workload']} trials"
        interval = (f"95% CI {top['per_hour_ci_low']:.0f}-{top['per_hour_ci_high']:.0f}"
                    if math.isfinite(top["per_hour_ci_low"]) else
                    "no 95% CI below 6 repetitions")
        if series in refused.index:
            limit = (f"memory: N = {refused[series]} was not launched, the footprint allows "
                     "fewer")
        elif top["parallel"] == span["max"]:
            grown = growing.loc[series]
            if grown["growing"]:
                limit = (f"still growing at the largest N measured ({grown['gain'] - 1:+.0%} "
                         f"over N = {grown['previous']}): a larger N may give more (measure "
                         f"parallel={top['parallel']},{2 * top['parallel']} next)")
            else:
                limit = (f"{grown['gain'] - 1:+.0%} over N = {grown['previous']}, less than "
                         f"the {GROWTH - 1:.0%} that counts as growing: throughput has stopped "
                         f"growing, the CPUs ({cores} here) are the limit")
        else:
            limit = f"larger N gave lower medians, the CPUs ({cores} here) are the limit"
        lines.append(f"{series}: {top['per_hour']:.0f} {unit} per hour at N = "
                     f"{top['parallel']} ({interval}), the highest median of N = "
                     f"{span['min']}..{span['max']}; {limit}")
    return lines


def _fit_line(fit: pd.Series, scaling: pd.DataFrame) -> str:
    series = fit["series"]
    if math.isnan(fit["slope"]):
        return f"- {code(series)}: no fit (needs successful repetitions at 2 or more N)."
    largest = scaling[scaling["series"] == series].iloc[-1]
    return (f"- {code(series)}: b = **{number(fit['slope'], '.3g')} s per extra appliance** "
            f"(95% CI {number(fit['slope_ci_low'], '.3g')} to "
            f"{number(fit['slope_ci_high'], '.3g')}), "
            f"a = {number(fit['intercept'], '.3g')} s, "
            f"r² = {number(fit['r_squared'], '.3f')}, over "
            f"N = {fit['n_min']:g}..{fit['n_max']:g} ({fit['n_points']} repetitions); "
            f"b / T(1) = {number(fit['normalized_slope'], '.3f')} "
            f"(T(1) = {number(fit['t1'], '.3g')} s); "
            f"efficiency at the largest N ({largest['parallel']}): "
            f"{number(largest['efficiency'])}.{_assumption_warnings(fit)}")


def _assumption_warnings(fit: pd.Series) -> str:
    """What the fit's own checks found against its straight, equal-spread line."""
    warnings = ""
    if fit["lack_of_fit_p"] < ASSUMPTION_ALPHA:
        warnings += (f" The makespans bend away from the line (lack-of-fit F test "
                     f"p={fit['lack_of_fit_p']:.2g}): b is the average cost of an appliance "
                     f"over N = {fit['n_min']:g}..{fit['n_max']:g}, not a constant one; the "
                     "table above gives each N.")
    if fit["spread_p"] < ASSUMPTION_ALPHA:
        warnings += (f" Their spread changes with N (Kendall's tau test p="
                     f"{fit['spread_p']:.2g}): the CIs of b and b / T(1) assume an equal spread "
                     "and are approximate.")
    return warnings


def _failure_lines(scaling: pd.DataFrame) -> list[str]:
    lines = []
    for series, rows in scaling.groupby("series", sort=False):
        failing = rows[rows["n_failed"] > 0]
        if failing.empty:
            lines.append(f"- {code(series)}: every instance succeeded at every N "
                         f"({distinct(rows['parallel'])}).")
            continue
        per_n = "; ".join(
            f"N = {r['parallel']}: {r['n_failed']} of {r['n_instances']} "
            f"({', '.join(f'{s} {r[s]}' for s in STATUSES if s != STATUS_OK and r[s])})"
            for _, r in failing.iterrows())
        lines.append(f"- {code(series)}: failed instances at {per_n}. The errors are listed under "
                     "Failures above.")
    return lines


def _claim_lines(trials: pd.DataFrame, scaling: pd.DataFrame, metadata: list[dict[str, Any]],
                 reference: Reference | None, more: list[str]) -> list[str]:
    """The guide's claim held against each series (`more`: the line standing for the series
    not listed), its memory proviso, and the CPU count."""
    lines = [f'Reading "little difference" as a makespan at most '
             f'{guide.LITTLE_DIFFERENCE:g}x T(1), the makespan of one appliance:', ""]
    for series, rows in scaling.groupby("series", sort=False):
        judged = rows.dropna(subset=["efficiency"])
        if len(judged) < 2:
            lines.append(f"- {code(series)}: cannot be judged: it needs successful repetitions at "
                         "N = 1 and at a larger N.")
        else:
            verdict = _claim_verdict(judged["parallel"], judged["efficiency"])
            lines.append(f"- {code(series)}: {verdict}.")
    lines += more
    if reference is not None:
        points = reference.frame
        t1 = points.loc[points["n_parallel"] == 1, "seconds"]
        if len(t1):
            verdict = _claim_verdict(points["n_parallel"], t1.iloc[0] / points["seconds"])
            lines.append(f"- the published figure, by the same reading: {verdict}.")

    lines += _memory_lines(trials, scaling, metadata)
    cores = {m["host"].get("cores") for m in metadata if "host" in m} - {None}
    if cores:
        lines.append(f"- CPUs: {distinct(cores)} here, so from N = {min(cores) + 1} on the "
                     "appliances share CPUs.")
    return lines


def _memory_lines(trials: pd.DataFrame, scaling: pd.DataFrame,
                  metadata: list[dict[str, Any]]) -> list[str]:
    """The guide's memory proviso: what was refused, what appliances cost, the peak in use."""
    measured = measured_trials(trials)
    infeasible = measured[measured["status"] == STATUS_INFEASIBLE]
    lines = [f"- Memory: N = {n} was not launched: {md(rows['error'].iloc[0])}."
             for n, rows in infeasible.groupby("parallel")]
    hosts = [m["host"] for m in metadata if m.get("host", {}).get("memory_bytes")]
    total = f" of {min(h['memory_bytes'] for h in hosts) / 2**30:.1f} GiB" if hosts else ""
    for series, rows in scaling.dropna(subset=["host_mem_peak_mib"]).groupby("series",
                                                                             sort=False):
        peak = rows.loc[rows["host_mem_peak_mib"].idxmax()]
        lines.append(f"- Memory, {code(series)}: at most {peak['host_mem_peak_mib'] / 1024:.1f} GiB"
                     f"{total} in use on the host (at N = {peak['parallel']}); one appliance "
                     f"cost a median {rows['appliance_cost_mib'].median():.0f} MiB (its "
                     f"hypervisor's peak resident size plus its helpers' private memory).")
    model = next((m["feasibility"] for m in metadata if "feasibility" in m), None)
    if model is not None:
        lines.append(f"- Before launching N, lgbench charged each appliance the host cost "
                     f"measured for its kind here plus a {model['margin']:.0%} margin (the "
                     f"guest's memsize + {model['unmeasured_overhead_mib']:g} MiB until one was "
                     f"measured) and refused any N that would not fit in the memory available.")
    return lines


def _agreement_line(row: pd.Series) -> str:
    series = row["series"]
    if math.isnan(row["normalized_slope"]):
        return (f"- {code(series)}: no comparison: the measured slope cannot be normalised (needs "
                "successful repetitions at N = 1 and at a larger N).")
    if not math.isfinite(row["ratio"]):
        return (f"- {code(series)}: no comparison: the published points over N = "
                f"{number(row['published_n_min'], 'g')}..{number(row['published_n_max'], 'g')} "
                "give no slope to divide by.")
    reading = row.get("published_reading_error_s", 0.0)
    reading = 0.0 if math.isnan(reading) else reading
    published_side = (f"with each published point anywhere within its reading precision "
                      f"(+/-{reading:g} s)" if reading > 0 else
                      "the published points carry no uncertainty")
    coarse = math.isinf(row["ratio_ci_high"]) and math.isfinite(row["normalized_ci_high"])
    if coarse:
        ci = (f"no upper bound: within its reading precision (+/-{reading:g} s) the published "
              f"slope over N = {number(row['published_n_min'], 'g')}.."
              f"{number(row['published_n_max'], 'g')} could be 0; a wider range of N compares")
    elif math.isinf(row["ratio_ci_high"]):
        ci = ("95% CI unbounded: by the fit's scatter, T(1) could be near 0. The line fits "
              "these makespans loosely (a bent curve, or a spread growing with N), and few "
              "N=1 runs pin T(1) down; more N=1 repetitions or a narrower range of N help")
    elif math.isnan(row["ratio_ci_low"]):
        ci = "no CI (too few repetitions)"
    else:
        ci = (f"95% CI {row['ratio_ci_low']:.2f} to {row['ratio_ci_high']:.2f}, Fieller's on "
              f"the measured slope and T(1), {published_side}")
    if coarse:
        verdict = "inconclusive: the published figure is too coarse over this range of N"
    elif math.isinf(row["ratio_ci_high"]):
        verdict = "inconclusive: these runs cannot bound the ratio"
    elif not math.isnan(row["ratio_ci_low"]) and row["ratio_ci_low"] <= 0:
        verdict = ("inconclusive: the CI reaches zero, so the measured slope is not pinned down "
                   "(more N values or repetitions narrow it)")
    elif not math.isnan(row["ratio_ci_low"]) and row["ratio_ci_low"] <= 1 <= row["ratio_ci_high"]:
        verdict = "consistent with the published figure (the CI contains 1)"
    else:
        verdict = (f"relative to one launch, the makespan here grows {row['ratio']:.2f}x as fast "
                   "as published")
    return (f"- {code(series)}: measured b / T(1) = **{row['normalized_slope']:.3f}** per extra "
            f"appliance (95% CI {number(row['normalized_ci_low'], '.3f')} to "
            f"{number(row['normalized_ci_high'], '.3f')}) over N = "
            f"{row['n_min']:g}..{row['n_max']:g}; "
            f"published **{row['published_normalized_slope']:.3f}** "
            f"({row['published_slope']:.3f} s per extra appliance / T(1) "
            f"{row['published_t1']:.2f} s, fitted on its points N = "
            f"{row['published_n_min']:g}..{row['published_n_max']:g}); ratio measured / "
            f"published **{row['ratio']:.2f}** ({ci}): {verdict}.")


def _agreement_section(comparison: pd.DataFrame, reference: Reference,
                       conditions: dict[str, str]) -> list[str]:
    """Measured against published slope, both normalised by their N=1 time, and what differs."""
    lines = ["### Agreement with the published figure", "",
             f"{code(reference.name)}, as its CSV's comment lines describe it:", ""]
    lines += [f"> - {note}" for note in reference.notes]
    lines += ["", "Slopes normalised by each side's N=1 makespan, so hosts of different speed "
              "compare:", ""]
    lines += [_agreement_line(row) for _, row in comparison.iterrows()]
    lines += ["", "What differs (the published side as the CSV's notes state it):", "",
              "| | this run | published |", "|---|---|---|"]
    lines += [f"| {label} | {conditions[label]} | {_published_condition(reference.notes, word)} |"
              for label, word in CONDITIONS]
    if not conditions["accelerator"].startswith("kvm "):
        lines += ["", "The accelerator differs: without KVM each appliance's CPU is emulated, so "
                  "the appliances are CPU-bound and compete for the host's CPUs rather than "
                  "waiting on I/O as the performance guide assumes; a steeper normalised slope is "
                  "expected."]
    return lines


def parallel_section(result: Scaling) -> list[str]:
    """The "## Parallel appliances" part of report.md."""
    trials, scaling, fits = result.trials, result.scaling, result.fits
    metadata, reference, conditions = result.metadata, result.reference, result.conditions
    shown, hidden = first_listed(scaling, "series")
    more = [left_out(hidden, f"series: each in `{store.SCALING_FILE}`")] if hidden else []
    lines = ["## Parallel appliances", "",
             "N appliances are released together; the makespan runs from their release until "
             "the last one is closed. Median makespan of the repetitions in which every "
             "instance succeeded, with a distribution-free 95% CI (none below 6 "
             "repetitions); efficiency = T(1)/T(N) (1: N appliances take as long as one), "
             "speedup = N·T(1)/T(N) (against launching them one after another). Times in "
             f"seconds; the table is also in `{store.SCALING_FILE}`.", "",
             f"Ran with accelerator **{conditions['accelerator']}** on "
             f"**{conditions['CPUs']}**.", "",
             "lgbench forks one worker process per appliance (each its own process group, so "
             "a timeout or Ctrl-C ends every qemu); the performance guide's script launched N "
             "handles as "
             "threads of one process. `benchmarks/parallel_modes.py` (`make bench`) times both "
             "on the same host, interleaved.", "",
             markdown_table(shown[SCALING_TABLE_COLUMNS], floatfmt=".3f"),
             *([] if not hidden else
               ["", f"The first {LISTED} series; {hidden} more are in "
                    f"`{store.SCALING_FILE}`."]),
             "", "### Linear fit: makespan = a + b·N", ""]
    lines += [_fit_line(fit, scaling) for _, fit in fits.head(LISTED).iterrows()]
    if len(fits) > LISTED:
        lines.append(left_out(len(fits) - LISTED, "series: each fit in `summary.json`"))
    lines += ["", "### Capacity: what the host sustains", "",
              "Trials finished per hour with N appliances at once: N x 3600 / the median "
              "makespan, its 95% CI the median's (also in "
              f"`{store.CAPACITY_FILE}`); the best N has the highest median.", "",
              *listed([f"- {md(line)}" for line in capacity_lines(result)],
                      f"series: each in `{store.CAPACITY_FILE}`")]
    lines += ["", "### Failures against N", "", *_failure_lines(shown), *more]
    lines += ["", "### The performance guide's claim", "", *guide.PARALLEL.quote(), ""]
    lines += _claim_lines(trials, shown, metadata, reference, more)
    name = result.reference_name
    if reference is not None and result.agreement is not None:
        lines += ["", *_agreement_section(result.agreement, reference, conditions)]
    elif name:
        lines += ["", f"The configured reference {code(name)} is not a published figure lgbench "
                  f"ships ({distinct(available())}); nothing was overlaid."]
    return lines
