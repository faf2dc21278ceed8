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
from crawler.coordination import open_state
from crawler.errors import ConfigError
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
from crawler.shared.coordinator import Coordinator
from crawler.shared.state import RedisState
from crawler.sinks import NullSink, encode_record, open_sink
from crawler.state.identity import crawl_identity
from crawler.stats import StatsRecorder
from crawler.urls import origin_of

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

    from crawler.fetcher import FollowCheck
    from crawler.models import FetchResult, Page, ParsedHtml, Record, SkipReason
    from crawler.robots import RobotsRules
    from crawler.sinks import Sink
    from crawler.state import StateBackend
    from crawler.stats import CrawlProgress, CrawlStats

    OnPage = Callable[[Page], Any]

log = logging.getLogger(__name__)

SHARED_SCHEDULE_FACTOR: Final = 4
"""In a shared crawl, a worker's scheduler holds at most this many requests per consumer:
enough to keep its consumers busy, little enough that work spreads over the workers and a
dead worker's leases are few."""

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
        self._seeding = bool(self._seeds or seed_files or self.config.sitemaps)
        self._on_page = on_page
        self._state: StateBackend = state or _open_state(self.config)
        scope = Scope(self.config)
        self._coordinator = _coordinator(self._state, self.config, scope)
        # A shared crawl is one crawl whoever seeds it: its identity leaves the seeds out.
        shared = self._coordinator is not None
        self._identity = crawl_identity(
            [] if shared else self._seeds, [] if shared else seed_files, self.config
        )
        # Keys whose record is in the output but whose request is not acked: never released.
        self._written: set[str] = set()
        self._stats = StatsRecorder()
        self._frontier = Frontier(
            self.config, self._state, scope, self._stats, coordinator=self._coordinator
        )
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
        capacity = config.schedule_size
        if self._coordinator is not None:
            # Leased work waiting here is work no other worker can take: keep it short.
            capacity = min(capacity, SHARED_SCHEDULE_FACTOR * config.concurrency)
        self._scheduler = HostScheduler(slots, capacity, self._admit)
        # Shared crawls lease in batches of one per consumer: one round trip, not one a page.
        self._lease_batch = config.concurrency if self._coordinator is not None else 1
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

    def start(self) -> asyncio.Task[CrawlStats]:
        """Run the crawl in a task of its own (the async-iterator form uses this)."""
        return asyncio.create_task(self.run(), name="crawler-run")

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
            if self._coordinator is not None:
                await self._coordinator.start()
                taken_over = []  # records are written after the ack: nothing to reconcile
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

    async def seed(self) -> int:
        """Only seed a shared crawl: admit the seeds, mark it seeded, return how many were new.

        Raises:
            ConfigError: The state is not shared (``redis://``).
            RuntimeError: The crawl was already run.
        """
        if self._coordinator is None:
            raise ConfigError("seeding alone needs a redis:// state")
        if self._started:
            raise RuntimeError("a Crawl can run only once")
        self._started = True
        await self._state.open()
        try:
            await self._state.bind(self._identity, force=self.config.force_state)
            async with Fetcher(self.config) as fetcher:
                self._fetcher = fetcher
                await self._coordinator.seeding_started()
                await asyncio.gather(*self._start_producers())
        finally:
            await self._state.close()
        if self._failure is not None:
            raise self._failure
        return self._frontier.outstanding

    async def _supervise(self) -> None:
        if self._coordinator is not None and self._seeding:
            await self._coordinator.seeding_started()
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
        producers = self._start_producers()
        consumers = [
            asyncio.create_task(self._consume(), name=f"crawler-consumer-{i}")
            for i in range(self.config.concurrency)
        ]
        feeder = asyncio.create_task(self._feed(), name="crawler-feeder")
        dispatcher = asyncio.create_task(self._dispatch(), name="crawler-dispatcher")
        renewer = asyncio.create_task(self._renew_leases(), name="crawler-lease-renewer")
        self._frontier.check_finished()
        return [*producers, feeder, dispatcher, renewer, *consumers, *self._start_shared_tasks()]

    def _start_shared_tasks(self) -> list[asyncio.Task[None]]:
        coordinator = self._coordinator
        if coordinator is None:
            return []
        listen = self._guarded(coordinator.listen(self._frontier.wake))
        return [asyncio.create_task(listen, name="crawler-shared-events")]

    async def _guarded(self, work: Awaitable[None]) -> None:
        try:
            await work
        except Exception as exc:
            self._fail(exc)

    def _start_producers(self) -> list[asyncio.Task[None]]:
        producers = [
            asyncio.create_task(self._produce(source), name=f"crawler-producer-{i}")
            for i, source in enumerate(self._seed_sources)
        ]
        if self.config.sitemaps or self.config.sitemaps_from_robots:
            sitemaps = self._produce_sitemaps()
            producers.append(asyncio.create_task(sitemaps, name="crawler-producer-sitemaps"))
        for _ in producers:
            self._frontier.producer_started()
        return producers

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
                if self._coordinator is not None:
                    await self._coordinator.share_seeds(batch)
                await self._frontier.add_seeds(batch)
        except OSError as exc:
            log.error("%s", exc)
        except Exception as exc:
            self._fail(exc)
        finally:
            await self._producer_done()

    async def _producer_done(self) -> None:
        self._frontier.producer_done()
        if self._coordinator is not None and self._seeding and not self._frontier.producers:
            try:
                await self._coordinator.seeding_done()
            except Exception as exc:
                self._fail(exc)

    async def _produce_sitemaps(self) -> None:
        try:
            if self._coordinator is not None:
                await self._coordinator.share_seeds(self.config.sitemaps)
            roots = [*self.config.sitemaps, *await self._robots_sitemaps()]
            source = from_sitemaps(roots, self._fetch_sitemap, max_bytes=self.config.max_bytes)
            async for batch in source:
                await self._frontier.add_found(batch)
        except Exception as exc:
            self._fail(exc)
        finally:
            await self._producer_done()

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
        """Fetch robots.txt or a sitemap (in the origin's shared slot, in a shared crawl)."""
        assert self._fetcher is not None
        fetcher = self._fetcher
        return await self._in_slot(request.url, lambda: fetcher.fetch(request, follow))

    async def _feed(self) -> None:
        """Lease work from the frontier into the per-host scheduler, as room allows."""
        try:
            while True:
                room = await self._scheduler.wait_for_room(self._lease_batch)
                limit = min(room, self.config.effective_queue_size)
                batch = await self._frontier.next_batch(limit)
                if not batch:
                    return
                self._scheduler.add(batch)
        except Exception as exc:
            self._fail(exc)

    async def _renew_leases(self) -> None:
        """Renew the leases of requests this crawl holds, which may wait long for a slow host.

        All of them: waiting in the scheduler, queued, or in a consumer's hands. In a shared
        crawl also this worker's heartbeat and politeness slots.
        """
        # A third of the lease: two renewals may be late before a lease can expire.
        period = self.config.lease_seconds / 3
        try:
            while True:
                await asyncio.sleep(period)
                await self._frontier.renew(self._frontier.held())
                if self._coordinator is not None:
                    await self._coordinator.keep_alive()
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
        fetched, status, slot = False, None, None
        try:
            rules = await self._robots_rules(origin)
            if rules is not None and rules.unreachable is not None:
                await self._finish(request, _unreachable(request, rules.unreachable), None)
                return
            if rules is not None and not rules.allowed(request.url, self.config.user_agent):
                await self._skip(request, "robots")
                return
            fetched = True
            slot = await self._shared_slot(request.url)
            result = await self._fetch_page(request)
            status = result.status
            pause = self._paused(request, origin, result)
            if pause is None:
                await self._finish(request, result, slot)
            elif self._coordinator is not None:
                await self._coordinator.gate.pause(request.url, pause)
        finally:
            if slot is not None and self._coordinator is not None:
                await self._coordinator.gate.release(slot, status)  # unless freed with the ack
            self._scheduler.release(origin, fetched=fetched, status=status)

    async def _shared_slot(self, url: str) -> str | None:
        """In a shared crawl, wait for a slot of ``url``'s origin held across all workers."""
        if self._coordinator is None:
            return None
        return await self._coordinator.gate.acquire(url)

    async def _fetch_page(self, request: Request) -> FetchResult:
        assert self._fetcher is not None
        return await self._fetcher.fetch(request, follow=self._follow, defer=PAUSE_STATUSES)

    async def _in_slot(self, url: str, fetch: Callable[[], Awaitable[FetchResult]]) -> FetchResult:
        """Run ``fetch``; in a shared crawl, in a slot of ``url``'s origin held by all workers."""
        if self._coordinator is None:
            return await fetch()
        gate = self._coordinator.gate
        slot = await gate.acquire(url)
        status = None
        try:
            result = await fetch()
            status = result.status
            return result
        finally:
            await gate.release(slot, status)

    async def _finish(self, request: Request, result: FetchResult, slot: str | None) -> None:
        parsed = _parse(result)
        page = make_page(result, parsed)
        records = await self._records(page, result)
        if self._coordinator is not None:
            links = self._links_to_follow(parsed, result) if parsed is not None else ()
            await self._finish_shared(request, result, page, records, links=links, slot=slot)
            return
        if request.key not in self._written:
            self._sink.write(records)
            self._written.add(request.key)
        self._count_page(result, page)
        if parsed is not None:
            await self._frontier.add_links(request, self._links_to_follow(parsed, result))
        await self._frontier.complete(request)
        self._written.discard(request.key)

    async def _finish_shared(
        self,
        request: Request,
        result: FetchResult,
        page: Page,
        records: list[Record],
        *,
        links: Iterable[str],
        slot: str | None,
    ) -> None:
        """Add the links, ack with the records and free the slot in one step; write if acked.

        So each worker's file holds the records of the requests it acked: a URL is in at
        most one worker file, and ``crawl export`` has every record exactly once.
        """
        found = self._frontier.candidates(request, links)
        lines = [encode_record(record) for record in records]
        acked = await self._frontier.complete(
            request, found=found, records=lines, error=page.error, slot=slot, status=result.status
        )
        if acked:
            self._sink.write(records)
            self._count_page(result, page)
        else:
            log.info("lease of %s lost to another worker: its record is theirs", request.url)

    def _count_page(self, result: FetchResult, page: Page) -> None:
        self._stats.page(
            result.status, page.error, len(result.body), url=page.url, elapsed_ms=elapsed_ms(result)
        )

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
        crawl_delay = rules.crawl_delay(self.config.user_agent)
        self._scheduler.configure(origin, crawl_delay)
        if self._coordinator is not None:
            await self._coordinator.configure(origin, crawl_delay)
        return rules

    async def _follow(self, target: str) -> str | None:
        """The redirect check: scope and dedup by the frontier, then robots.txt."""
        reason = await self._frontier.check_redirect(target)
        if reason is None and self.config.obey_robots and not await self._robots.allowed(target):
            self._stats.skip("robots")
            return "robots"
        return reason

    def _paused(self, request: Request, origin: str, result: FetchResult) -> float | None:
        """Hand a 429/503 back to the scheduler with its origin paused, while retries last.

        Returns:
            The pause in seconds, ``None`` when the request was not handed back.
        """
        if result.status not in PAUSE_STATUSES or request.attempt >= self.config.retries:
            return None
        retry_after = parse_retry_after(result.headers.get("Retry-After"), datetime.now(UTC))
        pause = retry_delay(
            request.attempt,
            backoff=self.config.backoff,
            retry_after=retry_after,
            cap=self.config.max_retry_after,
        )
        log.info("%s answered %s: pausing %s for %.2fs", request.url, result.status, origin, pause)
        self._scheduler.requeue(replace(request, attempt=request.attempt + 1), pause)
        return pause

    def _links_to_follow(self, parsed: ParsedHtml, result: FetchResult) -> tuple[str, ...]:
        if not self.config.respect_nofollow:
            return parsed.links
        if parsed.nofollow or x_robots_nofollow(result.headers, self.config.user_agent):
            return ()
        return tuple(link for link in parsed.links if link not in parsed.nofollow_links)

    async def _skip(self, request: Request, reason: SkipReason) -> None:
        """Count a leased request not crawled, record it if asked, and complete it."""
        self._stats.skip(reason)
        if self._coordinator is not None:
            await self._skip_shared(request, reason)
            return
        if self.config.log_skipped and request.key not in self._written:
            self._sink.write([make_skip_record(request, reason, fields=self.config.record_fields)])
            self._written.add(request.key)
        await self._frontier.complete(request)
        self._written.discard(request.key)

    async def _skip_shared(self, request: Request, reason: SkipReason) -> None:
        """Complete a skipped request; its skip record, if asked, is stored with the ack."""
        records = []
        if self.config.log_skipped:
            records = [make_skip_record(request, reason, fields=self.config.record_fields)]
        lines = [encode_record(record) for record in records]
        if await self._frontier.complete(request, records=lines):
            self._sink.write(records)

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


def _open_state(config: CrawlConfig) -> StateBackend:
    return open_state(
        config.state,
        crawl_id=config.crawl_id,
        worker_id=config.worker_id,
        max_pages=config.max_pages,
    )


def _coordinator(state: StateBackend, config: CrawlConfig, scope: Scope) -> Coordinator | None:
    """Return the coordinator of a shared (Redis) crawl, ``None`` for a local one."""
    if not isinstance(state, RedisState):
        return None

    def add_scope_hosts(hosts: Iterable[str]) -> None:
        for host in hosts:
            scope.add_seed_host(host)

    return Coordinator(state, config, add_scope_hosts)


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
