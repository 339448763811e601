"""Trials: warm-ups, repetitions, parallel instances, timeouts and clean-up.

Each appliance instance runs in a forked worker that leads its own process group, so a
timeout, an error or Ctrl-C ends the worker, qemu and every helper with one killpg; whatever
lives elsewhere (libvirt's qemu) is found by the repetition's private tmpdir on its command
line. The runner times; drivers and workloads never do.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

from harness.analysis.precision import STOP_RUNS
from harness.appliances.base import Appliance, ApplianceError
from harness.backends.base import Backend, BackendUnavailable
from harness.execution.progress import Progress, RepetitionDone, TrialOutcome
from harness.host import feasibility, memory, page_cache, processes, trust
from harness.plan import CellPlan
from harness.results.records import (
    STATUS_ERROR,
    STATUS_INFEASIBLE,
    STATUS_OK,
    STATUS_TIMEOUT,
    STATUS_UNSUPPORTED,
    TrialRow,
    repetition_metric,
)
from harness.workloads.base import Workload, WorkloadError

log = logging.getLogger(__name__)
FORK = multiprocessing.get_context("fork")
MEMORY_SAMPLE_S = 0.5  # how often a repetition samples the host's memory in use
# After a repetition whose every instance answered, how long what they started may take to
# end on its own (UML's relay ends its helpers once the channel closes) before it is killed.
SETTLE_S = 2.0


@dataclass(frozen=True)
class Instance:
    """What a worker needs to measure one appliance."""

    backend: Backend
    appliance: Appliance
    workload: Workload
    plan: CellPlan
    tmpdir: Path


EventRows = Callable[[list[dict[str, Any]]], None]


def repetition_value(plan: CellPlan, rows: list[TrialRow]) -> float | None:
    """What runs=auto makes precise: the appliance's total_s, or with N appliances the
    repetition's makespan; None unless every instance is ok."""
    if any(r.status != STATUS_OK for r in rows):
        return None
    return getattr(rows[0], repetition_metric(plan.parallel))


def run_cell(plan: CellPlan, backend: Backend, appliance: Appliance, workload: Workload,
             emit: Callable[[list[TrialRow]], None], emit_events: EventRows | None = None,
             progress: Progress | None = None, only: range | None = None) -> str:
    """Run the repetitions of one cell (`only` these, for one interleaved round), handing
    each repetition's rows to `emit` at once (and, with plan.timeline, its timestamped events
    to `emit_events`). Returns why it stopped: STOP_RUNS (every repetition asked for), a
    reason of plan.stop_rule (runs=auto), or the status of the rows given to the planned
    repetitions that could not run.

    Warm-ups launch one appliance (as guestfs-performance(1)'s script did: they only make the
    caches hot); measured repetitions launch `parallel` at once. `progress` shows how far it
    is (default: a log line per repetition).
    """
    progress = progress or Progress()
    def skip_from(first: int, status: str, reason: str) -> str:
        """Rows of `status` for planned repetitions `first`.. that will not run."""
        log.warning("%s: %s", status, reason)
        for rep in range(first, plan.planned_repetitions):
            emit([_row(plan, backend, appliance, workload, i, rep, status=status, error=reason)
                  for i in range(plan.instances(rep))])
        return status

    repetitions = only if only is not None else range(plan.repetitions)
    fits = feasibility.CellFeasibility(
        plan.cache_dir, f"{backend.name}/{appliance.type}/{workload.name}/m{plan.memsize}",
        plan.parallel, plan.memsize, plan.warmup)
    infeasible = fits.problems() + workload.problems(tempfile.gettempdir(), plan.parallel)
    if infeasible:
        return skip_from(repetitions.start, STATUS_INFEASIBLE, "; ".join(infeasible))
    if plan.page_cache == "cold" and (problem := page_cache.drop_problem()):
        return skip_from(repetitions.start, STATUS_UNSUPPORTED, problem)
    if not repetitions:  # an interleaved cell's round 0 without warm-ups: nothing to set up
        return STOP_RUNS
    done = repetitions.start  # repetitions whose rows were emitted
    values: list[float] = []  # runs=auto: the measured repetitions' values
    try:  # teardown undoes whatever part of setup ran, even if setup itself failed
        started = time.monotonic()
        backend.setup(plan.cache_dir, plan.probe_timeout_s)
        appliance.prepare()
        workload.setup(backend.accel)
        for rep in repetitions:
            if problem := fits.problem_before(rep):
                return skip_from(rep, STATUS_INFEASIBLE, problem)
            rep_started = time.monotonic()
            progress.start_repetition(rep + 1, plan.repetitions, rep < plan.warmup,
                                      plan.instances(rep))
            rows = run_repetition(plan, backend, appliance, workload, rep, emit_events,
                                  progress)
            emit(rows)
            done = rep + 1
            fits.record([r.extra.get("host_cost_mib") for r in rows if r.status == STATUS_OK])
            eta = ((time.monotonic() - started) / (done - repetitions.start)
                   * (repetitions.stop - done))
            first_row_per_instance = {r.instance: r for r in reversed(rows)}.values()
            progress.end_repetition(RepetitionDone(
                done, plan.repetitions, rep < plan.warmup,
                tuple(TrialOutcome(r.status, r.total_s, r.error) for r in first_row_per_instance),
                eta, eta_at_most=plan.stop_rule is not None))
            if plan.stop_rule is None or rep < plan.warmup:
                continue
            if (value := repetition_value(plan, rows)) is not None:
                values.append(value)
            now = time.monotonic()
            stop = plan.stop_rule.reason(values, done - plan.warmup, now - started,
                                         now - rep_started)
            if stop:
                log.info("runs=auto: stopped after %d runs (%s)", done - plan.warmup, stop)
                return stop
        return STOP_RUNS
    except BackendUnavailable as exc:
        return skip_from(done, STATUS_UNSUPPORTED, str(exc))
    except (ApplianceError, WorkloadError) as exc:
        return skip_from(done, STATUS_ERROR, str(exc))
    finally:
        backend.teardown()


