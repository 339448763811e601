"""From stored trials to summary.csv, plots/*.png and report.md (the store -> stats -> plots end).

Used at the end of every run and by `lgbench-report RUN_DIR...` to redo it without re-running.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pandas as pd

from harness.analysis import stages as timeline
from harness.analysis.compare import compare_backends
from harness.analysis.reference import Reference, available, load_reference
from harness.analysis.scaling import compare_reference, linear_fit, scaling_table
from harness.analysis.summary import measured_trials, summarize
from harness.analysis.transfer import (
    MODEL_METRICS,
    TRANSFER_WORKLOAD,
    MiB,
    aggregate_bandwidth,
    bandwidth_ratio,
    has_transfers,
    summary_with_model,
    transfer_model,
)
from harness.plotting import plots
from harness.reporting import html
from harness.reporting.sections import inspection
from harness.results import store
from harness.results.records import STATUS_INFEASIBLE, STATUS_OK, STATUSES

# guestfs-performance(1), BASELINE: STARTING THE APPLIANCE: "You should expect to be getting
# times under 6 seconds" (a KVM host, hot cache), for `time guestfish -a /dev/null run`.
SEED_LAUNCH_LIMIT_S = 6.0

TABLE_COLUMNS = ["cell", "metric", "n", "n_ok", "success_rate", "median", "ci_low", "ci_high",
                 "mean", "stdev", "min", "max", "n_outliers"]
# The transfer model's rows of the summary, shown apart from the timed metrics.
MODEL_TABLE_COLUMNS = ["cell", "metric", "n", "overhead_ms", "overhead_ci_low",
                       "overhead_ci_high", "bandwidth_mib_s", "bandwidth_ci_low",
                       "bandwidth_ci_high", "r2"]

SCALING_FILE = "scaling.csv"
SCALING_TABLE_COLUMNS = ["series", "parallel", "n_reps", "n_reps_ok", "median", "ci_low",
                         "ci_high", "efficiency", "speedup", "n_instances", "n_failed",
                         "failure_rate"]

# guestfs-performance(1), PARALLEL APPLIANCES.
SEED_PARALLEL_CLAIM = ("Provided there is enough free memory, there should be little difference "
                       "in launching 1 appliance vs N appliances in parallel.")
# The seed gives no number for "little difference"; this report takes a makespan of N
# appliances at most 1.25 times one appliance's (efficiency T(1)/T(N) of at least 0.8).
LITTLE_DIFFERENCE = 1.25

# guestfs-performance(1), USING USER-MODE LINUX.
SEED_TRANSFER_CLAIM = ("Upload and download is as much as 10 times slower on UML than KVM.  "
                       "Libguestfs sends this data over the UML emulated serial port, which is "
                       "far less efficient than KVM's virtio-serial.")
SEED_UML_SLOWDOWN = 10.0
UML_BACKEND = "uml"
COMPARISON_FILE = "comparison.csv"
SEED_UML_CLAIMS = (
    "UML usually performs the same or slightly slower than KVM, on baremetal.",
    "However UML often performs the same under virtualization as it does on baremetal, whereas "
    "KVM can run much slower under virtualization (since hardware virt acceleration is not "
    "available).",
    "Upload and download is as much as 10 times slower on UML than KVM.",
    "UML lacks some features (eg. qcow2 support), so it may not be applicable at all.")

# How this run's conditions are set against a published figure's: (row, a word that picks the
# fragment of the reference's notes describing the same thing).
CONDITIONS = [("accelerator", "KVM"), ("CPUs", "core"), ("host memory", "RAM"),
              ("backend", "backend"), ("appliance memory", "appliance memory"),
              ("samples", "sample"), ("warm-up", "warm-up")]


def build_report(run_dirs: list[Path], out_dir: Path, seed: int = 0,
                 trials: pd.DataFrame | None = None,
                 sections: list[str] | None = None) -> pd.DataFrame:
    """Read the trials of run_dirs (or take `trials`, e.g. merged ones with a host column),
    write summary, plots, report.md (with `sections`' lines at its end) and report.html into
    out_dir."""
    trials = store.read_trials(run_dirs) if trials is None else trials
    summary = summarize(trials, seed=seed)
    model = transfer_model(trials) if has_transfers(trials) else None
    if model is not None:
        summary = summary_with_model(summary, model)
    store.write_csv(out_dir / store.SUMMARY_FILE, summary)
    # A sweep root's jobs each hold the metadata of their cell.
    metadata = [json.loads(f.read_text()) for d in run_dirs
                for f in [d / store.METADATA_FILE, *sorted(d.glob(f"*/{store.METADATA_FILE}"))]
                if f.exists()]
    scaling, reference = None, None
    if trials["parallel"].nunique() > 1:
        scaling = scaling_table(trials, seed=seed)
        store.write_csv(out_dir / SCALING_FILE, scaling)
        name = reference_name(metadata)
        if name in available():
            reference = load_reference(name)
    comparison = uml_comparison(trials, seed)
    if comparison is not None:
        store.write_csv(out_dir / COMPARISON_FILE, comparison)
    plot_files = _save_plots(trials, out_dir / "plots", scaling is not None, reference, model)
    boot_lines, boot_plots = boot_stages(run_dirs, out_dir, trials, metadata)
    text = render_markdown(trials, summary, metadata, plot_files + boot_plots, out_dir,
                           scaling, reference, model, comparison, boot_lines)
    text += "".join(f"{line}\n" for line in ["", *sections]) if sections else ""
    store.write_text(out_dir / "report.md", text)
    html.write(out_dir, text, metadata)
    return summary


def uml_comparison(trials: pd.DataFrame, seed: int = 0) -> pd.DataFrame | None:
    """UML against the other backend of the run, when a run has UML and exactly one other."""
    backends = set(trials["backend"])
    others = sorted(backends - {UML_BACKEND})
    if UML_BACKEND not in backends or len(others) != 1:
        return None
    return compare_backends(trials, others[0], UML_BACKEND, seed=seed)


def comparison_section(comparison: pd.DataFrame, trials: pd.DataFrame) -> list[str]:
    """UML/other ratios with CIs and p-values, the seed's UML claims beside them."""
    measured = measured_trials(trials)
    other = comparison["baseline"].iloc[0] if len(comparison) else "the other backend"
    accel = ", ".join(sorted(measured.loc[measured["backend"] == other, "accel_effective"]
                             .dropna().unique())) or "unknown"
    lines = [f"## UML against `{other}` (ran under {accel})", "",
             "Ratio of medians UML / other with a bootstrap 95% CI; two-sided Mann-Whitney U.",
             ""]
    if comparison.empty:
        lines.append("No metric has successful trials on both sides.")
    else:
        table = comparison.drop(columns=["baseline", "candidate"])
        lines.append(table.to_markdown(index=False, floatfmt=".3g"))
    lines += ["", "The seed (guestfs-performance(1), USING USER-MODE LINUX) says:", ""]
    lines += [f"> {claim}" for claim in SEED_UML_CLAIMS]
    # One launch line per workload (a transfer's sizes share their launch).
    launch = comparison[comparison["metric"] == "launch_s"].drop_duplicates("workload")
    for _, row in launch.iterrows():
        lines += ["", f"Measured here: UML launches take {row['ratio']:.2f}x the time of "
                      f"`{other}` under {accel} (95% CI {_num(row['ratio_ci_low'])} to "
                      f"{_num(row['ratio_ci_high'])}; {row['verdict']}, p = "
                      f"{row['p_value']:.3g}, workload {row['workload']})."]
    if accel != "kvm":
        lines += ["", f"`{other}` did not run under KVM, so this is UML against software "
                      "emulation: the seed's 'under virtualization' case, not its bare-metal one."]
    return lines


STAGES_FILE = "stages.parquet"  # boot stages of timeline=true trials (harness.analysis.stages)


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
    store.write_frame_parquet(out_dir / STAGES_FILE, stage_rows)
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
             f"`{STAGES_FILE}`. Seconds since the instance's release; median and mean over ok "
             "trials, warm-ups excluded; `median_start` orders the stages.", ""]
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


