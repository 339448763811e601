"""From stored trials to summary.csv, plots/*.png, report.md and report.html.

Every run gets the per-cell summary (its table, failures, warnings, times and statuses); the
studies that apply to its rows (harness.reporting.studies) add their analyses, files,
figures and sections. Each study is analysed once and its result handed on; every comparison
any study makes is judged in one family. Used at the end of every run and by `lgbench-report
RUN_DIR...` to redo it without re-running.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from harness.analysis import guide
from harness.analysis.compare import with_verdicts
from harness.analysis.noise import cell_warnings
from harness.analysis.summary import status_counts, summarize
from harness.plotting.distribution import cell_times, status_bars
from harness.plotting.save import PLOTS_DIR, save_figures
from harness.reporting import html
from harness.reporting.headline import headline_lines, short_kvm_reason
from harness.reporting.studies import STUDIES, Study
from harness.reporting.studies.base import Options, Recommendation, Rows
from harness.reporting.summary import displayed, timed_rows
from harness.reporting.text import LISTED, code, first_listed, markdown_table, md
from harness.results import store
from harness.results.records import STATUS_OK, STATUSES

# Hydra launchers that measure one cell at a time, in the launching process.
ONE_CELL_AT_A_TIME = ("basic", "interleaved")
# Counts stay integers where the studies' own summary rows leave them empty.
SUMMARY_INTEGERS = ("size_bytes", "n", "n_ok", "n_outliers")


@dataclass(frozen=True)
class Analysis:
    """Everything the report shows, computed once from the rows."""

    rows: Rows
    summary: pd.DataFrame  # summary.csv: the per-cell rows, then the studies' own
    status: pd.DataFrame  # trials per cell and status
    warnings: pd.DataFrame  # unstable, drifting or disturbed cells (analysis/noise.py)
    results: dict[str, Any]  # study name -> its result, for the studies that apply
    family: int  # every comparison the studies make, judged together
    recommendations: list[Recommendation]  # every change the studies measured, surest first
    expectations: list[guide.Expectation]  # the guide's claims held against this run

    def applied(self) -> Iterator[tuple[Study, Any]]:
        """The studies that apply, in the registry's order, with their results."""
        return ((study, self.results[study.name]) for study in STUDIES
                if study.name in self.results)

    def headline(self) -> list[str]:
        """The studies' lines for the terminal, after the summary table and the warnings, then
        what to change here and the guide's expectations."""
        lines = [line for study, result in self.applied() for line in study.headline(result)]
        changes = self.recommendations
        if changes:
            lines += ["What to change here (the surest gain first):",
                      *(f"- {r.line()}" for r in changes)]
        expectations = self.expectations
        if len(expectations) > 1:  # one is the launch baseline's, which the headline gives
            lines += ["The performance guide's expectations here:",
                      *(f"- {e.line()}" for e in expectations)]
        return lines


def load_rows(run_dirs: list[Path], trials: pd.DataFrame | None = None,
              options: Options | None = None) -> Rows:
    """The rows of run_dirs (or `trials`, as a caller already holds them, with the runs'
    metadata and events read from run_dirs)."""
    trials = store.read_trials(run_dirs) if trials is None else trials
    return Rows(trials, store.read_metadata(run_dirs), store.read_events(run_dirs),
                summarize(trials), options or Options())


def analyse(rows: Rows) -> Analysis:
    """Each study that applies, analysed in the registry's order; then the comparisons they
    offer, judged in one family, so the chance of any wrong direction in what the run prints
    stays at most 5% (harness.analysis.compare)."""
    results: dict[str, Any] = {}
    for study in STUDIES:
        if study.applies(rows):
            results[study.name] = study.analyse(rows, results)
    offered = {study.name: study.comparisons(results[study.name])
               for study in STUDIES if study.name in results}
    family = sum(len(pairs) for by_name in offered.values() for pairs in by_name.values())
    for study in STUDIES:
        if offered.get(study.name):
            results[study.name] = study.judged(
                results[study.name], {name: with_verdicts(pairs, family)
                                      for name, pairs in offered[study.name].items()})
    applied = [(study, results[study.name]) for study in STUDIES if study.name in results]
    extra = [study.summary_rows(result) for study, result in applied]
    changes = [r for study, result in applied for r in study.recommendations(result)]
    return Analysis(rows, summary_with(rows.summary, [f for f in extra if f is not None]),
                    status_counts(rows.trials), cell_warnings(rows.trials, rows.metadata),
                    results, family, sorted(changes, key=lambda r: r.rank, reverse=True),
                    [e for study, result in applied for e in study.expectations(result)])


