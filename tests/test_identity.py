"""The identity of content: canonical URLs, and simhashes of near-duplicate pages."""

from __future__ import annotations

import json

import pytest
from aiohttp import web

from crawler import crawl
from crawler.parser import HTML5_MAX_TAGS, header_canonical, parse_html
from crawler.simhash import NEAR_BITS, distance, simhash
from tests.conftest import Site

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        ('<link rel="canonical" href="https://h.test/main">', "https://h.test/main"),
        ('<link rel="Canonical" href="../up#frag">', "http://h.test/up"),
        (
            '<link rel="stylesheet" href="/s.css"><link rel="canonical" href="/c">',
            "http://h.test/c",
        ),
        ('<base href="http://b.test/x/"><link rel="canonical" href="y">', "http://b.test/x/y"),
        ('<link rel="alternate canonical" href="/two">', "http://h.test/two"),
        ('<link rel="canonical">', None),
        ('<link rel="alternate" href="/fr">', None),
        ("", None),
    ],
)
def test_the_canonical_link_of_a_page(head: str, expected: str | None) -> None:
    page = f"<html><head>{head}</head><body>x</body></html>".encode()
    assert parse_html(page, "http://h.test/a/b").canonical == expected
    big = page.replace(b"x</body>", b"<i></i>" * (HTML5_MAX_TAGS + 1) + b"</body>")
    assert parse_html(big, "http://h.test/a/b").canonical == expected  # libxml2's parse


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('<https://h.test/c>; rel="canonical"', "https://h.test/c"),
        ('</p.css>; rel=preload, </main?a=1#x>; rel="canonical"', "http://h.test/main?a=1"),
        ("<https://h.test/c>; REL=Canonical", "https://h.test/c"),
        ('<https://h.test/c>; rel="alternate"', None),
        (None, None),
        ("garbage", None),
    ],
)
def test_the_canonical_link_header(header: str | None, expected: str | None) -> None:
    assert header_canonical(header, "http://h.test/a/b") == expected


WORDS = " ".join(f"word{i} common{i % 7}" for i in range(300))


def test_identical_near_and_different_texts() -> None:
    dated = WORDS + " updated on 1 december 2026"
    redated = WORDS + " updated on 2 december 2026"
    other = " ".join(f"other{i} text{i % 5}" for i in range(300))
    assert simhash(WORDS) == simhash(WORDS)
    assert distance(simhash(dated), simhash(redated)) <= NEAR_BITS
    assert distance(simhash(WORDS), simhash(other)) > NEAR_BITS
    assert simhash("") == 0


def page(title: str, body: str, canonical: str | None = None, links: str = "") -> web.Response:
    head = f'<link rel="canonical" href="{canonical}">' if canonical else ""
    html = (
        f"<html><head><title>{title}</title>{head}</head><body><p>{body}</p>{links}</body></html>"
    )
    return web.Response(text=html, content_type="text/html")


def canonical_site() -> Site:
    async def main(_):  # the canonical page itself
        return page("main", WORDS, canonical="/main", links='<a href="/from-main">x</a>')

    async def printable(_):  # a print version: canonical is main, crawled already
        return page("print", WORDS, canonical="/main", links='<a href="/from-print">x</a>')

    async def variant(_):  # its canonical was never linked: queued
        return page("variant", WORDS, canonical="/unlinked")

    async def offsite(_):
        return page("offsite", WORDS, canonical="http://elsewhere.invalid/p")

    async def by_header(_):
        response = page("header", "other text")
        response.headers["Link"] = '</main>; rel="canonical"'
        return response

    async def plain(_):
        return page("plain", "nothing", links='<a href="/main">m</a><a href="/print">p</a>'
                    '<a href="/variant">v</a><a href="/offsite">o</a><a href="/header">h</a>')  # fmt: skip

    return Site(
        pages={"/from-main": [], "/from-print": [], "/unlinked": []},
        handlers={"/": plain, "/main": main, "/print": printable, "/variant": variant,
                  "/offsite": offsite, "/header": by_header},
    )  # fmt: skip


