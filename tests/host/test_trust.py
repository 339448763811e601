"""What lgbench trusts on disk, attacked as an unprivileged local user would (issue 12).

lgbench runs as root; a local user can create folders in /var/tmp and /dev/shm before root's
first run and plant files there. Each attack is made by a real unprivileged account (created
for the session, removed after) and must be refused, or the planted file discarded and
rebuilt, with nothing executed, loaded or written through a link.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from helpers.attacker import ATTACKER, as_attacker, assert_refused
from helpers.lgbench import in_process, within

from harness.appliances import fixed as appliances
from harness.backends.uml import PRELOAD_SOURCE, build_preload
from harness.host import accelerator, trust

PLANTED_LIBRARY = r"""
#include <stdio.h>
#include <unistd.h>
__attribute__((constructor)) static void planted(void) {
    FILE *f = fopen("%s", "w");
    if (f) { fprintf(f, "loaded as uid %%d\n", (int) getuid()); fclose(f); }
}
"""


def lgbench_as_root(cache: Path, *args: str, tmp: Path) -> subprocess.CompletedProcess:
    """One run into tmp/run with the cache under attack (this process is root)."""
    return in_process("runs=1", "warmup=0", *args, f"hydra.run.dir={tmp / 'run'}",
                      **within(tmp, cache=cache))


def test_a_library_planted_where_root_builds_the_uml_preload_is_never_loaded(
        public: Path, tmp_path: Path) -> None:
    """The reproduction of issue 12: the planted library's constructor never runs as root."""
    cache, marker = public / "cache", public / "loaded-as-root"
    source_hash = hashlib.sha256(PRELOAD_SOURCE.read_bytes()).hexdigest()[:12]
    planted = cache / "uml" / f"uml-preload-{source_hash}.so"
    as_attacker("mkdir", "-p", str(planted.parent))
    (public / "planted.c").write_text(PLANTED_LIBRARY % marker)
    as_attacker("gcc", "-shared", "-fPIC", "-o", str(planted), str(public / "planted.c"))
    result = lgbench_as_root(cache, "backend=uml", tmp=tmp_path)
    assert_refused(result, cache, f"owned by {ATTACKER}")
    assert "name a folder of your own" in result.stderr
    assert not marker.exists()
    assert not (tmp_path / "run" / "trials.parquet").exists()


def test_a_kvm_verdict_planted_in_another_users_cache_is_refused(public: Path,
                                                                 tmp_path: Path) -> None:
    cache = public / "cache"
    as_attacker("mkdir", str(cache))
    planted = {accelerator.host_fingerprint(): {"usable": True, "reason": "planted",
                                                "probed": True}}
    (public / "verdict.json").write_text(json.dumps(planted))
    as_attacker("cp", str(public / "verdict.json"), str(cache / "kvm-verdicts.json"))
    with pytest.raises(trust.UntrustedPath, match=f"owned by {ATTACKER}"):
        accelerator.kvm_verdict(cache, timeout_s=1)
    assert_refused(lgbench_as_root(cache, "backend=auto", tmp=tmp_path), cache, "owned by")


