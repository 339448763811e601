"""Results other tools read: summary.json beside summary.csv, and pyperf's JSON format read
by pyperf itself."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pandas as pd
import pytest
from helpers.rows import noisy, rows, store_run

from harness.analysis.summary import summarize
from harness.cli.report import main
from harness.results import store


@pytest.fixture
def two_runs(tmp_path):
    tcg = store_run(tmp_path / "tcg", rows("tcg", noisy(10, 6, 1)))
    libvirt = store_run(tmp_path / "libvirt", rows("libvirt", noisy(13, 6, 2)))
    return tcg, libvirt


def test_summary_json_holds_summary_csvs_numbers_and_the_metadata(two_runs, tmp_path):
    out = tmp_path / "out"
    assert main([*map(str, two_runs), "--out", str(out)]) == 0
    document = json.loads((out / "summary.json").read_text())
    assert document["format"] == "lgbench-summary" and len(document["runs"]) == 2
    csv = pd.read_csv(out / "summary.csv")
    from_json = pd.DataFrame(document["summary"])
    assert len(from_json) == len(csv)
    pd.testing.assert_series_equal(from_json["median"].astype(float), csv["median"],
                                   check_names=False)
    assert None in from_json["ci_low"].tolist() or from_json["ci_low"].notna().all()


def pyperf(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pyperf", *args], capture_output=True,
                          text=True, timeout=120)


def test_pyperf_reads_an_exported_run_and_compares_two(two_runs, tmp_path, capsys):
    tcg, libvirt = two_runs
    for run in two_runs:
        assert main([str(run), "--out", str(tmp_path / run.name), "--export", "pyperf"]) == 0
        assert "pyperf: " in capsys.readouterr().out
    exported = {run.name: tmp_path / run.name / "pyperf.json" for run in two_runs}
    stats = pyperf("stats", str(exported["tcg"]))
    assert stats.returncode == 0, stats.stderr
    assert "Total number of values: 6" in stats.stdout
    # pyperf's median is lgbench's: the warm-up (99 s) is left out of both.
    summary = summarize(store.read_trials([tcg]))
    median = float(summary.query("metric == 'total_s'")["median"].iloc[0])
    shown = re.search(r"Median \+- MAD: +([\d.]+) sec", stats.stdout)
    assert shown and float(shown.group(1)) == pytest.approx(median, abs=0.006)
    hist = pyperf("hist", str(exported["tcg"]))
    assert hist.returncode == 0, hist.stderr
    # Two runs of different backends: the same cell name is needed to compare, so rename.
    suite = json.loads(exported["libvirt"].read_text())
    for benchmark in suite["benchmarks"]:
        for run in benchmark["runs"]:
            run.get("metadata", {}).update(name="tcg/cached-hot/launch/p1")
        benchmark.get("metadata", {}).update(name="tcg/cached-hot/launch/p1")
    suite["metadata"] = {**suite.get("metadata", {}), "name": "tcg/cached-hot/launch/p1"}
    renamed = tmp_path / "libvirt-renamed.json"
    renamed.write_text(json.dumps(suite))
    compared = pyperf("compare_to", str(exported["tcg"]), str(renamed))
    assert compared.returncode == 0, compared.stderr
    assert "slower" in compared.stdout


def test_nothing_to_export_is_said(tmp_path, capsys):
    failed = rows("tcg", [10.0, 11.0], status="error")
    run = store_run(tmp_path / "failed", failed)
    assert main([str(run), "--export", "pyperf"]) == 0
    assert "pyperf: nothing to export" in capsys.readouterr().out
    assert not (run / "pyperf.json").exists()


def test_the_export_carries_host_date_versions_and_config_and_writes_nothing_else(
        tmp_path, capsys):
    tcg = store_run(tmp_path / "tcg", rows("tcg", noisy(10, 6, 1), run_id="tcg"))
    out = tmp_path / "out"
    assert main([str(tcg), "--out", str(out), "--export", "pyperf"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["pyperf.json"]  # no report rebuilt
    said = pyperf("metadata", str(out / "pyperf.json"))
    assert said.returncode == 0, said.stderr
    for words in ("hostname: host-a", "cpu_model_name: Test CPU", "cpu_count: 2",
                  "libguestfs_version: 1.48.6", "qemu_version: QEMU 7.2", "backend: tcg",
                  "lgbench_run: tcg"):
        assert words in said.stdout, (words, said.stdout)
