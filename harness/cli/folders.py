"""Run and sweep folders made and checked before Hydra writes anything into them.

Hydra makes the run folder and writes `.hydra/`, the job's log and a sweep's `multirun.yaml`
before lgbench's task starts; running as root, it would do so through a link or into a folder
another user planted. Its callbacks on_run_start and on_multirun_start run before any of that,
so the folders are made (or checked, when they exist) there by harness.host.trust. A sweep's
submitit job folders (`.submitit/`, where the jobs' pickles lie) are made private, and the
Python that submitit starts (`python -m ...`) does not put its working folder on sys.path.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from harness.cli.outcome import EXIT_BAD_INPUT
from harness.host import trust

SUBMITIT_DIR = ".submitit"


def run_folder(run_dir: Path, hydra_subdir: str | None) -> Path:
    """The run folder and its `.hydra/`, made or checked; raises trust.UntrustedPath."""
    folder = trust.secure_folder(run_dir)
    if hydra_subdir:
        trust.secure_folder(folder / hydra_subdir)
    return folder


def sweep_folder(sweep_dir: Path, submitit: bool) -> Path:
    """The sweep folder, made or checked, with a private folder for submitit's job files."""
    folder = trust.secure_folder(sweep_dir)
    if submitit:
        jobs = trust.secure_folder(folder / SUBMITIT_DIR, private=True)
        trust.set_mode(jobs, 0o700)  # one an older lgbench made readable
        # `python -m submitit...` would first import from the working folder; with
        # PYTHONSAFEPATH (Python 3.11) it does not. The jobs inherit this environment.
        os.environ["PYTHONSAFEPATH"] = "1"
    return folder


class TrustedFolders(Callback):
    """The first of lgbench's Hydra callbacks: the folders Hydra writes into, checked first.
    Hydra turns a callback's exception into a warning and goes on, so a folder refused here
    ends lgbench at once (exit 2, one line)."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        _or_exit(lambda: run_folder(Path(config.hydra.run.dir), config.hydra.output_subdir))

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        launcher = str(config.hydra.launcher.get("_target_", ""))
        _or_exit(lambda: sweep_folder(Path(config.hydra.sweep.dir),
                                      "submitit" in launcher.lower()))


def _or_exit(check: Callable[[], object]) -> None:
    """Run a folder check; a refusal ends lgbench with one line and exit 2."""
    try:
        check()
    except trust.UntrustedPath as exc:
        print(f"lgbench: error: {exc}", file=sys.stderr, flush=True)
        sys.exit(EXIT_BAD_INPUT)
