"""The engine: wires seeds → frontier → scheduler → queue → consumers → sinks, and owns every task.

Backpressure: one bounded ``asyncio.Queue`` (``maxsize = config.effective_queue_size``)
sits between the scheduler and the consumers. Only the dispatcher task puts into it; the
consumers hand found links to the frontier, which holds them in the state backend, so a
consumer never waits on a full queue and a page with 10,000 links cannot deadlock.

Politeness: the feeder leases work from the frontier into the per-host scheduler (at most
its capacity waits there); the dispatcher takes a free consumer, then the request of the
origin whose slot frees soonest, so a slow, delayed or paused origin holds no consumer
that other origins need. What a consumer does with a request is ``crawler.worker``'s.

Stop rule: the crawl is complete when the frontier is finished (see
``crawler.frontier``: no producer running and nothing outstanding) and the queue has
joined. ``max_pages`` ends it once that many requests were handed out and have
finished; the time limit, ``stop()`` (signals) and a broken page iterator end it at once:
in-flight requests are cancelled and returned to the state, and every record already
produced is written.

Every long-lived task is started by ``_spawn``, which names it and routes its failure to
the crawl (``_fail``: logged once, the crawl stops, ``run`` raises it).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from crawler.access import Access
from crawler.archive import NullArchive, check_archive, open_archive
from crawler.config import CrawlConfig
from crawler.coordination import LocalCoordinator, open_backend
from crawler.errors import CrawlerError, OutputClosed, WriteError
from crawler.fetcher import Fetcher
from crawler.frontier import Frontier
from crawler.host_policy import HostPolicy
from crawler.producers import Producers
from crawler.reading import PageReader
from crawler.reconcile import open_output
from crawler.scope import Scope
from crawler.sinks import NullSink
from crawler.stats import StatsRecorder
from crawler.urls import split_userinfo, validate_seed
from crawler.worker import RequestWorker, fetch_in_turn

if TYPE_CHECKING:
    from collections.abc import Coroutine, Iterable, Sequence

    from crawler.archive import Archive
    from crawler.coordination import Coordinator
    from crawler.fetcher import FollowCheck
    from crawler.models import FetchResult, Request
    from crawler.sinks import Sink
    from crawler.state import StateBackend
    from crawler.stats import CrawlProgress, CrawlStats
    from crawler.worker import OnPage

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
        """Prepare a crawl of ``seeds`` and ``seed_files`` (as ``crawler.api.crawl``).

        ``state`` is a local state backend (memory, SQLite) to use instead of ``config``'s.

        Raises:
            SeedError: A seed is not an absolute http(s) URL.
        """
        config = config or CrawlConfig()
        seeds, config = _take_credentials(list(seeds), config)
        self.config = config
        for url in seeds:
            validate_seed(url, max_length=config.max_url_length)  # the caller's mistake: raise
        self._on_page = on_page
        self._stats = StatsRecorder()
        scope = Scope(config)
        self._access = Access(config, scope)
        self._reader = PageReader(config)  # a bad --field, a missing extra: raise now
        check_archive(config)
        self._state, self._coordinator = _backend(config, scope, state)
        self._identity = self._coordinator.identity(seeds, seed_files)
        self._frontier = Frontier(config, self._state, scope, self._stats, self._coordinator)
        capacity = self._coordinator.schedule_capacity(config.schedule_size)
        self._policy = HostPolicy(config, self._fetch, self._coordinator.gate, capacity)
        self._producers = Producers(
            config,
            seeds,
            seed_files,
            frontier=self._frontier,
            coordinator=self._coordinator,
            robots=self._policy.robots_in_turn,
            fetch=self._policy.fetch,
        )
        self._frontier.add_scope_hosts(config.sitemaps)
        self._init_tasks_state()

    def _init_tasks_state(self) -> None:
        config = self.config
        self._queue: asyncio.Queue[Request] = asyncio.Queue(config.effective_queue_size)
        self._free_consumers = asyncio.Semaphore(config.concurrency)
        self._staged: list[Request] = []
        self._in_flight: set[Request] = set()
        # Keys whose record is in the output but whose request is not acked: never released.
        self._written: set[str] = set()
        self._stop = asyncio.Event()
        self._failure: BaseException | None = None
        self._output_closed = False
        self._sink: Sink = NullSink()
        self._archive: Archive = NullArchive()
        self._fetcher: Fetcher | None = None
        self._worker: RequestWorker | None = None
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

    def start(self) -> asyncio.Task[CrawlStats]:
        """Run the crawl in a task of its own (the async-iterator form uses this)."""
        return asyncio.create_task(self.run(), name="crawler-run")

    async def run(self) -> CrawlStats:
        """Run the crawl to its end and return its statistics.

        Raises:
            OutputError: The output cannot be opened or written.
            RuntimeError: The crawl was already run.
        """
        self._claim_run()
        async with self._state:
            resumed = await self._state.bind(self._identity, force=self.config.force_state)
            if self.config.recrawl and await self._state.begin_generation():
                log.info("recrawl: a new generation of the crawl starts")
                resumed = False  # a new snapshot: the output and the archive start anew
            taken_over = await self._frontier.resume()
            await self._coordinator.join()
            unconfirmed = self._coordinator.unconfirmed(taken_over)
            done = (await self._state.counts()).done if self._coordinator.owns_output else -1
            self._sink, self._written = await open_output(
                self.config.output,
                self.config.output_format,
                resumed=resumed,
                unconfirmed=unconfirmed,
                done=done,
                force=self.config.force_state,
            )
            try:
                self._archive = await asyncio.to_thread(
                    open_archive, self.config, resumed=resumed, done=done,
                    force=self.config.force_state,
                )  # fmt: skip
                async with Fetcher(self.config, access=self._access) as fetcher:
                    self._fetcher = fetcher
                    await self._supervise(fetcher)
                if self._stats.stop_reason == "complete" and self._failure is None:
                    await self._state.finish_generation()  # ``--recrawl`` starts the next
            finally:
                self._close_output()
        return self._result()

    async def seed(self) -> int:
        """Only seed the crawl, for other processes to crawl: return how many URLs were new.

        Raises:
            ConfigError: No other process can crawl this state (see ``check_seed_only``).
            RuntimeError: The crawl was already run.
        """
        self._coordinator.check_seed_only()
        self._claim_run()
        async with self._state:
            await self._state.bind(self._identity, force=self.config.force_state)
            async with Fetcher(self.config, access=self._access) as fetcher:
                self._fetcher = fetcher
                keeper = self._spawn(self._coordinator.keep_alive(), "crawler-keep-alive")
                try:
                    producers = await self._start_producers()
                    await asyncio.gather(*producers)
                finally:
                    keeper.cancel()
                    await asyncio.gather(keeper, return_exceptions=True)
                if not producers:  # nothing to seed: the crawl is seeded as it is
                    await self._coordinator.seeding_started()
                    await self._coordinator.seeding_done()
        self._result()
        return self._frontier.outstanding

    def _close_output(self) -> None:
        for close in (self._sink.close, self._archive.close):
            try:
                close()
            except WriteError as exc:
                if self._failure is None:  # else the first failure is the one to tell
                    self._failure = exc

    def _claim_run(self) -> None:
        if self._started:
            raise RuntimeError("a Crawl can run only once")
        self._started = True

    def _result(self) -> CrawlStats:
        if self._failure is not None:
            raise self._failure
        return self._stats.snapshot()

    async def _supervise(self, fetcher: Fetcher) -> None:
        self._worker = RequestWorker(
            self.config,
            fetcher=fetcher,
            frontier=self._frontier,
            policy=self._policy,
            gate=self._coordinator.gate,
            sink=self._sink,
            archive=self._archive,
            stats=self._stats,
            on_page=self._on_page,
            written=self._written,
            reader=self._reader,
            lastmods=self._producers.lastmods,
        )
        tasks = await self._start_tasks()
        try:
            reason = await _wait_for_end(self._frontier, self._stop, self.config.time_limit)
            if reason == "complete" and self._frontier.parked:
                reason = "host_unavailable"  # all done but what waits for the next run
            self._stats.stop_reason = "output_closed" if self._output_closed else reason
            if self._stats.stop_reason in ("complete", "max_pages", "host_unavailable"):
                await self._queue.join()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            parked = self._frontier.parked
            await self._release_unfinished()
            pending = (await self._state.counts()).pending - parked
            if pending and self._stats.stop_reason == "max_pages":
                self._stats.skip("limit_reached", pending)

    async def _start_tasks(self) -> list[asyncio.Task[None]]:
        tasks = await self._start_producers()
        tasks += [
            self._spawn(self._consume(), f"crawler-consumer-{i}")
            for i in range(self.config.concurrency)
        ]
        tasks.append(self._spawn(self._feed(), "crawler-feeder"))
        tasks.append(self._spawn(self._dispatch(), "crawler-dispatcher"))
        tasks.append(self._spawn(self._renew_leases(), "crawler-lease-renewer"))
        tasks.append(self._spawn(self._coordinator.keep_alive(), "crawler-keep-alive"))
        tasks.append(self._spawn(self._coordinator.listen(self._frontier.wake), "crawler-events"))
        self._frontier.check_finished()
        return tasks

    async def _start_producers(self) -> list[asyncio.Task[None]]:
        return [self._spawn(work, name) for name, work in await self._producers.start()]

    def _spawn(self, work: Coroutine[object, object, None], name: str) -> asyncio.Task[None]:
        """Start a long-lived task named ``name``; its failure stops the crawl."""
        task = asyncio.create_task(work, name=name)
        task.add_done_callback(self._settled)
        return task

    def _settled(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and isinstance(exc := task.exception(), Exception):
            self._fail(exc)

    async def _release_unfinished(self) -> None:
        # A request whose record is written stays leased: the next run takes it over.
        scheduled = self._policy.scheduler.drain()
        queued = [*self._staged, *_drain(self._queue), *self._in_flight, *scheduled]
        queued += self._frontier.unpark()
        unfinished = [r for r in queued if r.key not in self._written]
        self._staged.clear()
        self._in_flight.clear()
        if unfinished:
            await self._frontier.release(unfinished)

    def _fail(self, exc: BaseException) -> None:
        if isinstance(exc, OutputClosed):  # `crawl ... | head`: a way to stop, not a bug
            log.debug("%s: stopping", exc)
            self._output_closed = True
            self.stop()
            return
        if isinstance(exc, CrawlerError):  # an operational failure: run() raises it, once
            log.debug("stopping the crawl: %s", exc)
        else:
            log.error("crawler bug, stopping the crawl", exc_info=exc)
        if self._failure is None:
            self._failure = exc
        self.stop()

    async def _fetch(self, request: Request, follow: FollowCheck | None = None) -> FetchResult:
        """Fetch robots.txt or a sitemap, in a turn of its origin's host gate."""
        assert self._fetcher is not None
        result = await fetch_in_turn(self._fetcher, self._coordinator.gate, request, follow)
        self._archive.write(result.exchanges)
        return result

    async def _feed(self) -> None:
        """Lease work from the frontier into the per-host scheduler, as room allows."""
        scheduler = self._policy.scheduler
        if self.config.trust_lastmod:  # a page is judged by its sitemap lastmod when leased
            await self._producers.sitemaps_read.wait()
        while True:
            room = await scheduler.wait_for_room(self._coordinator.lease_batch)
            batch = await self._frontier.next_batch(min(room, self.config.effective_queue_size))
            if not batch:
                return
            scheduler.add(batch)

    async def _renew_leases(self) -> None:
        """Renew the leases of requests this crawl holds, which may wait long for a slow host.

        All of them: waiting in the scheduler, queued, or in a consumer's hands.
        """
        # A third of the lease: two renewals may be late before a lease can expire.
        period = self.config.lease_seconds / 3
        while True:
            await asyncio.sleep(period)
            await self._frontier.renew(self._frontier.held())

    async def _dispatch(self) -> None:
        """Hand a free consumer the request of the origin whose slot frees soonest."""
        assert self._worker is not None
        while True:
            await self._free_consumers.acquire()
            dispatch = await self._policy.scheduler.next()
            if dispatch.skip is not None:
                self._free_consumers.release()
                await self._worker.skip(dispatch.request, dispatch.skip)
                continue
            self._staged = [dispatch.request]
            # The only put() into the queue: backpressure stops here, not in a consumer.
            await self._queue.put(dispatch.request)
            self._staged = []

    async def _consume(self) -> None:
        assert self._worker is not None
        while True:
            request = await self._queue.get()
            self._in_flight.add(request)
            try:
                await self._worker.process(request)
            except Exception as exc:
                self._fail(exc)
            else:
                self._in_flight.discard(request)
            finally:
                self._free_consumers.release()
                self._queue.task_done()


