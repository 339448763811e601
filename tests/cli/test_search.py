"""A search instead of a grid: lgbench returns each cell's objective to Hydra's Optuna sweeper
and prints the best configuration as a command that measures it again."""

import math
import re
import shlex

import pandas as pd
import pytest
from helpers.lgbench import in_process, within
from helpers.rows import trial
from hydra.core.override_parser.overrides_parser import OverridesParser

from harness.analysis.summary import objective
from harness.cli.sweep import hydra_value

LAUNCH_TIMES = (0.3, 0.05, 0.2)  # backend.launch_s of the fake: 0.05 is the planted optimum


def test_the_objective_is_the_median_of_ok_measured_trials():
    rows = pd.DataFrame([trial(repetition=-1, warmup=True, total_s=9.0),
                         trial(repetition=0, total_s=3.0), trial(repetition=1, total_s=1.0),
                         trial(repetition=2, total_s=2.0),
                         trial(repetition=3, status="error", total_s=0.1)])
    assert objective(rows, "total_s") == 2.0


def test_a_cell_without_an_ok_trial_is_infinitely_slow():
    rows = pd.DataFrame([trial(status="timeout", total_s=float("nan"))])
    assert math.isinf(objective(rows, "total_s"))


@pytest.fixture(scope="module")
def search(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("search")
    result = in_process("experiment=tune_launch", "backend=fake",
                        f"backend.launch_s=choice({','.join(map(str, LAUNCH_TIMES))})",
                        "hydra.sweeper.n_trials=8", "runs=2", "warmup=0",
                        f"hydra.sweep.dir={tmp / 'sweep'}", **within(tmp))
    assert result.returncode == 0, result.stderr[-3000:]
    return tmp, result


def test_the_search_finds_the_planted_optimum(search):
    tmp, result = search
    trials = pd.read_parquet(tmp / "sweep" / "trials.parquet")
    assert trials["run_id"].nunique() == 8  # every configuration tried is a cell of its own
    best = re.search(r"best of the search: median total_s ([\d.]+) s", result.stdout)
    assert best, result.stdout[-2000:]
    medians = trials.groupby("run_id")["total_s"].median()
    assert float(best.group(1)) == pytest.approx(medians.min(), abs=5e-4)
    assert medians.min() < 0.1  # 0.05 was among them, and won
    assert "backend.launch_s=0.05" in result.stdout


def test_the_printed_command_measures_the_best_again(search):
    tmp, result = search
    command = result.stdout.split("measure it again with:")[1].strip().splitlines()[0]
    args = shlex.split(command)
    assert args[0] == "lgbench" and "hydra.mode=RUN" in args
    again = in_process(*args[1:], f"hydra.run.dir={tmp / 'again'}", **within(tmp))
    assert again.returncode == 0, again.stderr[-2000:]
    rows = pd.read_parquet(tmp / "again" / "trials.parquet")
    assert len(rows) == 2 and (rows["total_s"] < 0.1).all()


@pytest.mark.parametrize(("value", "written"), [
    (512, "512"), ("fixed", "fixed"), ("", '""'),
    ("pty.legacy_count=0 con=none ssl=none", '"pty.legacy_count=0 con=none ssl=none"')])
def test_a_best_value_is_written_as_hydra_reads_it_back(value, written):
    assert hydra_value(value) == written
    (parsed,) = OverridesParser.create().parse_overrides([f"append={written}"])
    assert parsed.value() == (str(value) if value != 512 else 512)
