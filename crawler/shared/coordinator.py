"""One worker's part in a crawl that many processes share through Redis.

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

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from crawler.shared.gate import RedisHostGate
from crawler.urls import host_of

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from crawler.config import CrawlConfig
    from crawler.models import Request
    from crawler.shared.state import RedisState

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Verdict:
    """The answer of a completion check.

    Attributes:
        finished: No more work will come, for any worker.
        budget_spent: ``max_pages`` requests are done (all workers together).
        recheck: Seconds after which to check again if no event came first.
    """

    finished: bool
    budget_spent: bool
    recheck: float


class Coordinator:
    """Seeding marks, completion checks, events and keep-alive of one worker.

    Args:
        state: The crawl's open Redis state.
        config: The crawl's configuration (limits, politeness, ``lease_seconds``).
        add_scope_hosts: Puts hosts in this worker's scope (the seeds' hosts, shared).
    """

    def __init__(
        self,
        state: RedisState,
        config: CrawlConfig,
        add_scope_hosts: Callable[[Iterable[str]], None],
    ) -> None:
        self.state = state
        self.gate = RedisHostGate(
            state.connection,
            concurrency=config.per_host_concurrency,
            delay=config.delay,
            max_delay=config.max_crawl_delay,
            lease_seconds=config.lease_seconds,
        )
        self._config = config
        self._add_scope_hosts = add_scope_hosts
        self._seeding = 0
        self._seeded = False
        self._configured: set[str] = set()

    @property
    def ready(self) -> bool:
        """Whether this worker may lease: the crawl is seeded, or it seeds itself."""
        return self._seeded or self._seeding > 0

    async def start(self) -> None:
        """Join the crawl: subscribe to its events, then announce this worker."""
        await self.state.watch()
        await self.state.heartbeat(self._config.lease_seconds)

    async def seeding_started(self) -> None:
        """Note a seed producer of this worker starts (the crawl is not complete before)."""
        self._seeding += 1
        if self._seeding == 1:
            await self.state.seeding(started=True, lease_seconds=self._config.lease_seconds)

    async def seeding_done(self) -> None:
        """Note a seed producer has finished; the last one marks the crawl seeded."""
        self._seeding -= 1
        if self._seeding == 0:
            await self.state.seeding(started=False, lease_seconds=self._config.lease_seconds)

    async def share_seeds(self, urls: Sequence[str]) -> None:
        """Share the hosts of seed URLs, so every worker's scope holds them."""
        hosts = {host for url in urls if (host := _host(url))}
        await self.state.add_scope_hosts(sorted(hosts))

    async def verdict(self, *, producers: int) -> Verdict:
        """Check whether the crawl is complete (see the module docstring).

        Args:
            producers: This worker's seed producers still running.
        """
        progress = await self.state.progress()
        if progress.seeded and not self._seeded:
            self._seeded = True
            await self.refresh_scope()
        limit = self._config.max_pages
        spent = limit is not None and progress.done >= limit
        idle = progress.leased == 0
        seeded = progress.seeded and progress.seeders == 0 and producers == 0
        finished = idle and (spent or (seeded and progress.pending == 0))
        recheck = self._config.lease_seconds
        if progress.next_deadline is not None:
            recheck = min(recheck, progress.next_deadline + 0.01)
        return Verdict(finished=finished, budget_spent=spent, recheck=recheck)

    async def refresh_scope(self) -> None:
        """Load the seed hosts every worker shared into this worker's scope."""
        self._add_scope_hosts(await self.state.scope_hosts())

    async def configure(self, origin: str, crawl_delay: float | None) -> None:
        """Share an origin's ``Crawl-delay`` once this worker learned it."""
        if origin not in self._configured:
            self._configured.add(origin)
            await self.gate.configure(origin, crawl_delay)

    async def complete(
        self,
        request: Request,
        *,
        found: Sequence[Request],
        records: Sequence[bytes],
        error: str | None,
        slot: str | None,
        status: int | None,
    ) -> tuple[bool, list[Request]]:
        """Add a page's links, ack it with its records and free its slot: one round trip.

        Returns:
            Whether it was acked (``False``: the lease was lost), and the links admitted.
        """
        release = self.gate.handover(slot, status) if slot is not None else None
        return await self.state.complete(
            request, found=found, records=records, error=error, slot=release
        )

    async def listen(self, wake: Callable[[], None]) -> None:
        """Dispatch the crawl's events until cancelled: slot releases, and the rest."""
        async for event in self.state.events():
            if event.startswith("slot "):
                self.gate.notify(event.removeprefix("slot "))
                continue
            if event == "seeded":
                self._seeded = True
                await self.refresh_scope()
            wake()

    async def keep_alive(self) -> None:
        """Renew this worker's heartbeat and politeness slots (the engine renews its leases)."""
        await self.state.heartbeat(self._config.lease_seconds)
        await self.gate.renew()


def _host(url: str) -> str:
    try:
        return host_of(url.strip())
    except ValueError:
        return ""
