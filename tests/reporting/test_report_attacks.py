"""lgbench-report attacked as an unprivileged local user would (issue 28, findings 5 and 6).

lgbench-report runs as root on runs anyone may have written or copied: a run folder (or --out)
in another user's folder, links planted where it writes figures, pyperf.json or the report,
and text in the rows and metadata made to become HTML or to pull a root-only file into the
world-readable report.html. Each attack is made by a real unprivileged account and must be
refused in one line, or shown as plain text, with nothing written through a link and nothing
embedded that this report did not draw.
"""

from __future__ import annotations

import base64
import html
import os
import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import markdown
import numpy as np
import pytest
from helpers.attacker import ATTACKER, as_attacker, assert_refused
from helpers.rows import noisy, rows, store_run, trial

from harness.cli.report import main
from harness.host import trust
from harness.reporting import html as report_html
from harness.results import store

DECOY = b"root's own file, never to be overwritten\n"
SECRET = b"ROOT-ONLY-SECRET " * 6  # 102 bytes: its base64 is the start of any encoding of it


def report(capsys: pytest.CaptureFixture[str], *argv: object) -> subprocess.CompletedProcess:
    """lgbench-report in this process, as the CompletedProcess assert_refused reads."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(argv, code, out, err)


def root_file(path: Path, data: bytes, mode: int = 0o644) -> Path:
    trust.secure_folder(path.parent)
    path.write_bytes(data)
    path.chmod(mode)
    return path


@pytest.fixture
def decoy(tmp_path: Path) -> Path:
    return root_file(tmp_path / "root" / "decoy", DECOY)


@pytest.fixture
def stored(public: Path) -> Path:
    """Root's run where the attacker can read it, to copy into a folder of its own."""
    return store_run(public / "stored", rows("fake", noisy(10, 6, 1)))


def attackers_copy(stored: Path, public: Path) -> Path:
    """The run copied into a folder of the attacker's (everything in it the attacker's)."""
    run = public / "attacker" / "run"
    as_attacker("mkdir", str(run.parent))
    as_attacker("cp", "-r", str(stored), str(run))
    return run


def test_a_run_in_another_users_folder_is_refused_and_its_plot_links_left_alone(
        stored: Path, public: Path, decoy: Path, capsys) -> None:
    run = attackers_copy(stored, public)
    as_attacker("mkdir", str(run / "plots"))
    for name in ("times.png", "times.svg", "status.png"):
        as_attacker("ln", "-s", str(decoy), str(run / "plots" / name))
    as_attacker("ln", "-s", str(decoy), str(run / "report.md"))
    assert_refused(report(capsys, run), run, f"owned by {ATTACKER}", program="lgbench-report")
    assert decoy.read_bytes() == DECOY
    assert not (run / "summary.csv").exists()


def test_a_plots_link_to_a_root_folder_gets_nothing_written_there(
        stored: Path, public: Path, tmp_path: Path, capsys) -> None:
    target = trust.secure_folder(tmp_path / "root-folder")
    root_file(target / "kept", DECOY)
    run = attackers_copy(stored, public)
    as_attacker("ln", "-s", str(target), str(run / "plots"))
    assert_refused(report(capsys, run), run, f"owned by {ATTACKER}", program="lgbench-report")
    # The same link in a run root copied into a folder of its own (cp -r keeps links).
    copied = tmp_path / "copied"
    subprocess.run(["cp", "-r", str(run), str(copied)], check=True)
    assert (copied / "plots").is_symlink() and copied.stat().st_uid == os.geteuid()
    assert_refused(report(capsys, copied), copied / "plots", "is a symbolic link",
                   program="lgbench-report")
    assert sorted(p.name for p in target.iterdir()) == ["kept"]
    assert (target / "kept").read_bytes() == DECOY


def test_out_in_another_users_folder_is_refused_and_its_pyperf_link_left_alone(
        stored: Path, public: Path, decoy: Path, tmp_path: Path, capsys) -> None:
    out = public / "out"
    as_attacker("mkdir", str(out))
    as_attacker("ln", "-s", str(decoy), str(out / "pyperf.json"))
    result = report(capsys, stored, "--out", out, "--export", "pyperf")
    assert_refused(result, out, f"owned by {ATTACKER}", program="lgbench-report")
    as_attacker("ln", "-s", str(decoy), str(out / "baseline-check.csv"))
    result = report(capsys, "--baseline", stored, "--candidate", stored, "--out", out)
    assert_refused(result, out, f"owned by {ATTACKER}", program="lgbench-report")
    assert decoy.read_bytes() == DECOY
    # Nor is a folder open to everyone used.
    shared = public / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    result = report(capsys, stored, "--out", shared, "--export", "pyperf")
    assert_refused(result, shared, "writable by group or others", program="lgbench-report")
    assert not (shared / "pyperf.json").exists()
    # Nor a link the attacker made to a folder of root's.
    target = trust.secure_folder(tmp_path / "root-folder")
    link = public / "link"
    as_attacker("ln", "-s", str(target), str(link))
    result = report(capsys, stored, "--out", link, "--export", "pyperf")
    assert_refused(result, link, "is a symbolic link", program="lgbench-report")
    assert not any(target.iterdir())


