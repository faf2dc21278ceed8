"""One contract for every state backend: add the next backend to ``BACKENDS``."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from crawler.coordination import open_state
from crawler.errors import StateError, StateMismatchError
from crawler.models import Request, Snapshot
from crawler.shared.admin import purge
from crawler.shared.state import RedisState
from crawler.state import StateBackend, StateCounts
from crawler.state.memory import MemoryState
from crawler.state.sqlite import SqliteState
from tests.conftest import REDIS_URL, TEST_NAMESPACE

pytestmark = pytest.mark.timeout(30)
LEASE = 10.0


class Clock:
    """A clock the test moves by hand: lease expiry without sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def memory(tmp_path: Path, clock: Clock) -> StateBackend:
    return MemoryState(clock=clock)


def sqlite(tmp_path: Path, clock: Clock) -> StateBackend:
    return SqliteState(str(tmp_path / "state.db"), clock=clock)


def redis(tmp_path: Path, clock: Clock) -> StateBackend:
    crawl_id = f"contract-{uuid.uuid4().hex[:12]}"
    return RedisState(REDIS_URL, crawl_id, namespace=TEST_NAMESPACE, worker_id="w", clock=clock)


BACKENDS: dict[str, Callable[[Path, Clock], StateBackend]] = {
    "memory": memory,
    "sqlite": sqlite,
    "redis": redis,
}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=sorted(BACKENDS))
async def state(request, tmp_path, clock) -> AsyncIterator[StateBackend]:
    if request.param == "redis":
        request.getfixturevalue("redis_url")  # skips without a Redis (fails under CI=true)
    backend = BACKENDS[request.param](tmp_path, clock)
    await backend.open()
    yield backend
    if isinstance(backend, RedisState):
        await purge(backend)  # this test's keys only
    await backend.close()


def req(name: str, depth: int = 0, parent: str | None = None) -> Request:
    return Request(url=f"http://h/{name}", key=f"http://h/{name}", depth=depth, parent=parent)


async def test_add_admits_each_key_once_in_order(state):
    admitted = await state.add([req("a"), req("b"), req("a")])
    assert admitted == [req("a"), req("b")]
    assert await state.add([req("b"), req("c")]) == [req("c")]
    assert await state.counts() == StateCounts(pending=3, leased=0, done=0, seen=3)


async def test_claim_marks_seen_without_queueing(state):
    assert await state.claim("http://h/r") is True
    assert await state.claim("http://h/r") is False
    assert await state.add([req("r")]) == []
    assert await state.counts() == StateCounts(pending=0, leased=0, done=0, seen=1)


async def test_a_claimed_target_stays_its_claimers(state):
    """A redirect's target, claimed for its source, is followed again when the source is."""
    assert await state.claim("http://h/to", owner="http://h/from") is True
    assert await state.claim("http://h/to", owner="http://h/from") is True  # fetched again
    assert await state.claim("http://h/to", owner="http://h/other") is False
    assert await state.claim("http://h/to") is False
    await state.add([req("page")])
    assert await state.claim("http://h/page", owner="http://h/from") is False  # a link's own
    assert await state.counts() == StateCounts(pending=1, leased=0, done=0, seen=2)


async def test_a_claim_survives_a_reopen(tmp_path, clock):
    path = str(tmp_path / "state.db")
    first = open_state(path, clock=clock)
    async with first:
        assert await first.claim("http://h/to", owner="http://h/from") is True
    async with open_state(path, clock=clock) as second:
        assert await second.claim("http://h/to", owner="http://h/from") is True
        assert await second.claim("http://h/to", owner="http://h/x") is False


async def test_lease_is_fifo_and_keeps_depth_and_parent(state):
    await state.add([req("a"), req("b", 2, "http://h/a"), req("c")])
    assert await state.lease(2, lease_seconds=LEASE) == [req("a"), req("b", 2, "http://h/a")]
    assert await state.lease(5, lease_seconds=LEASE) == [req("c")]
    assert await state.lease(5, lease_seconds=LEASE) == []
    assert await state.counts() == StateCounts(pending=0, leased=3, done=0, seen=3)


