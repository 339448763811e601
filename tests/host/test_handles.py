"""What a failed launch's row says: libguestfs's error plus the console lines naming a cause."""

from __future__ import annotations

from harness.backends.fake import FakeBackend
from harness.host.handles import ConsoleTail


def test_a_kernel_panic_is_named_in_the_error():
    handle = FakeBackend().create_handle(None, 1, None, False)
    tail = ConsoleTail(handle)
    for line in ("[    0.94] mmapper_init - find_iomem failed",
                 "[    1.02] VFS: Mounted root (ext2 filesystem)",
                 "[    1.10] Kernel panic - not syncing: Attempted to kill init!"):
        tail._on_event(0, 0, line.encode() + b"\n", None)
    explained = tail.explain(RuntimeError("guestfs_launch failed"))
    assert explained.startswith("guestfs_launch failed | appliance: ")
    assert "Kernel panic - not syncing: Attempted to kill init!" in explained
    assert "Mounted root" not in explained
