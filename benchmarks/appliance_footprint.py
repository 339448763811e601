"""Host memory one launched appliance costs, to check feasibility.OVERHEAD_MIB.

Launches a /dev/null appliance (TCG, or --accel kvm) at each --memsize and prints qemu's
resident memory and how much of it exceeds the guest's own touched RAM bound (memsize).
"""

from __future__ import annotations

import argparse
import tempfile

import psutil

from harness.host import trust
from harness.host.feasibility import OVERHEAD_MIB
from harness.host.handles import guestfs_handle


def footprint(memsize: int, accel: str, cache_dir: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="lgb-footprint-") as tmp:
        g = guestfs_handle(memsize, 1, tmp, False, "direct", [f"force_{accel}"])
        g.set_cachedir(cache_dir)
        g.add_drive_ro("/dev/null")
        g.launch()
        qemu = psutil.Process(g.get_pid())
        helpers = [p for p in psutil.Process().children(recursive=True) if p.pid != qemu.pid]
        rss = qemu.memory_info().rss / 2**20
        helper_rss = sum(p.memory_info().rss for p in helpers) / 2**20
        g.close()
    return {"memsize": memsize, "qemu_rss": rss, "helpers_rss": helper_rss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memsize", type=int, nargs="+", default=[500, 1280])
    parser.add_argument("--accel", default="tcg", choices=["tcg", "kvm"])
    parser.add_argument("--cache-dir", default=str(trust.default_cache_dir() / "supermin"))
    args = parser.parse_args()
    for memsize in args.memsize:
        f = footprint(memsize, args.accel, args.cache_dir)
        print(f"memsize {memsize} MiB: qemu RSS {f['qemu_rss']:.0f} MiB, helpers RSS "
              f"{f['helpers_rss']:.0f} MiB; feasibility assumes memsize + {OVERHEAD_MIB} = "
              f"{memsize + OVERHEAD_MIB} MiB per appliance", flush=True)


if __name__ == "__main__":
    main()
