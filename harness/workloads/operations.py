"""guestfs-performance(1): "By far the most effective [...] way to get good performance is to
ensure that the appliance is launched the minimum number of times." M operations on one guest,
by a strategy:

- one_handle: one handle, one launch, all M operations (the performance guide's advice);
- handle_per_operation: a new handle and launch per operation (a script per change);
- guestfish_listen: `guestfish --listen` once, every command a `guestfish --remote` process;
- guestfish_per_operation: a `guestfish -a ... -i` process per operation.

An operation is what a tool does to a guest: inspect it, mount its filesystems (as `-i`
does), read /etc/os-release, list the /etc tree, upload a file and read its SHA-256 back,
unmount. Each trial works on its own qcow2 overlay of the guest image (made before the timed
trial), so the writes are real and the image stays untouched. The guestfish processes get the
runner's handle settings (backend, accelerator, memory, appliance) through guestfish's
environment variables, and they name the instance folder, so the runner ends them with it.

`operation_times_s` holds each operation's time with the launch it needed, except the first
launch where it is timed on its own (`launch_s`: the runner's, or the listener's start and
`run`); `guestfish_per_operation` cannot time its launches apart, so there it has no launch_s.
The strategies compare on `total_s`, everything from the release to the end.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import psutil

from harness.backends.base import handle_environment
from harness.host import processes, trust
from harness.host.accelerator import accel_of_process
from harness.results.records import STATUS_ERROR
from harness.workloads.base import OpenHandle, Timer, Workload, WorkloadError
from harness.workloads.inspect import check_image_spec, find_image, image_label
from harness.workloads.transfer import payload, sha256_file

STRATEGIES = ("one_handle", "handle_per_operation", "guestfish_listen",
              "guestfish_per_operation")

GUESTFISH_STRATEGIES = ("guestfish_listen", "guestfish_per_operation")

PAYLOAD_BYTES = 2**20

OVERLAY = "guest.qcow2"

PAYLOAD = "payload"

# Where each operation uploads the payload in the guest (on the overlay).
GUEST_PAYLOAD = "/root/lgbench-payload"

HYPERVISORS = ("qemu", "linux.uml")


class OperationsWorkload(Workload):
    timed_columns = ("operations_s", "per_operation_s", "first_operation_s")

    def __init__(self, name: str, image: str, images_dir: str, strategy: str, count: int,
                 seed: int = 0) -> None:
        super().__init__(name)
        if strategy not in STRATEGIES:
            raise ValueError(f"workload.strategy must be one of {', '.join(STRATEGIES)} "
                             f"(got {strategy})")
        if count < 1:
            raise ValueError(f"workload.count must be at least 1 (got {count})")
        check_image_spec("workload.image", image)
        self.spec, self.images_dir = image, Path(images_dir)
        self.strategy, self.count, self.seed = strategy, count, seed
        # The runner launches the first appliance only for the libguestfs strategies.
        self.launches_own_appliances = strategy in GUESTFISH_STRATEGIES
        self.image: tuple[Path, str] | None = None  # (path, format), set by setup()
        self.host_dir: Path | None = None  # the instance folder, set by prepare()
        self.expected = ""

    def variant(self) -> str:
        return f"{self.strategy}+m{self.count}+{image_label(self.spec)}"

    def setup(self, accel: str) -> None:
        if self.launches_own_appliances and shutil.which("guestfish") is None:
            raise WorkloadError("guestfish is not installed (Debian package guestfish)")
        self.image = find_image(self.spec, self.images_dir, accel)

    def prepare(self, host_dir: Path) -> None:
        """The trial's own overlay of the guest and the payload, before the timed trial."""
        path, fmt = self.image
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", fmt, "-b",
                        str(path.resolve()), str(host_dir / OVERLAY)], check=True)
        trust.write_bytes(host_dir / PAYLOAD, payload(PAYLOAD_BYTES, self.seed))
        self.expected = sha256_file(host_dir / PAYLOAD)
        self.host_dir = host_dir

    def add_drives(self, handle: Any) -> None:
        handle.add_drive_opts(str(self.host_dir / OVERLAY), format="qcow2")

    def run(self, handle: Any, open_handle: OpenHandle) -> list[dict[str, Any]]:
        """The M operations; `handle` is launched for the libguestfs strategies and only
        configured (its settings passed on to guestfish) for the guestfish ones."""
        times: list[float] = []
        found: dict[str, Any] = {}
        if self.strategy == "one_handle":
            for _ in range(self.count):
                times.append(self._timed(lambda: operation(handle, self.host_dir), found))
        elif self.strategy == "handle_per_operation":
            times.append(self._timed(lambda: operation(handle, self.host_dir), found))
            handle.shutdown()  # done with, as a script's handle is: it holds the overlay
            for _ in range(self.count - 1):
                times.append(self._timed(lambda: self._one_more_appliance(open_handle()),
                                         found))
        else:
            env = guestfish_environment(handle)
            runner = (self._listen if self.strategy == "guestfish_listen"
                      else self._guestfish_per_operation)
            found["accel_effective"] = runner(env, times, found)
        return [self._row(times, found)]

    def _timed(self, work: Any, found: dict[str, Any]) -> float:
        with Timer() as timer:
            found["checksum"] = work()
        return timer.seconds

    def _one_more_appliance(self, handle: Any) -> str:
        try:
            self.add_drives(handle)
            handle.launch()
            return operation(handle, self.host_dir)
        finally:
            handle.close()

    def _guestfish_per_operation(self, env: dict[str, str], times: list[float],
                                 found: dict[str, Any]) -> str:
        """One `guestfish -a overlay -i` per operation, the commands on its standard input
        and its output in a file (a pipe could fill while the first one is watched)."""
        command = ["guestfish", "--format=qcow2", "-a", str(self.host_dir / OVERLAY), "-i"]
        script = "".join(" ".join([args[0], *(f'"{arg}"' for arg in args[1:])]) + "\n"
                         for args in operation_commands(self.host_dir))
        output = self.host_dir / "guestfish.out"
        accel = ""
        for _ in range(self.count):
            with Timer() as timer, trust.create_file(output) as out:
                fish = subprocess.Popen(command, env=env, stdin=subprocess.PIPE, stdout=out,
                                        stderr=subprocess.PIPE, text=True)
                fish.stdin.write(script)
                fish.stdin.close()
                if not accel:
                    accel = _accel_while_running(fish, self.host_dir)
                err = fish.stderr.read()
                fish.wait()
            if fish.returncode != 0:
                raise WorkloadError(f"guestfish exited {fish.returncode}: {_last_line(err)}")
            found["checksum"] = _last_line(output.read_text())
            times.append(timer.seconds)
        return accel

    def _listen(self, env: dict[str, str], times: list[float], found: dict[str, Any]) -> str:
        """`guestfish --listen` once, then each command its own `guestfish --remote`."""
        errors = self.host_dir / "listen.err"
        # Its forked server keeps the inherited standard error: a pipe there would never end.
        with Timer() as start, trust.create_file(errors) as err:
            listening = subprocess.run(["guestfish", "--listen", "--format=qcow2", "-a",
                                        str(self.host_dir / OVERLAY)], env=env,
                                       stdout=subprocess.PIPE, stderr=err, text=True)
        if listening.returncode != 0:
            raise WorkloadError(f"guestfish --listen failed: "
                                f"{_last_line(errors.read_text())}")
        pid = int(listening.stdout.split("GUESTFISH_PID=")[1].split(";")[0])
        remote_env = {**env, "GUESTFISH_PID": str(pid)}

        def remote(*args: str) -> str:
            done = subprocess.run(["guestfish", "--remote", *args], env=remote_env,
                                  capture_output=True, text=True)
            if done.returncode != 0:
                raise WorkloadError(f"guestfish --remote {args[0]}: {_last_line(done.stderr)}")
            return done.stdout

        try:
            with Timer() as launch:
                remote("run")
            accel = accel_of_process(_hypervisor_pid(self.host_dir))
            # Starting the listener and its launch: the one launch, timed on its own as the
            # runner times the libguestfs strategies' first launch.
            found["launch_s"] = start.seconds + launch.seconds
            for _ in range(self.count):
                with Timer() as timer:
                    found["checksum"] = _remote_operation(remote, self.host_dir)
                times.append(timer.seconds)
            remote("exit")
        finally:
            _end(pid)
        return accel

    def _row(self, times: list[float], found: dict[str, Any]) -> dict[str, Any]:
        launches = {"one_handle": 1, "guestfish_listen": 1}.get(self.strategy, self.count)
        row: dict[str, Any] = {
            "strategy": self.strategy, "count": self.count, "launches": launches,
            "operations_s": sum(times), "per_operation_s": sum(times) / self.count,
            "first_operation_s": times[0],
            # Text, not a list: rows of other workloads in the same table lack it.
            "operation_times_s": ",".join(f"{t:.4f}" for t in times)}
        row.update({k: found[k] for k in ("accel_effective", "launch_s") if k in found})
        if found["checksum"] != self.expected:
            row.update(status=STATUS_ERROR, error=f"the payload read back has sha256 "
                                                  f"{found['checksum']!r}, not {self.expected}")
        return row


