"""From stored trials to summary.csv, plots/*.png, report.md and report.html.

The analysis is computed once (`analyse`) and handed to the files, the figures and the report's
sections; nothing downstream recomputes a statistic. Used at the end of every run and by
`lgbench-report RUN_DIR...` to redo it without re-running.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from harness.analysis.appliances import appliance_pairs, has_appliance_types
from harness.analysis.client_limit import client_limit_table, has_client_limit
from harness.analysis.compare import with_verdicts
from harness.analysis.noise import cell_warnings
from harness.analysis.operations import (
    break_even,
    has_operations,
    operations_pairs,
    operations_table,
)
from harness.analysis.reference import Reference, available, configured_reference, load_reference
from harness.analysis.scaling import linear_fit, scaling_table
from harness.analysis.stages import (
    BootStages,
    boot_stages,
    configured_markers,
    stage_pairs,
)
from harness.analysis.summary import status_counts, summarize
from harness.analysis.transfer import has_transfers, summary_with_model, transfer_model
from harness.analysis.uml_claims import check_claims
from harness.analysis.uml_shim import has_both_channels, shim_cost, shim_pairs
from harness.plotting.client_limit import connection_waits
from harness.plotting.comparison import ratio_chart
from harness.plotting.distribution import cell_times, status_bars
from harness.plotting.operations import cost_per_operation
from harness.plotting.save import PLOTS_DIR, save_figures
from harness.plotting.scaling import failures_vs_parallel, latency_vs_parallel, makespan_vs_parallel
from harness.plotting.stages import stage_bars, trial_timeline
from harness.plotting.transfer import throughput_vs_size
from harness.reporting import html
from harness.reporting.sections import inspection
from harness.reporting.sections.appliances import appliance_section
from harness.reporting.sections.boot import boot_section
from harness.reporting.sections.client_limit import client_limit_section
from harness.reporting.sections.headline import headline_lines, short_kvm_reason
from harness.reporting.sections.operations import operations_section
from harness.reporting.sections.parallel import parallel_section
from harness.reporting.sections.summary import displayed, guide_expectation, timed_rows
from harness.reporting.sections.transfer import transfer_section
from harness.reporting.sections.uml import (
    comparison_section,
    shim_section,
    stage_trials,
    uml_pairs,
)
from harness.reporting.text import code, markdown_table, md
from harness.results import store
from harness.results.records import STATUS_OK, STATUSES

# Hydra launchers that measure one cell at a time, in the launching process.
ONE_CELL_AT_A_TIME = ("basic", "interleaved")


@dataclass(frozen=True)
class CallerComparison:
    """Comparisons a caller prints besides the report's own (a sweep's lines, lgbench-report's
    --compare): paired up by the caller (harness.analysis.compare.pair_up), judged with the
    report's in one family, written into report.md by `section`, and charted in
    plots/`chart`.png under `title` unless chart is None."""

    pairs: pd.DataFrame
    section: Callable[[pd.DataFrame], list[str]]
    chart: str | None = None
    title: str = ""


@dataclass(frozen=True)
class Analysis:
    """Everything the report shows, computed once from the trials and the runs' metadata."""

    trials: pd.DataFrame
    metadata: list[dict[str, Any]]
    summary: pd.DataFrame  # with the transfer model's rows when there are transfers
    status: pd.DataFrame  # trials per cell and status
    model: pd.DataFrame | None  # t = t0 + size/bandwidth per series and direction
    scaling: pd.DataFrame | None  # several N: makespan against N per series
    fits: pd.DataFrame | None  # several N: the linear fit per series
    reference: Reference | None  # the published figure the config names
    comparison: pd.DataFrame | None  # UML against the one other backend
    stage_comparison: pd.DataFrame | None  # UML against it per boot stage (timeline=true)
    uml_claims: pd.DataFrame | None  # the guide's UML sentences checked against the comparison
    shim_cost: pd.DataFrame | None  # UML: lgbench's relay against a direct channel
    boot: BootStages | None  # timeline=true runs
    client_limit: pd.DataFrame | None  # libvirt cells run under a max_clients of their own
    operations: pd.DataFrame | None  # workload=operations: per strategy and M
    break_even: pd.DataFrame | None  # workload=operations: where one launch pays for itself
    appliances: pd.DataFrame | None  # several appliance kinds: each against cached-hot
    warnings: pd.DataFrame  # unstable, drifting or disturbed cells (analysis/noise.py)
    caller: pd.DataFrame | None  # the caller's comparisons (CallerComparison), judged
    family: int  # every comparison the run's report and its caller print, judged together


