"""Store and records: atomic rewrites, sweep-root reads, schema versions, rows."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pytest

from harness.results import store
from harness.results.records import SCHEMA_VERSION, STATUSES, TrialRow


def row(**overrides) -> TrialRow:
    fields = dict(run_id="r1", cell="fake/cached-hot/launch/p1", backend="fake",
                  accel_requested="tcg", accel_effective="tcg", appliance="cached",
                  cache_state="hot", workload="launch", parallel=1, memsize=None, smp=1,
                  instance=0, repetition=0, warmup=False, status="ok", error=None,
                  started_at=100.0, ended_at=101.0, launch_s=0.5, total_s=0.6, makespan_s=0.6)
    fields.update(overrides)
    return TrialRow(**fields)


def leftovers(folder):
    """Temporary files of an atomic write that were not renamed or removed."""
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


def test_trial_writer_rewrites_the_parquet_after_every_call(tmp_path):
    writer = store.TrialWriter(tmp_path)
    assert not (tmp_path / store.TRIALS_FILE).exists()
    writer([row(repetition=0, warmup=True)])
    first = pd.read_parquet(tmp_path / store.TRIALS_FILE)
    assert first["repetition"].tolist() == [0]
    writer([row(repetition=1), row(repetition=1, instance=1)])
    second = pd.read_parquet(tmp_path / store.TRIALS_FILE)
    assert second["repetition"].tolist() == [0, 1, 1]
    assert second["instance"].tolist() == [0, 0, 1]
    assert second["warmup"].tolist() == [True, False, False]
    assert len(writer.rows) == 3
    assert leftovers(tmp_path) == []


def test_trial_writer_flattens_extra_into_columns(tmp_path):
    writer = store.TrialWriter(tmp_path)
    writer([row(status="error", error="boom", launch_s=None, total_s=None)])
    writer([row(repetition=1, extra={"size_bytes": 1 << 20, "upload_s": 0.25})])
    trials = pd.read_parquet(tmp_path / store.TRIALS_FILE)
    assert "extra" not in trials.columns
    assert trials["upload_s"].isna().tolist() == [True, False]
    assert trials.loc[1, "size_bytes"] == 1 << 20
    assert trials["schema_version"].tolist() == [SCHEMA_VERSION] * 2
    assert trials.loc[0, "error"] == "boom"


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / store.TRIALS_FILE
    store.write_frame_parquet(path, pd.DataFrame([row().to_dict()]))
    unwritable = pd.DataFrame({"mixed": [1, "a"]})  # pyarrow cannot type this column
    with pytest.raises(pa.ArrowInvalid, match="Conversion failed for column mixed"):
        store.write_frame_parquet(path, unwritable)
    assert len(pd.read_parquet(path)) == 1
    assert leftovers(tmp_path) == []


def test_write_json_round_trips(tmp_path):
    store.write_json(tmp_path / "m.json", {"b": 1, "path": tmp_path})
    assert json.loads((tmp_path / "m.json").read_text()) == {"b": 1, "path": str(tmp_path)}


def job(root, name, *rows):
    store.TrialWriter(root / name)(list(rows))
    return root / name


def test_read_trials_of_a_sweep_root_reads_its_jobs(tmp_path):
    job(tmp_path, "0", row(run_id="a"))
    job(tmp_path, "1", row(run_id="b"), row(run_id="b", repetition=1))
    trials = store.read_trials([tmp_path])
    assert sorted(trials["run_id"]) == ["a", "b", "b"]


def test_read_trials_prefers_the_aggregate_at_a_sweep_root(tmp_path):
    job(tmp_path, "0", row(run_id="a"))
    job(tmp_path, "1", row(run_id="b"))
    store.write_frame_parquet(tmp_path / store.TRIALS_FILE, store.read_trials([tmp_path]))
    assert len(store.read_trials([tmp_path])) == 2  # not 4: jobs are not read twice


def test_read_trials_of_several_run_dirs(tmp_path):
    one = job(tmp_path, "one", row(run_id="a"))
    two = job(tmp_path, "two", row(run_id="b"))
    assert sorted(store.read_trials([one, two])["run_id"]) == ["a", "b"]


def test_read_trials_of_nothing_says_where_it_looked(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        store.read_trials([tmp_path])


def test_read_trials_refuses_a_newer_schema(tmp_path):
    job(tmp_path, "old", row())
    job(tmp_path, "new", row(schema_version=SCHEMA_VERSION + 1))
    store.read_trials([tmp_path / "old"])  # the current version reads fine
    with pytest.raises(ValueError, match="newer"):
        store.read_trials([tmp_path / "new"])
    with pytest.raises(ValueError, match="newer"):
        store.read_trials([tmp_path])


@pytest.mark.parametrize("status", STATUSES)
def test_trial_row_accepts_every_status(status):
    assert row(status=status).status == status


@pytest.mark.parametrize("status", ["OK", "failed", "", "skipped"])
def test_trial_row_rejects_an_unknown_status(status):
    with pytest.raises(ValueError, match="unknown status"):
        row(status=status)


def test_trial_row_is_frozen_and_flat():
    r = row(extra={"inspect_s": 1.5})
    with pytest.raises(AttributeError):
        r.status = "error"  # type: ignore[misc]
    flat = r.to_dict()
    assert flat["inspect_s"] == 1.5 and "extra" not in flat
    assert flat["schema_version"] == SCHEMA_VERSION


def test_schema_1_trials_read_as_without_timeline(tmp_path):
    old = pd.DataFrame([{k: v for k, v in row(schema_version=1).to_dict().items()
                         if k != "timeline"}])
    old.to_parquet(tmp_path / "trials.parquet")
    trials = store.read_trials([tmp_path])
    assert trials["timeline"].tolist() == [False]


def test_read_parquet_blanks_control_characters_and_keeps_the_rest_as_it_was(tmp_path):
    """Text with a terminal escape is cleaned wherever it is; the columns without one are
    left as they are, a column of None alone too, and numbers with None become floats as
    before."""
    path = tmp_path / "frame.parquet"
    store.write_frame_parquet(path, pd.DataFrame({
        "clean": ["a", "b", None], "escaped": ["x", "\x1b[31mred\x9b", None],
        "none": pd.Series([None] * 3, dtype=object),
        "memsize": pd.Series([512, None, 1024], dtype=object)}))
    frame = store.read_parquet(path)
    assert frame["escaped"].tolist()[:2] == ["x", " [31mred "]
    assert frame["clean"].tolist()[:2] == ["a", "b"] and frame["clean"].dtype == "str"
    assert frame["none"].dtype == object and frame["none"].tolist() == [None] * 3
    assert frame["memsize"].dtype == float
