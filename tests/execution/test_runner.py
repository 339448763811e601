"""The runner on the fake backend: warm-ups, failures, timeouts, parallelism, clean-up."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import psutil
import pytest

from harness.analysis.precision import STOP_BUDGET, STOP_MAX_RUNS, STOP_PRECISION, StopRule
from harness.appliances.cached import CachedAppliance
from harness.backends.base import BackendUnavailable
from harness.backends.fake import FakeBackend
from harness.execution.diagnostics import launch_failed
from harness.execution.runner import run_cell, run_repetition
from harness.host import feasibility, processes
from harness.plan import CellPlan
from harness.workloads.base import Workload
from harness.workloads.launch import LaunchWorkload
from harness.workloads.transfer import TransferWorkload, payload


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def plan(tmp_path: Path, **overrides) -> CellPlan:
    (tmp_path / "cache").mkdir(exist_ok=True)  # the CLI makes and checks it before a cell
    fields = dict(run_id="test", cell="fake/cached-hot/launch/p1", parallel=1, runs=2, warmup=1,
                  memsize=None, smp=1, timeout_s=30.0, cache_dir=tmp_path / "cache",
                  probe_timeout_s=5.0)
    fields.update(overrides)
    return CellPlan(**fields)


@pytest.fixture
def hot(tmp_path):
    return CachedAppliance(cache_state="hot", dir=str(tmp_path / "c"))


@pytest.fixture
def repetition_dirs(monkeypatch):
    """The private tmpdirs the runner makes, recorded (it creates them before forking)."""
    made: list[str] = []
    real = tempfile.mkdtemp

    def recording(*args, **kwargs):
        path = real(*args, **kwargs)
        if Path(path).name.startswith("lgb-"):
            made.append(path)
        return path

    monkeypatch.setattr(tempfile, "mkdtemp", recording)
    return made


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A record of every process the trials start, written as each one starts: the workers
    (where the fake backend makes its handles) and whatever they run with subprocess (the fake
    hypervisors). Workers are forked, so the record is a file of `kind pid start-time` lines."""
    record = tmp_path / "started"

    def note(kind: str, pid: int) -> None:
        with record.open("a") as f:
            f.write(f"{kind} {pid} {psutil.Process(pid).create_time()!r}\n")

    class RecordedPopen(subprocess.Popen):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            note("child", self.pid)

    create_handle = FakeBackend.create_handle

    def recorded_create_handle(self: FakeBackend, *args):
        note("worker", os.getpid())
        return create_handle(self, *args)

    monkeypatch.setattr(subprocess, "Popen", RecordedPopen)
    monkeypatch.setattr(FakeBackend, "create_handle", recorded_create_handle)
    return record


def started_processes(record: Path) -> dict[int, tuple[str, float]]:
    """pid -> (kind, start time) of what the `started` fixture recorded."""
    if not record.exists():
        return {}
    recorded = {}
    for line in record.read_text().splitlines():
        kind, pid, created = line.split()
        recorded[int(pid)] = (kind, float(created))
    return recorded


def children(record: Path) -> list[int]:
    """The recorded fake hypervisors."""
    return sorted(pid for pid, (kind, _) in started_processes(record).items() if kind == "child")


def survivors(record: Path) -> list[str]:
    """The recorded processes still alive (same pid and start time, not a zombie), each with its
    command line."""
    living = []
    for pid, (kind, created) in started_processes(record).items():
        try:
            proc = psutil.Process(pid)
            if proc.create_time() == created and proc.status() != psutil.STATUS_ZOMBIE:
                living.append(f"{kind} {pid}: {' '.join(proc.cmdline())}")
        except psutil.NoSuchProcess:
            continue
    return living


def run(cell_plan, backend, appliance, workload=None):
    """run_cell with a list-appending emit; returns (rows, number of emit calls)."""
    rows, calls = [], []

    def emit(batch):
        calls.append(len(batch))
        rows.extend(batch)

    run_cell(cell_plan, backend, appliance, workload or LaunchWorkload("launch"), emit)
    return rows, calls


