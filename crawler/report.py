"""The crawl report: a crawl's records → broken links with their referrers, and more.

Pure: records in, a ``Report`` (a frozen value) out, and ``format_report`` turns it into
text. A URL is *broken* when its record ended in an error or a 4xx/5xx status; the pages
that link to it are its record's ``parent`` and every page whose ``outlinks`` hold it
(compared in canonical form, so ``/a?x=1&y=2`` and ``/a?y=2&x=1`` are one link).
"""

from __future__ import annotations

import contextlib
import heapq
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, TypeVar

from crawler.duplicates import exact_groups, near_clusters
from crawler.stats import status_class
from crawler.summary import human_bytes
from crawler.urls import canonicalize

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from crawler.models import Record

TOP_PAGES = 10
"""Pages listed as slowest and as largest."""

RESPONSE_TIME_BUCKETS_MS: tuple[float, ...] = (50, 100, 250, 500, 1000, 2500, 5000)
"""Upper bounds of the response-time histogram's buckets; a last one holds the rest."""


@dataclass(frozen=True, slots=True)
class Link:
    """A URL some pages link to, and what fetching it gave.

    Attributes:
        url: The URL as linked (and requested).
        final_url: Where redirects ended.
        status: The final HTTP status, ``None`` when no response arrived.
        error: The record's error class, or ``None``.
        referrers: The pages that link here, sorted; empty for a seed.
    """

    url: str
    final_url: str | None
    status: int | None
    error: str | None
    referrers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Report:
    """What a crawl's records say.

    Attributes:
        pages: Records read.
        broken: Broken links grouped by status (``"404 Not Found"``) or, without a 4xx/5xx
            status, by error class (``"timeout"``); statuses first, in order.
        redirects: Linked URLs that redirect elsewhere (the links worth updating).
        slowest: ``(url, elapsed_ms)`` of the slowest pages, slowest first.
        largest: ``(url, bytes)`` of the largest pages, largest first.
        depths: Pages per depth, by depth.
        status_classes: Pages per status class (``"2xx"`` … ``"none"``).
        response_times: ``(bucket label, pages)`` of the response-time histogram.
        duplicates: Groups of URLs whose bodies are the same (``digest``), largest first.
        near_duplicates: Clusters of URLs whose ``simhash`` differ in at most 3 bits.
        has_digests: Whether the records had ``digest`` (else ``duplicates`` is unknown).
        has_simhashes: Whether the records had ``simhash``.
    """

    pages: int
    broken: Mapping[str, tuple[Link, ...]]
    redirects: tuple[Link, ...]
    slowest: tuple[tuple[str, float], ...]
    largest: tuple[tuple[str, int], ...]
    depths: Mapping[int, int]
    status_classes: Mapping[str, int]
    response_times: tuple[tuple[str, int], ...]
    duplicates: tuple[tuple[str, ...], ...] = ()
    near_duplicates: tuple[tuple[str, ...], ...] = ()
    has_digests: bool = False
    has_simhashes: bool = False

    @property
    def broken_count(self) -> int:
        """How many distinct broken URLs were found."""
        return sum(len(links) for links in self.broken.values())


def is_broken(record: Record) -> bool:
    """Return whether ``record`` ended in an error or a 4xx/5xx status."""
    status = record.get("status")
    return record.get("error") is not None or (isinstance(status, int) and status >= 400)


def is_redirect(record: Record) -> bool:
    """Return whether ``record``'s URL redirected (and did not end broken)."""
    final = record.get("final_url")
    status = record.get("status")
    moved = final is not None and final != record["url"]
    return not is_broken(record) and (moved or (isinstance(status, int) and 300 <= status < 400))


def _key(url: str) -> str:
    try:
        return canonicalize(url)
    except ValueError:
        return url


def broken_group(record: Record) -> tuple[int, str]:
    """Return the sort key and label of ``record``'s broken-link group."""
    status = record.get("status")
    if isinstance(status, int) and status >= 400:
        try:
            return status, f"{status} {HTTPStatus(status).phrase}"
        except ValueError:
            return status, str(status)
    return 1000, str(record.get("error"))


def histogram_labels() -> tuple[str, ...]:
    """Return the response-time bucket labels, e.g. ``"< 50 ms"`` … ``">= 5000 ms"``."""
    bounds = RESPONSE_TIME_BUCKETS_MS
    return (*(f"< {b:g} ms" for b in bounds), f">= {bounds[-1]:g} ms")


def _bucket(elapsed_ms: float) -> int:
    for index, bound in enumerate(RESPONSE_TIME_BUCKETS_MS):
        if elapsed_ms < bound:
            return index
    return len(RESPONSE_TIME_BUCKETS_MS)


