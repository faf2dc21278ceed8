"""The frontier: every URL passes here on its way to the queue.

Order of checks for a found link: scheme and length, depth, scope, then the canonical
key is deduplicated by the state backend (scope before dedup because it is cheaper and a
URL out of scope never needs a seen-set entry). Each refusal is a ``SkipReason`` counted
in the stats, never an exception.

Invariant: ``outstanding == pending + active``, where *active* requests are leased from
the state and not yet completed (in the scheduler, the queue, or a consumer's hands): the
frontier holds them by key, so *active* is the size of that map, never a separate count. The
crawl is finished when no producer is running and ``outstanding == 0``, or when the
page budget is spent and ``active == 0``.

Shared (Redis) crawls: these local counters cannot see other workers' work, so with a
``Coordinator`` the frontier decides nothing from them: when it finds nothing to lease it
asks the coordinator, which checks the exact counts in Redis, and waits for an event or
the coordinator's re-check time (see ``crawler.shared.coordinator``). ``max_pages`` is then
enforced by the lease itself, across all workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from functools import lru_cache
from typing import TYPE_CHECKING

from crawler.errors import SeedError
from crawler.models import Request
from crawler.urls import (
    HTTP_SCHEMES,
    canonicalize,
    defragment,
    host_of,
    scheme_of,
    segment_repeats,
    validate_seed,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from crawler.config import CrawlConfig
    from crawler.models import SkipReason
    from crawler.scope import Scope
    from crawler.shared.coordinator import Coordinator
    from crawler.state import StateBackend
    from crawler.stats import StatsRecorder

log = logging.getLogger(__name__)

# Hosts repeat on every link; caching the split keeps scope checks cheap.
_cached_host = lru_cache(maxsize=4096)(host_of)

SETTLED_MEMO_SIZE = 2**17
"""Link spellings remembered as settled (admitted or refused for good), about 15 MB at most.

