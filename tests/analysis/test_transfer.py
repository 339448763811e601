"""Upload/download analysis: the bandwidth model, bandwidth ratios, aggregate bandwidth, the
throughput plot and the report, on hand-built transfer rows and on a fake transfer run."""

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from helpers.lgbench import run_in_process_in  # noqa: E402
from helpers.rows import MiB, transfers, trial  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from harness.analysis.summary import summarize  # noqa: E402
from harness.analysis.transfer import (  # noqa: E402
    aggregate_bandwidth,
    bandwidth_ratio,
    model_rows,
    transfer_model,
)
from harness.plotting.transfer import throughput_vs_size  # noqa: E402
from harness.reporting.build import build_report, summary_with  # noqa: E402
from harness.reporting.summary import TABLE_COLUMNS, table_columns  # noqa: E402
from harness.results import store  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"
SIZES = (MiB, 4 * MiB, 16 * MiB, 64 * MiB, 256 * MiB)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def line(overhead_s, mib_s):
    """Seconds of a transfer: a fixed overhead plus the size at a bandwidth."""
    return lambda size, rep: overhead_s + size / MiB / mib_s


def noisy(overhead_s, mib_s, seed, sd=0.05):
    rng = np.random.default_rng(seed)
    noise = {}
    return lambda size, rep: (overhead_s + size / MiB / mib_s
                              + noise.setdefault((size, rep), rng.normal(0.0, sd)))


def frame(rows):
    return pd.DataFrame(rows)


def only_row(table, **columns):
    for column, value in columns.items():
        table = table[table[column] == value]
    assert len(table) == 1
    return table.iloc[0]


# the model t = t0 + size / bandwidth

def test_model_recovers_overhead_and_bandwidth_of_an_exact_line():
    model = transfer_model(frame(transfers(line(0.1, 50.0), sizes=SIZES)))
    assert list(model["direction"]) == ["upload", "download"]
    for _, fit in model.iterrows():
        assert fit["overhead_ms"] == pytest.approx(100.0)
        assert fit["bandwidth_mib_s"] == pytest.approx(50.0)
        assert (fit["overhead_ci_low"], fit["overhead_ci_high"]) == pytest.approx((100, 100))
        assert (fit["bandwidth_ci_low"], fit["bandwidth_ci_high"]) == pytest.approx((50, 50))
        assert fit["r2"] == pytest.approx(1.0)
        assert (fit["n"], fit["n_sizes"]) == (15, 5)
        assert (fit["size_min_mib"], fit["size_max_mib"]) == (1, 256)
        assert (fit["series"], fit["backend"], fit["accel_effective"]) == ("tcg", "tcg", "tcg")


def test_model_fits_each_direction_on_its_own():
    rows = transfers(line(0.1, 50.0), download=line(0.02, 200.0))
    model = transfer_model(frame(rows)).set_index("direction")
    assert model.loc["upload", "bandwidth_mib_s"] == pytest.approx(50.0)
    assert model.loc["download", "bandwidth_mib_s"] == pytest.approx(200.0)
    assert model.loc["download", "overhead_ms"] == pytest.approx(20.0)


def test_model_ci_contains_the_truth_of_noisy_data():
    rows = transfers(noisy(0.1, 50.0, seed=3), sizes=SIZES, reps=4)
    fit = only_row(transfer_model(frame(rows)), direction="upload")
    assert fit["overhead_ci_low"] < 100.0 < fit["overhead_ci_high"]
    assert fit["bandwidth_ci_low"] < 50.0 < fit["bandwidth_ci_high"]
    assert fit["overhead_ci_high"] - fit["overhead_ci_low"] < 100.0  # sd 50 ms, 20 points
    # Weighted for noise that grows with the time, the fit spends some precision when the
    # noise is constant, as here.
    assert fit["bandwidth_mib_s"] == pytest.approx(50.0, rel=0.05)
    assert fit["bandwidth_ci_low"] < fit["bandwidth_mib_s"] < fit["bandwidth_ci_high"]


