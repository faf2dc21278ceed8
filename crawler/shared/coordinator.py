"""One worker's part in a crawl that many processes share through Redis: the ``Coordinator``.

Completion is decided on the exact counts in Redis, never by an idle timeout: the crawl
is complete when it is seeded (some seeding run finished and no live worker is still
seeding), nothing is pending and no lease is outstanding, in any worker; or, with
``max_pages``, when that many requests are done and no lease is outstanding. A worker
checks when it finds nothing to lease, then waits for an event that may change the
answer (work added or released, the last lease acked, seeding finished), or for the
earliest lease deadline (a dead worker's leases then expire and are leased again), or
at most ``lease_seconds`` (a worker or seeder that died without a lease is forgotten when
its heartbeat expires; nothing is published then).

Workers started before seeding lease nothing until the crawl is seeded (then the seed
hosts, shared in Redis, are in their scope too); a worker that seeds leases at once.

While it works a worker renews, every third of ``lease_seconds``, the leases of every
request it holds (waiting, queued or being fetched; the engine does it), and with
``keep_alive`` its heartbeat and its politeness slots.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Final

from crawler.coordination import StopVerdict
from crawler.errors import StateUnavailableError
from crawler.shared.gate import RedisHostGate
from crawler.sinks import encode_record
from crawler.state.identity import crawl_identity
from crawler.urls import host_of

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from crawler.config import CrawlConfig
    from crawler.coordination import Completion, WorkCounts
    from crawler.models import Request
    from crawler.scope import Scope
    from crawler.shared.state import RedisState

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS: Final = 10.0
"""A worker is alive while its heartbeat is younger than this; it beats three times as often.
A dead worker's leases go back to pending, and its host slots free, once its heartbeat
expires: a killed worker's work is taken over within seconds, not at its lease deadline,
while a worker that is alive keeps its leases however long a fetch takes."""

BEAT_SECONDS: Final = HEARTBEAT_SECONDS / 3
"""Seconds between heartbeats: two may be late before a live worker looks dead."""

SHARED_SCHEDULE_FACTOR: Final = 4
"""A worker's scheduler holds at most this many requests per consumer: enough to keep its
consumers busy, little enough that work spreads over the workers and a dead worker's
leases are few."""


class SharedCoordinator:
    """Seeding marks, completion checks, events, keep-alive and commits of one worker.

    Args:
        state: The crawl's Redis state (opened by the engine).
        config: The crawl's configuration (limits, politeness, ``lease_seconds``).
        scope: This worker's scope, which the seeds' hosts shared by all workers join.
    """

    def __init__(self, state: RedisState, config: CrawlConfig, scope: Scope) -> None:
        self.state = state
        self.gate = RedisHostGate(
            state.connection,
            concurrency=config.per_host_concurrency,
            delay=config.delay,
            max_delay=config.max_crawl_delay,
            lease_seconds=config.lease_seconds,
        )
        # Shared crawls lease in batches of one per consumer: one round trip, not one a page.
        self.lease_batch = config.concurrency
        self._config = config
        self._scope = scope
        self._seeding = False
        self._seeded = False

    @property
    def ready(self) -> bool:
        """Whether this worker may lease: the crawl is seeded, or it seeds itself."""
        return self._seeded or self._seeding

    def schedule_capacity(self, configured: int) -> int:
        """Keep waiting work short: leased work waiting here is work no other worker can take."""
        return min(configured, SHARED_SCHEDULE_FACTOR * self._config.concurrency)

    def identity(self, seeds: Sequence[str], seed_files: Sequence[str]) -> str:
        """A shared crawl is one crawl whoever seeds it: its identity leaves the seeds out."""
        return crawl_identity([], [], self._config)

    def unconfirmed(self, taken_over: list[Request]) -> list[Request]:
        """Return nothing: records are written only after their ack."""
        return []

    @property
    def owns_output(self) -> bool:
        """Never: each worker's file holds its own records; ``crawl export`` has them all."""
        return False

    @property
    def parks(self) -> bool:
        """Never: the crawl ends when no worker holds work, so parked work would hold it open.

        Each worker gives an origin up by itself; its pages are recorded ``host_unavailable``.
        """
        return False

    def check_seed_only(self) -> None:
        """Allow it: a seeding run fills the crawl that workers lease from."""

    async def join(self) -> None:
        """Join the crawl: subscribe to its events, then announce this worker."""
        await self.state.watch()
        await self.state.heartbeat(HEARTBEAT_SECONDS)

    async def seeding_started(self) -> None:
        """Mark this worker as seeding (the crawl is not complete before it is done)."""
        self._seeding = True
        await self.state.heartbeat(HEARTBEAT_SECONDS)
        await self.state.seeding(started=True, lease_seconds=HEARTBEAT_SECONDS)

    async def seeding_done(self) -> None:
        """Mark this worker's seeding done: the crawl is seeded."""
        self._seeding = False
        await self.state.seeding(started=False, lease_seconds=HEARTBEAT_SECONDS)

    async def share_seeds(self, urls: Sequence[str]) -> None:
        """Share the hosts of seed URLs, so every worker's scope holds them."""
        hosts = {host for url in urls if (host := _host(url))}
        await self.state.share_scope_hosts(sorted(hosts))

    def remaining(self, dispatched: int) -> int | None:
        """Return ``None``: the lease script enforces ``max_pages`` across workers."""
        return None

    def verdict_now(self, counts: WorkCounts) -> StopVerdict | None:
        """Return ``None``: this worker's counts cannot see the others' work."""
        return None

    async def verdict(self, counts: WorkCounts) -> StopVerdict:
        """Check on the counts in Redis whether the crawl is complete (module docstring)."""
        progress = await self.state.progress()
        if not progress.bound:
            raise StateUnavailableError(
                f"crawl {self.state.crawl_id!r} is gone from Redis at {self.state.url} (it "
                "restarted without persistence, or the crawl was purged): its state is lost"
            )
        if progress.leased:
            await self.state.release_orphans()
        if progress.seeded and not self._seeded:
            self._seeded = True
            await self._refresh_scope()
        limit = self._config.max_pages
        spent = limit is not None and progress.done >= limit
        idle = progress.leased == 0
        seeded = progress.seeded and progress.seeders == 0 and counts.producers == 0
        finished = idle and (spent or (seeded and progress.pending == 0))
        recheck = self._config.lease_seconds
        if progress.next_deadline is not None:
            recheck = min(recheck, progress.next_deadline + 0.01)
        if progress.leased:  # a worker holding them may die: look again within a heartbeat
            recheck = min(recheck, HEARTBEAT_SECONDS / 2)
        return StopVerdict(finished=finished, budget_spent=spent, recheck=recheck)

    async def commit(
        self, completion: Completion, keep: Callable[[], None]
    ) -> tuple[bool, list[Request]]:
        """Add the links, ack with the records and free the slot in one step; keep if acked.

        So each worker's file holds the records of the requests it acked: a URL is in at
        most one worker file, and ``crawl export`` has every record exactly once.
        """
        slot = completion.slot
        release = self.gate.handover(slot) if slot is not None else None
        lines = [encode_record(record) for record in completion.records]
        acked, admitted = await self.state.complete(
            completion.request,
            found=completion.found,
            records=lines,
            error=completion.error,
            slot=release,
            snapshot=completion.snapshot,
        )
        if acked:
            keep()
        else:
            log.info(
                "lease of %s lost to another worker: its record is theirs", completion.request.url
            )
        return acked, admitted

    async def listen(self, wake: Callable[[], None]) -> None:
        """Dispatch the crawl's events until cancelled: slot releases, and the rest."""
        async for event in self.state.events():
            if event.startswith("slot "):
                self.gate.notify(event.removeprefix("slot "))
                continue
            if event == "seeded":
                self._seeded = True
                await self._refresh_scope()
            wake()

    async def keep_alive(self) -> None:
        """Beat until cancelled: this worker's heartbeat and politeness slots.

        The engine renews the leases; the heartbeat is what tells the others this worker
        is alive (see ``HEARTBEAT_SECONDS``).
        """
        while True:
            await asyncio.sleep(BEAT_SECONDS)
            await self.state.heartbeat(HEARTBEAT_SECONDS)
            await self.gate.renew()

    async def _refresh_scope(self) -> None:
        for host in await self.state.scope_hosts():
            self._scope.add_shared_host(host)


def _host(url: str) -> str:
    try:
        return host_of(url.strip())
    except ValueError:
        return ""
