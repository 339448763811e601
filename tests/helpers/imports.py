"""What a piece of code imports: run in a fresh interpreter, so the test's own imports do not
count."""

from __future__ import annotations

import ast
import subprocess
import sys


def loaded_after(code: str, modules: tuple[str, ...]) -> list[str]:
    """Which of `modules` are imported once `code` has run in a new interpreter."""
    probe = f"{code}\nimport sys\nprint(sorted(m for m in {modules!r} if m in sys.modules))"
    printed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                             check=True).stdout.strip().splitlines()
    return ast.literal_eval(printed[-1])  # the list the probe printed last
