"""Crawls shared by many workers through Redis: everything about them, in one package.

=================  ==========================================================
``client``         the connection: client, key names, Lua scripts, clock
``outage``         waiting out a Redis that stopped answering, for a bound
``events``         the subscription to the crawl's wake-up events, kept through outages
``lua``            the Lua scripts (every multi-key update is one atomic script)
``state``          ``RedisState``, the state backend every worker shares
``gate``           ``RedisHostGate``, per-host politeness across all workers
``coordinator``    ``SharedCoordinator``, the ``crawler.coordination`` seam for Redis
``admin``          ``crawl status``, ``export`` and ``purge``
=================  ==========================================================

This is the only package that imports ``redis``, and only when a connection opens:
``crawler.coordination.open_backend`` imports it for a ``redis://`` state alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crawler.shared.coordinator import SharedCoordinator
from crawler.shared.state import RedisState

if TYPE_CHECKING:
    from crawler.config import CrawlConfig
    from crawler.scope import Scope


def open_shared(config: CrawlConfig, scope: Scope) -> tuple[RedisState, SharedCoordinator]:
    """Return the Redis state of ``config`` (not yet open) and this worker's coordinator."""
    assert config.state is not None and config.crawl_id is not None  # CrawlConfig checks both
    state = RedisState(
        config.state,
        config.crawl_id,
        worker_id=config.worker_id,
        max_pages=config.max_pages,
        outage_seconds=config.redis_outage_seconds,
    )
    return state, SharedCoordinator(state, config, scope)


__all__ = ["RedisState", "SharedCoordinator", "open_shared"]
