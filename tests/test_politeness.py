"""Per-host scheduling: slots, delays, pauses, and crawls where one host is slow or throttles."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from crawler import crawl
from crawler.models import Request
from crawler.politeness import MIN_BACKOFF, HostScheduler, HostSlots
from tests.conftest import Handler, Site, chain_graph

pytestmark = pytest.mark.timeout(60)

SLACK = 0.05
"""Seconds: arrival times at a server sharing the loop carry scheduling jitter on top of
the client's starts (first requests also open their connection)."""


@dataclass
class TimedSite(Site):
    """A ``Site`` that also notes when each request arrived (event-loop time)."""

    arrivals: list[tuple[float, str]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.arrivals.append((asyncio.get_running_loop().time(), request.path_qs))
        return await super().handle(request)

    def page_times(self) -> list[float]:
        return [t for t, path in self.arrivals if path != "/robots.txt"]


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


def req(url: str, attempt: int = 0) -> Request:
    return Request(url=url, key=url, attempt=attempt)


# --- HostSlots and HostScheduler --------------------------------------------------------


def test_unconfigured_origin_takes_one_request_at_a_time() -> None:
    slots = HostSlots(concurrency=4, delay=0.0, max_delay=30.0, probe=True)
    slots.start("http://a", now=0.0)
    assert slots.ready_at("http://a") is None
    slots.configure("http://a", crawl_delay=None)
    assert slots.ready_at("http://a") == 0.0


def test_crawl_delay_is_capped_and_never_below_delay(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="crawler.politeness")
    slots = HostSlots(concurrency=4, delay=0.5, max_delay=2.0, probe=True)
    slots.configure("http://a", crawl_delay=100.0)
    slots.configure("http://b", crawl_delay=0.1)
    assert (slots.delay("http://a"), slots.delay("http://b")) == (2.0, 0.5)
    assert "Crawl-delay 100s of http://a capped at 2s" in caplog.text


def test_429s_double_the_delay_and_successes_let_it_recover() -> None:
    slots = HostSlots(concurrency=1, delay=0.0, max_delay=1.0, probe=False)
    seen = []
    for status in (429, 429, 429, 429, 200, 200, 200, 200):
        slots.start("http://a", now=0.0)
        slots.finish("http://a", fetched=True, status=status)
        seen.append(slots.delay("http://a"))
    assert seen == [MIN_BACKOFF, 0.5, 1.0, 1.0, 0.5, MIN_BACKOFF, 0.0, 0.0]


def test_a_start_that_fetched_nothing_imposes_no_delay() -> None:
    slots = HostSlots(concurrency=1, delay=5.0, max_delay=30.0, probe=False)
    slots.start("http://a", now=10.0)
    slots.finish("http://a", fetched=False, status=None)
    assert slots.ready_at("http://a") == float("-inf")


async def test_a_paused_host_does_not_block_the_next_host() -> None:
    slots = HostSlots(concurrency=1, delay=0.0, max_delay=30.0, probe=False)
    scheduler = HostScheduler(slots, capacity=10, admit=lambda r: None)
    scheduler.add([req("http://a/1"), req("http://a/2"), req("http://b/1")])
    first = await scheduler.next()
    scheduler.requeue(first.request, pause=30.0)
    scheduler.release("http://a", fetched=True, status=429)
    second = await asyncio.wait_for(scheduler.next(), 1)
    assert (first.request.url, second.request.url) == ("http://a/1", "http://b/1")
    assert scheduler.waiting == 2


async def test_next_wakes_when_the_delay_is_over() -> None:
    loop = asyncio.get_running_loop()
    slots = HostSlots(concurrency=2, delay=0.2, max_delay=30.0, probe=False)
    scheduler = HostScheduler(slots, capacity=10, admit=lambda r: None)
    scheduler.add([req("http://a/1"), req("http://a/2")])
    await scheduler.next()
    started = loop.time()
    await asyncio.wait_for(scheduler.next(), 5)
    assert loop.time() - started >= 0.2 - 0.01  # the loop's timer granularity


async def test_admit_refusal_takes_no_slot() -> None:
    slots = HostSlots(concurrency=1, delay=0.0, max_delay=30.0, probe=False)
    scheduler = HostScheduler(
        slots, capacity=10, admit=lambda r: "robots" if "/x" in r.url else None
    )
    scheduler.add([req("http://a/x"), req("http://a/y")])
    refused, granted = await scheduler.next(), await scheduler.next()
    assert (refused.skip, granted.skip, granted.request.url) == ("robots", None, "http://a/y")
    assert slots.ready_at("http://a") is None  # the one slot is held by /y


async def test_wait_for_room_holds_the_feeder_at_capacity() -> None:
    slots = HostSlots(concurrency=1, delay=0.0, max_delay=30.0, probe=False)
    scheduler = HostScheduler(slots, capacity=2, admit=lambda r: None)
    scheduler.add([req("http://a/1"), req("http://b/1")])
    room = asyncio.create_task(scheduler.wait_for_room())
    await asyncio.sleep(0)
    assert not room.done()
    await scheduler.next()
    assert await asyncio.wait_for(room, 1) == 1


# --- crawls -----------------------------------------------------------------------------


async def test_delay_holds_between_requests_to_one_host(serve) -> None:
    site = await serve(TimedSite(pages=chain_graph(6, fanout=2)))
    stats = await crawl([site.url("/p0")], delay=0.3)
    assert stats.pages == 6
    assert min(gaps(site.page_times())) >= 0.3 - SLACK


async def test_crawl_delay_from_robots_holds(serve) -> None:
    site = await serve(TimedSite(pages=chain_graph(4, fanout=1)))
    site.handlers["/robots.txt"] = _text("User-agent: *\nCrawl-delay: 0.3\n")
    stats = await crawl([site.url("/p0")])
    assert stats.pages == 4
    assert min(gaps(site.page_times())) >= 0.3 - SLACK


async def test_per_host_concurrency_is_the_most_in_flight(serve) -> None:
    in_flight = peak = 0

    async def busy(request: web.Request) -> web.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.05)  # the server being slow, not the test waiting
        in_flight -= 1
        return web.Response(text="<html></html>", content_type="text/html")

    links = [f"/b{i}" for i in range(20)]
    site = await serve(Site(pages={"/": links}, handlers={link: busy for link in links}))
    stats = await crawl([site.url("/")], concurrency=16, per_host_concurrency=3)
    assert stats.pages == 21
    assert peak == 3


