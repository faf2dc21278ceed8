"""Seed producers: each yields batches of URLs, from a list, a file, stdin (``-``) or sitemaps.

Files are read on a worker thread so a slow or huge seed source never blocks the event
loop, and the crawl starts fetching before the file is read to its end.
"""

from __future__ import annotations

import asyncio
import os
import stat
import sys
from typing import TYPE_CHECKING

from crawler.errors import CrawlerError
from crawler.sitemaps import parse_sitemap

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
    from datetime import datetime

MAX_SITEMAP_DEPTH = 3
"""Sitemap indexes nested deeper than this are not followed (the protocol allows one level;
real sites nest a little more, loops and generated chains nest forever)."""

MAX_SITEMAPS = 1000
"""Sitemap files read per crawl at most: an index of indexes cannot fan out without end."""

# Bytes read per trip to the worker thread: about a thousand URLs, enough to amortise the
# hop; a pipe returns sooner with whatever has been written.
READ_SIZE = 64 * 1024


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


def _open(path: str) -> int:
    if path == "-":
        return sys.stdin.fileno()
    try:
        return os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise SeedFileError(f"cannot read seeds file {path!r}: {exc.strerror or exc}") from None


async def _file_chunks(fd: int) -> AsyncIterator[bytes]:
    while chunk := await asyncio.to_thread(os.read, fd, READ_SIZE):
        yield chunk


async def _pipe_chunks(fd: int) -> AsyncIterator[bytes]:
    # A pipe or terminal may never be written again: read it without a thread, so that
    # stopping the crawl never waits for a blocked read.
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    pipe = os.fdopen(fd, "rb", closefd=False)
    transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
    try:
        while chunk := await reader.read(READ_SIZE):
            yield chunk
    finally:
        transport.close()


async def from_file(path: str) -> AsyncIterator[list[str]]:
    """Yield batches of URLs from a file of one URL per line (``-`` for stdin).

    Each read returns what is available (up to ``READ_SIZE`` bytes), so URLs written
    slowly to a pipe are crawled as they arrive, not when a batch has filled up.
    """
    fd = await asyncio.to_thread(_open, path)
    tail = b""
    chunks = _file_chunks(fd) if stat.S_ISREG(os.fstat(fd).st_mode) else _pipe_chunks(fd)
    try:
        async for chunk in chunks:
            *lines, tail = (tail + chunk).split(b"\n")
            if batch := parse_seed_lines(line.decode(errors="replace") for line in lines):
                yield batch
        if batch := parse_seed_lines([tail.decode(errors="replace")]):
            yield batch
    finally:
        if path != "-":
            os.close(fd)


async def from_sitemaps(
    urls: Iterable[str],
    fetch: Callable[[str], Awaitable[bytes | None]],
    *,
    max_bytes: int,
    lastmods: dict[str, datetime] | None = None,
) -> AsyncIterator[list[str]]:
    """Yield the page URLs of sitemaps, following sitemap indexes breadth first.

    Args:
        urls: Sitemap URLs (urlsets or indexes, plain or gzipped).
        fetch: Returns a sitemap's body, or ``None`` when it could not be had.
        max_bytes: The cap on a sitemap's size after decompression.
        lastmods: Filled with each page URL's ``<lastmod>``, when given.
    """
    todo = [(url, 0) for url in urls]
    seen: set[str] = set()
    while todo and len(seen) < MAX_SITEMAPS:
        url, level = todo.pop(0)
        if url in seen:
            continue
        seen.add(url)
        body = await fetch(url)
        sitemap = parse_sitemap(body or b"", max_bytes)
        if sitemap.kind == "index" and level < MAX_SITEMAP_DEPTH:
            todo.extend((loc, level + 1) for loc in sitemap.locs)
        elif sitemap.kind == "urlset" and sitemap.locs:
            if lastmods is not None:
                lastmods.update(sitemap.lastmods)
            yield list(sitemap.locs)
