"""The frontier: every URL passes here on its way to the scheduler, and back as done.

Admission (``crawler.admission``) turns URLs into requests or skip reasons; the state
backend deduplicates the admitted and keeps them pending; the frontier leases them out,
takes them back completed or released, and decides when the crawl is finished.

Invariant: ``outstanding == pending + active``, where *active* requests are leased from
the state and not yet completed (in the scheduler, the queue, or a consumer's hands): the
frontier holds them by key, so *active* is the size of that map, never a separate count.

Stop rule: the coordinator's verdict on ``WorkCounts`` (``crawler.coordination``). For a
crawl of one process, it is finished when no producer is running and
``outstanding == 0``, or when the page budget is spent and ``active == 0``; this is
checked whenever a count changes. When the coordinator cannot tell from these counts
(other processes work on the crawl too), its verdict is asked when there is nothing to
lease, and the frontier waits for a wake-up or the verdict's re-check time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from crawler.admission import Admission
from crawler.coordination import Completion, WorkCounts

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from crawler.config import CrawlConfig
    from crawler.coordination import Coordinator, Slot, StopVerdict
    from crawler.models import Record, Request, SkipReason, Snapshot
    from crawler.scope import Scope
    from crawler.state import StateBackend
    from crawler.stats import StatsRecorder

log = logging.getLogger(__name__)


class Frontier:
    """Admit and deduplicate URLs, hand out leased work, and apply the stop rule."""

    def __init__(
        self,
        config: CrawlConfig,
        state: StateBackend,
        scope: Scope,
        stats: StatsRecorder,
        coordinator: Coordinator,
    ) -> None:
        self._config = config
        self._state = state
        self._stats = stats
        self._coordinator = coordinator
        self.admission = Admission(config, scope, stats)
        self._held: dict[str, Request] = {}  # the active requests, by key
        self._parked: dict[str, Request] = {}  # leased, kept for the next run (see ``park``)
        self._pending = 0
        self._dispatched = 0
        self._producers = 0
        self._spent = False
        self._taken_over: list[Request] = []
        self._wakeup = asyncio.Event()
        self.finished = asyncio.Event()
        """Set once no more work will come: see the module docstring."""

    @property
    def outstanding(self) -> int:
        """Requests admitted and not yet completed."""
        return self._pending + len(self._held)

    @property
    def producers(self) -> int:
        """Seed producers still running in this process."""
        return self._producers

    @property
    def budget_spent(self) -> bool:
        """Whether ``max_pages`` requests have been handed out (or done, by all processes)."""
        return self._spent or self._coordinator.remaining(self._dispatched) == 0

    def counts(self) -> WorkCounts:
        """Return this process's view of the work, as the stop rule reads it."""
        return WorkCounts(
            producers=self._producers,
            pending=self._pending,
            active=len(self._held),
            dispatched=self._dispatched,
        )

    async def resume(self) -> list[Request]:
        """Count the work a state backend already holds, and take over its leases.

        The requests leased at a crash (or kept leased by a stop because their record was
        written) are renewed and handed out first, before any pending one; they count as
        pending until then. ``max_pages`` counts the requests done in earlier runs.

        Returns:
            The requests taken over.
        """
        self._taken_over = await self._state.leased()
        if self._taken_over:
            await self._state.renew(self._taken_over, lease_seconds=self._config.lease_seconds)
        counts = await self._state.counts()
        self._pending = counts.pending + len(self._taken_over)
        self._dispatched = counts.done
        self._wakeup.set()
        return list(self._taken_over)

    def producer_started(self) -> None:
        """Note a running seed producer: the crawl cannot finish before it is done."""
        self._producers += 1

    def producer_done(self) -> None:
        """Note a seed producer has finished."""
        self._producers -= 1
        self.check_finished()

    async def add_seeds(self, urls: Iterable[str]) -> None:
        """Admit seeds at depth 0; their hosts join the scope. Invalid ones are skipped."""
        requests = self.admission.seeds(urls, spent=self.budget_spent)
        self._stats.seed("duplicate", len(requests) - await self._admit(requests))

    async def add_found(self, urls: Iterable[str]) -> None:
        """Admit URLs found outside any page (a sitemap) at depth 0, within the scope."""
        requests = self.admission.found(urls, spent=self.budget_spent)
        self._stats.seed("duplicate", len(requests) - await self._admit(requests))

    def add_scope_hosts(self, urls: Iterable[str]) -> None:
        """Put the hosts of ``urls`` in scope, as seeds' hosts are (e.g. sitemaps' hosts)."""
        self.admission.add_scope_hosts(urls)

    def in_scope(self, url: str) -> bool:
        """Return whether ``url`` passes the scheme, length and scope checks (not depth, dedup)."""
        return self.admission.in_scope(url)

    async def check_redirect(self, target: str, source: Request) -> str | None:
        """Return ``None`` to follow ``source``'s redirect to ``target``, or why not to.

        The target is claimed for ``source``: fetched again, ``source`` follows it again.
        """
        outcome = self.admission.redirect(target)
        if isinstance(outcome, str):
            reason: SkipReason | None = outcome
        else:
            new = await self._state.claim(outcome.key, owner=source.key)
            reason = None if new else "duplicate"
        if reason is not None:
            self._stats.skip(reason)
        return reason

    async def offer_canonical(self, canonical: str, source: Request) -> bool | None:
        """Queue ``source``'s canonical URL if it was never seen (``follow_canonical``).

        Returns:
            ``True`` if queued, ``False`` if it was seen already (crawled, or to be),
            ``None`` if it is not to be crawled (out of scope, too deep, a trap, ...).
        """
        outcome = self.admission.classify(canonical, source)
        if isinstance(outcome, str):
            self._stats.skip(outcome)
            return None
        return await self._admit([outcome]) == 1

    def held(self) -> list[Request]:
        """Return the requests leased and not yet completed or released (to renew)."""
        return [*self._held.values(), *self._parked.values()]

    @property
    def parks(self) -> bool:
        """Whether ``park`` keeps requests for the next run (the coordinator's ``parks``)."""
        return self._coordinator.parks

    @property
    def parked(self) -> int:
        """Requests parked in this run."""
        return len(self._parked)

    def park(self, request: Request) -> None:
        """Keep a leased request of a given-up origin for the next run.

        It stays leased (renewed) but is no longer active, so it does not hold this run
        open; ``release`` at the end of the run puts it back to pending in the state.
        """
        self._parked[request.key] = self._held.pop(request.key, request)
        self._stats.skip("host_unavailable")
        self.check_finished()

    def unpark(self) -> list[Request]:
        """Return the parked requests, to release at the end of the run."""
        return list(self._parked.values())

    def wake(self) -> None:
        """Make a waiting ``next_batch`` look again (another worker's work may be there)."""
        self._wakeup.set()

    async def next_batch(self, limit: int) -> list[Request]:
        """Lease up to ``limit`` requests, waiting for work; ``[]`` once no more will come."""
        while not self.finished.is_set():
            self._wakeup.clear()  # before leasing: a wake-up during the lease is kept
            budget = self._budget(limit)
            was_ready = self._coordinator.ready
            batch = await self._lease(budget) if budget and was_ready else []
            if batch:
                self._pending -= len(batch)
                self._dispatched += len(batch)
                self._held.update((r.key, r) for r in batch)
                return batch
            verdict = await self._coordinator.verdict(self.counts())
            just_seeded = not was_ready and self._coordinator.ready
            if verdict.finished:
                self._finish(verdict)
            elif not just_seeded:  # a worker that just learned of seeds leases at once
                await self._wait(verdict.recheck)
        return []

    async def complete(
        self,
        request: Request,
        keep: Callable[[], None],
        *,
        links: Iterable[str] = (),
        records: list[Record] | None = None,
        error: str | None = None,
        slot: Slot | None = None,
        snapshot: Snapshot | None = None,
    ) -> bool:
        """Commit a request done with: its page's links, its records and its ack.

        Args:
            request: The leased request.
            keep: Writes its records and counts it, when the coordinator's commit says
                (see ``crawler.coordination``).
            links: Its page's links to follow.
            records: Its output records.
            error: Its error class.
            slot: The gate turn it holds, freed in the same step.
            snapshot: What a durable state keeps of it for the next generation.

        Returns:
            ``False`` if the lease was lost (another worker has or will have the request).
        """
        found = self.admission.links(request, links, spent=self.budget_spent) if links else []
        completion = Completion(
            request=request, records=records or [], found=found, error=error, slot=slot,
            snapshot=snapshot,
        )  # fmt: skip
        acked, admitted = await self._coordinator.commit(completion, keep)
        self._count_admitted(len(found), admitted)
        self._held.pop(request.key, None)
        self.check_finished()
        return acked

    async def renew(self, requests: list[Request]) -> None:
        """Push the lease deadlines of requests still held ``lease_seconds`` ahead."""
        if requests:
            await self._state.renew(requests, lease_seconds=self._config.lease_seconds)

    async def release(self, requests: list[Request]) -> None:
        """Give leased requests back to the state (a stopped crawl); they stay pending."""
        await self._state.release(requests)
        for request in requests:
            self._held.pop(request.key, None)
            self._parked.pop(request.key, None)
        self._pending += len(requests)

    def check_finished(self) -> None:
        """Set ``finished`` if this process's counts say so (see the module docstring)."""
        verdict = self._coordinator.verdict_now(self.counts())
        if verdict is not None and verdict.finished:
            self._finish(verdict)

    def _finish(self, verdict: StopVerdict) -> None:
        self._spent = verdict.budget_spent
        self.finished.set()
        self._wakeup.set()

    async def _wait(self, recheck: float | None) -> None:
        """Wait for a wake-up, or at most ``recheck`` seconds."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(recheck):
                await self._wakeup.wait()

    async def _lease(self, limit: int) -> list[Request]:
        if self._taken_over:
            batch, self._taken_over = self._taken_over[:limit], self._taken_over[limit:]
            return batch
        return await self._state.lease(limit, lease_seconds=self._config.lease_seconds)

    def _budget(self, limit: int) -> int:
        remaining = self._coordinator.remaining(self._dispatched)
        return limit if remaining is None else min(limit, remaining)

    async def _admit(self, requests: list[Request]) -> int:
        """Add ``requests`` to the state; return how many were new."""
        if not requests:
            return 0
        admitted = await self._state.add(requests)
        self._count_admitted(len(requests), admitted)
        return len(admitted)

    def _count_admitted(self, offered: int, admitted: list[Request]) -> None:
        self._stats.skip("duplicate", offered - len(admitted))
        if admitted:
            self._pending += len(admitted)
            self._wakeup.set()
