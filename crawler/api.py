"""The public entry points: ``crawl()`` for a whole crawl, ``iter_pages()`` page by page."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from crawler.config import CrawlConfig
from crawler.engine import Crawl

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from types import TracebackType

    from crawler.models import Page
    from crawler.stats import CrawlStats
    from crawler.worker import OnPage


def _config(config: CrawlConfig | None, options: dict[str, Any]) -> CrawlConfig:
    if config is None:
        return CrawlConfig.from_options(options)
    return config.replace(**options) if options else config


async def crawl(
    seeds: Iterable[str] = (),
    config: CrawlConfig | None = None,
    *,
    on_page: OnPage | None = None,
    seed_files: Sequence[str] = (),
    **options: Any,
) -> CrawlStats:
    """Crawl from ``seeds`` and return the statistics.

    Args:
        seeds: Absolute http(s) URLs, depth 0; their hosts are the default scope.
        config: A ``CrawlConfig``; ``options`` (its field names) override it.
        on_page: Called with every ``Page`` (sync or async). It may return a record
            (a mapping) or records to write instead of the default one; an exception
            it raises is recorded on that page (``error="callback"``).
        seed_files: Files of one URL per line (``-`` for stdin).
        **options: ``CrawlConfig`` fields, e.g. ``max_pages=100``.

    Returns:
        The crawl's ``CrawlStats``.

    Raises:
        ConfigError: An option is invalid.
        OutputError: The output cannot be opened or written.
    """
    crawler = Crawl(seeds, _config(config, options), seed_files=seed_files, on_page=on_page)
    return await crawler.run()


class PageStream:
    """``async for page in iter_pages(...)``: pages as they are crawled.

    At most ``buffer`` pages wait for the reader; the crawl's consumers wait beyond that
    (backpressure). Breaking out of the loop stops the crawl; ``async with`` makes that
    cleanup immediate. ``stats`` holds the crawl's statistics once the iteration has ended.
    """

    def __init__(self, crawler_factory: Callable[[OnPage], Crawl], buffer: int) -> None:
        self._items: asyncio.Queue[Page | None] = asyncio.Queue()  # None marks the end
        self._room = asyncio.Semaphore(buffer)
        self._crawl = crawler_factory(self._hand_over)
        self._task: asyncio.Task[CrawlStats] | None = None
        self.stats: CrawlStats | None = None

    async def _hand_over(self, page: Page) -> None:
        await self._room.acquire()
        self._items.put_nowait(page)

    def __aiter__(self) -> PageStream:
        return self

    async def __anext__(self) -> Page:
        if self._task is None:
            self._task = self._crawl.start()
            self._task.add_done_callback(lambda _: self._items.put_nowait(None))
        item = await self._items.get()
        if item is None:
            self._items.put_nowait(None)  # an ended stream stays ended
            self.stats = self._task.result()
            raise StopAsyncIteration
        self._room.release()
        return item

    async def aclose(self) -> None:
        """Stop the crawl and wait for it to settle."""
        self._crawl.stop()
        if self._task is not None:
            # Stopping cancels the consumers, including any waiting to hand over a page.
            self.stats = await self._task

    async def __aenter__(self) -> PageStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __del__(self) -> None:
        if self._task is not None and not self._task.done():
            self._crawl.stop()


def iter_pages(
    seeds: Iterable[str] = (),
    config: CrawlConfig | None = None,
    *,
    seed_files: Sequence[str] = (),
    **options: Any,
) -> PageStream:
    """Crawl from ``seeds`` and yield each ``Page`` as it is done (see ``crawl``).

    Works inside an already running event loop (Jupyter, a web app). Breaking out of
    the loop stops the crawl cleanly.
    """
    cfg = _config(config, options)
    return PageStream(
        lambda on_page: Crawl(seeds, cfg, seed_files=seed_files, on_page=on_page),
        buffer=cfg.concurrency,
    )
