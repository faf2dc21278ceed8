"""The work of one request: robots.txt → the origin's gate turn → fetch → pause or finish.

A consumer hands each request it takes from the queue to ``RequestWorker.process``:

1. the host policy gives the origin's robots.txt rules (fetching them the first time);
   a disallowed request is skipped, and the pages of an origin that did not answer are
   recorded with that error, unrequested;
2. the request takes a turn of its origin's host gate (every process's limit) and is
   fetched; redirects are followed only where admission, dedup and robots.txt allow;
3. a 429 or 503 hands it back to the scheduler with its origin paused, while retries last;
   a request of an origin given up for the run is parked for the next one (a durable
   state of this process) or recorded ``host_unavailable``;
4. otherwise it is finished: parsed, shown to ``on_page``, and committed through the
   frontier, *write then ack*: its exchanges are archived and its records written
   (``keep``), and its links admitted
   in the order the coordinator's commit promises (``crawler.coordination``).

``written`` holds the keys whose record is in the output but whose request is not acked:
such a request is never written twice and never released (the next run takes it over).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from crawler.host_policy import PAUSE_STATUSES
from crawler.models import NOT_MODIFIED, RECORD_FIELDS, FetchResult
from crawler.records import elapsed_ms, make_record, make_skip_record
from crawler.recrawl import change_of, snapshot_of
from crawler.robots import x_robots_nofollow
from crawler.urls import canonicalize, origin_of

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from crawler.archive import Archive
    from crawler.config import CrawlConfig
    from crawler.coordination import HostGate, Slot
    from crawler.fetcher import Fetcher, FollowCheck
    from crawler.frontier import Frontier
    from crawler.host_policy import HostPolicy
    from crawler.models import (
        Exchange,
        Page,
        ParsedHtml,
        Record,
        Request,
        SkipReason,
        Snapshot,
    )
    from crawler.reading import PageReader
    from crawler.sinks import Sink
    from crawler.stats import StatsRecorder

    OnPage = Callable[[Page], Any]

log = logging.getLogger(__name__)


async def fetch_in_turn(
    fetcher: Fetcher, gate: HostGate, request: Request, follow: FollowCheck | None = None
) -> FetchResult:
    """Fetch ``request`` (robots.txt, a sitemap) in a turn of its origin's host gate."""
    async with gate.slot(request.url) as slot:
        result = await fetcher.fetch(request, follow)
        slot.status = result.status
        return result


