"""hydra/launcher=interleaved, the default for local sweeps: the cells measured in rounds, so
that a host that drifts while the sweep runs slows every cell alike.

Every cell's warm-ups first (round 0), then each round one measured repetition of every cell,
in a new random order per round (seeded by the sweep's `seed`; the orders are kept in the
sweep root's rounds.json). A cell's round is a Hydra job run here, in this process, with
`round=r` added to its overrides: its rows are added to those in the cell's folder and carry
the round, so comparisons pair the cells round by round (harness.analysis.compare). With
runs=auto, rounds go on until every cell's median is precise, or max_runs or the budget ends
them. A batch of one cell (a search's trial) runs as Hydra's basic launcher runs it.

With parallel_max set, the sweep searches N: after a round, a series whose trials per hour
still grow at its largest N (harness.analysis.scaling.growth, on SEARCH_AFTER rounds there)
gets a cell at twice that N (at most parallel_max and what memory holds); the new cell runs
its warm-ups at once and joins the rounds left, at a random place in each round's order. The
added cells are kept in rounds.json (the sweep's cell each copies, and its N), so that
resume=true measures them too.

Hydra loads launchers only from its hydra_plugins package: pyproject.toml installs this
folder as hydra_plugins.lgbench_interleaved; harness.config stores its config and
harness.cli.run registers the class with Hydra.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from hydra.core.utils import JobReturn, JobStatus, configure_log, run_job, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, open_dict

from harness.analysis.precision import STOP_RUNS, StopRule
from harness.results import resume, store
from harness.results.records import RUNS_AUTO

log = logging.getLogger("lgbench")
ROUNDS_FILE = "rounds.json"
SEARCH_AFTER = 3  # measured rounds at a series' largest N before the N search judges it


def round_orders(cells: int, rounds: int, seed: int) -> list[list[int]]:
    """The cells' order in each measured round: a new random permutation per round."""
    rng = np.random.default_rng(seed)
    return [[int(i) for i in rng.permutation(cells)] for _ in range(rounds)]


def with_added(order: list[int], added: range, seed: int, round_: int) -> list[int]:
    """A round's order with the cells the N search added, each at a random place (seeded by
    the sweep's seed and the round)."""
    rng = np.random.default_rng([seed, round_])
    order = list(order)
    for cell in added:
        order.insert(int(rng.integers(len(order) + 1)), cell)
    return order


def with_parallel(overrides: Sequence[str], parallel: int) -> list[str]:
    """A cell's overrides with N set to `parallel`."""
    return [*(o for o in overrides if not o.startswith("parallel=")), f"parallel={parallel}"]


def stop_reason(config: DictConfig, job_dir: Path, rounds_done: int, elapsed_s: float,
                round_s: float) -> str | None:
    """Why a cell may stop after `rounds_done` rounds (None: not yet): its runs done, or with
    runs=auto its stop rule on its own rows' values (a repetition's makespan with N
    appliances, else its total), the sweep's time counting as its budget."""
    if config.runs != RUNS_AUTO:
        return STOP_RUNS if rounds_done >= config.runs else None
    rule = StopRule(config.precision, config.min_runs, config.max_runs, config.budget_s)
    if not (job_dir / store.TRIALS_FILE).exists():
        return rule.reason([], rounds_done, elapsed_s, round_s)
    from harness.analysis.summary import ok_values  # pandas: not for `lgbench --help`

    rows = store.read_trials([job_dir])
    metric = "makespan_s" if (rows["parallel"] > 1).any() else "total_s"
    values = ok_values(rows[~rows["warmup"].astype(bool)], metric)
    return rule.reason(values, rounds_done, elapsed_s, round_s)