def test_model_cis_cover_the_truth_95_percent_of_the_time():
    covered = np.zeros(2)
    for seed in range(200):
        rows = transfers(noisy(0.1, 50.0, seed, sd=0.2), sizes=SIZES[:3], reps=1)
        fit = transfer_model(frame(rows)).iloc[0]
        covered += [fit["overhead_ci_low"] <= 100.0 <= fit["overhead_ci_high"],
                    fit["bandwidth_ci_low"] <= 50.0 <= fit["bandwidth_ci_high"]]
    # Constant noise, 3 points: the robust errors make the bandwidth's interval cautious.
    assert all(0.91 <= share <= 1.0 for share in covered / 200), covered / 200


def proportional(overhead_s, mib_s, seed, share):
    """Transfers whose noise is `share` of each one's time (a slow channel wobbles more)."""
    rng = np.random.default_rng(seed)
    noise = {}
    return lambda size, rep: (overhead_s + size / MiB / mib_s) * (
        1 + noise.setdefault((size, rep), rng.normal(0.0, share)))


@pytest.mark.parametrize(("sizes", "reps"), [(SIZES[:4], 3), (SIZES, 2), (SIZES[:3], 1)])
def test_the_bandwidth_ci_holds_when_the_noise_grows_with_the_size(sizes, reps):
    """Noise 5% of each transfer's time: over 400 simulated cells the bandwidth's CI covers
    the truth 91-100% of the time (an unweighted fit with textbook errors: 64-72%)."""
    covered = 0
    for seed in range(400):
        rows = transfers(proportional(0.1, 50.0, seed, 0.05), sizes=sizes, reps=reps)
        fit = only_row(transfer_model(frame(rows)), direction="upload")
        covered += fit["bandwidth_ci_low"] <= 50.0 <= fit["bandwidth_ci_high"]
    assert 0.91 <= covered / 400 <= 1.0, covered / 400


def test_a_slope_ci_reaching_zero_leaves_the_bandwidth_unbounded():
    """Sizes too small to see the time grow: the data give a lower limit only."""
    rows = transfers(noisy(0.1, 1e6, seed=1, sd=0.01), sizes=(MiB, 2 * MiB, 3 * MiB))
    fit = only_row(transfer_model(frame(rows)), direction="upload")
    assert fit["bandwidth_ci_high"] == math.inf
    assert fit["bandwidth_ci_low"] > 0 or math.isnan(fit["bandwidth_ci_low"])
    assert fit["overhead_ms"] == pytest.approx(100.0, abs=10.0)


def test_model_without_two_sizes_or_three_points():
    one_size = only_row(transfer_model(frame(transfers(line(0.1, 50.0), sizes=(MiB,)))),
                        direction="upload")
    assert one_size["n"] == 3
    assert math.isnan(one_size["bandwidth_mib_s"]) and math.isnan(one_size["overhead_ms"])
    two_points = only_row(transfer_model(frame(transfers(line(0.1, 50.0),
                                                               sizes=(MiB, 4 * MiB), reps=1))),
                          direction="upload")
    assert two_points["bandwidth_mib_s"] == pytest.approx(50.0)
    assert math.isnan(two_points["bandwidth_ci_low"]) and math.isnan(two_points["overhead_ci_low"])


def test_model_leaves_out_warmups_and_failed_transfers():
    rows = transfers(line(0.1, 50.0))
    rows += [trial(workload="transfer", cell="tcg/cached-hot/transfer/p1", accel_requested="tcg",
                   repetition=-1, warmup=True, size_bytes=MiB, upload_s=50.0, download_s=50.0,
                   sha_ok=True),
             trial(workload="transfer", cell="tcg/cached-hot/transfer/p1", accel_requested="tcg",
                   repetition=9, status="error", error="download corrupted", size_bytes=MiB,
                   upload_s=50.0, download_s=50.0, sha_ok=False)]
    fit = only_row(transfer_model(frame(rows)), direction="download")
    assert fit["n"] == 12
    assert fit["bandwidth_mib_s"] == pytest.approx(50.0)