def assert_cleaned_up(dirs, caplog, started: Path) -> list[int]:
    """No process the trials started is alive, no process mentions a repetition's tmpdir, the
    dirs are gone, and every leftover the runner reported killing is dead. Returns those pids."""
    assert dirs, "the runner made no repetition tmpdir"
    assert children(started), "the trials started no fake hypervisor"
    left = survivors(started)
    assert not left, f"processes the trials started are still alive: {left}"
    for d in dirs:
        assert [p for p in processes.referencing(d) if alive(p.pid)] == []
        assert not Path(d).exists()
    killed = [pid for r in caplog.records if r.getMessage().startswith("killed leftover")
              for pid in r.args[0]]
    assert [pid for pid in killed if alive(pid)] == []
    return killed


def test_warmups_come_first_flagged_and_counted(tmp_path, hot):
    rows, calls = run(plan(tmp_path, runs=2, warmup=1), FakeBackend(launch_s=0.02), hot)
    assert calls == [1, 1, 1]  # one emit per repetition, as soon as it ends
    assert [r.repetition for r in rows] == [0, 1, 2]
    assert [r.warmup for r in rows] == [True, False, False]
    assert [r.status for r in rows] == ["ok"] * 3
    for r in rows:
        assert r.error is None
        assert r.accel_effective == r.accel_requested == "tcg"
        assert r.backend == "fake" and r.workload == "launch" and r.cache_state == "hot"
        assert 0.02 <= r.launch_s <= r.total_s < 5
        assert r.started_at < r.ended_at
        assert "released" not in r.extra and "finished" not in r.extra


def test_launch_time_is_measured_by_the_runner(tmp_path, hot):
    rows, _ = run(plan(tmp_path, runs=1, warmup=0), FakeBackend(launch_s=0.4), hot)
    assert 0.4 <= rows[0].launch_s < 2.0


def test_a_failed_launch_is_an_error_row_with_the_message(tmp_path, hot, repetition_dirs,
                                                          caplog, started):
    caplog.set_level(logging.WARNING, logger="harness.execution.runner")
    rows, _ = run(plan(tmp_path, runs=2, warmup=1), FakeBackend(fail=True), hot)
    assert len(rows) == 3
    assert [r.status for r in rows] == ["error"] * 3
    assert all("fake launch failed" in r.error for r in rows)
    assert all(r.launch_s is None and r.total_s is None for r in rows)
    assert [r.extra["failed_in"] for r in rows] == ["launch"] * 3
    assert launch_failed([r.to_dict() for r in rows])  # libguestfs-test-tool will be run
    assert [r.warmup for r in rows] == [True, False, False]
    assert len(children(started)) == 3  # one fake hypervisor per repetition, closed on failure
    assert_cleaned_up(repetition_dirs, caplog, started)


class UnknownDomain(LaunchWorkload):
    """libguestfs refuses the guest before any launch (as add_domain of an unknown name)."""

    def add_drives(self, handle):
        raise RuntimeError("no domain called lgbench-no-such")


def test_a_guest_refused_before_the_launch_is_no_launch_failure(tmp_path, hot):
    rows, _ = run(plan(tmp_path, runs=1, warmup=0), FakeBackend(launch_s=0.02), hot,
                  UnknownDomain("launch"))
    (row,) = rows
    assert row.status == "error" and "lgbench-no-such" in row.error
    assert row.extra["failed_in"] == "drives" and row.launch_s is None
    assert not launch_failed([r.to_dict() for r in rows])  # nothing to diagnose by launching


def test_a_hung_launch_times_out_and_everything_is_killed(tmp_path, hot, repetition_dirs,
                                                          caplog, started):
    caplog.set_level(logging.WARNING, logger="harness.execution.runner")
    start = time.monotonic()
    rows, _ = run(plan(tmp_path, runs=1, warmup=0, timeout_s=2), FakeBackend(hang=True), hot)
    elapsed = time.monotonic() - start
    assert 2 <= elapsed < 10
    assert [r.status for r in rows] == ["timeout"]
    assert "timeout_s=2" in rows[0].error
    assert rows[0].launch_s is None and rows[0].warmup is False
    killed = assert_cleaned_up(repetition_dirs, caplog, started)
    assert killed == children(started), "the hung fake hypervisor was not found and killed"


