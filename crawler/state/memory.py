"""The default state backend: in process memory, nothing to set up, gone at exit."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import replace
from typing import TYPE_CHECKING

from crawler.errors import StateMismatchError
from crawler.state import StateCounts, StateLifecycle
from crawler.urls import fingerprint

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from crawler.models import Request, Snapshot


class MemoryState(StateLifecycle):
    """Pending requests in a deque, the seen set as 64-bit fingerprints (about 60 bytes a URL);
    the done requests given a snapshot too, for ``begin_generation``."""

    durable = False

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._pending: deque[Request] = deque()
        self._leased: dict[str, tuple[Request, float]] = {}
        self._seen: set[int] = set()
        self._claims: dict[int, int] = {}  # a redirect target → the request claiming it
        self._done = 0
        self._kept: dict[str, Request] = {}  # done with a snapshot, for the next generation
        self._finished = False
        self._identity: str | None = None
        self._now = clock

    async def open(self) -> None:
        """Nothing to open."""

    async def close(self) -> None:
        """Nothing to close; leases still held are kept (see ``StateBackend.close``)."""

    async def bind(self, identity: str, *, force: bool = False) -> bool:
        """Tie the state to one crawl; a second, different identity is refused."""
        if self._identity is None or force:
            resumed = self._identity is not None
            self._identity = identity
            return resumed
        if self._identity != identity:
            raise StateMismatchError("the state belongs to another crawl")
        return True

    async def add(self, requests: Sequence[Request]) -> list[Request]:
        """Admit the requests whose key was never seen; return those admitted."""
        admitted = [r for r in requests if self._mark(r.key)]
        self._pending.extend(admitted)
        return admitted

    async def claim(self, key: str, *, owner: str | None = None) -> bool:
        """Mark ``key`` seen; ``True`` if it was new or ``owner`` claimed it before."""
        digest, holder = fingerprint(key), None if owner is None else fingerprint(owner)
        if self._mark(key):
            if holder is not None:
                self._claims[digest] = holder
            return True
        return holder is not None and self._claims.get(digest) == holder

    async def lease(self, limit: int, *, lease_seconds: float) -> list[Request]:
        """Return expired leases to pending, then claim up to ``limit`` pending requests."""
        now = self._now()
        expired = [r for r, deadline in self._leased.values() if deadline <= now]
        await self.release(expired)
        batch = [self._pending.popleft() for _ in range(min(limit, len(self._pending)))]
        deadline = now + lease_seconds
        self._leased.update((r.key, (r, deadline)) for r in batch)
        return batch

    async def renew(self, requests: Sequence[Request], *, lease_seconds: float) -> None:
        """Push the deadlines of held leases ``lease_seconds`` ahead."""
        deadline = self._now() + lease_seconds
        for request in requests:
            if request.key in self._leased:
                self._leased[request.key] = (request, deadline)

    async def ack(self, request: Request, *, snapshot: Snapshot | None = None) -> bool:
        """Mark a leased request done, keeping ``snapshot``; ``False`` if it was not leased."""
        if self._leased.pop(request.key, None) is None:
            return False
        self._done += 1
        if snapshot is not None:
            self._kept[request.key] = replace(request, attempt=0, previous=snapshot)
        return True

    async def begin_generation(self) -> bool:
        """Queue every done request again if the last generation completed."""
        if not self._finished:
            return False
        self._pending.extend(self._kept.values())
        self._kept.clear()
        self._done, self._finished = 0, False
        return True

    async def finish_generation(self) -> None:
        """Mark the current generation complete."""
        self._finished = True

    async def release(self, requests: Sequence[Request]) -> None:
        """Return leased requests to the front of pending."""
        for request in reversed(requests):
            if self._leased.pop(request.key, None) is not None:
                self._pending.appendleft(request)

    async def leased(self) -> list[Request]:
        """Return the requests currently leased."""
        return [request for request, _ in self._leased.values()]

    async def counts(self) -> StateCounts:
        """Return the current counts."""
        return StateCounts(len(self._pending), len(self._leased), self._done, len(self._seen))

    def _mark(self, key: str) -> bool:
        digest = fingerprint(key)
        if digest in self._seen:
            return False
        self._seen.add(digest)
        return True