def analyse(run_dirs: list[Path], trials: pd.DataFrame,
            caller: pd.DataFrame | None = None) -> Analysis:
    """The analysis of these trials (the runs' metadata and events read from run_dirs).

    Every comparison it makes, and the caller's (`caller`, pair_up's rows), is paired up first
    and then judged in one family, so the chance of any wrong direction in what the run
    prints stays at most 5% (harness.analysis.compare)."""
    metadata = store.read_metadata(run_dirs)
    summary = summarize(trials)
    model = transfer_model(trials) if has_transfers(trials) else None
    if model is not None:
        summary = summary_with_model(summary, model)
    scaling = fits = reference = None
    if trials["parallel"].nunique() > 1:
        scaling, fits = scaling_table(trials), linear_fit(trials)
        name = configured_reference(metadata)
        reference = load_reference(name) if name in available() else None
    events = store.read_events(run_dirs)
    boot = (boot_stages(events, configured_markers(metadata), trials)
            if events is not None else None)
    client_limit = client_limit_table(trials) if has_client_limit(trials) else None
    uml = uml_pairs(trials)
    pairs = {"uml": uml,
             "stages": (stage_pairs(boot, stage_trials(trials), uml["baseline"].iloc[0],
                                    uml["candidate"].iloc[0])
                        if boot is not None and uml is not None and len(uml) else None),
             "shim": shim_pairs(trials) if has_both_channels(trials) else None,
             "appliances": appliance_pairs(trials) if has_appliance_types(trials) else None,
             "operations": operations_pairs(trials) if has_operations(trials) else None,
             "caller": caller}
    family = sum(len(rows) for rows in pairs.values() if rows is not None)
    judged = {name: None if rows is None else with_verdicts(rows, family)
              for name, rows in pairs.items()}
    comparison, claims = judged["uml"], None
    if comparison is not None:
        host = next((m["host"] for m in metadata if m.get("host")), {})
        virt = host.get("virtual_machine") or host.get("virtualization")  # older runs
        claims = check_claims(comparison, trials, virt or "")
    operations = pays_off = None
    if judged["operations"] is not None:
        operations = operations_table(trials, judged["operations"])
        pays_off = break_even(trials)
    shim = None if judged["shim"] is None else shim_cost(judged["shim"])
    return Analysis(trials, metadata, summary, status_counts(trials), model, scaling, fits,
                    reference, comparison, judged["stages"], claims, shim, boot, client_limit,
                    operations, pays_off, judged["appliances"], cell_warnings(trials, metadata),
                    judged["caller"], family)


def build_report(run_dirs: list[Path], out_dir: Path, trials: pd.DataFrame | None = None,
                 caller: CallerComparison | None = None) -> Analysis:
    """Read the trials of run_dirs (or take `trials`, e.g. merged ones with a host column),
    write summary, plots, report.md (ending with the caller's section) and report.html into
    out_dir; return the analysis (for the terminal: its summary, warnings and the caller's
    comparisons, judged)."""
    trials = store.read_trials(run_dirs) if trials is None else trials
    found = analyse(run_dirs, trials, None if caller is None else caller.pairs)
    store.write_csv(out_dir / store.SUMMARY_FILE, found.summary)
    store.write_json(out_dir / store.SUMMARY_JSON_FILE, summary_document(found))
    if found.scaling is not None:
        store.write_csv(out_dir / store.SCALING_FILE, found.scaling)
    if found.comparison is not None:
        store.write_csv(out_dir / store.COMPARISON_FILE, found.comparison)
    if found.client_limit is not None:
        store.write_csv(out_dir / store.CLIENT_LIMIT_FILE, found.client_limit)
    if found.operations is not None:
        store.write_csv(out_dir / store.OPERATIONS_FILE, found.operations)
    if found.shim_cost is not None:
        store.write_csv(out_dir / store.SHIM_COST_FILE, found.shim_cost)
    if found.appliances is not None:
        store.write_csv(out_dir / store.APPLIANCES_FILE, found.appliances)
    if found.boot is not None:
        store.write_frame_parquet(out_dir / store.STAGES_FILE, found.boot.rows)
    figures, timeline_plots = draw(found)
    if caller is not None and caller.chart and len(found.caller):
        table = found.caller
        labels = [f"{r.candidate} vs {r.baseline}: {r.baseline_cell}, {r.metric}"
                  for r in table.itertuples()]
        figures[f"{caller.chart}.png"] = ratio_chart(table, labels, caller.title)
    plot_files = save_figures(figures, out_dir / PLOTS_DIR)
    text = render_markdown(found, plot_files, out_dir, timeline_plots)
    if caller is not None:
        text += "".join(f"{line}\n" for line in ["", *caller.section(found.caller)])
    store.write_text(out_dir / store.REPORT_FILE, text)
    html.write(out_dir, text, found.metadata, [p.name for p in plot_files])
    return found