def run_repetition(plan: CellPlan, backend: Backend, appliance: Appliance, workload: Workload,
                   rep: int, emit_events: EventRows | None = None,
                   progress: Progress | None = None) -> list[TrialRow]:
    """Release the repetition's instances together; rows for all of them, whatever happens."""
    appliance.before_trial()
    dropped = {}
    if plan.page_cache == "cold" and rep >= plan.warmup:
        # Untimed, before the instances are even forked.
        dropped = {"page_cache_dropped_mib": page_cache.drop()}
    instances = plan.instances(rep)
    tmpdir = Path(tempfile.mkdtemp(prefix="lgb-"))
    trust.set_mode(tmpdir, 0o755)  # libvirt's qemu runs as another user and must reach the overlays
    barrier = FORK.Barrier(instances)
    workers = []
    results: dict[int, list[dict[str, Any]]] = {}
    host_memory = [memory.host_used_mib()]
    all_answered = False
    try:
        for i in range(instances):
            instance_dir = tmpdir / str(i)
            trust.secure_folder(instance_dir)
            receive, send = FORK.Pipe(duplex=False)
            job = Instance(backend, appliance, workload, plan, instance_dir)
            worker = FORK.Process(target=_worker, args=(job, barrier, send), daemon=True)
            worker.start()
            send.close()
            _lead_group(worker.pid)
            workers.append((i, worker, receive))
        deadline = time.monotonic() + plan.timeout_s
        waiting = {receive: i for i, _, receive in workers}
        while waiting and (remaining := deadline - time.monotonic()) > 0:
            ready = wait(list(waiting), timeout=min(remaining, MEMORY_SAMPLE_S))
            host_memory.append(memory.host_used_mib())
            for conn in ready:
                i = waiting.pop(conn)
                try:
                    results[i] = conn.recv()
                except EOFError:
                    workers[i][1].join(5)
                    exitcode = workers[i][1].exitcode
                    results[i] = [{"status": STATUS_ERROR,
                                   "error": f"worker exited without a result (code {exitcode})"}]
                if progress is not None:
                    progress.instance_finished(len(results), instances)
        all_answered = not waiting
    finally:
        if all_answered:
            _let_workers_settle(workers)
        killed = _end_workers(workers, backend, tmpdir)
    if killed:
        log.warning("killed leftover processes %s", killed)
    timed_out = [{"status": STATUS_TIMEOUT,
                  "error": f"no result within timeout_s={plan.timeout_s:g}; appliance killed"}]
    events = []
    for i, measurements in results.items():
        instance_events = [m.pop("events", None) for m in measurements][0] or []
        events += [{"run_id": plan.run_id, "cell": plan.cell, "repetition": rep, "instance": i,
                    "warmup": rep < plan.warmup, "t_s": t, "kind": kind, "message": message}
                   for t, kind, message in instance_events]
    if events and emit_events is not None:
        emit_events(events)
    rows = [_row(plan, backend, appliance, workload, i, rep, **fields)
            for i in range(instances) for fields in results.get(i, timed_out)]
    return _with_repetition_fields(rows, host_memory, dropped)


