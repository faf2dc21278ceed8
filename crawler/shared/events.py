"""A worker's subscription to its crawl's events, kept through Redis outages.

Changes that may let a waiting worker go on (work added or released, the last lease acked,
seeding finished, a host slot released) are published on the crawl's channel. When the
subscription breaks (Redis went away), it is made again once Redis answers, and ``"add"``
is yielded: events published meanwhile were lost, so everything must be looked at again.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from crawler.shared.client import as_text
from crawler.shared.outage import transient_errors

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from redis.asyncio.client import PubSub

    from crawler.shared.client import RedisConnection


class EventSubscription:
    """The pub/sub subscription of one worker to its crawl's channel."""

    def __init__(self, connection: RedisConnection) -> None:
        self._connection = connection
        self._pubsub: PubSub | None = None

    async def watch(self) -> None:
        """Subscribe (once); call before the first check of what the events announce."""
        if self._pubsub is None:
            await self._connection.outage.call(self._subscribe)

    async def events(self) -> AsyncIterator[str]:
        """Yield the events (``add``, ``idle``, ``seeded``, ``slot ORIGIN``) forever."""
        while True:
            if self._pubsub is None:
                raise RuntimeError("call watch() first")
            try:
                async for message in self._pubsub.listen():
                    if message.get("type") == "message":
                        yield as_text(message["data"])
            except transient_errors():
                await self.close()
                await self._connection.outage.call(self._subscribe)
                yield "add"

    async def close(self) -> None:
        """Unsubscribe; a broken subscription is let go quietly."""
        stale, self._pubsub = self._pubsub, None
        if stale is not None:
            with contextlib.suppress(Exception):
                await stale.aclose()  # type: ignore[no-untyped-call]

    async def _subscribe(self) -> None:
        pubsub = self._connection.client.pubsub()
        try:
            await pubsub.subscribe(self._connection.keys.channel)
            await pubsub.get_message(timeout=1.0)  # the subscribe confirmation
        except BaseException:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]
            raise
        self._pubsub = pubsub
