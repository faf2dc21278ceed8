"""Crawls against real local sites: completeness, limits, dedup, backpressure, API forms."""

from __future__ import annotations

import asyncio
import json
import os
from collections import deque
from pathlib import Path

import pytest
from aiohttp import web

from crawler import Crawl, CrawlConfig, Page, crawl, iter_pages
from tests.conftest import Site, chain_graph, page_html

pytestmark = pytest.mark.timeout(60)


def depths(graph: dict[str, list[str]], start: str) -> dict[str, int]:
    """Breadth-first link distance of every page from ``start``."""
    seen = {start: 0}
    todo = deque([start])
    while todo:
        path = todo.popleft()
        for link in graph[path]:
            if link not in seen:
                seen[link] = seen[path] + 1
                todo.append(link)
    return seen


def read_jsonl(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_crawls_exactly_the_site_once(serve, tmp_path):
    site = await serve(Site(pages=chain_graph(300, fanout=4)))
    out = tmp_path / "out.jsonl"
    stats = await crawl([site.url("/p0")], output=str(out), concurrency=8)
    records = read_jsonl(out)
    assert {r["url"] for r in records} == site.urls()
    assert len(records) == 300
    assert all(r["status"] == 200 and r["error"] is None for r in records)
    assert max(site.hits.values()) == 1
    assert stats.pages == 300
    assert stats.status_classes == {"2xx": 300}
    assert stats.stop_reason == "complete"


async def test_max_depth_is_exact(serve):
    graph = chain_graph(200, fanout=2) | {"/p0": ["/p1", "/p50", "/p100"]}
    site = await serve(Site(pages=graph))
    pages: list[Page] = []
    await crawl([site.url("/p0")], on_page=pages.append, max_depth=2)
    expected = {site.url(p) for p, d in depths(graph, "/p0").items() if d <= 2}
    assert {p.url for p in pages} == expected
    assert len(pages) == len(expected)
    assert {p.depth for p in pages} == {0, 1, 2}


async def test_max_pages_is_exact(serve):
    site = await serve(Site(pages=chain_graph(300, fanout=5)))
    pages: list[Page] = []
    stats = await crawl([site.url("/p0")], on_page=pages.append, max_pages=50, concurrency=16)
    assert len(pages) == 50
    assert site.hits.pop("/robots.txt") == 1
    assert site.hits.total() == 50
    assert stats.pages == 50
    assert stats.stop_reason == "max_pages"
    assert stats.skipped["limit_reached"] > 0


async def test_equivalent_spellings_are_fetched_once(serve):
    spellings = ["/a?x=1&y=2", "/a?y=2&x=1", "/a?x=1&y=2#frag", "/A/../a?y=2&x=1", "./a?x=1&y=2"]
    site = await serve(Site(pages={"/": spellings, "/a": []}))
    upper = site.url("/").replace("http://127.0.0.1", "HTTP://127.0.0.1")
    site.pages["/"].append(upper + "a?y=2&x=1")
    pages: list[Page] = []
    await crawl([site.url("/")], on_page=pages.append)
    assert site.hits.pop("/robots.txt") == 1
    assert sorted(site.hits.items()) == [("/", 1), ("/a?x=1&y=2", 1)]
    assert len(pages) == 2


async def test_huge_fanout_with_queue_of_one_and_one_consumer_completes(serve):
    links = [f"/l{i}" for i in range(10_000)]
    site = await serve(Site(pages={"/": links} | {link: [] for link in links}))
    stats = await crawl([site.url("/")], concurrency=1, queue_size=1)
    assert stats.pages == 10_001
    assert site.hits.pop("/robots.txt") == 1
    assert len(site.hits) == 10_001
    assert max(site.hits.values()) == 1


async def test_server_error_is_retried_then_recorded(serve):
    async def broken(request: web.Request) -> web.Response:
        return web.Response(status=500, text="boom")

    site = await serve(Site(pages={"/": ["/broken"]}, handlers={"/broken": broken}))
    pages: list[Page] = []
    stats = await crawl([site.url("/")], on_page=pages.append, retries=2, backoff=0)
    broken_page = next(p for p in pages if p.url.endswith("/broken"))
    assert site.hits["/broken"] == 3
    assert (broken_page.status, broken_page.error) == (500, "http_status")
    assert stats.errors == {"http_status": 1}
    assert stats.status_classes == {"2xx": 1, "5xx": 1}


async def test_iterator_and_callback_forms_give_the_same_pages(serve):
    site = await serve(Site(pages=chain_graph(60, fanout=3)))
    seen_by_callback: list[Page] = []

    async def on_page(page: Page) -> None:
        seen_by_callback.append(page)

    await crawl([site.url("/p0")], on_page=on_page)
    stream = iter_pages([site.url("/p0")])
    from_iterator = [(p.url, p.status, p.depth, p.title) async for p in stream]
    from_callback = [(p.url, p.status, p.depth, p.title) for p in seen_by_callback]
    assert sorted(from_iterator) == sorted(from_callback)
    assert len(from_iterator) == 60
    assert stream.stats is not None and stream.stats.pages == 60


async def test_breaking_out_of_the_iterator_stops_the_crawl(serve):
    site = await serve(Site(pages=chain_graph(500, fanout=3)))
    async with iter_pages([site.url("/p0")], concurrency=2) as pages:
        async for page in pages:
            if page.depth >= 2:
                break
    assert pages.stats is not None
    assert pages.stats.stop_reason == "stopped"
    assert pages.stats.pages < 500


async def test_callback_error_is_recorded_and_crawl_goes_on(serve, tmp_path):
    site = await serve(Site(pages=chain_graph(10, fanout=1)))
    out = tmp_path / "out.jsonl"

    def on_page(page: Page) -> None:
        if page.url.endswith("/p3"):
            raise KeyError("nope")

    stats = await crawl([site.url("/p0")], on_page=on_page, output=str(out))
    records = {r["url"]: r for r in read_jsonl(out)}
    assert len(records) == 10
    assert records[site.url("/p3")]["error"] == "callback"
    assert records[site.url("/p3")]["error_detail"] == "KeyError: 'nope'"
    assert stats.errors == {"callback": 1}


async def test_callback_records_replace_the_default_record(serve, tmp_path):
    site = await serve(Site(pages=chain_graph(5, fanout=1)))
    out = tmp_path / "out.jsonl"
    await crawl([site.url("/p0")], output=str(out), on_page=lambda p: {"t": p.title})
    assert sorted(r["t"] for r in read_jsonl(out)) == ["/p0", "/p1", "/p2", "/p3", "/p4"]


async def test_soup_is_available_to_callbacks(serve):
    site = await serve(Site(pages={"/": ["/x"], "/x": []}))
    titles = await _titles_via_soup(site)
    assert titles == {"/", "/x"}


async def _titles_via_soup(site: Site) -> set[str]:
    titles: set[str] = set()
    await crawl([site.url("/")], on_page=lambda p: titles.add(p.soup.title.string))
    return titles


async def test_time_limit_stops_a_crawl_that_would_never_end(serve, tmp_path):
    never = asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        await never.wait()
        return web.Response(text="late")

    site = await serve(Site(pages={"/": ["/hang", "/ok"], "/ok": []}, handlers={"/hang": hang}))
    out = tmp_path / "out.jsonl"
    stats = await crawl([site.url("/")], output=str(out), time_limit=0.5, timeout=30)
    assert stats.stop_reason == "time_limit"
    assert {r["url"] for r in read_jsonl(out)} == {site.url("/"), site.url("/ok")}


async def test_redirect_to_an_already_fetched_page_is_not_fetched_again(serve):
    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPMovedPermanently(location="/target")

    site = await serve(
        Site(pages={"/": ["/target", "/old"], "/target": ["/old"]}, handlers={"/old": moved})
    )
    pages: list[Page] = []
    await crawl([site.url("/")], on_page=pages.append, concurrency=1)
    assert site.hits["/target"] == 1
    old = next(p for p in pages if p.url.endswith("/old"))
    assert (old.status, old.final_url) == (301, site.url("/target"))


async def test_redirects_are_followed_and_recorded(serve):
    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound(location="/new")

    site = await serve(Site(pages={"/": ["/old"], "/new": []}, handlers={"/old": moved}))
    pages: list[Page] = []
    await crawl([site.url("/")], on_page=pages.append)
    old = next(p for p in pages if p.url.endswith("/old"))
    assert (old.status, old.final_url) == (200, site.url("/new"))
    assert site.hits["/new"] == 1


async def test_fetching_starts_before_a_slow_producer_is_done(serve, tmp_path):
    site = await serve(Site(pages={"/first": [], "/second": []}))
    fifo = tmp_path / "seeds"
    os.mkfifo(fifo)
    crawler = Crawl(config=CrawlConfig(), seed_files=[str(fifo)])
    run = asyncio.create_task(crawler.run())
    writer = await asyncio.to_thread(open, fifo, "w")
    writer.write(site.url("/first") + "\n")
    writer.flush()
    await asyncio.wait_for(site.wait_for_hits(2), 10)  # robots.txt and /first, file still open
    writer.write("# a comment\n\n" + site.url("/second") + "\n")
    writer.close()
    stats = await asyncio.wait_for(run, 10)
    assert stats.pages == 2
    assert set(site.hits) == {"/robots.txt", "/first", "/second"}


async def test_out_of_scope_and_bad_schemes_are_skipped_with_reasons(serve):
    links = ["http://elsewhere.invalid/", "mailto:a@b.c", "ftp://x/", "/in", "/deny/me"]
    site = await serve(Site(pages={"/": links, "/in": [], "/deny/me": []}))
    stats = await crawl([site.url("/")], deny_patterns=("/deny/",))
    assert set(site.hits) == {"/robots.txt", "/", "/in"}
    assert stats.skipped["out_of_scope"] == 2


async def test_allow_domains_widen_the_scope(serve):
    other = await serve(Site(pages={"/": []}))
    other_url = other.url("/").replace("127.0.0.1", "localhost")
    site = await serve(Site(pages={"/": [other_url]}))
    await crawl([site.url("/")], allow_domains=["localhost"])
    assert other.hits["/"] == 1


async def test_a_host_that_joins_the_scope_later_is_crawled_from_then_on(serve, tmp_path):
    release = asyncio.Event()
    other = await serve(Site(pages={"/": [], "/x": []}))
    other_x = other.url("/x").replace("127.0.0.1", "localhost")

    async def held(request: web.Request) -> web.Response:
        await release.wait()  # until the other host is a seed
        return web.Response(text=page_html("/next", [other_x]), content_type="text/html")

    site = await serve(Site(pages={"/": [other_x, "/next"]}, handlers={"/next": held}))
    fifo = tmp_path / "seeds"
    os.mkfifo(fifo)
    crawler = Crawl(config=CrawlConfig(obey_robots=False), seed_files=[str(fifo)])
    run = asyncio.create_task(crawler.run())
    writer = await asyncio.to_thread(open, fifo, "w")
    writer.write(site.url("/") + "\n")
    writer.flush()
    await asyncio.wait_for(site.wait_for_hits(2), 10)  # "/" done: its link to x refused
    writer.write(other.url("/").replace("127.0.0.1", "localhost") + "\n")
    writer.close()
    await asyncio.wait_for(other.wait_for_hits(1), 10)  # localhost is in scope now
    release.set()
    stats = await asyncio.wait_for(run, 10)
    assert other.hits["/x"] == 1
    assert stats.skipped["out_of_scope"] == 1


async def robots_txt(request: web.Request) -> web.StreamResponse:
    return web.Response(text="User-agent: *\nDisallow: /private\n")


async def test_what_became_of_each_seed_is_counted_and_refusals_are_warned(
    serve, caplog, tmp_path
) -> None:
    site = await serve(Site(pages={"/": [], "/private": []}, handlers={"/robots.txt": robots_txt}))
    seeds = [site.url("/"), site.url("/private"), "http://127.0.0.1:1/dead", site.url("/x?y")]
    state = str(tmp_path / "state.db")
    with caplog.at_level("WARNING", logger="crawler"):
        stats = await crawl(seeds, deny_patterns=[r"\?y$"], state=state, timeout=5, retries=0)
    assert dict(stats.seeds) == {"crawled": 1, "robots": 1, "failed": 1, "out_of_scope": 1}
    warned = sorted(r.getMessage() for r in caplog.records if r.getMessage().startswith("seed "))
    assert warned == [
        f"seed {site.url('/private')} not crawled: robots",
        f"seed {site.url('/x?y')} not crawled: out_of_scope",
    ]
    again = await crawl(seeds, deny_patterns=[r"\?y$"], state=state, timeout=5, retries=0)
    assert (again.pages, dict(again.seeds)) == (0, {"duplicate": 3, "out_of_scope": 1})
