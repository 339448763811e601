"""libguestfs's direct backend: libguestfs runs qemu itself, with KVM or TCG forced."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.backends.base import Backend, BackendUnavailable
from harness.host import trust
from harness.host.accelerator import accel_of_process, kvm_verdict
from harness.host.handles import guestfs_handle


class DirectBackend(Backend):
    """qemu started by libguestfs; `accel` kvm/tcg is forced, `auto` follows the KVM verdict."""

    libguestfs_backend = "direct"
    test_tool_applies = True

    def __init__(self, name: str, accel: str = "auto", hv_wrapper: str | None = None) -> None:
        super().__init__(name, accel)
        self.kvm_reason: str | None = None
        # The guide's debugging recipe: qemu run through a user's script (set_hv), which must
        # end by exec'ing qemu with the arguments it was given.
        self.hv_wrapper = hv_wrapper
        problem = trust.executable_problem(Path(hv_wrapper)) if hv_wrapper else None
        if problem:
            raise ValueError(f"backend.hv_wrapper: will not run {hv_wrapper}: {problem}")

    def setup(self, cache_dir: Path, probe_timeout_s: float) -> None:
        if self.accel_requested not in ("kvm", "auto"):
            return
        verdict = kvm_verdict(cache_dir, probe_timeout_s)
        self.kvm_reason = verdict.reason
        if verdict.usable:
            self.accel = "kvm"
        elif self.accel_requested == "auto":
            self.accel = "tcg"
        else:
            raise BackendUnavailable(f"KVM is not usable on this host: {verdict.reason}")

    def metadata(self) -> dict[str, Any]:
        return {**super().metadata(), "libguestfs_backend": self.libguestfs_backend,
                "kvm_verdict": self.kvm_reason, "hv_wrapper": self.hv_wrapper}

    def create_handle(self, memsize: int | None, smp: int, tmpdir: Path, verbose: bool) -> Any:
        handle = guestfs_handle(memsize, smp, tmpdir, verbose, self.libguestfs_backend,
                                [f"force_{self.accel}"])
        if self.hv_wrapper:
            handle.set_hv(self.hv_wrapper)
        return handle

    def effective_accel(self, handle: Any, tmpdir: Path) -> str:
        return accel_of_process(self.appliance_pid(handle, tmpdir))
