#!/usr/bin/env python3
"""A one-node SLURM cluster on this host, for lgbench's submitit_slurm tests and for trying
`hydra/launcher=submitit_slurm` by hand (`make cluster-up`, `make cluster-down`).

Everything lives in one state folder that only root can enter: its own MariaDB data and socket,
munge key and socket, slurm.conf, slurmdbd.conf, spool, logs and the record of the daemons `up`
started. mariadbd, munged, slurmdbd, slurmctld and slurmd run as background processes of their
own session. Nothing under /etc is touched: root's clients find the cluster through
SLURM_CONF=<state>/slurm.conf, which `up` prints.

What it trusts (issue 28): the state folder is made 0700 by root, or refused when it exists and
is anything else, since whatever someone else could put in it (a munge key, a configuration
naming a plugin folder, a pid) would be used as root. Files in it are written atomically
(harness/host/trust.py), the munge key is made afresh by every `up`, MariaDB listens only on a
socket in the folder and lets in root by unix_socket authentication, and `down` signals only the
processes `up` started (same pid, executable and start time) and runs `scancel` only with the
slurm.conf `up` wrote.

Plugins chosen to work in a container without systemd or cgroup delegation:
proctrack/linuxproc (follows a job's processes through their parent pids, no cgroup) and
task/none (no CPU binding). Accounting goes through slurmdbd to the MariaDB of the folder, so
`sacct` answers, and submitit, which polls `sacct` for job states, sees a job that was cancelled.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from harness.host import trust

DEFAULT_STATE = Path("/var/tmp/lgbench-slurm")
PARTITION = "bench"
DAEMONS = ("mariadbd", "munged", "slurmdbd", "slurmctld", "slurmd")  # in starting order
RECORD = "daemons.json"  # what `up` started and the slurm.conf it wrote: all `down` acts on
# Slurm's ports are taken below 1024, which only root may bind, so another user cannot hold one
# first and keep the cluster from starting; searched downwards from here for free ones.
HIGHEST_PORT = 1023
READY_TIMEOUT_S = 60.0


def slurm_conf(state: Path, node: str, cpus: int, memory_mib: int,
               ports: dict[str, int]) -> str:
    return f"""# Written by scripts/slurm_cluster.py: a one-node cluster in {state}
ClusterName=lgbench
SlurmctldHost={node}
SlurmctldPort={ports["slurmctld"]}
SlurmdPort={ports["slurmd"]}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={state}/munge/munge.socket
CredType=cred/munge
StateSaveLocation={state}/ctld
SlurmdSpoolDir={state}/spool
SlurmctldPidFile={state}/slurmctld.pidfile
SlurmdPidFile={state}/slurmd.pidfile
SlurmctldLogFile={state}/slurmctld.log
SlurmdLogFile={state}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost={node}
AccountingStoragePort={ports["slurmdbd"]}
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


def slurmdbd_conf(state: Path, node: str, port: int) -> str:
    """StorageHost=localhost makes libmariadb use a socket, the one MYSQL_UNIX_PORT names in
    slurmdbd's environment; root is let in by unix_socket authentication, so no password."""
    return f"""# Written by scripts/slurm_cluster.py
DbdHost={node}
DbdPort={port}
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket={state}/munge/munge.socket
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=root
StorageLoc=slurm_acct_db
PidFile={state}/slurmdbd.pidfile
LogFile={state}/slurmdbd.log
"""


def client_env(state: Path) -> dict[str, str]:
    """The environment sinfo, sbatch and submitit need to reach this cluster."""
    return {**os.environ, "SLURM_CONF": str(state / "slurm.conf")}


def _record(state: Path) -> dict:
    """What `up` recorded in the folder, or an empty record."""
    found = trust.read_own(state / RECORD)
    try:
        return json.loads(found) if found else {"daemons": {}}
    except json.JSONDecodeError:
        return {"daemons": {}}


def _running(started: dict) -> psutil.Process | None:
    """The process `up` started, if it still runs: the pid alone may name another process by
    now, so its executable and start time must be the ones recorded too."""
    try:
        process = psutil.Process(started["pid"])
        if (process.create_time() == started["create_time"] and process.exe() == started["exe"]
                and process.status() != psutil.STATUS_ZOMBIE):
            return process
    except (psutil.Error, KeyError, TypeError):
        pass
    return None


