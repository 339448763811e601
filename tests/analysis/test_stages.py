"""Boot stages from timestamped events: the marker rules, the real TCG events, plots, report."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from helpers.rows import trial
from hydra import compose, initialize_config_module
from matplotlib.figure import Figure

import harness.cli.run  # noqa: F401  (registers the structured configs)
from harness.analysis import stages as timeline
from harness.plotting.stages import stage_bars, trial_timeline
from harness.reporting.build import build_report
from harness.results import store

ROOT = Path(__file__).resolve().parents[2]
REAL_EVENTS = ROOT / "tests" / "data" / "events_tcg.parquet"  # one TCG launch, 1.48.6

MARKERS = [
    {"stage": "build", "kind": "library", "pattern": "^begin building"},
    {"stage": "firmware", "kind": "appliance", "pattern": "SeaBIOS"},
    {"stage": "kernel", "kind": "appliance", "pattern": "Linux version"},
    {"stage": "init", "kind": "appliance", "pattern": "^Starting /init"},
    {"stage": "init", "kind": "appliance", "pattern": "^init begins"},  # a second way in
    {"stage": "daemon", "kind": None, "pattern": "guestfsd"},
    {"stage": "shutdown", "kind": "trace", "pattern": "^close$"},
]


def events(lines, run_id="r1", cell="a", repetition=0, instance=0, warmup=False):
    """An events frame of one trial from (t_s, kind, message) triples."""
    return pd.DataFrame([{"run_id": run_id, "cell": cell, "repetition": repetition,
                          "instance": instance, "warmup": warmup, "t_s": t, "kind": kind,
                          "message": message} for t, kind, message in lines])


UML_LIKE = [  # no firmware; a kernel line before the build that must not count
    (0.0, "appliance", "Linux version of the build host"),
    (0.1, "library", "begin building supermin appliance"),
    (0.5, "library", "finished building supermin appliance"),
    (1.0, "appliance", "Linux version 6.1"),
    (2.0, "appliance", "Starting /init script ..."),
    (3.0, "library", "guestfsd is not a library message but any kind matches"),
    (3.5, "trace", "close"),
    (4.0, "library", "closing guestfs handle"),
]


def test_stages_follow_the_markers_in_order_skipping_missing_ones():
    got = timeline.stages(events(UML_LIKE), MARKERS)
    assert list(got.columns) == timeline.STAGE_COLUMNS
    assert list(got["stage"]) == ["build", "kernel", "init", "daemon", "shutdown"]
    assert list(got["start"]) == [0.1, 1.0, 2.0, 3.0, 3.5]
    assert list(got["end"]) == [1.0, 2.0, 3.0, 3.5, 4.0]  # the last ends at the last event
    assert got["duration"].sum() == pytest.approx(4.0 - 0.1)  # the span from the first stage


def test_a_stage_starts_at_the_first_of_its_markers_and_kinds_must_match():
    lines = [(0.0, "library", "begin building"), (1.0, "appliance", "init begins"),
             (2.0, "appliance", "Starting /init"), (3.0, "trace", "SeaBIOS in a trace")]
    got = timeline.stages(events(lines), MARKERS)
    assert list(got["stage"]) == ["build", "init"]
    assert list(got["start"]) == [0.0, 1.0]


def test_stages_are_per_trial_and_keep_the_trial_key():
    both = pd.concat([events(UML_LIKE, repetition=0, warmup=True),
                      events(UML_LIKE[1:5], repetition=1)])
    got = timeline.stages(both, MARKERS)
    assert got.groupby("repetition")["stage"].count().to_dict() == {0: 5, 1: 3}
    assert got.loc[got["repetition"] == 0, "warmup"].all()
    assert got.loc[got["repetition"] == 1, "duration"].sum() == pytest.approx(2.0 - 0.1)


def test_no_match_or_no_events_gives_an_empty_frame_with_the_columns():
    assert timeline.stages(events([(0.0, "library", "nothing")]), MARKERS).empty
    empty = timeline.stages(events([]).reindex(columns=["run_id", "cell", "repetition",
                                                        "instance", "warmup", "t_s", "kind",
                                                        "message"]), MARKERS)
    assert empty.empty and list(empty.columns) == timeline.STAGE_COLUMNS


def test_printk_moves_a_stage_back_to_the_kernels_clock_zero_but_not_past_the_previous():
    markers = [{"stage": "hv", "kind": None, "pattern": "^/usr/bin/qemu"},
               {"stage": "kernel", "kind": "appliance", "pattern": "Linux version",
                "printk": True},
               {"stage": "init", "kind": "appliance", "pattern": "^Starting /init"}]
    held_back = [(0.5, "appliance", "/usr/bin/qemu \\"),
                 (2.0, "appliance", "[    0.000000] Linux version 6.1"),
                 (2.0, "appliance", "[    0.900000] console [ttyS0] enabled"),
                 (2.5, "appliance", "[    1.300000] Run /init as init process"),
                 (3.0, "appliance", "Starting /init script"),
                 (3.5, "appliance", "[    9.000000] a later line, not the kernel stage's")]
    got = timeline.stages(events(held_back), markers).set_index("stage")
    assert got.loc["kernel", "start"] == pytest.approx(1.1)  # 2.0 - 0.9
    assert got.loc["hv", "end"] == pytest.approx(1.1)
    assert got["duration"].sum() == pytest.approx(3.5 - 0.5)
    too_early = [*held_back[:2], (2.1, "appliance", "[    1.900000] guest clock ahead")]
    got = timeline.stages(events(too_early), markers).set_index("stage")
    assert got.loc["kernel", "start"] == pytest.approx(0.5)  # clamped to hv's start


def test_a_bad_pattern_names_its_stage():
    with pytest.raises(ValueError, match="'kernel'"):
        timeline.stages(events(UML_LIKE), [{"stage": "kernel", "kind": None, "pattern": "("}])


def test_summary_excludes_warmups_and_orders_by_start():
    runs = pd.concat([events(UML_LIKE, repetition=0, warmup=True),
                      events(UML_LIKE, repetition=1),
                      events([(t + 1, k, m) for t, k, m in UML_LIKE], repetition=2)])
    summary = timeline.stage_summary(timeline.stages(runs, MARKERS))
    assert list(summary.columns) == timeline.SUMMARY_COLUMNS
    assert list(summary["stage"]) == ["build", "kernel", "init", "daemon", "shutdown"]
    assert (summary["n"] == 2).all()
    build = summary.set_index("stage").loc["build"]
    assert build["median"] == pytest.approx(0.9) and build["median_start"] == pytest.approx(0.6)


def test_representative_trial_is_the_one_closest_to_the_median_total():
    def scaled(factor, repetition, warmup=False):
        return events([(t * factor, k, m) for t, k, m in UML_LIKE], repetition=repetition,
                      warmup=warmup)
    stage_rows = timeline.stages(pd.concat([scaled(10, 0, warmup=True), scaled(1, 1),
                                            scaled(2.2, 2), scaled(3, 3)]), MARKERS)
    chosen = timeline.representative_trial(stage_rows)
    assert set(chosen["repetition"]) == {2}
    assert timeline.representative_trial(stage_rows[stage_rows["warmup"]]).empty


def test_stage_order_keeps_a_stage_one_cell_lacks_in_its_place():
    summary = pd.DataFrame({"cell": ["tcg"] * 3 + ["uml"] * 3,
                            "stage": ["hv", "firmware", "kernel", "hv", "kernel", "init"]})
    assert timeline.stage_order(summary) == ["hv", "firmware", "kernel", "init"]


def test_real_tcg_events_give_every_boot_stage():
    real = pd.read_parquet(REAL_EVENTS)
    got = timeline.stages(real, timeline.default_markers()).set_index("stage")
    for stage in ["supermin", "qemu features", "hypervisor", "firmware", "kernel",
                  "supermin init", "/init", "udev start", "udev settle", "MD probe",
                  "LVM probe", "guestfsd", "workload", "shutdown"]:
        assert stage in got.index, stage
    assert "libvirt setup" not in got.index  # the direct backend
    # "Linux version" arrives at 2.85 s; the kernel's clock read 0 at about 2.65 s.
    assert got.loc["kernel", "start"] == pytest.approx(2.65, abs=0.01)
    assert got.loc["firmware", "end"] == got.loc["kernel", "start"]
    assert got.loc["/init", "start"] == pytest.approx(5.56, abs=0.01)
    assert got.loc["udev settle", "start"] == pytest.approx(7.17, abs=0.01)
    assert got.loc["shutdown", "end"] == pytest.approx(real["t_s"].max())
    assert got["duration"].sum() == pytest.approx(real["t_s"].max() - got["start"].min())
    assert (got["duration"] >= 0).all() and got["start"].is_monotonic_increasing


def test_the_config_group_composes_and_its_patterns_compile():
    with initialize_config_module(config_module="harness.conf", version_base="1.3"):
        cfg = compose(config_name="config")
    markers = list(cfg.stages.markers)
    assert [dict(m) for m in markers] == timeline.default_markers()
    assert {"kernel", "/init", "guestfsd", "firmware", "shutdown"} <= set(
        timeline.compile_markers(markers))


def test_plots_return_figures_also_without_data():
    stage_rows = timeline.stages(pd.read_parquet(REAL_EVENTS), timeline.default_markers())
    summary = timeline.stage_summary(stage_rows)
    figures = [stage_bars(summary), trial_timeline(stage_rows),
               stage_bars(summary.iloc[0:0]), trial_timeline(stage_rows.iloc[0:0])]
    for figure in figures:
        assert isinstance(figure, Figure)
        plt.close(figure)


def write_run(run: Path, rows: list[dict], metadata: list[dict]) -> None:
    store.write_frame_parquet(run / store.TRIALS_FILE, pd.DataFrame(rows))
    store.write_json(run / store.METADATA_FILE, metadata[0])


def test_report_without_events_writes_nothing_about_stages(tmp_path):
    run = tmp_path / "run"
    write_run(run, [trial(repetition=r) for r in range(3)], [{"run_id": "r1"}])
    build_report([run], run)
    assert not (run / "stages.parquet").exists()
    assert not (run / "plots" / "stages.png").exists()
    assert not list((run / "plots").glob("timeline*.png"))
    assert "Boot stages" not in (run / "report.md").read_text()


def test_report_of_a_timeline_sweep_writes_stages_plots_and_the_verbose_cost(tmp_path):
    """A sweep `-m timeline=false,true`: two jobs of one cell, the second labelled /timeline and
    with events."""
    real = pd.read_parquet(REAL_EVENTS)
    root = tmp_path / "sweep"
    for job, on, launch in [("0", False, 10.0), ("1", True, 12.5)]:
        run_id = f"host:sweep/{job}"
        cell = real["cell"].iloc[0] + ("/timeline" if on else "")
        write_run(root / job,
                  [trial(run_id=run_id, cell=cell, repetition=r, launch_s=launch, timeline=on)
                   for r in range(2)],
                  [{"run_id": run_id, "cell": cell,
                    "config": {"timeline": on, "stages": {"markers": MARKERS}}}])
        if on:
            store.write_frame_parquet(
                root / job / store.EVENTS_FILE,
                pd.concat([real.assign(run_id=run_id, cell=cell, repetition=r)
                           for r in range(2)]))
    trials = pd.concat([pd.read_parquet(root / j / store.TRIALS_FILE) for j in "01"])
    store.write_frame_parquet(root / store.TRIALS_FILE, trials)
    store.write_json(root / store.METADATA_FILE, {"run_id": "host:sweep", "jobs": ["0", "1"]})

    build_report([root], root)
    stage_rows = pd.read_parquet(root / "stages.parquet")
    # The run's own markers (metadata), not the defaults.
    assert list(pd.unique(stage_rows["stage"])) == ["build", "firmware", "kernel", "init",
                                                    "daemon", "shutdown"]
    assert (root / "plots" / "stages.png").exists()
    assert (root / "plots" / "timeline.png").exists()
    report = (root / "report.md").read_text()
    assert "## Boot stages" in report and "| kernel" in report
    assert "**12.50 s** with timeline (n=2) against **10.00 s** without (n=2)" in report
    assert "**1.25x**" in report
    assert "![timeline](plots/timeline.png)" in report


def test_report_of_a_timeline_run_alone_says_how_to_measure_the_cost(tmp_path):
    run = tmp_path / "run"
    real = pd.read_parquet(REAL_EVENTS)
    write_run(run, [trial(run_id=real["run_id"].iloc[0], cell=real["cell"].iloc[0])],
              [{"run_id": "x"}])  # old metadata: no stages, no timeline key
    store.write_frame_parquet(run / store.EVENTS_FILE, real)
    build_report([run], run)
    assert "guestfsd" in set(pd.read_parquet(run / "stages.parquet")["stage"])
    report = (run / "report.md").read_text()
    assert "`lgbench -m timeline=false,true ...`" in report
    assert "verbose dump" in report


def boot_events(backend: str, repetition: int, durations: dict[str, float]) -> list[tuple]:
    """(t_s, kind, message) of one launch whose stages take `durations` seconds, in order."""
    lines = {"build": ("library", "begin building supermin appliance"),
             "firmware": ("appliance", "SeaBIOS (version 1.16)"),
             "kernel": ("appliance", "Linux version 6.1"),
             "init": ("appliance", "Starting /init script ..."),
             "daemon": ("appliance", "+ guestfsd"), "shutdown": ("trace", "close")}
    t, out = 0.0, []
    for stage, seconds in durations.items():
        out.append((t, *lines[stage]))
        t += seconds * (1 + 0.01 * repetition)  # a little spread, the same on both sides
    return [*out, (t, "library", "closing guestfs handle")]


def test_uml_against_tcg_stage_by_stage_leads_the_uml_section(tmp_path):
    """TCG: firmware 6 s, kernel 3 s, init 4 s; UML: no firmware, kernel 1.5 s, init 8 s."""
    tcg = {"build": 0.2, "firmware": 6.0, "kernel": 3.0, "init": 4.0, "daemon": 1.0,
           "shutdown": 0.5}
    uml = {"build": 0.2, "kernel": 1.5, "init": 8.0, "daemon": 1.0, "shutdown": 0.5}
    rows, frames = [], []
    for backend, durations in (("tcg", tcg), ("uml", uml)):
        cell = f"{backend}/cached-hot/launch/p1"
        for r in range(6):
            rows.append(trial(cell=cell, backend=backend, accel_requested=backend,
                              accel_effective=backend, repetition=r, timeline=True,
                              launch_s=sum(durations.values())))
            frames.append(events(boot_events(backend, r, durations), cell=cell, repetition=r))
    run = tmp_path / "run"
    write_run(run, rows, [{"run_id": "r1", "config": {"timeline": True,
                                                      "stages": {"markers": MARKERS}}}])
    store.write_frame_parquet(run / store.EVENTS_FILE, pd.concat(frames))
    found = build_report([run], run)
    by_stage = found.results["uml"].by_stage.set_index("stage")
    assert list(by_stage.index) == ["build", "kernel", "init", "daemon", "shutdown"]
    assert by_stage.loc["kernel", "ratio"] == pytest.approx(0.5, rel=0.01)
    assert by_stage.loc["init", "ratio"] == pytest.approx(2.0, rel=0.01)
    assert by_stage.loc["init", "verdict"].startswith("uml 2.00x slower than tcg (95% CI")
    assert by_stage.loc["daemon", "verdict"].startswith("no clear difference")
    report = (run / "report.md").read_text()
    section = report[report.index("## UML against `tcg`"):]
    assert section.index("### Where the launch goes, stage by stage") < section.index(
        "Ratio candidate / baseline")
    assert "| init     | 8.2 (8-8.4)       | 4.1 (4-4.2)       | 2.00" in section
