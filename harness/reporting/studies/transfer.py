"""Upload and download: the bandwidth model t = t0 + size / bandwidth per series, checksums,
the aggregate bandwidth of N appliances, and UML's bandwidth against the other backends'."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from harness.analysis import guide
from harness.analysis.summary import measured_trials
from harness.analysis.transfer import (
    TRANSFER_WORKLOAD,
    MiB,
    aggregate_bandwidth,
    bandwidth_ratio,
    has_transfers,
    model_rows,
    transfer_model,
)
from harness.plotting.transfer import throughput_vs_size
from harness.reporting.studies.base import Rows, Study
from harness.reporting.text import code, distinct, estimate, markdown_table, md, number
from harness.results.records import STATUS_OK, STATUSES

UML_BACKEND = "uml"


@dataclass(frozen=True)
class Transfers:
    trials: pd.DataFrame  # every trial of the run (the checksums count warm-ups too)
    model: pd.DataFrame  # t = t0 + size / bandwidth per series and direction
    aggregate: pd.DataFrame | None  # per cell, N, size and direction, when N > 1 ran
    ratios: dict[str, pd.DataFrame]  # UML's bandwidth over each other backend's


class TransferStudy(Study[Transfers]):
    name = "transfer"

    def applies(self, rows: Rows) -> bool:
        return has_transfers(rows.trials)

    def analyse(self, rows: Rows, earlier: Mapping[str, Any]) -> Transfers:
        trials = rows.trials
        model = transfer_model(trials)
        aggregate = aggregate_bandwidth(trials)
        table = None
        if (aggregate["parallel"] > 1).any():
            aggregate = aggregate.assign(size_mib=aggregate["size_bytes"] / MiB)
            table = (aggregate.groupby(["cell", "parallel", "size_mib", "direction"], sort=False)
                     .agg(repetitions=("repetition", "size"),
                          complete=("aggregate_mib_s", "count"),
                          median_mib_s=("aggregate_mib_s", "median"),
                          min_mib_s=("aggregate_mib_s", "min"),
                          max_mib_s=("aggregate_mib_s", "max"),
                          median_overlap=("overlap", "median"))
                     .reset_index())
        backends = set(measured_trials(trials[trials["workload"] == TRANSFER_WORKLOAD])["backend"])
        ratios = ({other: bandwidth_ratio(model, UML_BACKEND, other)
                   for other in sorted(backends - {UML_BACKEND})}
                  if UML_BACKEND in backends else {})
        return Transfers(trials, model, table, ratios)

    def summary_rows(self, result: Transfers) -> pd.DataFrame:
        return model_rows(result.model)

    def figures(self, result: Transfers) -> dict[str, Any]:
        return {"throughput_vs_size.png": throughput_vs_size(result.trials, result.model)}

    def section(self, result: Transfers) -> list[str]:
        return transfer_section(result)


ONE_SIZE = "n/a: one size (a fit needs two)"


def _model_table(model: pd.DataFrame) -> str:
    """The transfer model per series and direction as a markdown table."""
    rows = []
    for _, fit in model.iterrows():
        sizes = (f"{fit['size_min_mib']:g} to {fit['size_max_mib']:g}" if fit["n"] else "none")
        one_size = fit["n_sizes"] == 1  # t0 and the bandwidth need two sizes or more
        if one_size:
            sizes = f"{fit['size_min_mib']:g} only"
        rows.append({
            "series": fit["series"], "direction": fit["direction"],
            "ran under": fit["accel_effective"] or "n/a", "transfers": fit["n"],
            "sizes (MiB)": sizes,
            "overhead t0 (ms), 95% CI": ONE_SIZE if one_size else estimate(
                fit["overhead_ms"], fit["overhead_ci_low"], fit["overhead_ci_high"], ".1f"),
            "bandwidth (MiB/s), 95% CI": ONE_SIZE if one_size else estimate(
                fit["bandwidth_mib_s"], fit["bandwidth_ci_low"], fit["bandwidth_ci_high"],
                ".4g"),
            "r²": number(fit["r2"], ".3f")})
    return markdown_table(pd.DataFrame(rows), disable_numparse=True)


def _checksum_lines(trials: pd.DataFrame) -> list[str]:
    """Whether every transfer came back intact, warm-ups included: wrong data is never fine."""
    transfers = trials[trials["workload"] == TRANSFER_WORKLOAD]
    done = transfers.dropna(subset=["size_bytes"])
    bad = done[~done["sha_ok"].astype(bool)]
    if bad.empty:
        lines = [f"- SHA-256 matched both ways on all {len(done)} transfers (warm-ups "
                 "included)."]
    else:
        lines = [f"- **{len(bad)} of {len(done)} transfers failed the SHA-256 check** (warm-ups "
                 "included; error rows, left out of the model):"]
        lines += [f"  - {code(row['cell'])}, {int(row['size_bytes'])} bytes, repetition "
                  f"{md(row['repetition'])}, instance {md(row['instance'])}: {md(row['error'])}"
                  for _, row in bad.iterrows()]
    undone = len(transfers) - len(done)
    if undone:
        lines.append(f"- {undone} trial rows ended before any transfer (see Failures).")
    return lines


def _aggregate_lines(table: pd.DataFrame) -> list[str]:
    """Aggregate bandwidth per cell, size and direction: median over repetitions."""
    return ["### Aggregate bandwidth (N appliances at once)", "",
            "Per repetition: N × size / (last end − first start) over the N instances' "
            "transfers of one size, in MiB/s; `complete` counts the repetitions in which every "
            "instance's transfer was ok. Each appliance goes through the sizes on its own, so "
            "`median_overlap` gives the share of that span in which two or more transfers ran "
            "at once (1: all along, 0: one after another); with little overlap the aggregate "
            "is not a concurrent bandwidth.", "",
            markdown_table(table, floatfmt=".3g")]


def _backend_run(measured: pd.DataFrame, backend: str) -> str:
    """`backend` (what it ran under), or its statuses when no transfer of it succeeded."""
    rows = measured[measured["backend"] == backend]
    ok = rows[rows["status"] == STATUS_OK]
    if len(ok):
        return f"{code(backend)} (ran under {distinct(ok['accel_effective'])})"
    counts = rows["status"].value_counts()
    statuses = ", ".join(f"{s} {counts[s]}" for s in STATUSES if counts.get(s))
    first_error = rows["error"].dropna()
    reason = f": {md(first_error.iloc[0])}" if len(first_error) else ""
    return f"{code(backend)} (no successful transfer: {statuses}{reason})"


def _ratio_line(ratio: pd.Series) -> str:
    """One direction's UML/other bandwidth ratio, as a slowdown. A description: the guide's
    claim is judged once, in harness.analysis.uml_claims."""
    head = (f"- {md(ratio['direction'])}: bandwidth {code(ratio['numerator'])} / "
            f"{code(ratio['denominator'])}")
    value, low, high = ratio["ratio"], ratio["ratio_ci_low"], ratio["ratio_ci_high"]
    if math.isnan(value):
        return f"{head}: n/a (a bandwidth could not be estimated; see the model table)."
    slowdown = f"UML is **{1 / value:.2f}x** slower"
    if math.isnan(low) or math.isnan(high) or math.isinf(high):
        ci = "no CI" if math.isnan(high) else "95% CI unbounded"
    else:
        ci = f"95% CI {low:.3g} to {high:.3g}"
        slowdown += (f" (95% CI {1 / high:.2f} to "
                     f"{number(1 / low if low > 0 else math.inf)})")
    return f"{head} = **{value:.3g}** ({ci}), i.e. {slowdown}."


def _uml_lines(trials: pd.DataFrame, ratios_by_other: dict[str, pd.DataFrame]
               ) -> list[str]:
    """The guide's UML claim held against the measured UML/other bandwidth ratios, or what
    the comparison still needs."""
    measured = measured_trials(trials[trials["workload"] == TRANSFER_WORKLOAD])
    backends = list(pd.unique(measured["backend"]))
    ran = "; ".join(_backend_run(measured, b) for b in backends)
    others = [b for b in backends if b != UML_BACKEND]
    if UML_BACKEND not in backends or not others:
        return [f"Measured here: {ran}. Holding the claim needs `backend={UML_BACKEND}` (being "
                "built) and another backend in one sweep, e.g. "
                "`lgbench experiment=transfer_sweep`."]
    if not (measured.loc[measured["backend"] == UML_BACKEND, "status"] == STATUS_OK).any():
        return [f"Measured here: {ran}. No UML bandwidth to compare yet: holding the claim "
                f"needs successful `backend={UML_BACKEND}` transfers."]
    lines = [f"Measured here: {ran}.", "",
             "UML's bandwidth over each other backend's, the CI by Fieller's theorem from the "
             "two fits (see the model table). Each interval stands alone here, so no verdict is "
             "drawn from it: the claim is judged once, on the transfer times, jointly with the "
             "run's other comparisons, in the UML comparison's table of the guide's sentences "
             "(a run of UML and one other backend).", ""]
    for other in others:
        ratios = ratios_by_other[other]
        if ratios.empty:
            lines.append(f"- {code(other)}: no series matching a `{UML_BACKEND}` one in every "
                         "other factor (appliance, N, memsize, ...).")
        lines += [_ratio_line(ratio) for _, ratio in ratios.iterrows()]
        accels = distinct(measured.loc[(measured["backend"] == other)
                                      & (measured["status"] == STATUS_OK), "accel_effective"])
        if accels != "kvm" and len(ratios):
            lines.append(f"  The performance guide compares with KVM; {code(other)} ran under "
                         f"{accels} here (an "
                         "emulated CPU slows its transfers too), so this is not a UML/KVM "
                         "ratio.")
    return lines


def transfer_section(result: Transfers) -> list[str]:
    """The "## Upload and download" part of report.md."""
    trials = result.trials
    lines = ["## Upload and download", "",
             "Each size is uploaded into the appliance (a file on a scratch ext4 disk) and "
             "downloaded back, SHA-256 checked both ways. Per series and direction, "
             "t = t0 + size / bandwidth is fitted by least squares to every ok transfer "
             "(warm-ups excluded): t0 is the fixed overhead of one transfer, the bandwidth what "
             "the size adds. 95% CIs are t-based; the bandwidth's is the slope's inverted, "
             "`inf` where the sizes measured cannot bound it. Also in `summary.csv` (metric "
             "`upload_model`, `download_model`).", "",
             _model_table(result.model), "", "### Checksums", "", *_checksum_lines(trials)]
    if result.aggregate is not None:
        lines += ["", *_aggregate_lines(result.aggregate)]
    lines += ["", "### The performance guide's claim", "", *guide.UML_TRANSFER.quote(), "",
              *_uml_lines(trials, result.ratios)]
    return lines
