"""The engine: wires seeds → frontier → queue → consumers → sinks, and owns every task.

Backpressure: one bounded ``asyncio.Queue`` (``maxsize = config.effective_queue_size``)
sits between the frontier and the consumers. Only the dispatcher task puts into it; the
consumers hand found links to the frontier, which holds them in the state backend, so a
consumer never waits on a full queue and a page with 10,000 links cannot deadlock.

Politeness: the feeder leases work from the frontier into the per-host scheduler (at most
``schedule_size`` requests wait there); the dispatcher takes a free consumer, then the
request of the origin whose slot frees soonest, so a slow, delayed or paused origin holds
no consumer that other origins need. A 429 or 503 hands the request back to the scheduler
with its origin paused, instead of sleeping in a consumer.

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
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from crawler.config import CrawlConfig
from crawler.fetcher import Fetcher, parse_retry_after, retry_delay
from crawler.frontier import Frontier
from crawler.models import RECORD_FIELDS, Request
from crawler.parser import is_html, parse_html
from crawler.politeness import HostScheduler, HostSlots
from crawler.records import elapsed_ms, make_page, make_record, make_skip_record
from crawler.recovery import truncate_partial_line, written_urls
from crawler.robots import RobotsCache, x_robots_nofollow
from crawler.scope import Scope
from crawler.seeds import from_file, from_sitemaps, from_urls
from crawler.sinks import NullSink, open_sink
from crawler.state import open_state
from crawler.state.identity import crawl_identity
from crawler.stats import StatsRecorder
from crawler.urls import origin_of

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Sequence
    from types import TracebackType

    from crawler.fetcher import FollowCheck
    from crawler.models import FetchResult, Page, ParsedHtml, Record, SkipReason
    from crawler.robots import RobotsRules
    from crawler.sinks import Sink
    from crawler.state import StateBackend
    from crawler.stats import CrawlProgress, CrawlStats

    OnPage = Callable[[Page], Any]

log = logging.getLogger(__name__)

PAUSE_STATUSES: Final = frozenset({429, 503})
"""Statuses that pause the origin and hand the request back, rather than retry in place."""


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
        self._seeds = list(seeds)
        self._seed_sources = [from_urls(self._seeds), *(from_file(p) for p in seed_files)]
        self._identity = crawl_identity(self._seeds, seed_files, self.config)
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
        self._init_politeness()

    def _init_politeness(self) -> None:
        config = self.config
        self._robots = RobotsCache(self._fetch, config.user_agent)
        slots = HostSlots(
            concurrency=config.per_host_concurrency,
            delay=config.delay,
            max_delay=config.max_crawl_delay,
            probe=config.obey_robots,
        )
        self._scheduler = HostScheduler(slots, config.schedule_size, self._admit)
        self._free_consumers = asyncio.Semaphore(config.concurrency)
        self._host_pages: Counter[str] = Counter()
        self._frontier.add_scope_hosts(config.sitemaps)

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
        if self.config.sitemaps or self.config.sitemaps_from_robots:
            sitemaps = self._produce_sitemaps()
            producers.append(asyncio.create_task(sitemaps, name="crawler-producer-sitemaps"))
        for _ in producers:
            self._frontier.producer_started()
        consumers = [
            asyncio.create_task(self._consume(), name=f"crawler-consumer-{i}")
            for i in range(self.config.concurrency)
        ]
        feeder = asyncio.create_task(self._feed(), name="crawler-feeder")
        dispatcher = asyncio.create_task(self._dispatch(), name="crawler-dispatcher")
        renewer = asyncio.create_task(self._renew_leases(), name="crawler-lease-renewer")
        self._frontier.check_finished()
        return [*producers, feeder, dispatcher, renewer, *consumers]

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
        queued = [*self._staged, *self._drain_queue(), *self._in_flight, *self._scheduler.drain()]
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

    async def _produce_sitemaps(self) -> None:
        try:
            roots = [*self.config.sitemaps, *await self._robots_sitemaps()]
            source = from_sitemaps(roots, self._fetch_sitemap, max_bytes=self.config.max_bytes)
            async for batch in source:
                await self._frontier.add_found(batch)
        except Exception as exc:
            self._fail(exc)
        finally:
            self._frontier.producer_done()

    async def _robots_sitemaps(self) -> list[str]:
        if not self.config.sitemaps_from_robots:
            return []
        origins = dict.fromkeys(origin_of(url.strip()) for url in self._seeds)
        return [url for origin in origins for url in (await self._robots.get(origin)).sitemaps]

    async def _fetch_sitemap(self, url: str) -> bytes | None:
        result = await self._fetch(Request(url=url, key=url))
        if result.error is not None or result.status != 200:
            log.warning("sitemap %s: %s", url, result.error_detail or f"HTTP {result.status}")
            return None
        return result.body

    async def _fetch(self, request: Request, follow: FollowCheck | None = None) -> FetchResult:
        assert self._fetcher is not None
        return await self._fetcher.fetch(request, follow)

    async def _feed(self) -> None:
        """Lease work from the frontier into the per-host scheduler, as room allows."""
        try:
            while True:
                room = await self._scheduler.wait_for_room()
                limit = min(room, self.config.effective_queue_size)
                batch = await self._frontier.next_batch(limit)
                if not batch:
                    return
                self._scheduler.add(batch)
        except Exception as exc:
            self._fail(exc)

    async def _renew_leases(self) -> None:
        """Renew the leases of requests this crawl holds, which may wait long for a slow host."""
        # A third of the lease: two renewals may be late before a lease can expire.
        period = self.config.lease_seconds / 3
        try:
            while True:
                await asyncio.sleep(period)
                held = [*self._scheduler.waiting_requests(), *self._staged, *self._in_flight]
                await self._frontier.renew(held)
        except Exception as exc:
            self._fail(exc)

    async def _dispatch(self) -> None:
        """Hand a free consumer the request of the origin whose slot frees soonest."""
        try:
            while True:
                await self._free_consumers.acquire()
                dispatch = await self._scheduler.next()
                if dispatch.skip is not None:
                    self._free_consumers.release()
                    await self._skip(dispatch.request, dispatch.skip)
                    continue
                self._staged = [dispatch.request]
                # The only put() into the queue: backpressure stops here, not in a consumer.
                await self._queue.put(dispatch.request)
                self._staged = []
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
                self._free_consumers.release()
                self._queue.task_done()

    async def _process(self, request: Request) -> None:
        """Fetch ``request`` in its origin's slot, and give the slot back whatever happens."""
        origin = origin_of(request.url)
        fetched, status = False, None
        try:
            rules = await self._robots_rules(origin)
            if rules is not None and rules.unreachable is not None:
                await self._finish(request, _unreachable(request, rules.unreachable))
                return
            if rules is not None and not rules.allowed(request.url, self.config.user_agent):
                await self._skip(request, "robots")
                return
            fetched = True
            result = await self._fetch_page(request)
            status = result.status
            if not self._paused(request, origin, result):
                await self._finish(request, result)
        finally:
            self._scheduler.release(origin, fetched=fetched, status=status)

    async def _fetch_page(self, request: Request) -> FetchResult:
        assert self._fetcher is not None
        return await self._fetcher.fetch(request, follow=self._follow, defer=PAUSE_STATUSES)

    async def _finish(self, request: Request, result: FetchResult) -> None:
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
            await self._frontier.add_links(request, self._links_to_follow(parsed, result))
        await self._frontier.complete(request)
        self._written.discard(request.key)

    def _admit(self, request: Request) -> SkipReason | None:
        """Decide, just before a request takes its host's slot, whether to skip it."""
        origin = origin_of(request.url)
        if self.config.obey_robots:
            rules = self._robots.known(origin)
            disallowed = rules is not None and not rules.allowed(
                request.url, self.config.user_agent
            )
            if disallowed and rules is not None and rules.unreachable is None:
                return "robots"
        limit = self.config.max_pages_per_host
        if limit is not None and request.attempt == 0:
            if self._host_pages[origin] >= limit:
                return "limit_reached"
            self._host_pages[origin] += 1
        return None

    async def _robots_rules(self, origin: str) -> RobotsRules | None:
        """Return the origin's rules (``None`` when ignored), and apply its Crawl-delay."""
        if not self.config.obey_robots:
            return None
        rules = await self._robots.get(origin)
        self._scheduler.configure(origin, rules.crawl_delay(self.config.user_agent))
        return rules

    async def _follow(self, target: str) -> str | None:
        """The redirect check: scope and dedup by the frontier, then robots.txt."""
        reason = await self._frontier.check_redirect(target)
        if reason is None and self.config.obey_robots and not await self._robots.allowed(target):
            self._stats.skip("robots")
            return "robots"
        return reason

    def _paused(self, request: Request, origin: str, result: FetchResult) -> bool:
        """Hand a 429/503 back to the scheduler with its origin paused, while retries last."""
        if result.status not in PAUSE_STATUSES or request.attempt >= self.config.retries:
            return False
        retry_after = parse_retry_after(result.headers.get("Retry-After"), datetime.now(UTC))
        pause = retry_delay(
            request.attempt,
            backoff=self.config.backoff,
            retry_after=retry_after,
            cap=self.config.max_retry_after,
        )
        log.info("%s answered %s: pausing %s for %.2fs", request.url, result.status, origin, pause)
        self._scheduler.requeue(replace(request, attempt=request.attempt + 1), pause)
        return True

    def _links_to_follow(self, parsed: ParsedHtml, result: FetchResult) -> tuple[str, ...]:
        if not self.config.respect_nofollow:
            return parsed.links
        if parsed.nofollow or x_robots_nofollow(result.headers, self.config.user_agent):
            return ()
        return tuple(link for link in parsed.links if link not in parsed.nofollow_links)

    async def _skip(self, request: Request, reason: SkipReason) -> None:
        """Count a leased request not crawled, record it if asked, and complete it."""
        self._stats.skip(reason)
        if self.config.log_skipped and request.key not in self._written:
            self._sink.write([make_skip_record(request, reason, fields=self.config.record_fields)])
            self._written.add(request.key)
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


def _unreachable(request: Request, robots_failure: FetchResult) -> FetchResult:
    """The result of a page not requested because its host did not answer for robots.txt."""
    return replace(robots_failure, request=request, final_url=request.url, elapsed=0.0)


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
