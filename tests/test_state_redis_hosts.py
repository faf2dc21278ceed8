"""Shared politeness in Redis: per-origin slots and start times across several workers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from crawler.politeness import adapt_backoff
from crawler.shared.gate import RedisHostGate
from crawler.shared.state import RedisState
from crawler.urls import origin_of
from tests.conftest import TEST_NAMESPACE

pytestmark = pytest.mark.timeout(30)
URL = "http://example.test/page"

OpenGate = Callable[..., Awaitable[RedisHostGate]]


async def _listen(state: RedisState, gate: RedisHostGate) -> None:
    async for event in state.events():
        if event.startswith("slot "):
            gate.notify(event.removeprefix("slot "))


@pytest.fixture
async def gates(redis_url: str, crawl_id: str) -> AsyncIterator[OpenGate]:
    """Open a worker's gate (with its event listener, as the engine runs it)."""
    states: list[RedisState] = []
    listeners: list[asyncio.Task[None]] = []

    async def open_gate(worker_id: str, **options: float) -> RedisHostGate:
        state = RedisState(redis_url, crawl_id, namespace=TEST_NAMESPACE, worker_id=worker_id)
        await state.open()
        await state.watch()
        await state.heartbeat(60)  # a live worker: a dead one's slots free at once
        states.append(state)
        settings = {"concurrency": 2, "delay": 0.0, "max_delay": 10.0, "lease_seconds": 60.0}
        gate = RedisHostGate(state.connection, **{**settings, **options})  # type: ignore[arg-type]
        listeners.append(asyncio.create_task(_listen(state, gate)))
        return gate

    yield open_gate
    for task in listeners:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    for state in states:
        await state.close()


async def test_concurrency_limit_holds_across_workers(gates: OpenGate) -> None:
    workers = [await gates(f"w{i}") for i in range(3)]
    holders = {asyncio.create_task(w.acquire(URL)) for w in workers for _ in range(2)}
    done: set[asyncio.Task[str]] = set()
    async with asyncio.timeout(10):
        while len(done) < 2:
            finished, holders = await asyncio.wait(holders, return_when=asyncio.FIRST_COMPLETED)
            done |= finished
    late, holders = await asyncio.wait(holders, timeout=0.3)  # none may get in meanwhile
    assert (len(done), late) == (2, set())  # the limit is 2 for all three workers together
    state = workers[0]._redis
    assert await state.client.zcard(state.keys.slots(origin_of(URL))) == 2
    first = done.pop().result()
    owner = next(w for w in workers if first in w._held)
    await owner.release(first, 200)
    async with asyncio.timeout(5):
        freed, holders = await asyncio.wait(holders, return_when=asyncio.FIRST_COMPLETED)
    assert len(freed) == 1
    assert sum(w.held for w in workers) == 2
    for task in holders:
        task.cancel()


async def test_delay_spaces_request_starts_across_workers(gates: OpenGate) -> None:
    one, two = await gates("one", delay=0.3), await gates("two", delay=0.3)
    loop = asyncio.get_running_loop()
    await one.acquire(URL)
    started = loop.time()
    await two.acquire(URL)
    assert loop.time() - started >= 0.25  # the server's clock and ours may differ by a little


async def test_retry_after_pause_holds_for_every_worker(gates: OpenGate) -> None:
    one, two = await gates("one"), await gates("two")
    loop = asyncio.get_running_loop()
    await one.pause(URL, 0.4)
    started = loop.time()
    await two.acquire(URL)
    assert loop.time() - started >= 0.35


async def test_a_dead_workers_slot_frees_itself(gates: OpenGate) -> None:
    dead = await gates("dead", concurrency=1, lease_seconds=0.3)
    alive = await gates("alive", concurrency=1, lease_seconds=0.3)
    await dead.acquire(URL)  # never released, never renewed
    async with asyncio.timeout(5):
        await alive.acquire(URL)


async def test_renewed_slot_is_kept(gates: OpenGate) -> None:
    holder = await gates("holder", concurrency=1, lease_seconds=1.0)
    other = await gates("other", concurrency=1, lease_seconds=1.0)
    await holder.acquire(URL)
    waiter = asyncio.create_task(other.acquire(URL))
    for _ in range(4):  # 1.2 s in all, longer than the slot's lease without the renewals
        await asyncio.wait({waiter}, timeout=0.3)
        await holder.renew()
    assert not waiter.done()
    waiter.cancel()


async def test_429_doubles_the_shared_backoff_and_success_halves_it(
    gates: OpenGate,
) -> None:
    gate = await gates("w")
    state = gate._redis
    field = f"{origin_of(URL)}|backoff"
    await gate.release(await gate.acquire(URL), 429)
    assert float(await state.client.hget(state.keys.polite, field)) == 0.25
    await gate.release(await gate.acquire(URL), 429)
    assert float(await state.client.hget(state.keys.polite, field)) == 0.5
    await gate.release(await gate.acquire(URL), 200)
    assert float(await state.client.hget(state.keys.polite, field)) == 0.25
    await gate.release(await gate.acquire(URL), 200)
    assert float(await state.client.hget(state.keys.polite, field)) == 0.0


async def test_the_shared_backoff_follows_the_local_rule(gates: OpenGate) -> None:
    """The Lua transcription of ``adapt_backoff`` gives the same back-off, status by status."""
    gate = await gates("w", max_delay=3.0)
    state = gate._redis
    field = f"{origin_of(URL)}|backoff"
    expected = 0.0
    for status in (429, 429, 429, 429, 503, 200, None, 429, 200, 200, 200, 200, 404, 200):
        await gate.release(await gate.acquire(URL), status)
        expected = adapt_backoff(expected, 0.0, status, 3.0)
        stored = await state.client.hget(state.keys.polite, field)
        assert (float(stored or 0), status) == (expected, status)
