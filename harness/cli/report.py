"""`lgbench-report`: summaries, plots and reports again from stored runs, without re-running;
several runs and hosts merged and compared; a baseline gate for CI pipelines."""

from __future__ import annotations

import argparse
import inspect
import math
import time
from pathlib import Path

import pandas as pd

from harness.analysis import compare as comparison
from harness.analysis import ranks
from harness.cli.usage import version_text
from harness.host import trust
from harness.reporting.build import build_report, summary_document, warning_text
from harness.reporting.pyperf_export import PYPERF_FILE, export_pyperf
from harness.reporting.studies.base import Options
from harness.reporting.studies.comparison import comparison_text, hosts_note
from harness.reporting.summary import table
from harness.results import merge, store
from harness.results.records import TIMED_COLUMNS

AUTO, NONE = "auto", "none"
BASELINE_RUN, CANDIDATE_RUN = "baseline", "candidate"
GATE_FILE = "baseline-check.csv"
EXIT_SLOWER, EXIT_BAD_INPUT = 1, 2

GATE_RULE = """\
Baseline gate (--baseline A --candidate B): cells are matched on their factors (backend,
appliance, workload, N, memsize, ...; runs and hosts pooled). A cell fails when the lower end
of the candidate/baseline ratio's one-sided interval is above 1 + threshold: a Hodges-Lehmann
ratio on log times with the interval of Mann-Whitney's test (exact for small samples), the
cells' intervals holding jointly at 97.5%. Two runs measured at different times also differ by
the host's run-to-run level, which no number of trials within them averages away: each
interval is widened by --run-sd (default 3%, the spread of a run's level on a host like these).
Under no slowdown beyond the threshold, a false FAIL of any cell then happens at most 2.5% of
the time. Every cell must be able to fail: at least 4 ok trials a side for one cell, more when
several cells are gated; fewer is refused.
Exit status: 0 no cell fails, 1 some cell fails, 2 bad input (missing folder, bad threshold,
no cell measured on both sides, or too few ok trials for some cell to be able to fail)."""


