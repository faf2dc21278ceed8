"""Tests of crawler.fetcher: aioresponses at the transport seam, a real local server for bodies."""

from __future__ import annotations

import asyncio
import gzip
import socket
import struct
import tracemalloc
import zlib
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import aiohttp
import brotli
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from aioresponses import aioresponses

from crawler.config import MIB, CrawlConfig
from crawler.fetcher import (
    ACCEPT_ENCODING,
    Fetcher,
    FollowCheck,
    parse_content_type,
    parse_retry_after,
    retry_delay,
)
from crawler.models import FetchResult, Request

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from aiohttp.typedefs import Handler
    from yarl import URL

A = "http://example.test/a"
B = "http://example.test/b"
C = "http://example.test/c"
D = "http://example.test/d"


def request(url: str) -> Request:
    return Request(url=url, key=url)


async def run_fetch(
    url: str,
    *,
    follow: FollowCheck | None = None,
    jitter: float = 1.0,
    **options: Any,
) -> tuple[FetchResult, list[float]]:
    """Fetch ``url`` with a fresh fetcher; return the result and the back-off delays slept."""
    delays: list[float] = []

    async def sleep(delay: float) -> None:
        delays.append(delay)

    config = CrawlConfig(**options)
    async with Fetcher(config, sleep=sleep, rng=lambda: jitter) as fetcher:
        result = await fetcher.fetch(request(url), follow)
    return result, delays


class _MockedResponse(aiohttp.ClientResponse):
    """aioresponses 0.7.9 does not pass ``stream_writer``, required since aiohttp 3.14."""

    def __init__(self, method: str, url: URL, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", SimpleNamespace(output_size=0))
        super().__init__(method, url, **kwargs)


class Mocked(aioresponses):
    """``aioresponses`` building responses aiohttp 3.14 accepts."""

    def add(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("response_class", _MockedResponse)
        super().add(*args, **kwargs)


@pytest.fixture
def mocked() -> Iterator[aioresponses]:
    with Mocked() as mock:
        yield mock


def calls(mock: aioresponses, url: str) -> int:
    return sum(len(v) for (method, u), v in mock.requests.items() if str(u) == url)


# --- pure helpers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempt", "jitter", "retry_after", "expected"),
    [
        (0, 0.0, None, 0.25),  # equal jitter: half the step is kept
        (0, 1.0, None, 0.5),
        (1, 0.5, None, 0.75),
        (2, 1.0, None, 2.0),
        (10, 1.0, None, 60.0),  # step capped
        (0, 1.0, 7.0, 7.0),  # Retry-After is a lower bound
        (3, 1.0, 1.0, 4.0),  # ... not an upper one
        (0, 0.0, 600.0, 60.0),  # Retry-After capped
    ],
)
def test_retry_delay(
    attempt: int, jitter: float, retry_after: float | None, expected: float
) -> None:
    delay = retry_delay(attempt, backoff=0.5, retry_after=retry_after, cap=60.0, rng=lambda: jitter)
    assert delay == expected


NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("Wed, 01 May 2024 12:00:30 GMT", 30.0),
        ("Wed, 01 May 2024 11:00:00 GMT", 0.0),  # in the past
        ("-5", None),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("text/html", ("text/html", None)),
        ('Text/HTML; Charset="ISO-8859-1"', ("text/html", "iso-8859-1")),
        ("application/xhtml+xml; q=1;charset=utf-8", ("application/xhtml+xml", "utf-8")),
        ("text/plain; charset=", ("text/plain", None)),
        ("", (None, None)),
        (None, (None, None)),
    ],
)
def test_parse_content_type(value: str | None, expected: tuple[str | None, str | None]) -> None:
    assert parse_content_type(value) == expected


# --- lifecycle ----------------------------------------------------------------------------


async def test_fetch_outside_context_raises() -> None:
    fetcher = Fetcher(CrawlConfig())
    with pytest.raises(RuntimeError, match=r"^Fetcher is new; use it inside 'async with'$"):
        await fetcher.fetch(request(A))


async def test_closed_fetcher_refuses_reuse() -> None:
    fetcher = Fetcher(CrawlConfig())
    async with fetcher:
        pass
    with pytest.raises(RuntimeError, match=r"^Fetcher is closed; use it inside 'async with'$"):
        await fetcher.fetch(request(A))
    with pytest.raises(RuntimeError, match=r"^Fetcher cannot be opened twice \(it is closed\)$"):
        await fetcher.__aenter__()


# --- responses, errors and retries (aioresponses) -----------------------------------------


