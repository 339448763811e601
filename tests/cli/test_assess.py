"""experiment=assess: guestfs-performance(1)'s procedure as one interleaved sweep of steps
(conf/step/), ending with what the host sustains and the report's path. On the fake backend
here, three steps; every step composes (tests/test_config.py) and the real run is in the
closing note of issue 32."""

from __future__ import annotations

import os

from helpers.lgbench import in_process, within

from harness.results import store


def test_assess_measures_its_steps_in_rounds_and_ends_with_capacity_and_the_report(tmp_path):
    sweep = tmp_path / "sweep"
    result = in_process("experiment=assess", "backend=fake", "backend.launch_s=0.02",
                        "step=launch,parallel_cpus,parallel_past_cpus", "min_runs=6",
                        "max_runs=6",
                        f"hydra.sweep.dir={sweep}", **within(tmp_path))
    assert result.returncode == 0, result.stderr
    trials = store.read_trials([sweep])
    measured = trials[~trials["warmup"].astype(bool)]
    cpus = os.cpu_count()
    # The host's CPUs, one more, and (fake launches at once take as long as one: launches per
    # hour still grow) twice that, added by the N search after 3 rounds.
    assert sorted(measured["parallel"].unique()) == [1, cpus, cpus + 1, 2 * (cpus + 1)]
    assert sorted(measured["round"].unique()) == list(range(1, 7))  # interleaved, 6 rounds
    added = measured[measured["parallel"] == 2 * (cpus + 1)]
    assert sorted(added["round"].unique()) == [4, 5, 6]
    capacity = [line for line in result.stdout.splitlines() if line.startswith("capacity, ")]
    assert len(capacity) == 1 and "launches per hour at N = " in capacity[0]
    assert "### Capacity: what the host sustains" in (sweep / store.REPORT_FILE).read_text()
    assert result.stdout.rstrip().splitlines()[-2] == f"report: {sweep / 'report.html'}"


def test_an_assess_run_resumes_where_it_stopped(tmp_path):
    """resume=true finds the newest assess sweep and skips its complete steps and the cell
    its N search added (the rounds of an interrupted one: tests/cli/test_interleaved.py); its
    report is written again."""
    steps = ("experiment=assess", "backend=fake", "backend.launch_s=0.02",
             "step=launch,parallel_cpus", "min_runs=6", "max_runs=6")
    first = in_process(*steps, **within(tmp_path))
    assert first.returncode == 0, first.stderr
    [root] = (tmp_path / "results" / "assess").iterdir()
    measured = store.read_trials([root])

    again = in_process(*steps, "resume=true", **within(tmp_path))

    assert again.returncode == 0, again.stderr
    assert list((tmp_path / "results" / "assess").iterdir()) == [root]
    assert again.stdout.count(", skipped") == 3, again.stdout
    assert len(store.read_trials([root])) == len(measured)
    assert f"report: {root / 'report.html'}" in again.stdout
