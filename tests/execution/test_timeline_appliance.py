"""Real appliances (marker `appliance`): `timeline=true` writes boot stages and their plots."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from helpers.lgbench import lgbench

pytestmark = pytest.mark.appliance


@pytest.mark.parametrize("backend", ["tcg", "uml"])
def test_timeline_run_writes_boot_stages(backend: str, tmp_path: Path,
                                         shared_cache: Path) -> None:
    result = lgbench(f"backend={backend}", "timeline=true", "runs=1", "warmup=0",
                     f"hydra.run.dir={tmp_path}", cache=shared_cache, timeout=600)
    trials = pd.read_parquet(tmp_path / "trials.parquet")
    assert result.returncode == 0, result.stderr + "\n".join(trials["error"].dropna())
    assert list(trials["status"]) == ["ok"], trials["error"].tolist()
    stages = pd.read_parquet(tmp_path / "stages.parquet")
    found = set(stages["stage"])
    assert {"hypervisor", "kernel", "/init", "udev settle", "guestfsd", "shutdown"} <= found
    assert ("firmware" in found) == (backend != "uml")  # SeaBIOS boots qemu, not UML
    assert (stages["duration"] >= 0).all()
    # The stages cover the launch: the workload stage starts when launch returned.
    workload = stages.set_index("stage").loc["workload"]
    assert workload["start"] == pytest.approx(trials["launch_s"].iloc[0], abs=0.05)
    assert (tmp_path / "plots" / "stages.png").stat().st_size > 0
    assert (tmp_path / "plots" / "timeline.png").stat().st_size > 0
    assert "## Boot stages" in (tmp_path / "report.md").read_text()
