"""Counters of a running crawl and the frozen snapshot the crawl returns."""

from __future__ import annotations

import heapq
import time
from collections import Counter
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from collections.abc import Mapping

    from crawler.models import ErrorKind, SkipReason

TOP_HOSTS = 10
"""Hosts listed in ``CrawlStats.top_hosts``: enough to see where a crawl went."""

SLOWEST_PAGES = 10
"""Pages kept in ``CrawlStats.slowest``: a bounded heap, so bookkeeping stays O(log N) a page."""


def _empty() -> Mapping[str, str]:
    return MappingProxyType({})


def _empty_counts() -> Mapping[str, int]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class CrawlStats:
    """What a crawl did. Returned by ``crawl()`` and printed by the command.

    Attributes:
        pages: Fetches attempted and finished, successful or not (one record each).
        status_classes: Pages by status class: ``"2xx"`` … ``"5xx"``, ``"none"`` without response.
        errors: Pages by error class (``ErrorKind``).
        skipped: URLs not crawled, by reason (``SkipReason``).
        bytes: Body bytes received, after decompression.
        duration: Seconds from start to end of the crawl.
        pages_per_second: ``pages / duration``.
        stop_reason: Why the crawl ended: ``"complete"``, ``"max_pages"``,
            ``"host_unavailable"`` (all done but the pages of origins given up for this
            run, left pending in the state for the next), ``"time_limit"``, ``"stopped"``
            (a signal, ``stop()``, or a broken iterator) or ``"output_closed"`` (the
            reader of the output closed it: ``| head``).
        broken: Pages that ended in an error or a 4xx/5xx status: the broken links.
        error_examples: For each error class in ``errors``, the first URL that had it.
        top_hosts: ``(host, pages)`` for the ``TOP_HOSTS`` hosts with most pages, most first;
            a host is ``name[:port]`` of the URL requested.
        slowest: ``(url, elapsed_ms)`` of the ``SLOWEST_PAGES`` slowest fetches, slowest
            first; ``elapsed_ms`` is the record's (retries and redirects included).
        seeds: What became of this run's depth-0 URLs (seeds, sitemap entries):
            ``"crawled"`` (a response came, whatever its status), ``"failed"`` (none
            came: timeout, connection, ...), or the skip reason that kept one out
            (``"duplicate"``: crawled before, e.g. by an earlier run of a resumed crawl).
    """

    pages: int
    status_classes: Mapping[str, int]
    errors: Mapping[str, int]
    skipped: Mapping[str, int]
    bytes: int
    duration: float
    pages_per_second: float
    stop_reason: str
    broken: int = 0
    error_examples: Mapping[str, str] = field(default_factory=_empty)
    top_hosts: tuple[tuple[str, int], ...] = ()
    slowest: tuple[tuple[str, float], ...] = ()
    seeds: Mapping[str, int] = field(default_factory=_empty_counts)

    def as_dict(self) -> dict[str, object]:
        """Return the snapshot as plain JSON-serialisable data."""
        return {
            "pages": self.pages,
            "status_classes": dict(self.status_classes),
            "errors": dict(self.errors),
            "skipped": dict(self.skipped),
            "bytes": self.bytes,
            "duration": round(self.duration, 3),
            "pages_per_second": round(self.pages_per_second, 1),
            "stop_reason": self.stop_reason,
            "broken": self.broken,
            "error_examples": dict(self.error_examples),
            "top_hosts": [{"host": h, "pages": n} for h, n in self.top_hosts],
            "slowest": [{"url": u, "elapsed_ms": ms} for u, ms in self.slowest],
            "seeds": dict(self.seeds),
        }


def status_class(status: int | None) -> str:
    """Return ``"2xx"`` for 200 and so on, ``"none"`` for no response."""
    return "none" if status is None else f"{status // 100}xx"