def test_a_timeout_kills_every_parallel_instance(tmp_path, hot, repetition_dirs, caplog,
                                                 started):
    caplog.set_level(logging.WARNING, logger="harness.execution.runner")
    rows, _ = run(plan(tmp_path, runs=1, warmup=0, parallel=2, timeout_s=1),
                  FakeBackend(hang=True), hot)
    assert [(r.instance, r.status) for r in rows] == [(0, "timeout"), (1, "timeout")]
    killed = assert_cleaned_up(repetition_dirs, caplog, started)
    assert len(killed) == 2 and killed == children(started)


class HelperLeavingBackend(FakeBackend):
    """Its handle's close leaves a helper running `helper_s` in the worker's group, as UML's
    relay does for a moment after the channel closes (it ends UML's helpers, then itself)."""

    def __init__(self, helper_s: float) -> None:
        super().__init__()
        self.helper_s = helper_s

    def create_handle(self, *args):
        handle = super().create_handle(*args)
        close = handle.close

        def close_leaving_a_helper() -> None:
            close()
            subprocess.Popen([sys.executable, "-c", f"import time; time.sleep({self.helper_s})"])

        handle.close = close_leaving_a_helper
        return handle


@pytest.mark.parametrize(("helper_s", "reported"), [(0.3, False), (3600, True)],
                         ids=["ends-itself", "lingers"])
def test_a_helper_ending_itself_after_close_is_not_a_leftover(tmp_path, hot, repetition_dirs,
                                                              caplog, started, helper_s,
                                                              reported):
    caplog.set_level(logging.WARNING, logger="harness.execution.runner")
    rows, _ = run(plan(tmp_path, runs=1, warmup=0), HelperLeavingBackend(helper_s), hot)
    assert [r.status for r in rows] == ["ok"]
    killed = assert_cleaned_up(repetition_dirs, caplog, started)
    helper = list(started_processes(started))[-1]  # the last process the trial started
    assert (helper in killed) == reported


def test_parallel_instances_overlap_and_get_a_makespan(tmp_path, hot, repetition_dirs, caplog,
                                                        started):
    caplog.set_level(logging.WARNING, logger="harness.execution.runner")
    rows, calls = run(plan(tmp_path, runs=1, warmup=0, parallel=3),
                      FakeBackend(launch_s=1.0), hot)
    assert calls == [3]
    assert sorted(r.instance for r in rows) == [0, 1, 2]
    assert {r.status for r in rows} == {"ok"}
    assert {r.parallel for r in rows} == {3}
    assert max(r.started_at for r in rows) < min(r.ended_at for r in rows), "not concurrent"
    makespans = {r.makespan_s for r in rows}
    assert len(makespans) == 1
    makespan = makespans.pop()
    assert makespan >= max(r.total_s for r in rows)
    assert makespan < 3.0  # together, not one 1 s launch after another
    assert_cleaned_up(repetition_dirs, caplog, started)


class KvmFallsBackToTcg(FakeBackend):
    """Asks for KVM, runs under TCG: what a nested host without usable KVM does."""

    def __init__(self) -> None:
        super().__init__(name="kvm", accel="kvm", launch_s=0.02)

    def effective_accel(self, handle, tmpdir):
        return "tcg"


def test_an_accel_mismatch_is_an_error_saying_requested_and_ran(tmp_path, hot):
    rows, _ = run(plan(tmp_path, runs=1, warmup=0), KvmFallsBackToTcg(), hot)
    (r,) = rows
    assert r.status == "error"
    assert r.accel_requested == "kvm" and r.accel_effective == "tcg"
    assert "requested accel kvm" in r.error and "tcg" in r.error
    assert r.launch_s is not None  # measured, then judged


