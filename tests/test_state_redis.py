"""The Redis state backend against a real Redis: leases, dedup, acks with records, progress.

Each test has its own crawl id under the test namespace (``crawl_id`` fixture) and deletes
only its own keys. A fake clock drives lease expiry, so no test sleeps.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Callable

import pytest

from crawler.errors import StateError, StateMismatchError
from crawler.models import Request
from crawler.shared.state import RedisState, decode_request, encode_request
from crawler.state import StateCounts
from crawler.urls import canonicalize
from tests.conftest import TEST_NAMESPACE

pytestmark = pytest.mark.timeout(30)


class Clock:
    """A clock tests move by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def req(path: str, depth: int = 0, parent: str | None = None) -> Request:
    url = f"http://example.test{path}"
    return Request(url=url, key=canonicalize(url), depth=depth, parent=parent)


Factory = Callable[..., RedisState]


@pytest.fixture
async def make(redis_url: str, crawl_id: str) -> AsyncIterator[Factory]:
    """Open workers of one crawl (one shared clock); close them all at the end."""
    clock = Clock()
    opened: list[RedisState] = []

    def factory(worker_id: str = "w1", **kwargs: object) -> RedisState:
        state = RedisState(
            redis_url,
            crawl_id,
            namespace=TEST_NAMESPACE,
            worker_id=worker_id,
            clock=clock,
            **kwargs,  # type: ignore[arg-type]
        )
        opened.append(state)
        return state

    factory.clock = clock  # type: ignore[attr-defined]
    yield factory
    for state in opened:
        await state.close()


async def opened(make: Factory, worker_id: str = "w1", **kwargs: object) -> RedisState:
    state = make(worker_id, **kwargs)
    await state.open()
    return state


def test_a_prefix_in_the_url_is_the_key_namespace() -> None:
    state = RedisState("redis://127.0.0.1:6379/3?prefix=staging&x=1", "c")
    assert (state.url, state.keys.seen) == ("redis://127.0.0.1:6379/3?x=1", "staging:{c}:seen")
    plain = RedisState("redis://127.0.0.1:6379/3", "c")
    assert (plain.url, plain.keys.seen) == ("redis://127.0.0.1:6379/3", "crawler:{c}:seen")


def test_request_encoding_is_compact_json_and_round_trips() -> None:
    request = req("/a?x=1", depth=2, parent="http://example.test/")
    assert encode_request(request) == b'["http://example.test/a?x=1",2,"http://example.test/"]'
    assert decode_request(encode_request(request)) == request


async def test_add_admits_each_key_once_across_workers(make: Factory) -> None:
    one, two = await opened(make, "w1"), await opened(make, "w2")
    assert await one.add([req("/a"), req("/b"), req("/a")]) == [req("/a"), req("/b")]
    assert await two.add([req("/b"), req("/c"), req("/A/../a")]) == [req("/c")]
    assert await two.counts() == StateCounts(pending=3, leased=0, done=0, seen=3)


async def test_concurrent_adds_admit_every_key_exactly_once(make: Factory) -> None:
    workers = [await opened(make, f"w{i}") for i in range(4)]
    batches = [[req(f"/p{n}") for n in range(i, 400, 2)] for i in range(4)]
    admitted = await asyncio.gather(*(w.add(b) for w, b in zip(workers, batches, strict=True)))
    keys = [r.key for batch in admitted for r in batch]
    assert sorted(keys) == sorted({req(f"/p{n}").key for n in range(400)})
    assert (await workers[0].counts()).pending == 400


async def test_claim_marks_seen_without_queueing(make: Factory) -> None:
    state = await opened(make)
    assert await state.claim(req("/r").key) is True
    assert await state.claim(req("/r").key) is False
    assert await state.add([req("/r")]) == []
    assert await state.counts() == StateCounts(pending=0, leased=0, done=0, seen=1)


async def test_lease_in_order_and_release_to_the_front(make: Factory) -> None:
    state = await opened(make)
    await state.add([req(f"/{n}") for n in range(5)])
    first = await state.lease(2, lease_seconds=10)
    assert first == [req("/0"), req("/1")]
    await state.release(first)
    assert await state.lease(10, lease_seconds=10) == [req(f"/{n}") for n in range(5)]
    assert await state.counts() == StateCounts(pending=0, leased=5, done=0, seen=5)