@dataclass(slots=True)
class StatsRecorder:
    """Mutable counters, written by the engine and frontier only."""

    started: float = field(default_factory=time.monotonic)
    pages: int = 0
    bytes: int = 0
    status_classes: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    stop_reason: str = "complete"
    broken: int = 0
    error_examples: dict[str, str] = field(default_factory=dict)
    hosts: Counter[str] = field(default_factory=Counter)
    slowest: list[tuple[float, str]] = field(default_factory=list)  # a min-heap
    seeds: Counter[str] = field(default_factory=Counter)

    def page(
        self,
        status: int | None,
        error: ErrorKind | None,
        size: int,
        *,
        url: str | None = None,
        elapsed_ms: float = 0.0,
    ) -> None:
        """Count one finished fetch of ``url`` that took ``elapsed_ms``."""
        self.pages += 1
        self.bytes += size
        self.status_classes[status_class(status)] += 1
        if error is not None or (status is not None and status >= 400):
            self.broken += 1
        if error is not None:
            self.errors[error] += 1
        if url is not None:
            self._page_of(url, error, elapsed_ms)

    def _page_of(self, url: str, error: ErrorKind | None, elapsed_ms: float) -> None:
        if error is not None:
            self.error_examples.setdefault(error, url)
        self.hosts[urlsplit(url).netloc.lower()] += 1
        if len(self.slowest) < SLOWEST_PAGES:
            heapq.heappush(self.slowest, (elapsed_ms, url))
        elif elapsed_ms > self.slowest[0][0]:
            heapq.heapreplace(self.slowest, (elapsed_ms, url))

    def skip(self, reason: SkipReason, count: int = 1) -> None:
        """Count ``count`` URLs not crawled for ``reason``."""
        if count:
            self.skipped[reason] += count

    def error(self, error: ErrorKind) -> None:
        """Count one more ``error`` of a page already counted (an ``on_page`` failure)."""
        self.errors[error] += 1

    def seed(self, outcome: str, count: int = 1) -> None:
        """Count ``count`` depth-0 URLs that ended as ``outcome`` (see ``CrawlStats.seeds``)."""
        if count:
            self.seeds[outcome] += count

    def snapshot(self) -> CrawlStats:
        """Return a frozen copy of the counters."""
        duration = time.monotonic() - self.started
        return CrawlStats(
            pages=self.pages,
            status_classes=MappingProxyType(dict(self.status_classes)),
            errors=MappingProxyType(dict(self.errors)),
            skipped=MappingProxyType(dict(self.skipped)),
            bytes=self.bytes,
            duration=duration,
            pages_per_second=self.pages / duration if duration > 0 else 0.0,
            stop_reason=self.stop_reason,
            broken=self.broken,
            error_examples=MappingProxyType(dict(self.error_examples)),
            top_hosts=tuple(self.hosts.most_common(TOP_HOSTS)),
            slowest=tuple((url, ms) for ms, url in sorted(self.slowest, reverse=True)),
            seeds=MappingProxyType(dict(self.seeds)),
        )

    def progress(self, *, in_flight: int, outstanding: int, max_pages: int | None) -> CrawlProgress:
        """Return the live figures; cheap enough to call a few times a second."""
        return CrawlProgress(
            pages=self.pages,
            discovered=self.pages + outstanding,
            in_flight=in_flight,
            queued=max(0, outstanding - in_flight),
            errors=self.broken,
            bytes=self.bytes,
            elapsed=time.monotonic() - self.started,
            max_pages=max_pages,
        )


@dataclass(frozen=True, slots=True)
class CrawlProgress:
    """A live view of a running crawl (``Crawl.progress()``), for progress displays.

    Attributes:
        pages: Fetches finished so far (one record each).
        discovered: URLs admitted to the crawl so far: finished plus outstanding.
        in_flight: Requests a consumer is working on now.
        queued: Admitted requests waiting for a consumer.
        errors: Finished pages that ended in an error or a 4xx/5xx status.
        bytes: Body bytes received so far.
        elapsed: Seconds since the crawl started.
        max_pages: The crawl's page budget, ``None`` when unbounded.
    """

    pages: int
    discovered: int
    in_flight: int
    queued: int
    errors: int
    bytes: int
    elapsed: float
    max_pages: int | None

    def as_dict(self) -> dict[str, object]:
        """Return the figures as plain JSON-serialisable data."""
        return {
            "pages": self.pages,
            "discovered": self.discovered,
            "in_flight": self.in_flight,
            "queued": self.queued,
            "errors": self.errors,
            "bytes": self.bytes,
            "elapsed": round(self.elapsed, 3),
            "max_pages": self.max_pages,
        }