async def test_success(mocked: aioresponses) -> None:
    headers = {"Content-Type": 'Text/HTML; charset="UTF-8"'}
    mocked.get(A, body=b"<html>hi</html>", headers=headers)
    before = datetime.now(UTC)
    result, delays = await run_fetch(A)
    assert result.request == request(A)
    assert (result.status, result.error, result.error_detail) == (200, None, None)
    assert (result.final_url, result.redirects, result.stopped_redirect) == (A, (), None)
    assert (result.content_type, result.charset) == ("text/html", "utf-8")
    assert result.body == b"<html>hi</html>"
    assert result.headers["content-type"] == 'Text/HTML; charset="UTF-8"'
    assert before <= result.fetched_at <= datetime.now(UTC)
    assert result.fetched_at.tzinfo is UTC
    assert 0 <= result.elapsed < 5
    assert delays == []


@pytest.mark.parametrize(
    ("exception", "error", "detail"),
    [
        (TimeoutError(), "timeout", "timed out after 30s"),
        (aiohttp.ConnectionTimeoutError(), "timeout", "connect timed out after 10s"),
        (
            aiohttp.ServerDisconnectedError(),
            "connection",
            "ServerDisconnectedError: Server disconnected",
        ),
        (
            aiohttp.ClientOSError(104, "Connection reset by peer"),
            "connection",
            "ClientOSError: [Errno 104] Connection reset by peer",
        ),
    ],
)
async def test_transport_errors(
    mocked: aioresponses, exception: Exception, error: str, detail: str
) -> None:
    mocked.get(A, exception=exception)
    result, delays = await run_fetch(A, retries=0)
    assert (result.status, result.error, result.error_detail) == (None, error, detail)
    assert (result.final_url, result.body, result.headers) == (A, b"", {})
    assert result.content_type is None
    assert delays == []


async def test_retries_connection_errors_then_succeeds(mocked: aioresponses) -> None:
    mocked.get(A, exception=aiohttp.ServerDisconnectedError())
    mocked.get(A, exception=TimeoutError())
    mocked.get(A, body=b"ok")
    result, delays = await run_fetch(A, retries=2, backoff=0.5)
    assert (result.status, result.error, result.body) == (200, None, b"ok")
    assert delays == [0.5, 1.0]
    assert calls(mocked, A) == 3


async def test_retries_exhausted_records_last_status(mocked: aioresponses) -> None:
    for _ in range(4):
        mocked.get(A, status=503, reason="Service Unavailable", body=b"busy")
    result, delays = await run_fetch(A, retries=3, backoff=1.0, jitter=0.0)
    assert (result.status, result.error) == (503, "http_status")
    assert result.error_detail == "HTTP 503 Service Unavailable"
    assert result.body == b""
    assert delays == [0.5, 1.0, 2.0]
    assert calls(mocked, A) == 4


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
async def test_retry_statuses_are_retried(mocked: aioresponses, status: int) -> None:
    mocked.get(A, status=status)
    mocked.get(A, body=b"ok")
    result, delays = await run_fetch(A, retries=1)
    assert (result.status, result.body, delays) == (200, b"ok", [0.5])


@pytest.mark.parametrize("status", [400, 403, 404, 410, 501])
async def test_other_errors_are_not_retried(mocked: aioresponses, status: int) -> None:
    mocked.get(A, status=status, reason="Nope")
    result, delays = await run_fetch(A, retries=2)
    assert (result.status, result.error, result.error_detail) == (
        status,
        "http_status",
        f"HTTP {status} Nope",
    )
    assert delays == []
    assert calls(mocked, A) == 1


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [
        ("7", 7.0),
        ("120", 60.0),  # capped by max_retry_after
        ("0", 0.5),  # the back-off still applies
    ],
)
async def test_retry_after_seconds(mocked: aioresponses, retry_after: str, expected: float) -> None:
    mocked.get(A, status=429, headers={"Retry-After": retry_after})
    mocked.get(A, body=b"ok")
    result, delays = await run_fetch(A, retries=1, max_retry_after=60.0)
    assert (result.status, delays) == (200, [expected])


async def test_retry_after_http_date_is_capped(mocked: aioresponses) -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)
    mocked.get(A, status=503, headers={"Retry-After": later})
    mocked.get(A, body=b"ok")
    result, delays = await run_fetch(A, retries=1, max_retry_after=5.0)
    assert (result.status, delays) == (200, [5.0])