async def test_one_slow_host_does_not_hold_back_nineteen_others(serve) -> None:
    loop = asyncio.get_running_loop()
    answer_after = 0.5

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(answer_after)  # the slow server
        return web.Response(text="<html></html>", content_type="text/html")

    slow_paths = [f"/s{i}" for i in range(24)]
    slow_site = await serve(TimedSite(handlers={p: slow for p in slow_paths}))
    fast_sites = [await serve(TimedSite(pages=chain_graph(10, fanout=3))) for _ in range(19)]
    seeds = [slow_site.url(p) for p in slow_paths] + [s.url("/p0") for s in fast_sites]
    started = loop.time()
    stats = await crawl(seeds)  # defaults: 16 consumers, 8 per host
    elapsed = loop.time() - started

    assert stats.pages == 24 + 19 * 10
    assert stats.status_classes == {"2xx": 24 + 190}
    fast_done = max(t for s in fast_sites for t in s.page_times())
    slow_done = max(slow_site.page_times())
    assert fast_done < slow_done
    slow_alone = len(slow_paths) / 8 * answer_after  # three rounds of eight
    assert elapsed >= slow_alone
    assert elapsed < 2 * slow_alone


async def test_leases_of_requests_waiting_for_a_slow_host_are_renewed(serve) -> None:
    # Pages 0.1 s apart, four waiting at a time, wait longer than a lease; each page adds
    # a link, so the state leases again meanwhile: without renewals the waiting requests'
    # leases would expire there, go back to pending and be fetched twice.
    site = await serve(TimedSite(pages=chain_graph(12, fanout=4)))
    stats = await crawl([site.url("/p0")], delay=0.1, lease_seconds=0.3)
    assert stats.pages == 12
    assert max(site.hits.values()) == 1


async def test_429_with_retry_after_pauses_only_that_host(serve) -> None:
    throttled = TimedSite(pages={"/x": [], "/y": []})
    answered = 0

    async def once_429(request: web.Request) -> web.Response:
        nonlocal answered
        answered += 1
        if answered == 1:
            return web.Response(status=429, headers={"Retry-After": "1"})
        return web.Response(text="<title>x</title>", content_type="text/html")

    throttled.handlers["/x"] = once_429
    await serve(throttled)
    other = await serve(TimedSite(pages=chain_graph(10, fanout=2)))
    pages = []
    seeds = [throttled.url("/x"), throttled.url("/y"), other.url("/p0")]
    stats = await crawl(seeds, on_page=pages.append, per_host_concurrency=1)

    assert [p for _, p in throttled.arrivals if p != "/robots.txt"] == ["/x", "/x", "/y"]
    first_x, second_x, y = throttled.page_times()
    assert second_x - first_x >= 1 - SLACK
    assert y >= second_x
    assert max(other.page_times()) < second_x  # the other host went on meanwhile
    x_page = next(p for p in pages if p.url.endswith("/x"))
    assert (x_page.status, x_page.error, x_page.title) == (200, None, "x")
    assert stats.pages == 12
    assert stats.status_classes == {"2xx": 12}


async def test_503_without_retry_after_is_retried_then_recorded(serve) -> None:
    async def unavailable(request: web.Request) -> web.Response:
        return web.Response(status=503)

    site = await serve(TimedSite(pages={"/": ["/down"]}, handlers={"/down": unavailable}))
    pages = []
    stats = await crawl([site.url("/")], on_page=pages.append, retries=2, backoff=0.1)
    assert site.hits["/down"] == 3
    down = next(p for p in pages if p.url.endswith("/down"))
    assert (down.status, down.error) == (503, "http_status")
    assert stats.errors == {"http_status": 1}


