"""The frontier's invariant and stop rule, with the local and with the shared coordinator.

``outstanding == pending + active`` holds through every admission, lease, completion and
release; the crawl is finished only when no producer runs and nothing is outstanding, or
when the page budget is spent and nothing is active.
"""

from __future__ import annotations

import asyncio

import pytest

from crawler.frontier import Frontier
from crawler.models import Request
from tests.coordination_support import Process, Processes

pytestmark = pytest.mark.timeout(30)

SITE = "http://site.test"


def url(path: str) -> str:
    return SITE + path


def assert_invariant(frontier: Frontier, *, pending: int, active: int) -> None:
    counts = frontier.counts()
    assert (counts.pending, counts.active) == (pending, active)
    assert frontier.outstanding == counts.pending + counts.active


def keep_nothing() -> None:
    """A commit's ``keep`` for tests that write no records."""


async def seeding(processes: Processes, **options: object) -> Process:
    """Open a process whose one producer is running, as the engine starts it."""
    process = await processes.open(**options)
    await process.coordinator.seeding_started()
    process.frontier.producer_started()
    return process


async def test_outstanding_is_pending_plus_active_through_a_crawl(
    crawl_processes: Processes,
) -> None:
    frontier = (await seeding(crawl_processes)).frontier
    await frontier.add_seeds([url("/a"), url("/b"), url("/c"), url("/a#again")])
    assert_invariant(frontier, pending=3, active=0)

    first, second = await frontier.next_batch(2)
    assert_invariant(frontier, pending=1, active=2)

    await frontier.complete(first, keep_nothing, links=[url("/d"), url("/b"), url("/a")])
    assert_invariant(frontier, pending=2, active=1)  # /d is new; /b and /a were seen

    await frontier.release([second])
    assert_invariant(frontier, pending=3, active=0)
    again = await frontier.next_batch(1)
    assert again == [second]  # a released request goes back to the front
    assert_invariant(frontier, pending=2, active=1)


async def test_a_crawl_is_finished_only_when_no_producer_runs_and_nothing_is_outstanding(
    crawl_processes: Processes,
) -> None:
    process = await seeding(crawl_processes)
    frontier = process.frontier
    await frontier.add_seeds([url("/a")])
    (request,) = await frontier.next_batch(5)
    await frontier.complete(request, keep_nothing)
    assert not frontier.finished.is_set()  # the producer may still add seeds

    waiting = asyncio.create_task(frontier.next_batch(5))
    await frontier.add_seeds([url("/late")])  # the waiting lease wakes up for it
    (late,) = await asyncio.wait_for(waiting, 10)
    assert late.url == url("/late")
    await frontier.complete(late, keep_nothing)

    frontier.producer_done()
    await process.coordinator.seeding_done()
    assert await asyncio.wait_for(frontier.next_batch(5), 10) == []
    assert frontier.finished.is_set()
    assert not frontier.budget_spent
    assert_invariant(frontier, pending=0, active=0)


async def test_the_page_budget_ends_the_crawl_once_nothing_is_active(
    crawl_processes: Processes,
) -> None:
    frontier = (await seeding(crawl_processes, max_pages=2)).frontier
    await frontier.add_seeds([url("/a"), url("/b"), url("/c")])
    batch = await frontier.next_batch(5)
    assert len(batch) == 2  # the budget, whoever enforces it
    for request in batch:
        assert not frontier.finished.is_set()
        await frontier.complete(request, keep_nothing)
    assert await asyncio.wait_for(frontier.next_batch(5), 10) == []
    assert frontier.finished.is_set()
    assert frontier.budget_spent
    assert_invariant(frontier, pending=1, active=0)  # /c stays pending for a later run


async def test_a_redirect_target_is_its_sources_and_only_in_scope(
    crawl_processes: Processes,
) -> None:
    frontier = (await seeding(crawl_processes)).frontier
    await frontier.add_seeds([url("/a")])
    source, other = Request(url("/old"), url("/old")), Request(url("/b"), url("/b"))
    assert await frontier.check_redirect(url("/moved"), source) is None
    assert await frontier.check_redirect(url("/moved#x"), source) is None  # fetched again
    assert await frontier.check_redirect(url("/moved"), other) == "duplicate"
    assert await frontier.check_redirect(url("/a"), source) == "duplicate"
    assert await frontier.check_redirect("http://elsewhere.test/", source) == "out_of_scope"
    assert await frontier.check_redirect("ftp://site.test/", source) == "bad_scheme"


async def test_links_past_the_depth_limit_are_counted_not_admitted(
    crawl_processes: Processes,
) -> None:
    process = await seeding(crawl_processes, max_depth=0)
    frontier = process.frontier
    await frontier.add_seeds([url("/a")])
    (request,) = await frontier.next_batch(5)
    await frontier.complete(request, keep_nothing, links=[url("/b"), url("/c")])
    assert process.stats.skipped["too_deep"] == 2
    assert_invariant(frontier, pending=0, active=0)
