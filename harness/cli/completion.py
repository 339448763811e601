"""`lgbench -sc ...`: Hydra's shell completion from the config alone (the schemas registered,
no launcher, no analysis), so a TAB answers at once; the structured configs the YAML choices
extend (`backend=direct_schema`) are not offered, as they are not choices."""

from __future__ import annotations

import contextlib
import io
import sys

import hydra
from omegaconf import DictConfig

from harness.config import CONF_DIR, SCHEMA_SUFFIX, register_configs


def complete() -> None:
    """Answer Hydra's completion query in sys.argv (`-sc query=bash`, `-sc install=bash`)."""
    register_configs()
    said = io.StringIO()
    with contextlib.redirect_stdout(said):
        hydra.main(config_path=CONF_DIR, config_name="config", version_base="1.3")(_unused)()
    if any(arg.startswith("query=") for arg in sys.argv):
        print(" ".join(w for w in said.getvalue().split() if not w.endswith(SCHEMA_SUFFIX)))
    else:  # the script to install: as Hydra wrote it
        print(said.getvalue(), end="")


def _unused(cfg: DictConfig) -> None:
    """The app Hydra needs to be given; completion never runs it."""
