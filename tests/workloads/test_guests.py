"""Guest images: recipe hashing and caching, atomic builds, the CLI, and (marker `appliance`)
real builds inspected by a real appliance."""

from __future__ import annotations

import dataclasses
import io
import os
import signal
import time
from pathlib import Path

import pytest
from helpers import lgbench as cli
from helpers.lgbench import LGBENCH_IMAGES
from PIL import Image

from harness.cli import images as images_cli
from harness.host.processes import referencing
from harness.workloads.guests import apt_sources, debian, recipes, synthetic

appliance = pytest.mark.appliance


def fake_recipe(monkeypatch, name: str, make) -> None:
    """Replace recipe `name`'s build step (its hash stays the same)."""
    replaced = dataclasses.replace(recipes.RECIPES[name], make=make)
    monkeypatch.setitem(recipes.RECIPES, name, replaced)


def write_bytes(target: Path, images_dir: Path, progress, accel: str) -> None:
    target.write_bytes(b"\0" * 4096)


# ---------------------------------------------------------------- fast tests


def test_recipes_include_the_three_guests():
    assert {"debian", "linux-lvm", "no-os"} <= set(recipes.RECIPES)


def test_image_paths_are_keyed_by_the_recipe_hash(tmp_path, monkeypatch):
    path = recipes.image_path("linux-lvm", tmp_path)
    assert path.parent == tmp_path
    assert path.name == f"linux-lvm-{recipes.recipe_hash('linux-lvm')}.img"
    assert path == recipes.image_path("linux-lvm", tmp_path)  # stable
    assert len({recipes.recipe_hash(name) for name in recipes.RECIPES}) == len(recipes.RECIPES)
    monkeypatch.setitem(synthetic.LVM, "hostname", "another-host")
    assert recipes.image_path("linux-lvm", tmp_path) != path  # an input changed
    monkeypatch.undo()
    monkeypatch.setattr(recipes, "RECIPE_FORMAT", recipes.RECIPE_FORMAT + 1)
    assert recipes.image_path("linux-lvm", tmp_path) != path  # the recipe format changed


def test_the_debian_hash_follows_the_mirror(monkeypatch):
    before = recipes.recipe_hash("debian")
    monkeypatch.setattr(debian, "apt_mirror", lambda suite: "http://mirror.example/debian")
    assert recipes.recipe_hash("debian") != before


def test_default_images_dir_follows_lgbench_cache(monkeypatch):
    monkeypatch.setenv("LGBENCH_CACHE", "/srv/cache")
    assert recipes.default_images_dir() == Path("/srv/cache/images")
    monkeypatch.delenv("LGBENCH_CACHE")
    assert recipes.default_images_dir() == Path(f"/var/tmp/lgbench-{os.geteuid()}/images")