async def test_retry_after_http_date_honoured(mocked: aioresponses) -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=40), usegmt=True)
    mocked.get(A, status=503, headers={"Retry-After": later})
    mocked.get(A, body=b"ok")
    result, delays = await run_fetch(A, retries=1, max_retry_after=60.0)
    assert result.status == 200
    assert 38.0 <= delays[0] <= 40.0  # the date has one-second resolution


# --- redirects (aioresponses) -------------------------------------------------------------


async def test_redirect_chain(mocked: aioresponses) -> None:
    mocked.get(A, status=301, headers={"Location": "/b#frag"})
    mocked.get(B, status=302, headers={"Location": C})
    mocked.get(C, body=b"final", headers={"Content-Type": "text/plain"})
    seen: list[str] = []

    def follow(target: str) -> str | None:
        seen.append(target)
        return None

    result, _ = await run_fetch(A, follow=follow, max_redirects=2)
    assert (result.status, result.error, result.body) == (200, None, b"final")
    assert (result.final_url, result.redirects) == (C, (A, B))
    assert result.content_type == "text/plain"
    assert seen == [B, C]


async def test_redirect_cap(mocked: aioresponses) -> None:
    mocked.get(A, status=302, headers={"Location": B})
    mocked.get(B, status=302, headers={"Location": C})
    mocked.get(C, status=302, headers={"Location": D})
    result, _ = await run_fetch(A, max_redirects=2)
    assert (result.status, result.error) == (302, "too_many_redirects")
    assert result.error_detail == "more than 2 redirects"
    assert (result.final_url, result.redirects) == (C, (A, B))
    assert calls(mocked, D) == 0


async def test_redirects_zero_allowed(mocked: aioresponses) -> None:
    mocked.get(A, status=307, headers={"Location": B})
    result, _ = await run_fetch(A, max_redirects=0)
    assert (result.status, result.error, result.final_url) == (307, "too_many_redirects", A)
    assert result.error_detail == "more than 0 redirects"


async def test_redirect_loop(mocked: aioresponses) -> None:
    mocked.get(A, status=302, headers={"Location": B})
    mocked.get(B, status=302, headers={"Location": "/a"})
    result, _ = await run_fetch(A)
    assert (result.status, result.error) == (302, "too_many_redirects")
    assert result.error_detail == f"redirect loop back to {A}"
    assert (result.final_url, result.redirects) == (B, (A,))
    assert calls(mocked, A) == 1


async def test_redirect_to_mailto_is_not_followed(mocked: aioresponses) -> None:
    mocked.get(A, status=302, headers={"Location": "mailto:me@example.test"})
    follow_calls: list[str] = []

    def follow(target: str) -> str | None:
        follow_calls.append(target)
        return None

    result, _ = await run_fetch(A, follow=follow)
    assert (result.status, result.error) == (302, "bad_redirect")
    assert result.error_detail == "redirect to non-http URL 'mailto:me@example.test'"
    assert (result.final_url, result.redirects, follow_calls) == (A, (), [])


async def test_redirect_without_location(mocked: aioresponses) -> None:
    mocked.get(A, status=301)
    result, _ = await run_fetch(A)
    assert (result.status, result.error, result.error_detail) == (
        301,
        "bad_redirect",
        "redirect without Location",
    )
    assert result.final_url == A


async def test_follow_refusal_stops_at_target(mocked: aioresponses) -> None:
    mocked.get(A, status=301, headers={"Location": B})
    mocked.get(B, status=301, headers={"Location": "http://other.test/x"})

    def follow(target: str) -> str | None:
        return "out_of_scope" if "other.test" in target else None

    result, _ = await run_fetch(A, follow=follow)
    assert (result.status, result.error, result.stopped_redirect) == (301, None, "out_of_scope")
    assert (result.final_url, result.redirects) == ("http://other.test/x", (A,))
    assert result.body == b""


async def test_async_follow_is_awaited(mocked: aioresponses) -> None:
    mocked.get(A, status=302, headers={"Location": B})
    mocked.get(B, status=302, headers={"Location": C})

    async def follow(target: str) -> str | None:
        await asyncio.sleep(0)
        return "duplicate" if target == C else None

    result, _ = await run_fetch(A, follow=follow)
    assert (result.status, result.error, result.stopped_redirect) == (302, None, "duplicate")
    assert (result.final_url, result.redirects) == (C, (A,))
    assert calls(mocked, C) == 0


# --- a real local server: bodies, compression, broken transfers ---------------------------

SMALL_CAP = 1000
PLAIN = b"x" * SMALL_CAP


