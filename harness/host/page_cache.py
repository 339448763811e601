"""The host's page cache, dropped before a measured repetition to measure a cold start (the
appliance's and the guest's files read from disk again), as root through
/proc/sys/vm/drop_caches."""

from __future__ import annotations

import os
from pathlib import Path

from harness.host import trust

DROP_CACHES = "/proc/sys/vm/drop_caches"


def drop_problem() -> str | None:
    """Why the page cache cannot be dropped here, or None."""
    if not os.path.exists(DROP_CACHES):
        return f"page_cache=cold: {DROP_CACHES} does not exist on this host"
    if not os.access(DROP_CACHES, os.W_OK):
        return (f"page_cache=cold: {DROP_CACHES} is not writable here (needs root, and a "
                f"/proc/sys that is not read-only, as in many containers)")
    return None


def cached_mib() -> float:
    """The page cache's size now (/proc/meminfo `Cached`)."""
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("Cached:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def drop() -> float:
    """Write dirty pages out, then drop the clean page cache, dentries and inodes; return
    how many MiB of page cache went (what the next launch reads from disk again, at most)."""
    os.sync()
    before = cached_mib()
    trust.write_kernel_setting(Path(DROP_CACHES), "3\n")
    return round(before - cached_mib(), 1)