class CacheProbe(Workload):
    """Counts what each trial finds in the supermin cache dir, then builds something there."""

    def run(self, handle, open_handle):
        cache = Path(handle.cachedir)
        found = len(list(cache.iterdir()))
        (cache / f"appliance-{os.getpid()}").write_text("built")
        return [{"cache_entries": found}]


@pytest.mark.parametrize(("state", "seen"), [("cold", [0, 0, 0]), ("hot", [1, 2, 3])])
def test_the_cold_cache_is_emptied_before_every_trial(tmp_path, state, seen):
    cache = tmp_path / "c"
    appliance = CachedAppliance(cache_state=state, dir=str(cache))
    appliance.prepare()
    (cache / "marker").write_text("old appliance")
    rows, _ = run(plan(tmp_path, runs=2, warmup=1), FakeBackend(launch_s=0.01), appliance,
                  CacheProbe("probe"))
    assert [r.status for r in rows] == ["ok"] * 3
    assert [r.extra["cache_entries"] for r in rows] == seen
    assert (cache / "marker").exists() == (state == "hot")
    assert {r.cache_state for r in rows} == {state}


def test_run_repetition_empties_the_cold_cache(tmp_path):
    cache = tmp_path / "c"
    appliance = CachedAppliance(cache_state="cold", dir=str(cache))
    appliance.prepare()
    (cache / "marker").write_text("old appliance")
    rows = run_repetition(plan(tmp_path, runs=1, warmup=0), FakeBackend(launch_s=0.01),
                          appliance, LaunchWorkload("launch"), 0)
    assert [r.status for r in rows] == ["ok"]
    assert cache.is_dir() and not (cache / "marker").exists()


class Unavailable(FakeBackend):
    """Changes the host, then finds it cannot run (as libvirt limits + no KVM would)."""

    torn_down = False

    def setup(self, cache_dir, probe_timeout_s):
        raise BackendUnavailable("no such hypervisor here")

    def teardown(self):
        self.torn_down = True


def test_an_unavailable_backend_gives_unsupported_rows(tmp_path, hot):
    backend = Unavailable()
    rows, calls = run(plan(tmp_path, runs=2, warmup=1, parallel=2), backend, hot)
    assert backend.torn_down  # what setup changed is undone even though setup failed
    assert calls == [1, 2, 2]  # a warm-up launches one appliance, measured repetitions two
    assert {r.status for r in rows} == {"unsupported"}
    assert all(r.error == "no such hypervisor here" for r in rows)
    assert [r.warmup for r in rows] == [True, False, False, False, False]


class Crashes(Workload):
    """A workload bug (not a libguestfs RuntimeError) after the appliance launched."""

    def run(self, handle, open_handle):
        raise KeyError("oops")


class Dies(Workload):
    def run(self, handle, open_handle):
        os._exit(3)


class GroupTerminated(Workload):
    """What UML does on a kernel panic (os_dump_core): SIGTERM its whole process group,
    which is the worker's; a child the worker started must still die of SIGTERM."""

    def run(self, handle, open_handle):
        child = subprocess.Popen(["sleep", "60"])
        os.killpg(0, signal.SIGTERM)
        return [{"child_returncode": child.wait(timeout=10)}]


def test_sigterm_from_the_workers_own_group_ends_the_appliance_not_the_trial(tmp_path, hot):
    rows, _ = run(plan(tmp_path, runs=1, warmup=0), FakeBackend(launch_s=0.01), hot,
                  GroupTerminated("panic"))
    assert [r.status for r in rows] == ["ok"], rows[0].error
    assert rows[0].extra["child_returncode"] == -signal.SIGTERM


