"""From stored trials to summary.csv, plots/*.png, report.md and report.html: the analysis
is computed once here and handed to the plots and the sections.

Used at the end of every run and by `lgbench-report RUN_DIR...` to redo it without re-running.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from harness.analysis.reference import Reference, available, configured_reference, load_reference
from harness.analysis.scaling import scaling_table
from harness.analysis.summary import summarize
from harness.analysis.transfer import (
    has_transfers,
    summary_with_model,
    transfer_model,
)
from harness.plotting import plots
from harness.reporting import html
from harness.reporting.sections import inspection
from harness.reporting.sections.boot import boot_stages
from harness.reporting.sections.parallel import parallel_section
from harness.reporting.sections.summary import seed_expectation, table_columns, timed_rows
from harness.reporting.sections.transfer import transfer_section
from harness.reporting.sections.uml import comparison_section, uml_comparison
from harness.results import store
from harness.results.records import STATUS_OK


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
        store.write_csv(out_dir / store.SCALING_FILE, scaling)
        name = configured_reference(metadata)
        if name in available():
            reference = load_reference(name)
    comparison = uml_comparison(trials, seed)
    if comparison is not None:
        store.write_csv(out_dir / store.COMPARISON_FILE, comparison)
    plot_files = _save_plots(trials, out_dir / "plots", scaling is not None, reference, model)
    boot_lines, boot_plots = boot_stages(run_dirs, out_dir, trials, metadata)
    text = render_markdown(trials, summary, metadata, plot_files + boot_plots, out_dir,
                           scaling, reference, model, comparison, boot_lines)
    text += "".join(f"{line}\n" for line in ["", *sections]) if sections else ""
    store.write_text(out_dir / store.REPORT_FILE, text)
    html.write(out_dir, text, metadata)
    return summary




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
        timed = timed_rows(summary)
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