async def test_ack_marks_done_once(state):
    await state.add([req("a")])
    [leased] = await state.lease(1, lease_seconds=LEASE)
    assert await state.ack(leased) is True
    assert await state.ack(leased) is False
    assert await state.counts() == StateCounts(pending=0, leased=0, done=1, seen=1)


async def test_ack_of_a_request_never_leased_is_refused(state):
    await state.add([req("a")])
    assert await state.ack(req("a")) is False
    assert await state.counts() == StateCounts(pending=1, leased=0, done=0, seen=1)


async def test_expired_lease_returns_to_pending_at_the_front(state, clock):
    await state.add([req("a"), req("b")])
    assert await state.lease(1, lease_seconds=LEASE) == [req("a")]
    clock.now += LEASE
    assert await state.lease(1, lease_seconds=LEASE) == [req("a")]
    assert await state.counts() == StateCounts(pending=1, leased=1, done=0, seen=2)


async def test_lease_not_yet_expired_is_kept(state, clock):
    await state.add([req("a")])
    await state.lease(1, lease_seconds=LEASE)
    clock.now += LEASE - 0.5
    assert await state.lease(1, lease_seconds=LEASE) == []


async def test_lost_lease_ack_returns_false(state, clock):
    await state.add([req("a")])
    [first] = await state.lease(1, lease_seconds=LEASE)
    clock.now += LEASE
    [second] = await state.lease(1, lease_seconds=LEASE)  # another worker takes it
    assert await state.ack(second) is True
    assert await state.ack(first) is False
    assert await state.counts() == StateCounts(pending=0, leased=0, done=1, seen=1)


async def test_renew_pushes_the_deadline(state, clock):
    await state.add([req("a")])
    leased = await state.lease(1, lease_seconds=LEASE)
    clock.now += LEASE - 1
    await state.renew(leased, lease_seconds=LEASE)
    clock.now += LEASE - 1
    assert await state.lease(1, lease_seconds=LEASE) == []
    clock.now += 1
    assert await state.lease(1, lease_seconds=LEASE) == [req("a")]


async def test_renew_of_an_acked_request_does_not_lease_it_again(state):
    await state.add([req("a")])
    leased = await state.lease(1, lease_seconds=LEASE)
    await state.ack(leased[0])
    await state.renew(leased, lease_seconds=LEASE)
    assert await state.leased() == []


async def test_release_puts_requests_back_at_the_front_in_order(state):
    await state.add([req("a"), req("b"), req("c")])
    leased = await state.lease(2, lease_seconds=LEASE)
    await state.release(leased)
    assert await state.lease(3, lease_seconds=LEASE) == [req("a"), req("b"), req("c")]


async def test_release_ignores_requests_not_leased(state):
    await state.add([req("a")])
    await state.release([req("a"), req("z")])
    assert await state.counts() == StateCounts(pending=1, leased=0, done=0, seen=1)


async def test_leased_lists_requests_in_flight(state):
    await state.add([req("a"), req("b"), req("c")])
    leased = await state.lease(2, lease_seconds=LEASE)
    await state.ack(leased[0])
    assert await state.leased() == [req("b")]


async def test_bind_fresh_then_same_identity_is_a_resume(state):
    assert await state.bind("one") is False
    assert await state.bind("one") is True


async def test_bind_to_another_identity_is_refused(state):
    await state.bind("one")
    with pytest.raises(StateMismatchError, match=r"belongs to another crawl"):
        await state.bind("two")


async def test_bind_with_force_rebinds_and_keeps_the_work(state):
    await state.bind("one")
    await state.add([req("a")])
    assert await state.bind("two", force=True) is True
    assert await state.bind("two") is True
    assert (await state.counts()).pending == 1


