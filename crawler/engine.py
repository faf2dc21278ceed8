"""The engine: wires seeds → frontier → queue → consumers → sinks, and owns every task.

Backpressure: one bounded ``asyncio.Queue`` (``maxsize = config.effective_queue_size``)
sits between the frontier and the consumers. Only the feeder task puts into it; the
consumers hand found links to the frontier, which holds them in the state backend, so a
consumer never waits on a full queue and a page with 10,000 links cannot deadlock.

Stop rule: the crawl is complete when the frontier is finished (no producer running and
nothing outstanding: pending, queued or in flight) and the queue has joined. ``max_pages``
ends it once that many requests were handed out and have finished; the time limit,
``stop()`` (signals) and a broken page iterator end it at once: in-flight requests are
cancelled and returned to the state, and every record already produced is written.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from crawler.config import CrawlConfig
from crawler.fetcher import Fetcher
from crawler.frontier import Frontier
from crawler.models import RECORD_FIELDS
from crawler.parser import is_html, parse_html
from crawler.records import elapsed_ms, make_page, make_record
from crawler.recovery import truncate_partial_line, written_urls
from crawler.scope import Scope
from crawler.seeds import from_file, from_urls
from crawler.sinks import NullSink, open_sink
from crawler.state import open_state
from crawler.state.identity import crawl_identity
from crawler.stats import StatsRecorder

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Sequence
    from types import TracebackType

    from crawler.models import FetchResult, Page, ParsedHtml, Record, Request
    from crawler.sinks import Sink
    from crawler.state import StateBackend
    from crawler.stats import CrawlProgress, CrawlStats

    OnPage = Callable[[Page], Any]

log = logging.getLogger(__name__)


class Crawl:
    """One crawl, run once with ``await run()``; ``stop()`` ends it gracefully."""

    def __init__(
        self,
        seeds: Iterable[str] = (),
        config: CrawlConfig | None = None,
        *,
        seed_files: Sequence[str] = (),
        on_page: OnPage | None = None,
        state: StateBackend | None = None,
    ) -> None:
        self.config = config or CrawlConfig()
        seeds = list(seeds)
        self._seed_sources = [from_urls(seeds), *(from_file(p) for p in seed_files)]
        self._identity = crawl_identity(seeds, seed_files, self.config)
        self._on_page = on_page
        self._state: StateBackend = state or open_state(self.config.state)
        # Keys whose record is in the output but whose request is not acked: never released.
        self._written: set[str] = set()
        self._stats = StatsRecorder()
        self._frontier = Frontier(self.config, self._state, Scope(self.config), self._stats)
        self._queue: asyncio.Queue[Request] = asyncio.Queue(self.config.effective_queue_size)
        self._staged: list[Request] = []
        self._in_flight: set[Request] = set()
        self._stop = asyncio.Event()
        self._failure: BaseException | None = None
        self._sink: Sink = NullSink()
        self._fetcher: Fetcher | None = None
        self._started = False

    def progress(self) -> CrawlProgress:
        """Return the live figures of the crawl (cheap: a few counters, no I/O)."""
        return self._stats.progress(
            in_flight=len(self._in_flight),
            outstanding=self._frontier.outstanding,
            max_pages=self.config.max_pages,
        )

    def stop(self) -> None:
        """End the crawl soon: in-flight work is cancelled, output flushed, stats returned."""
        self._stop.set()

    async def run(self) -> CrawlStats:
        """Run the crawl to its end and return its statistics.

        Raises:
            OutputError: The output cannot be opened or written.
            RuntimeError: The crawl was already run.
        """
        if self._started:
            raise RuntimeError("a Crawl can run only once")
        self._started = True
        await self._state.open()
        try:
            resumed = await self._state.bind(self._identity, force=self.config.force_state)
            taken_over = await self._frontier.resume()
            self._sink = await self._open_output(resumed, taken_over)
            try:
                async with Fetcher(self.config) as fetcher:
                    self._fetcher = fetcher
                    await self._supervise()
            finally:
                self._sink.close()
        finally:
            await self._state.close()
        if self._failure is not None:
            raise self._failure
        return self._stats.snapshot()

    async def _open_output(self, resumed: bool, taken_over: list[Request]) -> Sink:
        """Open the sink; on resume, append, after reconciling the file with the state.

        See ``crawler.recovery``: a partial last line is cut, and the taken-over requests
        whose records are already in the file will not be written again.
        """
        output, output_format = self.config.output, self.config.output_format
        if resumed and output not in (None, "-"):
            await asyncio.to_thread(truncate_partial_line, output)
            wanted = {r.url for r in taken_over}
            found = await asyncio.to_thread(written_urls, output, output_format, wanted)
            self._written = {r.key for r in taken_over if r.url in found}
            log.info("resuming: %d in flight, %d already written", len(wanted), len(found))
        return open_sink(output, output_format, append=resumed)

    async def _supervise(self) -> None:
        tasks = self._start_tasks()
        try:
            self._stats.stop_reason = await self._wait_for_end()
            if self._stats.stop_reason in ("complete", "max_pages"):
                await self._queue.join()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._release_unfinished()
            pending = (await self._state.counts()).pending
            if pending and self._stats.stop_reason == "max_pages":
                self._stats.skip("limit_reached", pending)

    def _start_tasks(self) -> list[asyncio.Task[None]]:
        producers = [
            asyncio.create_task(self._produce(source), name=f"crawler-producer-{i}")
            for i, source in enumerate(self._seed_sources)
        ]
        for _ in producers:
            self._frontier.producer_started()
        consumers = [
            asyncio.create_task(self._consume(), name=f"crawler-consumer-{i}")
            for i in range(self.config.concurrency)
        ]
        feeder = asyncio.create_task(self._feed(), name="crawler-feeder")
        self._frontier.check_finished()
        return [*producers, feeder, *consumers]

    async def _wait_for_end(self) -> str:
        finished = asyncio.create_task(self._frontier.finished.wait(), name="crawler-finished")
        stopped = asyncio.create_task(self._stop.wait(), name="crawler-stopped")
        try:
            done, _ = await asyncio.wait(
                {finished, stopped},
                timeout=self.config.time_limit,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            finished.cancel()
            stopped.cancel()
        if stopped in done:
            return "stopped"
        if finished in done:
            return "max_pages" if self._frontier.budget_spent else "complete"
        return "time_limit"

    async def _release_unfinished(self) -> None:
        # A request whose record is written stays leased: the next run takes it over.
        queued = [*self._staged, *self._drain_queue(), *self._in_flight]
        unfinished = [r for r in queued if r.key not in self._written]
        self._staged.clear()
        self._in_flight.clear()
        if unfinished:
            await self._frontier.release(unfinished)

    def _drain_queue(self) -> list[Request]:
        drained = []
        while not self._queue.empty():
            drained.append(self._queue.get_nowait())
            self._queue.task_done()
        return drained

    def _fail(self, exc: BaseException) -> None:
        log.error("crawler bug, stopping the crawl", exc_info=exc)
        if self._failure is None:
            self._failure = exc
        self.stop()

    async def _produce(self, source: AsyncIterator[list[str]]) -> None:
        try:
            async for batch in source:
                await self._frontier.add_seeds(batch)
        except OSError as exc:
            log.error("%s", exc)
        except Exception as exc:
            self._fail(exc)
        finally:
            self._frontier.producer_done()

    async def _feed(self) -> None:
        try:
            while batch := await self._frontier.next_batch(self.config.effective_queue_size):
                self._staged = batch
                while self._staged:
                    # The only put() into the queue: backpressure stops here, not in a consumer.
                    await self._queue.put(self._staged[0])
                    self._staged.pop(0)
        except Exception as exc:
            self._fail(exc)

    async def _consume(self) -> None:
        while True:
            request = await self._queue.get()
            self._in_flight.add(request)
            try:
                await self._process(request)
            except Exception as exc:
                self._fail(exc)
            else:
                self._in_flight.discard(request)
            finally:
                self._queue.task_done()

    async def _process(self, request: Request) -> None:
        assert self._fetcher is not None
        result = await self._fetcher.fetch(request, follow=self._frontier.check_redirect)
        parsed = _parse(result)
        page = make_page(result, parsed)
        records = await self._records(page, result)
        if request.key not in self._written:
            self._sink.write(records)
            self._written.add(request.key)
        self._stats.page(
            result.status, page.error, len(result.body), url=page.url, elapsed_ms=elapsed_ms(result)
        )
        if parsed is not None:
            await self._frontier.add_links(request, parsed.links)
        await self._frontier.complete(request)
        self._written.discard(request.key)

    async def _records(self, page: Page, result: FetchResult) -> list[Record]:
        if self._on_page is None:
            return [self._record(result, page)]
        try:
            returned = self._on_page(page)
            if inspect.isawaitable(returned):
                returned = await returned
        except Exception as exc:
            log.warning("on_page failed for %s: %r", page.url, exc)
            page.error, page.error_detail = "callback", f"{type(exc).__name__}: {exc}"
            return [self._record(result, page)]
        return _returned_records(returned) or [self._record(result, page)]

    def _record(self, result: FetchResult, page: Page) -> Record:
        fields = self.config.record_fields
        if fields == RECORD_FIELDS:
            return make_record(result, page)
        outlinks = (
            [u for u in page.links if self._frontier.in_scope(u)] if "outlinks" in fields else []
        )
        return make_record(result, page, fields=fields, outlinks=outlinks)


def _parse(result: FetchResult) -> ParsedHtml | None:
    ok = result.error is None and result.status is not None and 200 <= result.status < 300
    if not ok or not is_html(result.content_type):
        return None
    return parse_html(result.body, result.final_url, charset=result.charset)


def _returned_records(returned: object) -> list[Record]:
    if returned is None:
        return []
    if isinstance(returned, Mapping):
        return [dict(returned)]
    if isinstance(returned, Iterable) and not isinstance(returned, str | bytes):
        return [dict(r) for r in returned]
    raise TypeError(f"on_page must return None, a mapping or mappings, not {type(returned)!r}")


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

    Breaking out of the loop stops the crawl; ``async with`` makes that cleanup
    immediate. ``stats`` holds the crawl's statistics once the iteration has ended.
    """

    def __init__(self, crawler_factory: Callable[[OnPage], Crawl], buffer: int) -> None:
        self._pages: asyncio.Queue[Page] = asyncio.Queue(buffer)
        self._crawl = crawler_factory(self._pages.put)
        self._task: asyncio.Task[CrawlStats] | None = None
        self.stats: CrawlStats | None = None

    def __aiter__(self) -> PageStream:
        return self

    async def __anext__(self) -> Page:
        if self._task is None:
            self._task = asyncio.create_task(self._crawl.run(), name="crawler-page-stream")
        while self._pages.empty() and not self._task.done():
            getter = asyncio.create_task(self._pages.get(), name="crawler-page-get")
            await asyncio.wait({getter, self._task}, return_when=asyncio.FIRST_COMPLETED)
            if getter.done():
                return getter.result()
            getter.cancel()
        if not self._pages.empty():
            return self._pages.get_nowait()
        self.stats = self._task.result()
        raise StopAsyncIteration

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