def _lead_group(pid: int) -> None:
    """Make the worker lead its own process group (the worker does the same; either wins)."""
    try:
        os.setpgid(pid, pid)
    except (PermissionError, ProcessLookupError):
        pass


def _let_workers_settle(workers: list) -> None:
    """Wait up to SETTLE_S for the workers' groups to empty, so a helper ending itself
    is not reported (and killed) as a leftover."""
    deadline = time.monotonic() + SETTLE_S
    for _, worker, _ in workers:
        while (set(processes.group_members(worker.pid)) - {worker.pid}
               and time.monotonic() < deadline):
            time.sleep(0.05)


def _end_workers(workers: list, backend: Backend, tmpdir: Path) -> list[int]:
    """Kill every worker's group and whatever still uses tmpdir; remove tmpdir."""
    killed = []
    for _, worker, receive in workers:
        killed += processes.group_members(worker.pid)
        processes.kill_group(worker.pid)
        worker.join()
        receive.close()
    killed += backend.cleanup(tmpdir)
    trust.remove_tree(tmpdir, ignore_errors=True)
    return sorted(set(killed) - {w.pid for _, w, _ in workers})


def _worker(job: Instance, barrier: Any, send: Any) -> None:
    """Forked: lead a process group, wait for the others, measure, send the fields, exit."""
    os.setpgid(0, 0)
    processes.die_with_parent()
    # Only the group's own members signal the worker (lgbench stops it with SIGKILL): UML,
    # aborting on a kernel panic, SIGTERMs its whole process group (os_dump_core). The trial
    # must end as an error row from the console, not as a harness interrupted. A handler, not
    # SIG_IGN, which qemu would inherit and so ignore libguestfs's SIGTERM at close.
    signal.signal(signal.SIGTERM, _not_for_the_worker)
    try:
        job.workload.prepare(job.tmpdir)
        barrier.wait()
        measurements = measure(job)
    except Exception as exc:  # a harness bug must still become a row
        measurements = [{"status": STATUS_ERROR,
                         "error": f"harness: {exc!r} {traceback.format_exc(limit=3)}"}]
    send.send(measurements)
    send.close()
    os._exit(0)


def _not_for_the_worker(signum: int, frame: Any) -> None:
    """SIGTERM from the worker's own process group: the appliance ends, the trial goes on."""