def test_a_planted_verdict_file_in_roots_cache_is_discarded_and_probed_again(
        attacker: pwd.struct_passwd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A verdict file that is not root's own (say, from a cache made by an older lgbench)."""
    cache = trust.secure_folder(tmp_path / "cache", private=True)
    verdicts = cache / "kvm-verdicts.json"
    verdicts.write_text(json.dumps(
        {accelerator.host_fingerprint(): {"usable": True, "reason": "planted", "probed": True}}))
    os.chown(verdicts, attacker.pw_uid, attacker.pw_gid)
    probed = accelerator.KvmVerdict(False, "probed for real", probed=True)
    monkeypatch.setattr(accelerator, "dev_kvm_problem", lambda: None)
    monkeypatch.setattr(accelerator, "probe_launch", lambda cache_dir, timeout_s: probed)
    assert accelerator.kvm_verdict(cache, timeout_s=1) == probed
    assert verdicts.stat().st_uid == os.geteuid()
    # The second run trusts its own verdict: no probe.
    monkeypatch.setattr(accelerator, "probe_launch",
                        lambda cache_dir, timeout_s: pytest.fail("probed"))
    assert accelerator.kvm_verdict(cache, timeout_s=1) == probed


def test_a_planted_fixed_appliance_is_refused(public: Path, tmp_path: Path) -> None:
    planted = public / "fixed"
    as_attacker("mkdir", str(planted))
    for name in appliances.FIXED_FILES:
        as_attacker("touch", str(planted / name))
    result = lgbench_as_root(tmp_path / "cache", "backend=fake", "appliance=fixed",
                             f"appliance.dir={planted}", tmp=tmp_path)
    assert_refused(result, planted, f"owned by {ATTACKER}")


def test_a_squatted_shared_memory_folder_is_refused(attacker: pwd.struct_passwd,
                                                    tmp_path: Path) -> None:
    """/dev/shm is writable by everyone: another user can create lgbench's folder first."""
    squatted = Path(f"/dev/shm/lgbench-trust-{os.getpid()}")
    as_attacker("mkdir", "-p", str(squatted / "fixed"))
    try:
        result = lgbench_as_root(tmp_path / "cache", "backend=fake", "appliance=fixed_shm",
                                 f"appliance.dir={squatted / 'fixed'}", tmp=tmp_path)
        assert_refused(result, squatted, f"owned by {ATTACKER}")
    finally:
        shutil.rmtree(squatted)


def test_fixed_appliance_files_that_are_not_roots_are_rebuilt(attacker: pwd.struct_passwd,
                                                             tmp_path: Path) -> None:
    fixed = trust.secure_folder(tmp_path / "fixed")
    for name in appliances.FIXED_FILES:
        (fixed / name).write_text(name)
    assert appliances.fixed_appliance_ready(fixed)
    os.chown(fixed / "kernel", attacker.pw_uid, attacker.pw_gid)
    assert not appliances.fixed_appliance_ready(fixed)
    assert not (fixed / "kernel").exists()  # removed, so the next prepare builds it again


def test_a_prepared_fixed_appliance_is_not_built_again(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    appliance = appliances.FixedAppliance(str(tmp_path / "fixed"))
    monkeypatch.setattr(appliances, "build_fixed",
                        lambda directory: [(directory / n).write_text(n)
                                           for n in appliances.FIXED_FILES])
    appliance.prepare()
    monkeypatch.setattr(appliances, "build_fixed", lambda directory: pytest.fail("rebuilt"))
    appliance.prepare()


def test_a_cache_that_is_a_symlink_to_roots_folder_is_refused(public: Path,
                                                              tmp_path: Path) -> None:
    victim = trust.secure_folder(tmp_path / "victim", private=True)
    link = public / "cache"
    as_attacker("ln", "-s", str(victim), str(link))
    assert_refused(lgbench_as_root(link, "backend=fake", tmp=tmp_path), link,
                   "is a symbolic link")
    assert not list(victim.iterdir())


def test_a_symlink_planted_in_the_cache_never_redirects_a_write(public: Path,
                                                                tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("root's file\n")
    cache = public / "cache"
    as_attacker("mkdir", str(cache))
    as_attacker("ln", "-s", str(victim), str(cache / "kvm-verdicts.json"))
    assert_refused(lgbench_as_root(cache, "backend=auto", tmp=tmp_path), cache, "owned by")
    assert victim.read_text() == "root's file\n"


def test_a_symlink_in_roots_own_cache_is_replaced_not_followed(tmp_path: Path) -> None:
    """However a link got there, reading discards it and writing replaces it."""
    cache = trust.secure_folder(tmp_path / "cache", private=True)
    victim = tmp_path / "victim"
    victim.write_text("root's file\n")
    (cache / "doctor-facts.json").symlink_to(victim)
    assert trust.read_trusted(cache / "doctor-facts.json") is None
    assert not (cache / "doctor-facts.json").is_symlink()
    (cache / "kvm-verdicts.json").symlink_to(victim)
    trust.atomic_write(cache / "kvm-verdicts.json", lambda tmp: Path(tmp).write_text("{}"))
    assert victim.read_text() == "root's file\n"
    assert not (cache / "kvm-verdicts.json").is_symlink()


def test_a_group_writable_cache_is_refused_with_the_fix(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    cache.chmod(0o775)
    result = lgbench_as_root(cache, "backend=fake", tmp=tmp_path)
    assert_refused(result, cache, "writable by group or others (mode 0775)")
    assert "chmod go-w" in result.stderr


def test_a_parent_others_can_write_without_the_sticky_bit_is_refused(tmp_path: Path) -> None:
    parent = tmp_path / "open"
    parent.mkdir()
    parent.chmod(0o777)  # no sticky bit: anyone may rename the cache away and put theirs
    with pytest.raises(trust.UntrustedPath, match=f"its parent {parent} is writable by group"):
        trust.secure_folder(parent / "cache", private=True)
    assert not (parent / "cache").exists()


def test_the_cache_is_made_private_and_per_user(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LGBENCH_CACHE", raising=False)
    assert trust.default_cache_dir() == Path(f"/var/tmp/lgbench-{os.geteuid()}")
    os.umask(0o002)  # a permissive umask changes nothing
    try:
        cache = trust.secure_folder(tmp_path / "a" / "cache", private=True)
    finally:
        os.umask(0o022)
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    assert stat.S_IMODE(cache.parent.stat().st_mode) == 0o755


def test_the_preload_library_is_verified_rebuilt_on_mismatch_and_reused(
        attacker: pwd.struct_passwd, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    library = build_preload(cache)
    assert trust.file_problem(library.stat()) is None
    built = library.read_bytes()
    first = library.stat().st_mtime_ns
    assert build_preload(cache) == library and library.stat().st_mtime_ns == first  # reused
    library.write_bytes(b"not what lgbench built")  # root's own file, wrong content
    assert build_preload(cache).read_bytes() == built
    os.chown(library, attacker.pw_uid, attacker.pw_gid)  # right content, wrong owner
    assert build_preload(cache).stat().st_uid == os.geteuid()


WRAPPER = "#!/bin/sh\necho \"$@\" > {log}\nexec qemu-system-x86_64 \"$@\"\n"


@pytest.mark.parametrize("attack", ["planted by the attacker", "group-writable",
                                    "in the attacker's folder", "a link to the attacker's"])
def test_a_hypervisor_wrapper_others_could_write_is_never_run(attack, attacker, public,
                                                              tmp_path):
    """backend.hv_wrapper: root would exec it for every appliance, so a wrapper anyone but
    root could have written is refused before anything runs."""
    log = tmp_path / "ran"
    if attack == "planted by the attacker":
        wrapper = public / "wrapper.sh"
        as_attacker("sh", "-c", f"printf '{WRAPPER.format(log=log)}' > {wrapper}; "
                                f"chmod 755 {wrapper}")
        expected = f"owned by {ATTACKER}"
    elif attack == "group-writable":
        wrapper = tmp_path / "wrapper.sh"
        wrapper.write_text(WRAPPER.format(log=log))
        wrapper.chmod(0o775)
        expected = "writable by group or others"
    elif attack == "in the attacker's folder":
        folder = public / "bin"
        as_attacker("mkdir", "-m", "755", str(folder))
        wrapper = folder / "wrapper.sh"
        shutil.copy("/bin/true", wrapper)  # root's file, in a folder the attacker owns
        expected = f"is owned by {ATTACKER}"
    else:
        target = public / "target.sh"
        as_attacker("sh", "-c", f"printf '#!/bin/sh\\n' > {target}; chmod 755 {target}")
        wrapper = tmp_path / "wrapper.sh"
        wrapper.symlink_to(target)
        expected = f"owned by {ATTACKER}"
    result = lgbench_as_root(tmp_path / "cache", "backend=tcg", f"backend.hv_wrapper={wrapper}",
                             tmp=tmp_path)
    assert_refused(result, wrapper, "backend.hv_wrapper: will not run")
    assert expected in result.stderr and not log.exists()
    assert not (tmp_path / "run").exists()


def test_roots_own_wrapper_is_accepted_and_a_plain_file_is_not(tmp_path):
    assert trust.executable_problem(Path("/usr/bin/qemu-system-x86_64")) is None
    (tmp_path / "notes").write_text("not a program")
    (tmp_path / "notes").chmod(0o644)
    assert trust.executable_problem(tmp_path / "notes") == "it is not executable"


def test_an_interrupt_after_the_rename_leaves_the_new_file_and_is_raised_as_it_came(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C can land after os.replace has renamed the temporary file (a resumed sweep's
    CI failed so): the interrupt, not a FileNotFoundError from the clean-up, reaches the caller."""
    target = tmp_path / "trials.parquet"
    rename = os.replace

    def renamed_then_interrupted(src: str, dst: Path) -> None:
        rename(src, dst)
        raise KeyboardInterrupt("signal 2")

    monkeypatch.setattr(trust.os, "replace", renamed_then_interrupted)
    with pytest.raises(KeyboardInterrupt):
        trust.write_text(target, "rows")
    assert target.read_text() == "rows"
    assert [p.name for p in tmp_path.iterdir()] == ["trials.parquet"]
