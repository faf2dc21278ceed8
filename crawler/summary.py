"""The end-of-crawl summary: ``CrawlStats`` as a few lines for a person to read, or as one
JSON object for a program; and the one line that says no seed could be crawled."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

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


def format_summary(stats: CrawlStats, hints: Sequence[str] = ()) -> str:
    """Return the end-of-crawl summary printed on stderr, one ``crawl:`` line per topic.

    Each of ``hints`` (what the user could do better next time) ends it as a ``hint:`` line.
    """
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
        *(f"{PREFIX}hint: {hint}" for hint in hints),
    ]
    return "\n".join(lines)


def summary_json(stats: CrawlStats, hints: Sequence[str] = ()) -> str:
    """Return the summary as one line of JSON: ``"type": "summary"``, ``CrawlStats.as_dict()``
    and any ``hints``, for ``--log-format json``."""
    data: dict[str, object] = {"type": "summary", **stats.as_dict()}
    if hints:
        data["hints"] = list(hints)
    return json.dumps(data, ensure_ascii=False)


def no_seed_crawled(stats: CrawlStats) -> str | None:
    """Return what became of the seeds if a complete crawl could crawl none, else ``None``.

    ``"1 failed, 1 out_of_scope"``: every depth-0 URL of the run failed or was refused. A
    seed crawled before (``duplicate``: a resumed crawl) counts as crawled; a crawl stopped
    early, or without seeds of its own (a shared worker), has nothing to say.
    """
    seeds = stats.seeds
    if stats.stop_reason != "complete" or not seeds or {"crawled", "duplicate"} & set(seeds):
        return None
    return ", ".join(f"{count} {outcome}" for outcome, count in sorted(seeds.items()))