class InterleavedLauncher(Launcher):
    def __init__(self) -> None:
        self.config: DictConfig | None = None
        self.task_function: TaskFunction | None = None
        self.hydra_context: HydraContext | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction,
              config: DictConfig) -> None:
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function

    def _config(self, overrides: Sequence[str], num: int, round_: int | None) -> DictConfig:
        """A job's config, as Hydra's basic launcher makes it; `round_` added to its
        overrides."""
        assert self.config is not None and self.hydra_context is not None
        extra = [] if round_ is None else [f"round={round_}"]
        # Hydra turns an interrupt during composition into a composition error (exit 1):
        # Ctrl-C waits until the config is made, and then interrupts the sweep as usual.
        stop_signals = {signal.SIGINT, signal.SIGTERM}
        signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
        try:
            config = self.hydra_context.config_loader.load_sweep_config(
                self.config, [*overrides, *extra])
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, stop_signals)
        with open_dict(config):
            config.hydra.job.id = config.hydra.job.num = num
        return config

    def _run(self, overrides: Sequence[str], num: int, round_: int | None) -> JobReturn:
        """One job, run here as Hydra's basic launcher runs it."""
        assert self.config is not None and self.hydra_context is not None
        config = self._config(overrides, num, round_)
        returned = run_job(hydra_context=self.hydra_context, task_function=self.task_function,
                           config=config, job_dir_key="hydra.sweep.dir",
                           job_subdir_key="hydra.sweep.subdir")
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        return returned

    def launch(self, job_overrides: Sequence[Sequence[str]],
               initial_job_idx: int) -> Sequence[JobReturn]:
        setup_globals()
        assert self.config is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        if len(job_overrides) == 1:
            return [self._run(job_overrides[0], initial_job_idx, None)]
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        cells = len(job_overrides)  # the sweep's own; those after them the N search added
        # Each added cell: (the sweep's cell it copies, its N).
        added = self._added_before(sweep_dir, cells) if self.config.resume else []
        overrides = [*map(list, job_overrides),
                     *(with_parallel(job_overrides[base], n) for base, n in added)]
        configs = [self._config(o, initial_job_idx + i, None) for i, o in enumerate(overrides)]
        auto = any(c.runs == RUNS_AUTO for c in configs)
        rounds = max(c.max_runs if c.runs == RUNS_AUTO else c.runs for c in configs)
        orders = round_orders(cells, rounds, self.config.seed)
        log.info("%d cells in rounds: their warm-ups, then %s round(s) of one repetition "
                 "each, in a new random order per round (seed %d)", len(overrides),
                 f"up to {rounds}" if auto else rounds, self.config.seed)
        returns: dict[int, JobReturn] = {}
        started, since = time.monotonic(), time.time()
        reasons: list[str | None] = [None] * len(overrides)
        done: list[list[int]] = []
        for round_ in range(rounds + 1):
            round_started = time.monotonic()
            order = list(range(len(overrides))) if round_ == 0 else with_added(
                orders[round_ - 1], range(cells, len(overrides)), self.config.seed, round_)
            for i in order:
                if self._failed(returns, i) or reasons[i] == STOP_RUNS:
                    continue  # ended in a failure (reported once), or its runs are done
                returns[i] = self._run(overrides[i], initial_job_idx + i, round_)
            done += [order] if round_ else []
            store.write_json(sweep_dir / ROUNDS_FILE, {
                "seed": self.config.seed, "cells": cells, "rounds_done": round_,
                "orders": done, "added": [{"cell": base, "parallel": n} for base, n in added]})
            if round_ == 0:
                continue
            elapsed, round_s = time.monotonic() - started, time.monotonic() - round_started
            left = (rounds - round_) * round_s
            log.info("round %d of %s done in %.0f s%s", round_, f"up to {rounds}" if auto
                     else rounds, round_s, f", sweep ETA {int(left) // 60}m{int(left) % 60:02d}s"
                     if round_ < rounds else "")
            reasons = [stop_reason(configs[i], job_dir, round_, elapsed, round_s)
                       for i, job_dir in enumerate(self._job_dirs(returns))]
            if all(reason or self._failed(returns, i) for i, reason in enumerate(reasons)):
                break
            time_left = rounds - round_ >= SEARCH_AFTER and not (
                auto and elapsed + (SEARCH_AFTER + 1) * round_s > self.config.budget_s)
            if self.config.parallel_max and time_left and self._measuring(returns, since):
                bases = [*range(cells), *(base for base, _ in added)]
                for base, n in self._searched(returns, overrides, configs, bases):
                    i, extra = len(overrides), with_parallel(job_overrides[base], n)
                    added.append((base, n))
                    overrides.append(extra)
                    configs.append(self._config(extra, initial_job_idx + i, None))
                    reasons.append(None)
                    returns[i] = self._run(extra, initial_job_idx + i, 0)  # its warm-ups
        self._finish(returns, reasons, since)
        return [returns[i] for i in range(len(overrides))]

    @staticmethod
    def _added_before(sweep_dir: Path, cells: int) -> list[tuple[int, int]]:
        """With resume=true: the cells the N search added to this sweep before."""
        if not (sweep_dir / ROUNDS_FILE).exists():
            return []
        recorded = store.read_json(sweep_dir / ROUNDS_FILE).get("added", [])
        return [(a["cell"], a["parallel"]) for a in recorded if a["cell"] < cells]

    def _searched(self, returns: dict[int, JobReturn], overrides: list[list[str]],
                  configs: list[DictConfig], bases: list[int]) -> list[tuple[int, int]]:
        """The cells the N search adds after this round, as (the sweep's cell it copies, N):
        for each series whose trials per hour still grow at its largest N, judged on
        SEARCH_AFTER rounds there, that cell at twice N (at most parallel_max and what memory
        holds), unless it is a cell already. `bases`: the sweep's cell each cell copies."""
        from harness.analysis.scaling import capacity, growth, scaling_table, series_labels
        from harness.analysis.summary import measured_trials
        from harness.host.feasibility import most_that_fit

        assert self.config is not None
        job_dirs = self._job_dirs(returns)
        trials = store.read_trials([d for d in job_dirs if (d / store.TRIALS_FILE).exists()])
        measured = measured_trials(trials)
        cell_of = dict(zip(zip(series_labels(measured), measured["parallel"], strict=True),
                           measured["cell"], strict=True))
        job_of = {(resume.metadata(d) or {}).get("cell"): i for i, d in enumerate(job_dirs)}
        scaling = scaling_table(trials)
        found = []
        for row in growth(capacity(scaling)).itertuples():
            if not row.growing or row.n_reps_ok < SEARCH_AFTER:
                continue
            i = job_of[cell_of[(row.series, row.parallel)]]
            cost = scaling.loc[(scaling["series"] == row.series)
                               & (scaling["parallel"] == row.parallel), "appliance_cost_mib"]
            fit = most_that_fit(configs[i].memsize, None if cost.isna().all()
                                else float(cost.iloc[0]))
            n = min(2 * row.parallel, self.config.parallel_max, fit)
            base = bases[i]
            if n <= row.parallel or with_parallel(overrides[base], n) in overrides \
                    or (base, n) in found:
                continue
            log.info("N search: %s gives %+.0f%% trials per hour at N = %d over N = %d: "
                     "adding N = %d (its warm-ups now, then one repetition a round)",
                     row.series, 100 * (row.gain - 1), row.parallel, row.previous, n)
            found.append((base, n))
        return found

    def _measuring(self, returns: dict[int, JobReturn], since: float) -> bool:
        """Whether this sweep measures some cell (started from `since`, a wall-clock time),
        not only skips the cells a resumed sweep found complete."""
        return any((resume.metadata(d) or {}).get("started_at", 0) >= since
                   for d in self._job_dirs(returns))

    @staticmethod
    def _failed(returns: dict[int, JobReturn], i: int) -> bool:
        return i in returns and returns[i].status == JobStatus.FAILED

    @staticmethod
    def _job_dirs(returns: dict[int, JobReturn]) -> list[Path]:
        return [Path(str(returns[i].hydra_cfg.hydra.runtime.output_dir))
                for i in sorted(returns)]

    def _finish(self, returns: dict[int, JobReturn], reasons: list[str | None],
                 since: float) -> None:
        """For each cell this sweep measured (from `since`, a wall-clock time): its stop
        reason recorded where it ended normally (it is complete now), then its report. A cell
        that was complete before (resume=true) is left untouched."""
        from harness.cli.outcome import report

        for i, (job_dir, reason) in enumerate(zip(self._job_dirs(returns), reasons,
                                                  strict=True)):
            meta = resume.metadata(job_dir) or {}
            if self._failed(returns, i) or meta.get("started_at", 0) < since:
                continue  # a failure keeps what it wrote (the sweep's end says so)
            resume.record_stop(job_dir, reason or STOP_RUNS)
            if (job_dir / store.TRIALS_FILE).exists():  # the sweep's aggregate prints its lines
                report(job_dir, quiet=True)
                print(f"results: {job_dir}", flush=True)