def measure(job: Instance) -> list[dict[str, Any]]:
    """Time one appliance: create -> launch (launch_s) -> workload -> close (total_s), or,
    for a workload that launches its own appliances, the workload alone (total_s).

    Returns one dict per row the workload measured, each with the shared launch fields.
    total_s excludes the untimed checks: which accelerator really ran, and the appliance's
    host memory (read after the workload, before close).
    """
    from harness.execution.capture import EventLog
    from harness.host.handles import ConsoleTail

    deaths = processes.ChildDeaths()
    released = time.perf_counter()
    fields: dict[str, Any] = {"started_at": time.time(), "released": released}
    handle = job.backend.create_handle(job.plan.memsize, job.plan.smp, job.tmpdir,
                                       job.plan.verbose or job.plan.timeline)
    tail = ConsoleTail(handle)
    log = None
    if job.plan.timeline:
        log = EventLog(handle, released)
        handle.set_trace(True)
    if append := job.plan.kernel_append():
        handle.set_append(append)
    job.appliance.configure(handle)

    def open_handle() -> Any:
        another = job.backend.create_handle(job.plan.memsize, job.plan.smp, job.tmpdir,
                                            job.plan.verbose)
        if job.plan.append:
            another.set_append(job.plan.append)
        job.appliance.configure(another)
        return another

    stage = "workload"  # where an error row says its trial failed (column failed_in)
    try:
        if job.workload.launches_own_appliances:
            # The handle is only configured: the workload passes its settings on.
            measurements = job.workload.run(handle, open_handle)
            handle.close()
            fields["total_s"] = time.perf_counter() - released
            accel = measurements[0].get("accel_effective")
        else:
            stage = "drives"
            job.workload.add_drives(handle)
            stage = "launch"
            handle.launch()
            stage = "workload"
            fields["launch_s"] = time.perf_counter() - released
            accel = job.backend.effective_accel(handle, job.tmpdir)
            appliance_pid = job.backend.appliance_pid(handle, job.tmpdir)
            fields.update(accel_effective=accel, appliance_pid=appliance_pid)
            if log is not None and job.backend.connected_message:
                fields["connected_s"] = log.first(job.backend.connected_message)
            work_start = time.perf_counter()
            measurements = job.workload.run(handle, open_handle)
            worked_s = time.perf_counter() - work_start
            fields.update(memory.appliance_cost(appliance_pid,
                                                processes.group_members(os.getpgid(0))))
            close_start = time.perf_counter()
            handle.close()
            fields["total_s"] = fields["launch_s"] + worked_s + time.perf_counter() - close_start
    except (RuntimeError, WorkloadError) as exc:
        killed = deaths.killed()
        handle.close()
        error = tail.explain(exc) + (f" | {killed}" if killed else "")
        fields.update(status=STATUS_ERROR, error=error, failed_in=stage, ended_at=time.time(),
                      finished=time.perf_counter())
        if log is not None:
            fields["events"] = log.flush()
        return [fields]
    fields.update(ended_at=time.time(), finished=time.perf_counter())
    if log is not None:
        fields["events"] = log.flush()
    rows = [{**fields, "status": STATUS_OK, **m} for m in measurements]
    if accel != job.backend.accel:
        for row in rows:
            row.update(status=STATUS_ERROR, error=f"requested accel {job.backend.accel} but "
                                                  f"the appliance ran under {accel}")
    return rows


def _row(plan: CellPlan, backend: Backend, appliance: Appliance, workload: Workload,
         instance: int, rep: int, **fields: Any) -> TrialRow:
    core = {name: fields.pop(name, None) for name in
            ("accel_effective", "started_at", "ended_at", "launch_s", "total_s", "makespan_s")}
    return TrialRow(
        run_id=plan.run_id, cell=plan.cell, backend=backend.name,
        accel_requested=backend.accel_requested, appliance=appliance.type,
        cache_state=appliance.cache_state, workload=workload.name, parallel=plan.parallel,
        memsize=plan.memsize, smp=plan.smp, instance=instance, repetition=rep,
        warmup=rep < plan.warmup, status=fields.pop("status"), error=fields.pop("error", None),
        timeline=plan.timeline,
        extra={**backend.row_fields(), "page_cache": plan.page_cache, "append": plan.append,
               "smp_effective": backend.effective_smp(plan.smp),
               **({"round": plan.round_of(rep)} if plan.interleaved else {}), **fields},
        **core)


def _with_repetition_fields(rows: list[TrialRow], host_memory: list[float],
                            fields: dict[str, Any]) -> list[TrialRow]:
    """What belongs to the repetition as a whole: the makespan, from the release of the
    instances until the last one closed, the host memory in use at the start and at its
    peak (sampled every MEMORY_SAMPLE_S), and `fields` (e.g. the page cache dropped)."""
    released = [r.extra.get("released") for r in rows]
    finished = [r.extra.get("finished") for r in rows]
    makespan = (max(finished) - min(released)
                if None not in released and None not in finished else None)
    memory_fields = {"host_mem_start_mib": round(host_memory[0], 1),
                     "host_mem_peak_mib": round(max(host_memory), 1)}
    out = []
    for r in rows:
        extra = {k: v for k, v in r.extra.items() if k not in ("released", "finished")}
        out.append(TrialRow(**{**r.__dict__, "extra": {**extra, **memory_fields, **fields},
                               "makespan_s": makespan}))
    return out
