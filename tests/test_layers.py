"""Imports point one way: no module of harness/ reaches back up the chain (README, Layout).

Read from the source with ast, so a lazy import inside a function counts as much as one at the
top, and so does a child process started as `python -m harness.x`; and `import harness` plus
config composition stay free of the heavy libraries.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from helpers.imports import loaded_after

HARNESS = Path(__file__).resolve().parent.parent / "harness"

# What each part may import besides itself (cli, at the top, may import anything); every part
# may import harness.host.trust, the one way lgbench writes (tests/test_trust_boundary.py).
TRUST = "harness.host.trust"
ALLOWED = {
    "host": set(),
    "results": {"host"},
    "analysis": {"results"},
    "plotting": {"analysis", "results"},
    "reporting": {"plotting", "analysis", "results"},
    "backends": {"host"},
    "appliances": {"host"},
    "workloads": {"backends", "host", "results"},  # guests build disks through the handle factory
    # runs=auto: the plan carries, and the runner applies, a stop rule on the median's CI
    "execution": {"backends", "workloads", "appliances", "host", "results", "plan", "analysis"},
    "plan": {"results", "analysis"},
    "config": {"host", "results"},  # objective: one of the timed columns rows carry
}


def part_of(module: str) -> str:
    """harness.analysis.summary -> analysis; harness.plan -> plan."""
    return module.split(".")[1]


def harness_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" for a in node.names]
            if names != [TRUST]:
                names.append(node.module)
            found.update(n for n in names if n.startswith("harness.") and n != "harness"
                         and n != TRUST)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names
                         if a.name.startswith("harness.") and a.name != TRUST)
        elif isinstance(node, ast.List | ast.Tuple):  # a command line: [..., "-m", "harness.x"]
            words = [e.value if isinstance(e, ast.Constant) else None for e in node.elts]
            found.update(module for flag, module in zip(words, words[1:], strict=False)
                         if flag == "-m" and str(module).startswith("harness."))
    return {part_of(m) for m in found}


MODULES = sorted(p for p in HARNESS.rglob("*.py") if p.parent != HARNESS or p.stem != "__init__")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(HARNESS)))
def test_no_import_runs_back_up_the_chain(path: Path) -> None:
    relative = path.relative_to(HARNESS)
    part = relative.parts[0].removesuffix(".py")
    if part == "cli":
        return
    upward = harness_imports(path) - ALLOWED[part] - {part}
    assert not upward, f"harness/{relative} imports {sorted(upward)}"


def test_a_child_started_with_python_m_counts_as_an_import(tmp_path: Path) -> None:
    child = tmp_path / "child.py"
    child.write_text('argv = [sys.executable, "-P", "-m", "harness.execution.probe", accel]\n')
    assert harness_imports(child) == {"execution"}


def test_import_harness_and_composing_a_config_stay_light() -> None:
    code = ("import harness, harness.config\n"
            "from hydra import compose, initialize_config_module\n"
            "harness.config.register_configs()\n"
            "with initialize_config_module(config_module='harness.conf', version_base='1.3'):\n"
            "    compose(config_name='config', overrides=['experiment=parallel_scaling'])")
    assert loaded_after(code, ("guestfs", "scipy", "seaborn", "matplotlib")) == []
