"""Unit tests of harness.plots: figures come back, with the expected labels, and never raise."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from trial_rows import trial  # noqa: E402

from harness import plots  # noqa: E402
from harness.records import STATUSES  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def three_cells():
    """Cells "a" and "backend=libvirt,memsize=1024" succeed; "c" only fails."""
    rows = [trial(cell=cell, repetition=r, launch_s=12.0 + r)
            for cell in ("a", "backend=libvirt,memsize=1024") for r in range(4)]
    rows += [trial(cell="c", repetition=r, status="error", launch_s=np.nan) for r in range(4)]
    rows.append(trial(cell="warm-up only", repetition=-1, warmup=True))
    return pd.DataFrame(rows)


def tick_labels(ax, axis="x"):
    labels = ax.get_xticklabels() if axis == "x" else ax.get_yticklabels()
    return [label.get_text() for label in labels]


def test_launch_distribution_one_box_label_per_cell():
    fig = plots.launch_distribution(three_cells())
    assert isinstance(fig, Figure)
    assert len(fig.axes) >= 1
    ax = fig.axes[0]
    assert tick_labels(ax) == ["a", "backend=libvirt,memsize=1024", "c"]
    assert "launch_s" in ax.get_title()


def test_launch_distribution_other_metric_with_mixed_accel():
    trials = pd.DataFrame([trial(cell=cell, repetition=r, accel_effective=accel, total_s=20.0 + r)
                           for cell, accel in (("a", "kvm"), ("b", "tcg")) for r in range(3)])
    fig = plots.launch_distribution(trials, metric="total_s")
    ax = fig.axes[0]
    assert tick_labels(ax) == ["a", "b"]
    assert "total_s" in ax.get_title()
    assert sorted(text.get_text() for text in ax.get_legend().get_texts()) == ["kvm", "tcg"]


def test_launch_distribution_without_successes_says_so():
    trials = pd.DataFrame([trial(repetition=r, status="timeout", launch_s=np.nan)
                           for r in range(3)])
    fig = plots.launch_distribution(trials)
    assert isinstance(fig, Figure)
    assert [text.get_text() for text in fig.axes[0].texts] == ["no successful trials"]


def test_status_grid_has_every_status_and_cell():
    fig = plots.status_grid(three_cells())
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert tick_labels(ax) == list(STATUSES)
    assert tick_labels(ax, "y") == ["a", "backend=libvirt,memsize=1024", "c"]
    annotations = [text.get_text() for text in ax.texts]
    assert annotations.count("4") == 3  # ok in a and b, error in c