def reference_name(metadata: list[dict[str, Any]]) -> str | None:
    """The published figure the runs' config names (`reference=`), if any."""
    names = sorted({m["config"]["reference"] for m in metadata
                    if m.get("config", {}).get("reference")})
    return names[0] if names else None


def _save_plots(trials: pd.DataFrame, plot_dir: Path, parallel: bool,
                reference: Reference | None, model: pd.DataFrame | None) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plot_dir.mkdir(parents=True, exist_ok=True)
    figures = {"launch_s.png": plots.launch_distribution(trials, "launch_s"),
               "total_s.png": plots.launch_distribution(trials, "total_s"),
               "status.png": plots.status_grid(trials)}
    if parallel:
        figures.update({
            "makespan_vs_parallel.png": plots.makespan_vs_parallel(trials, reference),
            "latency_vs_parallel.png": plots.latency_vs_parallel(trials),
            "failures_vs_parallel.png": plots.failures_vs_parallel(trials)})
    if model is not None:
        figures["throughput_vs_size.png"] = plots.throughput_vs_size(trials, model)
    paths = []
    for name, figure in figures.items():
        figure.savefig(plot_dir / name, dpi=110, bbox_inches="tight")
        plt.close(figure)
        paths.append(plot_dir / name)
    return paths


def table_columns(summary: pd.DataFrame) -> list[str]:
    """TABLE_COLUMNS, with size_bytes after the cell when the summary splits cells by size."""
    if "size_bytes" in summary.columns:
        return [TABLE_COLUMNS[0], "size_bytes", *TABLE_COLUMNS[1:]]
    return TABLE_COLUMNS


