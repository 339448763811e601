"""`lgbench --help` and `--version`: generated from the config (every experiment, choice and key,
with its default and what it does), answered without the Hydra app or the analysis, and quiet
when the reader of its output goes away."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.imports import loaded_after
from helpers.lgbench import in_process, within

from harness import config
from harness.cli import usage

CONF = Path(__file__).resolve().parents[2] / "conf"
EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
HEAVY = ("pandas", "scipy", "matplotlib", "harness.cli.run")  # what --help and TAB must not load


def test_the_help_names_every_experiment_and_every_choice_with_its_default():
    text = usage.help_text()
    for experiment in EXPERIMENTS.glob("*.yaml"):
        assert experiment.stem in text, experiment.stem
    for group in usage.GROUPS:
        block = re.search(rf"\n  {group}=(.*?)(?=\n  \S)", text, re.DOTALL).group(1)
        listed = re.findall(r"\w+", block)
        assert listed == sorted(p.stem for p in (CONF / group).glob("*.yaml")), group
    assert "backend=[auto] | fake" in text
    assert "workload=calls | inspect | inspect_cached | inspect_full | [launch]" in text


def test_every_key_a_user_sets_is_listed_with_its_default_and_what_it_does():
    listed = {key: (default, said) for key, default, said in usage.keys()}
    settable = [f.name for f in dataclasses.fields(config.LgbenchConf)
                if f.name not in (*usage.GROUP_FIELDS, "round")]
    assert sorted(k for k in listed if "." not in k) == sorted(settable)
    assert listed["runs"][0] == "6" and listed["memsize"][0] == "null"
    assert listed["append"][0] == "''" and "kernel" in listed["append"][1]  # comment above
    assert all(said for _, said in listed.values()), [k for k, v in listed.items() if not v[1]]
    assert "paths.results_dir" in listed
    text = usage.help_text()
    for key in ("backend.max_clients", "workload.sizes", "workload.strategy",
                "appliance.cache_state"):
        assert key in text, key


def test_help_and_version_import_neither_hydras_app_nor_the_analysis():
    """What makes `lgbench --help` quick (its time: benchmarks/cli_startup.py)."""
    code = ("from harness.cli import usage\nusage.help_text()\n"
            "usage.version_text('lgbench')")
    assert loaded_after(code, HEAVY) == []


def test_version_names_lgbench_and_its_commit_in_a_checkout():
    said = usage.version_text("lgbench-report")
    assert said.startswith("lgbench-report 0.")
    assert " (commit " in said  # the tests run from a git checkout


@pytest.mark.parametrize("args", [["--help"], ["--version"]])
def test_a_reader_that_goes_away_gets_no_traceback(args):
    """`lgbench --help | head -1`; the help is written in one go, so a reader that closed the
    pipe before it is what raises."""
    lgbench = Path(sys.executable).parent / "lgbench"
    process = subprocess.Popen([str(lgbench), *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    process.stdout.close()  # gone before anything was written
    _, stderr = process.communicate(timeout=60)
    assert b"Traceback" not in stderr and b"BrokenPipe" not in stderr, stderr
    assert process.returncode == 141


@pytest.mark.parametrize("tool", ["lgbench-report", "lgbench-doctor", "lgbench-images"])
def test_every_tool_has_a_version(tool, capsys):
    main = {"lgbench-report": "harness.cli.report", "lgbench-doctor": "harness.cli.doctor",
            "lgbench-images": "harness.cli.images"}[tool]
    module = __import__(main, fromlist=["main"])
    with pytest.raises(SystemExit) as ended:
        module.main(["--version"])
    assert ended.value.code == 0
    assert capsys.readouterr().out.startswith(f"{tool} 0.")


def test_completion_offers_choices_and_never_a_schema():
    lgbench = Path(sys.executable).parent / "lgbench"
    offered = subprocess.run([str(lgbench), "-sc", "query=bash"], capture_output=True,
                             text=True, env={**os.environ, "COMP_LINE": "lgbench backend="},
                             check=True).stdout.split()
    assert offered == [f"backend={c}" for c in ("auto", "fake", "kvm", "libvirt", "tcg", "uml")]


def test_completion_imports_neither_the_app_nor_the_analysis():
    code = ("import os, sys\nos.environ['COMP_LINE'] = 'lgbench work'\n"
            "sys.argv = ['lgbench', '-sc', 'query=bash']\n"
            "from harness.cli.completion import complete\ncomplete()")
    assert loaded_after(code, HEAVY) == []


def test_a_sweep_prints_each_warning_once_and_no_third_party_noise(tmp_path):
    """The interleaved sweep's cells leave their lines to the aggregate (each warning was
    printed per cell and again at the end); matplotlib's INFO ("Using categorical units")
    is not lgbench's news."""
    result = in_process("-m", "backend=fake", "backend.launch_s=0.02", "backend.spread=0.5",
                        "parallel=1,2", "runs=6", "warmup=0", **within(tmp_path))
    assert result.returncode == 0, result.stderr
    printed = (result.stdout + result.stderr).splitlines()
    warnings = [line for line in printed if line.startswith("warning: ")]
    assert warnings and len(warnings) == len(set(warnings)), warnings
    assert not [line for line in printed if "matplotlib" in line or "categorical" in line]
    assert sum(line.startswith("report: ") for line in printed) == 3  # 2 cells, the aggregate


def test_make_run_installs_what_lgbench_needs_and_make_test_the_rest():
    script = (Path(__file__).resolve().parents[2] / "scripts" / "setup.sh").read_text()
    packages = {name: set(re.search(rf"{name}=\(([^)]*)\)", script).group(1).split())
                for name in ("RUN_PACKAGES", "CLUSTER_PACKAGES", "TEST_PACKAGES")}
    runtime = {p for p in packages["RUN_PACKAGES"] if not p.startswith("#")}
    assert {"libguestfs-tools", "python3-guestfs", "qemu-system-x86"} <= runtime
    assert not runtime & {"chromium", "slurmctld", "mariadb-server", "munge"}
    assert "chromium" in packages["TEST_PACKAGES"] and "slurmctld" in packages["CLUSTER_PACKAGES"]
    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text()
    assert "setup:\n\t./scripts/setup.sh run" in makefile
    assert "test: setup-test" in makefile and "setup-test:\n\t./scripts/setup.sh test" in makefile