async def test_ack_stores_records_with_the_ack_once(make: Factory) -> None:
    state = await opened(make)
    await state.add([req("/a")])
    [leased] = await state.lease(1, lease_seconds=10)
    assert await state.ack(leased, records=[b'{"url": "a"}'], error="timeout") is True
    assert await state.ack(leased, records=[b'{"url": "a"}']) is False
    client = state.client
    assert await client.lrange(state.keys.records, 0, -1) == [b'{"url": "a"}']
    assert await client.hgetall(state.keys.errors) == {b"timeout": b"1"}
    assert await client.hgetall(state.keys.hosts_done) == {b"example.test": b"1"}
    assert await state.counts() == StateCounts(pending=0, leased=0, done=1, seen=1)


async def test_expired_lease_goes_to_another_worker_and_the_late_ack_fails(
    make: Factory,
) -> None:
    slow, fast = await opened(make, "slow"), await opened(make, "fast")
    await slow.add([req("/a"), req("/b")])
    assert await slow.lease(2, lease_seconds=5) == [req("/a"), req("/b")]
    make.clock.now += 5  # type: ignore[attr-defined]
    taken = await fast.lease(10, lease_seconds=5)
    assert taken == [req("/a"), req("/b")]
    assert await slow.ack(req("/a"), records=[b"late"]) is False
    assert await fast.ack(req("/a"), records=[b"on time"]) is True
    assert await fast.client.lrange(fast.keys.records, 0, -1) == [b"on time"]
    assert await slow.leased() == []
    assert await fast.leased() == [req("/b")]


async def test_renewed_lease_is_not_taken(make: Factory) -> None:
    slow, other = await opened(make, "slow"), await opened(make, "other")
    await slow.add([req("/a")])
    [leased] = await slow.lease(1, lease_seconds=5)
    make.clock.now += 4  # type: ignore[attr-defined]
    await slow.renew([leased], lease_seconds=5)
    make.clock.now += 4  # type: ignore[attr-defined]
    assert await other.lease(1, lease_seconds=5) == []
    await other.renew([leased], lease_seconds=500)  # not its lease: no effect
    make.clock.now += 2  # type: ignore[attr-defined]
    assert await other.lease(1, lease_seconds=5) == [leased]


async def test_release_of_another_workers_lease_does_nothing(make: Factory) -> None:
    one, two = await opened(make, "one"), await opened(make, "two")
    await one.add([req("/a")])
    [leased] = await one.lease(1, lease_seconds=5)
    await two.release([leased])
    assert await one.counts() == StateCounts(pending=0, leased=1, done=0, seen=1)
    assert await one.ack(leased) is True


async def test_max_pages_counts_across_workers(make: Factory) -> None:
    one, two = await opened(make, "one", max_pages=3), await opened(make, "two", max_pages=3)
    await one.add([req(f"/{n}") for n in range(10)])
    assert len(await one.lease(2, lease_seconds=5)) == 2
    assert len(await two.lease(5, lease_seconds=5)) == 1
    assert await two.lease(5, lease_seconds=5) == []
    [first, _] = await one.leased()
    await one.release([first])
    assert await two.lease(5, lease_seconds=5) == [first]


async def test_a_restarted_worker_takes_its_own_leases_over(make: Factory) -> None:
    before = await opened(make, "w1")
    other = await opened(make, "w2")
    await before.add([req("/a"), req("/b")])
    await before.lease(1, lease_seconds=60)
    await other.lease(1, lease_seconds=60)
    await before.close()
    after = await opened(make, "w1")
    assert await after.leased() == [req("/a")]
    assert await after.ack(req("/a")) is True


async def test_bind_refuses_another_crawl_unless_forced(make: Factory) -> None:
    state = await opened(make)
    assert await state.bind("one") is False
    assert await state.bind("one") is True
    with pytest.raises(StateMismatchError, match=r"^crawl id 't-[0-9a-f]{12}' belongs to another"):
        await state.bind("two")
    assert await state.bind("two", force=True) is True
    assert await state.bind("two") is True


