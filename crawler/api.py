"""The public entry points: ``crawl()`` for a whole crawl, ``iter_pages()`` page by page."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Unpack

from crawler.config import CrawlConfig
from crawler.engine import Crawl

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable, Sequence
    from types import TracebackType

    from crawler.models import Page
    from crawler.options import CrawlOptions
    from crawler.stats import CrawlStats
    from crawler.worker import OnPage


def _config(config: CrawlConfig | None, options: CrawlOptions) -> CrawlConfig:
    given: dict[str, Any] = dict(options)
    if config is None:
        return CrawlConfig.from_options(given)
    return config.replace(**given) if given else config


def _seeds(seeds: Iterable[str] | str) -> list[str]:
    """Return ``seeds`` as a list: a single URL given as a string is one seed, not letters."""
    return [seeds] if isinstance(seeds, str) else list(seeds)


async def crawl(
    seeds: Iterable[str] | str = (),
    config: CrawlConfig | None = None,
    *,
    on_page: OnPage | None = None,
    seed_files: Sequence[str] = (),
    **options: Unpack[CrawlOptions],
) -> CrawlStats:
    """Crawl from ``seeds`` and return the statistics.

    Args:
        seeds: Absolute http(s) URLs, depth 0 (one URL may be given as a string);
            their hosts are the default scope.
        config: A ``CrawlConfig``; ``options`` (its field names) override it.
        on_page: Called with every ``Page`` (sync or async). It may return a record
            (a mapping) or records to write instead of the default one; an exception
            it raises is recorded on that page as ``callback_error`` (and as
            ``error="callback"`` when the fetch itself had no error).
        seed_files: Files of one URL per line (``-`` for stdin).
        **options: ``CrawlConfig`` fields, e.g. ``max_pages=100`` (``CrawlOptions``).

    Returns:
        The crawl's ``CrawlStats``.

    Raises:
        ConfigError: An option is invalid.
        SeedError: A seed is not an absolute http(s) URL.
        OutputError: The output cannot be opened or written.
    """
    config = _config(config, options)
    crawler = Crawl(_seeds(seeds), config, seed_files=seed_files, on_page=on_page)
    return await crawler.run()


_RUNNING: set[asyncio.Task[CrawlStats]] = set()
"""Crawls of page streams still running: the loop keeps only weak references to tasks,
and a stream dropped mid-crawl leaves its crawl to finish stopping on its own."""


class PageStream:
    """``async for page in iter_pages(...)``: pages as they are crawled.

    At most ``buffer`` pages wait for the reader; the crawl's consumers wait beyond that
    (backpressure). Leaving the loop early stops the crawl: ``async with`` (or
    ``aclose()``) waits for it to settle; a bare ``async for`` that breaks or raises drops
    the stream, which stops the crawl at once (nothing the crawl holds refers back to the
    stream), and the crawl closes its connections and tasks in the next few loop turns.
    ``stats`` holds the crawl's statistics once the iteration has ended.
    """

    def __init__(self, crawler_factory: Callable[[OnPage], Crawl], buffer: int) -> None:
        self._task: asyncio.Task[CrawlStats] | None = None
        self.stats: CrawlStats | None = None
        self._items: asyncio.Queue[Page | None] = asyncio.Queue()  # None marks the end
        self._room = asyncio.Semaphore(buffer)
        self._crawl = crawler_factory(_hand_over(self._items, self._room))

    def __aiter__(self) -> PageStream:
        return self

    async def __anext__(self) -> Page:
        if self._task is None:
            self._task = self._start()
        item = await self._items.get()
        if item is None:
            self._items.put_nowait(None)  # an ended stream stays ended
            self.stats = self._task.result()
            raise StopAsyncIteration
        self._room.release()
        return item

    def _start(self) -> asyncio.Task[CrawlStats]:
        task = self._crawl.start()
        items = self._items  # the callback must not hold the stream: see the class docstring
        task.add_done_callback(lambda _: items.put_nowait(None))
        _RUNNING.add(task)
        task.add_done_callback(_settled)
        return task

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


def _hand_over(
    items: asyncio.Queue[Page | None], room: asyncio.Semaphore
) -> Callable[[Page], Awaitable[None]]:
    """Return the crawl's ``on_page``: wait for room, then queue the page for the reader."""

    async def hand_over(page: Page) -> None:
        await room.acquire()
        items.put_nowait(page)

    return hand_over


def _settled(task: asyncio.Task[CrawlStats]) -> None:
    """Forget a finished stream crawl, retrieving its outcome if nobody else will."""
    _RUNNING.discard(task)
    if not task.cancelled():
        task.exception()  # read: a dropped stream's failure is logged by the crawl already


def iter_pages(
    seeds: Iterable[str] | str = (),
    config: CrawlConfig | None = None,
    *,
    seed_files: Sequence[str] = (),
    **options: Unpack[CrawlOptions],
) -> PageStream:
    """Crawl from ``seeds`` and yield each ``Page`` as it is done (see ``crawl``).

    Works inside an already running event loop (Jupyter, a web app). Leaving the loop
    early (``break``, an exception) stops the crawl.

    Raises:
        ConfigError: An option is invalid.
        SeedError: A seed is not an absolute http(s) URL.
    """
    cfg = _config(config, options)
    urls = _seeds(seeds)
    return PageStream(
        lambda on_page: Crawl(urls, cfg, seed_files=seed_files, on_page=on_page),
        buffer=cfg.concurrency,
    )