def operation(handle: Any, host_dir: Path) -> str:
    """One operation on a launched handle (as `guestfish -i` then commands); returns the
    SHA-256 the guest computed of the uploaded payload."""
    roots = handle.inspect_os()
    if not roots:
        raise WorkloadError("no operating system found in the guest image")
    mountpoints = handle.inspect_get_mountpoints(roots[0])
    for mountpoint in sorted(mountpoints, key=len):
        handle.mount(mountpoints[mountpoint], mountpoint)
    handle.cat("/etc/os-release")
    handle.find("/etc")
    handle.upload(str(host_dir / PAYLOAD), GUEST_PAYLOAD)
    checksum = handle.checksum("sha256", GUEST_PAYLOAD)
    handle.umount_all()
    return checksum


def operation_commands(host_dir: Path) -> list[list[str]]:
    """The guestfish commands of one operation once inspection has mounted the guest; the
    checksum's output is the last one."""
    return [["cat", "/etc/os-release"], ["find", "/etc"],
            ["upload", str(host_dir / PAYLOAD), GUEST_PAYLOAD],
            ["checksum", "sha256", GUEST_PAYLOAD], ["umount-all"]]


def _remote_operation(remote: Any, host_dir: Path) -> str:
    """One operation through `guestfish --remote`, a process per command, mounting what
    inspection finds as `-i` does."""
    roots = remote("inspect-os").split()
    if not roots:
        raise WorkloadError("no operating system found in the guest image")
    mountpoints = dict(line.split(": ", 1)
                       for line in remote("inspect-get-mountpoints", roots[0]).splitlines()
                       if ": " in line)
    for mountpoint in sorted(mountpoints, key=len):
        remote("mount", mountpoints[mountpoint], mountpoint)
    outputs = [remote(*args) for args in operation_commands(host_dir)]
    return outputs[-2].strip()