def _text(body: str, status: int = 200):
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=body, status=status, content_type="text/plain")

    return handler


def come_back_tomorrow() -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(status=503, headers={"Retry-After": "86400"})

    return handler


async def test_a_retry_after_beyond_the_cap_gives_the_url_up_at_once(serve, tmp_path) -> None:
    pages = {"/": ["/a", "/b", "/c"], "/a": [], "/b": [], "/c": []}
    site = await serve(Site(pages=pages, handlers={"/later": come_back_tomorrow()}))
    site.pages["/"].append("/later")
    out = tmp_path / "out.jsonl"
    async with asyncio.timeout(20):  # pausing the origin for the cap would take 60 s a retry
        stats = await crawl([site.url("/")], output=str(out), obey_robots=False)
    records = {r["url"]: r for r in map(json.loads, out.read_text().splitlines())}
    later = records[site.url("/later")]
    assert (later["status"], later["error"]) == (503, "http_status")
    assert (
        later["error_detail"] == "Retry-After: 86400 is beyond --max-retry-after 60s: not retried"
    )
    assert site.hits["/later"] == 1
    assert {records[site.url(p)]["status"] for p in ("/", "/a", "/b", "/c")} == {200}
    assert stats.stop_reason == "complete"


async def test_an_origin_that_asks_three_times_running_is_given_up(serve, tmp_path) -> None:
    later = [f"/later{i}" for i in range(8)]
    site = await serve(Site(pages={"/": later}, handlers={p: come_back_tomorrow() for p in later}))
    out = tmp_path / "out.jsonl"
    async with asyncio.timeout(20):
        stats = await crawl([site.url("/")], output=str(out), obey_robots=False, concurrency=1)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    asked = [r for r in records if r["status"] == 503]
    given_up = [r for r in records if r["error"] == "host_unavailable"]
    assert (len(asked), len(given_up)) == (3, 5)
    assert all(r["status"] is None for r in given_up)
    assert sum(site.hits[p] for p in later) == 3
    assert stats.errors["host_unavailable"] == 5


async def test_crawl_delay_counts_from_the_robots_txt_request(serve) -> None:
    site = await serve(TimedSite(pages=chain_graph(3, fanout=1)))
    site.handlers["/robots.txt"] = _text("User-agent: *\nCrawl-delay: 0.5\n")
    stats = await crawl([site.url("/p0")])
    assert stats.pages == 3
    assert [path for _, path in site.arrivals][:2] == ["/robots.txt", "/p0"]
    assert min(gaps([t for t, _ in site.arrivals])) >= 0.5 - SLACK


async def test_crawl_delay_spaces_robots_txt_sitemaps_and_pages_alike(serve) -> None:
    import gzip

    from tests.test_sitemaps import index, serve_bytes, urlset

    site = await serve(TimedSite(pages={"/": [], "/a": [], "/b": []}))
    robots = f"User-agent: *\nCrawl-delay: 0.3\nSitemap: {site.base}/index.xml\n"
    site.handlers["/robots.txt"] = _text(robots)
    site.handlers["/index.xml"] = serve_bytes(index(site.url("/pages.xml.gz")))
    site.handlers["/pages.xml.gz"] = serve_bytes(
        gzip.compress(urlset(site.url("/a"), site.url("/b"))), "application/gzip"
    )
    stats = await crawl([site.url("/")], sitemaps_from_robots=True)
    assert stats.pages == 3
    paths = sorted(path for _, path in site.arrivals)
    assert paths == ["/", "/a", "/b", "/index.xml", "/pages.xml.gz", "/robots.txt"]
    assert min(gaps([t for t, _ in site.arrivals])) >= 0.3 - SLACK


async def test_with_a_state_a_given_up_origin_waits_for_the_next_run(serve, tmp_path) -> None:
    later = [f"/later{i}" for i in range(8)]
    pages = {"/": later, **{p: [] for p in later}}
    site = await serve(Site(pages=pages, handlers={p: come_back_tomorrow() for p in later}))
    out, state = tmp_path / "out.jsonl", str(tmp_path / "state.db")
    options = {"output": str(out), "obey_robots": False, "concurrency": 1, "state": state}
    async with asyncio.timeout(20):
        first = await crawl([site.url("/")], **options)
    assert (first.stop_reason, first.skipped["host_unavailable"]) == ("host_unavailable", 5)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["status"] for r in records].count(503) == 3
    assert not [r for r in records if r["error"] == "host_unavailable"]
    site.handlers.clear()  # the origin is back
    async with asyncio.timeout(20):
        second = await crawl([site.url("/")], **options)
    assert (second.stop_reason, second.pages) == ("complete", 5)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["url"] for r in records) == sorted(site.urls())