def test_a_backend_whose_transfers_all_failed_keeps_its_rows():
    rows = transfers(line(0.1, 50.0))
    rows += [trial(backend="uml", accel_requested="uml", workload="transfer", cell="uml/p1",
                   repetition=r, status="unsupported", error="no UML", launch_s=np.nan,
                   total_s=np.nan) for r in range(3)]
    uml = transfer_model(frame(rows)).query("backend == 'uml'")
    assert list(uml["direction"]) == ["upload", "download"]
    assert list(uml["n"]) == [0, 0]
    assert uml["bandwidth_mib_s"].isna().all()


def test_one_series_per_backend_and_varying_factor_never_per_size():
    rows = transfers(line(0.1, 50.0), backend="direct")
    rows += transfers(line(0.2, 5.0), backend="libvirt")
    rows += transfers(line(0.3, 10.0), backend="libvirt", memsize=2048)
    model = transfer_model(frame(rows))
    assert list(pd.unique(model["series"])) == [
        "direct, memsize=512", "libvirt, memsize=512", "libvirt, memsize=2048"]
    fit = only_row(model, series="libvirt, memsize=2048", direction="upload")
    assert fit["bandwidth_mib_s"] == pytest.approx(10.0)
    assert fit["n_sizes"] == 4


def test_model_of_a_launch_run_is_empty():
    model = transfer_model(frame([trial(repetition=r) for r in range(3)]))
    assert model.empty
    assert {"series", "direction", "overhead_ms", "bandwidth_mib_s"} <= set(model.columns)


# summary.csv

def test_summary_gets_a_model_row_per_series_and_direction():
    trials = frame(transfers(line(0.1, 50.0), sizes=SIZES))
    summary = summary_with(summarize(trials), [model_rows(transfer_model(trials))])
    timed = summary[summary["metric"] == "upload_s"]
    assert list(timed["size_bytes"]) == list(SIZES)  # one summary row per size
    models = summary[summary["metric"].isin(["upload_model", "download_model"])]
    assert list(models["metric"]) == ["upload_model", "download_model"]
    assert models["size_bytes"].isna().all()
    assert (models["cell"] == "tcg/cached-hot/transfer/p1").all()
    assert (models["backend"] == "tcg").all()
    assert list(models["n"]) == [15, 15]
    assert models["n_ok"].isna().all() and models["median"].isna().all()
    assert list(models["overhead_ms"]) == pytest.approx([100.0, 100.0])
    assert list(models["bandwidth_mib_s"]) == pytest.approx([50.0, 50.0])
    assert timed["overhead_ms"].isna().all()
    assert str(summary["n_ok"].dtype) == "Int64"


def test_table_columns_show_the_size_only_when_there_is_one():
    launch = summarize(frame([trial(repetition=r) for r in range(2)]))
    assert table_columns(launch) == TABLE_COLUMNS
    sized = summarize(frame(transfers(line(0.1, 50.0))))
    assert table_columns(sized)[:3] == ["cell", "size_bytes", "metric"]


# ratio of bandwidths

def test_ratio_of_exact_lines_is_exact():
    rows = transfers(line(0.1, 50.0), backend="kvm") + transfers(line(0.5, 5.0), backend="uml")
    ratios = bandwidth_ratio(transfer_model(frame(rows)), "kvm", "uml")
    assert list(ratios["direction"]) == ["upload", "download"]
    row = only_row(ratios, direction="upload")
    assert (row["numerator"], row["denominator"]) == ("kvm", "uml")
    assert (row["numerator_mib_s"], row["denominator_mib_s"]) == pytest.approx((50.0, 5.0))
    assert row["ratio"] == pytest.approx(10.0)
    assert (row["ratio_ci_low"], row["ratio_ci_high"]) == pytest.approx((10.0, 10.0))


def test_ratio_of_noisy_backends_ten_times_apart():
    rows = (transfers(noisy(0.1, 50.0, seed=11, sd=0.02), sizes=SIZES, backend="kvm")
            + transfers(noisy(0.5, 5.0, seed=12, sd=0.2), sizes=SIZES, backend="uml"))
    model = transfer_model(frame(rows))
    faster = only_row(bandwidth_ratio(model, "kvm", "uml"), direction="upload")
    assert faster["ratio"] == pytest.approx(10.0, rel=0.05)
    assert faster["ratio_ci_low"] < 10.0 < faster["ratio_ci_high"]
    assert faster["ratio_ci_high"] - faster["ratio_ci_low"] < 2.0
    slower = only_row(bandwidth_ratio(model, "uml", "kvm"), direction="upload")
    assert slower["ratio"] == pytest.approx(1 / faster["ratio"])
    assert slower["ratio_ci_low"] < 0.1 < slower["ratio_ci_high"]


