"""`lgbench-report` on stored real runs (tests/data/runs/, made by tests/data/record_runs.py): a
TCG run of 4 launches and a libvirt run of 1, compared and reported in HTML, and the baseline
gate on a run against itself. The report only reads rows, so no appliance is booted here;
lgbench-report runs in-process."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from harness.cli.report import main

RUNS = Path(__file__).parents[1] / "data" / "runs"
TCG, LIBVIRT = RUNS / "tcg_launch", RUNS / "libvirt_launch"


def test_two_stored_runs_are_compared_and_reported_in_html(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # where a report of several runs goes
    assert main([str(TCG), str(LIBVIRT)]) == 0
    printed = capsys.readouterr().out
    assert "comparison by backend (total_s):" in printed
    out = next(tmp_path.glob("lgbench-report-*"))
    assert f"report: {out.name}/report.html" in printed
    row = pd.read_csv(out / "comparison-backend.csv").iloc[0]
    assert (row["baseline"], row["candidate"], row["n_baseline"], row["n_candidate"]) == \
        ("tcg", "libvirt", 4, 1)
    assert 0.3 < row["ratio"] < 3
    assert row["verdict"].startswith("too few trials to tell (1 trial a side;")
    assert row["verdict"] in printed
    html = (out / "report.html").read_text()
    plots = list((out / "plots").glob("*.png"))
    assert html.count('src="data:image/svg+xml;base64,') == len(plots) >= 1
    assert "Comparison by backend" in html and "1.48" in html  # libguestfs version


def test_the_gate_passes_a_run_against_itself(capsys):
    assert main(["--baseline", str(TCG), "--candidate", str(TCG), "--threshold", "0%"]) == 0
    assert "OK: no cell of the candidate is slower" in capsys.readouterr().out


@pytest.mark.parametrize("run", [TCG, LIBVIRT], ids=lambda p: p.name)
def test_the_stored_runs_are_real_and_whole(run):
    """What the tests above rely on: rows of real launches, all ok, with their metadata."""
    trials = pd.read_parquet(run / "trials.parquet")
    assert (trials["status"] == "ok").all() and set(trials["accel_effective"]) == {"tcg"}
    assert (trials["launch_s"] > 1).all()  # a real TCG launch, not the fake backend
    assert (run / "metadata.json").is_file()
