"""scripts/slurm_cluster.py attacked by an unprivileged local user (issue 28).

The cluster runs as root. Before the fix another user could log in to its MariaDB as root over
TCP and write root-owned files, plant a munge key, symlinks or a configuration in its
predictable state folder before `up`, and have `down` load a planted Slurm plugin or signal a
process group of their choosing. Each attack here is made by a real unprivileged account and
must fail with nothing written, loaded or signalled.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from helpers.attacker import ATTACKER, as_attacker, assert_refused

PLANTED_PLUGIN = r"""
#include <stdio.h>
__attribute__((constructor)) static void planted(void) {
    FILE *f = fopen("%s", "w");
    if (f) { fputs("loaded as root\n", f); fclose(f); }
}
"""


def refused(result: subprocess.CompletedProcess, folder: Path, what: str) -> None:
    assert_refused(result, folder, what, program="slurm_cluster")


@pytest.fixture
def bystander() -> Iterator[psutil.Process]:
    """An unrelated process in a process group of its own, which nothing may signal."""
    process = psutil.Popen(["sleep", "300"], start_new_session=True)
    yield process
    process.kill()
    process.wait()


@pytest.fixture
def planted_conf(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A slurm.conf whose PluginDir holds a planted auth_munge.so, and the file that plugin
    makes when loaded. Checked first: scancel with this configuration does load it (its
    controller is a socket that accepts and never answers)."""
    plugins, marker = tmp_path / "plugins", tmp_path / "loaded-as-root"
    plugins.mkdir()
    (plugins / "planted.c").write_text(PLANTED_PLUGIN % marker)
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(plugins / "auth_munge.so"),
                    str(plugins / "planted.c")], check=True)
    with socket.create_server(("127.0.0.1", 0)) as controller:
        conf = (f"ClusterName=planted\nSlurmctldHost=localhost\n"
                f"SlurmctldPort={controller.getsockname()[1]}\nPluginDir={plugins}\n"
                "AuthType=auth/munge\nMessageTimeout=1\n")
        (tmp_path / "control.conf").write_text(conf)
        subprocess.run(["scancel", "--full", "--partition", "bench"], capture_output=True,
                       env={**os.environ, "SLURM_CONF": str(tmp_path / "control.conf")},
                       timeout=60)
        assert marker.exists(), "the planted plugin was not loaded by the control run"
        marker.unlink()
        yield conf, marker


def record(state: Path, conf: str, **daemons: dict) -> None:
    """A record of the daemons `up` started, as `up` writes it, with `conf` as slurm.conf."""
    (state / "slurm.conf").write_text(conf)
    (state / "daemons.json").write_text(json.dumps(
        {"daemons": daemons, "slurm.conf": hashlib.sha256(conf.encode()).hexdigest()}))


def unchanged(path: Path) -> tuple[int, int, int, int]:
    found = path.stat()
    return found.st_ino, found.st_mode, found.st_uid, found.st_mtime_ns


def started(process: psutil.Process) -> dict:
    return {"pid": process.pid, "exe": process.exe(), "create_time": process.create_time()}


def test_another_user_cannot_reach_the_clusters_database(slurm: Path, public: Path) -> None:
    """The reproduction of finding 1: no TCP port, and the socket is in root's folder."""
    mariadbd = psutil.Process(json.loads((slurm / "daemons.json").read_text())
                              ["daemons"]["mariadbd"]["pid"])
    assert mariadbd.net_connections(kind="inet") == []
    outfile = public / "written-by-the-database"
    for reach in (["-S", str(slurm / "mariadb.socket")], ["-h", "127.0.0.1", "-P", "13306"]):
        tried = as_attacker("mariadb", "--no-defaults", *reach, "-u", "root", "-e",
                            f"select 'x' into outfile '{outfile}'", check=False)
        assert tried.returncode != 0 and "Can't connect" in tried.stderr, tried.stderr
    assert not outfile.exists()
    accounts = subprocess.run(["mariadb", "--no-defaults", "-S", str(slurm / "mariadb.socket"),
                               "-u", "root", "-N", "-e",
                               "select user, host, priv from mysql.global_priv;"
                               "select @@skip_networking, @@secure_file_priv"],
                              capture_output=True, text=True, check=True).stdout.splitlines()
    logins = [line.split("\t") for line in accounts[:-1] if "account_locked" not in line]
    assert [(user, host) for user, host, _ in logins] == [("root", "localhost")]
    root_auth = json.loads(logins[0][2])
    assert root_auth["authentication_string"] == "invalid"  # no password matches
    assert root_auth["auth_or"][1]["plugin"] == "unix_socket"
    assert accounts[-1] == f"1\t{slurm / 'db-files'}/"


