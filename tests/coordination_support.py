"""Open one process's state and coordinator, local or shared, for the seam's contract tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from crawler.config import CrawlConfig
from crawler.coordination import Coordinator, open_backend
from crawler.frontier import Frontier
from crawler.scope import Scope
from crawler.state import StateBackend
from crawler.stats import StatsRecorder
from tests.conftest import TEST_NAMESPACE


@dataclass
class Process:
    """One crawl process's view: its config, state, coordinator and frontier."""

    config: CrawlConfig
    state: StateBackend
    coordinator: Coordinator
    frontier: Frontier
    stats: StatsRecorder = field(default_factory=StatsRecorder)


class Processes:
    """Open processes of one crawl, ``local`` (memory state) or ``shared`` (one Redis crawl)."""

    def __init__(self, kind: str, redis_url: str | None, crawl_id: str | None) -> None:
        self.kind = kind
        self._redis_url = redis_url
        self._crawl_id = crawl_id
        self._stack = contextlib.AsyncExitStack()

    async def open(self, worker_id: str = "w", **options: Any) -> Process:
        """Open a process of the crawl, its state entered and the crawl joined."""
        if self.kind == "shared":
            state_url = f"{self._redis_url}?prefix={TEST_NAMESPACE}"
            options = {"state": state_url, "crawl_id": self._crawl_id, **options}
            options["worker_id"] = worker_id
        config = CrawlConfig(obey_robots=False, **options)
        scope = Scope(config)
        stats = StatsRecorder()
        state, coordinator = open_backend(config, scope)
        await self._stack.enter_async_context(state)
        await state.bind(coordinator.identity([], []), force=True)  # as the engine does
        await coordinator.join()
        frontier = Frontier(config, state, scope, stats, coordinator)
        listener = asyncio.create_task(coordinator.listen(frontier.wake))
        self._stack.push_async_callback(_cancel, listener)
        return Process(config, state, coordinator, frontier, stats)

    async def close(self) -> None:
        await self._stack.aclose()

    async def __aenter__(self) -> Processes:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


@contextlib.asynccontextmanager
async def processes(kind: str, request: Any) -> AsyncIterator[Processes]:
    """Yield ``Processes`` of ``kind``; a shared one skips without Redis (fails under CI)."""
    redis_url = crawl_id = None
    if kind == "shared":
        redis_url = request.getfixturevalue("redis_url")
        crawl_id = request.getfixturevalue("crawl_id")
    async with Processes(kind, redis_url, crawl_id) as opened:
        yield opened
