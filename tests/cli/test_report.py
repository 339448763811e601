"""`lgbench-report` over stored runs: merging runs and hosts, comparisons along a grouping, the
report files, and the --baseline/--candidate gate (fake stored runs, no appliance)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers.lgbench import LGBENCH_REPORT, in_process, lgbench
from helpers.rows import judged, noisy, rows, store_run, trial

from harness.analysis.compare import NOT_INTERLEAVED, matching_keys
from harness.cli.report import main, parse_threshold
from harness.results import merge, store

# --- comparison ----------------------------------------------------------------------------


def test_comparing_hosts_matches_cells_and_says_how_much_slower():
    trials = pd.DataFrame(rows("tcg", noisy(10, 8, 1), host="fast")
                          + rows("tcg", noisy(12, 8, 2), host="slow")
                          + rows("libvirt", noisy(14, 8, 3), host="fast")
                          + rows("libvirt", noisy(14, 8, 4), host="slow"))
    result = judged(trials, "host", ["total_s"])
    assert "host" not in matching_keys(trials, "host")
    by_backend = result.set_index("backend")
    assert list(result["baseline"].unique()) == ["fast"]
    tcg = by_backend.loc["tcg"]
    assert abs(tcg["ratio"] - 1.2) < 0.05
    assert tcg["verdict"] == (
        f"slow {tcg['ratio']:.2f}x slower than fast (95% CI {tcg['ratio_ci_low']:.2f}-"
        f"{tcg['ratio_ci_high']:.2f}, jointly over 2 comparisons; {NOT_INTERLEAVED})")
    assert by_backend.loc["libvirt", "verdict"].startswith(
        "no clear difference between slow and fast (95% CI of the ratio")
    assert (result["n_baseline"] == 8).all()  # warm-ups left out


def test_backends_of_two_runs_are_compared_though_run_and_accelerator_differ():
    trials = pd.DataFrame(rows("tcg", noisy(10, 5, 1), run="A", accel_requested="tcg")
                          + rows("libvirt", noisy(15, 5, 2), run="B", accel_requested="kvm"))
    trials["host"] = "h"
    result = judged(trials, "backend")
    assert len(result) == 1
    row = result.iloc[0]
    assert (row["baseline"], row["candidate"]) == ("tcg", "libvirt")
    assert row["ratio_ci_low"] > 1.3
    assert row["verdict"] == (f"libvirt {row['ratio']:.2f}x slower than tcg (95% CI "
        f"{row['ratio_ci_low']:.2f}-{row['ratio_ci_high']:.2f}; {NOT_INTERLEAVED})")


def test_the_cells_compared_together_hold_jointly_and_can_undo_a_lone_direction():
    records = []
    for n in range(1, 7):  # six cells, each a mild, noisy difference
        rng = np.random.default_rng(n)
        for host, shift in (("a", 0.0), ("b", 0.4)):
            records += [trial(parallel=n, cell=f"p{n}", host=host, repetition=i, total_s=v)
                        for i, v in enumerate(10 + shift + rng.normal(0, 0.5, 8))]
    result = judged(pd.DataFrame(records), "host")
    alone = judged(pd.DataFrame(records), "host", family=1)
    assert len(result) == 6 and (result["family"] == 6).all()
    assert (result["ratio_ci_low"] <= alone["ratio_ci_low"]).all()
    assert (result["ratio_ci_high"] >= alone["ratio_ci_high"]).all()
    lone = alone["verdict"].str.contains("slower than") & result["verdict"].str.startswith(
        "no clear difference")
    assert lone.any(), result[["verdict"]]


def test_makespan_counts_once_per_fully_successful_repetition():
    trials = pd.DataFrame(
        [trial(host=h, parallel=2, instance=i, repetition=r, makespan_s=m, run_id=h,
               status="error" if (h, r, i) == ("b", 0, 1) else "ok")
         for h, m in (("a", 10.0), ("b", 12.0)) for r in range(4) for i in range(2)])
    row = judged(trials, "host", ["makespan_s"]).iloc[0]
    assert (row["n_baseline"], row["n_candidate"]) == (4, 3)


# --- merging ---------------------------------------------------------------------------------


def test_runs_from_two_hosts_merge_with_host_and_run_columns(tmp_path):
    a = store_run(tmp_path / "a" / "run", rows("tcg", [10, 10.1, 10.2]), host="alpha")
    b = store_run(tmp_path / "b" / "run", rows("tcg", [11, 11.1, 11.2]), host="beta")
    trials = merge.load([a, b])
    assert set(zip(trials["run"], trials["host"], strict=True)) == {("a/run", "alpha"),
                                                                     ("b/run", "beta")}
    assert set(trials["cell"]) == {f"{h}:tcg/cached-hot/launch/p1" for h in ("alpha", "beta")}


def test_a_sweep_root_brings_the_host_of_each_job(tmp_path):
    root = tmp_path / "sweep"
    store_run(root / "0", rows("tcg", [10, 10.1]), host="node1")
    store_run(root / "1", rows("libvirt", [14, 14.1]), host="node2")
    # The aggregate at the root and its metadata (the launching host) must not be read twice.
    store.write_frame_parquet(root / store.TRIALS_FILE, pd.DataFrame(rows("tcg", [1.0])))
    store.write_json(root / store.METADATA_FILE, {"host": {"hostname": "login"}})
    trials = merge.load([root])
    assert sorted(trials.groupby("host")["backend"].first().items()) == [
        ("node1", "tcg"), ("node2", "libvirt")]
    assert len(trials) == 6 and set(trials["run"]) == {"sweep"}


# --- lgbench-report RUN_DIR... ---------------------------------------------------------------


@pytest.fixture
def two_backends(tmp_path):
    a = store_run(tmp_path / "tcg", rows("tcg", noisy(10, 5, 1)))
    b = store_run(tmp_path / "libvirt", rows("libvirt", noisy(13, 5, 2), accel_requested="kvm"))
    return a, b


def test_report_of_two_runs_prints_the_comparison_and_writes_both_reports(two_backends,
                                                                           tmp_path, capsys):
    out = tmp_path / "out"
    assert main([*map(str, two_backends), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "comparison by backend (total_s):" in printed
    assert re.search(r"libvirt 1\.\d\dx slower than tcg \(95% CI 1\.\d\d-1\.\d\d; not "
                     r"interleaved", printed), printed
    csv = pd.read_csv(out / "comparison-backend.csv")
    assert list(csv[["baseline", "candidate", "metric"]].iloc[0]) == ["tcg", "libvirt",
                                                                       "total_s"]
    markdown = (out / "report.md").read_text()
    assert "## Comparison by backend" in markdown
    assert "## The performance guide's expectation" in markdown
    assert "![comparison-backend](plots/comparison-backend.png)" in markdown
    html = (out / "report.html").read_text()
    assert "Comparison by backend" in html and "Hosts and versions" in html
    assert html.count('src="data:image/svg+xml;base64,') == len(list((out / "plots").glob("*.png")))
    assert not re.search(r'(src|href)="(?!data:|#)', html)  # nothing to fetch
    # The runs' own reports were left alone.
    assert not (two_backends[0] / "report.md").exists()


def test_a_comparison_across_hosts_says_so(tmp_path, capsys):
    a = store_run(tmp_path / "tcg", rows("tcg", noisy(10, 5, 1)), host="alpha")
    b = store_run(tmp_path / "uml", rows("uml", noisy(13, 5, 2)), host="beta")
    assert main([str(a), str(b), "--out", str(tmp_path / "out")]) == 0
    note = "note: the sides ran on different hosts (alpha, beta)"
    assert note in capsys.readouterr().out
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "**Note: the sides ran on different hosts (alpha, beta)" in markdown


def test_report_compares_runs_and_several_metrics_on_request(two_backends, tmp_path, capsys):
    same = store_run(tmp_path / "again", rows("tcg", noisy(10, 5, 9)))
    out = tmp_path / "out"
    argv = [str(two_backends[0]), str(same), "--compare", "run", "--metric", "launch_s",
            "--metric", "total_s", "--out", str(out)]
    assert main(argv) == 0
    csv = pd.read_csv(out / "comparison-run.csv")
    assert list(csv["metric"]) == ["launch_s", "total_s"]
    assert csv["verdict"].str.startswith("no clear difference between").all()
    assert "comparison by run (launch_s, total_s):" in capsys.readouterr().out


@pytest.mark.parametrize(("argv", "words"), [
    (["RUN", "--compare", "nosuch"], "--compare nosuch: not a column"),
    (["RUN", "--compare", "host"], "every trial has the same value (host-a)"),
    (["RUN", "--metric", "total"], "--metric total: not measured in these runs (try launch_s, "),
    (["/nonexistent/run"], "/nonexistent/run is not a directory"),
    (["EMPTY"], "no trials.parquet in"),
    ([], "give RUN_DIR arguments"),
])
def test_bad_report_input_exits_2(tmp_path, capsys, argv, words):
    run = store_run(tmp_path / "run", rows("tcg", [10, 10.1]))
    (tmp_path / "empty").mkdir()
    argv = [{"RUN": str(run), "EMPTY": str(tmp_path / "empty")}.get(a, a) for a in argv]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert words in capsys.readouterr().err


# --- the baseline gate ----------------------------------------------------------------------


@pytest.mark.parametrize(("text", "value"), [("5%", 0.05), ("0.05", 0.05), ("12.5%", 0.125),
                                             (" 0% ", 0.0)])
def test_thresholds_read_as_fractions(text, value):
    assert parse_threshold(text) == pytest.approx(value)


@pytest.fixture
def baseline(tmp_path):
    return store_run(tmp_path / "baseline", rows("tcg", noisy(11, 5, 5, spread=0.03)))


def slowed_copy(run_dir: Path, to: Path, factor: float) -> Path:
    """Another run of the same cell: the baseline's trials, total_s times factor."""
    trials = pd.read_parquet(run_dir / store.TRIALS_FILE)
    trials["total_s"] *= factor
    meta = json.loads((run_dir / store.METADATA_FILE).read_text())
    store.write_frame_parquet(to / store.TRIALS_FILE, trials)
    store.write_json(to / store.METADATA_FILE, meta)
    return to


