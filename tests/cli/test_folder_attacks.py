"""Run, sweep and images folders attacked by an unprivileged local user (issue 28, findings 4, 7
and 8): folders planted where root's lgbench will write, links planted where Hydra writes its
own files, a pickle or a package planted where a submitit job would load it. Each is refused
in one line before anything is written, or is harmless."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.attacker import ATTACKER, as_attacker, assert_refused
from helpers.lgbench import LGBENCH_IMAGES, in_process, lgbench, within

from harness.host import accelerator

FAKE = ("backend=fake", "runs=1", "warmup=0")
DECOY = "root's file\n"


def decoy(folder: Path, name: str) -> Path:
    """A root-only file of root's, the target of a planted link."""
    folder.mkdir(mode=0o700, exist_ok=True)
    path = folder / name
    path.write_text(DECOY)
    path.chmod(0o600)
    return path


def test_a_hydra_link_in_a_planted_run_folder_is_never_written_through(public, tmp_path):
    victim = decoy(tmp_path / "victim", "config.yaml")
    run = public / "run"
    as_attacker("mkdir", str(run))
    as_attacker("ln", "-s", str(victim.parent), str(run / ".hydra"))
    result = in_process(*FAKE, f"hydra.run.dir={run}", **within(tmp_path))
    assert_refused(result, run, f"owned by {ATTACKER}")
    assert victim.read_text() == DECOY and sorted(os.listdir(victim.parent)) == ["config.yaml"]


def test_a_results_folder_planted_in_a_shared_working_folder_is_refused(public, tmp_path):
    """The default results folder is relative: run from a folder others can write in, the
    attacker's `results/default/` (with a link for the log) is refused."""
    victim = decoy(tmp_path / "victim", "lgbench.log")
    as_attacker("mkdir", "-p", str(public / "results" / "default"))
    result = in_process(*FAKE, cache=tmp_path / "cache", cwd=public)
    assert_refused(result, public / "results", f"owned by {ATTACKER}")
    assert victim.read_text() == DECOY


def test_a_multirun_link_in_a_planted_sweep_folder_is_never_written_through(public, tmp_path):
    victim = decoy(tmp_path / "victim", "multirun.yaml")
    sweep = public / "sweep"
    as_attacker("mkdir", str(sweep))
    as_attacker("ln", "-s", str(victim), str(sweep / "multirun.yaml"))
    result = in_process("-m", *FAKE, f"hydra.sweep.dir={sweep}", **within(tmp_path))
    assert_refused(result, sweep, f"owned by {ATTACKER}")
    assert victim.read_text() == DECOY and os.listdir(sweep) == ["multirun.yaml"]


# The attack of finding 4: whatever submitit would unpickle or import, run as root, would
# write this file.
PLANTED_PACKAGE = "import pathlib\npathlib.Path({marker!r}).write_text('imported as root')\n"


def test_a_planted_submitit_sweep_folder_is_refused_before_any_job_starts(public, tmp_path):
    sweep = public / "sweep"
    as_attacker("mkdir", "-p", str(sweep / ".submitit"))
    result = in_process("-m", *FAKE, "hydra/launcher=submitit_local", "resume=true",
                        f"hydra.sweep.dir={sweep}", **within(tmp_path))
    assert_refused(result, sweep, f"owned by {ATTACKER}")
    assert os.listdir(sweep / ".submitit") == []


def test_submitit_jobs_are_private_and_never_import_from_the_working_folder(public, tmp_path):
    """Root runs a submitit sweep from a folder others can write in, where the attacker put a
    `submitit` package: `python -m submitit...` must not import it; the job folders (the
    pickles submitit loads) are root's alone."""
    marker = public / "imported"
    as_attacker("mkdir", str(public / "submitit"))
    planted = public / "planted.py"
    planted.write_text(PLANTED_PACKAGE.format(marker=str(marker)))
    as_attacker("cp", str(planted), str(public / "submitit" / "__init__.py"))
    sweep = tmp_path / "sweep"
    result = lgbench("-m", *FAKE, "memsize=256,512", "hydra/launcher=submitit_local",
                     f"hydra.sweep.dir={sweep}", cache=tmp_path / "cache",
                     results=tmp_path / "results", cwd=public, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    assert not marker.exists()
    jobs = sweep / ".submitit"
    assert stat.S_IMODE(jobs.stat().st_mode) == 0o700 and jobs.stat().st_uid == 0
    assert len([p for p in jobs.iterdir() if p.name.isdigit()]) == 2  # a folder per job


@pytest.mark.parametrize("verb", ["list", "remove debian", "define debian", "undefine x",
                                  "build no-os", "recipes"])
def test_every_images_verb_refuses_a_planted_images_folder(verb, public, tmp_path):
    """`remove` followed a planted `sources` link into root's folder; `list` reported planted
    images as built; `define` answered with a traceback."""
    images = public / "images"
    kept = tmp_path / "roots" / "debian"
    kept.mkdir(parents=True)
    as_attacker("mkdir", str(images))
    as_attacker("ln", "-s", str(kept.parent), str(images / "sources"))
    as_attacker("touch", str(images / "debian-000000000000.img"))
    result = subprocess.run([str(LGBENCH_IMAGES), *verb.split(), "--images-dir", str(images)],
                            capture_output=True, text=True, timeout=60)
    assert_refused(result, images, f"owned by {ATTACKER}", program="lgbench-images")
    assert kept.is_dir()


PLANTED_HARNESS = "import pathlib\npathlib.Path({marker!r}).write_text('imported as root')\n"


def test_the_kvm_probe_never_imports_a_harness_package_from_the_working_folder(
        public, tmp_path, monkeypatch):
    """Root runs lgbench (or lgbench-doctor) from a folder others can write in: the probe,
    `python -m harness.host.probe`, must not import the attacker's `harness/`."""
    marker = public / "imported"
    as_attacker("mkdir", str(public / "harness"))
    planted = public / "planted.py"
    planted.write_text(PLANTED_HARNESS.format(marker=str(marker)))
    as_attacker("cp", str(planted), str(public / "harness" / "__init__.py"))
    monkeypatch.chdir(public)
    # A KVM probe: over at its time limit here (KVM hangs), by then Python has imported.
    accelerator.launch_probe("kvm", tmp_path / "cache", timeout_s=4)
    assert not marker.exists()


PLANTED_RC = "figure.hooks: builtins:print\n"  # prints every figure matplotlib makes


def test_a_matplotlibrc_in_the_working_folder_configures_nothing(public, tmp_path):
    as_attacker("sh", "-c", f"printf '{PLANTED_RC}' > {public / 'matplotlibrc'}")
    drawn = subprocess.run([sys.executable, "-c", "from harness.plotting.common import pyplot; "
                            "pyplot().figure()"], cwd=public, capture_output=True, text=True,
                           timeout=60)
    assert drawn.returncode == 0, drawn.stderr
    assert "Figure(" not in drawn.stdout