def test_ratio_ci_covers_the_truth_95_percent_of_the_time():
    covered = 0
    for seed in range(200):
        rows = (transfers(noisy(0.1, 50.0, seed, sd=0.02), sizes=SIZES[:4], reps=1,
                          backend="kvm")
                + transfers(noisy(0.5, 5.0, seed + 1000, sd=0.5), sizes=SIZES[:4], reps=1,
                            backend="uml"))
        ratios = bandwidth_ratio(transfer_model(frame(rows)), "kvm", "uml")
        row = only_row(ratios, direction="upload")
        covered += row["ratio_ci_low"] <= 10.0 <= row["ratio_ci_high"]
    # the smaller degrees of freedom of the two fits: conservative, never much below 95%
    assert 0.93 <= covered / 200 <= 1.0


def test_ratio_is_unbounded_when_the_numerators_bandwidth_is():
    rows = (transfers(noisy(0.1, 1e6, seed=1, sd=0.01), sizes=(MiB, 2 * MiB, 3 * MiB),
                      backend="kvm")
            + transfers(line(0.5, 5.0), sizes=(MiB, 2 * MiB, 3 * MiB), backend="uml"))
    row = only_row(bandwidth_ratio(transfer_model(frame(rows)), "kvm", "uml"),
                   direction="upload")
    assert row["ratio_ci_high"] == math.inf
    assert math.isnan(row["ratio_ci_low"])


def test_ratio_pairs_only_series_that_differ_in_backend_alone():
    rows = (transfers(line(0.1, 50.0), backend="kvm", memsize=512)
            + transfers(line(0.1, 40.0), backend="kvm", memsize=2048)
            + transfers(line(0.5, 5.0), backend="uml", memsize=2048))
    ratios = bandwidth_ratio(transfer_model(frame(rows)), "kvm", "uml")
    assert list(ratios["memsize"]) == [2048, 2048]
    assert list(ratios["ratio"]) == pytest.approx([8.0, 8.0])
    assert bandwidth_ratio(transfer_model(frame(rows)), "kvm", "libvirt").empty


# aggregate bandwidth of parallel appliances

def parallel_rows(intervals, size=10 * MiB, statuses=None, repetition=0):
    """One size's rows of one repetition of N = len(intervals) appliances, instance i
    uploading and downloading over intervals[i] (seconds on the shared clock)."""
    statuses = statuses or ["ok"] * len(intervals)
    return [trial(workload="transfer", cell="tcg/p2", parallel=len(intervals), instance=i,
                  repetition=repetition, status=status, size_bytes=size,
                  upload_start=start, upload_end=end, download_start=start + 10,
                  download_end=end + 10, upload_s=end - start, download_s=end - start,
                  sha_ok=status == "ok")
            for i, ((start, end), status) in enumerate(zip(intervals, statuses, strict=True))]


@pytest.mark.parametrize(("intervals", "mib_s", "overlap"), [
    ([(0.0, 2.0), (0.0, 2.0)], 10.0, 1.0),  # together all along
    ([(0.0, 1.0), (1.0, 2.0)], 10.0, 0.0),  # one after the other
    ([(0.0, 1.0), (3.0, 4.0)], 5.0, 0.0),  # with a gap: the span counts it
    ([(0.0, 2.0), (1.0, 3.0)], 20.0 / 3.0, 1.0 / 3.0),  # overlapping for 1 s of 3
    ([(0.0, 4.0), (1.0, 2.0), (1.5, 3.0)], 7.5, 2.0 / 4.0),  # 2 or 3 at once over 1..3
])
def test_aggregate_bandwidth_of_hand_made_intervals(intervals, mib_s, overlap):
    table = aggregate_bandwidth(frame(parallel_rows(intervals)))
    assert list(table["direction"]) == ["upload", "download"]
    for _, row in table.iterrows():
        assert row["aggregate_mib_s"] == pytest.approx(mib_s)
        assert row["overlap"] == pytest.approx(overlap)
        assert row["n_ok"] == len(intervals)
        assert row["size_bytes"] == 10 * MiB