class RequestWorker:
    """Process leased requests into records (see the module docstring)."""

    def __init__(
        self,
        config: CrawlConfig,
        *,
        fetcher: Fetcher,
        frontier: Frontier,
        policy: HostPolicy,
        gate: HostGate,
        sink: Sink,
        archive: Archive,
        stats: StatsRecorder,
        on_page: OnPage | None,
        written: set[str],
        reader: PageReader,
        lastmods: Mapping[str, datetime] | None = None,
    ) -> None:
        self._config = config
        self._reader = reader
        self._fetcher = fetcher
        self._frontier = frontier
        self._policy = policy
        self._gate = gate
        self._sink = sink
        self._archive = archive
        self._stats = stats
        self._on_page = on_page
        self._written = written
        self._lastmods = lastmods if lastmods is not None else {}  # filled as sitemaps are read
        # A durable state keeps what the next generation compares with (``--recrawl``).
        self._snapshots = config.state is not None

    async def process(self, request: Request) -> None:
        """Fetch ``request`` in its origin's slot, and give the slot back whatever happens."""
        origin = origin_of(request.url)
        fetched, status = False, None
        try:
            if self._config.trust_lastmod and self._unchanged_by_lastmod(request):
                await self._finish(request, _unrequested(request), None)
                return
            rules, wait = await self._policy.rules(origin)
            if rules is not None and rules.unreachable is not None:
                await self._finish(request, _unreachable(request, rules.unreachable), None)
                return
            if rules is not None and not self._policy.allowed(rules, request):
                await self.skip(request, "robots")
                return
            given_up = self._policy.unavailable(request)
            if given_up is not None and self._frontier.parks:
                self._frontier.park(request)
                return
            if given_up is not None:
                await self._finish(request, given_up, None)
                return
            fetched = True
            if wait:  # robots.txt was this origin's first request: Crawl-delay holds after it
                self._policy.wait(request, wait)
                return
            async with self._gate.slot(request.url) as slot:
                result = await self._fetcher.fetch(
                    request, follow=self._follow_from(request), defer=PAUSE_STATUSES
                )
                status = slot.status = result.status
                finished = await self._policy.pause(request, result)
                if finished is not None:
                    await self._finish(request, finished, slot)
        finally:
            self._policy.scheduler.release(origin, fetched=fetched, status=status)

    async def skip(self, request: Request, reason: SkipReason) -> None:
        """Count a leased request not crawled, record it if asked, and complete it."""
        self._stats.skip(reason)
        if request.depth == 0:
            log.warning("seed %s not crawled: %s", request.url, reason)
            self._stats.seed(reason)
        records = []
        if self._config.log_skipped:
            records = [make_skip_record(request, reason, fields=self._config.record_fields)]
        await self._commit(request, records, lambda: None)

    async def _finish(self, request: Request, result: FetchResult, slot: Slot | None) -> None:
        page, parsed = self._reader.read(result)
        if self._config.recrawl:
            page.change = change_of(result, page, request.previous)
        links = self._links_to_follow(parsed, result) if parsed is not None else ()
        if self._config.follow_canonical and await self._duplicate(page, request):
            links = ()  # its canonical page, crawled or to be, has the same links
        records = await self._records(page, result)
        snapshot = snapshot_of(result, page, request.previous) if self._snapshots else None

        def count() -> None:
            size, took = len(result.body), elapsed_ms(result)
            self._stats.page(result.status, page.error, size, url=page.url, elapsed_ms=took)
            if page.callback_error is not None and page.error != "callback":
                self._stats.error("callback")  # beside the fetch's own error class
            if request.depth == 0:
                self._stats.seed("failed" if result.status is None else "crawled")

        await self._commit(
            request, records, count, links=links, error=page.error, slot=slot,
            exchanges=result.exchanges, snapshot=snapshot,
        )  # fmt: skip

    async def _commit(
        self,
        request: Request,
        records: list[Record],
        count: Callable[[], None],
        *,
        links: Iterable[str] = (),
        error: str | None = None,
        slot: Slot | None = None,
        exchanges: Sequence[Exchange] = (),
        snapshot: Snapshot | None = None,
    ) -> None:
        def keep() -> None:
            if records and request.key not in self._written:
                self._archive.write(exchanges)  # before the record: an acked page is archived
                self._sink.write(records)
                self._written.add(request.key)
            count()

        await self._frontier.complete(
            request, keep, links=links, records=records, error=error, slot=slot,
            snapshot=snapshot,
        )  # fmt: skip
        self._written.discard(request.key)

    def _unchanged_by_lastmod(self, request: Request) -> bool:
        """Whether the sitemap says the page has not changed since its last fetch."""
        previous, lastmod = request.previous, self._lastmods.get(request.key)
        if previous is None or not previous.ok or previous.fetched_at is None or lastmod is None:
            return False
        return lastmod <= datetime.fromisoformat(previous.fetched_at)

    async def _duplicate(self, page: Page, request: Request) -> bool:
        """Queue the page's canonical URL if new; say (and mark) whether it was seen already."""
        canonical = page.canonical
        if canonical is None or canonicalize(canonical) == request.key:
            return False
        if await self._frontier.offer_canonical(canonical, request) is False:
            page.duplicate_of = canonical
            return True
        return False

    def _follow_from(self, request: Request) -> FollowCheck:
        """Return the redirect check of ``request``: admission and dedup, then robots.txt."""

        async def follow(target: str) -> str | None:
            reason = await self._frontier.check_redirect(target, request)
            if reason is None and not await self._policy.allows(target):
                self._stats.skip("robots")
                return "robots"
            return reason

        return follow

    def _links_to_follow(self, parsed: ParsedHtml, result: FetchResult) -> tuple[str, ...]:
        if not self._config.respect_nofollow:
            return parsed.links
        if parsed.nofollow or x_robots_nofollow(result.headers, self._config.agent):
            return ()
        return tuple(link for link in parsed.links if link not in parsed.nofollow_links)

    async def _records(self, page: Page, result: FetchResult) -> list[Record]:
        if self._on_page is None:
            return [self._record(result, page)]
        try:
            returned = self._on_page(page)
            if inspect.isawaitable(returned):
                returned = await returned
        except Exception as exc:
            log.warning("on_page failed for %s: %r", page.url, exc)
            page.callback_error = f"{type(exc).__name__}: {exc}"
            if page.error is None:  # the fetch's own error, if any, stays the record's
                page.error, page.error_detail = "callback", page.callback_error
            return [self._record(result, page)]
        return _returned_records(returned) or [self._record(result, page)]

    def _record(self, result: FetchResult, page: Page) -> Record:
        fields = self._config.record_fields
        if fields == RECORD_FIELDS:
            return make_record(result, page)
        outlinks = (
            [u for u in page.links if self._frontier.in_scope(u)] if "outlinks" in fields else []
        )
        return make_record(result, page, fields=fields, outlinks=outlinks)


def _unreachable(request: Request, robots_failure: FetchResult) -> FetchResult:
    """The result of a page not requested because its host did not answer for robots.txt."""
    return replace(
        robots_failure, request=request, final_url=request.url, elapsed=0.0, exchanges=()
    )


def _unrequested(request: Request) -> FetchResult:
    """The result of a page not requested because its sitemap lastmod says unchanged: a
    304 of no time, so that its record is the snapshot's, as a 304's is."""
    return FetchResult(
        request=request, final_url=request.url, status=NOT_MODIFIED, headers={},
        content_type=None, charset=None, body=b"", elapsed=0.0, fetched_at=datetime.now(UTC),
    )  # fmt: skip


def _returned_records(returned: object) -> list[Record]:
    if returned is None:
        return []
    if isinstance(returned, Mapping):
        return [dict(returned)]
    if isinstance(returned, Iterable) and not isinstance(returned, str | bytes):
        return [dict(r) for r in returned]
    raise TypeError(f"on_page must return None, a mapping or mappings, not {type(returned)!r}")
