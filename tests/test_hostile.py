"""A hostile web: every case ends in a record with the right class, and the crawl completes.

Slow, dripping, reset and silent servers; a 200 MB body and a gzip bomb (with the peak RSS
of a crawler process measured); redirect chains, loops and escapes; infinite link spaces;
broken encodings; error statuses.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import socket
import struct
import sys
import zlib
from dataclasses import dataclass

import pytest
from aiohttp import web

from crawler import Page, crawl
from crawler.config import MIB
from tests.conftest import Site

pytestmark = pytest.mark.timeout(60)

NEVER = asyncio.Event  # an Event nobody sets: the server never goes on


@functools.cache
def gzip_bomb(inflated_mib: int) -> bytes:
    """Return a valid gzip body of ``inflated_mib`` MiB of zeros (about 1 KiB per MiB).

    After a full flush the compressor starts afresh, so every further MiB compresses to
    the same block: the bomb is built by repetition, not by deflating a gigabyte.
    """
    zeros = bytes(MIB)
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    head = packer.compress(zeros) + packer.flush(zlib.Z_FULL_FLUSH)
    block = packer.compress(zeros) + packer.flush(zlib.Z_FULL_FLUSH)
    crc = functools.reduce(lambda c, _: zlib.crc32(zeros, c), range(inflated_mib), 0)
    trailer = b"\x03\x00" + struct.pack("<II", crc, (inflated_mib * MIB) & 0xFFFFFFFF)
    return head + block * (inflated_mib - 1) + trailer


async def silent(request: web.Request) -> web.Response:
    await NEVER().wait()
    return web.Response()


async def drip(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/html"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    with contextlib.suppress(ConnectionError):  # the crawler hangs up at its timeout
        while True:  # a byte at a time, never the end
            await response.write(b"x")
            await asyncio.sleep(0.1)
    return response


async def reset_mid_body(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Length": "5000"})
    await response.prepare(request)
    await response.write(b"z" * 100)
    assert request.transport is not None
    sock = request.transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    request.transport.abort()  # with SO_LINGER 0: an RST, not a FIN
    return response


async def close_without_answer(request: web.Request) -> web.Response:
    assert request.transport is not None
    request.transport.close()
    await NEVER().wait()
    return web.Response()


async def huge(request: web.Request) -> web.StreamResponse:
    """200 MB of HTML-ish bytes, streamed in 64 KiB chunks: never held in memory."""
    response = web.StreamResponse(headers={"Content-Type": "text/html"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    chunk = b"<p>" + b"x" * (64 * 1024 - 3)
    try:
        for _ in range(200 * 1000 * 1000 // len(chunk)):
            await response.write(chunk)
    except (ConnectionError, RuntimeError):
        pass  # the crawler hung up at its cap
    return response


BOMB_MIB = 1100
"""The gzip bomb inflates to 1.1 GiB."""


async def bomb(request: web.Request) -> web.Response:
    body = gzip_bomb(BOMB_MIB)  # built before the crawl: it takes the CPU a while
    return web.Response(
        body=body, headers={"Content-Encoding": "gzip", "Content-Type": "text/html"}
    )


def redirect(location: str, status: int = 302):
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=status, headers={"Location": location})

    return handler


def status(code: int):
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=code, text=f"status {code}")

    return handler


def raw(body: bytes, content_type: str):
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body, headers={"Content-Type": content_type})

    return handler


CP1251 = '<html><head><meta charset="windows-1251"><title>Привет, мир</title></head></html>'
SJIS = "<html><head><title>日本語のページ</title></head></html>"
BAD_UTF8 = b"<html><head><title>caf\xc3\xa9 \xff\xfe ok</title></head></html>"
OCTET = b'<html><head><title>binary</title></head><a href="/never">x</a></html>'

# path -> (status, error, hits) of its record; hits is how often the server saw it.
EXPECTED: dict[str, tuple[int | None, str | None, int]] = {
    "/slow": (None, "timeout", 2),
    "/drip": (200, "timeout", 2),
    "/reset": (200, "connection", 2),
    "/close": (None, "connection", 0),  # hits: see the test
    "/huge": (200, "too_large", 1),
    "/bomb": (200, "too_large", 1),
    "/chain1": (200, None, 1),
    "/loop1": (302, "too_many_redirects", 1),
    "/self": (301, "too_many_redirects", 1),
    "/offhost": (302, None, 1),
    "/mailto": (302, "bad_redirect", 1),
    "/javascript": (301, "bad_redirect", 1),
    "/cp1251": (200, None, 1),
    "/sjis": (200, None, 1),
    "/bad-utf8": (200, None, 1),
    "/octet": (200, None, 1),
    "/missing": (404, "http_status", 1),
    "/gone": (410, "http_status", 1),
    "/error": (500, "http_status", 2),
}


def hostile_site() -> Site:
    handlers = {
        "/slow": silent,
        "/drip": drip,
        "/reset": reset_mid_body,
        "/close": close_without_answer,
        "/huge": huge,
        "/bomb": bomb,
        "/chain1": redirect("/chain2"),
        "/chain2": redirect("/chain3", 301),
        "/chain3": redirect("/chain-end", 307),
        "/loop1": redirect("/loop2"),
        "/loop2": redirect("/loop1"),
        "/self": redirect("/self", 301),
        "/mailto": redirect("mailto:someone@example.com"),
        "/javascript": redirect("javascript:alert(1)", 301),
        "/cp1251": raw(CP1251.encode("cp1251"), "text/html"),
        "/sjis": raw(SJIS.encode("shift_jis"), "text/html; charset=Shift_JIS"),
        "/bad-utf8": raw(BAD_UTF8, "text/html; charset=utf-8"),
        "/octet": raw(OCTET, "application/octet-stream"),
        "/gone": status(410),
        "/error": status(500),
    }
    return Site(pages={"/chain-end": [], "/never": []}, handlers=handlers)


@pytest.mark.timeout(30)
async def test_every_hostile_case_ends_in_a_record(serve) -> None:
    gzip_bomb(BOMB_MIB)
    site = await serve(hostile_site())
    site.handlers["/offhost"] = redirect(site.url("/x").replace("127.0.0.1", "localhost"))
    pages: list[Page] = []
    seeds = [site.url(path) for path in EXPECTED]
    stats = await crawl(
        seeds, on_page=pages.append, timeout=2.0, retries=1, backoff=0, max_bytes=MIB
    )
    by_path = {p.url.removeprefix(site.base): p for p in pages}
    assert {path: (p.status, p.error) for path, p in by_path.items()} == {
        path: (code, error) for path, (code, error, _) in EXPECTED.items()
    }
    # aiohttp re-sends a request once, unseen, when a reused keep-alive connection turns
    # out closed: whether the connection was reused is up to the pool.
    assert site.hits.pop("/close") in (2, 3, 4)
    assert {path: site.hits[path] for path in EXPECTED if path != "/close"} == {
        path: hits for path, (_, _, hits) in EXPECTED.items() if path != "/close"
    }
    assert stats.stop_reason == "complete"
    assert stats.pages == len(EXPECTED)

    assert by_path["/chain1"].final_url == site.url("/chain-end")
    assert by_path["/offhost"].final_url.startswith("http://localhost:")
    assert "/x" not in site.hits  # the redirect target was out of scope
    assert stats.skipped == {"out_of_scope": 1}
    assert by_path["/loop1"].error_detail == f"redirect loop back to {site.url('/loop1')}"
    assert (
        by_path["/mailto"].error_detail == "redirect to non-http URL 'mailto:someone@example.com'"
    )
    assert by_path["/cp1251"].title == "Привет, мир"
    assert by_path["/sjis"].title == "日本語のページ"
    assert by_path["/bad-utf8"].title == "café \ufffd\ufffd ok"
    assert (by_path["/octet"].title, by_path["/octet"].links) == (None, ())
    assert "/never" not in site.hits


async def test_an_infinite_calendar_is_stopped_by_max_pages_per_host(serve) -> None:
    async def calendar(request: web.Request) -> web.Response:
        month = int(request.query.get("m", "0"))
        body = f'<a href="/cal?m={month + 1}">next</a><a href="/cal?m={month - 1}">prev</a>'
        return web.Response(text=body, content_type="text/html")

    site = await serve(Site(pages={"/": ["/cal?m=0"]}, handlers={"/cal": calendar}))
    stats = await crawl([site.url("/")], max_pages_per_host=25)
    assert stats.pages == 25
    assert stats.stop_reason == "complete"
    assert stats.skipped["limit_reached"] >= 1
    assert site.hits.total() == 25 + 1  # and robots.txt


@dataclass
class NestingSite(Site):
    """Every path is a page linking ``a/`` and ``b/``: relative links that nest forever."""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.hits[request.path_qs] += 1
        if request.path == "/robots.txt":
            return web.Response(status=404)
        body = '<a href="a/">a</a><a href="b/">b</a>'
        return web.Response(text=body, content_type="text/html")


async def test_repeating_path_segments_are_a_trap(serve) -> None:
    site = await serve(NestingSite())
    stats = await crawl([site.url("/")], max_repeated_segments=2)
    # Paths of a/ and b/ with each at most twice: sum of C(i + j, i) for i, j <= 2.
    assert stats.pages == 19
    assert stats.skipped == {"trap": 20}  # the a/ (or b/) link of pages with two already
    assert stats.stop_reason == "complete"


async def test_ever_growing_query_strings_stop_at_max_url_length(serve) -> None:
    async def grow(request: web.Request) -> web.Response:
        body = f'<a href="/q?{request.query_string}x">more</a>'
        return web.Response(text=body, content_type="text/html")

    site = await serve(Site(handlers={"/q": grow}))
    base_length = len(site.url("/q?"))
    stats = await crawl([site.url("/q?x")], max_url_length=base_length + 50)
    assert stats.pages == 50
    assert stats.skipped == {"invalid_url": 1}
    assert stats.stop_reason == "complete"


RSS_PROBE = """
import asyncio, json, resource, sys
from crawler import crawl
stats = asyncio.run(crawl(sys.argv[1:], retries=0))
peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"peak_mib": peak_kib / 1024, "errors": dict(stats.errors), "pages": stats.pages}))
"""


@pytest.mark.timeout(120)
async def test_peak_rss_of_a_crawl_meeting_huge_bodies_stays_bounded(serve) -> None:
    gzip_bomb(BOMB_MIB)
    site = await serve(Site(handlers={"/huge": huge, "/bomb": bomb}))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        RSS_PROBE,
        site.url("/huge"),
        site.url("/bomb"),
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate()
    assert process.returncode == 0
    report = json.loads(out)
    assert report["errors"] == {"too_large": 2}
    assert report["pages"] == 2
    # What this guards against is holding the 200 MB body or inflating the 1.1 GB bomb (a
    # peak of 250 MiB and more). Alone the probe peaks at ~72 MiB (50 of them the imports);
    # in full-suite runs on 2 cores it reached 160 at times, for reasons not found yet.
    assert report["peak_mib"] < 200
