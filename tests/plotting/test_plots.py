"""harness.plotting: figures come back, with the expected labels, and never raise."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from helpers.rows import sweep, trial  # noqa: E402
from matplotlib.collections import LineCollection, PathCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import StepPatch  # noqa: E402

from harness.analysis.reference import Reference, load_reference  # noqa: E402
from harness.analysis.scaling import capacity, linear_fit, scaling_table
from harness.analysis.summary import status_counts, summarize  # noqa: E402
from harness.plotting.common import NOTE_LENGTH, NOTE_WIDTH, STATUS_COLORS  # noqa: E402
from harness.plotting.comparison import ratio_chart  # noqa: E402
from harness.plotting.distribution import cell_times, status_bars  # noqa: E402
from harness.plotting.scaling import (  # noqa: E402
    capacity_vs_parallel,
    failures_vs_parallel,
    latency_vs_parallel,
    makespan_vs_parallel,
)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def scaled(trials: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What the report hands the makespan figure: the scaling table and the fits."""
    return scaling_table(trials), linear_fit(trials)


def three_cells():
    """Cell "a" succeeds 6 times, "backend=libvirt,memsize=1024" 4 times, "c" only fails; one
    warm-up each, far off."""
    rows = [trial(cell=cell, repetition=r, launch_s=12.0 + r, total_s=13.0 + r, started_at=r)
            for cell, runs in (("a", 6), ("backend=libvirt,memsize=1024", 4)) for r in range(runs)]
    rows += [trial(cell="c", repetition=r, status="error", launch_s=np.nan, total_s=np.nan)
             for r in range(4)]
    rows += [trial(cell=cell, repetition=-1, warmup=True, total_s=30.0, started_at=-1)
             for cell in ("a", "backend=libvirt,memsize=1024")]
    return pd.DataFrame(rows)


def drawn(trials):
    return cell_times(trials, summarize(trials))


def tick_labels(ax, axis="x"):
    labels = ax.get_xticklabels() if axis == "x" else ax.get_yticklabels()
    return [label.get_text() for label in labels]


def test_cell_times_are_points_around_each_median_on_an_axis_not_from_0():
    fig = drawn(three_cells())
    ax = fig.axes[0]
    assert tick_labels(ax) == ["a", "backend=libvirt,memsize=1024", "c"]
    assert not ax.patches  # no bars
    (medians,) = [c for c in ax.collections if isinstance(c, LineCollection)
                  and c.get_label() == "median"]
    assert [segment[0][1] for segment in medians.get_segments()[:2]] == [15.5, 14.5]
    bottom, top = ax.get_ylim()
    assert bottom == pytest.approx(13.0 - 0.5) and top == pytest.approx(18.0 + 0.5)
    assert "axis not from 0" in ax.get_ylabel()
    assert "median" in legend_texts(fig.legends[0])


def test_cell_times_draws_every_trial_and_greys_the_warmups():
    ax = drawn(three_cells()).axes[0]
    trials, warmups = ax.collections[-2], ax.collections[-1]
    assert len(trials.get_offsets()) == 10 and len(warmups.get_offsets()) == 2
    bottom, top = ax.get_ylim()  # the measured trials and a tenth of their range: warm-ups
    assert list(warmups.get_offsets()[:, 1]) == [top - 0.03 * (top - bottom)] * 2  # at 30 s
    assert matplotlib.colors.to_hex(warmups.get_facecolor()[0]) == "#999999"
    assert "every trial drawn" in ax.get_title()


def test_two_runs_of_one_cell_are_told_apart_by_colour():
    """lgbench-report A B: the same cell from two runs, a colour and a column each."""
    trials = pd.DataFrame([trial(repetition=r, total_s=base + r, run=name)
                           for name, base in (("before", 10.0), ("after", 20.0))
                           for r in range(6)])
    ax = drawn(trials).axes[0]
    after, before = [c for c in ax.collections if c.get_label().startswith("run ")]
    assert (after.get_label(), before.get_label()) == ("run after", "run before")
    assert after.get_offsets()[:, 1].min() >= 20.0 and before.get_offsets()[:, 1].max() < 20.0
    assert after.get_offsets()[:, 0].max() < 0 < before.get_offsets()[:, 0].min()
    assert matplotlib.colors.to_hex(after.get_facecolor()[0]) != matplotlib.colors.to_hex(
        before.get_facecolor()[0])


def test_cell_times_error_bar_only_where_a_95_percent_ci_exists():
    ax = drawn(three_cells()).axes[0]
    caps = [line for line in ax.lines if line.get_marker() == "_"]
    assert len(caps) == 2  # both ends of cell a's CI; 4 runs give none
    assert sorted(caps[0].get_ydata().tolist() + caps[1].get_ydata().tolist()) == [13.0, 18.0]


