"""hydra/launcher=interleaved, the default for local sweeps: every cell's warm-ups, then rounds
of one repetition of every cell in a new seeded order; rows carry the round, comparisons pair
them by round, and Ctrl-C and resume=true keep working."""

import json
import signal

import pandas as pd
import pytest
from helpers.lgbench import interrupt_when, run_in_process_in, run_lgbench_in, start_in, wait_for

from harness.analysis.compare import NOT_INTERLEAVED, pair_up, with_verdicts

SWEEP = ("-m", "backend=fake", "memsize=512,1024,2048", "warmup=1")


def sweep_rows(sweep):
    return pd.concat([pd.read_parquet(job / "trials.parquet") for job in sorted(
        p for p in sweep.iterdir() if p.name.isdigit())], ignore_index=True)


def test_cells_run_in_rounds_in_the_recorded_random_orders(tmp_path):
    sweep = tmp_path / "sweep"
    result = run_in_process_in(tmp_path, *SWEEP, "runs=4", "seed=3", f"hydra.sweep.dir={sweep}")
    assert result.returncode == 0, result.stderr
    rows = sweep_rows(sweep)
    warm, measured = rows[rows["warmup"]], rows[~rows["warmup"]]
    assert len(warm) == 3 and warm["round"].isna().all()
    assert sorted(measured["round"]) == [r for r in (1, 2, 3, 4) for _ in range(3)]
    # Every warm-up before any measured repetition; then round by round, in its order.
    assert warm["ended_at"].max() <= measured["started_at"].min()
    rounds = json.loads((sweep / "rounds.json").read_text())
    assert rounds["seed"] == 3 and rounds["rounds_done"] == 4 and len(rounds["orders"]) == 4
    cell_of_job = {i: cell for i, cell in enumerate(
        pd.read_parquet(sweep / str(i) / "trials.parquet")["cell"].iloc[0] for i in range(3))}
    for number, order in enumerate(rounds["orders"], start=1):
        in_round = measured[measured["round"] == number].sort_values("started_at")
        assert list(in_round["cell"]) == [cell_of_job[i] for i in order]
    assert len({tuple(o) for o in rounds["orders"]}) > 1  # a new order per round
    # Each cell: complete, reported, its rows' comparisons paired by round.
    for i in range(3):
        meta = json.loads((sweep / str(i) / "metadata.json").read_text())
        assert meta["interleaved"] and meta["stop_reason"] == "runs"
        assert (sweep / str(i) / "report.md").exists()
    comparison_lines = [line for line in result.stdout.splitlines()
                        if line.startswith("fake/cached-hot/launch/p1/m512: ")]
    assert len(comparison_lines) == 2, result.stdout
    assert all("rounds" in line and NOT_INTERLEAVED not in line for line in comparison_lines)


def test_the_basic_launcher_runs_cells_one_after_another_and_says_drift_is_not_controlled(
        tmp_path):
    sweep = tmp_path / "sweep"
    result = run_in_process_in(tmp_path, *SWEEP, "runs=2", "hydra/launcher=basic",
                               f"hydra.sweep.dir={sweep}")
    assert result.returncode == 0, result.stderr
    rows = sweep_rows(sweep)
    assert "round" not in rows.columns
    assert not (sweep / "rounds.json").exists()
    assert NOT_INTERLEAVED in (sweep / "report.md").read_text()


def test_runs_auto_adds_rounds_until_every_cell_is_precise(tmp_path):
    """Fake launches are alike to a few percent: every cell's 99% CI is within 50% from 8
    rounds, the fewest it needs."""
    sweep = tmp_path / "sweep"
    result = run_in_process_in(tmp_path, *SWEEP, "runs=auto", "precision=0.5", "min_runs=6",
                               "max_runs=9", f"hydra.sweep.dir={sweep}")
    assert result.returncode == 0, result.stderr
    rows = sweep_rows(sweep)
    assert rows.loc[~rows["warmup"], "round"].max() == 8
    for i in range(3):
        meta = json.loads((sweep / str(i) / "metadata.json").read_text())
        assert meta["stop_reason"] == "precision"


