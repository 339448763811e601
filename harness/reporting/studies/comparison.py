"""The comparison along a factor: each level of a sweep's swept factors against the first
(`lgbench -m backend=tcg,uml`), or of one column the caller names (`lgbench-report --compare
host`), per cell of the factors both sides share; judged with the run's other comparisons."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis import compare
from harness.plotting.comparison import ratio_chart
from harness.reporting.studies.base import Recommendation, Rows, Study
from harness.reporting.text import code, markdown_table, md
from harness.results.records import repetition_metric

# The swept factors a sweep's end compares, level against level (N has its own study).
COMPARED_IN_SWEEPS = ("backend", "appliance", "workload", "memsize", "smp", "page_cache",
                      "append", "uml_channel")
# The levels a command need not name (str of the row value).
DEFAULTS = {"workload": "launch", "parallel": "1", "timeline": "False"}
# experiment=assess sweeps `step` (conf/step/), each step a few settings at once; the
# factors its sweep compares level against level (appliance kinds, operation strategies and N
# have studies of their own).
STEP_FACTORS = ("backend", "append")
# A swept config key whose row column has another name.
COLUMN_OF_KEY = {"backend.relay": "uml_channel"}


@dataclass(frozen=True)
class Comparison:
    by: str | None  # the column the caller compares along; None: a sweep's swept factors
    metrics: tuple[str, ...]
    pairs: pd.DataFrame  # pair_up's rows, then judged
    matching: list[str]  # the factors cells are matched on
    note: str | None  # the sides ran on different hosts


class ComparisonStudy(Study[Comparison]):
    name = "comparison"

    def applies(self, rows: Rows) -> bool:
        options = rows.options
        return options.compare_by is not None or bool(swept_factors(rows.trials, options.swept))

    def analyse(self, rows: Rows, earlier: Mapping[str, Any]) -> Comparison:
        trials, by = rows.trials, rows.options.compare_by
        if by is None:
            metric = repetition_metric(int(trials["parallel"].max()))
            return Comparison(None, (metric,), sweep_pairs(trials, rows.options.swept, metric),
                              [], None)
        pairs = compare.pair_up(trials, by, rows.options.metrics)
        return Comparison(by, rows.options.metrics, pairs, compare.matching_keys(trials, by),
                          hosts_note(trials, pairs, by))

    def comparisons(self, result: Comparison) -> dict[str, pd.DataFrame]:
        return {"comparison": result.pairs}

    def judged(self, result: Comparison, verdicts: dict[str, pd.DataFrame]) -> Comparison:
        return replace(result, pairs=verdicts["comparison"])

    def files(self, result: Comparison) -> dict[str, pd.DataFrame]:
        return {} if result.by is None else {f"comparison-{result.by}.csv": result.pairs}

    def figures(self, result: Comparison) -> dict[str, Any]:
        table = result.pairs
        if result.by is None or table.empty:
            return {}
        labels = [f"{r.candidate} vs {r.baseline}: {r.baseline_cell}, {r.metric}"
                  for r in table.itertuples()]
        return {f"comparison-{result.by}.png": ratio_chart(table, labels,
                                                           f"comparison by {result.by}")}

    def section(self, result: Comparison) -> list[str]:
        if result.by is None:
            return ["## Sweep comparisons", "", f"`{result.metrics[0]}`. {compare.METHOD}", "",
                    *(f"- {line}" for line in sweep_lines(result.pairs))]
        if result.pairs.empty:
            return [f"## Comparison by {md(result.by)}", "", "No cell was measured on both sides."]
        return comparison_lines(result.pairs, result.by, result.note)

    def recommendations(self, result: Comparison) -> list[Recommendation]:
        if result.by is None:
            return [_recommendation(row, row.factor, row.baseline_level, row.candidate_level)
                    for row in result.pairs.itertuples()]
        if result.by in COMPARED_IN_SWEEPS:  # not a host or a run: a setting to change
            return [_recommendation(row, result.by, row.baseline, row.candidate)
                    for row in result.pairs.itertuples()]
        return []

    def headline(self, result: Comparison) -> list[str]:
        if result.by is None:
            return sweep_lines(result.pairs)
        lines = [f"\ncomparison by {result.by} ({', '.join(result.metrics)}):",
                 comparison_text(result.pairs) if len(result.pairs) else
                 "no cell was measured on both sides (cells are matched on "
                 f"{', '.join(result.matching)})"]
        return [*lines, *([result.note] if result.note else [])]


def swept_factors(trials: pd.DataFrame, swept: Sequence[str]) -> list[str]:
    """The swept config keys that a sweep compares, as row columns with two levels or more
    (a swept `step` of experiment=assess: STEP_FACTORS)."""
    columns = {COLUMN_OF_KEY.get(key, key) for key in swept}
    if "step" in swept:
        columns |= set(STEP_FACTORS)
    return [k for k in COMPARED_IN_SWEEPS if k in columns and k in trials
            and trials[k].nunique() > 1]


def _level(factor: str, level: object) -> str:
    """`tcg` for a backend, appliance or workload; `memsize=512` for a number."""
    if factor in ("backend", "appliance", "workload"):
        return str(level)
    return f"{factor}={level if level != '' else repr('')}"


def _setting(column: str, level: object) -> str:
    """The config override that chooses `level` of a row column: `backend=uml`."""
    key = next((k for k, c in COLUMN_OF_KEY.items() if c == column), column)
    return f"{key}={_value(level)}"


def _value(level: object) -> str:
    """A level as Hydra's override grammar reads it: 512 (not 512.0), true, 'two words'."""
    if isinstance(level, float) and level.is_integer():
        return str(int(level))
    if isinstance(level, (bool, np.bool_)):
        return str(level).lower()
    text = str(level)
    return text if re.fullmatch(r"[\w.:/+-]+", text) else repr(text)


