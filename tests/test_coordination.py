"""The coordination seam's contract, for the local and the shared coordinator alike.

Add a coordinator to ``tests.coordination_support`` and it must pass every test here.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from crawler.config import CrawlConfig
from crawler.coordination import Completion, WorkCounts
from crawler.engine import Crawl
from crawler.errors import ConfigError
from crawler.models import Request
from crawler.shared.state import RedisState
from tests.conftest import TEST_NAMESPACE
from tests.coordination_support import Process, Processes

pytestmark = pytest.mark.timeout(30)

SITE = "http://site.test"


def request(path: str, depth: int = 0) -> Request:
    return Request(url=SITE + path, key=SITE + path, depth=depth)


async def leased(process: Process, *paths: str) -> list[Request]:
    """Admit ``paths`` and lease them, as the frontier does."""
    await process.coordinator.seeding_started()
    await process.state.add([request(p) for p in paths])
    return await process.state.lease(len(paths), lease_seconds=60)


async def test_a_commit_keeps_the_records_once_acks_and_admits_only_new_links(
    crawl_processes: Processes,
) -> None:
    process = await crawl_processes.open()
    (page,) = await leased(process, "/a")
    kept: list[int] = []
    found = [request("/b", 1), request("/a", 1), request("/c", 1)]
    completion = Completion(request=page, records=[{"url": page.url}], found=found)

    acked, admitted = await process.coordinator.commit(completion, lambda: kept.append(1))

    assert (acked, kept) == (True, [1])
    assert [r.url for r in admitted] == [SITE + "/b", SITE + "/c"]
    counts = await process.state.counts()
    assert (counts.done, counts.pending, counts.leased) == (1, 2, 0)


async def test_the_verdict_waits_for_active_work_and_producers(
    crawl_processes: Processes,
) -> None:
    process = await crawl_processes.open()
    coordinator = process.coordinator
    (page,) = await leased(process, "/a")
    active = WorkCounts(producers=0, pending=0, active=1, dispatched=1)
    assert not (await coordinator.verdict(active)).finished
    await coordinator.commit(Completion(request=page), lambda: None)
    await coordinator.seeding_done()
    producing = WorkCounts(producers=1, pending=0, active=0, dispatched=1)
    assert not (await coordinator.verdict(producing)).finished
    idle = WorkCounts(producers=0, pending=0, active=0, dispatched=1)
    verdict = await coordinator.verdict(idle)
    assert (verdict.finished, verdict.budget_spent) == (True, False)


async def test_the_verdict_says_when_the_page_budget_is_spent(
    crawl_processes: Processes,
) -> None:
    process = await crawl_processes.open(max_pages=1)
    coordinator = process.coordinator
    (page, *_) = await leased(process, "/a", "/b")
    await coordinator.commit(Completion(request=page), lambda: None)
    counts = WorkCounts(producers=1, pending=1, active=0, dispatched=1)
    verdict = await coordinator.verdict(counts)
    assert (verdict.finished, verdict.budget_spent) == (True, True)


async def test_a_gate_turn_is_given_back_when_its_block_ends(crawl_processes: Processes) -> None:
    process = await crawl_processes.open(per_host_concurrency=1)
    gate = process.coordinator.gate
    async with asyncio.timeout(10):
        for status in (200, 500, None):
            async with gate.slot(SITE + "/a") as slot:
                slot.status = status


async def test_the_identity_is_stable_and_names_the_scope(crawl_processes: Processes) -> None:
    one = await crawl_processes.open(worker_id="one")
    two = await crawl_processes.open(worker_id="two")
    other = await crawl_processes.open(worker_id="three", max_depth=3)
    seeds = [SITE + "/"]
    assert one.coordinator.identity(seeds, []) == two.coordinator.identity(seeds, [])
    assert one.coordinator.identity(seeds, []) != other.coordinator.identity(seeds, [])


async def test_seeding_alone_needs_a_shared_crawl(crawl_processes: Processes) -> None:
    process = await crawl_processes.open()
    if crawl_processes.kind == "local":
        with pytest.raises(ConfigError, match=r"^seeding alone needs a redis:// state$"):
            process.coordinator.check_seed_only()
    else:
        process.coordinator.check_seed_only()


async def test_a_shared_crawl_is_one_crawl_whoever_seeds_it(redis_url: str, crawl_id: str) -> None:
    async with Processes("shared", redis_url, crawl_id) as opened:
        one = await opened.open(worker_id="one")
        two = await opened.open(worker_id="two")
        assert one.coordinator.identity(["http://a.test/"], []) == two.coordinator.identity(
            ["http://b.test/"], ["seeds.txt"]
        )


async def test_a_lost_lease_is_not_kept(redis_url: str, crawl_id: str) -> None:
    async with Processes("shared", redis_url, crawl_id) as opened:
        first = await opened.open(worker_id="first")
        second = await opened.open(worker_id="second")
        (page,) = await leased(first, "/a")
        await first.state.release([page])
        (taken,) = await second.state.lease(1, lease_seconds=60)
        kept: list[int] = []
        acked, _ = await first.coordinator.commit(Completion(request=page), lambda: kept.append(1))
        assert (acked, kept) == (False, [])
        assert await second.coordinator.commit(Completion(request=taken), lambda: kept.append(2))
        assert kept == [2]


async def test_seeding_with_no_urls_marks_the_crawl_seeded_at_once(
    redis_url: str, crawl_id: str
) -> None:
    state_url = f"{redis_url}?prefix={TEST_NAMESPACE}"
    config = CrawlConfig(state=state_url, crawl_id=crawl_id, obey_robots=False)
    assert await Crawl([], config).seed() == 0
    async with RedisState(redis_url, crawl_id, namespace=TEST_NAMESPACE) as state:
        progress = await state.progress()
    assert (progress.seeded, progress.seeders, progress.pending) == (True, 0, 0)


async def test_a_local_commit_writes_the_record_before_its_links_and_its_ack() -> None:
    """Crash safety: a record is in the output before its request is acked (or links added)."""
    async with Processes("local", None, None) as opened:
        process = await opened.open()
        (page,) = await leased(process, "/a")
        steps: list[str] = []
        state = process.state
        add, ack = state.add, state.ack

        async def traced_add(requests: list[Request]) -> list[Request]:
            steps.append("add")
            return await add(requests)

        async def traced_ack(request: Request, **kept: Any) -> bool:
            steps.append("ack")
            return await ack(request, **kept)

        state.add, state.ack = traced_add, traced_ack  # type: ignore[method-assign]
        completion = Completion(request=page, records=[{"url": page.url}], found=[request("/b")])
        await process.coordinator.commit(completion, lambda: steps.append("keep"))
        assert steps == ["keep", "add", "ack"]