def summary_document(found: Analysis) -> dict[str, Any]:
    """summary.json: summary.csv's rows (missing values as null) beside the runs' metadata."""
    rows = found.summary.astype(object).where(found.summary.notna(), None)
    return {"format": "lgbench-summary", "version": 1, "runs": found.metadata,
            "summary": rows.to_dict(orient="records")}


def draw(found: Analysis) -> tuple[dict[str, Any], dict[str, str]]:
    """The report's figures by file name, and each cell's timeline figure name."""
    trials = found.trials
    figures = {"times.png": cell_times(trials, found.summary)}
    if found.status[[s for s in STATUSES if s != STATUS_OK]].to_numpy().any():
        figures["status.png"] = status_bars(found.status)
    if found.scaling is not None and found.fits is not None:
        figures.update({
            "makespan_vs_parallel.png": makespan_vs_parallel(found.scaling, found.fits,
                                                             found.reference),
            "latency_vs_parallel.png": latency_vs_parallel(trials),
            "failures_vs_parallel.png": failures_vs_parallel(found.scaling)})
    if found.comparison is not None and len(found.comparison):
        labels = [f"{r.metric}, {r.workload}" + ("" if pd.isna(r.size_bytes) else
                                                 f", {r.size_bytes / 2**20:g} MiB")
                  for r in found.comparison.itertuples()]
        other = found.comparison["baseline"].iloc[0]
        figures["uml_ratios.png"] = ratio_chart(found.comparison, labels,
                                                f"uml against {other}")
    if found.appliances is not None and len(found.appliances):
        labels = [f"{r.candidate}, {r.workload}, page cache {r.page_cache}"
                  for r in found.appliances.itertuples()]
        figures["appliance_ratios.png"] = ratio_chart(
            found.appliances, labels, "each appliance against cached (hot), total time")
    if found.client_limit is not None:
        figures["client_limit.png"] = connection_waits(trials, found.client_limit)
    if found.operations is not None:
        figures["cost_per_operation.png"] = cost_per_operation(found.operations)
    if found.model is not None:
        figures["throughput_vs_size.png"] = throughput_vs_size(trials, found.model)
    timeline_plots: dict[str, str] = {}
    if found.boot is not None:
        figures["stages.png"] = stage_bars(found.boot.summary)
        for i, (cell, trial) in enumerate(found.boot.representatives.items()):
            timeline_plots[cell] = "timeline.png" if i == 0 else f"timeline-{i + 1}.png"
            figures[timeline_plots[cell]] = trial_timeline(trial)
    return figures, timeline_plots


def run_lines(metadata: list[dict[str, Any]], trials: pd.DataFrame) -> list[str]:
    """One line per host and stack the runs ran on (runs that share it are named together:
    a sweep's twelve jobs on one host make one line, not twelve)."""
    runs: dict[str, list[str]] = {}
    for meta in (m for m in metadata if "backend" in m):
        host = meta.get("host", {})
        libguestfs = host.get("versions", {}).get("libguestfs")
        where = (f"on {code(host.get('hostname'))}: {md(host.get('cpu_model'))}, "
                 f"{md(host.get('cores'))} cores, kernel {md(host.get('kernel'))}, libguestfs "
                 f"{md(libguestfs)}; KVM: "
                 f"{md(short_kvm_reason(meta.get('backend', {}).get('kvm_verdict')))}"
                 f"{auto_runs_note(meta, trials)}")
        runs.setdefault(where, []).append(code(meta.get("run_id")))
    return [f"- run {ids[0]} {where}" if len(ids) == 1 else
            f"- {len(ids)} runs ({ids[0]}, {ids[1]}, ...) {where}"
            for where, ids in runs.items()]


def test_tool_line(meta: dict[str, Any]) -> str:
    """Where a run whose launch failed kept libguestfs-test-tool's output, and its gist."""
    tool = meta["test_tool"]
    ended = ("did not finish within its time limit" if tool["exit_status"] is None
             else f"exited {tool['exit_status']}")
    return (f"\n`libguestfs-test-tool`, run with the settings of {code(meta.get('run_id'))} "
            f"because a launch failed there, {md(ended)}: {code(tool['gist'])}; "
            f"all of it in {code(tool['file'])}.")


