"""Text from rows and metadata is inert in report.md: rendered, it shows as exactly itself (no
markup, link, image or HTML), and names people read often stay as they are in the file."""

from __future__ import annotations

import html
import re

import pandas as pd
import pytest

from harness.reporting.html import to_html
from harness.reporting.text import code, markdown_table, md

HOSTILE = ['fake <img src="/var/tmp/x/leak.png">', "<script>alert(1)</script>",
           "![x](/etc/shadow)", "[click](javascript:alert(1))", "*bold* _em_ __init__ a*b*c",
           "a|b", "x\\y", "&lt;b&gt; & &amp;", "1. # > - + ` `` ```", "<!-- --> <?php ?>",
           "line one\n# line two\n<div>three</div>", "trailing\\"]


def shown(rendered: str) -> str:
    """The text a browser shows of an HTML fragment (tags dropped, entities read)."""
    return html.unescape(re.sub(r"<[^>]*>", "", rendered)).strip()


def one_line(text: str) -> str:
    return text.replace("\n", " ")


@pytest.mark.parametrize("text", HOSTILE)
def test_escaped_text_shows_as_itself(text):
    rendered = to_html(f"- before {md(text)} after")
    assert rendered.count("<") == 4  # <ul><li>, </li></ul>: nothing else became a tag
    assert shown(rendered) == f"before {one_line(text)} after"


@pytest.mark.parametrize("text", [*HOSTILE, "`", "a`b", "``x``", "`edge"])
def test_a_code_span_shows_its_text_whatever_backticks_it_holds(text):
    rendered = to_html(f"- before {code(text)} after")
    found = re.fullmatch(r"<ul>\n<li>before <code>(.*)</code> after</li>\n</ul>", rendered)
    assert found, rendered
    assert html.unescape(found.group(1)) == one_line(text)


def test_table_cells_and_headers_show_as_themselves():
    frame = pd.DataFrame({"cell <b>": HOSTILE, "n": range(len(HOSTILE))})
    rendered = to_html(markdown_table(frame))
    cells = re.findall(r"<td[^>]*>(.*?)</td>", rendered)
    assert [html.unescape(c) for c in cells[::2]] == [one_line(t) for t in HOSTILE]
    assert cells[1::2] == [str(n) for n in range(len(HOSTILE))]
    assert re.search(r"<th[^>]*>cell &lt;b&gt;</th>", rendered)


@pytest.mark.parametrize("name", ["auto/cached-hot/launch/p1", "total_s", "kvm_verdict",
                                  "tcg-p4", "submitit_local", "1.48.6", "QEMU 7.2"])
def test_everyday_names_are_left_as_they_are(name):
    assert md(name) == name


def test_a_cell_label_with_brackets_reads_naturally_once_rendered():
    label = "inspect[linux-lvm+apps+icon]"
    assert md(label) == r"inspect\[linux-lvm+apps+icon\]"
    assert shown(to_html(md(label))) == label
    assert shown(to_html(code(label))) == label