def test_an_unknown_recipe_is_a_value_error_listing_the_recipes(tmp_path):
    with pytest.raises(ValueError, match="unknown recipe 'windows'.*debian, linux-lvm, no-os"):
        recipes.build("windows", tmp_path)
    with pytest.raises(ValueError, match="unknown recipe"):
        recipes.image_path("windows", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_resolve_returns_a_path_unchanged_without_building(tmp_path, monkeypatch):
    fake_recipe(monkeypatch, "no-os", lambda *args: pytest.fail("must not build"))
    assert recipes.resolve("/nonexistent/disk.img", tmp_path) == Path("/nonexistent/disk.img")
    assert recipes.resolve("disk.img", tmp_path) == Path("disk.img")


def test_resolve_builds_a_recipe_once_then_uses_the_cache(tmp_path, monkeypatch):
    calls = []

    def make(target, images_dir, progress, accel):
        calls.append(accel)
        progress("working")
        write_bytes(target, images_dir, progress, accel)

    fake_recipe(monkeypatch, "no-os", make)
    lines: list[str] = []
    first = recipes.resolve("no-os", tmp_path, log=lines.append)
    assert first == recipes.image_path("no-os", tmp_path) and first.stat().st_size == 4096
    assert any("working" in line for line in lines) and "built" in lines[-1]
    assert recipes.resolve("no-os", tmp_path, log=lines.append) == first
    assert calls == ["auto"]
    assert [p.name for p in tmp_path.iterdir()] == [first.name]  # no temp file left


@pytest.mark.parametrize("failure", [RuntimeError("mkfs failed"), KeyboardInterrupt()])
def test_a_failed_build_leaves_nothing_behind(tmp_path, monkeypatch, failure):
    def make(target, images_dir, progress, accel):
        target.write_bytes(b"half an image")
        raise failure

    fake_recipe(monkeypatch, "linux-lvm", make)
    with pytest.raises(type(failure)):
        recipes.build("linux-lvm", tmp_path)
    assert list(tmp_path.iterdir()) == []
    assert recipes.list_images(tmp_path) == []


def test_list_and_remove(tmp_path, monkeypatch):
    fake_recipe(monkeypatch, "no-os", write_bytes)
    fake_recipe(monkeypatch, "linux-lvm", write_bytes)
    recipes.build("no-os", tmp_path)
    current = recipes.build("linux-lvm", tmp_path)
    stale = tmp_path / "linux-lvm-000000000000.img"
    stale.write_bytes(b"old")
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "sources" / "linux-lvm").mkdir(parents=True)
    listed = {(i["name"], i["hash"]): i for i in recipes.list_images(tmp_path)}
    assert set(listed) == {("no-os", recipes.recipe_hash("no-os")),
                           ("linux-lvm", recipes.recipe_hash("linux-lvm")),
                           ("linux-lvm", "000000000000")}
    entry = listed[("linux-lvm", recipes.recipe_hash("linux-lvm"))]
    assert entry["path"] == str(current) and entry["size_bytes"] == 4096 and entry["current"]
    assert entry["built_at"].startswith(time.strftime("%Y", time.gmtime()))
    assert not listed[("linux-lvm", "000000000000")]["current"]
    assert recipes.remove("linux-lvm", tmp_path) is True
    assert not current.exists() and not stale.exists()
    assert not (tmp_path / "sources" / "linux-lvm").exists()
    assert [i["name"] for i in recipes.list_images(tmp_path)] == ["no-os"]
    assert recipes.remove("linux-lvm", tmp_path) is False


def test_apt_mirror_reads_one_line_and_deb822_sources(tmp_path):
    sources_dir = tmp_path / "sources.list.d"
    sources_dir.mkdir()
    sources_list = tmp_path / "sources.list"
    (sources_dir / "debian.sources").write_text(
        "Types: deb\n# a comment\nURIs: http://security.example/debian-security\n"
        "Suites: bookworm-security\nComponents: main\n\n"
        "Types: deb deb-src\nURIs: http://mirror.example/debian/\n"
        "Suites: bookworm bookworm-updates\nComponents: main\n")
    assert apt_sources.apt_mirror("bookworm", sources_list, sources_dir) == \
        "http://mirror.example/debian"
    # A one-line entry naming the suite wins; options in brackets are skipped.
    sources_list.write_text("# deb http://commented.example/debian bookworm main\n"
                            "deb [arch=amd64 signed-by=/k.gpg] http://one.example/debian "
                            "bookworm main\n")
    assert apt_sources.apt_mirror("bookworm", sources_list, sources_dir) == "http://one.example/debian"
    # Another release's main archive serves the suite too; the security archive does not.
    assert apt_sources.apt_mirror("trixie", sources_list, sources_dir) == "http://one.example/debian"
    sources_list.unlink()
    (sources_dir / "debian.sources").write_text(
        "Types: deb\nURIs: http://security.example/debian-security\nSuites: trixie-security\n")
    found = apt_sources.apt_mirror("bookworm", sources_list, sources_dir)
    assert found == apt_sources.FALLBACK_MIRROR