def test_links_left_in_roots_own_run_are_replaced_not_written_through(tmp_path: Path,
                                                                      decoy: Path) -> None:
    """A run folder of root's own that holds links (copied with them): every report file is
    written to a new file renamed over the link."""
    run = store_run(tmp_path / "run", rows("fake", noisy(10, 6, 1)))
    trust.secure_folder(run / "plots")
    names = ["plots/times.png", "plots/times.svg", "report.md", "report.html", "summary.csv",
             "pyperf.json"]
    for name in names:
        (run / name).symlink_to(decoy)
    assert main([str(run)]) == 0
    assert main([str(run), "--export", "pyperf"]) == 0  # the export alone: no report again
    assert decoy.read_bytes() == DECOY
    for name in names:
        assert not (run / name).is_symlink() and (run / name).stat().st_size > 0, name
    assert (run / "plots" / "times.png").read_bytes().startswith(b"\x89PNG")
    assert (run / "plots" / "times.svg").read_bytes().lstrip().startswith(b"<?xml")


class Page(HTMLParser):
    """The tags of a page, their attributes, and the text it shows."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(page)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


REPORT_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "ul",
               "li", "code", "strong", "em", "table", "thead", "tbody", "tr", "th", "td", "img",
               "blockquote"}


@pytest.fixture
def planted(public: Path, tmp_path: Path) -> tuple[Path, Path]:
    """The attacker's folder with leak.png, and leak.svg linked to a root-only file."""
    secret = root_file(tmp_path / "root" / "secret", SECRET, mode=0o600)
    folder = public / "attacker"
    as_attacker("mkdir", str(folder))
    as_attacker("cp", "/dev/null", str(folder / "leak.png"))
    as_attacker("ln", "-s", str(secret), str(folder / "leak.svg"))
    return folder, secret


def hostile_run(run: Path, folder: Path, secret: Path) -> dict[str, str]:
    """A run whose cell, error, accelerator and host facts are made to become markup."""
    text = {
        "cell": f'fake <img src="{folder}/leak.png">',
        "error": f"<script>alert(1)</script> ![x]({secret}) [click](javascript:alert(1))",
        "accel": "<b>tcg</b>",
        "hostname": f'<img src="{folder}/leak.png">',
        "cpu": f"![cpu]({folder}/leak.png) `<i>x</i>` *",
        "kernel": "6.1` <script>alert(2)</script> `",
    }
    trials = [trial(cell=text["cell"], backend="fake", accel_effective=text["accel"],
                    repetition=i, total_s=v) for i, v in enumerate(noisy(10, 6, 1))]
    trials.append(trial(cell=text["cell"], backend="fake", repetition=6, status="error",
                        error=text["error"], total_s=np.nan, launch_s=np.nan))
    store_run(run, trials, host=text["hostname"])
    metadata = store.read_json(run / store.METADATA_FILE)
    metadata["host"].update(cpu_model=text["cpu"], kernel=text["kernel"])
    store.write_json(run / store.METADATA_FILE, metadata)
    return text


def assert_nothing_leaked(page: str, secret: Path) -> None:
    encoded = base64.b64encode(SECRET).decode()
    assert encoded[:40] not in page and "ROOT-ONLY-SECRET" not in page
    assert str(secret) not in re.findall(r'src="([^"]*)"', page)


def test_text_from_rows_and_metadata_shows_as_text_and_embeds_nothing(
        planted: tuple[Path, Path], tmp_path: Path) -> None:
    folder, secret = planted
    run = tmp_path / "run"
    text = hostile_run(run, folder, secret)
    assert main([str(run)]) == 0
    written = (run / "report.md").read_text()
    # No tag, comment or declaration outside code spans (whose text markdown shows as it is).
    assert not re.search(r"<[A-Za-z/!?]", re.sub(r"(`+)(?!`).*?(?<!`)\1(?!`)", "", written))
    # report.md read by any markdown viewer (raw HTML on): still no tag from the data.
    viewed = Page(markdown.markdown(written, extensions=["tables"]))
    assert {tag for tag, _ in viewed.tags} <= REPORT_TAGS - {"html", "head", "body"}
    assert [a["src"] for tag, a in viewed.tags if tag == "img"] == ["plots/times.png",
                                                                    "plots/status.png"]
    page = (run / "report.html").read_text()
    shown = Page(page)
    assert {tag for tag, _ in shown.tags} <= REPORT_TAGS | {"nav", "a"}  # and the contents:
    sections = {a.get("id") for tag, a in shown.tags if tag == "h2"}  # links within the page
    assert all(a["href"].startswith("#") and a["href"][1:] in sections
               for tag, a in shown.tags if tag == "a")
    images = [a for tag, a in shown.tags if tag == "img"]
    assert sorted(a["alt"] for a in images) == ["status", "times"]
    assert all(a["src"].startswith("data:image/svg+xml;base64,") for a in images)
    for name in ("cell", "error", "accel", "hostname", "cpu"):
        assert any(text[name] in chunk for chunk in shown.text), name
    assert any(text["kernel"].replace("`", "") in chunk.replace("`", "")
               for chunk in shown.text)
    assert "<title>lgbench report</title>" in page
    assert_nothing_leaked(page, secret)