def guestfish_environment(handle: Any) -> dict[str, str]:
    """The configured handle's settings as guestfish's environment (guestfish(1))."""
    if handle.get_smp() != 1:
        raise WorkloadError("the guestfish strategies need smp=1: guestfish -i launches "
                            "before any set-smp command could run")
    return handle_environment(handle)


def _hypervisor_pid(host_dir: Path) -> int:
    """The one qemu (or linux.uml) using the instance folder."""
    found = [p.pid for p in processes.referencing(str(host_dir))
             if any(name in p.name() for name in HYPERVISORS)]
    if len(found) != 1:
        raise RuntimeError(f"expected one hypervisor using {host_dir}, found {len(found)}")
    return found[0]


def _accel_while_running(fish: subprocess.Popen, host_dir: Path) -> str:
    """The accelerator of the appliance guestfish launches, watched every 0.1 s while it
    runs: `kvm` as soon as its qemu holds a KVM VM, `tcg` if it never did."""
    pid, accel = None, ""
    while fish.poll() is None:
        try:
            pid = pid or _hypervisor_pid(host_dir)
            accel = accel_of_process(pid)
        except (RuntimeError, OSError):
            pass
        if accel == "kvm":
            return accel
        time.sleep(0.1)
    return accel


def _end(pid: int) -> None:
    """Kill the listening guestfish if `exit` did not end it (an error on the way)."""
    try:
        psutil.Process(pid).kill()
    except psutil.NoSuchProcess:
        pass


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"