@pytest.mark.parametrize("how", ["ctrl-c", "resume"])
def test_ctrl_c_keeps_the_rounds_measured_and_resume_measures_the_sweep_again(tmp_path, how):
    """Interrupted in round 2, every cell is incomplete: resume=true measures them again."""
    sweep = tmp_path / "sweep"
    args = (*SWEEP, "runs=3", "backend.launch_s=0.5", f"hydra.sweep.dir={sweep}")
    proc = start_in(tmp_path, *args)
    _, said = interrupt_when(proc, lambda: wait_for(
        lambda: (sweep / "rounds.json").exists()
        and json.loads((sweep / "rounds.json").read_text())["rounds_done"] >= 1, 60),
        signal.SIGINT)
    assert proc.returncode == 130, said
    assert "Traceback" not in said
    kept = sweep_rows(sweep)
    assert (kept.loc[~kept["warmup"], "round"] >= 1).all() and len(kept) >= 6
    if how == "resume":
        again = run_in_process_in(tmp_path, *args, "resume=true")
        assert again.returncode == 0, again.stderr
        rows = sweep_rows(sweep)
        assert sorted(rows.loc[~rows["warmup"], "round"]) == [1, 1, 1, 2, 2, 2, 3, 3, 3]


def test_a_drifting_host_misleads_cells_run_one_after_another_but_not_interleaved_ones(
        tmp_path):
    """No real difference between the cells, and a fake host that slows launches by 200% a
    minute: run one after another, the later cell comes out slower (and the verdict says drift
    was not controlled); interleaved, paired by round, no direction is claimed (seed 1: the
    order alternates evenly over the 8 rounds, so the drift falls on both cells alike)."""
    args = ("-m", "backend=fake", "backend.launch_s=0.2", "backend.drift_per_min=2",
            "memsize=512,1024", "runs=8", "warmup=0", "seed=1")
    lines = {}
    for launcher in ("basic", "interleaved"):
        folder = tmp_path / launcher
        folder.mkdir()
        # A process of its own: the fake host drifts from when its process began.
        result = run_lgbench_in(folder, *args, f"hydra/launcher={launcher}",
                                f"hydra.sweep.dir={folder / 'sweep'}")
        assert result.returncode == 0, result.stderr
        [lines[launcher]] = [line for line in result.stdout.splitlines()
                             if line.startswith("fake/cached-hot/launch/p1/m512: ")]
    assert "memsize=1024" in lines["basic"] and "slower than memsize=512" in lines["basic"]
    assert NOT_INTERLEAVED in lines["basic"]
    assert "no clear difference between memsize=1024 and memsize=512" in lines["interleaved"]
    assert NOT_INTERLEAVED not in lines["interleaved"]


def test_bimodal_launch_times_with_a_real_difference_are_called_in_its_direction(tmp_path):
    """The fake plants TCG's two modes (half the launches 1.5x slower) and a cell 1.6x slower
    (`backend.level`, which no row column names: the two cells are told apart by their
    labels); the sweep's rows, interleaved and paired by round, are called in the planted
    direction. (One sweep's interval misses the planted 1.6x in 5% of sweeps, as a 95%
    interval should: its coverage is tested on many simulated sweeps in
    tests/analysis/test_compare.py, not on this one draw.)"""
    sweep = tmp_path / "sweep"
    result = run_in_process_in(tmp_path, "-m", "backend=fake", "backend.launch_s=0.1",
                               "backend.spread=0.01", "backend.slow_share=0.5",
                               "backend.slow_factor=1.5", "backend.level=1.0,1.6", "runs=12",
                               "warmup=0", f"hydra.sweep.dir={sweep}")
    assert result.returncode == 0, result.stderr
    rows = pd.read_parquet(sweep / "trials.parquet")
    base = rows[rows["cell"].str.endswith("backend.level=1.0")]
    slow = base["launch_s"] > 0.1 * 1.25
    assert 0 < slow.sum() < len(slow)  # both modes were drawn
    (judged,) = with_verdicts(pair_up(rows, "cell", ("launch_s",))).to_dict("records")
    assert judged["interleaved"] and judged["baseline"] == base["cell"].iloc[0]
    assert 1 < judged["ratio_ci_low"] <= judged["ratio"] <= judged["ratio_ci_high"], \
        judged["verdict"]
    assert " slower than " in judged["verdict"]


SEARCH = ("-m", "backend=fake", "backend.launch_s=0.1", "parallel=1,2", "warmup=1")


def cells_by_n(sweep):
    """Each job folder's N and its rows, by N."""
    rows = sweep_rows(sweep)
    return {int(n): cell for n, cell in rows.groupby("parallel")}


