"""Pages behind redirects are never lost: a redirect's target stays its source's to follow.

The site is a tree of pages each reachable only through a 302: ``/p/I`` links to
``/r/J``, which redirects to ``/p/J``. When the redirecting request is fetched again (a
503 on the target hands it back, a crash and resume, a dead worker's lease), its target
must not count as a duplicate, or everything behind it is never crawled.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from aiohttp import web

from tests.conftest import Site, page_html

pytestmark = pytest.mark.timeout(120)

PAGES = 1500
BUSY_EVERY = 50
"""Every 50th target answers 503 the first time it is asked."""


def redirect_tree(pages: int = PAGES, busy_every: int = BUSY_EVERY) -> Site:
    """Return the site: ``/p/I`` links to ``/r/2I+1`` and ``/r/2I+2``, each a 302 to ``/p/J``."""
    asked: Counter[int] = Counter()

    def page(number: int) -> web.Response:
        children = [f"/r/{c}" for c in (2 * number + 1, 2 * number + 2) if c < pages]
        return web.Response(text=page_html(f"/p/{number}", children), content_type="text/html")

    def serve_page(number: int):  # type: ignore[no-untyped-def]
        async def handler(request: web.Request) -> web.StreamResponse:
            asked[number] += 1
            if number % busy_every == 0 and number and asked[number] == 1:
                return web.Response(status=503, headers={"Retry-After": "0"})
            return page(number)

        return handler

    def redirect(number: int):  # type: ignore[no-untyped-def]
        async def handler(request: web.Request) -> web.StreamResponse:
            return web.Response(status=302, headers={"Location": f"/p/{number}"})

        return handler

    handlers = {f"/p/{n}": serve_page(n) for n in range(pages)}
    handlers |= {f"/r/{n}": redirect(n) for n in range(1, pages)}
    return Site(handlers=handlers)


def final_pages(path: Path) -> Counter[str]:
    """Return how many records end at each ``/p/`` page with a 200."""
    records = [json.loads(line) for line in path.read_text().splitlines()]
    return Counter(r["final_url"].rsplit(":", 1)[1] for r in records if r["status"] == 200)


def every_page(site: Site) -> set[str]:
    port = site.base.rsplit(":", 1)[1]
    return {f"{port}/p/{n}" for n in range(PAGES)}


async def test_a_busy_redirect_target_is_retried_not_lost(serve, tmp_path) -> None:
    from crawler import crawl

    site = await serve(redirect_tree())
    out = tmp_path / "out.jsonl"
    stats = await crawl([site.url("/p/0")], output=str(out), obey_robots=False, backoff=0)
    found = final_pages(out)
    assert set(found) == every_page(site)
    assert max(found.values()) == 1
    assert stats.stop_reason == "complete"


async def test_pages_behind_redirects_survive_kills_and_a_resume(serve, tmp_path) -> None:
    site = await serve(redirect_tree())
    state, out = tmp_path / "crawl.db", tmp_path / "out.jsonl"
    command = [
        sys.executable, "-m", "crawler", site.url("/p/0"), "--state", str(state),
        "-o", str(out), "-q", "--ignore-robots", "--concurrency", "8",
    ]  # fmt: skip
    rng = random.Random()
    for _ in range(6):
        proc = await asyncio.create_subprocess_exec(*command, stderr=subprocess.PIPE)
        await asyncio.wait_for(site.wait_for_hits(site.hits.total() + rng.randint(1, 300)), 30)
        proc.send_signal(signal.SIGKILL)
        await asyncio.wait_for(proc.communicate(), 30)
    proc = await asyncio.create_subprocess_exec(*command, stderr=subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), 90)
    assert proc.returncode == 0, err.decode()
    found = final_pages(out)
    assert set(found) == every_page(site)
    assert max(found.values()) == 1


async def test_pages_behind_redirects_survive_a_killed_redis_worker(serve, workers) -> None:
    from tests.workers_support import exit_code

    site = await serve(redirect_tree())
    options = ("--lease-seconds", "2", "--concurrency", "8", "--ignore-robots")
    first = await workers.start("w1", site.url("/p/0"), *options)
    second = await workers.start("w2", site.url("/p/0"), *options)
    third = await workers.start("w3", *options)
    await site.wait_for_hits(800)
    second.send_signal(signal.SIGKILL)
    await second.wait()
    async with asyncio.timeout(100):
        assert [await exit_code(first), await exit_code(third)] == [0, 0]
    records = await workers.exported_records()
    found = Counter(r["final_url"].rsplit(":", 1)[1] for r in records if r["status"] == 200)
    assert set(found) == every_page(site)
    assert max(found.values()) == 1