def test_the_icon_is_a_png_inspection_accepts():
    data = synthetic.icon_png(synthetic.LVM["icon_px"])
    with Image.open(io.BytesIO(data)) as icon:
        icon.load()
        assert icon.format == "PNG" and icon.size == (32, 32)
        assert icon.getpixel((16, 16)) == (215, 10, 83, 255) and icon.getpixel((0, 0))[3] == 0
    assert len(data) < 2048  # libguestfs's limit for a Debian icon


def test_the_dpkg_database_lists_every_package_installed():
    status = synthetic.dpkg_status(synthetic.DPKG_PACKAGES)
    names = synthetic.DPKG_PACKAGES.split()[::2]
    assert len(names) >= 30
    assert status.count("Status: install ok installed\n") == len(names)
    assert f"Package: {names[-1]}\n" in status and "\n\nPackage: " in status
    assert status.endswith("\n\n")  # libguestfs drops a last stanza without a blank line


def test_a_failing_command_reports_its_last_line_and_first_stages(tmp_path):
    lines: list[str] = []
    script = ("echo 'I: Retrieving a'; echo 'I: Retrieving b'; echo 'I: Validating a'; "
              "echo noise; echo 'E: no space left'; exit 3")
    with pytest.raises(RuntimeError, match=r"sh failed \(exit 3\): E: no space left"):
        debian._run_logged(["sh", "-c", script], lines.append)
    assert lines == ["sh: Retrieving a", "sh: Validating a"]


