"""Per-origin scheduling: a queue per host, so a slow or paused host never blocks the others.

The scheduler sits between the frontier and the consumers' queue. Leased requests wait in
a deque per origin (scheme, host, port); ``next()`` hands out the request of the origin
whose next slot is free soonest, and only from origins with a free slot:

- at most ``per_host_concurrency`` requests in flight to one origin;
- at least the origin's delay between two request starts there: the largest of
  ``delay``, its robots.txt ``Crawl-delay`` (capped) and its adaptive back-off;
- none before a pause (``Retry-After`` of a 429 or 503) is over.

An origin that is not *configured* yet (its robots.txt is unknown) gets one request at
a time: the one whose consumer fetches robots.txt, so that ``Crawl-delay`` holds from
the first page on.

Time is the event loop's clock; waiting for the next slot is a ``loop.call_at`` wake-up,
never a poll. Memory: at most ``capacity`` requests wait here (``wait_for_room`` holds the
feeder back), plus the few handed back after a pause.

``HostSlots`` holds the per-origin bookkeeping (in-flight counts, next start times) behind
a small interface, so that it can move to a shared store and hold across processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import math
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from crawler.urls import origin_of

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from crawler.models import Request, SkipReason

__all__ = ["Dispatch", "HostScheduler", "HostSlots", "Turn"]

log = logging.getLogger(__name__)

MIN_BACKOFF: Final = 0.25
"""Seconds: the first adaptive delay after a 429 on a host without one; it doubles from
there with each further 429 and halves with each success, back to nothing below this."""

THROTTLE_STATUS: Final = 429


def adapt_backoff(backoff: float, delay: float, status: int | None, max_delay: float) -> float:
    """Return an origin's back-off after a response: the one rule, local and shared.

    A 429 doubles the larger of the origin's delay and back-off (at least
    ``MIN_BACKOFF``, at most ``max_delay``); a success (below 400) halves the back-off,
    down to nothing once it would drop under ``MIN_BACKOFF``; anything else keeps it.
    The shared gate's Lua script (``crawler.shared.lua``, ``slot_release``) applies the
    same rule inside Redis, and a test holds the two to the same answers.
    """
    if status == THROTTLE_STATUS:
        return min(max_delay, max(2 * max(delay, backoff), MIN_BACKOFF))
    if status is not None and status < 400 and backoff:
        return backoff / 2 if backoff / 2 >= MIN_BACKOFF else 0.0
    return backoff


@dataclass(slots=True)
class _Slot:
    """The politeness state of one origin (times are event-loop seconds)."""

    limit: int
    delay: float
    configured: bool
    in_flight: int = 0
    next_start: float = -math.inf
    paused_until: float = -math.inf
    backoff: float = 0.0
    undo: float = -math.inf
    last_start: float = -math.inf


class HostSlots:
    """Per-origin in-flight counts and the earliest time of the next request start.

    Args:
        concurrency: The most requests in flight to one origin once configured.
        delay: The least seconds between two request starts to one origin.
        max_delay: The cap on a ``Crawl-delay`` and on the adaptive back-off.
        probe: Start each origin unconfigured (one request at a time) until
            ``configure`` is called; ``False`` when robots.txt is ignored.
    """

    def __init__(self, *, concurrency: int, delay: float, max_delay: float, probe: bool) -> None:
        self._concurrency = concurrency
        self._delay = delay
        self._max_delay = max_delay
        self._probe = probe
        self._slots: dict[str, _Slot] = {}

    def _slot(self, origin: str) -> _Slot:
        slot = self._slots.get(origin)
        if slot is None:
            limit = 1 if self._probe else self._concurrency
            slot = self._slots[origin] = _Slot(limit, self._delay, not self._probe)
        return slot

    def configure(self, origin: str, crawl_delay: float | None) -> None:
        """Lift the origin's probe limit and apply its ``Crawl-delay``; once per origin."""
        slot = self._slot(origin)
        if slot.configured:
            return
        slot.configured, slot.limit = True, self._concurrency
        if crawl_delay is not None and crawl_delay > self._max_delay:
            log.info("Crawl-delay %gs of %s capped at %gs", crawl_delay, origin, self._max_delay)
            crawl_delay = self._max_delay
        slot.delay = max(self._delay, crawl_delay or 0.0)
        # The probe request started before the delay was known: space the next one from it.
        slot.next_start = max(slot.next_start, slot.last_start + slot.delay)

    def delay(self, origin: str) -> float:
        """Return the seconds currently kept between request starts to ``origin``."""
        slot = self._slot(origin)
        return max(slot.delay, slot.backoff)

    def ready_at(self, origin: str) -> float | None:
        """Return when the origin's next request may start, ``None`` while it is full."""
        slot = self._slot(origin)
        if slot.in_flight >= slot.limit:
            return None
        return max(slot.next_start, slot.paused_until)

    def start(self, origin: str, now: float) -> None:
        """Take a slot of ``origin`` for a request starting at ``now``."""
        slot = self._slot(origin)
        slot.undo = slot.next_start
        slot.in_flight += 1
        slot.last_start = now
        slot.next_start = now + max(slot.delay, slot.backoff)

    def finish(self, origin: str, *, fetched: bool, status: int | None) -> None:
        """Give the slot back; a 429 doubles the back-off, a success halves it.

        ``fetched=False`` (nothing was requested, e.g. robots.txt disallowed the URL)
        undoes the delay its start imposed; exact for an unconfigured origin, which has
        one request in flight at most.
        """
        slot = self._slot(origin)
        slot.in_flight -= 1
        if not fetched:
            slot.next_start = min(slot.next_start, slot.undo)
        else:
            slot.backoff = adapt_backoff(slot.backoff, slot.delay, status, self._max_delay)
            if status == THROTTLE_STATUS:
                log.info("%s answers 429: %gs between requests", origin, self.delay(origin))

    def pause(self, origin: str, until: float) -> None:
        """Start no request to ``origin`` before ``until`` (loop time)."""
        slot = self._slot(origin)
        slot.paused_until = max(slot.paused_until, until)


