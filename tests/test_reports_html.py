"""HTML: self-contained, escaped, readable without script, and sortable/filterable in a real browser."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from reports.html import render_html
from scanner.model import Change, Status
from tests.fixtures.inventory_samples import SCRIPT, XSS_DIR, empty_inventory, full_inventory

CHROMIUM = next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser"), shutil.which("google-chrome"))
                 if p), None)
needs_browser = pytest.mark.skipif(CHROMIUM is None, reason="headless browser check needs Chromium "
                                                            "(Debian/Ubuntu: apt-get install chromium)")


class Page(HTMLParser):
    """The parts of the page the tests look at: agent rows, controls, tags and URLs."""

    def __init__(self, text: str):
        super().__init__()
        self.rows: list[dict[str, str | None]] = []
        self.tags: set[str] = set()
        self.urls: list[str] = []
        self.controls_hidden: bool | None = None
        self.ready = False
        self.shown = ""
        self._in_shown = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.add(tag)
        self.urls += [v for k, v in attrs if k in ("src", "href", "action", "poster") and v]
        if tag == "tr" and (a.get("id") or "").startswith("row-"):
            self.rows.append(a)
        if tag == "div" and a.get("id") == "controls":
            self.controls_hidden = "hidden" in a
        if tag == "body":
            self.ready = a.get("data-ready") == "1"
        self._in_shown = tag == "span" and a.get("id") == "shown"

    def handle_data(self, data):
        if self._in_shown:
            self.shown += data


def test_everything_from_the_scan_is_escaped():
    text = render_html(full_inventory())
    assert SCRIPT not in text and XSS_DIR not in text
    assert "&lt;img src=x onerror=alert(1)&gt;" in text
    assert "onerror=" not in text.replace("onerror=alert(1)&gt;", "")
    assert text.count("<script>") == 1  # the page's own


def test_self_contained_no_fetches():
    text = render_html(full_inventory())
    page = Page(text)
    assert not {"link", "img", "iframe", "object", "embed"} & page.tags
    assert all(u.startswith("#") for u in page.urls), page.urls
    assert "default-src 'none'" in text
    assert not re.search(r"url\(|@import|https?://(?!www\.w3\.org/2000/svg)[^\s\"<]*\"", text.split("<body>")[0])


def test_rows_in_reading_order_with_charts_and_details():
    inv = full_inventory()
    text = render_html(inv)
    page = Page(text)
    assert len(page.rows) == len(inv.agents)
    assert page.controls_hidden is True  # script shows the controls; without it they would be dead
    assert [r["data-change"] for r in page.rows][:7] == ["new"] * 7
    assert text.count('<details class="agent"') == sum(a.change != Change.GONE for a in inv.agents)
    assert text.count("<svg") == 2 and 'aria-label="Agents by status"' in text
    assert "aws-bedrock (USD)" in text and "1,234.50 USD" in text and "azure-openai (EUR)" in text
    assert "résumé-screener" in text and "old summariser 📝" in text


def test_empty_inventory_page():
    text = render_html(empty_inventory())
    assert "No LLM agents were found." in text and 'id="agents-table"' not in text
    assert "Nothing to chart." in text


def _chromium(tmp_path: Path, url: str, *extra: str) -> subprocess.CompletedProcess:
    profile = tmp_path / "profile"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-dev-shm-usage", f"--user-data-dir={profile}", *extra, url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90)


@pytest.fixture(scope="module")
def page_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("html") / "report.html"
    path.write_text(render_html(full_inventory()), encoding="utf-8")
    return path


@needs_browser
def test_browser_runs_the_script_filters_and_sorts(page_file, tmp_path):
    inv = full_inventory()
    target = next(a for a in inv.agents if a.name == "support-bot")
    url = page_file.as_uri() + f"?status=shadow&sort=-spend#agent-{target.id}"
    p = _chromium(tmp_path, url, "--dump-dom")
    page = Page(p.stdout)
    assert page.ready, p.stderr[-2000:]
    assert f'<details class="agent" id="agent-{target.id}" open="">' in p.stdout
    assert page.controls_hidden is False
    visible = [r for r in page.rows if "hidden" not in r]
    shadow = [a for a in inv.agents if a.status == Status.SHADOW]
    assert {r["data-status"] for r in visible} == {"shadow"} and len(visible) == len(shadow)
    assert page.shown == f"{len(shadow)} of {len(inv.agents)} agents shown"
    by_spend = sorted(inv.agents, key=lambda a: -sum(a.spend.values()))
    assert [r["id"] for r in page.rows[:3]] == [f"row-{a.id}" for a in by_spend[:3]]


@needs_browser
def test_browser_without_script_shows_every_row(page_file, tmp_path):
    # headless --dump-dom needs script to read the DOM, so "no script" is the page with its script removed
    text = page_file.read_text(encoding="utf-8")
    no_script = tmp_path / "no-script.html"
    no_script.write_text(re.sub(r"<script>.*?</script>", "", text, flags=re.S), encoding="utf-8")
    p = _chromium(tmp_path, no_script.as_uri() + "?status=shadow", "--dump-dom")
    page = Page(p.stdout)
    assert len(page.rows) == len(full_inventory().agents)
    assert not page.ready and page.controls_hidden is True
    assert not [r for r in page.rows if "hidden" in r]


@needs_browser
def test_browser_screenshot(page_file, tmp_path):
    shot = tmp_path / "report.png"
    p = _chromium(tmp_path, page_file.as_uri(), "--window-size=1280,1600", f"--screenshot={shot}")
    data = shot.read_bytes() if shot.exists() else b""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", p.stderr[-2000:]
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1280, 1600)
    assert len(data) > 40_000  # a blank page compresses to a few kB; this one has charts, badges and a table
