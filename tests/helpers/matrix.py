"""The fault matrix: each fault test records the fault it injected, the rows it lost, the
processes it leaked and how lgbench answered; each bad input tried records its answer. The
session prints both at its end (tests/conftest.py), so every CI run shows the matrix."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Fault:
    fault: str
    answer: str  # what lgbench said or did, in a few words
    rows_lost: int  # rows written before the fault and not readable after it (must be 0)
    leaked: int  # appliance or helper processes alive after it (must be 0)


FAULTS: list[Fault] = []
BAD_INPUTS: list[tuple[str, str]] = []  # (command line, lgbench's one line)


def record_fault(fault: str, answer: str, rows_lost: int = 0, leaked: int = 0,
                 tmp: Path | None = None) -> None:
    """One row of the matrix; the test's tmp folder, if given, is written <tmp> in answer."""
    FAULTS.append(Fault(fault, answer.replace(str(tmp), "<tmp>") if tmp else answer,
                        rows_lost, leaked))


def record_bad_input(args: str, answer: str) -> None:
    BAD_INPUTS.append((args, answer))


def lines() -> list[str]:
    """The matrix as text: a line per fault, then a line per bad input (none when no fault
    test ran)."""
    if not FAULTS and not BAD_INPUTS:
        return []
    out = []
    if FAULTS:
        out.append(f"{len(FAULTS)} faults injected, {sum(f.rows_lost for f in FAULTS)} rows "
                   f"lost, {sum(f.leaked for f in FAULTS)} processes leaked:")
        out += [f"  {f.fault}: {f.answer} (rows lost {f.rows_lost}, leaked {f.leaked})"
                for f in FAULTS]
    if BAD_INPUTS:
        out.append(f"{len(BAD_INPUTS)} bad inputs tried, each answered in one line:")
        out += [f"  {args} -> {answer}" for args, answer in BAD_INPUTS]
    return out
