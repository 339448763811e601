"""The summary table, as the terminal and report.md show it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.analysis.transfer import MODEL_METRICS
from harness.reporting.text import first_listed

TABLE_COLUMNS = ["cell", "metric", "n", "n_ok", "success_rate", "median", "ci_low", "ci_high",
                 "ci_level", "mean", "stdev", "min", "max", "n_outliers"]


# The transfer model's rows of the summary, shown apart from the timed metrics.
MODEL_TABLE_COLUMNS = ["cell", "metric", "n", "overhead_ms", "overhead_ci_low",
                       "overhead_ci_high", "bandwidth_mib_s", "bandwidth_ci_low",
                       "bandwidth_ci_high", "r2"]


def table_columns(summary: pd.DataFrame) -> list[str]:
    """TABLE_COLUMNS, with size_bytes after the cell when the summary splits cells by size."""
    if "size_bytes" in summary.columns:
        return [TABLE_COLUMNS[0], "size_bytes", *TABLE_COLUMNS[1:]]
    return TABLE_COLUMNS


# Left out of a displayed table when every row says the same there (said under the table
# instead): a success rate of 1, no outliers, one CI level, no CI at all, no size.
OMITTED_WHEN_CONSTANT = ("size_bytes", "success_rate", "ci_low", "ci_high", "ci_level",
                         "n_outliers")
TIME_COLUMNS = ("median", "ci_low", "ci_high", "mean", "stdev", "min", "max")
RATE_COLUMNS = ("success_rate", "ci_level")


def noise_decimals(stdev: float, median: float = 1.0) -> int:
    """Decimals that the noise supports: down to a tenth of the standard deviation (0 to 3,
    or more where the median needs them for two significant digits, as a 0.25 ms call does;
    that many where there is no spread to judge by). 0.12 s -> 2, 2.1 s -> 1, 15 s -> 0."""
    most = 3
    if np.isfinite(median) and 0 < abs(median) < 0.01:
        most = int(1 - np.floor(np.log10(abs(median))))
    if not np.isfinite(stdev) or stdev <= 0:
        return most
    return int(np.clip(-np.floor(np.log10(stdev / 10)), 0, most))


def displayed(timed: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The timed summary as people read it, and what was left out: columns that are the same
    in every row (each with its value), times rounded to noise_decimals of their row."""
    columns, omitted = [], []
    for column in table_columns(timed):
        values = timed[column]
        if column in OMITTED_WHEN_CONSTANT and values.nunique(dropna=False) <= 1:
            value = values.iloc[0] if len(values) else None
            omitted.append(f"{column} {'none' if pd.isna(value) else f'{value:g}'}")
        else:
            columns.append(column)
    shown = timed[columns].astype(object)
    decimals = [noise_decimals(stdev, median)
                for stdev, median in zip(timed["stdev"], timed["median"], strict=True)]
    for column in (c for c in columns if c in (*TIME_COLUMNS, *RATE_COLUMNS)):
        places = [3] * len(timed) if column in RATE_COLUMNS else decimals
        shown[column] = ["" if pd.isna(v) else f"{v:.{p}f}"
                         for v, p in zip(timed[column], places, strict=True)]
    return shown, omitted


def timed_rows(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary's rows of timed metrics, without the transfer model's."""
    return summary[~summary["metric"].isin(MODEL_METRICS)]


def table(summary: pd.DataFrame) -> str:
    """The summary as plain-text tables for the terminal: timed metrics, then the transfer
    model (overhead and bandwidth) if there is one."""
    if summary.empty:
        return "(no trials)"
    timed, left_out = first_listed(timed_rows(summary), "cell")
    shown, omitted = displayed(timed)
    text = shown.to_string(index=False, float_format=lambda v: f"{v:.3f}")
    if omitted:
        text += f"\n(the same in every row: {', '.join(omitted)})"
    if left_out:
        text += f"\n(and {left_out} more cells: each in summary.csv)"
    model = summary[summary["metric"].isin(MODEL_METRICS)]
    if len(model):
        text += "\n\n" + model[MODEL_TABLE_COLUMNS].to_string(index=False,
                                                              float_format=lambda v: f"{v:.3f}")
    return text
