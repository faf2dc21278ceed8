"""Admission: whether a URL found anywhere becomes a request, or why not.

Order of checks for a found link: scheme and length, depth, scope, traps, then the
canonical key (deduplication is the state backend's, after admission: scope before dedup
because it is cheaper and a URL out of scope never needs a seen-set entry). Each refusal
is a ``SkipReason`` counted in the stats, never an exception.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import TYPE_CHECKING, Final

from crawler.errors import SeedError
from crawler.models import Request
from crawler.urls import (
    HTTP_SCHEMES,
    canonicalize,
    defragment,
    host_of,
    origin_of,
    scheme_of,
    segment_repeats,
    split_userinfo,
    validate_seed,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

    from crawler.config import CrawlConfig
    from crawler.models import SkipReason
    from crawler.scope import Scope
    from crawler.stats import StatsRecorder

log = logging.getLogger(__name__)

# Hosts repeat on every link; caching the split keeps scope checks cheap.
_cached_host = lru_cache(maxsize=4096)(host_of)

SETTLED_MEMO_SIZE: Final = 2**17
"""Link spellings remembered as settled (admitted or refused for good), about 15 MB at most.

Most links of a page were seen before (navigation, footers): a hit skips scope checks,
canonicalization and the state lookup. Only outcomes that cannot change are remembered:
a URL admitted once is a duplicate forever, and scheme and length are fixed; the scope
only grows (a seed from a slow seeds file, hosts other processes seed), and the memo is
forgotten when it does. Depth and the page budget are checked before the memo.
"""


class Admission:
    """Turn URLs into requests (not yet deduplicated), counting every refusal.

    Args:
        config: Depth, length and trap limits.
        scope: The crawl's scope; seeds' hosts join it.
        stats: Where refusals are counted.
    """

    def __init__(self, config: CrawlConfig, scope: Scope, stats: StatsRecorder) -> None:
        self._config = config
        self._scope = scope
        self._stats = stats
        self._settled: dict[str, SkipReason] = {}
        self._settled_scope = scope.generation

    def seeds(self, urls: Iterable[str], *, spent: bool) -> list[Request]:
        """Return the valid seeds as depth-0 requests; their hosts join the scope."""
        requests: list[Request] = []
        for url in urls:
            try:
                valid, credentials = split_userinfo(validate_seed(url))
                if credentials is not None:  # a seeds file's: never kept, never sent
                    log.warning("seed %s: its user:password@ is ignored (use --user)", valid)
            except SeedError as exc:
                log.warning("%s", exc)
                self._stats.skip("invalid_url")
                self._stats.seed("invalid_url")
                continue
            self._scope.add_seed_host(host_of(valid))
            self._scope.add_seed_origin(origin_of(valid))
            outcome = self._classify(valid, 0, None, spent=spent)
            if not isinstance(outcome, Request):
                log.warning("seed %s not crawled: %s", valid, outcome)
                self._stats.seed(outcome)
            requests += self._counted(outcome)
        return requests

    def found(self, urls: Iterable[str], *, spent: bool) -> list[Request]:
        """Return the URLs found outside any page (a sitemap) that are in scope, at depth 0."""
        requests: list[Request] = []
        for url in urls:
            outcome = self._classify(url, 0, None, spent=spent)
            if not isinstance(outcome, Request):
                self._stats.seed(outcome)
            requests += self._counted(outcome)
        return requests

    def add_scope_hosts(self, urls: Iterable[str]) -> None:
        """Put the hosts of ``urls`` in scope, as seeds' hosts are (e.g. sitemaps' hosts)."""
        for url in urls:
            self._scope.add_seed_host(host_of(url))
            self._scope.add_seed_origin(origin_of(url))

    def links(self, parent: Request, links: Iterable[str], *, spent: bool) -> list[Request]:
        """Return the links of ``parent``'s page that pass every check but dedup.

        Args:
            parent: The request whose page holds the links.
            links: The page's links (absolute).
            spent: Whether the page budget is spent (then nothing is admitted).
        """
        depth = parent.depth + 1
        max_depth = self._config.max_depth
        if max_depth is not None and depth > max_depth:
            self._stats.skip("too_deep", sum(1 for _ in links))
            return []
        if spent:
            self._stats.skip("limit_reached", sum(1 for _ in links))
            return []
        if self._settled_scope != self._scope.generation:
            self._settled.clear()  # refusals made with a smaller scope may not hold now
            self._settled_scope = self._scope.generation
        requests: list[Request] = []
        for url in links:
            reason = self._settled.get(url)
            if reason is None:
                outcome = self._classify(url, depth, parent.url, spent=False)
                self._settle(url, "duplicate" if isinstance(outcome, Request) else outcome)
                if isinstance(outcome, Request):
                    requests.append(outcome)
                    continue
                reason = outcome
            self._stats.skip(reason)
        return requests

    def in_scope(self, url: str) -> bool:
        """Return whether ``url`` passes the scheme, length and scope checks (not depth, dedup)."""
        return self.refusal(url) is None

    def classify(self, url: str, parent: Request) -> Request | SkipReason:
        """Return a link of ``parent``'s page as a request, or why not to follow it (no
        dedup, no cache: for a link offered once, such as a canonical URL)."""
        depth = parent.depth + 1
        if self._config.max_depth is not None and depth > self._config.max_depth:
            return "too_deep"
        return self._classify(url, depth, parent.url, spent=False)

    def redirect(self, target: str) -> Request | SkipReason:
        """Return a redirect's ``target`` as a request to claim, or why not to follow it."""
        return self._classify(target, 0, None, spent=False)

    def refusal(self, url: str) -> SkipReason | None:
        """Return why ``url`` is not admitted by scheme, length, host, scope or traps."""
        if scheme_of(url) not in HTTP_SCHEMES:
            return "bad_scheme"
        if len(url) > self._config.max_url_length:
            return "invalid_url"
        try:
            host = _cached_host(url)
        except ValueError:
            return "invalid_url"
        if not host:
            return "invalid_url"
        reason = self._scope.check(url, host)
        repeats = self._config.max_repeated_segments
        if reason is None and repeats is not None and segment_repeats(url) > repeats:
            return "trap"
        return reason

    def _counted(self, outcome: Request | SkipReason) -> list[Request]:
        if isinstance(outcome, Request):
            return [outcome]
        self._stats.skip(outcome)
        return []

    def _settle(self, url: str, reason: SkipReason) -> None:
        if reason == "limit_reached":  # the only outcome that depends on the moment
            return
        if len(self._settled) >= SETTLED_MEMO_SIZE:
            self._settled.clear()
        self._settled[url] = reason

    def _classify(
        self, url: str, depth: int, parent: str | None, *, spent: bool
    ) -> Request | SkipReason:
        """Return the request for ``url``, or why it is not admitted (not yet deduplicated)."""
        reason = self.refusal(url)
        if reason is None and spent:
            reason = "limit_reached"
        if reason is not None:
            return reason
        wire = defragment(url)
        try:
            key = canonicalize(wire)
        except ValueError:
            return "invalid_url"
        return Request(url=wire, key=key, depth=depth, parent=parent)
