"""The fetch floor: GET every manifest URL with one aiohttp session, no parsing, no queue.

This is the fastest a Python asyncio crawler on aiohttp can go on this machine: the URLs are
known in advance, so its time is all HTTP. A crawler's pages/s over this figure is the share of
its time spent on fetching rather than on parsing, deduplicating and bookkeeping.

Writes one JSON line (``{"url": ..., "status": ...}``) per fetched page, like the crawlers, so
the runner checks all contenders the same way.

Usage: python benchmarks/floor.py BASE_URL MANIFEST -o OUT.jsonl [--concurrency 64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urljoin

import aiohttp

if TYPE_CHECKING:
    from collections.abc import Iterator

DEFAULT_CONCURRENCY = 64


async def worker(
    session: aiohttp.ClientSession, urls: Iterator[str], results: list[tuple[str, int]]
) -> None:
    """Fetch URLs from the shared iterator until it is exhausted, reading every body."""
    # A shared iterator is the cheapest fair dispatch: no queue, no locks (one event loop).
    for url in urls:
        async with session.get(url) as resp:
            await resp.read()
            results.append((url, resp.status))


async def fetch_all(urls: list[str], concurrency: int) -> list[tuple[str, int]]:
    """Fetch ``urls`` with ``concurrency`` workers; return (url, status) pairs."""
    results: list[tuple[str, int]] = []
    shared = iter(urls)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session, asyncio.TaskGroup() as tg:
        for n in range(concurrency):
            tg.create_task(worker(session, shared, results), name=f"floor-worker-{n}")
    return results


def main(argv: list[str] | None = None) -> int:
    """Run the floor from the command line; print pages/s to stdout."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base")
    parser.add_argument("manifest", type=Path)
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
    args = parser.parse_args(argv)
    paths = args.manifest.read_text(encoding="utf-8").split()
    urls = [urljoin(args.base, path) for path in paths]
    start = time.perf_counter()
    results = asyncio.run(fetch_all(urls, args.concurrency))
    elapsed = time.perf_counter() - start
    with args.output.open("w", encoding="utf-8") as out:
        out.writelines(json.dumps({"url": u, "status": s}) + "\n" for u, s in results)
    print(f"floor: {len(results)} pages in {elapsed:.2f}s, {len(results) / elapsed:.0f} pages/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