async def test_canonical_and_duplicate_of_in_records(serve, tmp_path) -> None:
    site = await serve(canonical_site())
    out = tmp_path / "out.jsonl"
    fields = ["url", "canonical", "duplicate_of"]
    await crawl(site.url("/"), output=str(out), fields=fields, follow_canonical=True,
                concurrency=1, per_host_concurrency=1)  # fmt: skip
    records = {
        r["url"].removeprefix(site.base): r for r in map(json.loads, out.read_text().splitlines())
    }
    main = site.url("/main")
    assert records["/main"] == {"url": main, "canonical": main, "duplicate_of": None}
    assert records["/print"]["duplicate_of"] == main
    assert records["/header"] == {
        "url": site.url("/header"),
        "canonical": main,
        "duplicate_of": main,
    }
    assert records["/variant"]["duplicate_of"] is None
    assert "/unlinked" in records  # queued from /variant's canonical
    assert records["/offsite"] == {"url": site.url("/offsite"),
                                   "canonical": "http://elsewhere.invalid/p", "duplicate_of": None}  # fmt: skip
    assert "/from-main" in records and "/from-print" not in records  # a duplicate's links wait
    assert site.hits["/from-print"] == 0


async def test_without_follow_canonical_the_canonical_is_only_recorded(serve, tmp_path) -> None:
    site = await serve(canonical_site())
    out = tmp_path / "out.jsonl"
    await crawl(site.url("/"), output=str(out), fields=["url", "canonical", "duplicate_of"])
    records = {
        r["url"].removeprefix(site.base): r for r in map(json.loads, out.read_text().splitlines())
    }
    assert records["/print"]["canonical"] == site.url("/main")
    assert all(r["duplicate_of"] is None for r in records.values())
    assert "/unlinked" not in records and "/from-print" in records


async def test_the_simhash_field(serve, tmp_path) -> None:
    async def text(request: web.Request) -> web.Response:
        return page(request.path, WORDS)

    site = await serve(Site(pages={"/": ["/a", "/b"]}, handlers={"/a": text, "/b": text}))
    out = tmp_path / "out.jsonl"
    await crawl(site.url("/"), output=str(out), fields=["url", "simhash"])
    records = {r["url"]: r["simhash"] for r in map(json.loads, out.read_text().splitlines())}
    assert records[site.url("/a")] == records[site.url("/b")]
    assert len(records[site.url("/a")]) == 16 and int(records[site.url("/a")], 16) > 0


def test_exact_and_near_duplicate_groups() -> None:
    from crawler.duplicates import exact_groups, near_clusters

    base = simhash(WORDS)
    digests = {"/a": "d1", "/a-print": "d1", "/b": "d2", "/c": "d3", "/c2": "d3", "/d": "d4"}
    hashes = {"/a": base, "/a-print": base, "/b": base ^ 0b101,  # 2 bits from /a: near
              "/c": base ^ (0xFFFF << 20), "/c2": base ^ (0xFFFF << 20),  # far; exact pair
              "/d": base ^ (0b111 << 40) ^ 0b101}  # 3 bits from /b: near /b, 5 from /a  # fmt: skip
    assert exact_groups(digests) == (("/a", "/a-print"), ("/c", "/c2"))
    assert near_clusters(hashes, digests) == (("/a", "/a-print", "/b", "/d"),)
    assert near_clusters(hashes) == (("/a", "/a-print", "/b", "/d"), ("/c", "/c2"))


async def test_the_report_lists_duplicate_and_near_duplicate_pages(serve, tmp_path) -> None:
    from crawler.report import build_report, format_report

    async def text(request: web.Request) -> web.Response:
        words = WORDS if request.path != "/near" else WORDS + " and one more line"
        return page("same title", words)

    async def other(_: web.Request) -> web.Response:
        return page("other", " ".join(f"other{i} text{i % 5}" for i in range(300)))

    handlers = {"/a": text, "/a-copy": text, "/near": text, "/other": other}
    site = await serve(Site(pages={"/": list(handlers)}, handlers=handlers))
    out = tmp_path / "out.jsonl"
    await crawl(site.url("/"), output=str(out), fields=["url", "status", "digest", "simhash"])
    report = build_report(map(json.loads, out.read_text().splitlines()))
    assert report.duplicates == ((site.url("/a"), site.url("/a-copy")),)
    assert report.near_duplicates == ((site.url("/a"), site.url("/a-copy"), site.url("/near")),)
    text_report = format_report(report, "out.jsonl")
    assert "Duplicate pages (the same body): 1 groups\n  2 pages: " in text_report
    assert "Near-duplicate pages (simhash): 1 clusters\n  3 pages: " in text_report