def test_cell_times_shows_the_run_order_with_warmups_first():
    order = drawn(three_cells()).axes[1]
    assert legend_texts(order.get_legend()) == ["a", "backend=libvirt,memsize=1024"]
    first = order.get_lines()[0]
    assert list(first.get_xdata()) == [2, 3, 4, 5, 6, 7]  # 1 is the warm-up
    assert list(first.get_ydata()) == [13.0, 14.0, 15.0, 16.0, 17.0, 18.0]
    assert "not from 0" in order.get_ylabel()


def test_the_run_order_of_a_short_run_counts_trials_in_whole_numbers():
    """A one-cell run of 2 trials was drawn with ticks at 1.25, 1.5, ..."""
    trials = pd.DataFrame([trial(repetition=r, total_s=10.0 + r) for r in range(2)])
    order = cell_times(trials, summarize(trials)).axes[1]
    assert all(float(tick).is_integer() for tick in order.get_xticks())


def test_cell_times_without_successes_says_so():
    trials = pd.DataFrame([trial(repetition=r, status="timeout", launch_s=np.nan,
                                 total_s=np.nan) for r in range(3)])
    fig = drawn(trials)
    assert [text.get_text() for text in fig.axes[0].texts] == ["no successful trials"]


def test_status_bars_use_the_statuses_colours_and_counts():
    fig = status_bars(status_counts(three_cells()))
    ax = fig.axes[0]
    assert tick_labels(ax, "y") == ["a", "backend=libvirt,memsize=1024", "c"]
    assert legend_texts(ax.get_legend()) == ["ok", "error"]
    ok, error = ax.containers
    assert {matplotlib.colors.to_hex(bar.get_facecolor()) for bar in error} == {
        matplotlib.colors.to_hex(STATUS_COLORS["error"])}
    assert [bar.get_width() for bar in ok] == [6, 4, 0]
    assert [text.get_text() for text in ax.texts if text.get_text()] == ["6", "4", "4"]


def two_backends():
    """direct and libvirt over N = 1, 2, 4; at N = 4 one libvirt instance per repetition times
    out, so libvirt has no makespan there."""
    rows = sweep(lambda n, rep: 12.0 + 2.0 * n + 0.1 * rep, ns=(1, 2, 4), backend="direct")
    rows += sweep(lambda n, rep: 18.0 + 3.0 * n + 0.1 * rep, ns=(1, 2, 4), backend="libvirt")
    trials = pd.DataFrame(rows)
    timeouts = (trials["backend"] == "libvirt") & (trials["parallel"] == 4) & (
        trials["instance"] == 0)
    trials.loc[timeouts, ["status", "total_s"]] = ["timeout", np.nan]
    return trials


def legend_texts(legend):
    return [text.get_text() for text in legend.get_texts()]


def test_makespan_vs_parallel_draws_median_band_and_fit_per_backend():
    fig = makespan_vs_parallel(*scaled(two_backends()))
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    assert len(ax.lines) == 4  # a median curve and a fitted line per backend
    assert len(ax.collections) == 2  # a CI band per backend
    direct = ax.lines[0]
    assert list(direct.get_xdata()) == [1, 2, 4]
    assert list(direct.get_ydata()) == pytest.approx([14.1, 16.1, 20.1])
    assert len(ax.lines[2].get_xdata()) == 2  # libvirt has no makespan at N = 4
    texts = legend_texts(fig.legends[0])
    assert len(texts) == 6
    assert texts[0] == "direct: median makespan"
    assert texts[2].startswith("direct: fit, 2 s per extra appliance")


def test_makespan_vs_parallel_overlays_the_reference_with_its_notes():
    reference = load_reference("parallel-appliances-2013")
    fig = makespan_vs_parallel(*scaled(two_backends()), reference)
    ax, relative = fig.axes
    assert len(ax.lines) == 5
    published = ax.lines[-1]
    assert list(published.get_xdata()) == list(range(1, 21))
    # each backend and the published points divided by their N=1 time, and the line at 1
    assert len(relative.lines) == 4
    assert relative.lines[2].get_ydata()[-1] == pytest.approx(11.74 / 3.00)
    lowest = min(min(line.get_ydata()) for line in relative.lines)
    assert relative.get_ylim()[0] == pytest.approx(0.97 * min(1.0, lowest))  # not 0.8
    texts = legend_texts(fig.legends[0])
    assert len(texts) == 7
    label = texts[-1]
    assert label.startswith("parallel-appliances-2013 (published)")
    lines = label.splitlines()
    assert " ".join(lines[1:]) == " ".join(reference.notes)  # short enough to keep whole
    assert max(len(line) for line in lines) <= NOTE_WIDTH


