"""From stored trials to summary.csv, plots/*.png and report.md (the store -> stats -> plots end).

Used at the end of every run and by `lgbench-report RUN_DIR...` to redo it without re-running.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from harness import plots, stats, store
from harness.records import STATUS_OK

# guestfs-performance(1), BASELINE: STARTING THE APPLIANCE: "You should expect to be getting
# times under 6 seconds" (a KVM host, hot cache), for `time guestfish -a /dev/null run`.
SEED_LAUNCH_LIMIT_S = 6.0

TABLE_COLUMNS = ["cell", "metric", "n", "n_ok", "success_rate", "median", "ci_low", "ci_high",
                 "mean", "stdev", "min", "max", "n_outliers"]


def build_report(run_dirs: list[Path], out_dir: Path, seed: int = 0) -> pd.DataFrame:
    """Read the trials of run_dirs, write summary, plots and report.md into out_dir."""
    trials = store.read_trials(run_dirs)
    summary = stats.summarize(trials, seed=seed)
    store.write_csv(out_dir / store.SUMMARY_FILE, summary)
    plot_files = _save_plots(trials, out_dir / "plots")
    # A sweep root's jobs each hold the metadata of their cell.
    metadata = [json.loads(f.read_text()) for d in run_dirs
                for f in [d / store.METADATA_FILE, *sorted(d.glob(f"*/{store.METADATA_FILE}"))]
                if f.exists()]
    store.write_text(out_dir / "report.md",
                     render_markdown(trials, summary, metadata, plot_files, out_dir))
    return summary


def _save_plots(trials: pd.DataFrame, plot_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plot_dir.mkdir(parents=True, exist_ok=True)
    figures = {"launch_s.png": plots.launch_distribution(trials, "launch_s"),
               "total_s.png": plots.launch_distribution(trials, "total_s"),
               "status.png": plots.status_grid(trials)}
    paths = []
    for name, figure in figures.items():
        figure.savefig(plot_dir / name, dpi=110, bbox_inches="tight")
        plt.close(figure)
        paths.append(plot_dir / name)
    return paths


def table(summary: pd.DataFrame) -> str:
    """The summary as a plain-text table for the terminal."""
    if summary.empty:
        return "(no trials)"
    return summary[TABLE_COLUMNS].to_string(index=False, float_format=lambda v: f"{v:.3f}")


def seed_expectation(trials: pd.DataFrame) -> list[str]:
    """The seed's launch baseline held against each launch cell, saying which accel ran."""
    lines = []
    measured = stats.measured_trials(trials)
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
                    plot_files: list[Path], out_dir: Path) -> str:
    """report.md: what ran where, the summary table, the plots, the seed's expectations."""
    parts = ["# lgbench report", ""]
    for meta in (m for m in metadata if "backend" in m):
        host = meta.get("host", {})
        libguestfs = host.get("versions", {}).get("libguestfs")
        parts.append(f"- run `{meta.get('run_id')}` on `{host.get('hostname')}`: "
                     f"{host.get('cpu_model')}, {host.get('cores')} cores, kernel "
                     f"{host.get('kernel')}, libguestfs {libguestfs}"
                     f"; KVM: {meta.get('backend', {}).get('kvm_verdict') or 'not probed'}")
    n_warm = int(trials["warmup"].astype(bool).sum())
    parts += ["", f"{len(trials)} trial rows ({n_warm} warm-up rows, left out of the statistics).",
              "", "## Summary", "",
              "Median with a bootstrap 95% CI; success rate with n_ok of n. Times in seconds.", ""]
    if not summary.empty:
        parts.append(summary[TABLE_COLUMNS].to_markdown(index=False, floatfmt=".3f"))
    failures = trials[trials["status"] != STATUS_OK][["cell", "repetition", "instance", "status",
                                                      "error"]]
    if len(failures):
        parts += ["", "## Failures", "", failures.to_markdown(index=False)]
    parts += ["", "## The seed's expectation", ""] + seed_expectation(trials)
    parts += ["", "## Plots", ""]
    parts += [f"![{p.stem}]({p.relative_to(out_dir)})" for p in plot_files]
    return "\n".join(parts) + "\n"
