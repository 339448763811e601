"""The child of host.accelerator's bounded launch probe: one /dev/null appliance with an
accelerator forced, in a process of its own so that a hang can be killed with its group.

Prints the launch seconds, then the accelerator that ran (or the error) as the last line.
"""

from __future__ import annotations

import sys
import time

from harness.host.accelerator import accel_of_process
from harness.host.handles import ConsoleTail, guestfs_handle


def main(accel: str, cachedir: str) -> int:
    g = guestfs_handle(None, 1, None, False, backend="direct", settings=[f"force_{accel}"])
    tail = ConsoleTail(g)
    g.set_cachedir(cachedir)
    g.add_drive_ro("/dev/null")
    start = time.perf_counter()
    try:
        g.launch()
        print(f"{time.perf_counter() - start:.1f}")
        print(accel_of_process(g.get_pid()))
    except RuntimeError as exc:
        print(tail.explain(exc))
        return 1
    finally:
        g.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
