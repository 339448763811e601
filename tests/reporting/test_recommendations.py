"""What to change here, and what the host sustains (issue 32): each change a run measured,
ranked by the gain it surely has, worded by the same interval as its comparison's verdict, with
the command that measures it again; and trials per hour against N with the best N."""

from __future__ import annotations

import json
import math
import re
import shlex
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from helpers.rows import noisy, store_run, sweep, trial

from harness.analysis import guide
from harness.analysis.scaling import capacity, scaling_table
from harness.analysis.summary import median_ci
from harness.reporting.build import build_report
from harness.reporting.studies.base import Options, Recommendation
from harness.results import store


def judged_row(ratio: float, low: float, high: float, family: int = 1,
               runs: int = 6) -> SimpleNamespace:
    return SimpleNamespace(ratio=ratio, ratio_ci_low=low, ratio_ci_high=high, family=family,
                           n_baseline=runs, n_candidate=runs)


@pytest.mark.parametrize(("ratio", "low", "high", "said"), [
    (0.5, 0.4, 0.6, "2.00x faster (95% CI 1.67-2.50)"),
    (1.25, 1.1, 1.4, "1.25x slower (95% CI 1.10-1.40): keep what you have"),
    (1.0, 0.9, 1.1, "no clear gain (95% CI of the speed-up 0.91-1.11)"),
    (1.0, 0.0, math.inf, "too few trials to tell"),
])
def test_the_effect_is_worded_by_the_comparisons_interval(ratio, low, high, said):
    change = Recommendation.from_judged(judged_row(ratio, low, high), "x", "cell", "lgbench")
    assert change.effect() == said


def test_a_command_measures_as_many_runs_as_its_comparison_had_beyond_the_default():
    assert Recommendation.from_judged(judged_row(0.5, 0.4, 0.6, runs=10), "x", "c",
                                      "lgbench -m a=1,2").command == "lgbench -m a=1,2 runs=10"
    assert Recommendation.from_judged(judged_row(0.5, 0.4, 0.6, runs=6), "x", "c",
                                      "lgbench -m a=1,2").command == "lgbench -m a=1,2"


def test_changes_rank_by_the_gain_they_surely_have():
    made = [Recommendation.from_judged(judged_row(*r, family=3), name, "c", "lgbench")
            for name, r in (("big but unsure", (0.4, 0.1, 0.95)), ("sure", (0.6, 0.55, 0.65)),
                            ("unknown", (1.0, 0.0, math.inf)), ("worse", (1.3, 1.2, 1.4)))]
    ranked = [r.change for r in sorted(made, key=lambda r: r.rank, reverse=True)]
    assert ranked == ["sure", "big but unsure", "worse", "unknown"]
    assert "jointly over 3 comparisons" in made[1].effect()


def appliance_trials() -> list[dict]:
    """A fixed appliance clearly faster than the cached one, 12 trials a side."""
    rows = []
    for kind, median in (("cached", 12.0), ("fixed", 9.0)):
        rows += [trial(cell=f"tcg/{kind}-hot/launch/p1", appliance=kind, repetition=i,
                       run_id=kind, total_s=v) for i, v in enumerate(noisy(median, 12, 1))]
    return rows


def test_a_run_that_measured_a_change_says_it_first_with_its_command(tmp_path):
    run = store_run(tmp_path / "run", appliance_trials())
    found = build_report([run], run)
    changes = found.recommendations
    assert [c.change for c in changes] == ["appliance=fixed instead of cached"]
    assert changes[0].low > 1 and 1.2 < changes[0].speedup < 1.45
    assert changes[0].command == ("lgbench -m appliance=cached,fixed backend=tcg workload=launch "
                                  "runs=12")  # as many as this run had: as precise again
    verdict = found.results["appliances"]["verdict"].iloc[0]
    assert verdict.startswith("fixed ") and "faster" in verdict  # the same interval's words
    report = (run / store.REPORT_FILE).read_text()
    assert report.index("## What to change here") < report.index("## Summary")
    assert ("measure again: `lgbench -m appliance=cached,fixed backend=tcg workload=launch "
            "runs=12`") in report
    document = json.loads((run / store.SUMMARY_JSON_FILE).read_text())
    assert document["recommendations"][0]["command"] == changes[0].command
    assert document["recommendations"][0]["line"] == changes[0].line()
    assert f"- {changes[0].line()}" in found.headline()


