"""Every duration a workload declares (Workload.timed_columns) is one the summary knows:
results.records.TIMED_COLUMNS must hold them all, or summary.csv would leave it out."""

from __future__ import annotations

import importlib

from harness.results.records import TIMED_COLUMNS
from harness.workloads.base import Workload

MODULES = ("launch", "transfer", "inspect", "multi_guest", "operations", "calls")


def test_every_workloads_timed_columns_are_in_timed_columns() -> None:
    for name in MODULES:
        importlib.import_module(f"harness.workloads.{name}")
    workloads, todo = [], list(Workload.__subclasses__())
    while todo:  # subclasses of subclasses too; not those tests define
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__.startswith("harness.workloads."):
            workloads.append(cls)
    assert {f"harness.workloads.{name}" for name in MODULES} <= \
        {cls.__module__ for cls in workloads}, "a workload module defines no Workload"
    missing = {cls.__name__: [c for c in cls.timed_columns if c not in TIMED_COLUMNS]
               for cls in workloads}
    assert not any(missing.values()), f"not in TIMED_COLUMNS: {missing}"
    assert any(cls.timed_columns for cls in workloads)  # the check is not vacuous
