"""Appliance kinds against the cached appliance with a hot cache, and the report's section."""

import numpy as np
import pandas as pd
import pytest
from helpers.rows import trial

from harness.analysis.appliances import appliance_pairs, has_appliance_types
from harness.analysis.compare import with_verdicts
from harness.reporting.studies.appliances import appliance_section


def kind_rows(appliance, cache_state, seconds, workload="launch", page_cache="hot", reps=6):
    rng = np.random.default_rng(len(appliance) + len(cache_state) + len(workload))
    label = appliance + (f"-{cache_state}" if appliance == "cached" else "")
    return [trial(cell=f"tcg/{label}/{workload}/p1", appliance=appliance,
                  cache_state=cache_state, workload=workload.split("[")[0],
                  page_cache=page_cache, repetition=r,
                  total_s=seconds + 0.05 * rng.normal()) for r in range(reps)]


def test_each_kind_is_compared_with_cached_hot_in_its_own_workload_and_page_cache():
    rows = pd.DataFrame(kind_rows("cached", "hot", 10.0) + kind_rows("fixed", "fixed", 10.0)
                        + kind_rows("cached", "cold", 30.0)
                        + kind_rows("cached", "hot", 20.0, "inspect[linux-lvm]", "cold")
                        + kind_rows("fixed_shm", "fixed", 15.0, "inspect[linux-lvm]", "cold"))
    assert has_appliance_types(rows)
    found = with_verdicts(appliance_pairs(rows)).set_index(["workload", "page_cache", "candidate"])
    assert len(found) == 3
    cold = found.loc[("launch", "hot", "cached-cold")]
    assert cold["ratio"] == pytest.approx(3.0, rel=0.02)
    assert cold["verdict"].startswith(f"cached-cold {cold['ratio']:.2f}x slower than cached-hot "
                                      "(95% CI ")
    assert "jointly over 3 comparisons" in cold["verdict"]
    fixed = found.loc[("launch", "hot", "fixed")]
    assert fixed["ratio_ci_low"] < 1 < fixed["ratio_ci_high"]
    shm = found.loc[("inspect[linux-lvm]", "cold", "fixed_shm")]
    assert shm["ratio"] == pytest.approx(0.75, rel=0.02) and "faster" in shm["verdict"]
    lines = "\n".join(appliance_section(with_verdicts(appliance_pairs(rows))))
    assert lines.startswith("## Appliance types")
    assert "did not find that using a fixed appliance gave any measurable" in lines
    assert "| fixed_shm" in lines


def test_one_kind_alone_is_no_comparison():
    assert not has_appliance_types(pd.DataFrame(kind_rows("cached", "hot", 10.0)))
    assert not has_appliance_types(pd.DataFrame(kind_rows("fixed", "fixed", 10.0)
                                                + kind_rows("cached", "cold", 10.0)))