async def test_close_keeps_leases(tmp_path, clock):
    path = str(tmp_path / "state.db")
    first = SqliteState(path, clock=clock)
    await first.open()
    await first.bind("crawl")
    await first.add([req("a"), req("b"), req("c")])
    [a] = await first.lease(1, lease_seconds=LEASE)
    await first.ack(a)
    await first.lease(1, lease_seconds=LEASE)
    await first.close()
    second = open_state(path, clock=clock)
    await second.open()
    try:
        assert await second.bind("crawl") is True
        assert await second.leased() == [req("b")]
        assert await second.counts() == StateCounts(pending=1, leased=1, done=1, seen=3)
        assert await second.lease(5, lease_seconds=LEASE) == [req("c")]
    finally:
        await second.close()


def test_open_state_picks_the_backend(tmp_path):
    assert isinstance(open_state(None), MemoryState)
    assert isinstance(open_state(str(tmp_path / "s.db")), SqliteState)
    shared = open_state("redis://127.0.0.1:6379/0", crawl_id="c", worker_id="w", max_pages=5)
    assert isinstance(shared, RedisState)
    assert (shared.url, shared.crawl_id, shared.worker_id) == ("redis://127.0.0.1:6379/0", "c", "w")


def test_open_state_needs_a_crawl_id_for_redis():
    with pytest.raises(StateError, match=r"^a redis:// state needs a crawl id \(--crawl-id\)$"):
        open_state("redis://127.0.0.1:6379/0")


async def test_a_new_generation_queues_the_done_again_with_their_snapshots(state):
    await state.add([req("a"), req("b")])
    first, second = await state.lease(2, lease_seconds=60)
    kept = Snapshot(200, etag='"v1"', digest="d1", title="A", links=3, fields={"price": 1})
    assert await state.ack(first, snapshot=kept) is True
    assert await state.begin_generation() is False  # the generation goes on: b is leased
    assert await state.ack(second) is True
    await state.finish_generation()
    assert await state.begin_generation() is True
    assert await state.begin_generation() is False  # once: the new one has not finished
    leased = await state.lease(10, lease_seconds=60)
    if not isinstance(state, SqliteState):  # keep only what was given a snapshot
        assert [(r.key, r.previous) for r in leased] == [(first.key, kept)]
        assert (await state.counts()).done == 0
        return
    assert [(r.key, r.previous) for r in leased] == [(first.key, kept), (second.key, None)]
    assert await state.counts() == StateCounts(pending=0, leased=2, done=0, seen=2)


async def test_a_snapshot_survives_a_reopened_state_file(tmp_path, clock):
    path = str(tmp_path / "crawl.db")
    kept = Snapshot(200, last_modified="Tue, 01 Dec 2026 10:00:00 GMT", size=42)
    async with SqliteState(path, clock=clock) as db:
        await db.add([req("a")])
        (leased,) = await db.lease(1, lease_seconds=60)
        await db.ack(leased, snapshot=kept)
        await db.finish_generation()
    async with SqliteState(path, clock=clock) as db:
        assert await db.begin_generation() is True
    async with SqliteState(path, clock=clock) as db:  # killed before anything: taken over
        assert [r.previous for r in await db.lease(1, lease_seconds=60)] == [kept]
        assert [r.previous for r in await db.leased()] == [kept]


async def test_a_state_file_of_schema_1_is_upgraded_in_place(tmp_path, clock):
    import sqlite3

    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "CREATE TABLE requests (key TEXT PRIMARY KEY, url TEXT NOT NULL, depth INTEGER NOT NULL"
        " DEFAULT 0, parent TEXT, state INTEGER NOT NULL, rank INTEGER, deadline REAL)"
        " WITHOUT ROWID;"
        "INSERT INTO meta VALUES ('schema', '1');"
        "INSERT INTO requests VALUES ('http://h/a', 'http://h/a', 0, NULL, 0, 1, NULL);"
    )
    db.commit()
    db.close()
    async with SqliteState(str(path), clock=clock) as state:
        assert [(r.key, r.previous) for r in await state.lease(1, lease_seconds=60)] == [
            ("http://h/a", None)
        ]
