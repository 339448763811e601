"""What a study is: one question guestfs-performance(1) asks, answered from a run's rows.

A study says which rows it applies to, analyses them once into a typed result (pure: the
statistics live in harness.analysis), and hands that result to its files, figures, report
section and headline lines, which never recompute it. Comparisons a study makes are judged
by the report together with every other study's (harness.analysis.compare: one family per
run), so a study offers its pairs and takes them back judged. Modelled on benchopt's plot
registry (a base class, one subclass per kind, a list the report iterates).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import pandas as pd

from harness.analysis import guide
from harness.analysis.compare import ratio_bound
from harness.results.records import DEFAULT_RUNS

Result = TypeVar("Result")


@dataclass(frozen=True)
class Options:
    """What the caller asks of the report besides its rows: the factors a sweep swept (each
    compared level against level), or one column to compare along (`lgbench-report
    --compare`), and the metrics compared."""

    swept: tuple[str, ...] = ()
    compare_by: str | None = None
    metrics: tuple[str, ...] = ("total_s",)


@dataclass(frozen=True)
class Rows:
    """What every study reads: the trials, the runs' metadata, the events of timeline=true
    runs (None without), the per-cell summary (harness.analysis.summary, computed once) and
    the caller's options."""

    trials: pd.DataFrame
    metadata: list[dict[str, Any]]
    events: pd.DataFrame | None
    summary: pd.DataFrame
    options: Options = field(default_factory=Options)


@dataclass(frozen=True)
class Recommendation:
    """A change this run measured: how many times faster it made the work (the baseline's
    time over the changed one's, with the interval of the judged comparison it comes from, so
    its wording and that comparison's verdict cannot disagree), where, and the command that
    measures it again."""

    change: str  # e.g. "backend=uml instead of backend=tcg"
    where: str  # the cell or condition it was measured at
    speedup: float
    low: float  # NaN: too few trials for an interval
    high: float
    jointly: int  # the comparisons judged together in the run
    command: str

    @classmethod
    def from_judged(cls, row: Any, change: str, where: str, command: str) -> Recommendation:
        """From one judged comparison (harness.analysis.compare.with_verdicts' row); the
        command measures as many runs a side as this comparison had, where that is more than
        a run's default, so that it can tell as much again."""
        bounded = row.ratio_ci_low > 0 and math.isfinite(row.ratio_ci_high)
        runs = min(int(row.n_baseline), int(row.n_candidate))
        if runs > DEFAULT_RUNS:
            command += f" runs={runs}"
        return cls(change, where, 1 / row.ratio,
                   1 / row.ratio_ci_high if bounded else math.nan,
                   1 / row.ratio_ci_low if bounded else math.nan, int(row.family), command)

    @property
    def rank(self) -> float:
        """What ranks it: the gain it surely has (its interval's lower end)."""
        return -math.inf if math.isnan(self.low) else self.low

    def line(self) -> str:
        """One line: the change, its measured effect and how to measure it again."""
        return f"{self.change}, at {self.where}: {self.effect()}; measure again: {self.command}"

    def effect(self) -> str:
        """What the change did: a direction only where the interval excludes 1."""
        joint = f", jointly over {self.jointly} comparisons" if self.jointly > 1 else ""
        if math.isnan(self.low):
            return "too few trials to tell"
        if self.low > 1:
            return (f"{self.speedup:.2f}x faster (95% CI {ratio_bound(self.low)}-"
                    f"{ratio_bound(self.high)}{joint})")
        if self.high < 1:
            return (f"{1 / self.speedup:.2f}x slower (95% CI {ratio_bound(1 / self.high)}-"
                    f"{ratio_bound(1 / self.low)}{joint}): keep what you have")
        return (f"no clear gain (95% CI of the speed-up {ratio_bound(self.low)}-"
                f"{ratio_bound(self.high)}{joint})")


class Study(Generic[Result]):
    """One study. Subclasses set `name` and `claims` and implement `applies` and `analyse`;
    the other methods say what the result becomes (nothing, by default)."""

    name: str = ""
    claims: tuple[guide.Claim, ...] = ()  # the sentences of the guide this study judges

    def applies(self, rows: Rows) -> bool:
        raise NotImplementedError

    def analyse(self, rows: Rows, earlier: Mapping[str, Any]) -> Result:
        """The result, from the rows and the results of the studies registered before it."""
        raise NotImplementedError

    def comparisons(self, result: Result) -> dict[str, pd.DataFrame]:
        """Pairs to be judged in the run's family (harness.analysis.compare.pair_up's rows),
        by a name of the study's choosing."""
        return {}

    def judged(self, result: Result, verdicts: dict[str, pd.DataFrame]) -> Result:
        """The result with its comparisons judged, by the same names (only called when it
        offered some)."""
        raise NotImplementedError

    def summary_rows(self, result: Result) -> pd.DataFrame | None:
        """Rows this study adds to summary.csv after the per-cell ones."""
        return None

    def files(self, result: Result) -> dict[str, pd.DataFrame]:
        """Tables written beside the report, by file name (.csv or .parquet)."""
        return {}

    def figures(self, result: Result) -> dict[str, Any]:
        """Figures by file name under plots/, drawn from the result only."""
        return {}

    def section(self, result: Result) -> list[str]:
        """The study's lines of report.md."""
        return []

    def headline(self, result: Result) -> list[str]:
        """Lines for the terminal's end of a run (after the summary table)."""
        return []

    def recommendations(self, result: Result) -> list[Recommendation]:
        """The changes this study measured, for the report's "What to change here"."""
        return []

    def document(self, result: Result) -> dict[str, Any]:
        """What summary.json carries of the result, for programs (tables as records)."""
        return {}

    def expectations(self, result: Result) -> list[guide.Expectation]:
        """Its claims of the guide held against this run, for the report's overview."""
        return []
