"""The supermin appliance libguestfs builds and caches (its default), hot or cold."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.appliances.base import Appliance
from harness.host import trust


class CachedAppliance(Appliance):
    """`cache_state` hot reuses the cache; cold empties it before every trial, so each trial
    pays the appliance build (the first-launch cost)."""

    TYPES = ("cached",)

    def __init__(self, dir: str, cache_state: str = "hot", type: str = "cached") -> None:
        super().__init__(type, dir, cache_state)

    def prepare(self) -> None:
        trust.secure_folder(self.dir)

    def before_trial(self) -> None:
        if self.cache_state == "cold":
            trust.remove_tree(self.dir, ignore_errors=True)
            trust.secure_folder(self.dir)

    def configure(self, handle: Any) -> None:
        handle.set_cachedir(str(self.dir))

    def files(self) -> list[Path]:
        return sorted(self.dir.glob(".guestfs-*/appliance.d/*"))
