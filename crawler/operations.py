"""The operating commands of a shared (Redis) crawl: status, export and purge.

Each opens the crawl's state, does one thing and closes it; the command line
(``crawl status|export|purge``) is a thin shell over these.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crawler.errors import StateError
from crawler.sinks import open_sink
from crawler.state import is_shared, open_state
from crawler.state.redis import RedisState
from crawler.state.redis_admin import crawl_status, export_records, format_status, purge

if TYPE_CHECKING:
    from crawler.config import OutputFormat


def _shared_state(location: str, crawl_id: str) -> RedisState:
    if not is_shared(location):
        raise StateError(f"not a shared state: {location!r} (give redis://HOST:PORT/DB)")
    state = open_state(location, crawl_id=crawl_id, worker_id="operator")
    assert isinstance(state, RedisState)
    return state


async def status_text(location: str, crawl_id: str) -> str:
    """Return the status report of the crawl ``crawl_id`` at ``location``."""
    state = _shared_state(location, crawl_id)
    await state.open()
    try:
        return format_status(crawl_id, await crawl_status(state))
    finally:
        await state.close()


async def export(location: str, crawl_id: str, output: str, output_format: OutputFormat) -> int:
    """Write the crawl's stored records, each exactly once, to ``output``; return how many.

    Raises:
        OutputError: ``output`` cannot be written.
        StateError: No Redis answers, or ``location`` is not a Redis URL.
    """
    state = _shared_state(location, crawl_id)
    await state.open()
    try:
        sink = open_sink(output, output_format)
        try:
            return await export_records(state, sink)
        finally:
            sink.close()
    finally:
        await state.close()


async def purge_crawl(location: str, crawl_id: str) -> int:
    """Delete every key of the crawl; return how many keys there were."""
    state = _shared_state(location, crawl_id)
    await state.open()
    try:
        return await purge(state)
    finally:
        await state.close()
