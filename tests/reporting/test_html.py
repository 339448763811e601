"""report.html rendered by a real browser (Debian's headless chromium): its plots decode, its
tables and sections show, and it needs nothing from outside the file."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from pathlib import Path

import psutil
import pytest
from helpers.rows import noisy, rows, store_run
from PIL import Image

from harness.cli.report import main

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--host-resolver-rules=MAP * ~NOTFOUND"]  # a page that fetched anything would fail

# Test-only: after load, the page writes what the browser made of it into the DOM, which
# --dump-dom then prints: each image's decoded width, and the tables and headings shown.
PROBE = """<script>
window.addEventListener("load", () => {
  const probe = document.createElement("pre");
  probe.id = "probe";
  probe.textContent = JSON.stringify({
    images: [...document.images].map(i => ({alt: i.alt, complete: i.complete,
                                            width: i.naturalWidth})),
    tables: [...document.querySelectorAll("table")].map(t => t.rows.length),
    headings: [...document.querySelectorAll("h2")].map(h => h.textContent),
    headline: [...document.querySelector("ul").querySelectorAll("li")].map(l => l.textContent)});
  document.body.appendChild(probe);
});
</script>
"""


def chromium(profile: Path, *args: str, timeout: float = 120) -> str:
    """Run headless chromium with a fresh profile; every process it started has ended on
    return (the whole session is killed on a timeout)."""
    profile.mkdir()
    process = subprocess.Popen([str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", *args],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True, stdin=subprocess.DEVNULL)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise AssertionError(f"chromium did not finish within {timeout} s") from None
    finally:
        left = [p for p in psutil.process_iter(["cmdline", "status"])
                if p.info["status"] != psutil.STATUS_ZOMBIE
                and any(str(profile) in a for a in p.info["cmdline"] or ())]
        for p in left:
            p.kill()
    assert not left, f"chromium processes outlived it: {[p.pid for p in left]}"
    assert process.returncode == 0, err[-2000:]
    return out


def probe(page: Path, html: str, profile: Path) -> dict:
    page.write_text(html.replace("</body>", PROBE + "</body>"))
    dom = chromium(profile, "--virtual-time-budget=10000", "--dump-dom", page.as_uri())
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert found, dom[-2000:]
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory) -> Path:
    """The report of two stored runs, tcg and libvirt, merged and compared."""
    tmp = tmp_path_factory.mktemp("html")
    a = store_run(tmp / "tcg", rows("tcg", noisy(10, 5, 1)))
    b = store_run(tmp / "libvirt", rows("libvirt", noisy(13, 5, 2)), host="host-b")
    assert main([str(a), str(b), "--out", str(tmp / "out")]) == 0
    return tmp / "out"


@pytest.fixture(scope="module")
def baseline_dir(tmp_path_factory) -> Path:
    """The report of one baseline run, as `lgbench` leaves it and `lgbench-report` redoes it."""
    run = store_run(tmp_path_factory.mktemp("baseline") / "tcg", rows("tcg", noisy(10, 8, 3)))
    assert main([str(run)]) == 0
    return run


def test_a_baseline_report_leads_with_the_answer_then_plots_and_tables(baseline_dir, tmp_path):
    shown = probe(tmp_path / "page.html", (baseline_dir / "report.html").read_text(),
                  tmp_path / "profile")
    assert re.match(r"tcg/cached-hot/launch/p1: launch\+close [\d.]+ s \(95% CI [\d.]+-[\d.]+ s\)",
                    shown["headline"][0]), shown["headline"]
    assert sorted(i["alt"] for i in shown["images"]) == ["times"]  # every trial ok: no status
    assert all(i["complete"] and i["width"] > 100 for i in shown["images"])
    assert shown["headings"][:2] == ["Summary", "The performance guide's expectation"]
    shot = tmp_path / "shot.png"
    chromium(tmp_path / "shot-profile", f"--screenshot={shot}", "--window-size=1280,2000",
             "--virtual-time-budget=10000", (baseline_dir / "report.html").as_uri())
    with Image.open(shot) as image:
        assert len(image.convert("RGB").getcolors(maxcolors=1_000_000) or []) > 100


def test_chromium_shows_the_plots_and_tables(report_dir, tmp_path):
    html = (report_dir / "report.html").read_text()
    markdown = (report_dir / "report.md").read_text()
    shown = probe(tmp_path / "page.html", html, tmp_path / "profile")
    plots = sorted(p.stem for p in (report_dir / "plots").glob("*.png"))
    assert sorted(i["alt"] for i in shown["images"]) == plots
    for image in shown["images"]:
        assert image["complete"] and image["width"] > 100, image
    # Every markdown table, then the hosts table (one row per host, plus its header).
    markdown_tables = len(re.findall(r"^\|[-:| ]+\|$", markdown, re.M))
    assert len(shown["tables"]) == markdown_tables + 1
    assert shown["tables"][-1] == 3
    assert {"Summary", "The performance guide's expectation", "Comparison by backend",
            "Hosts and versions"} <= set(shown["headings"])


def test_a_broken_image_is_caught_by_the_same_check(report_dir, tmp_path):
    """The probe can fail: an image whose bytes are damaged decodes to width 0."""
    html = (report_dir / "report.html").read_text()
    broken = re.sub(r"(data:image/svg\+xml;base64,)PD94", r"\1AAAA", html, count=1)
    shown = probe(tmp_path / "page.html", broken, tmp_path / "profile")
    assert [i["width"] for i in shown["images"]].count(0) == 1


def test_the_screenshot_is_not_blank(report_dir, tmp_path):
    shot = tmp_path / "shot.png"
    chromium(tmp_path / "profile", f"--screenshot={shot}", "--window-size=1280,4000",
             "--virtual-time-budget=10000", (report_dir / "report.html").as_uri())
    with Image.open(shot) as image:
        assert image.size == (1280, 4000)
        colors = image.convert("RGB").getcolors(maxcolors=1_000_000)
    assert colors is not None and len(colors) > 100  # text, tables and plots, not one fill
