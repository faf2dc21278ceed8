"""Where the frontier keeps its work: pending requests, leases, done marks, the seen set.

Requests are *leased* (claimed) and later *acked* (done, its record stored) or
*released* (back to pending), never popped and forgotten, so that a durable or shared
backend can hand a dead worker's requests to another.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Sequence

    from crawler.models import Request


@dataclass(frozen=True, slots=True)
class StateCounts:
    """A snapshot of a state backend.

    Attributes:
        pending: Requests waiting to be leased.
        leased: Requests claimed and not yet acked or released.
        done: Requests acked.
        seen: Distinct canonical keys ever admitted (or claimed).
    """

    pending: int
    leased: int
    done: int
    seen: int


class StateBackend(Protocol):
    """The storage behind the frontier."""

    async def open(self) -> None:
        """Prepare the backend for use."""

    async def close(self) -> None:
        """Release the backend's resources; leases still held go back to pending."""

    async def add(self, requests: Sequence[Request]) -> list[Request]:
        """Admit the requests whose key was never seen; return those admitted, in order."""

    async def claim(self, key: str) -> bool:
        """Mark ``key`` seen without queueing it; return ``True`` if it was new."""

    async def lease(self, limit: int) -> list[Request]:
        """Claim up to ``limit`` pending requests, oldest first."""

    async def ack(self, request: Request) -> None:
        """Mark a leased request done."""

    async def release(self, requests: Sequence[Request]) -> None:
        """Return leased requests to pending, at the front."""

    async def counts(self) -> StateCounts:
        """Return the current counts."""


__all__ = ["StateBackend", "StateCounts"]
