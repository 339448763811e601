"""Hand-built trial rows for the stats and plots tests."""

import numpy as np


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
