"""Where the frontier keeps its work: pending requests, leases, done marks, the seen set.

Requests are *leased* (claimed until a deadline) and later *acked* (done, its record
stored) or *released* (back to pending), never popped and forgotten, so that a durable
or shared backend can hand a dead worker's requests to another: a lease whose deadline
has passed is expired, and the next ``lease`` call returns it to pending first.

A worker that is slow renews its leases; one that lost a lease (it expired and another
worker took the request) learns it from ``ack`` returning ``False``.

``close`` keeps the leases still held: a durable backend returns them from ``leased()``
on the next run, which takes them over (their records may already be in the output: see
``crawler.records_io``). Every backend takes a ``clock`` (seconds, a callable) so that
lease expiry can be tested without sleeping.

A *generation* is one pass over the crawl: ``begin_generation`` (``--recrawl``) queues
every done request again, with what its ack kept (``Snapshot``), so that the next pass
asks the server what changed.

Every backend is an async context manager (``async with backend:`` opens and closes it).
``open_local_state(location)`` picks a local backend: ``None`` is memory, a path is
SQLite. The shared backend (Redis, one crawl for many workers) is ``crawler.shared``'s;
``crawler.coordination.open_state`` picks among all three.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, Self

from crawler.errors import StateError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from types import TracebackType

    from crawler.models import Request, Snapshot


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

    durable: bool
    """Whether the work outlives the process: a next run finds what is still pending."""

    async def __aenter__(self) -> Self:
        """Open the backend and return it."""

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the backend."""

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

    async def claim(self, key: str, *, owner: str | None = None) -> bool:
        """Mark ``key`` seen without queueing it (a redirect's target).

        Args:
            key: The canonical key to claim.
            owner: The key of the request whose redirect leads there: a target claimed
                by a request stays its own, so that the request fetched again (a resume,
                a retry after a 429/503, a dead worker's lease taken over) follows its
                redirect again instead of finding the target a duplicate.

        Returns:
            ``True`` if ``key`` was new, or was claimed before by the same ``owner``.
        """

    async def lease(self, limit: int, *, lease_seconds: float) -> list[Request]:
        """Return expired leases to pending, then claim up to ``limit`` pending requests."""

    async def renew(self, requests: Sequence[Request], *, lease_seconds: float) -> None:
        """Push the deadline of leases this worker still holds ``lease_seconds`` ahead."""

    async def ack(self, request: Request, *, snapshot: Snapshot | None = None) -> bool:
        """Mark a leased request done; ``False`` if the lease was lost or it was done already.

        Args:
            request: The leased request.
            snapshot: What to keep of it for the next generation (a durable state keeps
                it; see ``begin_generation``).
        """

    async def begin_generation(self) -> bool:
        """Start the next generation if the current one completed: every done request is
        pending again, carrying its snapshot as ``Request.previous``.

        Returns:
            ``True`` if a new generation started, ``False`` if the current one goes on.
        """

    async def finish_generation(self) -> None:
        """Mark the current generation complete (the crawl ended with nothing left)."""

    async def release(self, requests: Sequence[Request]) -> None:
        """Return leased requests to pending, at the front."""

    async def leased(self) -> list[Request]:
        """Return the requests currently leased (on resume: the ones in flight at a crash)."""

    async def counts(self) -> StateCounts:
        """Return the current counts."""


class StateLifecycle(abc.ABC):
    """``async with backend:`` for a backend's ``open()`` and ``close()``."""

    @abc.abstractmethod
    async def open(self) -> None:
        """Prepare the backend for use."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release the backend's resources; leases still held are kept."""

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def open_local_state(
    location: str | None, *, clock: Callable[[], float] | None = None
) -> StateBackend:
    """Return the local backend for ``location``: ``None`` for memory, a path for SQLite.

    Args:
        location: ``None`` or a file path.
        clock: Seconds, for tests.

    Raises:
        StateError: ``location`` is a URL (a shared state is ``crawler.shared``'s).
    """
    if location is None:
        from crawler.state.memory import MemoryState

        return MemoryState() if clock is None else MemoryState(clock=clock)
    if "://" in location:
        raise StateError(f"unsupported state location {location!r}: give a file path or redis://")
    from crawler.state.sqlite import SqliteState

    return SqliteState(location) if clock is None else SqliteState(location, clock=clock)


__all__ = ["StateBackend", "StateCounts", "StateLifecycle", "open_local_state"]