def test_a_sweeps_swept_factor_becomes_a_change_with_its_sweep_command(tmp_path):
    rows = []
    for memsize, median in ((512, 12.0), (1024, 12.0)):
        rows += [trial(cell=f"tcg/cached-hot/launch/p2/m{memsize}", memsize=memsize,
                       parallel=2, run_id=str(memsize), repetition=i, round=i, total_s=v,
                       makespan_s=v) for i, v in enumerate(noisy(median, 8, memsize))]
    run = store_run(tmp_path / "run", rows)
    found = build_report([run], run, options=Options(swept=("memsize",)))
    (change,) = found.recommendations
    assert change.change == "memsize=1024 instead of memsize=512"
    assert change.command == "lgbench -m memsize=512,1024 backend=tcg parallel=2 runs=8"


def test_hosts_and_runs_are_not_changes_to_make(tmp_path):
    rows = [dict(r, host="a") for r in appliance_trials() if r["appliance"] == "cached"]
    rows += [dict(r, host="b", run_id="other") for r in rows]
    run = store_run(tmp_path / "run", rows)
    found = build_report([run], run, options=Options(compare_by="host"))
    assert found.recommendations == []


def test_a_recommendation_names_data_as_text_in_the_report(tmp_path):
    rows = [dict(r, backend="tcg*<b>") for r in appliance_trials()]
    run = store_run(tmp_path / "run", rows)
    build_report([run], run)
    report = (run / store.REPORT_FILE).read_text()
    line = next(line for line in report.splitlines() if "instead of cached" in line)
    assert "tcg\\*&lt;b&gt;" in line and "<b>" not in line.split("`")[0]


# --- capacity ----------------------------------------------------------------------------

def test_capacity_is_n_trials_an_hour_over_the_median_makespan_with_the_best_n():
    trials = pd.DataFrame(sweep(lambda n, r: 10.0 + 3.0 * n + 0.1 * r, ns=(1, 2, 4, 8),
                                reps=7))
    table = capacity(scaling_table(trials))
    medians = {1: 13.3, 2: 16.3, 4: 22.3, 8: 34.3}
    for row in table.itertuples():
        assert row.per_hour == pytest.approx(row.parallel * 3600 / medians[row.parallel])
        assert row.per_hour_ci_low <= row.per_hour <= row.per_hour_ci_high
    assert table.loc[table["best"], "parallel"].tolist() == [8]


def test_the_throughput_interval_covers_as_often_as_the_medians():
    """Skewed makespans (lognormal): the true throughput N x 3600 / true median is inside
    the interval at least 95% of the time, as the median's CI is."""
    rng = np.random.default_rng(5)
    n, true_median, covered, repeats = 4, 30.0, 0, 400
    for _ in range(repeats):
        makespans = true_median * rng.lognormal(0, 0.2, 9)
        low, high, _ = median_ci(makespans)
        covered += n * 3600 / high <= n * 3600 / true_median <= n * 3600 / low
    assert covered / repeats >= 0.95 - 3 * math.sqrt(0.95 * 0.05 / repeats)


def test_capacity_names_memory_when_an_n_was_refused_for_it(tmp_path):
    rows = sweep(lambda n, r: 10.0 + n, ns=(1, 2), reps=6)
    rows += [trial(cell="tcg/cached-hot/launch/p4", parallel=4, run_id="tcg-p4", repetition=r,
                   instance=0, status="infeasible", error="not enough memory",
                   total_s=np.nan, makespan_s=np.nan) for r in range(6)]
    run = store_run(tmp_path / "run", rows)
    found = build_report([run], run)
    (line,) = [line for line in found.headline() if line.startswith("capacity, ")]
    assert "at N = 2" in line and "memory: N = 4 was not launched" in line
    assert (run / store.CAPACITY_FILE).exists()
    assert (run / "plots" / "capacity_vs_parallel.png").exists()
    document = json.loads((run / store.SUMMARY_JSON_FILE).read_text(),
                          parse_constant=lambda name: pytest.fail(f"{name} is not JSON"))
    best = [row for row in document["capacity"] if row["best"]]
    assert [row["parallel"] for row in best] == [2] and document["fits"]