@dataclass(frozen=True, slots=True)
class Dispatch:
    """What ``HostScheduler.next`` hands out.

    Attributes:
        request: The request whose turn it is.
        skip: ``None`` when it holds a slot and should be fetched; otherwise the reason
            the ``admit`` check refused it (it holds no slot).
    """

    request: Request
    skip: SkipReason | None = None


@dataclass(slots=True)
class Turn:
    """A slot taken outside the queues (robots.txt, a sitemap): what its fetch did.

    Attributes:
        fetched: Whether a request was made (``False`` undoes the delay its start imposed).
        status: The response's status, for the adaptive back-off.
    """

    fetched: bool = True
    status: int | None = None


class HostScheduler:
    """Per-origin queues of leased requests; hands out the one whose host is free soonest.

    Args:
        slots: The per-origin bookkeeping.
        capacity: The most requests waiting here (see ``wait_for_room``).
        admit: Asked once per request just before it would take a slot: ``None`` to
            let it go, or the reason to skip it (robots.txt, a per-host page limit).
    """

    def __init__(
        self, slots: HostSlots, capacity: int, admit: Callable[[Request], SkipReason | None]
    ) -> None:
        self._slots = slots
        self._capacity = capacity
        self._admit = admit
        self._queues: dict[str, deque[Request]] = {}
        self._heap: list[tuple[float, int, str]] = []
        self._entry: dict[str, tuple[float, int]] = {}  # origin -> its live heap entry
        self._sequence = itertools.count()
        self._waiting = 0
        self._changed = asyncio.Event()
        self._room = asyncio.Event()

    @property
    def waiting(self) -> int:
        """Requests waiting for a slot."""
        return self._waiting

    async def wait_for_room(self, minimum: int = 1) -> int:
        """Wait until ``minimum`` more requests fit (at most ``capacity``); return how many do."""
        minimum = min(minimum, self._capacity)
        while self._capacity - self._waiting < minimum:
            self._room.clear()
            await self._room.wait()
        return self._capacity - self._waiting

    def add(self, requests: list[Request]) -> None:
        """Queue leased requests behind the others of their origin."""
        for request in requests:
            origin = origin_of(request.url)
            self._queues.setdefault(origin, deque()).append(request)
            self._reschedule(origin)
        self._waiting += len(requests)
        self._changed.set()

    def requeue(self, request: Request, pause: float) -> None:
        """Put ``request`` first in its origin's queue and pause the origin ``pause`` seconds."""
        origin = origin_of(request.url)
        self._slots.pause(origin, asyncio.get_running_loop().time() + pause)
        self._queues.setdefault(origin, deque()).appendleft(request)
        self._waiting += 1
        self._reschedule(origin)
        self._changed.set()

    def configure(self, origin: str, crawl_delay: float | None) -> None:
        """Configure ``origin`` once its robots.txt is known (see ``HostSlots.configure``)."""
        self._slots.configure(origin, crawl_delay)
        self._reschedule(origin)
        self._changed.set()

    def release(self, origin: str, *, fetched: bool, status: int | None) -> None:
        """Give back the slot a dispatched request held (see ``HostSlots.finish``)."""
        self._slots.finish(origin, fetched=fetched, status=status)
        self._reschedule(origin)
        self._changed.set()

    async def next(self) -> Dispatch:
        """Wait for the origin whose slot frees soonest and hand out its next request."""
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            origin = self._pop_due(now)
            if origin is not None:
                return self._take(origin, now)
            await self._wait_until(self._heap[0][0] if self._heap else None)

    @contextlib.asynccontextmanager
    async def turn(self, origin: str) -> AsyncIterator[Turn]:
        """Wait for a slot of ``origin`` as a queued request would, hold it, give it back.

        For the fetches that are not pages of the frontier (robots.txt and sitemaps a
        producer asks for), so that the origin's limit and delay hold for them too.
        """
        loop = asyncio.get_running_loop()
        while (ready := self._slots.ready_at(origin)) is None or ready > loop.time():
            await self._wait_until(ready)
        self._slots.start(origin, loop.time())
        self._reschedule(origin)
        turn = Turn()
        try:
            yield turn
        finally:
            self.release(origin, fetched=turn.fetched, status=turn.status)

    def waiting_requests(self) -> list[Request]:
        """Return the requests waiting here (their leases must be kept alive)."""
        return [request for queue in self._queues.values() for request in queue]

    def drain(self) -> list[Request]:
        """Remove and return every waiting request (the crawl stops)."""
        drained = self.waiting_requests()
        self._queues.clear()
        self._heap.clear()
        self._entry.clear()
        self._waiting = 0
        return drained

    def _take(self, origin: str, now: float) -> Dispatch:
        queue = self._queues[origin]
        request = queue.popleft()
        if not queue:
            del self._queues[origin]
        self._waiting -= 1
        self._room.set()
        skip = self._admit(request)
        if skip is None:
            self._slots.start(origin, now)
        self._reschedule(origin)
        return Dispatch(request, skip)

    def _reschedule(self, origin: str) -> None:
        """Keep one live heap entry for ``origin`` at its ready time, or none."""
        ready = self._slots.ready_at(origin) if origin in self._queues else None
        if ready is None:
            self._entry.pop(origin, None)
            return
        live = self._entry.get(origin)
        if live is not None and live[0] == ready:
            return
        sequence = next(self._sequence)
        self._entry[origin] = (ready, sequence)
        heapq.heappush(self._heap, (ready, sequence, origin))

    def _pop_due(self, now: float) -> str | None:
        """Pop the origin of the earliest live entry if it is due; drop stale entries."""
        heap = self._heap
        while heap:
            ready, sequence, origin = heap[0]
            if self._entry.get(origin) != (ready, sequence):
                heapq.heappop(heap)
            elif ready > now:
                return None
            else:
                heapq.heappop(heap)
                del self._entry[origin]
                return origin
        return None

    async def _wait_until(self, when: float | None) -> None:
        """Sleep until something changes, or until ``when`` (loop time) if given."""
        self._changed.clear()
        loop = asyncio.get_running_loop()
        timer = loop.call_at(when, self._changed.set) if when is not None else None
        try:
            await self._changed.wait()
        finally:
            if timer is not None:
                timer.cancel()
