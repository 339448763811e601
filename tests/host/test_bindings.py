"""libguestfs's Python bindings: missing from a venv made from another python3 (a pyenv shim),
they are named with the fix before anything runs, by lgbench and lgbench-doctor; the fake
backend runs without them."""

from __future__ import annotations

import sys

import pytest
from helpers.lgbench import in_process, within

from harness.cli.precheck import problem
from harness.host import checks, handles
from harness.results import store


@pytest.fixture
def no_bindings(monkeypatch):
    """`import guestfs` fails, as in a venv that cannot see Debian's python3-guestfs."""
    monkeypatch.setitem(sys.modules, "guestfs", None)


def test_the_event_bits_are_the_bindings_own():
    import guestfs

    assert (handles.EVENT_APPLIANCE, handles.EVENT_LIBRARY, handles.EVENT_TRACE,
            handles.EVENT_WARNING) == (guestfs.EVENT_APPLIANCE, guestfs.EVENT_LIBRARY,
                                       guestfs.EVENT_TRACE, guestfs.EVENT_WARNING)


def test_a_real_backend_without_bindings_is_refused_with_the_fix(no_bindings):
    found = problem(["backend=tcg"])
    assert found.startswith(f"backend=tcg: this Python ({sys.executable}) cannot import "
                            "libguestfs's bindings")
    assert "make the venv from /usr/bin/python3 with --system-site-packages" in found
    assert problem(["backend=fake"]) is None


def test_the_doctor_names_the_missing_bindings_first(no_bindings):
    check = checks.check_bindings()
    assert (check.name, check.verdict) == ("libguestfs bindings", "fail")
    assert check.advice.startswith("Install python3-guestfs")


def test_the_fake_backend_runs_without_bindings(no_bindings, tmp_path):
    result = in_process("backend=fake", "backend.launch_s=0.01", "runs=2", "warmup=0",
                        **within(tmp_path))
    assert result.returncode == 0, result.stderr
    trials = store.read_trials(list((tmp_path / "results").glob("*/*")))
    assert (trials["status"] == "ok").all() and len(trials) == 2