def test_aggregate_bandwidth_needs_every_instance_ok():
    rows = parallel_rows([(0.0, 2.0), (0.0, 2.0)], statuses=["ok", "error"])
    rows += parallel_rows([(0.0, 1.0), (0.0, 1.0)], repetition=1)
    table = aggregate_bandwidth(frame(rows))
    failed = only_row(table, repetition=0, direction="upload")
    assert failed["n_ok"] == 1
    assert math.isnan(failed["aggregate_mib_s"]) and math.isnan(failed["overlap"])
    assert only_row(table, repetition=1, direction="upload")["aggregate_mib_s"] == 20.0


def test_aggregate_bandwidth_one_row_per_size_and_no_warmups():
    rows = parallel_rows([(0.0, 1.0), (0.0, 1.0)], size=MiB)
    rows += parallel_rows([(5.0, 9.0), (5.0, 9.0)], size=16 * MiB)
    rows.append(trial(workload="transfer", repetition=-1, warmup=True, size_bytes=MiB,
                      upload_start=0.0, upload_end=100.0))
    table = aggregate_bandwidth(frame(rows)).query("direction == 'upload'")
    assert list(table["size_bytes"]) == [MiB, 16 * MiB]
    assert list(table["aggregate_mib_s"]) == [2.0, 8.0]


# plot

def two_backends():
    return frame(transfers(line(0.1, 50.0), backend="kvm", sizes=SIZES)
                 + transfers(line(0.5, 5.0), backend="uml", sizes=SIZES))


def test_throughput_vs_size_draws_points_and_the_fitted_curve():
    fig = throughput_vs_size(two_backends(), transfer_model(two_backends()))
    assert isinstance(fig, Figure)
    upload, download = fig.axes
    assert "upload" in upload.get_title() and "download" in download.get_title()
    assert upload.get_xscale() == "log" and upload.get_yscale() == "log"
    assert len(upload.collections) == 2  # measured points per backend
    assert len(upload.lines) == 2  # a fitted curve per backend
    points = upload.collections[0].get_offsets()
    assert list(points[:, 0]) == [1, 4, 16, 64, 256] * 3
    assert points[0, 1] == pytest.approx(1 / (0.1 + 1 / 50.0))
    kvm = upload.lines[0]
    assert kvm.get_xdata()[[0, -1]] == pytest.approx([1, 256])
    assert kvm.get_ydata()[-1] == pytest.approx(256 / (0.1 + 256 / 50.0))
    labels = [text.get_text() for text in upload.get_legend().get_texts()]
    assert labels == ["kvm: measured", "uml: measured", "kvm: fit, 100 ms + size / 50 MiB/s",
                      "uml: fit, 500 ms + size / 5 MiB/s"]


def test_throughput_vs_size_without_a_fit_draws_points_only():
    trials = frame(transfers(line(0.1, 50.0), sizes=(MiB,)))
    fig = throughput_vs_size(trials, transfer_model(trials))
    assert len(fig.axes[0].collections) == 1
    assert len(fig.axes[0].lines) == 0


@pytest.mark.parametrize("rows", [
    [],
    [trial(workload="transfer", status="unsupported", launch_s=np.nan, total_s=np.nan)],
    [trial(workload="transfer", status="error", size_bytes=MiB, upload_s=1.0,
           download_s=1.0, sha_ok=False)],
])
def test_throughput_vs_size_without_successes_says_so(rows):
    trials = pd.DataFrame(rows, columns=list(trial()))
    fig = throughput_vs_size(trials, transfer_model(trials))
    assert isinstance(fig, Figure)
    assert [text.get_text() for text in fig.axes[0].texts] == ["no successful transfers"]


# report

def write_run(run_dir, rows):
    run_dir.mkdir(parents=True)
    store.write_frame_parquet(run_dir / store.TRIALS_FILE, frame(rows))
    store.write_json(run_dir / store.METADATA_FILE, {"run_id": "r1", "config": {"warmup": 0}})


