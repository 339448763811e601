"""Which stored run holds which cell: the cell's identity in a stored config."""

from __future__ import annotations

import json

from harness.results import store
from harness.results.cells import cell_identity
from harness.results.resume import holds

FIXED = {"runs": 5, "warmup": 2, "parallel": 1, "backend": {"name": "tcg"}}
AUTO_KNOBS = {"precision": 0.05, "min_runs": 6, "max_runs": 30, "budget_s": 1800.0}


def stored(tmp_path, config):
    store.write_json(tmp_path / store.METADATA_FILE, {"config": config})
    return tmp_path


def test_a_run_stored_before_runs_auto_existed_still_holds_its_cell(tmp_path):
    now = cell_identity({**FIXED, **AUTO_KNOBS, "resume": True, "allow_failures": False})
    assert holds(stored(tmp_path, FIXED), now)


def test_runs_auto_knobs_tell_auto_cells_apart(tmp_path):
    auto = {**FIXED, "runs": "auto", **AUTO_KNOBS}
    run_dir = stored(tmp_path, auto)
    assert holds(run_dir, cell_identity(auto))
    assert not holds(run_dir, cell_identity({**auto, "precision": 0.02}))
    assert json.loads((run_dir / store.METADATA_FILE).read_text())["config"]["runs"] == "auto"


def test_keys_added_later_at_their_default_keep_older_cells(tmp_path):
    """A run stored before page_cache, backend.hv_wrapper and objective existed still holds
    its cell; a wrapper set, or a cold page cache, makes another cell."""
    now = {**FIXED, "page_cache": "hot", "objective": "launch_s",
           "backend": {"name": "tcg", "hv_wrapper": None}}
    run_dir = stored(tmp_path, FIXED)
    assert holds(run_dir, cell_identity(now))
    assert now["backend"] == {"name": "tcg", "hv_wrapper": None}  # the config is not changed
    wrapped = {**now, "backend": {"name": "tcg", "hv_wrapper": "/root/qemu.sh"}}
    assert not holds(run_dir, cell_identity(wrapped))
    assert not holds(run_dir, cell_identity({**now, "page_cache": "cold"}))
