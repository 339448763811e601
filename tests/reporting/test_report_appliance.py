"""Real appliances (marker `appliance`): stored tcg and libvirt runs compared by
`lgbench-report`, and the baseline gate on real runs of one cell.

Two runs shared by the tests, tcg and libvirt, in the session's shared cache (the gate's
refusal of too few trials is proven on stored rows in tests/cli/test_report.py).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd
import pytest
from helpers.lgbench import LGBENCH_REPORT, lgbench

pytestmark = pytest.mark.appliance
# KVM hangs on these hosts; the probe that finds it out need not wait a full minute.
COMMON = ["warmup=0", "probe_timeout_s=10"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, shared_cache) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("report_runs")
    plan = {"tcg": ["backend=tcg", "runs=4"], "libvirt": ["backend=libvirt", "runs=1"]}
    for name, args in plan.items():
        result = lgbench(*args, *COMMON, f"hydra.run.dir={tmp / name}", cache=shared_cache,
                         timeout=600)
        assert result.returncode == 0, result.stdout + result.stderr
    return {name: tmp / name for name in plan}


def report(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """lgbench-report in cwd, where it writes its lgbench-report-* folder (no cache needed)."""
    return lgbench(*args, program=LGBENCH_REPORT, cache=None, cwd=cwd, timeout=300)


def test_two_stored_runs_are_compared_and_reported_in_html(runs, tmp_path):
    result = report(str(runs["tcg"]), str(runs["libvirt"]), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "comparison by backend (total_s):" in result.stdout
    out = next(tmp_path.glob("lgbench-report-*"))
    assert f"report: {out.name}/report.html" in result.stdout
    row = pd.read_csv(out / "comparison-backend.csv").iloc[0]
    assert (row["baseline"], row["candidate"], row["n_baseline"], row["n_candidate"]) == \
        ("tcg", "libvirt", 4, 1)
    assert 0.3 < row["ratio"] < 3
    assert row["verdict"] == "too few trials to tell" and row["verdict"] in result.stdout
    html = (out / "report.html").read_text()
    plots = list((out / "plots").glob("*.png"))
    assert html.count('src="data:image/svg+xml;base64,') == len(plots) >= 1
    assert "Comparison by backend" in html and "1.48" in html  # libguestfs version


def test_the_gate_passes_a_run_against_itself(runs, tmp_path):
    result = report("--baseline", str(runs["tcg"]), "--candidate", str(runs["tcg"]),
                    "--threshold", "0%", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK: no cell of the candidate is slower" in result.stdout

