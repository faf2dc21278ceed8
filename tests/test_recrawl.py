"""Crawling again: a recrawl asks each URL whether it changed, and says what it found."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest
from aiohttp import web

from crawler import crawl
from crawler.config import CrawlConfig
from crawler.errors import ConfigError
from tests.conftest import TEST_NAMESPACE

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.timeout(120)
CRAWL = [sys.executable, "-m", "crawler"]
MODIFIED = "Tue, 01 Dec 2026 10:00:00 GMT"


@dataclass
class Page:
    links: list[str]
    text: str = "first version"
    etag: str | None = None
    last_modified: str | None = None
    status: int = 200


@dataclass
class ValidatingSite:
    """A site whose pages and validators the test changes between crawls."""

    pages: dict[str, Page]
    base: str = ""
    hits: Counter[str] = field(default_factory=Counter)
    not_modified: Counter[str] = field(default_factory=Counter)
    conditional: Counter[str] = field(default_factory=Counter)
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)
    files: dict[str, str] = field(default_factory=dict)  # path -> XML served as it is

    def url(self, path: str) -> str:
        return self.base + path

    async def wait_for_hits(self, count: int) -> None:
        async with self.arrived:
            await self.arrived.wait_for(lambda: self.hits.total() >= count)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.hits[request.path] += 1
        async with self.arrived:
            self.arrived.notify_all()
        sent_etag = request.headers.get("If-None-Match")
        sent_date = request.headers.get("If-Modified-Since")
        if sent_etag or sent_date:
            self.conditional[request.path] += 1
        if request.path in self.files:
            return web.Response(text=self.files[request.path], content_type="application/xml")
        page = self.pages.get(request.path)
        if page is None or page.status != 200:
            return web.Response(status=404 if page is None else page.status, text="gone")
        headers = {}
        if page.etag:
            headers["ETag"] = page.etag
        if page.last_modified:
            headers["Last-Modified"] = page.last_modified
        matches = (page.etag and sent_etag == page.etag) or (
            not page.etag and page.last_modified and sent_date == page.last_modified
        )
        if matches:
            self.not_modified[request.path] += 1
            return web.Response(status=304, headers=headers)
        anchors = "".join(f'<a href="{href}">{href}</a>' for href in page.links)
        body = f"<html><title>{request.path}</title><p>{page.text}</p>{anchors}</html>"
        return web.Response(text=body, content_type="text/html", headers=headers)


@pytest.fixture(params=["sqlite", "redis"])
def where(request, tmp_path) -> dict[str, str]:
    """The state a test's crawls share: a SQLite file, or a crawl in Redis of its own."""
    if request.param == "sqlite":
        return {"state": str(tmp_path / "crawl.db")}
    redis_url, crawl_id = request.getfixturevalue("redis_url"), request.getfixturevalue("crawl_id")
    return {"state": f"{redis_url}?prefix={TEST_NAMESPACE}", "crawl_id": crawl_id}


def records(path: Path) -> dict[str, dict[str, object]]:
    found: dict[str, dict[str, object]] = {}
    for line in path.read_text().splitlines():
        record = json.loads(line)
        assert record["url"] not in found, f"{record['url']} twice"
        found[record["url"]] = record
    return found


def first_site() -> ValidatingSite:
    links = ["/etag", "/dated", "/edited", "/to-404", "/removed", "/plain"]
    return ValidatingSite({
        "/": Page(links, etag='"root-1"'),
        "/etag": Page([], etag='"e-1"'),
        "/dated": Page([], last_modified=MODIFIED),
        "/edited": Page([], etag='"ed-1"'),
        "/to-404": Page([], etag='"t-1"'),
        "/removed": Page([], etag='"r-1"'),
        "/plain": Page([]),  # no validators: a 200 every time, unchanged by its digest
    })  # fmt: skip


async def test_a_recrawl_says_what_changed_of_each_url(serve, tmp_path, where):
    site = await serve(first_site())
    first = await crawl(site.url("/"), **where, output=str(tmp_path / "1.jsonl"),
                        extract={"heading": "css:title"})  # fmt: skip
    assert first.stop_reason == "complete"
    assert "change" not in next(iter(records(tmp_path / "1.jsonl").values()))
    site.pages["/"] = Page(["/etag", "/dated", "/edited", "/to-404", "/plain", "/added"],
                           etag='"root-2"')  # fmt: skip
    site.pages["/edited"] = Page([], text="second version", etag='"ed-2"')
    site.pages["/to-404"].status = 404
    del site.pages["/removed"]
    site.pages["/added"] = Page([], etag='"a-1"')
    site.hits.clear()
    out = tmp_path / "2.jsonl"
    stats = await crawl(site.url("/"), **where, recrawl=True, output=str(out),
                        extract={"heading": "css:title"})  # fmt: skip
    assert stats.stop_reason == "complete"
    found = records(out)
    assert {url.removeprefix(site.base): r["change"] for url, r in found.items()} == {
        "/": "changed", "/etag": "unchanged", "/dated": "unchanged", "/edited": "changed",
        "/to-404": "gone", "/removed": "gone", "/plain": "unchanged", "/added": "new",
    }  # fmt: skip
    assert site.not_modified == Counter({"/etag": 1, "/dated": 1})
    assert site.conditional == Counter({"/": 1, "/etag": 1, "/dated": 1, "/edited": 1,
                                        "/to-404": 1, "/removed": 1})  # fmt: skip
    unchanged = found[site.url("/etag")]
    assert (unchanged["status"], unchanged["title"], unchanged["heading"]) == (
        304,
        "/etag",
        "/etag",
    )
    assert site.hits["/robots.txt"] == 1 and sum(site.hits.values()) == 9


