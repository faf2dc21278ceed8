"""The host policy: what each origin allows a request, decided in one place.

- **robots.txt** (when obeyed): fetched once per origin by the first request there, its
  ``Crawl-delay`` applied to the origin's slots here and passed on to the host gate.
  It answers three questions at three moments: *before the slot* (``admit``: skip a
  request that rules already known disallow, so it takes no turn), *before the fetch*
  (``rules``: the origin's rules, fetched if need be; an origin that did not answer has
  its pages recorded with that error), and *on a redirect* (``allows``).
- **the fetches of producers** (sitemaps, and the robots.txt whose ``Sitemap:`` lines
  they read): each takes a turn of its origin's slots as a page does (``fetch``,
  ``robots_in_turn``), after the origin's robots.txt, so Crawl-delay spaces every request.
- **the per-host page cap** (``max_pages_per_host``): counted at ``admit``, first
  attempts only.
- **429 and 503**: ``pause`` hands the request back to the scheduler with its origin
  paused for ``Retry-After`` or the back-off, while retries last, instead of sleeping in
  a consumer; the host gate is told of the pause too. A ``Retry-After`` beyond
  ``max_retry_after`` gives that URL up at once (the record says why), without pausing the
  origin; an origin that answers so ``UNAVAILABLE_AFTER`` times running is *unavailable*
  for the rest of the run: its other pages are recorded as ``host_unavailable``, unrequested.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from crawler.fetcher import parse_retry_after, retry_delay
from crawler.politeness import HostScheduler, HostSlots
from crawler.robots import RobotsCache
from crawler.urls import origin_of

if TYPE_CHECKING:
    from crawler.config import CrawlConfig
    from crawler.coordination import HostGate
    from crawler.fetcher import FollowCheck
    from crawler.models import FetchResult, Request, SkipReason
    from crawler.robots import RobotsFetch, RobotsRules

log = logging.getLogger(__name__)

PAUSE_STATUSES: Final = frozenset({429, 503})
"""Statuses that pause the origin and hand the request back, rather than retry in place."""

UNAVAILABLE_AFTER: Final = 3
"""Answers in a row with a ``Retry-After`` beyond the cap after which an origin is given up:
one may be a blip; three say "not today", and asking again only holds its pages up."""


class HostPolicy:
    """Robots.txt, the per-host page cap and 429/503 pauses, around the per-host scheduler.

    Args:
        config: The crawl's configuration.
        fetch: How robots.txt is fetched (in the origin's gate turn).
        gate: The host gate, which shares delays and pauses with other processes.
        capacity: The most leased requests waiting in the scheduler.
    """

    def __init__(
        self, config: CrawlConfig, fetch: RobotsFetch, gate: HostGate, capacity: int
    ) -> None:
        self._config = config
        self._gate = gate
        self._fetch = fetch
        self.robots = RobotsCache(fetch, config.agent)
        slots = HostSlots(
            concurrency=config.per_host_concurrency,
            delay=config.delay,
            max_delay=config.max_crawl_delay,
            probe=config.obey_robots,
        )
        self.scheduler = HostScheduler(slots, capacity, self.admit)
        self._host_pages: Counter[str] = Counter()
        self._put_off: Counter[str] = Counter()  # origin → Retry-After beyond the cap, in a row
        self._unavailable: dict[str, FetchResult] = {}  # origin → the answer that gave it up

    def admit(self, request: Request) -> SkipReason | None:
        """Decide, just before a request takes its host's slot, whether to skip it."""
        origin = origin_of(request.url)
        if self._config.obey_robots:
            rules = self.robots.known(origin)
            if rules is not None and rules.unreachable is None and not self.allowed(rules, request):
                return "robots"
        limit = self._config.max_pages_per_host
        if limit is not None and request.attempt == 0:
            if self._host_pages[origin] >= limit:
                return "limit_reached"
            self._host_pages[origin] += 1
        return None

    async def rules(self, origin: str) -> tuple[RobotsRules | None, float]:
        """Return the origin's rules (``None`` when ignored), and apply its Crawl-delay.

        Returns:
            The rules, and the seconds the asking request must still wait before its own
            fetch: the Crawl-delay when it has just fetched robots.txt (that request is
            the origin's first, and the delay holds between it and the next).
        """
        if not self._config.obey_robots:
            return None, 0.0
        fetched_here = self.robots.known(origin) is None
        rules = await self.robots.get(origin)
        crawl_delay = await self._configure(origin, rules)
        wait = min(crawl_delay or 0.0, self._config.max_crawl_delay) if fetched_here else 0.0
        return rules, wait

    async def _configure(self, origin: str, rules: RobotsRules) -> float | None:
        """Apply the origin's Crawl-delay here and at the host gate; return it."""
        crawl_delay = rules.crawl_delay(self._config.agent)
        self.scheduler.configure(origin, crawl_delay)
        await self._gate.configure(origin, crawl_delay)
        return crawl_delay

    async def robots_in_turn(self, origin: str) -> RobotsRules:
        """Return the origin's robots.txt for a producer, fetched in a turn of its slots."""
        rules = self.robots.known(origin)
        if rules is not None:
            return rules
        async with self.scheduler.turn(origin) as turn:
            turn.fetched = self.robots.known(origin) is None  # else a page fetched it meanwhile
            rules = await self.robots.get(origin)
            if self._config.obey_robots:
                await self._configure(origin, rules)
        return rules

    async def fetch(self, request: Request, follow: FollowCheck) -> FetchResult:
        """Fetch a producer's request (a sitemap) in a turn of its origin's slots."""
        origin = origin_of(request.url)
        if self._config.obey_robots:
            await self.robots_in_turn(origin)  # its Crawl-delay holds before this request
        async with self.scheduler.turn(origin) as turn:
            result = await self._fetch(request, follow)
            turn.status = result.status
        return result

    def wait(self, request: Request, seconds: float) -> None:
        """Hand ``request`` back to the scheduler, its origin resting ``seconds`` first."""
        self.scheduler.requeue(request, seconds)

    def allowed(self, rules: RobotsRules, request: Request) -> bool:
        """Return whether ``rules`` let ``request`` be fetched."""
        return rules.allowed(request.url, self._config.agent)

    async def allows(self, url: str) -> bool:
        """Return whether robots.txt lets a redirect go to ``url`` (always, when ignored)."""
        return not self._config.obey_robots or await self.robots.allowed(url)

    def unavailable(self, request: Request) -> FetchResult | None:
        """Return the result to record for ``request`` if its origin was given up, else ``None``."""
        gave_up = self._unavailable.get(origin_of(request.url))
        if gave_up is None:
            return None
        detail = f"not requested: its origin answered {UNAVAILABLE_AFTER} times to come back later"
        return replace(
            gave_up, request=request, final_url=request.url, status=None, headers={}, body=b"",
            elapsed=0.0, error="host_unavailable", error_detail=detail,
        )  # fmt: skip

    async def pause(self, request: Request, result: FetchResult) -> FetchResult | None:
        """Hand a 429/503 back to the scheduler with its origin paused, while retries last.

        Returns:
            ``None`` when the request was handed back; else the result to finish it with.
        """
        origin = origin_of(request.url)
        if result.status not in PAUSE_STATUSES:
            self._put_off.pop(origin, None)
            return result
        header = result.headers.get("Retry-After")
        retry_after = parse_retry_after(header, datetime.now(UTC))
        if retry_after is not None and retry_after > self._config.max_retry_after:
            return self._give_up(origin, result, header)
        if request.attempt >= self._config.retries:
            return result
        pause = retry_delay(
            request.attempt,
            backoff=self._config.backoff,
            retry_after=retry_after,
            cap=self._config.max_retry_after,
        )
        log.info("%s answered %s: pausing %s for %.2fs", request.url, result.status, origin, pause)
        self.scheduler.requeue(replace(request, attempt=request.attempt + 1), pause)
        await self._gate.pause(request.url, pause)
        return None

    def _give_up(self, origin: str, result: FetchResult, header: str | None) -> FetchResult:
        """Give a URL up at once: waiting as long as its server asks would stall its origin."""
        cap = self._config.max_retry_after
        detail = f"Retry-After: {header} is beyond --max-retry-after {cap:g}s: not retried"
        self._put_off[origin] += 1
        if self._put_off[origin] >= UNAVAILABLE_AFTER and origin not in self._unavailable:
            log.warning(
                "%s asked %d times to come back later: giving it up", origin, UNAVAILABLE_AFTER
            )
            self._unavailable[origin] = result
        return replace(result, error_detail=detail)
