"""The producers of a crawl: seed URLs, seeds files and sitemaps, into the frontier.

Each producer is a coroutine that the engine runs as a task of its own. The frontier's
producer count is the one count of seeding in progress: the crawl cannot finish while it
is above zero, and the coordinator is told when seeding starts and when the last
producer is done (then the crawl is *seeded*, and may finish).

A seeds file that cannot be read ends its producer with one logged line, not the crawl.
Sitemaps obey the scope as pages do: a child of a sitemap index, a redirect of a sitemap
and a robots.txt ``Sitemap:`` line on a host out of scope are not fetched (the hosts of
the sitemaps given in the configuration are in scope). Sitemaps, and the robots.txt read
for them, are fetched in turns of their origin's slots, as pages are (``HostPolicy``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from crawler.models import Request
from crawler.seeds import from_file, from_sitemaps, from_urls
from crawler.urls import canonicalize, origin_of

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
    from datetime import datetime

    from crawler.config import CrawlConfig
    from crawler.coordination import Coordinator
    from crawler.fetcher import FollowCheck
    from crawler.frontier import Frontier
    from crawler.models import FetchResult
    from crawler.robots import RobotsRules

    Fetch = Callable[[Request, FollowCheck], Awaitable[FetchResult]]
    Robots = Callable[[str], Awaitable[RobotsRules]]
    Work = Coroutine[object, object, None]

log = logging.getLogger(__name__)


class Producers:
    """The crawl's seed producers, started together.

    Args:
        config: Sitemaps and limits.
        seeds: Seed URLs given directly.
        seed_files: Files (``-`` for stdin) of seed URLs.
        frontier: Where the URLs go.
        coordinator: Told when seeding starts and ends; shares the seeds' hosts.
        robots: Gives an origin's robots.txt, for the ``Sitemap:`` lines of the seeds'.
        fetch: Fetches a sitemap (in a turn of its origin's slots).
    """

    def __init__(
        self,
        config: CrawlConfig,
        seeds: Sequence[str],
        seed_files: Sequence[str],
        *,
        frontier: Frontier,
        coordinator: Coordinator,
        robots: Robots,
        fetch: Fetch,
    ) -> None:
        self._config = config
        self._seeds = list(seeds)
        self._seed_files = list(seed_files)
        self._frontier = frontier
        self._coordinator = coordinator
        self._robots = robots
        self._fetch = fetch
        self.lastmods: dict[str, datetime] = {}
        """Each sitemap page's ``<lastmod>``, by canonical key (with ``trust_lastmod``)."""
        self.sitemaps_read = asyncio.Event()
        """Set once every sitemap was read (at once when there are none)."""

    async def start(self) -> list[tuple[str, Work]]:
        """Count the producers as running, mark seeding started; return them, named."""
        works: list[tuple[str, Work]] = []
        sources = [from_urls(self._seeds)] if self._seeds else []
        sources += [from_file(path) for path in self._seed_files]
        for i, source in enumerate(sources):
            works.append((f"crawler-producer-{i}", self._produce(source)))
        config = self._config
        if config.sitemaps or (config.sitemaps_from_robots and self._seeds):
            works.append(("crawler-producer-sitemaps", self._produce_sitemaps()))
        else:
            self.sitemaps_read.set()
        if works:
            await self._coordinator.seeding_started()
        for _ in works:
            self._frontier.producer_started()
        return works

    async def _produce(self, source: AsyncIterator[list[str]]) -> None:
        try:
            async for batch in source:
                await self._coordinator.share_seeds(batch)
                await self._frontier.add_seeds(batch)
        except OSError as exc:
            log.error("%s", exc)
        finally:
            await self._done()

    async def _produce_sitemaps(self) -> None:
        found: dict[str, datetime] | None = {} if self._config.trust_lastmod else None
        try:
            await self._coordinator.share_seeds(self._config.sitemaps)
            roots = [*self._config.sitemaps, *await self._robots_sitemaps()]
            source = from_sitemaps(
                roots, self._fetch_sitemap, max_bytes=self._config.max_bytes, lastmods=found
            )
            async for batch in source:
                await self._frontier.add_found(batch)
        finally:
            self.lastmods.update((canonicalize(url), when) for url, when in (found or {}).items())
            self.sitemaps_read.set()
            await self._done()

    async def _done(self) -> None:
        self._frontier.producer_done()
        if not self._frontier.producers:
            await self._coordinator.seeding_done()

    async def _robots_sitemaps(self) -> list[str]:
        if not self._config.sitemaps_from_robots:
            return []
        origins = dict.fromkeys(origin_of(url.strip()) for url in self._seeds)
        listed = [url for origin in origins for url in (await self._robots(origin)).sitemaps]
        return [url for url in listed if self._in_scope(url)]

    def _in_scope(self, url: str) -> bool:
        if self._frontier.in_scope(url):
            return True
        log.info("sitemap %s not fetched: out_of_scope", url)
        return False

    def _follow(self, target: str) -> str | None:
        return None if self._in_scope(target) else "out_of_scope"

    async def _fetch_sitemap(self, url: str) -> bytes | None:
        if not self._in_scope(url):
            return None
        result = await self._fetch(Request(url=url, key=url), self._follow)
        if result.error is not None or result.status != 200:
            log.warning("sitemap %s: %s", url, result.error_detail or f"HTTP {result.status}")
            return None
        return result.body