def summary_with(summary: pd.DataFrame, extra: list[pd.DataFrame]) -> pd.DataFrame:
    """The per-cell summary followed by the studies' own rows (the transfer model's)."""
    if not extra:
        return summary
    combined = pd.concat([summary, *extra], ignore_index=True)
    integers = [c for c in SUMMARY_INTEGERS if c in combined.columns]
    return combined.astype(dict.fromkeys(integers, "Int64"))


def build_report(run_dirs: list[Path], out_dir: Path, trials: pd.DataFrame | None = None,
                 options: Options | None = None) -> Analysis:
    """Read the rows of run_dirs (or take `trials`, e.g. merged ones with a host column),
    write summary, the studies' files, plots, report.md and report.html into out_dir; return
    the analysis (for the terminal: its summary, warnings and headline)."""
    found = analyse(load_rows(run_dirs, trials, options))
    store.write_csv(out_dir / store.SUMMARY_FILE, found.summary)
    store.write_json(out_dir / store.SUMMARY_JSON_FILE, summary_document(found))
    figures = draw(found)
    for study, result in found.applied():
        for name, frame in study.files(result).items():
            if name.endswith(".parquet"):
                store.write_frame_parquet(out_dir / name, frame)
            else:
                store.write_csv(out_dir / name, frame)
        figures.update(study.figures(result))
    plot_files = save_figures(figures, out_dir / PLOTS_DIR)
    text = render_markdown(found, plot_files, out_dir)
    store.write_text(out_dir / store.REPORT_FILE, text)
    html.write(out_dir, text, found.rows.metadata, [p.name for p in plot_files])
    return found


def summary_document(found: Analysis) -> dict[str, Any]:
    """summary.json: summary.csv's rows (missing values as null) beside the runs' metadata."""
    return {"format": "lgbench-summary", "version": 1, "runs": found.rows.metadata,
            "summary": store.json_records(found.summary),
            **{key: value for study, result in found.applied()
               for key, value in study.document(result).items()},
            "recommendations": [{**{k: None if v != v else v  # NaN: no interval
                                    for k, v in dataclasses.asdict(r).items()},
                                 "line": r.line()} for r in found.recommendations],
            "expectations": [{"claim": e.claim.words, "section": e.claim.section,
                              "verdict": e.verdict, "measured": e.measured}
                             for e in found.expectations]}


def draw(found: Analysis) -> dict[str, Any]:
    """The figures every run has, by file name: each cell's times, and the statuses when
    some trial failed."""
    figures = {"times.png": cell_times(found.rows.trials, found.summary)}
    if found.status[[s for s in STATUSES if s != STATUS_OK]].to_numpy().any():
        figures["status.png"] = status_bars(found.status)
    return figures


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


def render_markdown(found: Analysis, plot_files: list[Path], out_dir: Path) -> str:
    """report.md: what ran where, the summary table, failures and warnings, then each study's
    section, and the plots."""
    trials, summary, metadata = found.rows.trials, found.summary, found.rows.metadata
    parts = ["# lgbench report", "", *headline_lines(summary, trials, metadata), ""]
    changes = found.recommendations
    if changes:
        parts += ["## What to change here", "",
                  "Each change this run measured, the surest gain first (ranked by the low end "
                  "of its speed-up's interval), with the command that measures it again:", "",
                  *(f"- {md(r.change)}, at {md(r.where)}: {md(r.effect())}; measure again: "
                    f"{code(r.command)}" for r in changes), ""]
    expectations = found.expectations
    if len(expectations) > 1:
        parts += ["## The performance guide's expectations on this host", "",
                  "Each claim this run could hold measurements to (its section says how):", "",
                  *(f"- {md(e.line())}" for e in expectations), ""]
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
        timed, left_out = first_listed(timed_rows(summary), "cell")
        shown, omitted = displayed(timed)
        parts.append(markdown_table(shown, disable_numparse=True, colalign=[
            "right" if c not in ("cell", "metric") else "left" for c in shown.columns]))
        if omitted:
            parts += ["", f"The same in every row, so left out: {', '.join(omitted)}."]
        if left_out:
            parts += ["", f"The first {LISTED} cells; {left_out} more are in `summary.csv`."]
    failures = trials[trials["status"] != STATUS_OK][["cell", "repetition", "instance", "status",
                                                      "error"]]
    if len(failures):
        parts += ["", "## Failures", "", markdown_table(failures)]
        parts += [test_tool_line(m) for m in metadata if m.get("test_tool")]
    if len(found.warnings):
        parts += ["", "## Warnings", "", warning_text(found.warnings, markdown=True)]
    for study, result in found.applied():
        parts += ["", *study.section(result)]
    parts += ["", "## Plots", ""]
    parts += [f"![{p.stem}]({p.relative_to(out_dir)})" for p in plot_files]
    return "\n".join(parts) + "\n"