def test_a_harness_bug_is_an_error_row_and_the_appliance_is_killed(tmp_path, hot,
                                                                  repetition_dirs, caplog,
                                                                  started):
    caplog.set_level(logging.WARNING, logger="harness.execution.runner")
    rows, _ = run(plan(tmp_path, runs=1, warmup=0), FakeBackend(launch_s=0.01), hot,
                  Crashes("crash"))
    assert rows[0].status == "error"
    assert rows[0].error.startswith("harness:") and "oops" in rows[0].error
    killed = assert_cleaned_up(repetition_dirs, caplog, started)
    assert killed == children(started), "the unclosed fake child was not found"


def test_a_worker_that_dies_is_an_error_row(tmp_path, hot, repetition_dirs, caplog, started):
    caplog.set_level(logging.WARNING, logger="harness.execution.runner")
    start = time.monotonic()
    rows, _ = run(plan(tmp_path, runs=1, warmup=0), FakeBackend(launch_s=0.01), hot,
                  Dies("die"))
    assert time.monotonic() - start < 10
    assert rows[0].status == "error"
    assert "without a result" in rows[0].error and "code 3" in rows[0].error
    killed = assert_cleaned_up(repetition_dirs, caplog, started)
    assert killed == children(started), "the dead worker's fake hypervisor was not killed"


def test_a_cell_beyond_this_host_is_infeasible_and_launches_nothing(tmp_path, hot,
                                                                    repetition_dirs):
    """No warm-up to measure with and nothing measured before: the guest's whole RAM counts."""
    rows, calls = run(plan(tmp_path, parallel=100_000, memsize=2048, warmup=0), FakeBackend(),
                      hot)
    assert calls == [100_000, 100_000]
    assert {r.status for r in rows} == {"infeasible"}
    assert "memory: 100000 x 2348 MiB (memsize 2048 + 300 (not measured yet))" in rows[0].error
    assert repetition_dirs == []  # no repetition was started


@pytest.fixture
def one_mib_available(monkeypatch):
    """A host with 1 MiB of memory available, as the feasibility check sees it."""
    host = SimpleNamespace(virtual_memory=lambda: SimpleNamespace(available=2**20),
                           pids=psutil.pids)
    monkeypatch.setattr(feasibility, "psutil", host)


def test_the_warm_up_measures_what_an_appliance_costs_before_n_launch(tmp_path, hot,
                                                                      one_mib_available):
    rows, calls = run(plan(tmp_path, parallel=3, memsize=2048, runs=2), FakeBackend(), hot)
    assert calls == [1, 3, 3]
    warm_up, measured = rows[0], rows[1:]
    assert warm_up.status == "ok" and warm_up.extra["host_cost_mib"] > 0
    assert {r.status for r in measured} == {"infeasible"}
    cost = feasibility.measured_footprint(tmp_path / "cache", "fake/cached/launch/m2048")
    assert cost == pytest.approx(warm_up.extra["host_cost_mib"], abs=0.1)
    assert f"(measured {cost:.0f} + 25% margin)" in measured[0].error


def test_a_cost_measured_before_refuses_without_launching(tmp_path, hot, repetition_dirs,
                                                         one_mib_available):
    cell = plan(tmp_path, parallel=3, memsize=512)
    feasibility.record_footprint(cell.cache_dir, "fake/cached/launch/m512", 400.0)
    rows, _ = run(cell, FakeBackend(), hot)
    assert {r.status for r in rows} == {"infeasible"}
    assert "memory: 3 x 500 MiB (measured 400 + 25% margin) = 1500 MiB > 1 MiB" in rows[0].error
    assert repetition_dirs == []


def test_rows_carry_appliance_and_host_memory(tmp_path, hot):
    rows, _ = run(plan(tmp_path, parallel=2, runs=1, warmup=0), FakeBackend(), hot)
    for row in rows:
        # the fake hypervisor is a sleeping Python: some MiB resident, far below a guest
        assert 1 < row.extra["appliance_rss_peak_mib"] < 100
        assert row.extra["host_cost_mib"] >= row.extra["appliance_rss_peak_mib"]
        assert row.extra["host_mem_peak_mib"] >= row.extra["host_mem_start_mib"] > 0
    assert rows[0].extra["host_mem_peak_mib"] == rows[1].extra["host_mem_peak_mib"]