Most links of a page were seen before (navigation, footers): a hit skips scope checks,
canonicalization and the state lookup. Only outcomes that cannot change are remembered:
a URL admitted once is a duplicate forever, and scheme and length are fixed; the scope
only grows (a seed from a slow seeds file, a shared crawl's hosts), and the memo is
forgotten when it does. Depth and the page budget are checked before the memo.
"""


class Frontier:
    """Canonicalize, dedupe, scope and depth-check URLs, and hand out leased work."""

    def __init__(
        self,
        config: CrawlConfig,
        state: StateBackend,
        scope: Scope,
        stats: StatsRecorder,
        *,
        coordinator: Coordinator | None = None,
    ) -> None:
        self._config = config
        self._shared = coordinator
        self._shared_budget_spent = False
        self._held: dict[str, Request] = {}  # the active requests, by key
        self._state = state
        self._scope = scope
        self._stats = stats
        self._pending = 0
        self._dispatched = 0
        self._producers = 0
        self._settled: dict[str, SkipReason] = {}
        self._settled_scope = scope.generation
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
        """Whether ``max_pages`` requests have been handed out (shared: are done)."""
        if self._shared is not None:
            return self._shared_budget_spent
        limit = self._config.max_pages
        return limit is not None and self._dispatched >= limit

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
        requests: list[Request] = []
        for url in urls:
            try:
                valid = validate_seed(url)
            except SeedError as exc:
                log.warning("%s", exc)
                self._stats.skip("invalid_url")
                continue
            self._scope.add_seed_host(host_of(valid))
            outcome = self._classify(valid, 0, None)
            if isinstance(outcome, Request):
                requests.append(outcome)
            else:
                self._stats.skip(outcome)
        await self._admit(requests)

    def add_scope_hosts(self, urls: Iterable[str]) -> None:
        """Put the hosts of ``urls`` in scope, as seeds' hosts are (e.g. sitemaps' hosts)."""
        for url in urls:
            self._scope.add_seed_host(host_of(url))

    async def add_found(self, urls: Iterable[str]) -> None:
        """Admit URLs found outside any page (a sitemap) at depth 0, within the scope."""
        requests: list[Request] = []
        for url in urls:
            outcome = self._classify(url, 0, None)
            if isinstance(outcome, Request):
                requests.append(outcome)
            else:
                self._stats.skip(outcome)
        await self._admit(requests)

    async def add_links(self, parent: Request, links: Iterable[str]) -> None:
        """Admit the links found on ``parent``'s page at depth ``parent.depth + 1``."""
        await self._admit(self.candidates(parent, links))

    def candidates(self, parent: Request, links: Iterable[str]) -> list[Request]:
        """Return the links of ``parent``'s page that pass every check but dedup.

        Links refused here (depth, budget, scope, ...) are counted in the stats; the
        state deduplicates the rest (``add_links``, or a shared ``complete``).
        """
        depth = parent.depth + 1
        max_depth = self._config.max_depth
        if max_depth is not None and depth > max_depth:
            self._stats.skip("too_deep", sum(1 for _ in links))
            return []
        if self.budget_spent:
            self._stats.skip("limit_reached", sum(1 for _ in links))
            return []
        if self._settled_scope != self._scope.generation:
            self._settled.clear()  # refusals made with a smaller scope may not hold now
            self._settled_scope = self._scope.generation
        requests: list[Request] = []
        for url in links:
            reason = self._settled.get(url)
            if reason is None:
                outcome = self._classify(url, depth, parent.url)
                self._settle(url, "duplicate" if isinstance(outcome, Request) else outcome)
                if isinstance(outcome, Request):
                    requests.append(outcome)
                    continue
                reason = outcome
            self._stats.skip(reason)
        return requests

    def _settle(self, url: str, reason: SkipReason) -> None:
        if reason == "limit_reached":  # the only outcome that depends on the moment
            return
        if len(self._settled) >= SETTLED_MEMO_SIZE:
            self._settled.clear()
        self._settled[url] = reason

    def in_scope(self, url: str) -> bool:
        """Return whether ``url`` passes the scheme, length and scope checks (not depth, dedup)."""
        return self._refusal(url) is None

    async def check_redirect(self, target: str) -> str | None:
        """Return ``None`` to follow a redirect to ``target``, or why not to."""
        reason = self._refusal(target)
        if reason is None:
            try:
                new = await self._state.claim(canonicalize(defragment(target)))
            except ValueError:
                reason = "invalid_url"
            else:
                reason = None if new else "duplicate"
        if reason is not None:
            self._stats.skip(reason)
        return reason

    def held(self) -> list[Request]:
        """Return the requests leased and not yet completed or released (to renew)."""
        return list(self._held.values())

    def wake(self) -> None:
        """Make a waiting ``next_batch`` look again (another worker's work may be there)."""
        self._wakeup.set()

    async def next_batch(self, limit: int) -> list[Request]:
        """Lease up to ``limit`` requests, waiting for work; ``[]`` once no more will come."""
        while not self.finished.is_set():
            self._wakeup.clear()  # before leasing: a wake-up during the lease is kept
            budget = self._budget(limit)
            ready = self._shared is None or self._shared.ready
            batch = await self._lease(budget) if budget and ready else []
            if batch:
                self._pending -= len(batch)
                self._dispatched += len(batch)
                self._held.update((r.key, r) for r in batch)
                return batch
            if self._shared is not None:
                await self._wait_shared()
                continue
            if not budget:
                return []
            await self._wakeup.wait()
        return []

    async def _wait_shared(self) -> None:
        """Finish if the shared crawl is complete, else wait for an event or the re-check."""
        assert self._shared is not None
        was_ready = self._shared.ready
        verdict = await self._shared.verdict(producers=self._producers)
        if verdict.finished:
            self._shared_budget_spent = verdict.budget_spent
            self.finished.set()
            return
        if self._shared.ready and not was_ready:
            return  # it just learned that the crawl is seeded: lease at once
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(verdict.recheck):
                await self._wakeup.wait()

    async def complete(
        self,
        request: Request,
        *,
        found: Sequence[Request] = (),
        records: Sequence[bytes] = (),
        error: str | None = None,
        slot: str | None = None,
        status: int | None = None,
    ) -> bool:
        """Acknowledge a request whose links were added (and, unshared, record written).

        Args:
            request: The leased request.
            found: Shared crawls: its page's ``candidates``, added in the same step.
            records: Shared crawls: its output lines, stored with the ack in one step.
            error: Shared crawls: its error class, counted in the crawl's status.
            slot: Shared crawls: its politeness slot, freed in the same step.
            status: Shared crawls: its response status (the slot's 429 back-off).

        Returns:
            ``False`` if the lease was lost (another worker has or will have the request).
        """
        if self._shared is not None:
            acked, admitted = await self._shared.complete(
                request, found=found, records=records, error=error, slot=slot, status=status
            )
            self._count_admitted(len(found), admitted)
        else:
            acked = await self._state.ack(request)
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
        self._pending += len(requests)

    async def _lease(self, limit: int) -> list[Request]:
        if self._taken_over:
            batch, self._taken_over = self._taken_over[:limit], self._taken_over[limit:]
            return batch
        return await self._state.lease(limit, lease_seconds=self._config.lease_seconds)

    def _budget(self, limit: int) -> int:
        if self._config.max_pages is None or self._shared is not None:
            return limit
        return max(0, min(limit, self._config.max_pages - self._dispatched))

    def _classify(self, url: str, depth: int, parent: str | None) -> Request | SkipReason:
        """Return the request for ``url``, or why it is not admitted (not yet deduplicated)."""
        reason = self._refusal(url)
        if reason is None and self.budget_spent:
            reason = "limit_reached"
        if reason is not None:
            return reason
        wire = defragment(url)
        try:
            key = canonicalize(wire)
        except ValueError:
            return "invalid_url"
        return Request(url=wire, key=key, depth=depth, parent=parent)

    def _refusal(self, url: str) -> SkipReason | None:
        if scheme_of(url) not in HTTP_SCHEMES:
            return "bad_scheme"
        if len(url) > self._config.max_url_length:
            return "invalid_url"
        try:
            host = _cached_host(url)
        except ValueError:
            return "invalid_url"
        if not host:
            return "invalid_url"
        reason = self._scope.check(url, host)
        repeats = self._config.max_repeated_segments
        if reason is None and repeats is not None and segment_repeats(url) > repeats:
            return "trap"
        return reason

    async def _admit(self, requests: list[Request]) -> None:
        if not requests:
            return
        self._count_admitted(len(requests), await self._state.add(requests))

    def _count_admitted(self, offered: int, admitted: list[Request]) -> None:
        self._stats.skip("duplicate", offered - len(admitted))
        if admitted:
            self._pending += len(admitted)
            self._wakeup.set()

    def check_finished(self) -> None:
        """Set ``finished`` if the stop rule holds (see the module docstring)."""
        if self._shared is not None:
            return  # decided on the shared counts only, in ``next_batch``
        if self._held:
            return
        if self.budget_spent or (self._producers == 0 and self._pending == 0):
            self.finished.set()
            self._wakeup.set()
