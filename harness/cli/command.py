"""The `lgbench` command: --help, --version and shell completion answered from the config
alone, at once (harness.cli.usage, harness.cli.completion); anything else is the Hydra app
(harness.cli.run), imported only then."""

from __future__ import annotations

import sys

from harness.cli import usage
from harness.host import trust

EXIT_BROKEN_PIPE = 141  # as a tool killed by SIGPIPE: the output's reader went away


def main() -> None:
    args = sys.argv[1:]
    try:
        if "--help" in args or "-h" in args:
            print(usage.help_text())
        elif args == ["--version"]:
            print(usage.version_text("lgbench"))
        elif "-sc" in args or "--shell-completion" in args:
            from harness.cli.completion import complete

            complete()
        else:
            from harness.cli.run import main as run

            run()
        sys.stdout.flush()  # here, where a closed pipe is still caught
    except BrokenPipeError:  # `lgbench --help | head -1`: no traceback for the reader's exit
        trust.discard_output(sys.stdout.fileno())
        sys.exit(EXIT_BROKEN_PIPE)
