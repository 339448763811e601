"""Hand-built trial rows for the analysis, plotting and report tests, and stored runs made of
them (a run folder as lgbench leaves it)."""

from pathlib import Path

import numpy as np
import pandas as pd

from harness.results import store


def trial(**overrides):
    """One ok, measured trial row of cell "a"; keyword arguments replace fields."""
    row = {
        "schema_version": 1, "run_id": "r1", "cell": "a", "backend": "tcg",
        "accel_requested": "tcg", "accel_effective": "tcg", "appliance": "cached",
        "cache_state": "hot", "workload": "launch", "parallel": 1, "memsize": 512, "smp": 1,
        "instance": 0, "repetition": 0, "warmup": False, "status": "ok", "error": None,
        "started_at": 0.0, "ended_at": 1.0, "launch_s": 1.0, "total_s": 1.5,
        "makespan_s": np.nan,
    }
    row.update(overrides)
    return row


def sweep(makespan, ns=(1, 2, 3, 4), reps=3, **overrides):
    """Trial rows of a sweep over N as Hydra makes it (one run per N), each repetition
    launching N instances: `makespan(n, rep)` seconds, repeated on every instance's row."""
    backend = overrides.pop("backend", "tcg")
    return [trial(cell=f"{backend}/cached-hot/launch/p{n}", backend=backend, parallel=n,
                  run_id=f"{backend}-p{n}", repetition=r, instance=i,
                  makespan_s=makespan(n, r), total_s=makespan(n, r), **overrides)
            for n in ns for r in range(reps) for i in range(n)]


MiB = 2**20


def transfers(upload, download=None, sizes=(MiB, 4 * MiB, 16 * MiB, 64 * MiB), reps=3,
              **overrides):
    """Trial rows of one transfer cell, one per repetition and size, as the transfer workload
    makes them: uploads taking `upload(size, rep)` seconds, downloads `download(size, rep)`
    (the same as uploads unless given), SHA-256 matched."""
    backend = overrides.pop("backend", "tcg")
    download = download or upload
    return [trial(cell=f"{backend}/cached-hot/transfer/p1", backend=backend,
                  accel_requested=backend, workload="transfer", run_id=f"{backend}-transfer",
                  repetition=r, size_bytes=size, upload_s=upload(size, r),
                  download_s=download(size, r), sha_ok=True, **overrides)
            for r in range(reps) for size in sizes]


CELL = "{backend}/cached-hot/launch/p1"


def rows(backend: str, values, **overrides) -> list[dict]:
    """One ok launch trial per value (total_s), warm-up first and far off (must be ignored)."""
    overrides.setdefault("accel_requested", backend)
    return [trial(backend=backend, cell=CELL.format(backend=backend), repetition=-1,
                  warmup=True, total_s=99.0, **overrides)] + \
        [trial(backend=backend, cell=CELL.format(backend=backend), repetition=i, total_s=v,
               launch_s=v - 0.5, **overrides) for i, v in enumerate(values)]


def store_run(run_dir: Path, trial_rows: list[dict], host: str = "host-a") -> Path:
    """A run folder as lgbench leaves it: trials.parquet and metadata.json."""
    store.write_frame_parquet(run_dir / store.TRIALS_FILE, pd.DataFrame(trial_rows))
    store.write_json(run_dir / store.METADATA_FILE, {
        "run_id": run_dir.name, "cell": trial_rows[0]["cell"],
        "host": {"hostname": host, "cpu_model": "Test CPU", "cores": 2,
                 "versions": {"libguestfs": "1.48.6", "qemu": "QEMU 7.2"}},
        "backend": {"name": trial_rows[0]["backend"], "kvm_verdict": "not usable"}})
    return run_dir


def noisy(median: float, n: int, seed: int, spread: float = 0.02) -> np.ndarray:
    """n launch times around `median`, a few % apart as real TCG launches are."""
    return median * (1 + np.random.default_rng(seed).uniform(-spread, spread, n))


def judged(trials: pd.DataFrame, by: str, metrics=("total_s",), baseline=None,
           family: int | None = None) -> pd.DataFrame:
    """The comparisons along `by`, judged as one family (harness.analysis.compare)."""
    from harness.analysis.compare import pair_up, with_verdicts

    return with_verdicts(pair_up(trials, by, metrics, baseline), family)
