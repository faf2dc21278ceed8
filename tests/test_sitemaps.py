"""Sitemaps: parsing (urlset, index, gzip, hostile XML) and seeding real crawls."""

from __future__ import annotations

import gzip
import zlib
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web

from crawler import Page, crawl
from crawler.cli import build_parser, config_from_args
from crawler.sitemaps import Sitemap, parse_lastmod, parse_sitemap
from tests.conftest import Site

pytestmark = pytest.mark.timeout(60)

NS = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
JAN_1 = datetime(2024, 1, 1, tzinfo=UTC)


def urlset(*urls: str) -> bytes:
    items = "".join(f"<url><loc>{u}</loc><lastmod>2024-01-01</lastmod></url>" for u in urls)
    return f'<?xml version="1.0" encoding="UTF-8"?><urlset {NS}>{items}</urlset>'.encode()


def index(*urls: str) -> bytes:
    items = "".join(f"<sitemap><loc>{u}</loc></sitemap>" for u in urls)
    return f'<?xml version="1.0"?><sitemapindex {NS}>{items}</sitemapindex>'.encode()


def serve_bytes(body: bytes, content_type: str = "application/xml"):
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type=content_type)

    return handler


def test_parse_urlset_and_index() -> None:
    assert parse_sitemap(urlset("http://h/a", " http://h/b "), 10_000) == Sitemap(
        "urlset", ("http://h/a", "http://h/b"), {"http://h/a": JAN_1, "http://h/b": JAN_1}
    )
    assert parse_sitemap(index("http://h/s.xml"), 10_000) == Sitemap("index", ("http://h/s.xml",))


def test_parse_gzipped_sitemap() -> None:
    body = gzip.compress(urlset("http://h/a"))
    assert parse_sitemap(body, 10_000) == Sitemap("urlset", ("http://h/a",), {"http://h/a": JAN_1})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-01", JAN_1),
        (" 2024-01-01T01:30:00+01:30 ", JAN_1),
        ("2024-01-01T00:00:00Z", JAN_1),
        ("2024-01-01T00:00:00", JAN_1),  # no zone: UTC
        ("2024-01-01T00:00:00.250-00:00", JAN_1 + timedelta(milliseconds=250)),
        ("yesterday", None),
        ("", None),
    ],
)
def test_lastmod_is_a_w3c_datetime_in_utc(text: str, expected: datetime | None) -> None:
    assert parse_lastmod(text) == expected


def test_a_gzip_bomb_sitemap_is_cut_at_the_cap() -> None:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    bomb = packer.compress(b"\0" * 50_000_000) + packer.flush()
    assert parse_sitemap(bomb, 1_000_000) == Sitemap("unknown", ())


@pytest.mark.parametrize("body", [b"", b"not xml", b"<html><body>hi</body></html>", b"\x1f\x8bxx"])
def test_garbage_is_not_a_sitemap(body: bytes) -> None:
    assert parse_sitemap(body, 10_000).locs == ()


def test_entities_are_not_expanded() -> None:
    body = (
        b'<?xml version="1.0"?><!DOCTYPE u [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<urlset><url><loc>http://h/&x;</loc></url></urlset>"
    )
    assert "root:" not in "".join(parse_sitemap(body, 10_000).locs)


async def test_sitemaps_find_pages_no_link_reaches(serve) -> None:
    site = await serve(Site(pages={"/": [], "/orphan1": ["/linked"], "/linked": []}))
    site.pages |= {f"/orphan{i}": [] for i in range(2, 5)}
    site.handlers |= {
        "/sitemap_index.xml": serve_bytes(index(site.url("/plain.xml"), site.url("/gz.xml.gz"))),
        "/plain.xml": serve_bytes(urlset(site.url("/orphan1"), site.url("/orphan2"))),
        "/gz.xml.gz": serve_bytes(
            gzip.compress(
                urlset(site.url("/orphan3"), site.url("/orphan4"), "http://elsewhere.invalid/x")
            ),
            "application/gzip",
        ),
    }
    pages: list[Page] = []
    stats = await crawl(sitemaps=[site.url("/sitemap_index.xml")], on_page=pages.append)
    depth = {p.url: p.depth for p in pages}
    orphans = {site.url(f"/orphan{i}"): 0 for i in range(1, 5)}
    assert depth == orphans | {site.url("/linked"): 1}
    assert stats.skipped == {"out_of_scope": 1}
    assert stats.pages == 5


async def test_sitemaps_from_robots(serve) -> None:
    site = await serve(Site(pages={"/": [], "/hidden": []}))
    site.handlers["/robots.txt"] = serve_bytes(
        f"User-agent: *\nAllow: /\nSitemap: {site.url('/sm.xml')}\n".encode(), "text/plain"
    )
    site.handlers["/sm.xml"] = serve_bytes(urlset(site.url("/hidden"), site.url("/")))
    stats = await crawl([site.url("/")], sitemaps_from_robots=True)
    assert site.hits["/hidden"] == 1
    assert site.hits["/robots.txt"] == 1
    assert site.hits["/"] == 1
    assert stats.pages == 2


async def test_a_missing_sitemap_is_logged_and_the_crawl_goes_on(serve, caplog) -> None:
    site = await serve(Site(pages={"/": []}))
    stats = await crawl([site.url("/")], sitemaps=[site.url("/nope.xml")])
    assert stats.pages == 1
    assert f"sitemap {site.url('/nope.xml')}: HTTP 404 Not Found" in caplog.text


def test_cli_sitemap_flags() -> None:
    args = build_parser().parse_args(
        ["--sitemap", "http://h/a.xml", "--sitemap", "http://h/b.xml", "--sitemaps-from-robots"]
    )
    config = config_from_args(args)
    assert config.sitemaps == ("http://h/a.xml", "http://h/b.xml")
    assert config.sitemaps_from_robots is True


async def test_sitemaps_obey_the_scope_as_pages_do(serve) -> None:
    """Index children, robots.txt Sitemap lines and sitemap redirects on other hosts stay unfetched."""
    other = await serve(Site(pages={"/x": []}))
    other.handlers |= {
        "/child.xml": serve_bytes(urlset(other.url("/x"))),
        "/listed.xml": serve_bytes(urlset(other.url("/x"))),
    }
    elsewhere = other.url("/").replace("127.0.0.1", "localhost")  # another host, same server
    site = await serve(Site(pages={"/": [], "/a": []}))
    site.handlers |= {
        "/robots.txt": serve_bytes(f"Sitemap: {elsewhere}listed.xml\n".encode(), "text/plain"),
        "/index.xml": serve_bytes(
            index(site.url("/own.xml"), f"{elsewhere}child.xml", site.url("/moved.xml"))
        ),
        "/own.xml": serve_bytes(urlset(site.url("/a"))),
        "/moved.xml": redirect_to(f"{elsewhere}child.xml"),
    }
    stats = await crawl(
        [site.url("/")], sitemaps=[site.url("/index.xml")], sitemaps_from_robots=True
    )
    assert other.hits.total() == 0
    assert site.hits["/own.xml"] == 1 and site.hits["/moved.xml"] == 1
    assert stats.pages == 2


def redirect_to(location: str):  # type: ignore[no-untyped-def]
    async def handler(request):  # type: ignore[no-untyped-def]
        from aiohttp import web

        return web.Response(status=301, headers={"Location": location})

    return handler
