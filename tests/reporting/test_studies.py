"""The report is a registry of studies: build.py names none, a study is one module and one
line of the registry, and what a study offers (its files, figures, section, terminal lines,
comparisons) reaches the report through the registry alone."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from helpers.rows import noisy, rows, store_run

from harness.analysis.compare import pair_up
from harness.reporting import build, studies
from harness.reporting.studies.base import Rows, Study

STUDIES_DIR = Path(studies.__file__).parent


def test_build_names_no_study():
    imported = {alias.name for node in ast.walk(ast.parse(inspect.getsource(build)))
                if isinstance(node, ast.ImportFrom) and node.module
                for alias in node.names if node.module.startswith("harness.reporting.studies")}
    assert imported == {"STUDIES", "Study", "Options", "Recommendation", "Rows"}


def test_every_study_module_is_registered_once_under_its_own_name():
    modules = {p.stem for p in STUDIES_DIR.glob("*.py")} - {"__init__", "base"}
    registered = [inspect.getmodule(type(s)).__name__.rsplit(".", 1)[1]
                  for s in studies.STUDIES]
    assert sorted(registered) == sorted(modules)
    names = [s.name for s in studies.STUDIES]
    assert len(set(names)) == len(names) and all(names)


class Halves(Study[pd.DataFrame]):
    """A study added by a test: the first half of each cell's trials against the second."""

    name = "halves"

    def applies(self, rows: Rows) -> bool:
        return len(rows.trials) >= 4

    def analyse(self, rows: Rows, earlier) -> pd.DataFrame:
        trials = rows.trials.assign(half=(rows.trials["repetition"] >= 3).map(
            {False: "first", True: "second"}))
        return pair_up(trials, "half")

    def comparisons(self, result):
        return {"halves": result}

    def judged(self, result, verdicts):
        return verdicts["halves"]

    def files(self, result):
        return {"halves.csv": result}

    def figures(self, result):
        figure, axes = plt.subplots()
        axes.bar([0], result["ratio"])
        return {"halves.png": figure}

    def section(self, result):
        return ["## Halves", "", f"ratio {result['ratio'].iloc[0]:.2f}: "
                f"{result['verdict'].iloc[0]}"]

    def headline(self, result):
        return [f"halves: {result['verdict'].iloc[0]}"]


def test_a_study_added_to_the_registry_reaches_every_output(tmp_path, monkeypatch):
    monkeypatch.setattr(studies, "STUDIES", (*studies.STUDIES, Halves()))
    monkeypatch.setattr(build, "STUDIES", studies.STUDIES)
    run = store_run(tmp_path / "run", rows("tcg", noisy(10, 6, 1)))
    found = build.build_report([run], run)
    table = pd.read_csv(run / "halves.csv")
    assert table["n_baseline"].tolist() == [3] and table["n_candidate"].tolist() == [3]
    assert (run / "plots" / "halves.png").is_file()
    text = (run / "report.md").read_text()
    assert "## Halves" in text and "![halves](plots/halves.png)" in text
    assert text.index("## Halves") < text.index("## Plots")
    # Judged in the run's family: jointly with the others' comparisons (none here but its own).
    assert found.family == 1 and "jointly" not in table["verdict"].iloc[0]
    assert found.headline() == [f"halves: {table['verdict'].iloc[0]}"]


def test_comparisons_of_several_studies_are_judged_in_one_family(tmp_path, monkeypatch):
    monkeypatch.setattr(build, "STUDIES", (*studies.STUDIES, Halves()))
    trials = [*rows("tcg", noisy(10, 6, 1), appliance="fixed"),
              *rows("tcg", noisy(10, 6, 2), appliance="cached")]
    for row in trials:
        row["cell"] = f"tcg/{row['appliance']}/launch/p1"
    run = store_run(tmp_path / "run", trials)
    found = build.build_report([run], run)
    assert found.family == len(found.results["appliances"]) + len(found.results["halves"]) == 3
    assert "jointly over 3 comparisons" in found.results["halves"]["verdict"].iloc[0]
