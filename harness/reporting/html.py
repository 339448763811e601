"""report.md as one self-contained report.html: a file to open in any browser, mail or archive,
with nothing to fetch (the plots are embedded as data: URIs) and the hosts and versions the
numbers came from in one table."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path
from typing import Any

import markdown
import pandas as pd

from harness.results import store

HTML_FILE = "report.html"
MIME_TYPES = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg",
              ".jpeg": "image/jpeg"}
IMG_TAG = re.compile(r"<img\b[^>]*>")
SRC_ATTR = re.compile(r'\bsrc="([^"]*)"')

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
"""


def _embed(tag: str, base: Path) -> str:
    """An <img> pointing at a local file, pointing at its bytes instead; a missing or remote
    image becomes a note, so the page never fetches anything."""
    src = SRC_ATTR.search(tag)
    if src is None or src.group(1).startswith("data:"):
        return tag
    path = base / html.unescape(src.group(1))
    if path.with_suffix(".svg").is_file():  # save_figures writes one beside each PNG
        path = path.with_suffix(".svg")
    mime = MIME_TYPES.get(path.suffix.lower())
    if mime is None or not path.is_file():
        return f"<p><em>(plot not available: {src.group(1)})</em></p>"
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return tag.replace(src.group(0), f'src="data:{mime};base64,{data}"')


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
    return grouped.to_html(index=False, border=0, na_rep="")


def render(markdown_text: str, base: Path, metadata: list[dict[str, Any]]) -> str:
    """The HTML page of report.md, its images read from `base`, the hosts table after it."""
    body = markdown.markdown(markdown_text, extensions=["tables", "fenced_code", "sane_lists"])
    body = IMG_TAG.sub(lambda m: _embed(m.group(0), base), body)
    title = re.search(r"<h1>(.*?)</h1>", body)
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{title.group(1) if title else 'lgbench report'}</title>\n"
            f"<style>{STYLE}</style>\n</head>\n<body>\n{body}\n"
            f"<h2>Hosts and versions</h2>\n{hosts_table(metadata)}\n</body>\n</html>\n")


def write(out_dir: Path, markdown_text: str, metadata: list[dict[str, Any]]) -> Path:
    """report.html beside report.md in out_dir."""
    path = out_dir / HTML_FILE
    store.write_text(path, render(markdown_text, out_dir, metadata))
    return path
