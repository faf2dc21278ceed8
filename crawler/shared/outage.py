"""Redis outages are an operational condition, not a bug: a worker waits them out, for a bound.

Every call a crawl makes to Redis goes through ``Outage.call``: when the server does not
answer (refused, reset, timed out), the call is tried again with a growing pause (0.1 s up
to 2 s) until it answers or ``bound`` seconds have passed since the first failure; then it
raises ``StateUnavailableError``, one line, and the worker stops with exit status 1. The
first failure of an outage is logged (``waiting for Redis at ...``), and so is the end.

A call retried after the server went away may have run before the connection dropped;
the scripts tolerate that (adds and claims are idempotent, a repeated ack is refused).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Final, TypeVar

from crawler.errors import StateUnavailableError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

T = TypeVar("T")

log = logging.getLogger(__name__)

DEFAULT_OUTAGE_SECONDS: Final = 30.0
"""How long a worker waits for Redis to answer again before it gives up: a restart or a
fail-over takes seconds; longer is an outage a person must look at."""

FIRST_PAUSE: Final = 0.1
LONGEST_PAUSE: Final = 2.0
"""Seconds between tries: soon at first (a blip), then every 2 s (a restart)."""


def transient_errors() -> tuple[type[BaseException], ...]:
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    return (RedisConnectionError, RedisTimeoutError, OSError)


class Outage:
    """Wait out a Redis that does not answer, for at most ``bound`` seconds a call.

    Args:
        url: The server, for the messages.
        bound: Seconds of failures after which a call gives up.
    """

    def __init__(self, url: str, bound: float = DEFAULT_OUTAGE_SECONDS) -> None:
        self._url = url
        self._bound = bound
        self._waiting = False

    async def call(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Return ``await operation()``, trying again while Redis does not answer.

        Raises:
            StateUnavailableError: Redis did not answer for ``bound`` seconds.
        """
        errors = transient_errors()
        loop = asyncio.get_running_loop()
        started, pause = loop.time(), FIRST_PAUSE
        while True:
            try:
                result = await operation()
            except errors as exc:
                left = self._bound - (loop.time() - started)
                if left <= 0:
                    message = f"Redis at {self._url} did not answer for {self._bound:g} s: {exc}"
                    raise StateUnavailableError(" ".join(message.split())) from None
                self._note_outage(exc, left)
                await asyncio.sleep(min(pause, left))
                pause = min(2 * pause, LONGEST_PAUSE)
                continue
            self._note_answer()
            return result

    def _note_outage(self, exc: BaseException, left: float) -> None:
        if not self._waiting:
            self._waiting = True
            log.warning("waiting for Redis at %s (%s): giving up in %.0f s", self._url, exc, left)

    def _note_answer(self) -> None:
        if self._waiting:
            self._waiting = False
            log.warning("Redis at %s answers again", self._url)