def warning_text(warnings: pd.DataFrame, markdown: bool = False) -> str:
    """One line per warning: `cell: check: message` (an escaped bullet list in markdown)."""
    if markdown:
        return "\n".join(f"- {md(row.cell)}: {md(row.check)}: {md(row.message)}"
                         for row in warnings.itertuples())
    return "\n".join(f"warning: {row.cell}: {row.check}: {row.message}"
                     for row in warnings.itertuples())


def auto_runs_note(meta: dict[str, Any], trials: pd.DataFrame) -> str:
    """For a runs=auto cell: how many runs it took and why it stopped."""
    config = meta.get("config") or {}
    if config.get("runs") != "auto":
        return ""
    measured = trials[(trials["run_id"] == meta.get("run_id")) & ~trials["warmup"].astype(bool)]
    return (f"; runs=auto (median's 95% CI within {config['precision']:.1%}, "
            f"{config['min_runs']}..{config['max_runs']} runs, budget {config['budget_s']:g} s): "
            f"{measured['repetition'].nunique()} runs, stopped by "
            f"{md(meta.get('stop_reason') or 'an interruption')}")


def render_markdown(found: Analysis, plot_files: list[Path], out_dir: Path,
                    timeline_plots: dict[str, str]) -> str:
    """report.md: what ran where, the summary table, the guide's expectations, then a section
    per analysis the runs call for (transfers, several N, UML, boot stages, inspection,
    operations, appliance types) and the plots."""
    trials, summary, metadata = found.trials, found.summary, found.metadata
    parts = ["# lgbench report", "", *headline_lines(summary, trials, metadata), ""]
    parts += run_lines(metadata, trials)
    launchers = sorted({m["launcher"] for m in metadata
                        if m.get("launcher", "basic") not in ONE_CELL_AT_A_TIME})
    if launchers:  # recorded by lgbench from Hydra's hydra/launcher choice
        parts += ["", f"**Warning:** cells ran as concurrent jobs (Hydra launcher "
                      f"{', '.join(map(md, launchers))}); cells sharing a host disturb each "
                      f"other's timings. Use the default (interleaved) launcher for comparable "
                      f"numbers."]
    n_warm = int(trials["warmup"].astype(bool).sum())
    parts += ["", f"{len(trials)} trial rows ({n_warm} warm-up rows, left out of the statistics).",
              "", "## Summary", "",
              "Median with a distribution-free 95% CI (order statistics; `ci_level` its exact "
              "coverage; none below 6 ok values, where no such interval reaches 95%); success "
              "rate with n_ok of n. Times in seconds, to a tenth of their row's standard "
              "deviation (all of them are in `summary.csv`).", ""]
    if not summary.empty:
        shown, omitted = displayed(timed_rows(summary))
        parts.append(markdown_table(shown, disable_numparse=True, colalign=[
            "right" if c not in ("cell", "metric") else "left" for c in shown.columns]))
        if omitted:
            parts += ["", f"The same in every row, so left out: {', '.join(omitted)}."]
    failures = trials[trials["status"] != STATUS_OK][["cell", "repetition", "instance", "status",
                                                      "error"]]
    if len(failures):
        parts += ["", "## Failures", "", markdown_table(failures)]
        parts += [test_tool_line(m) for m in metadata if m.get("test_tool")]
    if len(found.warnings):
        parts += ["", "## Warnings", "", warning_text(found.warnings, markdown=True)]
    parts += ["", "## The performance guide's expectation", ""] + guide_expectation(trials)
    if found.model is not None:
        parts += ["", *transfer_section(trials, found.model)]
    if found.scaling is not None and found.fits is not None:
        parts += ["", *parallel_section(trials, found.scaling, found.fits, metadata,
                                        found.reference)]
    if found.client_limit is not None:
        parts += ["", *client_limit_section(found.client_limit, metadata)]
    if found.comparison is not None:
        parts += ["", *comparison_section(found.comparison, trials, found.stage_comparison,
                                          found.uml_claims)]
    if found.shim_cost is not None:
        parts += ["", *shim_section(found.shim_cost)]
    if found.boot is not None:
        parts += ["", *boot_section(found.boot, trials, timeline_plots)]
    if inspection.has_inspection(trials):
        parts += ["", *inspection.inspection_section(trials)]
    if found.operations is not None and found.break_even is not None:
        parts += ["", *operations_section(found.operations, found.break_even)]
    if found.appliances is not None:
        parts += ["", *appliance_section(found.appliances)]
    parts += ["", "## Plots", ""]
    parts += [f"![{p.stem}]({p.relative_to(out_dir)})" for p in plot_files]
    return "\n".join(parts) + "\n"
