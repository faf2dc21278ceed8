"""The default state backend: in process memory, nothing to set up, gone at exit."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from crawler.state import StateCounts
from crawler.urls import fingerprint

if TYPE_CHECKING:
    from collections.abc import Sequence

    from crawler.models import Request


class MemoryState:
    """Pending requests in a deque, the seen set as 64-bit fingerprints (about 60 bytes a URL)."""

    def __init__(self) -> None:
        self._pending: deque[Request] = deque()
        self._leased: dict[str, Request] = {}
        self._seen: set[int] = set()
        self._done = 0

    async def open(self) -> None:
        """Nothing to open."""

    async def close(self) -> None:
        """Return outstanding leases to pending."""
        await self.release(list(self._leased.values()))

    async def add(self, requests: Sequence[Request]) -> list[Request]:
        """Admit the requests whose key was never seen; return those admitted."""
        admitted = [r for r in requests if self._mark(r.key)]
        self._pending.extend(admitted)
        return admitted

    async def claim(self, key: str) -> bool:
        """Mark ``key`` seen; return ``True`` if it was new."""
        return self._mark(key)

    async def lease(self, limit: int) -> list[Request]:
        """Claim up to ``limit`` pending requests, oldest first."""
        batch = [self._pending.popleft() for _ in range(min(limit, len(self._pending)))]
        self._leased.update((r.key, r) for r in batch)
        return batch

    async def ack(self, request: Request) -> None:
        """Mark a leased request done."""
        if self._leased.pop(request.key, None) is not None:
            self._done += 1

    async def release(self, requests: Sequence[Request]) -> None:
        """Return leased requests to the front of pending."""
        for request in reversed(requests):
            if self._leased.pop(request.key, None) is not None:
                self._pending.appendleft(request)

    async def counts(self) -> StateCounts:
        """Return the current counts."""
        return StateCounts(len(self._pending), len(self._leased), self._done, len(self._seen))

    def _mark(self, key: str) -> bool:
        digest = fingerprint(key)
        if digest in self._seen:
            return False
        self._seen.add(digest)
        return True