def test_warm_ups_launch_one_appliance_and_measured_repetitions_all(tmp_path, hot):
    rows, calls = run(plan(tmp_path, parallel=3, runs=1, warmup=2), FakeBackend(), hot)
    assert calls == [1, 1, 3]
    assert {r.status for r in rows} == {"ok"}
    assert [r.instance for r in rows if not r.warmup] == [0, 1, 2]


def test_a_transfer_gives_one_verified_row_per_size(tmp_path, hot):
    workload = TransferWorkload("transfer", sizes=[1000, 5000], seed=3)
    rows, _ = run(plan(tmp_path, runs=1, warmup=0), FakeBackend(), hot, workload)
    assert [r.extra["size_bytes"] for r in rows] == [1000, 5000]
    assert all(r.status == "ok" and r.extra["sha_ok"] for r in rows)
    assert rows[0].launch_s == rows[1].launch_s  # one appliance, one launch


def test_a_corrupted_download_is_an_error_row(tmp_path, hot):
    workload = TransferWorkload("transfer", sizes=[4096], seed=3)
    rows, _ = run(plan(tmp_path, runs=1, warmup=0), FakeBackend(corrupt=True), hot, workload)
    assert rows[0].status == "error" and not rows[0].extra["sha_ok"]
    assert "download of 4096 bytes corrupted" in rows[0].error


def test_transfer_payloads_are_deterministic_per_seed():
    assert payload(1024, 1) == payload(1024, 1) != payload(1024, 2)


# --- runs=auto -------------------------------------------------------------------------------

def auto_run(tmp_path, hot, rule, backend=None, **fields):
    """run_cell under a stop rule; returns (rows, why it stopped)."""
    rows = []
    cell_plan = plan(tmp_path, runs=rule.max_runs, warmup=1, stop_rule=rule, **fields)
    stop = run_cell(cell_plan, backend or FakeBackend(launch_s=0.02), hot,
                    LaunchWorkload("launch"), rows.extend)
    return rows, stop


def measured(rows):
    return sorted({r.repetition for r in rows if not r.warmup})


# precision=5: any spread is precise enough (a busy host can make one fake launch 3x slower)
def test_runs_auto_stops_once_the_median_is_precise(tmp_path, hot):
    rows, stop = auto_run(tmp_path, hot, StopRule(precision=5, min_runs=6, max_runs=20,
                                                  budget_s=600))
    assert (stop, measured(rows)) == (STOP_PRECISION, list(range(1, 9)))  # a 99% CI: 8 values


def test_runs_auto_stops_at_max_runs_short_of_precision(tmp_path, hot):
    rows, stop = auto_run(tmp_path, hot, StopRule(precision=1e-9, min_runs=6, max_runs=7,
                                                  budget_s=600))
    assert (stop, len(measured(rows))) == (STOP_MAX_RUNS, 7)


def test_runs_auto_stops_before_a_run_that_would_pass_its_budget(tmp_path, hot):
    rows, stop = auto_run(tmp_path, hot, StopRule(precision=1e-9, min_runs=6, max_runs=20,
                                                  budget_s=1.0),
                          backend=FakeBackend(launch_s=0.3))
    assert stop == STOP_BUDGET and 1 <= len(measured(rows)) <= 3


def test_runs_auto_with_makespans_of_n_appliances(tmp_path, hot):
    rows, stop = auto_run(tmp_path, hot, StopRule(precision=5, min_runs=6, max_runs=20,
                                                  budget_s=600), parallel=2)
    assert stop == STOP_PRECISION and len([r for r in rows if not r.warmup]) == 16


def test_runs_auto_on_a_backend_that_cannot_run_gives_its_min_runs_of_rows(tmp_path, hot):
    rows, stop = auto_run(tmp_path, hot, StopRule(precision=0.05, min_runs=6, max_runs=30,
                                                  budget_s=600), backend=Unavailable())
    assert stop == "unsupported" and len(rows) == 1 + 6


