"""What one crawl process needs from the others: the coordination seam.

A crawl runs in one process, or in many workers that share one frontier in Redis. The
engine, the frontier and the worker never ask which: they call a ``Coordinator``.
``LocalCoordinator`` is the null object of a single-process crawl (it answers from this
process alone and its host gate holds nothing); ``crawler.shared`` has the Redis one,
opened lazily by ``open_backend`` only for a ``redis://``, ``rediss://`` or ``unix://``
state, so a crawl without the ``redis`` extra never imports it.

What the seam decides:

- **the stop verdict**, from this process's ``WorkCounts``: locally, the crawl is
  finished when no producer runs and nothing is outstanding, or when ``max_pages``
  requests were handed out and none is active; a shared crawl decides on the exact
  counts of all workers (``verdict_now`` cannot tell, ``verdict`` asks Redis);
- **the commit** of a finished request, *write then ack*: locally the record is written,
  the page's links added and the request acked, in that order (a crash between leaves
  it leased, and the resume reconciles the output); shared, the links, the ack, the
  records and the freed host slot are one atomic step and the record is written only if
  the ack won, so every record is in exactly one worker's output;
- **parking**: whether the pages of an origin given up for this run (it asked again and
  again to come back later) stay pending for the next run, or are recorded and done;
- lease batches, the scheduler's capacity, the crawl's identity, which taken-over
  requests may already be in the output, seeding marks, shared seed hosts, wake-ups from
  other workers, keep-alive, and the per-host gate every fetch passes.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Protocol

from crawler.config import is_shared
from crawler.errors import ConfigError, StateError
from crawler.state import open_local_state
from crawler.state.identity import crawl_identity

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Sequence

    from crawler.config import CrawlConfig
    from crawler.models import Record, Request, Snapshot
    from crawler.scope import Scope
    from crawler.state import StateBackend

LOCAL_LEASE_BATCH: Final = 1
"""Requests leased at a time by a single process: a local lease costs no round trip, and
leasing one at a time keeps the others pending, where a resume or a stop finds them."""


@dataclass(frozen=True, slots=True)
class WorkCounts:
    """This process's view of the crawl's work.

    Attributes:
        producers: Seed producers still running here.
        pending: Requests admitted and not yet leased (as this process counts them).
        active: Requests leased here and not yet completed or released.
        dispatched: Requests leased here, plus those done in earlier runs.
    """

    producers: int
    pending: int
    active: int
    dispatched: int


@dataclass(frozen=True, slots=True)
class StopVerdict:
    """The answer of a completion check.

    Attributes:
        finished: No more work will come, for any process.
        budget_spent: ``max_pages`` requests are done or handed out.
        recheck: Seconds after which to check again though no event came; ``None``
            to wait for an event only.
    """

    finished: bool
    budget_spent: bool
    recheck: float | None = None


@dataclass(slots=True)
class Slot:
    """A held turn of one origin's per-host gate, given back when its ``with`` block ends.

    Attributes:
        member: The gate's name for the turn (empty for the local gate).
        status: The response status, set by the fetch (adapts a shared back-off).
        handed_over: Freed with the request's commit instead of on leaving the block.
    """

    member: str = ""
    status: int | None = None
    handed_over: bool = False


@dataclass(frozen=True, slots=True)
class Completion:
    """A request done with, on its way to the state: everything its commit needs.

    Attributes:
        request: The leased request.
        records: Its output records (none for a skipped request not logged).
        found: Its page's links that passed admission (the state deduplicates them).
        error: Its error class, ``None`` when it succeeded.
        slot: The gate turn it holds, freed in the same step; ``None`` if not fetched.
        snapshot: What a durable state keeps of it for the next generation.
    """

    request: Request
    records: Sequence[Record] = ()
    found: Sequence[Request] = ()
    error: str | None = None
    slot: Slot | None = None
    snapshot: Snapshot | None = None


class HostGate(Protocol):
    """Per-origin turns that hold across every process of the crawl."""

    def slot(self, url: str) -> contextlib.AbstractAsyncContextManager[Slot]:
        """Wait for a turn of ``url``'s origin; give it back on leaving the block."""

    async def pause(self, url: str, seconds: float) -> None:
        """Start no request to ``url``'s origin, in any process, for ``seconds``."""

    async def configure(self, origin: str, crawl_delay: float | None) -> None:
        """Share an origin's ``Crawl-delay`` once this process learned it."""