def _recommendation(row: Any, factor: str, baseline: object, candidate: object
                    ) -> Recommendation:
    """One judged pair as a change to make, with the sweep that measures it again: the
    factor's two levels, in the cell's backend, workload (a transfer's sizes), N, memsize and
    timeline."""
    context = [_setting(column, value) for column in ("backend", "workload", "parallel",
                                                       "memsize", "timeline")
               if column != factor and (value := getattr(row, column, None)) is not None
               and not pd.isna(value) and str(value) != DEFAULTS.get(column)]
    sizes = getattr(row, "sizes", None)  # a transfer cell's: after its workload
    if sizes and factor != "workload":
        at = next(i for i, word in enumerate(context) if word.startswith("workload=")) + 1
        context.insert(at, f"workload.sizes=[{','.join(str(int(size)) for size in sizes)}]")
    levels = f"{_setting(factor, baseline)},{_value(candidate)}"
    return Recommendation.from_judged(
        row, f"{_setting(factor, candidate)} instead of {_setting(factor, baseline)}",
        row.baseline_cell, " ".join(map(_shell_word, ["lgbench", "-m", levels, *context])))


def _shell_word(word: str) -> str:
    """`word` as a shell reads it back: bare when plain, in double quotes around Hydra's
    single-quoted values, else as shlex quotes it."""
    if re.fullmatch(r"[\w.:/+=,-]+", word):
        return word
    return f'"{word}"' if not set('"$`\\!') & set(word) else shlex.quote(word)


def sweep_pairs(trials: pd.DataFrame, swept: Sequence[str], metric: str) -> pd.DataFrame:
    """Each swept factor's levels against its first, the levels named as `_level` names them."""
    pairs = []
    sizes = (trials.dropna(subset=["size_bytes"]).groupby("cell")["size_bytes"]
             .agg(lambda moved: sorted(moved.unique())) if "size_bytes" in trials else {})
    for by in swept_factors(trials, swept):
        rows = compare.pair_up(trials, by, (metric,))
        pairs.append(rows.assign(factor=by, baseline_level=rows["baseline"],
                                 candidate_level=rows["candidate"],
                                 baseline=[_level(by, v) for v in rows["baseline"]],
                                 candidate=[_level(by, v) for v in rows["candidate"]],
                                 sizes=[sizes.get(cell) for cell in rows["baseline_cell"]]))
    # A transfer's sizes share one total: the same two cells are compared once.
    return pd.concat(pairs, ignore_index=True).drop_duplicates(
        ["baseline_cell", "baseline", "candidate", "metric"])


def sweep_lines(judged: pd.DataFrame) -> list[str]:
    return [f"{row.baseline_cell}: {row.verdict}" for row in judged.itertuples()]


def matched_on(result: pd.DataFrame) -> list[str]:
    """The factors a comparison matched cells on: its columns before `baseline`."""
    return list(result.columns[:list(result.columns).index("baseline")])


# What a comparison's row shows after the factors that tell the rows apart.
DISPLAY_FIGURES = ("baseline", "candidate", "n_baseline", "n_candidate", "median_baseline",
                   "median_candidate", "ratio", "ratio_ci_low", "ratio_ci_high", "verdict")


def display_columns(result: pd.DataFrame) -> list[str]:
    """The matching keys that vary between rows (else the cell), the metric, then what a
    reader needs."""
    keys = [c for c in matched_on(result) if result[c].nunique(dropna=False) > 1]
    return [*(keys or ["baseline_cell"]), "metric", *DISPLAY_FIGURES]


def comparison_text(result: pd.DataFrame, extra: tuple[str, ...] = ()) -> str:
    """One line per comparison for the terminal (the full table is report.md's and the
    CSV's): where, both medians with their trial counts, the verdict, and `extra` columns."""
    where = [c for c in display_columns(result) if c not in DISPLAY_FIGURES]
    return "\n".join(
        f"- {', '.join(str(row[c]) for c in where)}: {row['candidate']} "
        f"{row['median_candidate']:.4g} (n={row['n_candidate']}) against {row['baseline']} "
        f"{row['median_baseline']:.4g} (n={row['n_baseline']}): {row['verdict']}"
        + "".join(f"; {c} {row[c]:.4g}" if isinstance(row[c], float) else f"; {c} {row[c]}"
                  for c in extra)
        for _, row in result.iterrows())


def hosts_note(trials: pd.DataFrame, result: pd.DataFrame, by: str) -> str | None:
    """A warning when the compared sides ran on different hosts, so the host is compared too."""
    hosts = sorted(trials["host"].unique())
    if by == "host" or len(hosts) < 2 or "host" in matched_on(result):
        return None
    return (f"note: the sides ran on different hosts ({', '.join(hosts)}), so each difference "
            f"is the {by}'s and the host's together")


def comparison_lines(result: pd.DataFrame, by: str, note: str | None) -> list[str]:
    """The "## Comparison by ..." section of report.md."""
    lines = [f"## Comparison by {md(by)}", "",
             f"Each other {code(by)} against {code(result['baseline'].iloc[0])}, per cell of "
             f"the factors both sides share ({', '.join(map(md, matched_on(result)))}). "
             f"{compare.METHOD} The report's comparisons and these are one family. Also in "
             f"{code(f'comparison-{by}.csv')}.", "",
             markdown_table(result[display_columns(result)], floatfmt=".4g")]
    return lines + (["", f"**{md(note[0].upper() + note[1:])}.**"] if note else [])
