"""robots.txt (RFC 9309 via Protego), X-Robots-Tag, and nofollow in real crawls."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime

import pytest
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from crawler import crawl
from crawler.models import FetchResult, Request
from crawler.robots import RobotsCache, rules_from, x_robots_nofollow
from tests.conftest import Site, chain_graph

pytestmark = pytest.mark.timeout(60)

UA = "crawler/test"

RULES = """\
User-agent: otherbot
Disallow: /

User-agent: crawler
Disallow: /private
Allow: /private/open$
Disallow: /*.pdf$
"""


def robots(body: str, status: int = 200):
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=body, status=status, content_type="text/plain")

    return handler


def result(status: int | None, body: str = "", error=None) -> FetchResult:
    url = "http://h/robots.txt"
    return FetchResult(
        request=Request(url=url, key=url),
        final_url=url,
        status=status,
        headers={},
        content_type="text/plain",
        charset=None,
        body=body.encode(),
        elapsed=0.0,
        fetched_at=datetime.now(UTC),
        error=error,
    )


@pytest.mark.parametrize(
    ("fetched", "verdict"),
    [
        (result(200, RULES), "parsed"),
        (result(404, error="http_status"), "allow_all"),
        (result(403, error="http_status"), "allow_all"),
        (result(500, error="http_status"), "disallow_all"),
        (result(503, error="http_status"), "disallow_all"),
        (result(None, error="timeout"), "disallow_all"),
        (result(None, error="connection"), "disallow_all"),
        (result(200, error="too_large"), "allow_all"),
        (result(301), "allow_all"),  # more than five redirects
    ],
)
def test_rules_from_status(fetched: FetchResult, verdict: str) -> None:
    assert rules_from(fetched).verdict == verdict


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/", True),
        ("/private", False),
        ("/private/x", False),
        ("/private/open", True),  # Allow wins: the longer match
        ("/private/open/more", False),  # $ anchors the Allow
        ("/doc.pdf", False),
        ("/doc.pdf?x=1", True),
    ],
)
def test_modern_matching(path: str, allowed: bool) -> None:
    rules = rules_from(result(200, RULES))
    assert rules.allowed("http://h" + path, "crawler/0.1 (python asyncio crawler)") is allowed


def test_allow_wins_a_tie() -> None:
    rules = rules_from(result(200, "User-agent: *\nDisallow: /page\nAllow: /page\n"))
    assert rules.allowed("http://h/page", UA)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], False),
        (["noindex"], False),
        (["noindex, nofollow"], True),
        (["none"], True),
        (["otherbot: nofollow"], False),
        (["crawler: nofollow"], True),
        (["unavailable_after: 25 Jun 2010 15:00:00 PST, nofollow"], True),
        (["noarchive", "NOFOLLOW"], True),
    ],
)
def test_x_robots_nofollow(values: list[str], expected: bool) -> None:
    headers = CIMultiDictProxy(CIMultiDict([("X-Robots-Tag", v) for v in values]))
    assert x_robots_nofollow(headers, "crawler/0.1") is expected


async def test_robots_is_fetched_once_for_concurrent_callers() -> None:
    calls = []

    async def fetch(request, follow):
        calls.append(request.url)
        return result(200, "User-agent: *\nDisallow: /no\n")

    cache = RobotsCache(fetch, UA)
    answers = [await cache.allowed(u) for u in ("http://h/no", "http://h/yes", "http://h/no")]
    assert answers == [False, True, False]
    assert calls == ["http://h/robots.txt"]


# --- crawls -----------------------------------------------------------------------------


async def test_disallowed_urls_are_never_requested(serve, tmp_path) -> None:
    links = ["/a", "/private", "/private/x", "/private/open", "/doc.pdf"]
    pages = {"/": links} | {link: [] for link in links}
    site = await serve(Site(pages=pages, handlers={"/robots.txt": robots(RULES)}))
    out = tmp_path / "out.jsonl"
    stats = await crawl([site.url("/")], user_agent="crawler/1.0", output=str(out))
    assert set(site.hits) == {"/robots.txt", "/", "/a", "/private/open"}
    assert site.hits["/robots.txt"] == 1
    assert stats.skipped == {"robots": 3}
    assert stats.pages == 3
    assert len(out.read_text().splitlines()) == 3  # no records for skips by default


async def test_skipped_urls_are_recorded_with_log_skipped(serve, tmp_path) -> None:
    site = await serve(Site(pages={"/": ["/private"]}, handlers={"/robots.txt": robots(RULES)}))
    out = tmp_path / "out.jsonl"
    await crawl([site.url("/")], user_agent="crawler/1.0", output=str(out), log_skipped=True)
    records = {r["url"]: r for r in map(json.loads, out.read_text().splitlines())}
    skipped = records[site.url("/private")]
    assert (skipped["status"], skipped["error"], skipped["error_detail"]) == (
        None,
        None,
        "skipped: robots",
    )
    assert "/private" not in site.hits


async def test_robots_is_requested_once_per_host(serve) -> None:
    sites = [await serve(Site(pages=chain_graph(30, fanout=5))) for _ in range(3)]
    stats = await crawl([s.url("/p0") for s in sites], concurrency=16)
    assert stats.pages == 90
    assert [s.hits["/robots.txt"] for s in sites] == [1, 1, 1]


async def test_a_5xx_robots_blocks_the_host(serve) -> None:
    blocked = await serve(
        Site(pages={"/": ["/a"], "/a": []}, handlers={"/robots.txt": robots("", 503)})
    )
    other = await serve(Site(pages={"/": []}))
    stats = await crawl([blocked.url("/"), other.url("/")], retries=0)
    assert set(blocked.hits) == {"/robots.txt"}
    assert other.hits["/"] == 1
    assert stats.skipped == {"robots": 1}
    assert stats.pages == 1


async def test_a_4xx_robots_allows_everything(serve) -> None:
    site = await serve(
        Site(pages={"/": ["/private"], "/private": []}, handlers={"/robots.txt": robots("", 403)})
    )
    stats = await crawl([site.url("/")])
    assert site.hits["/private"] == 1
    assert stats.pages == 2


async def test_robots_redirects_are_followed(serve) -> None:
    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPMovedPermanently(location="/real-robots.txt")

    handlers = {"/robots.txt": moved, "/real-robots.txt": robots("User-agent: *\nDisallow: /x\n")}
    site = await serve(Site(pages={"/": ["/x", "/y"], "/x": [], "/y": []}, handlers=handlers))
    stats = await crawl([site.url("/")])
    assert set(site.hits) == {"/robots.txt", "/real-robots.txt", "/", "/y"}
    assert stats.skipped == {"robots": 1}


async def test_a_redirect_to_a_disallowed_url_is_not_followed(serve) -> None:
    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound(location="/private/secret")

    handlers = {"/robots.txt": robots("User-agent: *\nDisallow: /private\n"), "/go": moved}
    site = await serve(Site(pages={"/": ["/go"]}, handlers=handlers))
    pages = []
    stats = await crawl([site.url("/")], on_page=pages.append)
    assert "/private/secret" not in site.hits
    go = next(p for p in pages if p.url.endswith("/go"))
    assert (go.status, go.final_url) == (302, site.url("/private/secret"))
    assert stats.skipped == {"robots": 1}


async def test_ignore_robots_fetches_everything(serve) -> None:
    site = await serve(
        Site(pages={"/": ["/private"], "/private": []}, handlers={"/robots.txt": robots(RULES)})
    )
    await crawl([site.url("/")], user_agent="crawler/1.0", obey_robots=False)
    assert set(site.hits) == {"/", "/private"}


NOFOLLOW_PAGE = '<a href="/followed">f</a><a rel="nofollow" href="/unfollowed">u</a>'


def html(body: str, headers: dict[str, str] | None = None):
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=body, content_type="text/html", headers=headers)

    return handler


@pytest.mark.parametrize("respect", [True, False])
async def test_rel_nofollow_links(serve, respect: bool) -> None:
    site = await serve(
        Site(pages={"/followed": [], "/unfollowed": []}, handlers={"/": html(NOFOLLOW_PAGE)})
    )
    await crawl([site.url("/")], respect_nofollow=respect)
    assert ("/unfollowed" in site.hits) is not respect
    assert site.hits["/followed"] == 1


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        ('<meta name="robots" content="noindex, nofollow"><a href="/a">a</a>', None),
        ('<a href="/a">a</a>', {"X-Robots-Tag": "nofollow"}),
    ],
)
async def test_page_nofollow_stops_all_links(serve, body: str, headers) -> None:
    site = await serve(Site(pages={"/a": []}, handlers={"/": html(body, headers)}))
    stats = await crawl([site.url("/")], respect_nofollow=True)
    assert "/a" not in site.hits
    assert stats.pages == 1


async def test_pages_of_an_unreachable_host_are_recorded_with_its_error(serve) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again at once: nothing listens there
    dead = [f"http://127.0.0.1:{port}/a", f"http://127.0.0.1:{port}/b"]
    pages = []
    stats = await crawl(dead, on_page=pages.append, retries=0)
    assert sorted((p.url, p.status, p.error) for p in pages) == [
        (dead[0], None, "connection"),
        (dead[1], None, "connection"),
    ]
    assert stats.errors == {"connection": 2}
    assert stats.skipped == {}


async def test_a_robots_txt_redirect_to_another_host_is_not_followed(serve) -> None:
    """The file is about its own host: another host's rules (here: disallow all) don't apply."""
    other = await serve(
        Site(pages={}, handlers={"/robots.txt": robots("User-agent: *\nDisallow: /")})
    )
    elsewhere = other.url("/robots.txt").replace("127.0.0.1", "localhost")

    async def moved(request: web.Request) -> web.StreamResponse:
        return web.Response(status=301, headers={"Location": elsewhere})

    site = await serve(Site(pages={"/": ["/a"], "/a": []}, handlers={"/robots.txt": moved}))
    stats = await crawl([site.url("/")])
    assert other.hits.total() == 0
    assert (stats.pages, dict(stats.skipped)) == (2, {})