def test_up_refuses_a_state_folder_another_user_made_first(public: Path, tmp_path: Path,
                                                           slurm_cluster) -> None:
    """Finding 2: the planted key is not used and no planted link is written through."""
    state = public / "slurm"
    as_attacker("mkdir", "-p", str(state / "munge"))
    planted_key = os.urandom(128)
    (public / "key").write_bytes(planted_key)
    as_attacker("cp", str(public / "key"), str(state / "munge" / "munge.key"))
    decoys = {}
    for name in ("slurm.conf", "slurmdbd.conf", "mariadbd.out", "daemons.json"):
        decoy = tmp_path / f"decoy-{name}"
        decoy.write_text("root's own file\n")
        decoys[decoy] = unchanged(decoy)
        as_attacker("ln", "-s", str(decoy), str(state / name))
    as_attacker("ln", "-s", str(tmp_path / "made-by-root"), str(state / "munged.out"))
    result = slurm_cluster("up", state)
    refused(result, state, f"owned by {ATTACKER}")
    for decoy, before in decoys.items():
        assert unchanged(decoy) == before and decoy.read_text() == "root's own file\n"
    assert not (tmp_path / "made-by-root").exists()
    assert (state / "munge" / "munge.key").read_bytes() == planted_key
    assert not [p for p in psutil.process_iter(["cmdline"])
                if str(state) in " ".join(p.info["cmdline"] or ())]


def test_up_refuses_a_state_folder_that_is_a_symlink(public: Path, tmp_path: Path,
                                                     slurm_cluster) -> None:
    victim = tmp_path / "victim"
    victim.mkdir(mode=0o700)
    link = public / "slurm"
    as_attacker("ln", "-s", str(victim), str(link))
    refused(slurm_cluster("up", link), link, "is a symbolic link")
    assert not list(victim.iterdir())


def test_up_refuses_roots_folder_that_others_can_enter(tmp_path: Path, slurm_cluster) -> None:
    state = tmp_path / "slurm"
    state.mkdir()
    state.chmod(0o755)
    refused(slurm_cluster("up", state), state, "its mode is 0755, not 0700")
    assert not list(state.iterdir())


def test_down_on_a_folder_another_user_made_runs_nothing_and_signals_nothing(
        attacker: pwd.struct_passwd, public: Path, planted_conf: tuple[str, Path],
        bystander: psutil.Process, slurm_cluster) -> None:
    """Finding 3, even with a record as good as `up` writes: the bystander as slurmctld and
    slurmd, the planted configuration's hash, and the bystander's pid in slurmd.pid."""
    conf, marker = planted_conf
    state = public / "slurm"
    as_attacker("mkdir", str(state))
    (state / "slurmd.pid").write_text(f"{bystander.pid}\n")
    record(state, conf, slurmctld=started(bystander), slurmd=started(bystander))
    for planted in state.iterdir():
        os.chown(planted, attacker.pw_uid, attacker.pw_gid)
    refused(slurm_cluster("down", state), state, f"owned by {ATTACKER}")
    assert bystander.status() == psutil.STATUS_SLEEPING
    assert not marker.exists()


def test_down_signals_no_process_that_only_has_a_recorded_pid(
        tmp_path: Path, bystander: psutil.Process, slurm_cluster) -> None:
    """In root's own folder: a daemon's pid, since reused by another process, whose executable
    or start time is not the one recorded."""
    state = tmp_path / "slurm"
    state.mkdir(mode=0o700)
    record(state, "# a slurm.conf\n",
           slurmd={**started(bystander), "exe": "/usr/sbin/slurmd-wlm"},
           slurmctld={**started(bystander), "create_time": bystander.create_time() - 60})
    stopped = slurm_cluster("down", state)
    assert stopped.returncode == 0 and "stopped nothing" in stopped.stdout, stopped.stderr
    assert bystander.status() == psutil.STATUS_SLEEPING


def test_down_runs_no_slurm_client_with_a_configuration_up_did_not_write(
        tmp_path: Path, planted_conf: tuple[str, Path], bystander: psutil.Process,
        slurm_cluster) -> None:
    """In root's own folder, slurm.conf replaced after `up`: the recorded daemon (here the
    bystander, started as if by `up`) is stopped, but scancel does not run."""
    conf, marker = planted_conf
    state = tmp_path / "slurm"
    state.mkdir(mode=0o700)
    record(state, "# the slurm.conf up wrote\n", slurmctld=started(bystander))
    (state / "slurm.conf").write_text(conf)
    stopped = slurm_cluster("down", state)
    assert stopped.returncode == 0 and "stopped slurmctld" in stopped.stdout, stopped.stderr
    assert not marker.exists()
    assert not bystander.is_running() or bystander.status() == psutil.STATUS_ZOMBIE