def report_of(tmp_path, rows):
    run = tmp_path / "run"
    write_run(run, rows)
    build_report([run], run)
    return (run / "report.md").read_text()


def test_a_single_size_says_why_the_model_has_no_values(tmp_path):
    """experiment=assess moves one size (16 MiB): no line can be fitted to one point of x."""
    report = report_of(tmp_path, transfers(line(0.1, 40.0), sizes=(16 * MiB,)))
    table = report[report.index("| series"):].split("\n\n")[0]
    assert table.count("| 16 only ") == 2
    assert table.count("n/a: one size (a fit needs two)") == 4


def test_report_holds_the_guide_claim_against_the_uml_ratio(tmp_path):
    rows = (transfers(line(0.1, 40.0), backend="tcg")
            + transfers(line(0.5, 5.0), backend="uml", accel_effective="uml"))
    report = report_of(tmp_path, rows)
    assert "## Upload and download" in report
    assert "| tcg      | upload      | tcg         | 12          | 1 to 64" in report
    assert "| 100.0 (100.0 to 100.0)" in report and "| 40 (40 to 40)" in report
    assert "| 500.0 (500.0 to 500.0)" in report and "| 5 (5 to 5)" in report
    assert "SHA-256 matched both ways on all 24 transfers" in report
    assert "> Upload and download is as much as 10 times slower on UML than KVM." in report
    assert ("- upload: bandwidth `uml` / `tcg` = **0.125** (95% CI 0.125 to 0.125), i.e. UML "
            "is **8.00x** slower (95% CI 8.00 to 8.00).") in report
    # The claim has one verdict, the UML comparison's (tcg is not KVM: it cannot be checked).
    claim_rows = [line for line in report.splitlines()
                  if line.startswith("| Upload and download is as much as 10 times slower")]
    assert len(claim_rows) == 1 and "cannot be checked here" in claim_rows[0]
    assert "within the performance guide" not in report
    assert "`tcg` ran under tcg here" in report and "not a UML/KVM ratio" in report
    assert "Aggregate bandwidth" not in report
    assert (tmp_path / "run" / "plots" / "throughput_vs_size.png").read_bytes()[:8] == PNG
    assert "(plots/throughput_vs_size.png)" in report


def test_report_says_what_the_uml_comparison_needs(tmp_path):
    rows = transfers(line(0.1, 40.0), backend="tcg")
    rows += [trial(backend="uml", accel_requested="uml", workload="transfer", cell="uml/p1",
                   repetition=r, status="unsupported", error="invalid backend: uml",
                   launch_s=np.nan, total_s=np.nan) for r in range(2)]
    report = report_of(tmp_path, rows)
    assert ("Measured here: `tcg` (ran under tcg); `uml` (no successful transfer: unsupported "
            "2: invalid backend: uml).") in report
    assert "No UML bandwidth to compare yet" in report
    assert "- upload: bandwidth" not in report
    assert "| uml      | upload      | n/a         | 0           | none          | n/a " in report
    assert "2 trial rows ended before any transfer" in report


def test_report_without_uml_names_the_backends_measured(tmp_path):
    report = report_of(tmp_path, transfers(line(0.1, 40.0), backend="libvirt"))
    assert ("Measured here: `libvirt` (ran under tcg). Holding the claim needs `backend=uml`"
            in report)


def test_report_names_the_transfers_that_failed_their_checksum(tmp_path):
    rows = transfers(line(0.1, 40.0))
    rows[1] = {**rows[1], "status": "error", "sha_ok": False,
               "error": "download of 4194304 bytes corrupted"}
    report = report_of(tmp_path, rows)
    assert "**1 of 12 transfers failed the SHA-256 check**" in report
    assert "  - `tcg/cached-hot/transfer/p1`, 4194304 bytes, repetition 0, instance 0: download " \
           "of 4194304 bytes corrupted" in report