def _gzip_bomb(inflated_mib: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: a gzip container
    zeros = b"\0" * MIB
    return b"".join([*(packer.compress(zeros) for _ in range(inflated_mib)), packer.flush()])


BOMB = _gzip_bomb(50)


def _static(body: bytes, encoding: str | None = None) -> Handler:
    headers = {"Content-Encoding": encoding} if encoding else {}

    async def handler(_: web.Request) -> web.StreamResponse:
        return web.Response(body=body, headers=headers)

    return handler


async def _echo(req: web.Request) -> web.Response:
    text = f"{req.headers['User-Agent']}|{req.headers['Accept-Encoding']}"
    return web.Response(text=text)


async def _chunked(req: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse()
    resp.enable_chunked_encoding()
    await resp.prepare(req)
    for _ in range(SMALL_CAP // 100 + 1):
        await resp.write(b"y" * 100)
    await resp.write_eof()
    return resp


async def _reset(req: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Length": "5000"})
    await resp.prepare(req)
    await resp.write(b"z" * 100)
    assert req.transport is not None
    sock = req.transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    req.transport.abort()  # with SO_LINGER 0: an RST, not a FIN
    return resp


async def _slow_body(req: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Length": "5000"})
    await resp.prepare(req)
    await resp.write(b"z" * 100)
    await asyncio.Event().wait()  # never set: the server never goes on
    return resp


async def _declared_huge(req: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Length": str(10**9)})
    await resp.prepare(req)
    await asyncio.Event().wait()  # never set: the body never comes
    return resp


async def _silent(req: web.Request) -> web.Response:
    await asyncio.Event().wait()  # never set: the server never goes on
    return web.Response()


async def _missing(req: web.Request) -> web.Response:
    return web.Response(status=404, body=b"no such page", content_type="text/plain")


ROUTES: dict[str, Handler] = {
    "/echo": _echo,
    "/exact": _static(PLAIN),
    "/over": _static(PLAIN + b"x"),
    "/chunked": _chunked,
    "/gzip-exact": _static(gzip.compress(PLAIN, mtime=0), "gzip"),
    "/gzip-over": _static(gzip.compress(PLAIN + b"x"), "gzip"),
    "/deflate": _static(zlib.compress(PLAIN), "deflate"),
    "/br": _static(brotli.compress(PLAIN), "br"),
    "/raw-deflate": _static(zlib.compress(PLAIN)[2:-4], "deflate"),
    "/bad-gzip": _static(b"this is not gzip", "gzip"),
    "/missing": _missing,
    "/bomb": _static(BOMB, "gzip"),
    "/reset": _reset,
    "/slow-body": _slow_body,
    "/silent": _silent,
    "/declared-huge": _declared_huge,
}


@pytest.fixture
async def server() -> AsyncIterator[TestServer]:
    app = web.Application()
    for path, handler in ROUTES.items():
        app.router.add_get(path, handler)
    async with TestServer(app, host="127.0.0.1", port=0) as srv:
        yield srv


def url_of(srv: TestServer, path: str) -> str:
    return str(srv.make_url(path))


async def test_sends_user_agent_and_accept_encoding(server: TestServer) -> None:
    result, _ = await run_fetch(url_of(server, "/echo"), user_agent="test-bot/1")
    assert result.body == f"test-bot/1|{ACCEPT_ENCODING}".encode()
    assert ACCEPT_ENCODING == "gzip, deflate, br"


@pytest.mark.parametrize("path", ["/exact", "/gzip-exact", "/deflate", "/raw-deflate", "/br"])
async def test_body_at_cap_is_accepted(server: TestServer, path: str) -> None:
    result, _ = await run_fetch(url_of(server, path), max_bytes=SMALL_CAP)
    assert (result.status, result.error, result.body) == (200, None, PLAIN)


@pytest.mark.timeout(10)
@pytest.mark.parametrize("path", ["/over", "/chunked", "/gzip-over"])
async def test_body_over_cap_is_too_large(server: TestServer, path: str) -> None:
    result, _ = await run_fetch(url_of(server, path), max_bytes=SMALL_CAP)
    assert (result.status, result.error, result.body) == (200, "too_large", b"")
    assert result.error_detail == f"body over {SMALL_CAP} bytes"


@pytest.mark.timeout(10)
async def test_declared_length_over_cap_is_refused_unread(server: TestServer) -> None:
    # Without the Content-Length check this would wait for the body and time out.
    url = url_of(server, "/declared-huge")
    result, _ = await run_fetch(url, max_bytes=SMALL_CAP, timeout=2, retries=0)
    assert (result.status, result.error, result.body) == (200, "too_large", b"")


@pytest.mark.parametrize("path", ["/exact", "/gzip-exact", "/br"])
async def test_the_exchange_keeps_the_body_as_transferred(server: TestServer, path: str) -> None:
    result, _ = await run_fetch(url_of(server, path), warc="a.warc.gz")
    (exchange,) = result.exchanges
    coding = dict(exchange.response_headers).get(b"Content-Encoding", b"").decode() or None
    sent = {
        "/exact": PLAIN,
        "/gzip-exact": gzip.compress(PLAIN, mtime=0),
        "/br": brotli.compress(PLAIN),
    }
    assert (result.body, exchange.status, exchange.truncated) == (PLAIN, 200, False)
    assert (exchange.body, exchange.ip, exchange.method) == (sent[path], "127.0.0.1", "GET")
    assert coding == {"/exact": None, "/gzip-exact": "gzip", "/br": "br"}[path]
    assert exchange.url == url_of(server, path)
    assert exchange.request_headers["Host"] == f"127.0.0.1:{server.port}"


async def test_an_error_answer_keeps_its_body_in_the_exchange(server: TestServer) -> None:
    result, _ = await run_fetch(url_of(server, "/missing"))
    assert (result.status, result.error, result.body) == (404, "http_status", b"")
    assert [(e.status, e.reason, e.body) for e in result.exchanges] == [
        (404, "Not Found", b"no such page")
    ]


@pytest.mark.parametrize("path", ["/over", "/gzip-over"])
async def test_a_body_over_the_cap_is_kept_cut_in_the_exchange(
    server: TestServer, path: str
) -> None:
    result, _ = await run_fetch(url_of(server, path), max_bytes=SMALL_CAP, warc="a.warc.gz")
    (exchange,) = result.exchanges
    assert (result.error, exchange.truncated) == ("too_large", True)
    # A declared length over the cap is not read at all; a gzip body is read until it is.
    assert len(exchange.body) == {"/over": 0, "/gzip-over": len(gzip.compress(PLAIN + b"x"))}[path]
    result, _ = await run_fetch(url_of(server, path), max_bytes=SMALL_CAP)
    assert [e.body for e in result.exchanges] == [b""]  # kept only for an archive


@pytest.mark.timeout(30)
async def test_gzip_bomb_stays_near_the_cap(server: TestServer) -> None:
    tracemalloc.start()
    try:
        result, _ = await run_fetch(url_of(server, "/bomb"), max_bytes=MIB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (result.status, result.error, result.body) == (200, "too_large", b"")
    assert peak < 8 * MIB  # the bomb inflates to 50 MiB


async def test_bad_content_encoding_is_invalid_content(server: TestServer) -> None:
    result, delays = await run_fetch(url_of(server, "/bad-gzip"))
    assert (result.status, result.error, result.body) == (200, "invalid_content", b"")
    assert result.error_detail == (
        "cannot decode Content-Encoding gzip: Error -3 while decompressing data: incorrect header check"
    )
    assert delays == []


@pytest.mark.timeout(10)
async def test_reset_mid_body_is_connection(server: TestServer) -> None:
    result, delays = await run_fetch(url_of(server, "/reset"), retries=1)
    assert (result.status, result.error, result.body) == (200, "connection", b"")
    detail = "Not enough data to satisfy content length header (received 100 of 5000 bytes)."
    assert result.error_detail == detail
    assert delays == [0.5]


@pytest.mark.timeout(10)
async def test_slow_body_times_out(server: TestServer) -> None:
    result, _ = await run_fetch(url_of(server, "/slow-body"), timeout=0.3, retries=0)
    assert (result.status, result.error, result.body) == (200, "timeout", b"")
    assert result.error_detail == "timed out after 0.3s"
    assert 0.3 <= result.elapsed < 5


@pytest.mark.timeout(10)
async def test_no_answer_times_out(server: TestServer) -> None:
    result, _ = await run_fetch(url_of(server, "/silent"), timeout=0.3, retries=0)
    assert (result.status, result.error, result.error_detail) == (
        None,
        "timeout",
        "timed out after 0.3s",
    )


@pytest.mark.timeout(10)
async def test_connection_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again at once: nothing listens there
    result, delays = await run_fetch(f"http://127.0.0.1:{port}/", retries=1)
    assert (result.status, result.error) == (None, "connection")
    assert result.error_detail is not None
    assert result.error_detail.startswith(
        f"ClientConnectorError: Cannot connect to host 127.0.0.1:{port}"
    )
    assert delays == [0.5]
