"""The words of a finished repetition: the runner hands over the facts, progress words them."""

from __future__ import annotations

import logging

from harness.execution.progress import Progress, RepetitionDone, TrialOutcome, trial_line


def test_a_repetition_line_names_each_appliance_and_the_cells_eta():
    done = RepetitionDone(3, 7, False, (TrialOutcome("ok", 12.345, None),
                                        TrialOutcome("error", None, "launch failed")),
                          eta_s=125.9, eta_at_most=False)
    assert trial_line(done) == "trial 3/7: ok 12.35 s, error: launch failed | cell ETA 2m05s"


def test_a_warm_up_is_marked_and_runs_auto_bounds_the_eta():
    done = RepetitionDone(1, 32, True, (TrialOutcome("ok", 9.0, None),), eta_s=3725.0,
                          eta_at_most=True)
    assert trial_line(done) == "trial 1/32 (warm-up): ok 9.00 s | cell ETA at most 62m05s"


def test_the_plain_kind_logs_the_line(caplog):
    done = RepetitionDone(1, 1, False, (TrialOutcome("timeout", None, "killed"),), 0.0, False)
    with caplog.at_level(logging.INFO, logger="harness.execution.runner"):
        Progress().end_repetition(done)
    assert caplog.messages == ["trial 1/1: timeout: killed | cell ETA 0m00s"]