def test_raw_html_and_foreign_images_in_report_md_still_show_as_text(
        planted: tuple[Path, Path], tmp_path: Path) -> None:
    """Defence in depth: should raw HTML or an image reach report.md after all, the page shows
    it as text and embeds only figures of its own plots/, read without following a link."""
    folder, secret = planted
    out = trust.secure_folder(tmp_path / "out")
    plots = trust.secure_folder(out / "plots")
    root_file(plots / "times.svg", b'<svg xmlns="http://www.w3.org/2000/svg"/>')
    (plots / "linked.svg").symlink_to(secret)
    lines = [f'<img src="{folder}/leak.png">', "<script>alert(1)</script>",
             f"![abs]({folder}/leak.png)", f"![up](plots/../../{secret.name})",
             "![other](plots/other.png)", "![linked](plots/linked.png)",
             "[link](javascript:alert(1)) <http://example.com>", "![times](plots/times.png)"]
    page = report_html.render("# lgbench report\n\n" + "\n\n".join(lines), out, [],
                              ["times.png", "linked.png"])
    shown = Page(page)
    assert "script" not in {tag for tag, _ in shown.tags}
    assert "a" not in {tag for tag, _ in shown.tags}
    images = [a for tag, a in shown.tags if tag == "img"]
    assert [a["alt"] for a in images] == ["times"]
    assert images[0]["src"] == "data:image/svg+xml;base64," + base64.b64encode(
        b'<svg xmlns="http://www.w3.org/2000/svg"/>').decode()
    notes = [t for t in shown.text if t.startswith("(plot not available: ")]
    assert notes == [f"(plot not available: {src})" for src in (
        f"{folder}/leak.png", f"plots/../../{secret.name}", "plots/other.png",
        "plots/linked.png")]
    assert f'<img src="{folder}/leak.png">' in shown.text
    assert "<script>alert(1)</script>" in shown.text
    assert html.escape("<script>alert(1)</script>") in page
    assert_nothing_leaked(page, secret)


def test_links_in_a_run_never_bring_a_root_only_file_into_the_report(
        stored: Path, public: Path, tmp_path: Path, capsys) -> None:
    """A run copied by root with `cp -r` keeps the attacker's links: its metadata.json linked
    to a root-only JSON file, a job folder linked to root's private run. Neither is read."""
    secret = root_file(tmp_path / "private" / "secret.json",
                       b'{"host": {"hostname": "ROOT-ONLY-SECRET"}}', mode=0o600)
    private_run = store_run(tmp_path / "private" / "run", rows("fake", noisy(10, 6, 2)))
    (private_run / "metadata.json").write_text('{"host": {"hostname": "ROOT-PRIVATE-RUN"}}')
    sweep = attackers_copy(stored, public).parent / "sweep"
    as_attacker("mkdir", str(sweep))
    as_attacker("cp", "-r", str(stored), str(sweep / "0"))
    as_attacker("ln", "-sf", str(secret), str(sweep / "0" / "metadata.json"))
    as_attacker("ln", "-s", str(private_run), str(sweep / "1"))
    copied = tmp_path / "copied"
    subprocess.run(["cp", "-r", str(sweep), str(copied)], check=True)  # as root: links kept
    out = tmp_path / "out"
    result = report(capsys, copied, "--out", out)
    assert_refused(result, copied / "0" / "metadata.json", "is a symbolic link",
                   program="lgbench-report")
    found = b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file())
    assert b"ROOT-ONLY-SECRET" not in found and b"ROOT-PRIVATE-RUN" not in found


def test_terminal_escapes_in_a_run_never_reach_the_terminal(tmp_path: Path, capsys) -> None:
    """A cell label that would retitle root's terminal and move its cursor is printed inert."""
    escape = "evil\x1b]0;PWNED\x07\x1b[31mred\x1b[1A\x9b2J"
    run = store_run(tmp_path / "run", rows(escape, noisy(10, 6, 3)))
    result = report(capsys, run)
    assert result.returncode == 0, result.stderr
    printed = result.stdout + result.stderr
    assert "evil" in printed and not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", printed)
    assert "\x1b" not in (run / "report.md").read_text()
