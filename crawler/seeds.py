"""Seed producers: each yields batches of URLs, from a list, a file, or stdin (``-``).

Files are read in batches on a worker thread so a slow or huge seed source never
blocks the event loop, and the crawl starts fetching before the file is read to its end.
"""

from __future__ import annotations

import asyncio
import sys
from typing import IO, TYPE_CHECKING

from crawler.errors import CrawlerError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable

# Lines read per trip to the worker thread: large enough to amortise the hop,
# small enough that the first URLs reach the frontier at once.
SEED_BATCH = 1000


class SeedFileError(CrawlerError, OSError):
    """A seeds file cannot be read."""


async def from_urls(urls: Iterable[str]) -> AsyncIterator[list[str]]:
    """Yield the given URLs as one batch."""
    batch = list(urls)
    if batch:
        yield batch


def parse_seed_lines(lines: Iterable[str]) -> list[str]:
    """Return the URLs of ``lines``: stripped, blank lines and ``#`` comments dropped."""
    return [s for line in lines if (s := line.strip()) and not s.startswith("#")]


def _read_batch(stream: IO[str]) -> list[str]:
    lines = []
    for _ in range(SEED_BATCH):
        line = stream.readline()
        if not line:
            break
        lines.append(line)
    return lines


def _open(path: str) -> IO[str]:
    if path == "-":
        return sys.stdin
    try:
        return open(path, encoding="utf-8", errors="replace")
    except OSError as exc:
        raise SeedFileError(f"cannot read seeds file {path!r}: {exc.strerror or exc}") from None


async def from_file(path: str) -> AsyncIterator[list[str]]:
    """Yield batches of URLs from a file of one URL per line (``-`` for stdin)."""
    stream = _open(path)
    try:
        while lines := await asyncio.to_thread(_read_batch, stream):
            if batch := parse_seed_lines(lines):
                yield batch
    finally:
        if stream is not sys.stdin:
            stream.close()