@pytest.mark.parametrize("rows", [
    [],
    [trial(parallel=2, status="error", launch_s=np.nan, total_s=np.nan)],
    [trial(parallel=4, makespan_s=20.0)],
])
def test_parallel_plots_survive_empty_and_degenerate_input(rows):
    trials = pd.DataFrame(rows, columns=list(trial()))
    reference = load_reference("parallel-appliances-2013")
    for fig in (makespan_vs_parallel(*scaled(trials)),
                makespan_vs_parallel(*scaled(trials), reference),
                latency_vs_parallel(trials), failures_vs_parallel(scaling_table(trials))):
        assert isinstance(fig, Figure)


def test_makespan_vs_parallel_without_successes_says_so():
    trials = pd.DataFrame([trial(parallel=n, status="timeout", total_s=np.nan) for n in (1, 2)])
    fig = makespan_vs_parallel(*scaled(trials))
    assert [text.get_text() for text in fig.axes[0].texts] == ["no successful repetitions"]


def test_latency_vs_parallel_one_slot_per_n_split_by_backend():
    fig = latency_vs_parallel(two_backends())
    ax = fig.axes[0]
    assert tick_labels(ax) == ["1", "2", "4"]
    assert legend_texts(ax.get_legend()) == ["direct", "libvirt"]
    assert "total_s" in ax.get_title()


def test_latency_vs_parallel_one_backend_needs_no_legend():
    trials = pd.DataFrame(sweep(lambda n, rep: 10.0 + n, ns=(1, 3)))
    ax = latency_vs_parallel(trials).axes[0]
    assert tick_labels(ax) == ["1", "3"]
    assert ax.get_legend() is None


def test_failures_vs_parallel_stacks_status_shares_per_backend():
    fig = failures_vs_parallel(scaling_table(two_backends()))
    direct, libvirt = fig.axes
    assert "libvirt" in libvirt.get_title()
    assert tick_labels(libvirt) == ["1", "2", "4"]
    assert legend_texts(fig.legends[0]) == ["ok", "timeout"]
    ok_bars, timeout_bars = libvirt.containers
    assert [bar.get_height() for bar in timeout_bars] == pytest.approx([0, 0, 0.25])
    assert [bar.get_y() for bar in timeout_bars] == pytest.approx([1, 1, 0.75])
    assert [bar.get_height() for bar in direct.containers[1]] == pytest.approx([0, 0, 0])


def test_a_long_reference_note_is_shortened_in_the_legend():
    reference = Reference(pd.DataFrame({"n_parallel": [1, 2], "seconds": [3.0, 4.0]}),
                          notes=["word " * 100], name="long")
    fig = makespan_vs_parallel(*scaled(two_backends()), reference)
    label = legend_texts(fig.legends[0])[-1]
    assert label.splitlines()[0] == "long (published)"
    assert label.endswith(" ...")
    assert len(label) - len("long (published)\n") <= NOTE_LENGTH


# --- large inputs: readable and quick, and the title says what was left out ---------------

def many_cells(n_cells: int, rows_per_cell: int, failing: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        "cell": np.repeat([f"tcg/p1/m{256 + c}" for c in range(n_cells)], rows_per_cell),
        "repetition": np.tile(np.arange(rows_per_cell), n_cells),
        "total_s": 12.0 + rng.normal(0, 0.3, n_cells * rows_per_cell)})
    frame["launch_s"] = frame["total_s"] - 0.5
    for column, value in trial().items():
        if column not in frame:
            frame[column] = value
    frame.loc[frame["cell"].isin(frame["cell"].unique()[:failing]) & (frame["repetition"] == 0),
              ["status", "total_s"]] = ["error", np.nan]
    return frame


def test_a_big_cell_draws_at_most_200_points_and_says_so():
    ax = drawn(many_cells(1, 5000)).axes[0]
    assert "at most 200 trials drawn per cell" in ax.get_title()
    assert len(ax.collections[-1].get_offsets()) == 200


def test_many_cells_draw_bars_only_in_a_bounded_width():
    fig = drawn(many_cells(40, 10))
    assert len(fig.axes) == 1 and "bars only" in fig.axes[0].get_title()
    assert not [c for c in fig.axes[0].collections if isinstance(c, PathCollection)]  # points
    assert fig.get_size_inches()[0] <= 30


def test_many_cells_show_only_the_failing_ones_in_the_status_bars():
    fig = status_bars(status_counts(many_cells(40, 5, failing=3)))
    ax = fig.axes[0]
    assert "the 3 of 40 cells with a failure" in ax.get_title()
    assert len(tick_labels(ax, "y")) == 3


def stairs(ax):
    return [patch for patch in ax.patches if isinstance(patch, StepPatch)]


