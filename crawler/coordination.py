"""What one crawl process needs from the others: the coordination seam.

(Being written.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crawler.config import is_shared
from crawler.errors import StateError
from crawler.state import open_local_state

if TYPE_CHECKING:
    from collections.abc import Callable

    from crawler.state import StateBackend


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
    if not is_shared(location):
        return open_local_state(location, clock=clock)
    if not crawl_id:
        raise StateError("a redis:// state needs a crawl id (--crawl-id)")
    from crawler.shared.state import RedisState

    assert location is not None
    return RedisState(location, crawl_id, worker_id=worker_id, max_pages=max_pages, clock=clock)
