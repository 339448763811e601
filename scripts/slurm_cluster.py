#!/usr/bin/env python3
"""A one-node SLURM cluster on this host, for lgbench's submitit_slurm tests and for trying
`hydra/launcher=submitit_slurm` by hand (`make cluster-up`, `make cluster-down`).

Everything lives in one state folder: its own MariaDB data, munge key and socket,
slurm.conf, slurmdbd.conf, spool, logs and pid files; mariadbd, munged, slurmdbd, slurmctld and
slurmd run as background processes of their own session and are stopped by pid. Nothing under
/etc is touched: clients find the cluster through SLURM_CONF=<state>/slurm.conf, which `up`
prints.

Plugins chosen to work in a container without systemd or cgroup delegation:
proctrack/linuxproc (follows a job's processes through their parent pids, no cgroup) and
task/none (no CPU binding). Accounting goes through slurmdbd to the MariaDB of the folder, so
`sacct` answers, and submitit, which polls `sacct` for job states, sees a job that was cancelled.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

DEFAULT_STATE = Path("/var/tmp/lgbench-slurm")
PARTITION = "bench"
# Off the defaults (6817-6819, 3306), to keep clear of a real cluster or database.
CTLD_PORT, SLURMD_PORT, DBD_PORT, DB_PORT = 16817, 16818, 16819, 13306
DAEMONS = ("mariadbd", "munged", "slurmdbd", "slurmctld", "slurmd")  # in starting order
READY_TIMEOUT_S = 60.0


def slurm_conf(state: Path, node: str, cpus: int, memory_mib: int) -> str:
    return f"""# Written by scripts/slurm_cluster.py: a one-node cluster in {state}
ClusterName=lgbench
SlurmctldHost={node}
SlurmctldPort={CTLD_PORT}
SlurmdPort={SLURMD_PORT}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={state}/munge/munge.socket
CredType=cred/munge
StateSaveLocation={state}/ctld
SlurmdSpoolDir={state}/spool
SlurmctldPidFile={state}/slurmctld.pid
SlurmdPidFile={state}/slurmd.pid
SlurmctldLogFile={state}/slurmctld.log
SlurmdLogFile={state}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost={node}
AccountingStoragePort={DBD_PORT}
AccountingStoragePass={state}/munge/munge.socket
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
SlurmdTimeout=30
KillWait=10
DefMemPerCPU={memory_mib // cpus}
NodeName={node} CPUs={cpus} RealMemory={memory_mib} State=UNKNOWN
PartitionName={PARTITION} Nodes={node} Default=YES MaxTime=INFINITE State=UP
"""


def slurmdbd_conf(state: Path, node: str) -> str:
    return f"""# Written by scripts/slurm_cluster.py
DbdHost={node}
DbdPort={DBD_PORT}
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket={state}/munge/munge.socket
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort={DB_PORT}
StorageUser=root
StorageLoc=slurm_acct_db
PidFile={state}/slurmdbd.pidfile
LogFile={state}/slurmdbd.log
"""


def client_env(state: Path) -> dict[str, str]:
    """The environment sinfo, sbatch and submitit need to reach this cluster."""
    return {**os.environ, "SLURM_CONF": str(state / "slurm.conf")}


def _pid(state: Path, daemon: str) -> int | None:
    try:
        return int((state / f"{daemon}.pid").read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _start(state: Path, daemon: str, argv: list[str]) -> None:
    """Start a daemon in the foreground of its own session (so it is ours to stop by pid),
    its output in <state>/<daemon>.out, its pid in <state>/<daemon>.pid. slurmdbd finds its
    slurmdbd.conf beside SLURM_CONF's slurm.conf."""
    with open(state / f"{daemon}.out", "ab") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True,
                                   env=client_env(state))
    (state / f"{daemon}.pid").write_text(f"{process.pid}\n")


def _accounting_up(state: Path) -> bool:
    shown = subprocess.run(["sacctmgr", "-n", "list", "cluster"], capture_output=True,
                           text=True, env=client_env(state))
    return shown.returncode == 0


def _node_idle(state: Path) -> bool:
    shown = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True,
                           env=client_env(state))
    return shown.returncode == 0 and shown.stdout.strip().rstrip("*") == "idle"


