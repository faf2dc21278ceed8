"""Operating a crawl kept in Redis: its status, the merged output, and deleting its keys.

``status_text``, ``export`` and ``purge_crawl`` each open the crawl's state, do one thing
and close it; the command line (``crawl status|export|purge``) is a thin shell over them.

``export`` is the exactly-once output of a shared crawl: a record enters ``records`` only
in the same atomic step as its request's ack, and an ack succeeds once per request (a
worker that lost its lease cannot ack), so every URL attempted has its records there once,
whichever workers fetched it and whichever died.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from crawler.config import is_shared
from crawler.errors import StateError
from crawler.shared.client import as_text, glob_escape, reply
from crawler.shared.state import RedisState
from crawler.sinks import open_sink

if TYPE_CHECKING:
    from collections.abc import Mapping

    from crawler.config import OutputFormat
    from crawler.sinks import Sink

EXPORT_CHUNK: Final = 1000
"""Records read per ``LRANGE`` while exporting: bounded memory, few round trips."""


@dataclass(frozen=True, slots=True)
class HostStatus:
    """One host of a shared crawl.

    Attributes:
        pending: Requests waiting.
        done: Requests acked.
        in_flight: Requests being fetched now, by all workers (from the politeness slots).
    """

    pending: int
    done: int
    in_flight: int


@dataclass(frozen=True, slots=True)
class CrawlStatus:
    """What ``crawl status`` shows of a shared crawl.

    Attributes:
        seeded: Some seeding run has finished.
        pending: Requests waiting.
        in_flight: Requests leased by workers (an expired lease counts until re-leased).
        done: Requests acked (their records are stored).
        seen: Distinct URLs admitted or claimed.
        errors: Done requests by error class.
        hosts: Per-host counts, by host name.
        workers: Live workers: id → seconds left on their heartbeat.
    """

    seeded: bool
    pending: int
    in_flight: int
    done: int
    seen: int
    errors: Mapping[str, int]
    hosts: Mapping[str, HostStatus]
    workers: Mapping[str, float]

    @property
    def complete(self) -> bool:
        """Whether the crawl is complete: seeded, nothing pending or in flight."""
        return self.seeded and self.pending == 0 and self.in_flight == 0


async def crawl_status(state: RedisState) -> CrawlStatus:
    """Return the status of ``state``'s crawl (dead workers are dropped first)."""
    progress = await state.progress()
    counts = await state.counts()
    client, keys = state.client, state.keys
    pending = _ints(await reply(client.hgetall(keys.hosts)))
    done = _ints(await reply(client.hgetall(keys.hosts_done)))
    in_flight = await _in_flight_by_host(state)
    hosts = {
        host: HostStatus(pending.get(host, 0), done.get(host, 0), in_flight.get(host, 0))
        for host in sorted(set(pending) | set(done) | set(in_flight))
        if pending.get(host) or done.get(host) or in_flight.get(host)
    }
    return CrawlStatus(
        seeded=progress.seeded,
        pending=counts.pending,
        in_flight=counts.leased,
        done=counts.done,
        seen=counts.seen,
        errors=_ints(await reply(client.hgetall(keys.errors))),
        hosts=hosts,
        workers=await _live_workers(state),
    )


def format_status(crawl_id: str, status: CrawlStatus) -> str:
    """Return the text ``crawl status`` prints."""
    state = "complete" if status.complete else ("running" if status.seeded else "not seeded")
    lines = [
        f"crawl {crawl_id}: {state}",
        f"pending {status.pending}, in flight {status.in_flight}, done {status.done}, "
        f"seen {status.seen}",
        "errors: " + (", ".join(f"{k}={v}" for k, v in sorted(status.errors.items())) or "none"),
        f"workers ({len(status.workers)} live):",
        *(f"  {worker} (heartbeat {left:.0f} s left)" for worker, left in status.workers.items()),
        "hosts (pending, in flight, done):",
        *(
            f"  {host}: {h.pending}, {h.in_flight}, {h.done}"
            for host, h in sorted(status.hosts.items())
        ),
    ]
    return "\n".join(lines)


async def export_records(state: RedisState, sink: Sink) -> int:
    """Write every stored record of the crawl to ``sink``, in ack order; return how many."""
    written, client, key = 0, state.client, state.keys.records
    while chunk := await reply(client.lrange(key, written, written + EXPORT_CHUNK - 1)):
        sink.write([json.loads(line) for line in chunk])
        written += len(chunk)
    return written


async def purge(state: RedisState) -> int:
    """Delete every key of the crawl (and nothing else); return how many existed."""
    client, keys = state.client, state.keys
    found = [key async for key in client.scan_iter(match=glob_escape(keys.prefix) + "*")]
    names = {*keys.fixed(), *(k.decode() if isinstance(k, bytes) else k for k in found)}
    return int(await client.unlink(*names))


def _ints(mapping: Mapping[bytes | str, bytes | str]) -> dict[str, int]:
    return {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in mapping.items()}


def _operator_state(location: str, crawl_id: str) -> RedisState:
    if not is_shared(location):
        raise StateError(f"not a shared state: {location!r} (give redis://HOST:PORT/DB)")
    return RedisState(location, crawl_id, worker_id="operator")


async def status_text(location: str, crawl_id: str) -> str:
    """Return the status report of the crawl ``crawl_id`` at ``location``."""
    async with _operator_state(location, crawl_id) as state:
        return format_status(crawl_id, await crawl_status(state))


async def export(location: str, crawl_id: str, output: str, output_format: OutputFormat) -> int:
    """Write the crawl's stored records, each exactly once, to ``output``; return how many.

    Raises:
        OutputError: ``output`` cannot be written.
        StateError: No Redis answers, or ``location`` is not a Redis URL.
    """
    async with _operator_state(location, crawl_id) as state:
        sink = open_sink(output, output_format)
        try:
            return await export_records(state, sink)
        finally:
            sink.close()


async def purge_crawl(location: str, crawl_id: str) -> int:
    """Delete every key of the crawl; return how many keys there were."""
    async with _operator_state(location, crawl_id) as state:
        return await purge(state)


async def _live_workers(state: RedisState) -> dict[str, float]:
    """Return the live workers: id → seconds left on their heartbeat."""
    now = await state.connection.now()
    alive: Any = await state.client.zrangebyscore(state.keys.workers, now, "+inf", withscores=True)
    return {as_text(worker): float(deadline) - now for worker, deadline in alive}


async def _in_flight_by_host(state: RedisState) -> dict[str, int]:
    """Return how many requests are being fetched per host now, by all workers."""
    now = await state.connection.now()
    counts: dict[str, int] = {}
    prefix = state.keys.slots_prefix
    async for key in state.client.scan_iter(match=glob_escape(prefix) + "*"):
        held = int(await state.client.zcount(key, now, "+inf"))
        if held:
            host = as_text(key).removeprefix(prefix).partition("://")[2]  # host[:port]
            counts[host] = counts.get(host, 0) + held
    return counts