def _timed_rows(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary's rows of timed metrics, without the transfer model's."""
    return summary[~summary["metric"].isin(MODEL_METRICS)]


def table(summary: pd.DataFrame) -> str:
    """The summary as plain-text tables for the terminal: timed metrics, then the transfer
    model (overhead and bandwidth) if there is one."""
    if summary.empty:
        return "(no trials)"
    timed = _timed_rows(summary)
    text = timed[table_columns(timed)].to_string(index=False, float_format=lambda v: f"{v:.3f}")
    model = summary[summary["metric"].isin(MODEL_METRICS)]
    if len(model):
        text += "\n\n" + model[MODEL_TABLE_COLUMNS].to_string(index=False,
                                                              float_format=lambda v: f"{v:.3f}")
    return text


def seed_expectation(trials: pd.DataFrame) -> list[str]:
    """The seed's launch baseline held against each launch cell, saying which accel ran."""
    lines = []
    measured = measured_trials(trials)
    launch = measured[(measured["workload"] == "launch") & (measured["status"] == STATUS_OK)]
    for cell, rows in launch.groupby("cell", sort=False):
        median = rows["total_s"].median()
        accels = ", ".join(sorted(rows["accel_effective"].dropna().unique()))
        verdict = "meets" if median < SEED_LAUNCH_LIMIT_S else "does not meet"
        note = "" if accels == "kvm" else (
            " The seed's figure assumes KVM; this cell ran without it, so a miss is expected.")
        lines.append(f"- `{cell}`: median launch+close {median:.2f} s under **{accels}** "
                     f"{verdict} the seed's \"under {SEED_LAUNCH_LIMIT_S:g} seconds\".{note}")
    return lines or ["- No successful launch trials to compare."]


def render_markdown(trials: pd.DataFrame, summary: pd.DataFrame, metadata: list[dict[str, Any]],
                    plot_files: list[Path], out_dir: Path, scaling: pd.DataFrame | None = None,
                    reference: Reference | None = None,
                    model: pd.DataFrame | None = None,
                    comparison: pd.DataFrame | None = None,
                    boot: list[str] | None = None) -> str:
    """report.md: what ran where, the summary table, the plots, the seed's expectations, with a
    transfer model the upload/download analysis, and with a scaling table (several N) the
    parallel-appliances analysis."""
    parts = ["# lgbench report", ""]
    for meta in (m for m in metadata if "backend" in m):
        host = meta.get("host", {})
        libguestfs = host.get("versions", {}).get("libguestfs")
        parts.append(f"- run `{meta.get('run_id')}` on `{host.get('hostname')}`: "
                     f"{host.get('cpu_model')}, {host.get('cores')} cores, kernel "
                     f"{host.get('kernel')}, libguestfs {libguestfs}"
                     f"; KVM: {meta.get('backend', {}).get('kvm_verdict') or 'not probed'}")
    launchers = sorted({m["launcher"] for m in metadata if m.get("launcher", "basic") != "basic"})
    if launchers:  # recorded by lgbench from Hydra's hydra/launcher choice
        parts += ["", f"**Warning:** cells ran as concurrent jobs (Hydra launcher "
                      f"{', '.join(launchers)}); cells sharing a host disturb each other's "
                      f"timings. Use the default (basic) launcher for comparable numbers."]
    n_warm = int(trials["warmup"].astype(bool).sum())
    parts += ["", f"{len(trials)} trial rows ({n_warm} warm-up rows, left out of the statistics).",
              "", "## Summary", "",
              "Median with a bootstrap 95% CI; success rate with n_ok of n. Times in seconds.", ""]
    if not summary.empty:
        timed = _timed_rows(summary)
        parts.append(timed[table_columns(timed)].to_markdown(index=False, floatfmt=".3f"))
    failures = trials[trials["status"] != STATUS_OK][["cell", "repetition", "instance", "status",
                                                      "error"]]
    if len(failures):
        parts += ["", "## Failures", "", failures.to_markdown(index=False)]
    parts += ["", "## The seed's expectation", ""] + seed_expectation(trials)
    if model is not None:
        parts += ["", *transfer_section(trials, model)]
    if scaling is not None:
        parts += ["", *parallel_section(trials, scaling, metadata, reference)]
    if comparison is not None:
        parts += ["", *comparison_section(comparison, trials)]
    if boot:
        parts += ["", *boot]
    if inspection.has_inspection(trials):
        parts += ["", *inspection.inspection_section(trials)]
    parts += ["", "## Plots", ""]
    parts += [f"![{p.stem}]({p.relative_to(out_dir)})" for p in plot_files]
    return "\n".join(parts) + "\n"


def _num(value: float, fmt: str = ".2f") -> str:
    return "n/a" if value is None or math.isnan(value) else format(value, fmt)


def _values(values: Any) -> str:
    """The distinct values of a column or list, sorted, comma-separated; `none` if there are
    none (missing values are skipped)."""
    distinct = sorted(pd.Series(list(values), dtype=object).dropna().unique())
    return ", ".join(str(v) for v in distinct) or "none"


def _run_conditions(trials: pd.DataFrame, scaling: pd.DataFrame,
                   metadata: list[dict[str, Any]]) -> dict[str, str]:
    """This run's side of CONDITIONS: what it ran with, from the trials and the metadata."""
    measured = measured_trials(trials)
    ok = measured[measured["status"] == STATUS_OK]
    hosts = [m["host"] for m in metadata if "host" in m]
    verdicts = [m.get("backend", {}).get("kvm_verdict") for m in metadata]
    memsizes = [None if pd.isna(v) else int(v) for v in measured["memsize"]]
    memory = _values(f"{h['memory_bytes'] / 2**30:.1f} GiB" for h in hosts
                     if h.get("memory_bytes"))
    warmups = _values(m["config"]["warmup"] for m in metadata if "config" in m)
    return {
        "accelerator": f"{_values(ok['accel_effective'])} "
                       f"(KVM: {_values(verdicts) if any(verdicts) else 'not probed'})",
        "CPUs": f"{_values(h.get('cores') for h in hosts)} logical CPUs "
                f"(virtualization: {_values(h.get('virtualization') for h in hosts)})",
        "host memory": memory,
        "backend": _values(measured["backend"]),
        "appliance memory": (f"{_values(memsizes)} MiB" if any(memsizes) else
                             "libguestfs's default memsize"),
        "samples": f"{_values(scaling['n_reps'])} repetitions per N, "
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
    short = 1 / efficiency > LITTLE_DIFFERENCE
    if not short.any():
        return f"holds at every N measured: {largest}"
    first = short.argmax()  # never N = 1, whose efficiency is 1 by definition
    held = f"holds up to N = {ns[first - 1]}"
    if first == len(ns) - 1:
        return f"{held}; {largest}"
    return (f"{held}; at N = {ns[first]} the makespan is already "
            f"{1 / efficiency[first]:.2f}x T(1); {largest}")


def _fit_line(fit: pd.Series, scaling: pd.DataFrame) -> str:
    series = fit["series"]
    if math.isnan(fit["slope"]):
        return f"- `{series}`: no fit (needs successful repetitions at 2 or more N)."
    largest = scaling[scaling["series"] == series].iloc[-1]
    return (f"- `{series}`: b = **{_num(fit['slope'], '.3g')} s per extra appliance** (95% CI "
            f"{_num(fit['slope_ci_low'], '.3g')} to {_num(fit['slope_ci_high'], '.3g')}), "
            f"a = {_num(fit['intercept'], '.3g')} s, r² = {_num(fit['r_squared'], '.3f')}, over "
            f"N = {fit['n_min']:g}..{fit['n_max']:g} ({fit['n_points']} repetitions); "
            f"b / T(1) = {_num(fit['normalized_slope'], '.3f')} "
            f"(T(1) = {_num(fit['t1'], '.3g')} s); "
            f"efficiency at the largest N ({largest['parallel']}): "
            f"{_num(largest['efficiency'])}.")


def _failure_lines(scaling: pd.DataFrame) -> list[str]:
    lines = []
    for series, rows in scaling.groupby("series", sort=False):
        failing = rows[rows["n_failed"] > 0]
        if failing.empty:
            lines.append(f"- `{series}`: every instance succeeded at every N "
                         f"({_values(rows['parallel'])}).")
            continue
        per_n = "; ".join(
            f"N = {r['parallel']}: {r['n_failed']} of {r['n_instances']} "
            f"({', '.join(f'{s} {r[s]}' for s in STATUSES if s != STATUS_OK and r[s])})"
            for _, r in failing.iterrows())
        lines.append(f"- `{series}`: failed instances at {per_n}. The errors are listed under "
                     "Failures above.")
    return lines


def _claim_lines(trials: pd.DataFrame, scaling: pd.DataFrame, metadata: list[dict[str, Any]],
                 reference: Reference | None) -> list[str]:
    """The seed's claim held against each series, its memory proviso, and the CPU count."""
    lines = [f'Reading "little difference" as a makespan at most {LITTLE_DIFFERENCE:g}x T(1), '
             "the makespan of one appliance:", ""]
    for series, rows in scaling.groupby("series", sort=False):
        judged = rows.dropna(subset=["efficiency"])
        if len(judged) < 2:
            lines.append(f"- `{series}`: cannot be judged: it needs successful repetitions at "
                         "N = 1 and at a larger N.")
        else:
            verdict = _claim_verdict(judged["parallel"], judged["efficiency"])
            lines.append(f"- `{series}`: {verdict}.")
    if reference is not None:
        points = reference.frame
        t1 = points.loc[points["n_parallel"] == 1, "seconds"]
        if len(t1):
            verdict = _claim_verdict(points["n_parallel"], t1.iloc[0] / points["seconds"])
            lines.append(f"- the published figure, by the same reading: {verdict}.")

    measured = measured_trials(trials)
    infeasible = measured[measured["status"] == STATUS_INFEASIBLE]
    if len(infeasible):
        lines += [f"- Memory: N = {n} was not launched: {rows['error'].iloc[0]}."
                  for n, rows in infeasible.groupby("parallel")]
    else:
        available_bytes = [m["host"]["memory_available_bytes"] for m in metadata
                           if m.get("host", {}).get("memory_available_bytes")]
        free = f"{min(available_bytes) / 2**30:.1f} GiB" if available_bytes else "unknown"
        lines.append(f"- Memory: no N was judged infeasible before launch (largest N = "
                     f"{measured['parallel'].max()}; memory available when the run started: "
                     f"{free}).")
    cores = {m["host"].get("cores") for m in metadata if "host" in m} - {None}
    if cores:
        lines.append(f"- CPUs: {_values(cores)} here, so from N = {min(cores) + 1} on the "
                     "appliances share CPUs.")
    return lines


def _agreement_line(row: pd.Series) -> str:
    series = row["series"]
    if math.isnan(row["normalized_slope"]):
        return (f"- `{series}`: no comparison: the measured slope cannot be normalised (needs "
                "successful repetitions at N = 1 and at a larger N).")
    if not math.isfinite(row["ratio"]):
        return (f"- `{series}`: no comparison: the published points over N = "
                f"{_num(row['published_n_min'], 'g')}..{_num(row['published_n_max'], 'g')} "
                "give no slope to divide by.")
    ci = ("no CI (too few repetitions)" if math.isnan(row["ratio_ci_low"]) else
          f"95% CI {row['ratio_ci_low']:.2f} to {row['ratio_ci_high']:.2f}, from the measured "
          "slope's")
    if not math.isnan(row["ratio_ci_low"]) and row["ratio_ci_low"] <= 0:
        verdict = ("inconclusive: the CI reaches zero, so the measured slope is not pinned down "
                   "(more N values or repetitions narrow it)")
    elif not math.isnan(row["ratio_ci_low"]) and row["ratio_ci_low"] <= 1 <= row["ratio_ci_high"]:
        verdict = "consistent with the published figure (the CI contains 1)"
    else:
        verdict = (f"relative to one launch, the makespan here grows {row['ratio']:.2f}x as fast "
                   "as published")
    return (f"- `{series}`: measured b / T(1) = **{row['normalized_slope']:.3f}** per extra "
            f"appliance (95% CI {_num(row['normalized_ci_low'], '.3f')} to "
            f"{_num(row['normalized_ci_high'], '.3f')}) over N = "
            f"{row['n_min']:g}..{row['n_max']:g}; "
            f"published **{row['published_normalized_slope']:.3f}** "
            f"({row['published_slope']:.3f} s per extra appliance / T(1) "
            f"{row['published_t1']:.2f} s, fitted on its points N = "
            f"{row['published_n_min']:g}..{row['published_n_max']:g}); ratio measured / "
            f"published **{row['ratio']:.2f}** ({ci}): {verdict}.")


def _agreement_section(fits: pd.DataFrame, reference: Reference,
                      conditions: dict[str, str]) -> list[str]:
    """Measured against published slope, both normalised by their N=1 time, and what differs."""
    comparison = compare_reference(fits, reference.frame)
    lines = ["### Agreement with the published figure", "",
             f"`{reference.name}`, as its CSV's comment lines describe it:", ""]
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
                  "waiting on I/O as the seed assumes; a steeper normalised slope is expected."]
    return lines


def parallel_section(trials: pd.DataFrame, scaling: pd.DataFrame,
                     metadata: list[dict[str, Any]], reference: Reference | None) -> list[str]:
    """The "## Parallel appliances" part of report.md, for runs over several N."""
    fits = linear_fit(trials)
    conditions = _run_conditions(trials, scaling, metadata)
    lines = ["## Parallel appliances", "",
             "N appliances are released together; the makespan runs from their release until "
             "the last one is closed. Median makespan of the repetitions in which every "
             "instance succeeded, with a bootstrap 95% CI; efficiency = T(1)/T(N) (1: N "
             "appliances take as long as one), speedup = N·T(1)/T(N) (against launching them "
             f"one after another). Times in seconds; the table is also in `{SCALING_FILE}`.", "",
             f"Ran with accelerator **{conditions['accelerator']}** on "
             f"**{conditions['CPUs']}**.", "",
             scaling[SCALING_TABLE_COLUMNS].to_markdown(index=False, floatfmt=".3f"),
             "", "### Linear fit: makespan = a + b·N", ""]
    lines += [_fit_line(fit, scaling) for _, fit in fits.iterrows()]
    lines += ["", "### Failures against N", "", *_failure_lines(scaling)]
    lines += ["", "### The seed's claim", "", f"> {SEED_PARALLEL_CLAIM}",
              "> (guestfs-performance(1), PARALLEL APPLIANCES)", ""]
    lines += _claim_lines(trials, scaling, metadata, reference)
    name = reference_name(metadata)
    if reference is not None:
        lines += ["", *_agreement_section(fits, reference, conditions)]
    elif name:
        lines += ["", f"The configured reference `{name}` is not a published figure lgbench "
                  f"ships ({_values(available())}); nothing was overlaid."]
    return lines


def _estimate(value: float, low: float, high: float, fmt: str) -> str:
    """`value (low to high)`, `value (no CI)` where the fit had too few transfers for one,
    `n/a` without a fit."""
    if math.isnan(low) and math.isnan(high):
        return "n/a" if math.isnan(value) else f"{_num(value, fmt)} (no CI)"
    return f"{_num(value, fmt)} ({_num(low, fmt)} to {_num(high, fmt)})"


def _model_table(model: pd.DataFrame) -> str:
    """The transfer model per series and direction as a markdown table."""
    rows = []
    for _, fit in model.iterrows():
        sizes = (f"{fit['size_min_mib']:g} to {fit['size_max_mib']:g}" if fit["n"] else "none")
        rows.append({
            "series": fit["series"], "direction": fit["direction"],
            "ran under": fit["accel_effective"] or "n/a", "transfers": fit["n"],
            "sizes (MiB)": sizes,
            "overhead t0 (ms), 95% CI": _estimate(fit["overhead_ms"], fit["overhead_ci_low"],
                                                  fit["overhead_ci_high"], ".1f"),
            "bandwidth (MiB/s), 95% CI": _estimate(fit["bandwidth_mib_s"],
                                                   fit["bandwidth_ci_low"],
                                                   fit["bandwidth_ci_high"], ".4g"),
            "r²": _num(fit["r2"], ".3f")})
    return pd.DataFrame(rows).to_markdown(index=False, disable_numparse=True)


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
        lines += [f"  - `{row['cell']}`, {int(row['size_bytes'])} bytes, repetition "
                  f"{row['repetition']}, instance {row['instance']}: {row['error']}"
                  for _, row in bad.iterrows()]
    undone = len(transfers) - len(done)
    if undone:
        lines.append(f"- {undone} trial rows ended before any transfer (see Failures).")
    return lines


def _aggregate_lines(aggregate: pd.DataFrame) -> list[str]:
    """Aggregate bandwidth per cell, size and direction: median over repetitions."""
    aggregate = aggregate.assign(size_mib=aggregate["size_bytes"] / MiB)
    table = (aggregate.groupby(["cell", "parallel", "size_mib", "direction"], sort=False)
             .agg(repetitions=("repetition", "size"),
                  complete=("aggregate_mib_s", "count"),
                  median_mib_s=("aggregate_mib_s", "median"),
                  min_mib_s=("aggregate_mib_s", "min"),
                  max_mib_s=("aggregate_mib_s", "max"),
                  median_overlap=("overlap", "median"))
             .reset_index())
    return ["### Aggregate bandwidth (N appliances at once)", "",
            "Per repetition: N × size / (last end − first start) over the N instances' "
            "transfers of one size, in MiB/s; `complete` counts the repetitions in which every "
            "instance's transfer was ok. Each appliance goes through the sizes on its own, so "
            "`median_overlap` gives the share of that span in which two or more transfers ran "
            "at once (1: all along, 0: one after another); with little overlap the aggregate "
            "is not a concurrent bandwidth.", "",
            table.to_markdown(index=False, floatfmt=".3g")]


def _backend_run(measured: pd.DataFrame, backend: str) -> str:
    """`backend` (what it ran under), or its statuses when no transfer of it succeeded."""
    rows = measured[measured["backend"] == backend]
    ok = rows[rows["status"] == STATUS_OK]
    if len(ok):
        return f"`{backend}` (ran under {_values(ok['accel_effective'])})"
    counts = rows["status"].value_counts()
    statuses = ", ".join(f"{s} {counts[s]}" for s in STATUSES if counts.get(s))
    first_error = rows["error"].dropna()
    reason = f": {first_error.iloc[0]}" if len(first_error) else ""
    return f"`{backend}` (no successful transfer: {statuses}{reason})"


def _ratio_line(ratio: pd.Series) -> str:
    """One direction's UML/other bandwidth ratio, as a slowdown, held against the seed's 10x."""
    head = (f"- {ratio['direction']}: bandwidth `{ratio['numerator']}` / "
            f"`{ratio['denominator']}`")
    value, low, high = ratio["ratio"], ratio["ratio_ci_low"], ratio["ratio_ci_high"]
    if math.isnan(value):
        return f"{head}: n/a (a bandwidth could not be estimated; see the model table)."
    slowdown = f"UML is **{1 / value:.2f}x** slower"
    limit = 1 / SEED_UML_SLOWDOWN
    if math.isnan(low) or math.isnan(high) or math.isinf(high):
        ci = "no CI" if math.isnan(high) else "95% CI unbounded"
        verdict = "cannot be judged without a bounded CI"
    else:
        ci = f"95% CI {low:.3g} to {high:.3g}"
        slowdown += (f" (95% CI {1 / high:.2f} to "
                     f"{_num(1 / low if low > 0 else math.inf)})")
        if high < limit:
            verdict = (f"more than {SEED_UML_SLOWDOWN:g} times slower, beyond the seed's "
                       f"\"as much as {SEED_UML_SLOWDOWN:g} times\"")
        elif low > limit:
            verdict = (f"less than {SEED_UML_SLOWDOWN:g} times slower, within the seed's "
                       f"\"as much as {SEED_UML_SLOWDOWN:g} times\"")
        else:
            verdict = (f"consistent with the seed's {SEED_UML_SLOWDOWN:g} times (the CI "
                       f"contains 1/{SEED_UML_SLOWDOWN:g})")
    return f"{head} = **{value:.3g}** ({ci}), i.e. {slowdown}: {verdict}."


def _uml_lines(trials: pd.DataFrame, model: pd.DataFrame) -> list[str]:
    """The seed's UML claim held against the measured UML/other bandwidth ratios, or what
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
             f"UML over each other backend, the CI by Fieller's theorem from the two fits "
             f"(see the model table); the seed's claim is a ratio of at most 1/"
             f"{SEED_UML_SLOWDOWN:g}:", ""]
    for other in others:
        ratios = bandwidth_ratio(model, UML_BACKEND, other)
        if ratios.empty:
            lines.append(f"- `{other}`: no series matching a `{UML_BACKEND}` one in every "
                         "other factor (appliance, N, memsize, ...).")
        lines += [_ratio_line(ratio) for _, ratio in ratios.iterrows()]
        accels = _values(measured.loc[(measured["backend"] == other)
                                      & (measured["status"] == STATUS_OK), "accel_effective"])
        if accels != "kvm" and len(ratios):
            lines.append(f"  The seed compares with KVM; `{other}` ran under {accels} here (an "
                         "emulated CPU slows its transfers too), so this is not a UML/KVM "
                         "ratio.")
    return lines


def transfer_section(trials: pd.DataFrame, model: pd.DataFrame) -> list[str]:
    """The "## Upload and download" part of report.md, for runs of the transfer workload."""
    lines = ["## Upload and download", "",
             "Each size is uploaded into the appliance (a file on a scratch ext4 disk) and "
             "downloaded back, SHA-256 checked both ways. Per series and direction, "
             "t = t0 + size / bandwidth is fitted by least squares to every ok transfer "
             "(warm-ups excluded): t0 is the fixed overhead of one transfer, the bandwidth what "
             "the size adds. 95% CIs are t-based; the bandwidth's is the slope's inverted, "
             "`inf` where the sizes measured cannot bound it. Also in `summary.csv` (metric "
             "`upload_model`, `download_model`).", "",
             _model_table(model), "", "### Checksums", "", *_checksum_lines(trials)]
    aggregate = aggregate_bandwidth(trials)
    if (aggregate["parallel"] > 1).any():
        lines += ["", *_aggregate_lines(aggregate)]
    lines += ["", "### The seed's claim", "", f"> {SEED_TRANSFER_CLAIM}",
              "> (guestfs-performance(1), USING USER-MODE LINUX)", "",
              *_uml_lines(trials, model)]
    return lines