def up(state: Path) -> None:
    """Write the configuration, start munged, slurmctld and slurmd, wait until the node is
    idle. Raises RuntimeError (with the daemons' logs named) when it does not get there."""
    if any(_pid(state, d) and _alive(_pid(state, d)) for d in DAEMONS):
        raise RuntimeError(f"a cluster is already running from {state} (cluster-down first)")
    for sub in ("munge", "ctld", "spool"):
        (state / sub).mkdir(parents=True, exist_ok=True)
    os.chmod(state / "munge", 0o700)
    key = state / "munge" / "munge.key"
    if not key.exists():
        key.write_bytes(os.urandom(128))
        key.chmod(0o600)
    node = socket.gethostname()
    if not (state / "db" / "mysql").is_dir():
        subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={state}/db",
                        "--user=root", "--auth-root-authentication-method=normal",
                        "--skip-test-db"], check=True, capture_output=True)
    _start(state, "mariadbd", ["mariadbd", "--no-defaults", f"--datadir={state}/db",
                               "--user=root", f"--port={DB_PORT}", "--bind-address=127.0.0.1",
                               f"--socket={state}/db.socket", f"--log-error={state}/db.err",
                               "--innodb-buffer-pool-size=256M",
                               "--innodb-lock-wait-timeout=900"])
    memory_mib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    (state / "slurm.conf").write_text(slurm_conf(state, node, os.cpu_count() or 1,
                                                 int(memory_mib * 0.9)))
    _start(state, "munged", ["munged", "--foreground", "--force", f"--key-file={key}",
                             f"--socket={state}/munge/munge.socket",
                             f"--pid-file={state}/munge/munged.pidfile",
                             f"--seed-file={state}/munge/munged.seed",
                             f"--log-file={state}/munge/munged.log"])
    _wait(lambda: (state / "munge" / "munge.socket").exists(), "munged", state)
    conf = state / "slurmdbd.conf"
    conf.write_text(slurmdbd_conf(state, node))
    conf.chmod(0o600)  # slurmdbd refuses a configuration others can read
    _start(state, "slurmdbd", ["slurmdbd", "-D", "-s"])
    _wait(lambda: _accounting_up(state), "slurmdbd", state)
    subprocess.run(["sacctmgr", "-i", "add", "cluster", "lgbench"], capture_output=True,
                   env=client_env(state))
    _start(state, "slurmctld", ["slurmctld", "-D", "-i", "-f", str(state / "slurm.conf")])
    _start(state, "slurmd", ["slurmd", "-D", "-N", node, "-f", str(state / "slurm.conf")])
    _wait(lambda: _node_idle(state), "the node to be idle", state)


def _wait(ready: object, what: str, state: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if ready():  # type: ignore[operator]
            return
        for daemon in DAEMONS:
            pid = _pid(state, daemon)
            if pid is not None and not _alive(pid):
                down(state)
                raise RuntimeError(f"{daemon} exited while waiting for {what}: see "
                                   f"{state}/{daemon}.out and the logs beside it")
        time.sleep(0.5)
    down(state)
    raise RuntimeError(f"no {what} within {READY_TIMEOUT_S:g} s: see the logs in {state}")


def down(state: Path, timeout_s: float = 30.0) -> list[str]:
    """Cancel every job, stop slurmd, slurmctld and munged by pid (SIGTERM, then SIGKILL),
    reap them; returns the daemons that were running."""
    if (state / "slurm.conf").exists():
        subprocess.run(["scancel", "--full", "--partition", PARTITION], capture_output=True,
                       env=client_env(state), timeout=30)
    stopped = []
    for daemon in reversed(DAEMONS):
        pid = _pid(state, daemon)
        if pid is None or not _alive(pid):
            continue
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while _alive(pid) and time.monotonic() < deadline:
            _reap(pid)
            time.sleep(0.2)
        if _alive(pid):
            os.killpg(pid, signal.SIGKILL)
        _reap(pid)
        stopped.append(daemon)
        (state / f"{daemon}.pid").unlink(missing_ok=True)
    return stopped


def _reap(pid: int) -> None:
    """Collect a daemon this process started (a zombie would look alive to kill -0)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("up", "down"))
    parser.add_argument("--state", type=Path, default=DEFAULT_STATE,
                        help=f"the cluster's folder (default {DEFAULT_STATE})")
    args = parser.parse_args()
    missing = [d for d in (*DAEMONS, "sinfo") if shutil.which(d) is None]
    if missing:
        print(f"slurm_cluster: missing {', '.join(missing)} (Debian packages slurmctld "
              "slurmd slurmdbd slurm-client munge mariadb-server; scripts/setup.sh installs "
              "them)", file=sys.stderr)
        return 2
    if args.command == "down":
        stopped = down(args.state)
        print(f"slurm_cluster: stopped {', '.join(stopped) or 'nothing (not running)'}")
        return 0
    try:
        up(args.state)
    except RuntimeError as exc:
        print(f"slurm_cluster: {exc}", file=sys.stderr)
        return 1
    print(f"slurm_cluster: one node idle in partition {PARTITION}; use it with\n"
          f"  export SLURM_CONF={args.state / 'slurm.conf'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