async def test_progress_sees_seeding_leases_and_dead_workers(make: Factory) -> None:
    seeder, worker = await opened(make, "seeder"), await opened(make, "worker")
    start = await worker.progress()
    assert (start.seeded, start.seeders, start.pending, start.next_deadline) == (False, 0, 0, None)
    await seeder.seeding(started=True, lease_seconds=10)
    await seeder.heartbeat(10)
    await worker.heartbeat(30)
    await seeder.add([req("/a")])
    await worker.lease(1, lease_seconds=7)
    middle = await worker.progress()
    assert (middle.seeded, middle.seeders, middle.leased, middle.workers) == (False, 1, 1, 2)
    assert middle.next_deadline == pytest.approx(7)
    make.clock.now += 10  # type: ignore[attr-defined]  # the seeder died while seeding
    late = await worker.progress()
    assert (late.seeded, late.seeders, late.workers, late.next_deadline) == (False, 0, 1, 0)
    await seeder.seeding(started=False, lease_seconds=10)
    assert (await worker.progress()).seeded is True


async def test_events_announce_adds_releases_the_last_lease_acked_and_seeding(
    make: Factory,
) -> None:
    waiter, worker = await opened(make, "waiter"), await opened(make, "worker")
    await waiter.watch()
    events = waiter.events()
    await worker.add([req("/a"), req("/b")])
    [a, b] = await worker.lease(2, lease_seconds=5)
    await worker.release([b])
    [b] = await worker.lease(1, lease_seconds=5)
    await worker.ack(a)  # b is still leased: no event
    await worker.ack(b)  # no lease left: the crawl may be complete (or its budget spent)
    await worker.seeding(started=False, lease_seconds=5)
    async with asyncio.timeout(5):
        assert [await anext(events) for _ in range(4)] == ["add", "add", "idle", "seeded"]
    await events.aclose()


async def test_scope_hosts_are_shared(make: Factory) -> None:
    one, two = await opened(make, "one"), await opened(make, "two")
    await one.share_scope_hosts(["a.test", "b.test"])
    assert await two.scope_hosts() == {"a.test", "b.test"}


@pytest.mark.usefixtures("redis_package")
async def test_unreachable_redis_is_a_state_error() -> None:
    state = RedisState("redis://127.0.0.1:1/0", "x")
    with pytest.raises(StateError, match=r"^cannot reach Redis at redis://127.0.0.1:1/0: "):
        await state.open()


def test_missing_redis_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis.asyncio", None)
    state = RedisState("redis://127.0.0.1:6379/0", "x")
    message = r"^the Redis state needs the redis extra: pip install 'crawler\[redis\]'$"
    with pytest.raises(StateError, match=message):
        asyncio.run(state.open())


def test_crawl_id_with_braces_or_glob_characters_is_refused() -> None:
    with pytest.raises(StateError, match=r"^invalid crawl id 'a\{b\}'"):
        RedisState("redis://127.0.0.1:6379/0", "a{b}")


async def test_records_are_json_lines(make: Factory) -> None:
    state = await opened(make)
    await state.add([req("/a")])
    [leased] = await state.lease(1, lease_seconds=5)
    line = json.dumps({"url": leased.url}).encode()
    await state.ack(leased, records=[line])
    assert [json.loads(x) for x in await state.client.lrange(state.keys.records, 0, -1)] == [
        {"url": "http://example.test/a"}
    ]


async def test_a_cancelled_call_is_cancelled(make: Factory) -> None:
    """A task cancelled during a Redis command ends (redis-py 8.0 and 8.1 sometimes go on)."""
    state = await opened(make)
    started = asyncio.Event()

    async def calls() -> None:
        while True:
            await state.scope_hosts()
            started.set()

    for moment in range(200):
        started.clear()
        task = asyncio.create_task(calls())
        await started.wait()
        for _ in range(moment % 9):  # cancel at every step of a command's round trip
            await asyncio.sleep(0)
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=2)
        assert done == {task}, f"cancellation {moment} was swallowed"


@pytest.mark.usefixtures("redis_package")
async def test_an_invalid_redis_url_is_a_state_error() -> None:
    state = RedisState("redis://127.0.0.1:port/0", "x")
    with pytest.raises(StateError, match=r"^invalid Redis URL 'redis://127.0.0.1:port/0': "):
        await state.open()


@pytest.mark.parametrize("prefix", ["", "crawler:{c}:nested", "a*", "two words"])
def test_a_prefix_that_could_reach_other_crawls_is_refused(prefix: str) -> None:
    with pytest.raises(StateError, match=r"^invalid prefix "):
        RedisState(f"redis://127.0.0.1:6379/0?prefix={prefix}", "c")
