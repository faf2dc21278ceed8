"""Counters of a running crawl and the frozen snapshot the crawl returns."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

    from crawler.models import ErrorKind, SkipReason


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
            ``"time_limit"`` or ``"stopped"`` (a signal, ``stop()``, or a broken iterator).
    """

    pages: int
    status_classes: Mapping[str, int]
    errors: Mapping[str, int]
    skipped: Mapping[str, int]
    bytes: int
    duration: float
    pages_per_second: float
    stop_reason: str

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

    def page(self, status: int | None, error: ErrorKind | None, size: int) -> None:
        """Count one finished fetch."""
        self.pages += 1
        self.bytes += size
        self.status_classes[status_class(status)] += 1
        if error is not None:
            self.errors[error] += 1

    def skip(self, reason: SkipReason, count: int = 1) -> None:
        """Count ``count`` URLs not crawled for ``reason``."""
        if count:
            self.skipped[reason] += count

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
        )