def test_report_of_a_launch_run_has_no_transfer_section(tmp_path):
    report = report_of(tmp_path, [trial(repetition=r) for r in range(2)])
    assert "Upload and download" not in report
    assert not (tmp_path / "run" / "plots" / "throughput_vs_size.png").exists()


def test_report_shows_aggregate_bandwidth_of_parallel_cells(tmp_path):
    rows = parallel_rows([(0.0, 2.0), (0.0, 2.0)]) + parallel_rows([(0.0, 1.0), (1.0, 2.0)],
                                                                  repetition=1)
    report = report_of(tmp_path, rows)
    assert "### Aggregate bandwidth (N appliances at once)" in report
    assert "| tcg/p2 |          2 |         10 | upload      |             2 |          2 |" \
           "             10 |" in report


# a fake transfer run through the CLI

@pytest.fixture(scope="module")
def fake_transfer_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("transfer")
    result = run_in_process_in(tmp, "backend=fake", "workload=transfer",
                               "workload.sizes=[1048576,4194304,16777216]", "runs=3", "warmup=0")
    assert result.returncode == 0, result.stdout + result.stderr
    return tmp / "run", result.stdout


def test_a_fake_transfer_run_reports_the_model(fake_transfer_run):
    run_dir, stdout = fake_transfer_run
    report = (run_dir / "report.md").read_text()
    assert "## Upload and download" in report
    assert "SHA-256 matched both ways on all 9 transfers" in report
    assert "Measured here: `fake` (ran under tcg)." in report
    assert (run_dir / "plots" / "throughput_vs_size.png").read_bytes()[:8] == PNG
    header = next(line for line in stdout.splitlines() if " metric " in line)
    assert header.split()[:3] == ["cell", "size_bytes", "metric"]
    assert "upload_model" in stdout and "bandwidth_mib_s" in stdout


def test_a_fake_transfer_run_puts_the_model_in_summary_csv(fake_transfer_run):
    run_dir, _ = fake_transfer_run
    summary = pd.read_csv(run_dir / "summary.csv")
    assert list(summary.loc[summary["metric"] == "upload_s", "size_bytes"]) == [
        1048576, 4194304, 16777216]
    models = summary[summary["metric"].isin(["upload_model", "download_model"])]
    assert list(models["metric"]) == ["upload_model", "download_model"]
    assert list(models["n"]) == [9, 9]
    assert models["size_bytes"].isna().all()
    assert (models["backend"] == "fake").all() and (models["workload"] == "transfer").all()
    trials = pd.read_parquet(run_dir / "trials.parquet")
    expected = transfer_model(trials).set_index("direction")
    for _, row in models.iterrows():
        fit = expected.loc[row["metric"].removesuffix("_model")]
        for column in ("overhead_ms", "overhead_ci_low", "overhead_ci_high", "r2"):
            assert row[column] == pytest.approx(fit[column])


def test_a_corrupting_fake_run_reports_the_failed_checksums(tmp_path):
    result = run_in_process_in(tmp_path, "backend=fake", "backend.corrupt=true",
                               "workload=transfer", "workload.sizes=[1048576,4194304]", "runs=1",
                               "warmup=0")
    assert result.returncode == 3, result.stdout + result.stderr  # no ok trial
    report = (tmp_path / "run" / "report.md").read_text()
    assert "**2 of 2 transfers failed the SHA-256 check**" in report
    assert "download of 1048576 bytes corrupted" in report
    summary = pd.read_csv(tmp_path / "run" / "summary.csv")
    assert list(summary.loc[summary["metric"] == "upload_model", "n"]) == [0]


def test_the_transfer_sweep_experiment_runs_on_the_fake_backend(tmp_path):
    root = tmp_path / "sweep"
    result = run_in_process_in(tmp_path, "experiment=transfer_sweep", "backend=fake",
                               "workload.sizes=[1048576,4194304]", "runs=2", "warmup=0",
                               f"hydra.sweep.dir={root}")
    assert result.returncode == 0, result.stdout + result.stderr
    trials = pd.read_parquet(root / "trials.parquet")
    assert set(trials["workload"]) == {"transfer"}
    assert len(trials) == 4  # 2 runs x 2 sizes, no warm-up
    assert "## Upload and download" in (root / "report.md").read_text()
