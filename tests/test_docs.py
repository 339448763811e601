"""The documentation: README a quickstart, docs/ a site that builds, its configuration reference
the config's own (generated), and no command in it naming an option, choice or experiment that
does not exist, nor an experiment left undescribed."""

from __future__ import annotations

import dataclasses
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from harness import config
from harness.cli import usage

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
WRITTEN = [ROOT / "README.md", *sorted(p for p in DOCS.glob("*.md") if p.name != "reference.md")]
HYDRA_KEYS = ("hydra", "hydra/launcher", "hydra/sweeper")


def commands(text: str) -> list[str]:
    """The lgbench command lines a page shows: in code blocks and code spans."""
    found = []
    for line in text.splitlines():
        for match in re.finditer(r"(?:^|`|\$ |\s)(?:\.venv/bin/)?lgbench (.+?)(?:`|#|$)", line):
            found.append(match.group(1))
    return found


def settable_keys() -> set[str]:
    """Every key a command may set: the top-level ones, paths.*, and each group's keys."""
    keys = {f.name for f in dataclasses.fields(config.LgbenchConf)}
    keys |= {f"paths.{f.name}" for f in dataclasses.fields(config.PathsConf)}
    for group in usage.SCHEMA_OF_KEYS:
        keys |= {f"{group}.{key}" for key in usage.group_keys(group)}
    return keys


def unknown_settings(command: str) -> list[str]:
    """What a command line sets that lgbench does not have."""
    try:
        words = shlex.split(command)
    except ValueError:  # a line cut short in prose
        return []
    wrong = []
    keys = settable_keys()
    for word in words:
        if word.startswith("-") or "=" not in word:
            continue
        key, value = word.lstrip("+~").split("=", 1)
        if key.startswith(HYDRA_KEYS):
            continue
        if key == "experiment":
            wrong += [f"experiment={v}" for v in value.split(",")
                      if v not in usage.experiments()]
        elif key in usage.GROUPS:
            wrong += [f"{key}={v}" for v in value.split(",") if v not in usage.choices(key)]
        elif key not in keys:
            wrong.append(key)
    return wrong


@pytest.mark.parametrize("page", WRITTEN, ids=lambda p: p.name)
def test_every_command_in_the_docs_names_what_exists(page):
    shown = commands(page.read_text())
    wrong = {c: unknown_settings(c) for c in shown if unknown_settings(c)}
    assert not wrong, wrong


def test_the_checker_catches_a_setting_that_does_not_exist():
    assert unknown_settings("-m backend=tcg,kmv rnus=3 experiment=asess step=launch") == [
        "backend=kmv", "rnus", "experiment=asess"]
    assert commands("run `lgbench backend=tcg runs=2` then") == ["backend=tcg runs=2"]


def test_the_configuration_reference_is_the_configs_own():
    """make docs writes it; a new key, choice or experiment makes it stale, and this fails."""
    assert (DOCS / "reference.md").read_text() == usage.reference_markdown()


def test_every_experiment_is_described_beyond_the_reference():
    described = "\n".join(p.read_text() for p in WRITTEN)
    missing = [e for e in usage.experiments() if f"experiment={e}" not in described]
    assert not missing, missing


def test_the_readme_is_a_quickstart():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.encode()) <= 10_000
    for part in ("make run", "make test", "backend=fake", "report.html", "lgbench-report",
                 "experiment=assess", "make docs"):
        assert part in readme, part


def test_the_site_builds_with_every_page_in_its_navigation(tmp_path):
    built = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                            str(tmp_path / "site")], cwd=ROOT, capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    nav = (ROOT / "mkdocs.yml").read_text()
    assert all(page.name in nav for page in DOCS.glob("*.md"))
    assert (tmp_path / "site" / "reference" / "index.html").exists()
