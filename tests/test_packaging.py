"""A wheel install works without the checkout: configs and experiments ship in the package.

The wheel is built from a copy of the checkout and installed without its dependencies into a fresh
venv (system site packages for the guestfs bindings), which borrows the project venv's
libraries through a .pth line so that nothing is downloaded; every command then runs from an
empty folder.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from helpers.lgbench import lgbench

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "README.md", "harness", "conf", "experiments")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin folder of a fresh venv with lgbench installed from its wheel."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"  # a clean copy: no build/ left by an earlier build
    shutil.copytree(ROOT, source, ignore=lambda folder, names: [
        n for n in names if Path(folder) == ROOT and n not in SOURCES])
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp / "dist"), str(source)], check=True)
    venv = tmp / "venv"
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--system-site-packages", str(venv)],
                   check=True)
    wheel = next((tmp / "dist").glob("lgbench-*.whl"))
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--no-deps", str(wheel)],
                   check=True)
    site = subprocess.run([str(venv / "bin" / "python"), "-c",
                           "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "project-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return venv / "bin"


def run_installed(bin_dir: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    empty = tmp_path / "empty"
    empty.mkdir(exist_ok=True)
    # LGBENCH_RESULTS left unset (results=None): results go to the default, results/ in cwd.
    return lgbench(*args, program=bin_dir / "lgbench", cache=tmp_path / "cache", cwd=empty,
                   timeout=300)


def test_the_wheel_holds_the_configs_and_experiments_as_files(installed: Path) -> None:
    python = installed / "python"
    listing = subprocess.run(
        [str(python), "-c", "import harness, pathlib; root = pathlib.Path(harness.__file__)"
         ".parent; print(root); print(*sorted(str(p.relative_to(root)) for p in "
         "root.glob('[ce]*/**/*.yaml')), sep='\\n')"],
        capture_output=True, text=True, check=True, cwd="/").stdout.split()
    assert str(ROOT) not in listing[0], "imported the checkout, not the wheel"
    assert "conf/config.yaml" in listing and "experiments/baseline_launch.yaml" in listing
    assert not any(Path(listing[0], p).is_symlink() for p in listing[1:])


def test_help_is_lgbenchs_own(installed: Path, tmp_path: Path) -> None:
    result = run_installed(installed, tmp_path, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("lgbench"), result.stdout[:200]
    for wanted in ("experiment=", "baseline_launch", "parallel_scaling", "backend=",
                   "libvirt", "uml", "lgbench-report", "lgbench-images", "lgbench-doctor"):
        assert wanted in result.stdout, wanted
    for unwanted in ("powered by Hydra", "_schema"):
        assert unwanted not in result.stdout, unwanted
    version = run_installed(installed, tmp_path, "--version")
    assert version.returncode == 0 and version.stdout.startswith("lgbench 0."), version.stdout


@pytest.mark.parametrize("args", [(), ("experiment=baseline_launch",)])
def test_runs_from_an_empty_folder(installed: Path, tmp_path: Path, args: tuple[str, ...]) -> None:
    result = run_installed(installed, tmp_path, *args, "backend=fake", "runs=1", "warmup=0")
    assert result.returncode == 0, result.stderr
    run_dirs = list((tmp_path / "empty" / "results").glob("*/*/trials.parquet"))
    assert len(run_dirs) == 1, result.stdout
    assert (run_dirs[0].parent / "lgbench.log").exists()
    experiment = "baseline_launch" if args else "default"
    assert run_dirs[0].parent.parent.name == experiment


def test_a_sweep_runs_in_rounds_from_the_wheel(installed: Path, tmp_path: Path) -> None:
    """The interleaved launcher ships as hydra_plugins.lgbench_interleaved, where Hydra
    finds launchers."""
    result = run_installed(installed, tmp_path, "-m", "backend=fake", "memsize=512,1024",
                           "runs=2", "warmup=0")
    assert result.returncode == 0, result.stderr
    assert "2 cells in rounds" in result.stdout + result.stderr
    [rounds] = (tmp_path / "empty" / "results").glob("*/*/rounds.json")
    assert '"rounds_done": 2' in rounds.read_text()