def parse_threshold(text: str) -> float:
    """`5%` or `0.05` -> 0.05; a bare number of 1 or more is refused as ambiguous."""
    value_text = text.strip().removesuffix("%")
    try:
        value = float(value_text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: write it as 5% or 0.05") from None
    if text.strip().endswith("%"):
        value /= 100
    elif value >= 1:
        raise argparse.ArgumentTypeError(f"{text!r} would be {value:.0%}: write 5% or 0.05")
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: the threshold must be 0% or more")
    return value


def grouping(choice: str, trials: pd.DataFrame) -> str | None:
    """The column to compare along: the choice, or with `auto` the first of backend, host and
    run that has two levels or more."""
    if choice == NONE:
        return None
    if choice == AUTO:
        return next((c for c in ("backend", "host", "run") if trials[c].nunique() > 1), None)
    if choice not in trials.columns:
        raise ValueError(f"--compare {choice}: not a column of these trials "
                         f"(try {', '.join(c for c in comparison.FACTORS if c in trials)})")
    levels = trials[choice].dropna().unique()
    if len(levels) < 2:
        raise ValueError(f"--compare {choice}: every trial has the same value "
                         f"({', '.join(map(str, levels)) or 'none'}); nothing to compare")
    return choice


def check_metrics(metrics: list[str], trials: pd.DataFrame) -> None:
    """Refuse a metric the trials do not have (a typo would otherwise compare nothing)."""
    unknown = [m for m in metrics if m not in trials.columns]
    if unknown:
        timed = [c for c in TIMED_COLUMNS if c in trials.columns]
        raise ValueError(f"--metric {', '.join(unknown)}: not measured in these runs "
                         f"(try {', '.join(timed)})")


def default_out(run_dirs: list[Path]) -> Path:
    """One folder: itself (its report redone). Several: a new folder here, so no run's own
    summary is overwritten by a merged one."""
    if len(run_dirs) == 1:
        return run_dirs[0]
    return Path(f"lgbench-report-{time.strftime('%Y-%m-%d_%H-%M-%S')}")


def report(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Merge, compare, write summary/plots/report.md/report.html; print the tables."""
    try:
        trials = merge.apart(merge.load(args.run_dirs))
        check_metrics(args.metric, trials)
        by = grouping(args.compare, trials)
    except (FileNotFoundError, ValueError) as exc:  # the data, not the usage: one line
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    out = args.out or default_out(args.run_dirs)
    trust.secure_folder(out)  # before anything is written there (refused: one line, see main)
    if args.export == "pyperf":  # the trials in pyperf's format, and nothing else
        exported = export_pyperf(trials, store.read_metadata(args.run_dirs), args.metric,
                                 out / PYPERF_FILE)
        print(f"pyperf: {out / PYPERF_FILE} ({exported} benchmark(s); python -m pyperf stats, "
              f"hist, compare_to, metadata read it)" if exported else
              "pyperf: nothing to export (no successful measured trial)")
        return 0
    found = build_report(args.run_dirs, out, trials=trials,
                         options=Options(compare_by=by, metrics=tuple(args.metric)))
    if args.json:  # for programs: summary.json's document alone on stdout
        print(store.json_text(summary_document(found)))
        return 0
    print(table(found.summary))
    if len(found.warnings):
        print(warning_text(found.warnings))
    for line in found.headline():
        print(line)
    print(f"\nreport: {out / 'report.html'}")
    return 0


def gate(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """--baseline/--candidate: exit 1 when some cell of the candidate is slower than the
    threshold allows (see GATE_RULE)."""
    try:
        trials = merge.load([args.baseline, args.candidate], [BASELINE_RUN, CANDIDATE_RUN])
        check_metrics(args.metric, trials)
    except (FileNotFoundError, ValueError) as exc:  # the data, not the usage: one line
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    threshold = args.threshold
    pairs = comparison.pair_up(trials, "run", args.metric, baseline=BASELINE_RUN)
    if pairs.empty:
        sides = {run: sorted(trials.loc[trials["run"] == run, "cell"].unique())
                 for run in (BASELINE_RUN, CANDIDATE_RUN)}
        parser.error(f"no cell measured on both sides with an ok {'/'.join(args.metric)}: "
                     f"baseline has {sides[BASELINE_RUN]}, candidate has "
                     f"{sides[CANDIDATE_RUN]}")
    result = comparison.gate(pairs, threshold, args.run_sd)
    if args.out:
        store.write_csv(args.out / GATE_FILE, result)
    print(f"baseline {args.baseline} against candidate {args.candidate}, "
          f"threshold {threshold:.1%}, run-to-run level {args.run_sd:.1%}:")
    print(comparison_text(result, ("gate_low", "gate")))
    note = hosts_note(trials, result, "run")
    if note:
        print(note)
    too_few = result[~result["gate_can_fail"]]
    if len(too_few):
        needed = ranks.fewest_a_side(2 * comparison.GATE_ALPHA / len(result), paired=False)
        cells = "; ".join(f"{row.baseline_cell} {row.metric} ({row.n_baseline} against "
                          f"{row.n_candidate})" for row in too_few.itertuples())
        parser.error(f"too few ok trials for the gate to be able to fail in {cells}: "
                     f"measure at least {needed} a side")
    failing = result[result["gate"] == comparison.GATE_FAIL]
    for row in failing.itertuples():
        print(f"FAIL: {row.baseline_cell} {row.metric}: candidate {row.ratio:.3f}x the "
              f"baseline, at least {row.gate_low:.3f}x (one-sided, jointly over "
              f"{len(result)} cells at 97.5%), slower than the {threshold:.1%} allowed")
    if len(failing):
        return EXIT_SLOWER
    print(f"OK: no cell of the candidate is slower than the baseline by more than "
          f"{threshold:.1%} at the 2.5% level ({len(result)} cells judged)")
    return 0


def main(argv: list[str] | None = None) -> int:
    """`lgbench-report RUN_DIR...` redoes summary.csv, plots, report.md and report.html from
    stored trials, merging several runs (run folders or sweep roots, from any hosts) and
    comparing them; `lgbench-report --baseline A --candidate B` gates a pipeline."""
    parser = argparse.ArgumentParser(
        prog="lgbench-report", description=inspect.cleandoc(main.__doc__ or ""),
        epilog=GATE_RULE,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=version_text(parser.prog))
    parser.add_argument("run_dirs", nargs="*", type=Path, metavar="RUN_DIR")
    parser.add_argument("--out", type=Path, help="output folder (default: the RUN_DIR when "
                        "there is one, else a new lgbench-report-<date> folder here)")
    parser.add_argument("--compare", default=AUTO, metavar="COLUMN",
                        help="compare along backend, host, run or another factor (appliance, "
                        "parallel, memsize, ...); auto (default): the first of backend, host, "
                        "run that varies; none: no comparison")
    parser.add_argument("--metric", action="append",
                        help="timed metric to compare, repeatable (default: total_s)")
    parser.add_argument("--baseline", type=Path, help="the reference run (with --candidate)")
    parser.add_argument("--candidate", type=Path, help="the run to check against --baseline")
    parser.add_argument("--threshold", type=parse_threshold, default=parse_threshold("5%"),
                        help="slowdown allowed before --candidate fails, e.g. 5%% (default) "
                        "or 0.05")
    parser.add_argument("--run-sd", type=parse_threshold, default=parse_threshold("3%"),
                        help="the gate's run-to-run level: how much a run's times as a whole "
                        "vary between runs on this host, e.g. 3%% (default) or 0; 0 where the "
                        "two sides were measured in one interleaved sweep")
    parser.add_argument("--json", action="store_true",
                        help="print summary.json (the summary, recommendations and the runs' "
                        "metadata) on stdout instead of the tables")
    parser.add_argument("--export", choices=("pyperf",),
                        help="write the trials for another tool instead of the report: pyperf "
                        "(pyperf.json: a benchmark per cell and --metric, a run per ok measured "
                        "trial, with its run's host, date, versions and config)")
    args = parser.parse_args(argv)
    args.metric = args.metric or ["total_s"]
    gating = args.baseline is not None or args.candidate is not None
    if gating and (args.baseline is None or args.candidate is None or args.run_dirs):
        parser.error("--baseline and --candidate go together, without RUN_DIR arguments")
    if not gating and not args.run_dirs:
        parser.error("give RUN_DIR arguments, or --baseline and --candidate")
    for d in args.run_dirs or [args.baseline, args.candidate]:
        if not d.is_dir():
            parser.error(f"{d} is not a directory")
    try:
        # Runs are read as the user's own: folders only they (or root) can change, files of
        # theirs (store reads through trust), so no one can slip another file into a report.
        for d in args.run_dirs or [args.baseline, args.candidate]:
            trust.secure_folder(d)
        return gate(args, parser) if gating else report(args, parser)
    except trust.UntrustedPath as exc:  # a folder others could tamper with: one line
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
