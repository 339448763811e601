"""report.md as one self-contained report.html: a file to open in any browser, mail or archive,
with nothing to fetch (the plots are embedded as data: URIs) and the hosts and versions the
numbers came from in one table.

report.md escapes what comes from rows and metadata (harness.reporting.text); the page does not
rely on that alone: markdown's raw HTML and links are off, so anything that slips through shows
as text, and the only images embedded are the figures this report saved into its own plots/,
read back without following a link (lgbench-report runs as root on runs other users may have
left, and report.html is readable by everyone)."""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Collection
from pathlib import Path
from typing import Any

import markdown
import pandas as pd

from harness.host import trust
from harness.plotting.save import PLOTS_DIR
from harness.results import store

HTML_FILE = "report.html"
# Python-Markdown's raw HTML (block and inline) and its links (inline, reference, automatic):
# off, so such text shows as it is written; the report links to nothing.
UNSAFE_BLOCKS = ("html_block",)
UNSAFE_INLINES = ("html", "link", "reference", "short_reference", "autolink", "automail")
IMG_TAG = re.compile(r"<img\b[^>]*>")
SRC_ATTR = re.compile(r'\bsrc="([^"]*)"')
H2_TAG = re.compile(r'<h2 id="([\w-]+)">(.*?)</h2>')  # ids from the toc extension's slugs

STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 80em; padding: 0 1em;
       color: #222; line-height: 1.4; }
h1, h2, h3 { border-bottom: 1px solid #ddd; padding-bottom: .2em; }
table { border-collapse: collapse; margin: 1em 0; font-size: 90%; display: block;
        overflow-x: auto; }
th, td { border: 1px solid #ccc; padding: .25em .6em; }
th { background: #f0f0f0; }
tr:nth-child(even) td { background: #fafafa; }
code { background: #f4f4f4; padding: 0 .2em; }
blockquote { border-left: 4px solid #ccc; margin-left: 0; padding-left: 1em; color: #555; }
img { max-width: 100%; display: block; margin: 1em 0; border: 1px solid #eee; }
nav.contents { background: #f7f7f7; border: 1px solid #ddd; padding: .5em 1em; }
nav.contents ul { margin: .3em 0; columns: 2; }
"""


def _embed(tag: str, out_dir: Path, figures: Collection[str]) -> str:
    """An <img> of a figure this report saved (`plots/<name>`, one of `figures`), pointing at
    the bytes of the SVG saved beside it instead; any other image becomes a note, so the page
    shows no file it did not make and fetches nothing."""
    src = SRC_ATTR.search(tag)
    named = html.unescape(src.group(1)) if src else ""
    folder, _, name = named.partition("/")
    data = None
    if folder == PLOTS_DIR and name in figures:
        data = trust.read_own((out_dir / PLOTS_DIR / name).with_suffix(".svg"))
    if data is None:
        return f"<p><em>(plot not available: {html.escape(named)})</em></p>"
    encoded = base64.b64encode(data).decode("ascii")
    return tag.replace(src.group(0), f'src="data:image/svg+xml;base64,{encoded}"')


def _host_row(meta: dict[str, Any]) -> dict[str, Any]:
    host = meta.get("host", {})
    versions = host.get("versions", {})
    memory = host.get("memory_bytes")
    row = {"host": host.get("hostname"), "CPU": host.get("cpu_model"),
           "cores": host.get("cores"),
           "memory": f"{memory / 2**30:.1f} GiB" if memory else None,
           "kernel": host.get("kernel"), "virtualization": host.get("virtualization"),
           "KVM": meta.get("backend", {}).get("kvm_verdict") or "not probed",
           "python": host.get("python"), **versions}
    return {name: "" if value is None else str(value) for name, value in row.items()}


def hosts_table(metadata: list[dict[str, Any]]) -> str:
    """One HTML table row per distinct host and software stack, with the runs measured on it."""
    runs = [m for m in metadata if "host" in m and "backend" in m]
    if not runs:
        return "<p>No run metadata found.</p>"
    frame = pd.DataFrame([_host_row(m) for m in runs]).fillna("")
    frame["runs"] = [str(m.get("run_id")) for m in runs]
    columns = [c for c in frame.columns if c != "runs"]
    grouped = frame.groupby(columns, sort=False)["runs"].agg(", ".join).reset_index()
    return grouped.to_html(index=False, border=0, na_rep="", escape=True)  # metadata: text


def to_html(markdown_text: str) -> str:
    """The HTML of markdown_text, with raw HTML and links shown as text."""
    converter = markdown.Markdown(extensions=["tables", "fenced_code", "sane_lists", "toc"])
    for name in UNSAFE_BLOCKS:
        converter.preprocessors.deregister(name)
    for name in UNSAFE_INLINES:
        converter.inlinePatterns.deregister(name)
    return converter.convert(markdown_text)


def contents(body: str) -> str:
    """A table of contents of the page's sections (its <h2> headings, whose text markdown
    has already escaped), linking within the page only; placed after the headline, before
    the first section."""
    sections = H2_TAG.findall(body)
    if not sections:
        return ""
    items = "".join(f'<li><a href="#{anchor}">{text}</a></li>' for anchor, text in sections)
    return f'<nav class="contents"><strong>Contents</strong><ul>{items}</ul></nav>\n'


def render(markdown_text: str, out_dir: Path, metadata: list[dict[str, Any]],
           figures: Collection[str]) -> str:
    """The HTML page of report.md, with the figures (names in out_dir/plots) it shows embedded
    and the hosts table after it."""
    body = IMG_TAG.sub(lambda m: _embed(m.group(0), out_dir, figures), to_html(markdown_text))
    body = re.sub(r"<h2", lambda m: contents(body) + m.group(0), body, count=1)
    title = re.search(r"<h1[^>]*>(.*?)</h1>", body)
    heading = re.sub(r"<[^>]*>", "", title.group(1)) if title else "lgbench report"
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{heading}</title>\n"
            f"<style>{STYLE}</style>\n</head>\n<body>\n{body}\n"
            f"<h2>Hosts and versions</h2>\n{hosts_table(metadata)}\n</body>\n</html>\n")


def write(out_dir: Path, markdown_text: str, metadata: list[dict[str, Any]],
          figures: Collection[str]) -> Path:
    """report.html beside report.md in out_dir; `figures`: the names save_figures wrote into
    out_dir/plots for this report."""
    path = out_dir / HTML_FILE
    store.write_text(path, render(markdown_text, out_dir, metadata, figures))
    return path
