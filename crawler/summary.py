"""The end-of-crawl summary: ``CrawlStats`` as a few lines for a person to read."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

    from crawler.stats import CrawlStats

SUMMARY_HOSTS = 5
"""Hosts named in the summary; ``--stats-json`` has all of ``CrawlStats.top_hosts``."""

SUMMARY_SLOWEST = 3
"""Slowest pages named in the summary; ``--stats-json`` has all of ``CrawlStats.slowest``."""

PREFIX = "crawl: "


def human_bytes(size: float) -> str:
    """Return ``size`` in bytes as ``"512 B"``, ``"1.5 KiB"``, ``"3.2 MiB"`` …"""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _counts(mapping: Mapping[str, int], examples: Mapping[str, str] | None = None) -> str:
    parts = []
    for key, count in sorted(mapping.items()):
        example = (examples or {}).get(key)
        parts.append(f"{key}={count}" + (f" (e.g. {example})" if example else ""))
    return ", ".join(parts) or "none"


def _slowest(stats: CrawlStats) -> list[str]:
    pages = stats.slowest[:SUMMARY_SLOWEST]
    if not pages:
        return [f"{PREFIX}slowest: none"]
    indent = " " * len("slowest: ")
    return [
        f"{PREFIX}{'slowest: ' if i == 0 else indent}{ms:.1f} ms {url}"
        for i, (url, ms) in enumerate(pages)
    ]


def format_summary(stats: CrawlStats) -> str:
    """Return the end-of-crawl summary printed on stderr, one ``crawl:`` line per topic."""
    hosts = ", ".join(f"{h}={n}" for h, n in stats.top_hosts[:SUMMARY_HOSTS]) or "none"
    lines = [
        f"{PREFIX}{stats.pages} pages in {stats.duration:.2f} s "
        f"({stats.pages_per_second:.1f} pages/s), {stats.bytes} bytes "
        f"({human_bytes(stats.bytes)}); {stats.stop_reason}",
        f"{PREFIX}status: {_counts(stats.status_classes)}",
        f"{PREFIX}errors: {_counts(stats.errors, stats.error_examples)}",
        f"{PREFIX}broken links: {stats.broken}",
        f"{PREFIX}skipped: {_counts(stats.skipped)}",
        f"{PREFIX}top hosts: {hosts}",
        *_slowest(stats),
    ]
    return "\n".join(lines)