def test_the_gate_fails_on_a_20_percent_slowdown(baseline, tmp_path, capsys):
    candidate = slowed_copy(baseline, tmp_path / "candidate", 1.2)
    out = tmp_path / "out"
    code = main(["--baseline", str(baseline), "--candidate", str(candidate), "--threshold",
                 "5%", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 1, printed
    assert "FAIL: tcg/cached-hot/launch/p1 total_s: candidate 1.200x" in printed
    assert pd.read_csv(out / "baseline-check.csv")["gate"].tolist() == ["FAIL"]


def test_the_gate_passes_a_slowdown_within_the_threshold(baseline, tmp_path, capsys):
    candidate = slowed_copy(baseline, tmp_path / "candidate", 1.2)
    code = main(["--baseline", str(baseline), "--candidate", str(candidate), "--threshold",
                 "30%"])
    assert code == 0, capsys.readouterr().out


def test_the_gate_passes_another_run_of_the_same_cell(baseline, tmp_path, capsys):
    other = store_run(tmp_path / "other", rows("tcg", noisy(11, 5, 6, spread=0.03)))
    code = main(["--baseline", str(baseline), "--candidate", str(other)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "OK: no cell of the candidate is slower than the baseline by more than 5.0%" \
        in printed


def test_the_gate_allows_for_a_runs_own_level_end_to_end(tmp_path, capsys):
    """An unchanged cell, its candidate measured in a run 12% off the baseline's (the fake
    host's run level; lgbench's own overhead dilutes it a little): judged as if the trials of
    two runs were exchangeable (--run-sd 0%) it FAILs; against the run-to-run level (default
    3%) it passes."""
    for name, level in (("baseline", 1.0), ("candidate", 1.12)):
        result = in_process("backend=fake", "backend.launch_s=0.3", "backend.spread=0.02",
                            f"backend.level={level}", "runs=12", "warmup=1",
                            f"hydra.run.dir={tmp_path / name}", cache=tmp_path / "cache",
                            results=tmp_path / "results")
        assert result.returncode == 0, result.stderr
    argv = ["--baseline", str(tmp_path / "baseline"), "--candidate", str(tmp_path / "candidate"),
            "--metric", "launch_s", "--threshold", "5%"]
    assert main([*argv, "--run-sd", "0%", "--out", str(tmp_path / "exchangeable")]) == 1
    assert "FAIL: fake/cached-hot/launch/p1 launch_s" in capsys.readouterr().out
    assert main([*argv, "--out", str(tmp_path / "levelled")]) == 0, capsys.readouterr().out


def test_the_gate_as_a_pipeline_runs_it(baseline, tmp_path):
    """The console script's exit status, as a CI job sees it."""
    candidate = slowed_copy(baseline, tmp_path / "candidate", 1.2)

    def gate(*args: str) -> subprocess.CompletedProcess:
        return lgbench("--baseline", str(baseline), *args, program=LGBENCH_REPORT,
                       cache=tmp_path / "cache", results=tmp_path / "results", timeout=120)

    slowed = gate("--candidate", str(candidate), "--threshold", "5%")
    assert slowed.returncode == 1 and "FAIL:" in slowed.stdout, slowed.stdout + slowed.stderr
    same = gate("--candidate", str(baseline))
    assert same.returncode == 0 and "OK:" in same.stdout, same.stdout + same.stderr


@pytest.mark.parametrize(("change", "words"), [
    ("threshold=5x", "argument --threshold: '5x': write it as 5% or 0.05"),
    ("threshold=5", "'5' would be 500%"),
    ("threshold=-1%", "must be 0% or more"),
    ("missing", "is not a directory"),
    ("metric=upload_s", "--metric upload_s: not measured in these runs"),
    ("other cell", "no cell measured on both sides with an ok total_s"),
    ("one trial", "too few ok trials for the gate to be able to fail in "
                  "tcg/cached-hot/launch/p1 total_s (1 against 5): measure at least 4 a side"),
    ("two trials", "(2 against 5)"),
    ("no candidate", "--baseline and --candidate go together"),
])
def test_bad_gate_input_exits_2(baseline, tmp_path, capsys, change, words):
    candidate = slowed_copy(baseline, tmp_path / "candidate", 1.0)
    argv = ["--baseline", str(baseline), "--candidate", str(candidate)]
    if change.startswith(("threshold=", "metric=")):
        argv.append(f"--{change}")
    elif change == "missing":
        argv[-1] = str(tmp_path / "nosuch")
    elif change == "other cell":
        argv[-1] = str(store_run(tmp_path / "p4", rows("tcg", [11, 11.2], parallel=4)))
    elif change == "one trial":
        argv[1] = str(store_run(tmp_path / "short", rows("tcg", [11])))
    elif change == "two trials":
        argv[1] = str(store_run(tmp_path / "short", rows("tcg", [11, 11.1])))
    elif change == "no candidate":
        argv = argv[:2]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert words in capsys.readouterr().err


def labelled(run: Path, label: str) -> Path:
    """The run as `lgbench run_label=LABEL` leaves it: the label in its stored config."""
    meta = store.read_json(run / store.METADATA_FILE)
    store.write_json(run / store.METADATA_FILE, {**meta, "config": {"run_label": label}})
    return run


def test_two_runs_of_one_cell_are_summarised_apart_under_their_labels(tmp_path, capsys):
    """lgbench-report A B pooled the same cell of two runs into one row, named by folder."""
    before = labelled(store_run(tmp_path / "2026-12-05_18-51-05", rows("tcg", noisy(10, 6, 1))),
                      "before")
    after = labelled(store_run(tmp_path / "2026-12-05_19-02-44", rows("tcg", noisy(12, 6, 2))),
                     "after")
    out = tmp_path / "out"
    assert main([str(before), str(after), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    summary = pd.read_csv(out / store.SUMMARY_FILE).query("metric == 'total_s'")
    assert list(summary["cell"]) == ["before:tcg/cached-hot/launch/p1",
                                     "after:tcg/cached-hot/launch/p1"]
    assert list(summary["median"].round(0)) == [10, 12]
    (line,) = [ln for ln in printed.splitlines() if ln.startswith("- before:")]
    assert re.match(r"- before:tcg/cached-hot/launch/p1, total_s: after 1[12]\.\d+ \(n=6\) "
                    r"against before (9|10)\.\d+ \(n=6\): after 1\.\d\dx slower than before",
                    line), line
    assert max(map(len, printed.splitlines())) < 250


def test_runs_without_labels_are_named_by_their_folders(tmp_path, capsys):
    runs = [store_run(tmp_path / name, rows("tcg", noisy(10, 6, seed)))
            for seed, name in enumerate(("a", "b"))]
    assert main([*map(str, runs), "--out", str(tmp_path / "out")]) == 0
    cells = pd.read_csv(tmp_path / "out" / store.SUMMARY_FILE)["cell"].unique()
    assert list(cells) == ["a:tcg/cached-hot/launch/p1", "b:tcg/cached-hot/launch/p1"]