async def test_an_unchanged_site_recrawled_sends_no_body(serve, tmp_path, where):
    site = await serve(first_site())
    await crawl(site.url("/"), **where)
    site.pages.pop("/plain")  # every page left has a validator
    site.pages["/"].links.remove("/plain")
    site.pages["/"].etag = '"root-1"'
    out = tmp_path / "2.jsonl"
    await crawl(
        site.url("/"),
        **where,
        recrawl=True,
        output=str(out),
        fields=["url", "change", "status"],
    )
    found = records(out)
    changes = Counter(r["change"] for r in found.values())
    assert changes == Counter({"unchanged": 6, "gone": 1}), found  # /plain is gone
    assert sum(site.not_modified.values()) == 6


async def test_a_recrawl_of_an_unfinished_generation_resumes_it(serve, tmp_path):
    site = await serve(first_site())
    state = str(tmp_path / "crawl.db")
    await crawl(site.url("/"), state=state, max_pages=3, output=str(tmp_path / "1.jsonl"))
    stats = await crawl(site.url("/"), state=state, recrawl=True, output=str(tmp_path / "1.jsonl"))
    assert stats.pages == 4  # the first generation goes on: nothing is asked again
    assert site.conditional == Counter()
    assert len(records(tmp_path / "1.jsonl")) == 7


def test_recrawl_needs_a_state_file() -> None:
    with pytest.raises(ConfigError, match=r"^recrawl needs state \(the file of the crawl"):
        CrawlConfig(recrawl=True)
    with pytest.raises(ConfigError, match=r"^trust_lastmod needs recrawl \(a last fetch"):
        CrawlConfig(trust_lastmod=True, state="s.db")


async def _run(site: ValidatingSite, state: Path, out: Path, *extra: str):
    return await asyncio.create_subprocess_exec(
        *CRAWL, site.url("/p0"), "--state", str(state), "-o", str(out), "-q",
        "--concurrency", "8", *extra, stderr=subprocess.PIPE,
    )  # fmt: skip


async def test_a_killed_recrawl_completes_its_generation_with_each_url_once(serve, tmp_path):
    count = 300
    pages = {f"/p{i}": Page([f"/p{(i + k) % count}" for k in (1, 2, 3)], etag=f'"p{i}"')
             for i in range(count)}  # fmt: skip
    site = await serve(ValidatingSite(pages))
    state, first, second = tmp_path / "crawl.db", tmp_path / "1.jsonl", tmp_path / "2.jsonl"
    proc = await _run(site, state, first)
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    before = first.read_bytes()
    pages["/p7"].text, pages["/p7"].etag = "edited", '"p7-2"'
    rng, seed = random.Random(), random.randrange(2**32)
    rng.seed(seed)
    for _ in range(4):
        proc = await _run(site, state, second, "--recrawl")
        await asyncio.wait_for(site.wait_for_hits(site.hits.total() + rng.randint(1, 40)), 30)
        proc.send_signal(signal.SIGKILL)
        await asyncio.wait_for(proc.communicate(), 30)
    proc = await _run(site, state, second, "--recrawl")
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    found = records(second)
    assert set(found) == {site.url(p) for p in pages}, f"seed {seed}"
    changes = Counter(r["change"] for r in found.values())
    assert changes == Counter({"unchanged": count - 1, "changed": 1}), f"seed {seed}"
    assert found[site.url("/p7")]["change"] == "changed"
    assert first.read_bytes() == before  # the previous generation's output is left alone


async def test_the_digest_field_is_the_sha1_of_the_body_kept_across_a_304(serve, tmp_path):
    import hashlib

    site = await serve(ValidatingSite({"/": Page([], etag='"v"')}))
    state, fields = str(tmp_path / "crawl.db"), ["url", "status", "digest"]
    await crawl(site.url("/"), state=state, output=str(tmp_path / "1.jsonl"), fields=fields)
    await crawl(site.url("/"), state=state, recrawl=True, output=str(tmp_path / "2.jsonl"),
                fields=fields)  # fmt: skip
    body = b"<html><title>/</title><p>first version</p></html>"
    expected = hashlib.sha1(body).hexdigest()
    assert [(r["status"], r["digest"]) for r in records(tmp_path / "1.jsonl").values()] == [
        (200, expected)
    ]
    assert [(r["status"], r["digest"]) for r in records(tmp_path / "2.jsonl").values()] == [
        (304, expected)
    ]