@dataclass
class _Collector:
    """One pass over the records; keeps only problem pages, links, and bounded top lists."""

    top: int
    pages: int = 0
    problems: dict[str, Record] = field(default_factory=dict)
    referrers: defaultdict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    slowest: list[tuple[float, str]] = field(default_factory=list)
    largest: list[tuple[int, str]] = field(default_factory=list)
    depths: Counter[int] = field(default_factory=Counter)
    status_classes: Counter[str] = field(default_factory=Counter)
    times: Counter[int] = field(default_factory=Counter)
    digests: dict[str, str] = field(default_factory=dict)
    simhashes: dict[str, int] = field(default_factory=dict)

    def add(self, record: Record) -> None:
        self.pages += 1
        url: str = record["url"]
        self._identity(url, record)
        if is_broken(record) or is_redirect(record):
            self.problems[_key(url)] = record
        self._links(url, record)
        self._figures(url, record)

    def _identity(self, url: str, record: Record) -> None:
        digest, value = record.get("digest"), record.get("simhash")
        if isinstance(digest, str):
            self.digests[url] = digest
        if isinstance(value, str):
            with contextlib.suppress(ValueError):  # not hex: not a simhash of ours
                self.simhashes[url] = int(value, 16)

    def _links(self, url: str, record: Record) -> None:
        parent = record.get("parent")
        if isinstance(parent, str):
            self.referrers[_key(url)].add(parent)
        for link in record.get("outlinks") or ():
            self.referrers[_key(link)].add(url)

    def _figures(self, url: str, record: Record) -> None:
        if "status" in record:
            self.status_classes[status_class(record["status"])] += 1
        if isinstance(record.get("depth"), int):
            self.depths[record["depth"]] += 1
        elapsed = record.get("elapsed_ms")
        if isinstance(elapsed, int | float):
            self.times[_bucket(elapsed)] += 1
            _keep(self.slowest, (float(elapsed), url), self.top)
        size = record.get("bytes")
        if isinstance(size, int):
            _keep(self.largest, (size, url), self.top)

    def link(self, key: str, record: Record) -> Link:
        return Link(
            url=record["url"],
            final_url=record.get("final_url"),
            status=record.get("status"),
            error=record.get("error"),
            referrers=tuple(sorted(self.referrers.get(key, ()))),
        )

    def broken(self) -> dict[str, tuple[Link, ...]]:
        groups: defaultdict[tuple[int, str], list[Link]] = defaultdict(list)
        for key, record in self.problems.items():
            if is_broken(record):
                groups[broken_group(record)].append(self.link(key, record))
        return {
            label: tuple(sorted(links, key=lambda link: link.url))
            for (_, label), links in sorted(groups.items())
        }

    def redirects(self) -> tuple[Link, ...]:
        links = [self.link(k, r) for k, r in self.problems.items() if is_redirect(r)]
        return tuple(sorted((link for link in links if link.referrers), key=lambda x: x.url))

    def report(self) -> Report:
        labels = histogram_labels()
        return Report(
            pages=self.pages,
            broken=self.broken(),
            redirects=self.redirects(),
            slowest=tuple((u, t) for t, u in sorted(self.slowest, key=_ranking)),
            largest=tuple((u, b) for b, u in sorted(self.largest, key=_ranking)),
            depths=dict(sorted(self.depths.items())),
            status_classes=dict(sorted(self.status_classes.items())),
            response_times=tuple((labels[i], self.times[i]) for i in range(len(labels))),
            duplicates=exact_groups(self.digests),
            near_duplicates=near_clusters(self.simhashes, self.digests or None),
            has_digests=bool(self.digests),
            has_simhashes=bool(self.simhashes),
        )


_Ranked = TypeVar("_Ranked", tuple[float, str], tuple[int, str])


def _ranking(item: tuple[float, str]) -> tuple[float, str]:
    """Sort key: largest value first, then by URL."""
    return -item[0], item[1]


def _keep(heap: list[_Ranked], item: _Ranked, top: int) -> None:
    """Keep the ``top`` largest items in the min-heap ``heap``."""
    if len(heap) < top:
        heapq.heappush(heap, item)
    elif item > heap[0]:
        heapq.heapreplace(heap, item)


def build_report(records: Iterable[Record], *, top: int = TOP_PAGES) -> Report:
    """Read ``records`` once and return their ``Report``; ``top`` bounds the page lists."""
    collector = _Collector(top)
    for record in records:
        collector.add(record)
    return collector.report()


def _link_lines(link: Link) -> list[str]:
    moved = f" -> {link.final_url}" if link.final_url not in (None, link.url) else ""
    lines = [f"  {link.url}{moved}"]
    lines += [f"    linked from {page}" for page in link.referrers] or [
        "    (a seed: no page links here)"
    ]
    return lines


def _broken_lines(report: Report) -> list[str]:
    lines = [f"Broken links: {report.broken_count}"]
    for label, links in report.broken.items():
        lines += ["", f"{label} ({len(links)})"]
        for link in links:
            lines += _link_lines(link)
    return lines


def _redirect_lines(report: Report) -> list[str]:
    lines = [f"Redirects worth fixing: {len(report.redirects)}"]
    for link in report.redirects:
        lines += [f"  {link.url} -> {link.final_url} ({link.status})"]
        lines += [f"    linked from {page}" for page in link.referrers]
    return lines


def _table_lines(report: Report) -> list[str]:
    lines = ["Slowest pages:"]
    lines += [f"  {ms:10.1f} ms  {url}" for url, ms in report.slowest] or ["  none"]
    lines += ["", "Largest pages:"]
    lines += [f"  {human_bytes(size):>10}  {url}" for url, size in report.largest] or ["  none"]
    lines += ["", "Pages per depth:"]
    lines += [f"  {depth:>3}: {count}" for depth, count in report.depths.items()] or ["  none"]
    return lines


def _duplicate_lines(report: Report) -> list[str]:
    lines = []
    if report.has_digests:
        lines += [f"Duplicate pages (the same body): {len(report.duplicates)} groups"]
        lines += [f"  {len(group)} pages: {', '.join(group)}" for group in report.duplicates]
    if report.has_simhashes:
        lines += [f"Near-duplicate pages (simhash): {len(report.near_duplicates)} clusters"]
        lines += [f"  {len(group)} pages: {', '.join(group)}" for group in report.near_duplicates]
    return lines


def format_report(report: Report, source: str) -> str:
    """Return ``report`` as plain text, its sections separated by blank lines."""
    head = f"Crawl report of {source}: {report.pages} pages"
    sections = [[head], _broken_lines(report), _redirect_lines(report), _table_lines(report)]
    duplicates = _duplicate_lines(report)  # only when the records have digest or simhash
    if duplicates:
        sections.append(duplicates)
    return "\n\n".join("\n".join(section) for section in sections) + "\n"