def test_a_cold_page_cache_is_dropped_before_each_measured_repetition(tmp_path, hot,
                                                                       monkeypatch):
    drops = []
    monkeypatch.setattr("harness.host.page_cache.drop", lambda: drops.append(1) or 64.0)
    monkeypatch.setattr("harness.host.page_cache.drop_problem", lambda: None)
    rows, _ = run(plan(tmp_path, runs=3, warmup=1, page_cache="cold"), FakeBackend(), hot)
    assert len(drops) == 3  # not before the warm-up
    assert {r.extra["page_cache"] for r in rows} == {"cold"}
    assert [r.extra.get("page_cache_dropped_mib") for r in rows] == [None, 64.0, 64.0, 64.0]
    assert {r.status for r in rows} == {"ok"}


def test_a_page_cache_that_cannot_be_dropped_gives_unsupported_rows(tmp_path, hot,
                                                                     monkeypatch):
    monkeypatch.setattr("harness.host.page_cache.DROP_CACHES", str(tmp_path / "absent"))
    rows, calls = run(plan(tmp_path, runs=2, warmup=1, page_cache="cold"), FakeBackend(), hot)
    assert calls == [1, 1, 1]
    assert {r.status for r in rows} == {"unsupported"}
    assert all("page_cache=cold" in r.error and "absent" in r.error for r in rows)


def test_the_live_line_shows_repetition_appliances_and_the_last_result(tmp_path, hot):
    """On a terminal: the repetition (warm-up marked), appliances finished, the last result."""
    import io

    from rich.console import Console

    from harness.execution.progress import LiveProgress

    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=300, color_system=None)
    progress = LiveProgress("fake/cached-hot/launch/p2", console=console)
    seen = []
    real_refresh = progress.live.refresh

    def refresh():
        seen.append(progress.__rich__().plain)
        real_refresh()

    progress.live.refresh = refresh
    run_cell(plan(tmp_path, runs=2, warmup=1, parallel=2), FakeBackend(), hot,
             LaunchWorkload("launch"), lambda rows: None, progress=progress)
    progress.close()
    assert ("fake/cached-hot/launch/p2 | repetition 1 of 3 (warm-up) | 0 s | appliances 0/1 "
            "finished") in seen  # the repetition's elapsed time, redrawn while it runs
    assert any(line.startswith("fake/cached-hot/launch/p2 | repetition 3 of 3 | ")
               and "| appliances 2/2 finished" in line for line in seen)
    assert any("last: trial 2/3: ok" in line for line in seen)


def test_terminal_log_lines_go_to_whatever_stdout_is_when_written(monkeypatch):
    """While the live line is drawn, sys.stdout is rich's proxy, which prints above the line;
    Hydra's handler kept the stdout of start-up and cut through it."""
    import io
    import logging

    from harness.execution.progress import TerminalHandler

    handler = TerminalHandler(stream=None)
    later = io.StringIO()
    monkeypatch.setattr("sys.stdout", later)
    handler.emit(logging.LogRecord("lgbench", logging.INFO, __file__, 1, "trial 1/3: ok",
                                   None, None))
    assert later.getvalue() == "trial 1/3: ok\n"


@pytest.mark.parametrize(("append", "timeline", "words"), [
    ("", False, ""),
    ("", True, "guestfs_boot_analysis=1"),
    (" pty.legacy_count=0  con=none ", False, "pty.legacy_count=0 con=none"),
    ("pty.legacy_count=0", True, "pty.legacy_count=0 guestfs_boot_analysis=1"),
])
def test_the_kernel_gets_the_configured_words_and_the_timelines_own(tmp_path, append, timeline,
                                                                    words):
    assert plan(tmp_path, append=append, timeline=timeline).kernel_append() == words


def test_rows_record_the_words_added_to_the_kernel_command_line(tmp_path, hot):
    rows, _ = run(plan(tmp_path, append="pty.legacy_count=0"), FakeBackend(), hot)
    assert {r.extra["append"] for r in rows} == {"pty.legacy_count=0"}
