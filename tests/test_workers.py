"""Several ``crawl`` worker processes sharing one crawl in a real Redis.

The site is served by the test's own event loop on 127.0.0.1; the workers are
``python -m crawler`` subprocesses with this test's crawl id under the test namespace.
Tests wait for server hits and process exits (events), never for time to pass.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web

from tests.conftest import Site
from tests.workers_support import Workers, exit_code, urls_in

pytestmark = pytest.mark.timeout(120)

Serve = Callable[[Site], Awaitable[Site]]


def tree_graph(count: int) -> dict[str, list[str]]:
    """Return ``count`` pages; page i links to 2i+1, 2i+2 (a wide frontier) and back to /p0."""
    return {
        f"/p{i}": [f"/p{j}" for j in (2 * i + 1, 2 * i + 2) if j < count] + ["/p0"]
        for i in range(count)
    }


async def test_a_killed_worker_loses_nothing_and_the_others_finish(
    serve: Serve, workers: Workers
) -> None:
    site = await serve(Site(pages=tree_graph(3000)))
    options = ("--lease-seconds", "2", "--concurrency", "8", "--ignore-robots")
    first = await workers.start("w1", site.url("/p0"), *options)
    second = await workers.start("w2", site.url("/p0"), *options)
    third = await workers.start("w3", *options)  # no seeds: it waits for them
    await site.wait_for_hits(600)
    second.send_signal(signal.SIGKILL)
    await second.wait()
    assert second.returncode == -signal.SIGKILL
    async with asyncio.timeout(100):
        assert [await exit_code(first), await exit_code(third)] == [0, 0]
    exported = await workers.exported()
    assert len(exported) == 3000
    assert set(exported) == site.urls()
    files = [urls_in(workers.output(name)) for name in ("w1", "w3")]
    assert len(files[0]) + len(files[1]) == len(set(files[0]) | set(files[1]))  # at most once


class ConcurrencyProbe:
    """A handler that counts requests in flight and remembers the most at once.

    It serves every path the workers request (robots.txt too, a 404): the limit holds for
    all requests to the host, not only for pages.
    """

    def __init__(self, site: Site) -> None:
        self.site = site
        self.current = 0
        self.most = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.current += 1
        self.most = max(self.most, self.current)
        try:
            await asyncio.sleep(0.01)  # the page takes a while: requests overlap if allowed
            if request.path not in self.site.pages:
                return web.Response(status=404, text="not found")
            return web.Response(
                text=page(request.path, self.site.pages[request.path]), content_type="text/html"
            )
        finally:
            self.current -= 1


def page(title: str, links: list[str]) -> str:
    anchors = "".join(f'<a href="{href}">{href}</a>' for href in links)
    return f"<html><head><title>{title}</title></head><body>{anchors}</body></html>"


async def test_per_host_concurrency_holds_across_three_workers(
    serve: Serve, workers: Workers
) -> None:
    site = Site(pages=tree_graph(300))
    probe = ConcurrencyProbe(site)
    site.handlers = dict.fromkeys([*site.pages, "/robots.txt"], probe.handle)
    await serve(site)
    options = ("--per-host-concurrency", "2", "--concurrency", "8", "--lease-seconds", "5")
    procs = [await workers.start(f"w{i}", site.url("/p0"), *options) for i in range(3)]
    async with asyncio.timeout(100):
        assert [await exit_code(proc) for proc in procs] == [0, 0, 0]
    assert probe.most == 2
    assert sorted(await workers.exported()) == sorted(site.urls())


async def test_a_paused_worker_loses_its_lease_and_its_late_ack_adds_nothing(
    serve: Serve, workers: Workers
) -> None:
    answer_slow = asyncio.Event()

    async def slow(request: web.Request) -> web.StreamResponse:
        await answer_slow.wait()
        return web.Response(text=page("/slow", []), content_type="text/html")

    pages = {"/": ["/slow", *(f"/p{i}" for i in range(20))], "/slow": []}
    pages |= {f"/p{i}": [] for i in range(20)}
    site = await serve(Site(pages=pages, handlers={"/slow": slow}))
    options = ("--lease-seconds", "2", "--ignore-robots")
    paused = await workers.start("paused", site.url("/"), *options)
    async with site.arrived:
        await site.arrived.wait_for(lambda: site.hits["/slow"] == 1)
    paused.send_signal(signal.SIGSTOP)
    answer_slow.set()  # answered, but the paused worker cannot ack in time
    other = await workers.start("other", *options)
    try:
        async with asyncio.timeout(60):
            assert await exit_code(other) == 0
    finally:
        paused.send_signal(signal.SIGCONT)
    async with asyncio.timeout(60):
        assert await exit_code(paused) == 0
    assert site.hits["/slow"] == 2
    exported = await workers.exported()
    assert sorted(exported) == sorted(site.urls())
    assert site.url("/slow") in urls_in(workers.output("other"))
    assert site.url("/slow") not in urls_in(workers.output("paused"))


async def test_a_killed_workers_work_is_taken_over_in_seconds_with_default_options(
    serve: Serve, workers: Workers
) -> None:
    """Its heartbeat, not its 300 s leases, says it died: the others finish well within 60 s."""
    site = await serve(Site(pages=tree_graph(3000)))
    options = ("--concurrency", "8", "--ignore-robots")
    first = await workers.start("w1", site.url("/p0"), *options)
    second = await workers.start("w2", site.url("/p0"), *options)
    await site.wait_for_hits(600)
    second.send_signal(signal.SIGKILL)
    await second.wait()
    killed = asyncio.get_running_loop().time()
    async with asyncio.timeout(100):
        assert await exit_code(first) == 0
    took = asyncio.get_running_loop().time() - killed
    assert took < 60, f"the survivor finished {took:.1f} s after the kill"
    exported = await workers.exported()
    assert sorted(exported) == sorted(site.urls())