@pytest.mark.parametrize(("makespan", "limit"), [
    (lambda n, r: 10.0 + 0.1 * r, "still growing at the largest N measured (+50% over N = 2): "
                                  "a larger N may give more (measure parallel=3,6 next)"),
    (lambda n, r: {1: 6.0, 2: 10.0, 3: 14.7}[n] + 0.01 * r,
     "+2% over N = 2, less than the 5% that counts as growing: throughput has stopped growing, "
     "the CPUs (2 here) are the limit"),
    (lambda n, r: 10.0 * n ** 1.5 + 0.1 * r, "larger N gave lower medians, the CPUs (2 here) "
                                              "are the limit"),
])
def test_capacity_says_what_limits_it_and_where_to_search_next(tmp_path, makespan, limit):
    """Throughput still growing at the largest N measured: the next N to measure; growing by
    less than 5% there, or falling past the best N: the CPUs."""
    run = store_run(tmp_path / "run", sweep(makespan, ns=(1, 2, 3), reps=6))
    (line,) = [line for line in build_report([run], run).headline()
               if line.startswith("capacity, ")]
    assert line.endswith(limit), line


def test_an_assess_step_is_compared_along_backend_and_the_kernel_words(tmp_path):
    """experiment=assess sweeps `step`, each a few settings at once: UML with the tty words
    against plain UML, plain UML against TCG; the command quotes what the shell would split."""
    words = "pty.legacy_count=0 con=none ssl=none"
    rows = []
    for backend, append, median in (("tcg", "", 12.0), ("uml", "", 9.0), ("uml", words, 4.5)):
        cell = f"{backend}/cached-hot/launch/p1" + ("/tty" if append else "")
        rows += [trial(cell=cell, backend=backend, append=append, run_id=cell, repetition=i,
                       round=i, total_s=v) for i, v in enumerate(noisy(median, 10, 7))]
    run = store_run(tmp_path / "run", rows)
    found = build_report([run], run, options=Options(swept=("step",)))
    changes = {c.change: c for c in found.recommendations}
    assert set(changes) == {"backend=uml instead of backend=tcg",
                            f"append='{words}' instead of append=''"}
    assert all(c.low > 1 for c in changes.values())
    tty = changes[f"append='{words}' instead of append=''"]
    assert shlex.split(tty.command) == ["lgbench", "-m", f"append='','{words}'", "backend=uml",
                                        "memsize=512", "runs=10"]


def test_the_page_opens_with_the_answer_then_its_contents(tmp_path):
    run = store_run(tmp_path / "run", [dict(r, cell=f"tcg/{r['appliance']}*<i>/launch/p1")
                                       for r in appliance_trials()])
    build_report([run], run)
    page = (run / "report.html").read_text()
    nav = page[page.index('<nav class="contents">'):page.index("</nav>")]
    headings = re.findall(r'<h2 id="([\w-]+)">', page)
    assert re.findall(r'href="#([\w-]+)"', nav) == headings
    assert headings[0] == "what-to-change-here"
    assert page.index("</h1>") < page.index("<ul>") < page.index("<nav")  # the headline first
    assert "<i>" not in page  # a cell's markup stays text, in the contents too