def _start(state: Path, daemon: str, argv: list[str], env: dict[str, str]) -> None:
    """Start a daemon in the foreground of its own session (so it is ours to stop by process
    group), its output in <state>/<daemon>.out, and record it (pid, executable, start time).
    argv[0] stays the plain name: slurmctld crashes when called by Debian's real file name
    (slurmctld-wlm, behind an alternatives link)."""
    exe = os.path.realpath(shutil.which(argv[0]) or argv[0])
    with trust.create_file(state / f"{daemon}.out", mode=0o600) as out:
        process = psutil.Popen(argv, executable=exe, stdout=out, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, start_new_session=True, env=env)
    record = _record(state)
    record["daemons"][daemon] = {"pid": process.pid, "exe": exe,
                                 "create_time": process.create_time()}
    _save_record(state, record)


def _save_record(state: Path, record: dict) -> None:
    trust.write_text(state / RECORD, json.dumps(record, indent=1), mode=0o600)


def _privileged_ports(*daemons: str) -> dict[str, int]:
    """A TCP port below 1024 that nothing listens on now for each daemon."""
    free = []
    for port in range(HIGHEST_PORT, 0, -1):
        with socket.socket() as probe:
            try:
                probe.bind(("", port))
            except OSError:
                continue
        free.append(port)
        if len(free) == len(daemons):
            return dict(zip(daemons, free, strict=True))
    raise RuntimeError(f"no free TCP ports below 1024 for {', '.join(daemons)}")


def _accounting_up(state: Path) -> bool:
    shown = subprocess.run(["sacctmgr", "-n", "list", "cluster"], capture_output=True,
                           text=True, env=client_env(state))
    return shown.returncode == 0


def _node_idle(state: Path) -> bool:
    shown = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True,
                           env=client_env(state))
    return shown.returncode == 0 and shown.stdout.strip().rstrip("*") == "idle"


def _install_db(state: Path) -> None:
    """A MariaDB data folder whose only login is root@localhost, let in by unix_socket (the
    OS user root on the socket) and by no password."""
    installed = subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={state}/db",
                                "--user=root", "--auth-root-authentication-method=socket",
                                "--skip-test-db"], capture_output=True, text=True)
    if installed.returncode != 0:
        raise RuntimeError(f"mariadb-install-db failed: {installed.stderr.strip()[-500:]}")


def up(state: Path) -> None:
    """Make or check the private state folder, write the configuration and a fresh munge key,
    start the daemons, wait until the node is idle. Raises trust.UntrustedPath for a folder
    that is not root's own 0700 folder, RuntimeError (with the daemons' logs named) when the
    cluster does not come up."""
    state = trust.private_folder(state)
    if any(_running(started) for started in _record(state)["daemons"].values()):
        raise RuntimeError(f"a cluster is already running from {state} (cluster-down first)")
    for sub in ("munge", "ctld", "spool", "db", "db-files"):
        trust.secure_folder(state / sub, private=True)
    trust.remove(state / RECORD)
    key = state / "munge" / "munge.key"
    trust.write_bytes(key, os.urandom(128), mode=0o600)
    node = socket.gethostname()
    if not (state / "db" / "mysql").is_dir():
        _install_db(state)
    db_socket, munge_socket = state / "mariadb.socket", state / "munge" / "munge.socket"
    for stale in (db_socket, munge_socket):  # left by a crash: the daemons' readiness signs
        trust.remove(stale)
    _start(state, "mariadbd", ["mariadbd", "--no-defaults", f"--datadir={state}/db",
                               "--user=root", "--skip-networking", f"--socket={db_socket}",
                               f"--secure-file-priv={state}/db-files",
                               f"--log-error={state}/db.err",
                               "--innodb-buffer-pool-size=256M",
                               "--innodb-lock-wait-timeout=900"], client_env(state))
    memory_mib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    ports = _privileged_ports("slurmctld", "slurmd", "slurmdbd")
    conf = slurm_conf(state, node, os.cpu_count() or 1, int(memory_mib * 0.9), ports)
    trust.write_text(state / "slurm.conf", conf, mode=0o600)
    _save_record(state, {**_record(state),
                         "slurm.conf": hashlib.sha256(conf.encode()).hexdigest()})
    _start(state, "munged", ["munged", "--foreground", "--force", f"--key-file={key}",
                             f"--socket={munge_socket}",
                             f"--pid-file={state}/munge/munged.pidfile",
                             f"--seed-file={state}/munge/munged.seed",
                             f"--log-file={state}/munge/munged.log"], client_env(state))
    _wait(lambda: munge_socket.exists() and db_socket.exists(), "munged and mariadbd", state)
    # slurmdbd refuses a configuration others can read
    trust.write_text(state / "slurmdbd.conf", slurmdbd_conf(state, node, ports["slurmdbd"]),
                     mode=0o600)
    _start(state, "slurmdbd", ["slurmdbd", "-D", "-s"],
           {**client_env(state), "MYSQL_UNIX_PORT": str(db_socket)})
    _wait(lambda: _accounting_up(state), "slurmdbd", state)
    subprocess.run(["sacctmgr", "-i", "add", "cluster", "lgbench"], capture_output=True,
                   env=client_env(state))
    _start(state, "slurmctld", ["slurmctld", "-D", "-i", "-f", str(state / "slurm.conf")],
           client_env(state))
    _start(state, "slurmd", ["slurmd", "-D", "-N", node, "-f", str(state / "slurm.conf")],
           client_env(state))
    _wait(lambda: _node_idle(state), "the node to be idle", state)