def test_a_sweep_searching_n_adds_twice_the_largest_n_while_throughput_grows(tmp_path):
    """Fake appliances at once take as long as one: trials per hour double with N, so after
    3 rounds at N = 2 the search adds N = 4, and 3 rounds later N = 8 (parallel_max); each
    added cell runs its warm-up at once and joins the rounds left at a recorded place."""
    sweep = tmp_path / "sweep"
    result = run_in_process_in(tmp_path, *SEARCH, "parallel_max=8", "runs=9", "seed=2",
                               f"hydra.sweep.dir={sweep}")
    assert result.returncode == 0, result.stderr
    by_n = cells_by_n(sweep)
    assert sorted(by_n) == [1, 2, 4, 8]
    for n, joined in ((1, 1), (2, 1), (4, 4), (8, 7)):
        measured = by_n[n][~by_n[n]["warmup"]]
        assert sorted(measured["round"].unique()) == list(range(joined, 10)), n
        assert by_n[n]["warmup"].sum() == 1  # one warm-up, one appliance
    round_ended = sweep_rows(sweep).groupby("round")["ended_at"].max()
    warm_4 = by_n[4][by_n[4]["warmup"]]
    assert round_ended[3] <= warm_4["started_at"].min() <= warm_4["ended_at"].max() \
        <= by_n[4].loc[~by_n[4]["warmup"], "started_at"].min()
    rounds = json.loads((sweep / "rounds.json").read_text())
    assert rounds["added"] == [{"cell": 1, "parallel": 4}, {"cell": 1, "parallel": 8}]
    assert [len(order) for order in rounds["orders"]] == [2, 2, 2, 3, 3, 3, 4, 4, 4]
    assert "N search: fake gives +" in result.stdout and "adding N = 8" in result.stdout
    capacity = pd.read_csv(sweep / "capacity.csv")
    assert capacity.loc[capacity["best"], "parallel"].tolist() == [8]
    assert "at N = 8" in result.stdout and "measure parallel=8,16 next" in result.stdout


def test_the_search_adds_no_n_past_what_memory_holds(tmp_path, monkeypatch):
    """Memory holds 3 (the host's available memory is an input here): the search adds N = 3
    rather than 4, and nothing past it though throughput still grows."""
    monkeypatch.setattr("harness.host.feasibility.most_that_fit", lambda memsize, cost: 3)
    sweep = tmp_path / "sweep"
    result = run_in_process_in(tmp_path, *SEARCH, "parallel_max=16", "runs=9",
                               f"hydra.sweep.dir={sweep}")
    assert result.returncode == 0, result.stderr
    assert sorted(cells_by_n(sweep)) == [1, 2, 3]


def test_without_parallel_max_a_sweep_keeps_its_own_n(tmp_path):
    sweep = tmp_path / "sweep"
    result = run_in_process_in(tmp_path, *SEARCH, "runs=6", f"hydra.sweep.dir={sweep}")
    assert result.returncode == 0, result.stderr
    assert sorted(cells_by_n(sweep)) == [1, 2]
    assert json.loads((sweep / "rounds.json").read_text())["added"] == []


def test_resume_measures_the_cells_the_search_added(tmp_path):
    """Interrupted after the search added N = 4: resume=true measures it again with the
    sweep's own cells, from their warm-ups, in every round, and adds no cell twice."""
    sweep = tmp_path / "sweep"
    args = (*SEARCH, "backend.launch_s=0.3", "parallel_max=4", "runs=6",
            f"hydra.sweep.dir={sweep}")
    proc = start_in(tmp_path, *args)
    _, said = interrupt_when(proc, lambda: wait_for(
        lambda: (sweep / "rounds.json").exists()
        and json.loads((sweep / "rounds.json").read_text())["rounds_done"] >= 4, 90),
        signal.SIGINT)
    assert proc.returncode == 130, said
    again = run_in_process_in(tmp_path, *args, "resume=true")
    assert again.returncode == 0, again.stderr
    by_n = cells_by_n(sweep)
    assert sorted(by_n) == [1, 2, 4]
    assert sorted(p.name for p in sweep.iterdir() if p.name.isdigit()) == ["0", "1", "2"]
    measured = by_n[4][~by_n[4]["warmup"]]
    assert sorted(measured["round"]) == [r for r in range(1, 7) for _ in range(4)]


def test_a_launcher_that_cannot_search_n_says_so(tmp_path):
    sweep = tmp_path / "sweep"
    result = run_in_process_in(tmp_path, *SEARCH, "parallel_max=8", "runs=1",
                               "hydra/launcher=basic", f"hydra.sweep.dir={sweep}")
    assert result.returncode == 0, result.stderr
    assert ("parallel_max=8: hydra/launcher=basic measures the sweep's own N; only the default "
            "launcher, in rounds, searches N") in result.stdout + result.stderr
    assert sorted(cells_by_n(sweep)) == [1, 2]
