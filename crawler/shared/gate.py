"""Politeness that holds across all workers: per-origin slots and start times in Redis.

Each worker's own scheduler orders its requests per origin; this gate, asked just before
a fetch, makes the limits hold for all the workers of a crawl together:

- at most ``per_host_concurrency`` requests in flight to one origin: a slot is a member
  of the origin's ``slots`` ZSET with a deadline, renewed while the fetch runs, so a
  dead worker's slot frees itself when its deadline passes;
- at least the origin's delay between two request starts (the configured ``delay``, its
  ``Crawl-delay``, its 429 back-off, all shared) and none before a ``Retry-After`` pause:
  one next-start time per origin, checked and moved in the same Lua script as the slot.

Waiting is exact: for the next start time, a timer; for a free slot, the ``slot ORIGIN``
event a release publishes (``notify``), or the earliest slot deadline, whichever is first.
Only one coroutine per origin and worker asks Redis at a time; the others queue locally,
so a release wakes one asker per worker, not every consumer.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from crawler.coordination import Slot
from crawler.politeness import MIN_BACKOFF
from crawler.urls import origin_of

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from crawler.shared.client import RedisConnection


@dataclass(frozen=True, slots=True)
class SlotRelease:
    """A politeness slot to free in the same step as an ack (see ``RedisHostGate``).

    Attributes:
        member: The slot's member in the origin's ``slots``.
        origin: ``scheme://host[:port]``.
        status: The response status, for the 429 back-off (``None`` without response).
        max_delay: The cap on the back-off, in seconds.
        min_backoff: The first back-off after a 429, in seconds.
    """

    member: str
    origin: str
    status: int | None
    max_delay: float
    min_backoff: float


TAKEN, WAIT_TIME, FULL = 0, 1, 2


class RedisHostGate:
    """Shared per-origin slots; ``async with gate.slot(url) as slot`` around each fetch.

    Args:
        connection: The open connection to the crawl.
        concurrency: The most requests in flight to one origin, all workers together.
        delay: The least seconds between two request starts to one origin.
        max_delay: The cap on ``Crawl-delay`` and on the 429 back-off.
        lease_seconds: How long a slot is held without renewal (a dead worker's frees).
    """

    def __init__(
        self,
        connection: RedisConnection,
        *,
        concurrency: int,
        delay: float,
        max_delay: float,
        lease_seconds: float,
    ) -> None:
        self._redis = connection
        self._concurrency = concurrency
        self._delay = delay
        self._max_delay = max_delay
        self._lease_seconds = lease_seconds
        self._serial = itertools.count()
        self._held: dict[str, str] = {}  # member → origin
        self._askers: dict[str, asyncio.Lock] = {}
        self._freed: dict[str, asyncio.Event] = {}
        self._configured: set[str] = set()

    @property
    def held(self) -> int:
        """Slots this worker holds now."""
        return len(self._held)

    @contextlib.asynccontextmanager
    async def slot(self, url: str) -> AsyncIterator[Slot]:
        """Hold a slot of ``url``'s origin for the block; given back unless handed over."""
        member = await self.acquire(url)
        slot = Slot(member=member)
        try:
            yield slot
        except BaseException:
            # Leaving on an error or a cancellation: give the slot back if Redis lets us, but
            # never let that replace what is propagating (its deadline frees it otherwise).
            if not slot.handed_over:
                with contextlib.suppress(Exception):
                    await self.release(member, slot.status)
            raise
        if not slot.handed_over:
            await self.release(member, slot.status)

    async def acquire(self, url: str) -> str:
        """Wait for a slot of ``url``'s origin and its next start time; return the slot."""
        origin = origin_of(url)
        member = f"{self._redis.worker_id}#{next(self._serial)}"
        async with self._askers.setdefault(origin, asyncio.Lock()):
            freed = self._freed.setdefault(origin, asyncio.Event())
            while True:
                freed.clear()  # before asking: a release after the answer still wakes us
                outcome, seconds = await self._ask(origin, member)
                if outcome == TAKEN:
                    self._held[member] = origin
                    return member
                await self._wait(freed if outcome == FULL else None, seconds)

    async def release(self, member: str, status: int | None) -> None:
        """Give the slot back (once; later calls do nothing); ``status`` adapts the back-off."""
        handed = self._take_back(member, status)
        if handed is None:
            return
        keys, origin = self._redis.keys, handed.origin
        args = [keys.channel, member, origin, "" if status is None else status]
        await self._redis.run_script(
            "slot_release",
            [keys.slots(origin), keys.polite, keys.wanted(origin)],
            [*args, self._max_delay, MIN_BACKOFF],
        )

    def handover(self, slot: Slot) -> SlotRelease | None:
        """Stop holding ``slot`` and return what frees it with an ack (``None``: not held)."""
        slot.handed_over = True
        return self._take_back(slot.member, slot.status)

    def _take_back(self, member: str, status: int | None) -> SlotRelease | None:
        origin = self._held.pop(member, None)
        if origin is None:
            return None
        return SlotRelease(member, origin, status, self._max_delay, MIN_BACKOFF)

    async def pause(self, url: str, seconds: float) -> None:
        """Start no request to ``url``'s origin, in any worker, for ``seconds``."""
        args = [self._redis.clock_arg(), origin_of(url), seconds]
        await self._redis.run_script("slot_pause", [self._redis.keys.polite], args)

    async def configure(self, origin: str, crawl_delay: float | None) -> None:
        """Share the ``Crawl-delay`` of ``origin`` (capped at ``max_delay``), once."""
        if crawl_delay is None or origin in self._configured:
            return
        self._configured.add(origin)
        delay = min(crawl_delay, self._max_delay)
        field = f"{origin}|delay"
        await self._redis.call(lambda c: c.hset(self._redis.keys.polite, field, repr(delay)))

    async def renew(self) -> None:
        """Push the deadlines of the slots this worker holds ``lease_seconds`` ahead."""
        if not self._held:
            return
        members = list(self._held)
        keys = [self._redis.keys.slots(self._held[m]) for m in members]
        args = [self._redis.clock_arg(), self._lease_seconds, *members]
        await self._redis.run_script("slot_renew", keys, args)

    def notify(self, origin: str) -> None:
        """Wake this worker's asker for ``origin``: a slot there was released."""
        freed = self._freed.get(origin)
        if freed is not None:
            freed.set()

    async def _ask(self, origin: str, member: str) -> tuple[int, float]:
        names = self._redis.keys
        keys = [names.slots(origin), names.polite, names.wanted(origin), names.workers]
        args = [self._redis.clock_arg(), member, self._concurrency, self._delay]
        outcome, seconds = await self._redis.run_script(
            "slot_acquire", keys, [*args, self._lease_seconds, origin]
        )
        return int(outcome), float(seconds)

    @staticmethod
    async def _wait(freed: asyncio.Event | None, seconds: float) -> None:
        """Wait ``seconds`` (the next start time), or until ``freed`` if given."""
        if freed is None:
            await asyncio.sleep(seconds)
            return
        try:
            async with asyncio.timeout(seconds):
                await freed.wait()
        except TimeoutError:
            pass