def _wait(ready: Callable[[], bool], what: str, state: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if ready():
            return
        for daemon, started in _record(state)["daemons"].items():
            if not _running(started):
                down(state)
                raise RuntimeError(f"{daemon} exited while waiting for {what}: see "
                                   f"{state}/{daemon}.out and the logs beside it")
        time.sleep(0.5)
    down(state)
    raise RuntimeError(f"no {what} within {READY_TIMEOUT_S:g} s: see the logs in {state}")


def _own_slurm_conf(state: Path, record: dict) -> bool:
    """Whether <state>/slurm.conf is still the file `up` wrote (a client loads the plugins
    it names)."""
    found = trust.read_own(state / "slurm.conf")
    return found is not None and hashlib.sha256(found).hexdigest() == record.get("slurm.conf")


def _stop(started: dict, timeout_s: float) -> None:
    """SIGTERM the process group of a daemon `up` started, then SIGKILL if it still runs
    after timeout_s; each signal only if that very process still runs (a zombie does not:
    its parent collects it)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        process = _running(started)
        if process is None:
            return
        os.killpg(process.pid, sig)
        deadline = time.monotonic() + timeout_s
        while _running(started) and time.monotonic() < deadline:
            time.sleep(0.2)


def down(state: Path, timeout_s: float = 30.0) -> list[str]:
    """Cancel every job, stop the daemons `up` started and wait for them; returns those that
    were running. A folder that is not root's own 0700 one is refused (trust.UntrustedPath):
    nothing of it is run or signalled."""
    if not os.path.lexists(state):
        return []
    state = trust.private_folder(state)
    record = _record(state)
    daemons = record["daemons"]
    running = [d for d in reversed(DAEMONS) if d in daemons and _running(daemons[d])]
    if "slurmctld" in running and _own_slurm_conf(state, record):
        subprocess.run(["scancel", "--full", "--partition", PARTITION], capture_output=True,
                       env=client_env(state), timeout=30)
    for daemon in running:
        _stop(daemons[daemon], timeout_s)
    trust.remove(state / RECORD)
    return running


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("up", "down"))
    parser.add_argument("--state", type=Path, default=DEFAULT_STATE,
                        help=f"the cluster's folder, only root's (default {DEFAULT_STATE})")
    args = parser.parse_args()
    missing = [d for d in (*DAEMONS, "sinfo") if shutil.which(d) is None]
    if missing:
        print(f"slurm_cluster: missing {', '.join(missing)} (Debian packages slurmctld "
              "slurmd slurmdbd slurm-client munge mariadb-server; scripts/setup.sh installs "
              "them)", file=sys.stderr)
        return 2
    try:
        if args.command == "down":
            stopped = down(args.state)
            print(f"slurm_cluster: stopped {', '.join(stopped) or 'nothing (not running)'}")
            return 0
        up(args.state)
    except trust.UntrustedPath as exc:
        print(f"slurm_cluster: error: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:
        print(f"slurm_cluster: {exc}", file=sys.stderr)
        return 1
    print(f"slurm_cluster: one node idle in partition {PARTITION}; use it with\n"
          f"  export SLURM_CONF={args.state / 'slurm.conf'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
