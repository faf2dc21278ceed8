"""Status, export and purge of a crawl kept in Redis (real Redis, own crawl ids)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from crawler.shared.admin import (
    CrawlStatus,
    HostStatus,
    crawl_status,
    export_records,
    format_status,
    purge,
)
from crawler.shared.gate import RedisHostGate
from crawler.shared.state import RedisState
from crawler.sinks import open_sink
from tests.conftest import TEST_NAMESPACE
from tests.test_state_redis import req

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def state(redis_url: str, crawl_id: str) -> AsyncIterator[RedisState]:
    opened = RedisState(redis_url, crawl_id, namespace=TEST_NAMESPACE, worker_id="w1")
    await opened.open()
    yield opened
    await opened.close()


async def crawl_two_pages(state: RedisState) -> None:
    await state.seeding(started=True, lease_seconds=60)
    await state.add([req("/a"), req("/b"), req("/c")])
    await state.seeding(started=False, lease_seconds=60)
    await state.heartbeat(60)
    [a, b] = await state.lease(2, lease_seconds=60)
    await state.ack(a, records=[json.dumps({"url": a.url, "status": 200}).encode()])
    await state.ack(
        b, records=[json.dumps({"url": b.url, "status": None}).encode()], error="timeout"
    )


async def test_status_counts_errors_hosts_and_live_workers(state: RedisState) -> None:
    await crawl_two_pages(state)
    gate = RedisHostGate(state.connection, concurrency=2, delay=0, max_delay=10, lease_seconds=60)
    await gate.acquire("http://example.test/c")
    status = await crawl_status(state)
    assert status.workers.keys() == {"w1"}
    assert 59 < status.workers["w1"] <= 60
    assert status == CrawlStatus(
        seeded=True,
        pending=1,
        in_flight=0,
        done=2,
        seen=3,
        errors={"timeout": 1},
        hosts={"example.test": HostStatus(pending=1, done=2, in_flight=1)},
        workers=status.workers,
    )
    assert format_status("demo", status).splitlines() == [
        "crawl demo: running",
        "pending 1, in flight 0, done 2, seen 3",
        "errors: timeout=1",
        "workers (1 live):",
        "  w1 (heartbeat 60 s left)",
        "hosts (pending, in flight, done):",
        "  example.test: 1, 1, 2",
    ]


async def test_export_writes_each_stored_record_once(state: RedisState, tmp_path: Path) -> None:
    await crawl_two_pages(state)
    output = tmp_path / "all.jsonl"
    sink = open_sink(str(output), "jsonl")
    try:
        assert await export_records(state, sink) == 2
    finally:
        sink.close()
    assert [json.loads(line) for line in output.read_text().splitlines()] == [
        {"url": "http://example.test/a", "status": 200},
        {"url": "http://example.test/b", "status": None},
    ]


async def test_purge_deletes_the_crawls_keys_and_no_other(
    state: RedisState, redis_url: str
) -> None:
    other_id = f"t-{uuid.uuid4().hex[:12]}"
    other = RedisState(redis_url, other_id, namespace=TEST_NAMESPACE, worker_id="w1")
    await other.open()
    try:
        await other.add([req("/x")])
        await crawl_two_pages(state)
        gate = RedisHostGate(
            state.connection, concurrency=2, delay=1, max_delay=10, lease_seconds=60
        )
        await gate.acquire("http://example.test/c")
        assert (
            await purge(state) == 10
        )  # seen pending records meta workers hosts hosts_done errors polite slots
        assert await state.client.keys(f"{TEST_NAMESPACE}:{{{state.crawl_id}}}:*") == []
        assert (await other.counts()).pending == 1
    finally:
        await purge(other)
        await other.close()