class Coordinator(Protocol):
    """What one crawl process needs from the others (see the module docstring)."""

    @property
    def gate(self) -> HostGate:
        """The per-host gate every fetch of this process passes."""

    @property
    def lease_batch(self) -> int:
        """Requests to lease at a time."""

    @property
    def ready(self) -> bool:
        """Whether this process may lease (a shared worker waits until the crawl is seeded)."""

    def schedule_capacity(self, configured: int) -> int:
        """Return how many leased requests may wait in this process's scheduler."""

    def identity(self, seeds: Sequence[str], seed_files: Sequence[str]) -> str:
        """Return the crawl's identity, which binds a state to one crawl."""

    def unconfirmed(self, taken_over: list[Request]) -> list[Request]:
        """Return the taken-over requests whose records may already be in the output."""

    @property
    def owns_output(self) -> bool:
        """Whether this process's output holds every record of the crawl (a resume checks it)."""

    @property
    def parks(self) -> bool:
        """Whether the pages of a given-up origin wait in the state for the next run.

        Else they are recorded ``host_unavailable``, unrequested, and done with.
        """

    def check_seed_only(self) -> None:
        """Raise ``ConfigError`` unless seeding without crawling makes sense here."""

    async def join(self) -> None:
        """Join the crawl before leasing (announce this process, listen for events)."""

    async def seeding_started(self) -> None:
        """Note that this process starts seeding (the crawl is not complete before)."""

    async def seeding_done(self) -> None:
        """Note that this process has finished seeding."""

    async def share_seeds(self, urls: Sequence[str]) -> None:
        """Put the hosts of seed URLs in every process's scope."""

    async def listen(self, wake: Callable[[], None]) -> None:
        """Call ``wake`` whenever another process may have made work, until cancelled."""

    async def keep_alive(self) -> None:
        """Tell the others, until cancelled, that this process still works (its leases are
        renewed apart); return at once when there are no others."""

    def remaining(self, dispatched: int) -> int | None:
        """Return how many more requests this process may lease (``None``: no bound here)."""

    def verdict_now(self, counts: WorkCounts) -> StopVerdict | None:
        """Return the stop verdict from this process's counts, ``None`` if they cannot tell."""

    async def verdict(self, counts: WorkCounts) -> StopVerdict:
        """Return the stop verdict, asking the others if need be."""

    async def commit(
        self, completion: Completion, keep: Callable[[], None]
    ) -> tuple[bool, list[Request]]:
        """Commit ``completion``: its links, its ack, and ``keep()`` when its records are ours.

        ``keep()`` writes the records and counts the page. Locally it runs first, then the
        links are added, then the ack (so a record is always written before its ack);
        shared, the links, the ack, the records and the slot are one atomic step, and
        ``keep()`` runs only if that ack won (so a record is in one worker's output only).

        Returns:
            Whether it was acked (``False``: another process has it), and the links
            of ``completion.found`` that were new.
        """


class LocalGate:
    """The host gate of a single process: its scheduler already spaces and bounds requests."""

    @contextlib.asynccontextmanager
    async def slot(self, url: str) -> AsyncIterator[Slot]:
        """Yield a turn at once."""
        yield Slot()

    async def pause(self, url: str, seconds: float) -> None:
        """Nothing to share: the scheduler pauses the origin."""

    async def configure(self, origin: str, crawl_delay: float | None) -> None:
        """Nothing to share: the scheduler knows the delay."""