async def _wait_for_end(frontier: Frontier, stop: asyncio.Event, time_limit: float | None) -> str:
    """Wait until the frontier is finished, ``stop`` is set or ``time_limit`` has passed."""
    finished = asyncio.create_task(frontier.finished.wait(), name="crawler-finished")
    stopped = asyncio.create_task(stop.wait(), name="crawler-stopped")
    try:
        done, _ = await asyncio.wait(
            {finished, stopped}, timeout=time_limit, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        finished.cancel()
        stopped.cancel()
    if stopped in done:
        return "stopped"
    if finished in done:
        return "max_pages" if frontier.budget_spent else "complete"
    return "time_limit"


def _drain(queue: asyncio.Queue[Request]) -> list[Request]:
    """Take every request out of ``queue`` (the crawl is stopping), marking each done."""
    drained = []
    while not queue.empty():
        drained.append(queue.get_nowait())
        queue.task_done()
    return drained


def _backend(
    config: CrawlConfig, scope: Scope, state: StateBackend | None
) -> tuple[StateBackend, Coordinator]:
    """Return the state and coordinator of ``config``, or a local one around ``state``."""
    if state is None:
        return open_backend(config, scope)
    return state, LocalCoordinator(state, config)


def _take_credentials(seeds: list[str], config: CrawlConfig) -> tuple[list[str], CrawlConfig]:
    """Take ``user:password@`` out of the seeds: the same as ``auth``, never written."""
    stripped, found = [], None
    for url in seeds:
        bare, credentials = split_userinfo(url.strip())
        stripped.append(bare)
        found = found or credentials
    if found is not None and config.auth is None:
        config = config.replace(auth=found)
    return stripped, config
