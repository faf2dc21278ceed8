"""Shared fixtures: a local web site on 127.0.0.1 (port 0) built from a link graph."""

from __future__ import annotations

import asyncio
import gzip
import os
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from aiohttp import web

if TYPE_CHECKING:
    from tests.coordination_support import Processes
    from tests.workers_support import Workers

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def page_html(title: str, links: list[str]) -> str:
    """Return a small HTML page with ``title`` and one anchor per link."""
    anchors = "\n".join(f'<li><a href="{href}">{href}</a></li>' for href in links)
    return f"<html><head><title>{title}</title></head><body><ul>{anchors}</ul></body></html>"


@dataclass
class Site:
    """A site served on 127.0.0.1; records every request it receives.

    Attributes:
        pages: path → list of hrefs on that page (served as HTML with title = path).
        handlers: path → a custom aiohttp handler, for special behaviour.
        hits: how many times each path (with query) was requested.
        seen: set whenever a request arrives; tests wait on it instead of sleeping.
    """

    pages: dict[str, list[str]] = field(default_factory=dict)
    handlers: dict[str, Handler] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)
    requests: list[web.Request] = field(default_factory=list)
    base: str = ""
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    def url(self, path: str = "/") -> str:
        """Return the absolute URL of ``path`` on this site."""
        return self.base + path

    def urls(self) -> set[str]:
        """Return the absolute URLs of every HTML page of the site."""
        return {self.url(p) for p in self.pages}

    async def wait_for_hits(self, count: int) -> None:
        """Wait until at least ``count`` requests have arrived."""
        async with self.arrived:
            await self.arrived.wait_for(lambda: self.hits.total() >= count)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        key = request.path_qs
        self.hits[key] += 1
        self.requests.append(request)
        async with self.arrived:
            self.arrived.notify_all()
        handler = self.handlers.get(request.path)
        if handler is not None:
            return await handler(request)
        if request.path not in self.pages:
            return web.Response(status=404, text="not found")
        body = page_html(request.path, self.pages[request.path])
        return web.Response(text=body, content_type="text/html")


def chain_graph(count: int, fanout: int = 3) -> dict[str, list[str]]:
    """Return ``count`` pages ``/p0 … /pN``; page i links to the next ``fanout`` pages (wrapping)."""
    return {f"/p{i}": [f"/p{(i + k) % count}" for k in range(1, fanout + 1)] for i in range(count)}


def gzip_response(body: bytes, content_type: str = "text/html") -> web.Response:
    """Return a response with a gzip-encoded body."""
    response = web.Response(body=gzip.compress(body), content_type=content_type)
    response.headers["Content-Encoding"] = "gzip"
    return response


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Site], Awaitable[Site]]]:
    """Start sites on 127.0.0.1 with a system-chosen port; stop them at the end of the test."""
    runners: list[web.AppRunner] = []

    async def start(site: Site) -> Site:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", site.handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await runner.setup()
        tcp = web.TCPSite(runner, "127.0.0.1", 0)
        await tcp.start()
        runners.append(runner)
        port = runner.addresses[0][1]
        site.base = f"http://127.0.0.1:{port}"
        return site

    yield start
    for runner in runners:
        await runner.cleanup()


def broken_link_site() -> Site:
    """Return a site with known broken links (see ``BROKEN_LINKS``) and one redirect to fix.

    ``/`` → ``/a``, ``/b``, ``/missing`` (404), ``/moved`` (301 to ``/c``), ``/error`` (500);
    ``/a`` → ``/missing``, ``/gone`` (410), a refused port on the same host, ``/``;
    ``/b`` → ``/a``, ``/moved-to-missing`` (302 to ``/nowhere``, a 404).
    """
    site = Site(
        pages={
            "/": ["/a", "/b", "/missing", "/moved", "/error"],
            "/a": ["/missing", "/gone", "http://127.0.0.1:1/refused", "/"],
            "/b": ["/a", "/moved-to-missing"],
            "/c": [],
        }
    )

    def status(code: int) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            return web.Response(status=code, text=f"status {code}")

        return handler

    def redirect(code: int, target: str) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            return web.Response(status=code, headers={"Location": target})

        return handler

    site.handlers.update(
        {
            "/gone": status(410),
            "/error": status(500),
            "/moved": redirect(301, "/c"),
            "/moved-to-missing": redirect(302, "/nowhere"),
        }
    )
    return site


BROKEN_LINKS: dict[str, dict[str, set[str]]] = {
    "404 Not Found": {"/missing": {"/", "/a"}, "/moved-to-missing": {"/b"}},
    "410 Gone": {"/gone": {"/a"}},
    "500 Internal Server Error": {"/error": {"/"}},
    "connection": {"http://127.0.0.1:1/refused": {"/a"}},
}
"""``broken_link_site``'s broken links: group → path (or URL) → the pages linking there."""


REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")
TEST_NAMESPACE = "crawlertest"
"""Tests keep their keys under this namespace, each test under its own crawl id."""


REDIS_MISSING = "the redis package is not installed (pip install -e '.[redis]')"


def _skip_or_fail(reason: str) -> None:
    """Skip a test that cannot run here; under ``CI=true`` (``.ci/run``) fail it instead."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


def _redis_answers(url: str) -> str | None:
    """Return why Redis at ``url`` cannot be used, or ``None`` if it answers."""
    try:
        import redis
    except ImportError:
        return REDIS_MISSING
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2)
        client.ping()
        client.close()
    except redis.RedisError as exc:
        return f"no Redis answers at {url}: {exc}"
    return None


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The Redis server of the tests; skip without one (a failure under ``CI=true``)."""
    reason = _redis_answers(REDIS_URL)
    if reason is not None:
        _skip_or_fail(reason)
    return REDIS_URL


@pytest.fixture(scope="session")
def redis_package() -> None:
    """The redis package, for tests that need no server; skip without it (fail under CI)."""
    try:
        import redis  # noqa: F401
    except ImportError:
        _skip_or_fail(REDIS_MISSING)


@pytest.fixture
def crawl_id(redis_url: str) -> Iterator[str]:
    """A crawl id of this test alone; its keys (and only its) are deleted afterwards."""
    name = f"t-{uuid.uuid4().hex[:12]}"
    yield name
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{TEST_NAMESPACE}:{{{name}}}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
async def workers(redis_url: str, crawl_id: str, tmp_path: Path) -> AsyncIterator[Workers]:
    """Start ``crawl`` worker processes of this test's shared crawl; kill leftovers at the end."""
    from tests.workers_support import Workers

    started = Workers(redis_url, crawl_id, tmp_path)
    yield started
    started.kill_all()
    for proc in started.procs:
        await proc.wait()


@pytest.fixture(params=["local", "shared"])
async def crawl_processes(request: pytest.FixtureRequest) -> AsyncIterator[Processes]:
    """Processes of one crawl, run once with a local and once with the shared coordinator."""
    from tests.coordination_support import processes

    async with processes(request.param, request) as opened:
        yield opened