async def test_a_304_is_archived_as_a_revisit_of_the_page_fetched_before(serve, tmp_path):
    pytest.importorskip("warcio", reason="the warc extra is not installed")
    from warcio.archiveiterator import ArchiveIterator

    site = await serve(ValidatingSite({"/": Page(["/same"], etag='"r"'),
                                             "/same": Page([], etag='"s"')}))  # fmt: skip
    state = str(tmp_path / "crawl.db")
    await crawl(site.url("/"), state=state, output=str(tmp_path / "1.jsonl"))
    first = records(tmp_path / "1.jsonl")[site.url("/same")]["fetched_at"]
    warc = tmp_path / "again.warc.gz"
    await crawl(site.url("/"), state=state, recrawl=True, warc=str(warc))
    with open(warc, "rb") as file:
        found = {
            r.rec_headers.get_header("WARC-Target-URI"): r
            for r in ArchiveIterator(file, check_digests="raise")
            if r.rec_type in ("response", "revisit")
        }
    revisit = found[site.url("/same")]
    assert revisit.rec_type == "revisit"
    assert revisit.http_headers.get_statuscode() == "304"
    assert revisit.rec_headers.get_header("WARC-Profile") == (
        "http://netpreserve.org/warc/1.1/revisit/server-not-modified"
    )
    assert revisit.rec_headers.get_header("WARC-Refers-To-Target-URI") == site.url("/same")
    assert revisit.rec_headers.get_header("WARC-Refers-To-Date") == first


def sitemap(entries: dict[str, str], base: str) -> str:
    urls = "".join(f"<url><loc>{base}{path}</loc><lastmod>{when}</lastmod></url>"
                   for path, when in entries.items())  # fmt: skip
    return f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'


@pytest.mark.parametrize("trust", [True, False], ids=["trusted", "not-trusted"])
async def test_trust_lastmod_skips_what_the_sitemap_says_is_unchanged(serve, tmp_path, trust):
    site = await serve(ValidatingSite({"/old": Page([]), "/new": Page([])}))
    site.files["/sitemap.xml"] = sitemap({"/old": "2020-01-01", "/new": "2100-01-01T00:00:00Z"},
                                         site.base)  # fmt: skip
    state, fields = str(tmp_path / "crawl.db"), ["url", "status", "title", "change"]
    await crawl(sitemaps=[site.url("/sitemap.xml")], state=state)
    site.hits.clear()
    out = tmp_path / "again.jsonl"
    await crawl(sitemaps=[site.url("/sitemap.xml")], state=state, recrawl=True,
                trust_lastmod=trust, output=str(out), fields=fields)  # fmt: skip
    found = {u.removeprefix(site.base): r for u, r in records(out).items()}
    assert site.hits["/new"] == 1
    assert site.hits["/old"] == (0 if trust else 1)
    assert found["/old"] == {"url": site.url("/old"), "status": 304 if trust else 200,
                             "title": "/old", "change": "unchanged"}  # fmt: skip
    assert found["/new"]["change"] == "unchanged"  # fetched: its body is the same


async def test_a_static_file_server_answers_an_unchanged_recrawl_with_304s(tmp_path):
    """aiohttp's static route sends ETag and Last-Modified and honours both, as nginx does."""
    root = tmp_path / "site"
    root.mkdir()
    names = [f"p{i}.html" for i in range(5)]
    for name in names:
        links = "".join(f'<a href="{other}">{other}</a>' for other in names)
        (root / name).write_text(f"<html><title>{name}</title>{links}</html>")
    seen: Counter[int] = Counter()

    async def count(_: web.Request, response: web.StreamResponse) -> None:
        seen[response.status] += 1  # as sent: a file's status is set when it is prepared

    app = web.Application()
    app.on_response_prepare.append(count)
    app.router.add_static("/", root)
    runner = web.AppRunner(app)
    await runner.setup()
    tcp = web.TCPSite(runner, "127.0.0.1", 0)
    await tcp.start()
    try:
        base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        state, out = str(tmp_path / "crawl.db"), tmp_path / "again.jsonl"
        await crawl(f"{base}/p0.html", state=state, obey_robots=False)
        seen.clear()
        await crawl(f"{base}/p0.html", state=state, obey_robots=False, recrawl=True,
                    output=str(out), fields=["url", "status", "change", "title"])  # fmt: skip
    finally:
        await runner.cleanup()
    found = records(out)
    assert seen == Counter({304: 5})
    assert sorted(found) == sorted(f"{base}/{name}" for name in names)
    assert {(r["status"], r["change"]) for r in found.values()} == {(304, "unchanged")}
    assert found[f"{base}/p3.html"]["title"] == "p3.html"