def test_a_thousand_cells_draw_one_outline_per_part_and_name_one_in_k():
    """Past MANY_CELLS cells: still one bar per cell (as two outlines), a CI per cell, and
    at most MANY_CELLS names on the axis, as the title says."""
    ax = drawn(many_cells(1000, 8)).axes[0]
    launch, rest = stairs(ax)
    assert len(launch.get_data().values) == len(rest.get_data().values) == 1000
    assert rest.get_data().values[0] == pytest.approx(
        np.median(many_cells(1000, 8)["total_s"][:8]))
    named = tick_labels(ax)
    assert len(named) == 30 and named[1] == "tcg/p1/m290"  # 1 in 34
    assert "1 cell in 34 named" in ax.get_title()


def test_a_big_cell_shows_its_run_order_as_medians_of_runs_in_a_row():
    fig = drawn(many_cells(1, 5000))
    order = fig.axes[1].get_lines()[0]
    assert len(order.get_xdata()) == 200
    assert "the median of up to 25 in a row" in fig.axes[1].get_title()


def test_many_failing_cells_are_columns_of_statuses_with_one_in_k_named():
    ax = status_bars(status_counts(many_cells(70, 5, failing=65))).axes[0]
    ok, error = stairs(ax)
    assert len(ok.get_data().values) == 65
    assert list(error.get_data().values[:2]) == [5, 5]  # stacked: 4 ok, then 1 error
    assert len(tick_labels(ax)) == 22 and "1 in 3 named" in ax.get_title()
    assert "the 65 of 70 cells with a failure" in ax.get_title()


def test_past_many_cells_every_series_is_a_line_of_one_collection():
    rows = [r for m in range(40) for r in sweep(lambda n, rep: 12.0 + n + 0.1 * rep,
                                                 ns=(1, 2), memsize=256 + m)]
    fig = makespan_vs_parallel(*scaled(pd.DataFrame(rows)))
    ax = fig.axes[0]
    medians, fits = ax.collections
    assert len(medians.get_segments()) == len(fits.get_segments()) == 40
    assert "40 series, a line each" in ax.get_title()
    assert legend_texts(ax.get_legend()) == ["each series: median makespan",
                                             "each series: fit"]


def test_past_many_cells_capacity_is_one_collection_and_one_scatter_of_best_ns():
    """40 series whose makespan grows as sqrt(N): a line each in one collection, and each
    series' best N (2) ringed in one scatter."""
    rows = [r for m in range(40) for r in sweep(lambda n, rep: 12.0 * n ** 0.5 + 0.1 * rep,
                                                 ns=(1, 2), memsize=256 + m)]
    table = capacity(scaling_table(pd.DataFrame(rows)))
    ax = capacity_vs_parallel(table).axes[0]
    lines, rings = ax.collections
    assert len(lines.get_segments()) == 40
    assert len(rings.get_offsets()) == 40
    assert list(rings.get_offsets()[:, 0]) == [2.0] * 40
    assert "40 series, a line each" in ax.get_title() and ax.get_legend() is None


def test_many_failing_series_share_one_panel_of_failure_rates():
    rows = [r for m in range(10) for r in sweep(lambda n, rep: 12.0 + n, ns=(1, 2),
                                                 memsize=256 + m)]
    trials = pd.DataFrame(rows)
    trials.loc[(trials["parallel"] == 2) & (trials["instance"] == 0), "status"] = "timeout"
    fig = failures_vs_parallel(scaling_table(trials))
    (image,) = fig.axes[0].get_images()
    assert image.get_array().shape == (10, 2)
    assert list(image.get_array()[0]) == [0.0, 0.5]
    assert "the 10 series with a failure" in fig.axes[0].get_title()


def test_ratio_chart_one_row_per_comparison_coloured_and_worded_as_its_verdict():
    """The beside text names a direction only where the interval excludes 1, as the verdict
    does; an interval the sizes leave unbounded (0 to inf) is a bare point."""
    table = pd.DataFrame({
        "ratio": [1.3, 0.8, 1.02, 1.5], "ratio_ci_low": [1.2, 0.7, 0.95, 0.0],
        "ratio_ci_high": [1.4, 0.9, 1.1, np.inf]})
    fig = ratio_chart(table, ["b", "c", "d", "e"], "comparison by backend")
    ax = fig.axes[0]
    assert tick_labels(ax, "y") == ["b", "c", "d", "e"]
    assert [t.get_text() for t in ax.texts] == ["1.30x slower", "1.25x faster",
                                                 "no clear difference", "too few trials to tell"]
    colours = [matplotlib.colors.to_hex(c.lines[0].get_color()) for c in ax.containers]
    assert colours == [matplotlib.colors.to_hex(c) for c in
                       ("tab:red", "tab:green", "0.45", "0.45")]
    assert [c.has_xerr for c in ax.containers] == [True, True, True, False]
    low, high = ax.get_xlim()
    assert low < 0.7 and high > 1.5