def test_cli_errors_are_one_line_with_exit_2(tmp_path, capsys):
    assert images_cli.main(["build", "windows", "--images-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown recipe 'windows'" in err
    assert images_cli.main(["remove", "no-os", "--images-dir", str(tmp_path)]) == 2
    assert "no image of 'no-os'" in capsys.readouterr().err


def test_cli_build_list_remove_recipes(tmp_path, monkeypatch, capsys):
    fake_recipe(monkeypatch, "no-os", write_bytes)
    assert images_cli.main(["build", "no-os", "--images-dir", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == str(recipes.image_path("no-os", tmp_path)) and "built" in err
    assert images_cli.main(["build", "no-os", "--images-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip().endswith("(cached)")
    assert images_cli.main(["list", "--images-dir", str(tmp_path)]) == 0
    assert str(recipes.image_path("no-os", tmp_path)) in capsys.readouterr().out
    assert images_cli.main(["recipes", "--images-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "no-os" in out and "built" in out and "debian" in out and "not built" in out
    assert images_cli.main(["remove", "no-os", "--images-dir", str(tmp_path)]) == 0
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- real builds, real inspection


def inspect(*paths: Path) -> dict:
    """What a real appliance's inspection says about its disks, /dev/sda.. in that order (the
    one root, if one, mounted as inspection says), and each partition's filesystem type."""
    import guestfs

    g = guestfs.GuestFS(python_return_dict=True, close_on_exit=False)
    try:
        g.set_backend("direct")
        g.set_backend_settings(["force_tcg"])
        for path in paths:
            g.add_drive_opts(str(path), readonly=True, format="raw")
        g.launch()
        roots = g.inspect_os()
        found: dict = {"roots": roots,
                       "partitions": {p: g.vfs_type(p) for p in g.list_partitions()}}
        if len(roots) == 1:
            root = roots[0]
            mountpoints = g.inspect_get_mountpoints(root)
            for mountpoint in sorted(mountpoints, key=len):
                g.mount_ro(mountpoints[mountpoint], mountpoint)
            found.update(
                type=g.inspect_get_type(root), distro=g.inspect_get_distro(root),
                major=g.inspect_get_major_version(root), hostname=g.inspect_get_hostname(root),
                product=g.inspect_get_product_name(root), arch=g.inspect_get_arch(root),
                mountpoints=mountpoints,
                applications=[a["app2_name"] for a in g.inspect_list_applications2(root)],
                icon=g.inspect_get_icon(root, favicon=False, highquality=False))
            g.umount_all()
        return found
    finally:
        g.close()


def timed_build(name: str, images_dir: Path) -> tuple[Path, float]:
    start = time.monotonic()
    path = recipes.build(name, images_dir, accel="tcg")
    seconds = time.monotonic() - start
    print(f"\nbuild of {name}: {seconds:.1f} s")
    return path, seconds


@pytest.fixture(scope="module")
def lvm_image(guest_images) -> Path:
    return timed_build("linux-lvm", guest_images)[0]


@pytest.fixture(scope="module")
def no_os_image(guest_images) -> Path:
    return timed_build("no-os", guest_images)[0]


@appliance
def test_the_synthetic_lvm_guest_is_inspected_as_debian_12_and_no_os_has_no_root(
        lvm_image, no_os_image):
    """Both recipes in one appliance: the LVM guest is /dev/sda, the no-os disk /dev/sdb,
    whose ext4 partition inspection sees and finds no operating system on."""
    found = inspect(lvm_image, no_os_image)
    assert found["partitions"]["/dev/sdb1"] == "ext4"
    assert found["roots"] == [f"/dev/{synthetic.LVM['vg']}/root"]
    assert (found["type"], found["distro"], found["major"]) == ("linux", "debian", 12)
    assert found["hostname"] == synthetic.LVM["hostname"] and found["arch"] == "x86_64"
    assert found["product"].startswith("12")
    assert set(found["mountpoints"]) == {"/", "/boot", "/home", "/var"}
    assert found["mountpoints"]["/boot"] == "/dev/sda1"
    assert found["mountpoints"]["/var"] == f"/dev/{synthetic.LVM['vg']}/var"
    assert found["applications"] == synthetic.DPKG_PACKAGES.split()[::2]
    assert found["icon"] == synthetic.icon_png(synthetic.LVM["icon_px"])


@appliance
@pytest.mark.xdist_group("debian")  # before the operations tests, which use this guest
def test_the_debootstrapped_debian_is_inspected_with_its_packages(guest_images):
    path, seconds = timed_build("debian", guest_images)
    assert seconds < 900, f"the debian build took {seconds:.0f} s"
    found = inspect(path)
    assert len(found["roots"]) == 1
    assert (found["type"], found["distro"], found["major"]) == ("linux", "debian", 12)
    assert found["hostname"] == debian.DEBIAN["hostname"]
    assert found["mountpoints"] == {"/": "/dev/sda1"}
    assert len(found["applications"]) > 50
    assert {"dpkg", "base-files", "libc6"} <= set(found["applications"])


@appliance
def test_cli_lists_built_images_and_a_second_build_is_cached(lvm_image, no_os_image):
    images_dir = str(lvm_image.parent)
    # The user's own LGBENCH_CACHE (cache=None): --images-dir names the images folder.
    listed = cli.lgbench("list", "--images-dir", images_dir, program=LGBENCH_IMAGES,
                         cache=None, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert str(lvm_image) in listed.stdout and str(no_os_image) in listed.stdout
    start = time.monotonic()
    again = cli.lgbench("build", "linux-lvm", "--images-dir", images_dir,
                        program=LGBENCH_IMAGES, cache=None, timeout=60)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == f"{lvm_image}  (cached)"
    assert time.monotonic() - start < 10


def qemus_on(images_dir: Path) -> list[int]:
    """The qemu processes whose command line names a disk in images_dir (the hidden temp
    disk of a build)."""
    return [p.pid for p in referencing(str(images_dir)) if "qemu" in p.name()]


@appliance
def test_ctrl_c_during_a_build_ends_the_appliance_and_leaves_nothing(tmp_path_factory):
    images_dir = tmp_path_factory.mktemp("interrupted")
    proc = cli.start("build", "no-os", "--images-dir", str(images_dir), "--accel", "tcg",
                     program=LGBENCH_IMAGES, cache=None, start_new_session=True)
    try:
        assert "launching an appliance" in proc.stderr.readline()
        deadline = time.monotonic() + 30
        while not qemus_on(images_dir) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert qemus_on(images_dir), "no qemu started on the image"
        os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C does
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 130, err
    assert "interrupted; nothing left behind" in err and "Traceback" not in err
    assert list(images_dir.iterdir()) == []
    assert qemus_on(images_dir) == []
