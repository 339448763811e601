"""page_cache=cold on a real appliance: the host's page cache is dropped before the measured
launch, and the row says how much went."""

from __future__ import annotations

import pandas as pd
import pytest
from helpers import lgbench as cli

pytestmark = pytest.mark.appliance


def test_a_cold_page_cache_launch_reads_the_appliance_from_disk(tmp_path, shared_cache):
    result = cli.lgbench(*cli.TCG, "page_cache=cold", f"hydra.run.dir={tmp_path}",
                         cache=shared_cache, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    (row,) = pd.read_parquet(tmp_path / "trials.parquet").to_dict("records")
    assert row["status"] == "ok", row["error"]
    assert row["page_cache"] == "cold" and row["cell"].endswith("/page-cold")
    # At least the appliance the previous tests left in the page cache went (tens of MiB).
    assert row["page_cache_dropped_mib"] > 10