def test_json_prints_summary_json_for_programs(tmp_path, capsys):
    from harness.cli.report import main

    run = store_run(tmp_path / "run", appliance_trials())
    assert main([str(run), "--out", str(tmp_path / "out"), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads((tmp_path / "out" / store.SUMMARY_JSON_FILE).read_text())
    assert printed["recommendations"][0]["change"] == "appliance=fixed instead of cached"


# --- the guide's expectations, in one place ---------------------------------------------

def test_the_guides_expectations_are_listed_with_the_one_verdict_wording(tmp_path):
    run = store_run(tmp_path / "run", appliance_trials())
    found = build_report([run], run)
    said = {e.claim: e for e in found.expectations}
    assert said[guide.LAUNCH].verdict == guide.FAILS  # 9-12 s, under TCG
    assert "the guide assumes KVM" in said[guide.LAUNCH].measured
    assert said[guide.FIXED_APPLIANCE].verdict == guide.FAILS  # fixed measurably faster
    report = (run / store.REPORT_FILE).read_text()
    section = report.split("## The performance guide's expectations on this host", 1)[1]
    assert guide.FIXED_APPLIANCE.short() in section.split("##", 1)[0]
    document = json.loads((run / store.SUMMARY_JSON_FILE).read_text())
    assert {e["verdict"] for e in document["expectations"]} == {guide.FAILS}
    assert "The performance guide's expectations here:" in found.headline()


def test_a_fixed_appliance_like_the_cached_one_holds_the_guides_finding(tmp_path):
    rows = []
    for seed, kind in enumerate(("cached", "fixed")):
        rows += [trial(cell=f"tcg/{kind}-hot/launch/p1", appliance=kind, repetition=i,
                       round=i, run_id=kind, total_s=v)
                 for i, v in enumerate(noisy(12.0, 12, seed))]  # alike, a few % apart
    run = store_run(tmp_path / "run", rows)
    said = {e.claim: e for e in build_report([run], run).expectations}
    assert said[guide.FIXED_APPLIANCE].verdict == guide.HOLDS


def test_the_launch_expectation_holds_one_appliance_alone_to_six_seconds(tmp_path):
    """N appliances at once are the parallel study's; the guide's 6 s is for one alone."""
    rows = sweep(lambda n, r: 4.0 + 3.0 * n, ns=(1, 2, 3), reps=6)  # 7, 10, 13 s
    run = store_run(tmp_path / "run", [dict(r, launch_s=r["total_s"] - 0.5) for r in rows])
    (launch,) = [e for e in build_report([run], run).expectations if e.claim == guide.LAUNCH]
    assert launch.verdict == guide.FAILS
    assert launch.measured.startswith("0 of 1 cells launching one appliance under 6 s")


def inspection_trials(extra_s: float) -> list[dict]:
    """A launch baseline of one appliance alone around 12 s, a fixed appliance and 2 at once
    around 30 s (neither is the baseline), and an inspection `extra_s` slower than the baseline."""
    rows = [trial(cell=f"tcg/{kind}-hot/launch/p{n}", parallel=n, appliance=kind,
                  repetition=i, run_id=f"{kind}{n}", total_s=v)
            for n, kind, median in ((1, "cached", 12.0), (1, "fixed", 30.0), (2, "cached", 30.0))
            for i, v in enumerate(noisy(median, 6, n))]
    rows += [trial(cell="tcg/cached-hot/inspect[linux-lvm]/p1", workload="inspect",
                   repetition=i, run_id="inspect", total_s=v, launch_s=11.0, inspect_s=2.0)
             for i, v in enumerate(noisy(12.0 + extra_s, 6, 9))]
    return rows


@pytest.mark.parametrize(("extra_s", "verdict"), [(3.0, guide.HOLDS), (8.0, guide.FAILS)])
def test_inspection_is_held_to_five_seconds_over_the_launch_of_one_appliance_alone(
        tmp_path, extra_s, verdict):
    run = store_run(tmp_path / "run", inspection_trials(extra_s))
    said = {e.claim: e for e in build_report([run], run).expectations}
    assert said[guide.INSPECTION].verdict == verdict
    assert f"+{extra_s:.0f}." in said[guide.INSPECTION].measured
    assert "over tcg/cached-hot/launch/p1's 12" in said[guide.INSPECTION].measured


def test_assess_holds_uml_against_the_direct_backend_and_judges_the_guides_transfer_claim(
        tmp_path):
    """experiment=assess measures three backends (the direct one, libvirt, UML): the guide's
    UML sentences are judged against the direct backend, on the launch and each way of the
    transfer step (the sweep comparison judges each cell's total)."""
    size = 16 * 2**20
    rows = []
    for backend, workload, median in (("tcg", "launch", 11.0), ("libvirt", "launch", 12.5),
                                      ("uml", "launch", 10.0), ("tcg", "transfer", 14.0),
                                      ("uml", "transfer", 20.0)):
        cell = f"{backend}/cached-hot/{workload}/p1"
        for i, v in enumerate(noisy(median, 10, 7)):
            moved = ({"size_bytes": size, "sha_ok": True, "upload_s": v / 8,
                      "download_s": v / 10} if workload == "transfer" else {})
            rows.append(trial(cell=cell, backend=backend, accel_requested=backend,
                              accel_effective=backend, workload=workload, run_id=cell,
                              repetition=i, round=i, total_s=v, launch_s=v * 0.8, **moved))
    run = store_run(tmp_path / "run", rows)
    found = build_report([run], run, options=Options(swept=("step",)))
    uml = found.results["uml"]
    assert uml.other == "tcg"
    assert set(uml.comparison["metric"]) == {"launch_s", "upload_s", "download_s"}
    assert set(uml.comparison["workload"]) == {"launch", "transfer"}
    transfer = next(e for e in found.expectations if e.claim == guide.UML_TRANSFER)
    assert "16 MiB" in transfer.measured and transfer.verdict == guide.UNCHECKABLE
    assert found.family == len(found.results["comparison"].pairs) + len(uml.comparison)
    change = next(c for c in found.recommendations if "transfer" in c.command)
    assert shlex.split(change.command) == ["lgbench", "-m", "backend=tcg,uml", "workload=transfer",
                                           "workload.sizes=[16777216]", "memsize=512",
                                           "runs=10"]
