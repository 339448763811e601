"""The fault matrix: each fault test records the fault it injected, the rows it lost, the
processes it leaked and how lgbench answered; each bad input tried records its answer. The
session prints both at its end (tests/conftest.py), so every CI run shows the matrix. Entries
go to one file named in LGBENCH_TEST_MATRIX, so the workers of pytest-xdist add to the same
matrix."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

MATRIX_FILE = "LGBENCH_TEST_MATRIX"


@dataclass(frozen=True)
class Fault:
    fault: str
    answer: str  # what lgbench said or did, in a few words
    rows_lost: int  # rows written before the fault and not readable after it (must be 0)
    leaked: int  # appliance or helper processes alive after it (must be 0)


def start() -> None:
    """A new, empty matrix file for this run; its workers inherit its name."""
    handle, path = tempfile.mkstemp(prefix="lgbench-test-matrix-", suffix=".jsonl")
    os.close(handle)
    os.environ[MATRIX_FILE] = path


def stop() -> None:
    Path(os.environ.pop(MATRIX_FILE)).unlink(missing_ok=True)


def _append(entry: dict) -> None:
    """One line, appended in one write: lines of several workers do not interleave."""
    with open(os.environ[MATRIX_FILE], "a") as out:
        out.write(json.dumps(entry) + "\n")


def record_fault(fault: str, answer: str, rows_lost: int = 0, leaked: int = 0,
                 tmp: Path | None = None) -> None:
    """One row of the matrix; the test's tmp folder, if given, is written <tmp> in answer."""
    _append({"fault": asdict(Fault(fault, answer.replace(str(tmp), "<tmp>") if tmp else answer,
                                   rows_lost, leaked))})


def record_bad_input(args: str, answer: str) -> None:
    _append({"bad_input": [args, answer]})


def lines() -> list[str]:
    """The matrix as text: a line per fault, then a line per bad input (none when no fault
    test ran)."""
    entries = [json.loads(line) for line in Path(os.environ[MATRIX_FILE]).read_text().splitlines()]
    faults = [Fault(**e["fault"]) for e in entries if "fault" in e]
    bad_inputs = [e["bad_input"] for e in entries if "bad_input" in e]
    if not faults and not bad_inputs:
        return []
    out = []
    if faults:
        out.append(f"{len(faults)} faults injected, {sum(f.rows_lost for f in faults)} rows "
                   f"lost, {sum(f.leaked for f in faults)} processes leaked:")
        out += [f"  {f.fault}: {f.answer} (rows lost {f.rows_lost}, leaked {f.leaked})"
                for f in faults]
    if bad_inputs:
        out.append(f"{len(bad_inputs)} bad inputs tried, each answered in one line:")
        out += [f"  {args} -> {answer}" for args, answer in bad_inputs]
    return out
