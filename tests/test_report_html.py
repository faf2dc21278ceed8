"""The HTML report: escaped, self-contained, and rendered by headless Chromium without errors.

Chromium is driven the simplest robust way: ``--dump-dom`` prints the DOM after the page
has loaded, and ``--enable-logging=stderr --v=0`` prints every console message (errors,
uncaught exceptions, Content-Security-Policy refusals) as a ``CONSOLE`` line on stderr.
A control test proves that a page with a console error is caught by the same harness.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from typing import TYPE_CHECKING

import lxml.html
import pytest

from crawler.report import build_report
from crawler.report_html import render_html
from tests.conftest import BROKEN_LINKS, broken_link_site

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.timeout(120)
CRAWL = [sys.executable, "-m", "crawler"]

# Root in a container needs --no-sandbox; the rest keeps a headless run quiet and offline.
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--enable-logging=stderr", "--v=0",
)  # fmt: skip


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is required under CI=true (.ci/run installs it)")
        pytest.skip("chromium is not installed (apt-get install chromium); CI runs this test")
    return path


def chromium_command(page: Path, profile: Path) -> list[str]:
    return [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()]


def console_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def render(page: Path, profile: Path) -> tuple[str, list[str]]:
    """Load ``page`` in headless Chromium; return the DOM after load and the console lines."""
    result = subprocess.run(
        chromium_command(page, profile), capture_output=True, text=True, timeout=90, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout, console_lines(result.stderr)


async def run(*command: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *command, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def test_the_harness_sees_console_errors(tmp_path):
    page = tmp_path / "bad.html"
    page.write_text("<!DOCTYPE html><p>x</p><script>console.error('marker'); nope();</script>")
    dom, console = render(page, tmp_path / "profile")
    assert "<p>x</p>" in dom
    assert len(console) == 2
    assert '"marker"' in console[0]
    assert "nope is not defined" in console[1]


async def test_html_report_renders_without_console_errors(serve, tmp_path):
    site = await serve(broken_link_site())
    out, html = tmp_path / "out.jsonl", tmp_path / "report.html"
    crawl = [site.url("/"), "-o", str(out), "--include-links", "--retries", "0", "-q"]
    assert await run(*CRAWL, *crawl) == (0, "", "")
    assert await run(*CRAWL, "report", str(out), "--html", str(html), "-q") == (0, "", "")
    code, dom, err = await run(*chromium_command(html, tmp_path / "profile"))
    assert code == 0, err
    assert console_lines(err) == []
    document = lxml.html.fromstring(dom)
    rows = document.xpath('//table[@id="broken-links"]/tbody/tr')
    got = {
        (row.xpath("string(td[1])"), row.xpath("string(td[2])")): set(row.xpath("td[4]//a/text()"))
        for row in rows
    }
    assert got == {
        (label, url if url.startswith("http") else site.url(url)): {site.url(p) for p in pages}
        for label, links in BROKEN_LINKS.items()
        for url, pages in links.items()
    }
    assert len(document.xpath("//svg")) == 3


def test_values_are_escaped_and_only_http_urls_are_links():
    hostile = 'http://h/"><script>alert(1)</script>'
    records = [
        {"url": hostile, "status": 404, "parent": "javascript:alert(2)", "depth": 1},
        {"url": "http://h/ok", "status": 200, "depth": 0},
    ]
    html = render_html(build_report(records), "<out>.jsonl")
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'href="javascript:' not in html
    assert "&lt;out&gt;.jsonl" in html
    document = lxml.html.fromstring(html)
    assert document.xpath('string(//table[@id="broken-links"]//td[2])') == hostile


def test_html_has_no_external_assets():
    html = render_html(build_report([{"url": "http://h/", "status": 200}]), "o")
    document = lxml.html.fromstring(html)
    assert document.xpath("//script | //img | //link[@rel='stylesheet'] | //iframe") == []
    assert document.xpath("//link/@href") == ["data:,"]
    assert "default-src 'none'" in html


def test_duplicate_sections_only_when_the_records_have_digests_or_simhashes():
    same = {"status": 200, "digest": "d1", "simhash": "00000000000000ff"}
    records = [{"url": "http://h/a", **same}, {"url": "http://h/a?print", **same},
               {"url": "http://h/b", "status": 200, "digest": "d2", "simhash": "00000000000000fe"}]  # fmt: skip
    document = lxml.html.fromstring(render_html(build_report(records), "o"))
    assert document.xpath('//table[@id="duplicates"]//li/a/@href') == [
        "http://h/a", "http://h/a?print"
    ]  # fmt: skip
    near = document.xpath('//table[@id="near-duplicates"]//li/a/@href')
    assert near == ["http://h/a", "http://h/a?print", "http://h/b"]
    plain = lxml.html.fromstring(
        render_html(build_report([{"url": "http://h/", "status": 200}]), "o")
    )
    assert plain.xpath('//table[@id="duplicates"] | //table[@id="near-duplicates"]') == []