class LocalCoordinator:
    """The coordinator of a crawl that runs in this process alone.

    Args:
        state: The crawl's state backend (memory or SQLite).
        config: The crawl's configuration.
    """

    lease_batch = LOCAL_LEASE_BATCH

    def __init__(self, state: StateBackend, config: CrawlConfig) -> None:
        self.gate: HostGate = LocalGate()
        self._state = state
        self._config = config

    @property
    def ready(self) -> bool:
        """Always: there is nobody to wait for."""
        return True

    def schedule_capacity(self, configured: int) -> int:
        """Return ``configured``: no other process could take the waiting work."""
        return configured

    def identity(self, seeds: Sequence[str], seed_files: Sequence[str]) -> str:
        """Return the hash of the seeds, the seeds files and the scope options."""
        return crawl_identity(seeds, seed_files, self._config)

    def unconfirmed(self, taken_over: list[Request]) -> list[Request]:
        """Return ``taken_over``: each may have been written before the crash."""
        return taken_over

    @property
    def owns_output(self) -> bool:
        """Always: no other process writes this crawl's records."""
        return True

    @property
    def parks(self) -> bool:
        """When the state is durable: the next run of the same command takes them up."""
        return self._state.durable

    def check_seed_only(self) -> None:
        """Refuse: a crawl of one process seeds as it crawls."""
        raise ConfigError("seeding alone needs a redis:// state")

    async def join(self) -> None:
        """Nothing to join."""

    async def seeding_started(self) -> None:
        """Nobody to tell."""

    async def seeding_done(self) -> None:
        """Nobody to tell."""

    async def share_seeds(self, urls: Sequence[str]) -> None:
        """Nobody to share with: the frontier puts seed hosts in scope."""

    async def listen(self, wake: Callable[[], None]) -> None:
        """Return at once: no other process makes work."""

    async def keep_alive(self) -> None:
        """Return at once: nobody to tell."""

    def remaining(self, dispatched: int) -> int | None:
        """Return what is left of ``max_pages`` after ``dispatched``, ``None`` without it."""
        limit = self._config.max_pages
        return None if limit is None else max(0, limit - dispatched)

    def verdict_now(self, counts: WorkCounts) -> StopVerdict:
        """Finished when nothing is active and the budget is spent or no work is left."""
        spent = self.remaining(counts.dispatched) == 0
        idle = counts.producers == 0 and counts.pending == 0
        return StopVerdict(finished=counts.active == 0 and (spent or idle), budget_spent=spent)

    async def verdict(self, counts: WorkCounts) -> StopVerdict:
        """Return ``verdict_now``: this process's counts are the crawl's."""
        return self.verdict_now(counts)

    async def commit(
        self, completion: Completion, keep: Callable[[], None]
    ) -> tuple[bool, list[Request]]:
        """Write the records, add the links, then ack: the order crash safety rests on."""
        keep()
        admitted = await self._state.add(completion.found) if completion.found else []
        acked = await self._state.ack(completion.request, snapshot=completion.snapshot)
        return acked, admitted


def open_state(
    location: str | None,
    *,
    clock: Callable[[], float] | None = None,
    crawl_id: str | None = None,
    worker_id: str | None = None,
    max_pages: int | None = None,
) -> StateBackend:
    """Return the backend for ``location``, local or shared.

    Args:
        location: ``None`` for memory, a file path for SQLite, a ``redis://`` (or
            ``rediss://``, ``unix://``) URL for Redis, shared by many workers.
        clock: Seconds, for tests (Redis otherwise uses the server's clock).
        crawl_id: The crawl's name in Redis (needed for Redis).
        worker_id: This worker's id in Redis (default: host, pid and a random part).
        max_pages: The page budget the Redis lease script enforces across workers.

    Raises:
        StateError: A Redis location without ``crawl_id``, or another URL scheme.
    """
    if location is None or not is_shared(location):
        return open_local_state(location, clock=clock)
    if not crawl_id:
        raise StateError("a redis:// state needs a crawl id (--crawl-id)")
    from crawler.shared.state import RedisState

    return RedisState(location, crawl_id, worker_id=worker_id, max_pages=max_pages, clock=clock)


def open_backend(config: CrawlConfig, scope: Scope) -> tuple[StateBackend, Coordinator]:
    """Return the state backend of ``config.state`` and the coordinator that goes with it.

    Raises:
        StateError: The location is unsupported, or Redis needs the missing extra.
    """
    if not is_shared(config.state):
        state = open_local_state(config.state)
        return state, LocalCoordinator(state, config)
    from crawler.shared import open_shared

    return open_shared(config, scope)
