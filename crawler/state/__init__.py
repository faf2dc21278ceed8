"""Where the frontier keeps its work: pending requests, leases, done marks, the seen set.

Requests are *leased* (claimed until a deadline) and later *acked* (done, its record
stored) or *released* (back to pending), never popped and forgotten, so that a durable
or shared backend can hand a dead worker's requests to another: a lease whose deadline
has passed is expired, and the next ``lease`` call returns it to pending first.

A worker that is slow renews its leases; one that lost a lease (it expired and another
worker took the request) learns it from ``ack`` returning ``False``.

``close`` keeps the leases still held: a durable backend returns them from ``leased()``
on the next run, which takes them over (their records may already be in the output: see
``crawler.recovery``). Every backend takes a ``clock`` (seconds, a callable) so that
lease expiry can be tested without sleeping.

``open_state(location)`` picks the backend: ``None`` is memory, a path is SQLite, a
``redis://`` URL is Redis (``crawler.state.redis``), one crawl shared by many workers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from crawler.config import SHARED_SCHEMES
from crawler.errors import StateError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from crawler.models import Request


@dataclass(frozen=True, slots=True)
class StateCounts:
    """A snapshot of a state backend.

    Attributes:
        pending: Requests waiting to be leased.
        leased: Requests claimed and not yet acked or released (expired ones included).
        done: Requests acked.
        seen: Distinct canonical keys ever admitted (or claimed).
    """

    pending: int
    leased: int
    done: int
    seen: int


class StateBackend(Protocol):
    """The storage behind the frontier: one implementation per backend, one contract."""

    async def open(self) -> None:
        """Prepare the backend for use."""

    async def close(self) -> None:
        """Make what was done durable and release the resources; leases still held are kept."""

    async def bind(self, identity: str, *, force: bool = False) -> bool:
        """Tie the state to one crawl's identity (seeds and scope options).

        With ``force`` the state is re-bound to ``identity`` and its work kept.

        Returns:
            ``True`` when the state already held a crawl (a resume).

        Raises:
            StateMismatchError: The state belongs to another crawl and ``force`` is false.
        """

    async def add(self, requests: Sequence[Request]) -> list[Request]:
        """Admit the requests whose key was never seen; return those admitted, in order."""

    async def claim(self, key: str) -> bool:
        """Mark ``key`` seen without queueing it; return ``True`` if it was new."""

    async def lease(self, limit: int, *, lease_seconds: float) -> list[Request]:
        """Return expired leases to pending, then claim up to ``limit`` pending requests."""

    async def renew(self, requests: Sequence[Request], *, lease_seconds: float) -> None:
        """Push the deadline of leases this worker still holds ``lease_seconds`` ahead."""

    async def ack(self, request: Request) -> bool:
        """Mark a leased request done; ``False`` if the lease was lost or it was done already."""

    async def release(self, requests: Sequence[Request]) -> None:
        """Return leased requests to pending, at the front."""

    async def leased(self) -> list[Request]:
        """Return the requests currently leased (on resume: the ones in flight at a crash)."""

    async def counts(self) -> StateCounts:
        """Return the current counts."""


def is_shared(location: str | None) -> bool:
    """Return whether ``location`` names a shared (Redis) state."""
    return location is not None and location.startswith(SHARED_SCHEMES)


def open_state(
    location: str | None,
    *,
    clock: Callable[[], float] | None = None,
    crawl_id: str | None = None,
    worker_id: str | None = None,
    max_pages: int | None = None,
) -> StateBackend:
    """Return the backend for ``location``.

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
    if location is None:
        from crawler.state.memory import MemoryState

        return MemoryState() if clock is None else MemoryState(clock=clock)
    if is_shared(location):
        if not crawl_id:
            raise StateError("a redis:// state needs a crawl id (--crawl-id)")
        from crawler.state.redis import RedisState

        return RedisState(location, crawl_id, worker_id=worker_id, max_pages=max_pages, clock=clock)
    if "://" in location:
        raise StateError(f"unsupported state location {location!r}: give a file path or redis://")
    from crawler.state.sqlite import SqliteState

    return SqliteState(location) if clock is None else SqliteState(location, clock=clock)


__all__ = ["SHARED_SCHEMES", "StateBackend", "StateCounts", "is_shared", "open_state"]
