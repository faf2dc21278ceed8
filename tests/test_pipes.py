"""A closed stdout (``crawl URL | head``) stops the crawl quietly, as wget and katana do."""

from __future__ import annotations

import asyncio
import json
import sys

import pytest

from tests.conftest import Site, chain_graph

pytestmark = pytest.mark.timeout(60)

PAGES = 3000
WANTED = 5


async def crawl_into_head(serve, *options: str) -> tuple[int, list[str], str]:
    """Run ``crawl`` into a reader that takes ``WANTED`` lines and closes the pipe, like head."""
    site = await serve(Site(pages=chain_graph(PAGES, fanout=4)))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "crawler", site.url("/p0"), "--ignore-robots", *options,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    lines = [(await proc.stdout.readline()).decode() for _ in range(WANTED)]
    proc._transport.get_pipe_transport(1).close()  # type: ignore[attr-defined]  # head exits
    err = await proc.stderr.read()
    return await proc.wait(), lines, err.decode()


async def test_a_closed_pipe_stops_the_crawl_with_the_summary_only(serve) -> None:
    code, lines, err = await crawl_into_head(serve)
    assert code == 0
    assert all(json.loads(line)["status"] == 200 for line in lines)
    assert "Traceback" not in err and "crawler bug" not in err
    assert err.startswith("crawl: ") and "output_closed" in err.splitlines()[0], err
    assert all(line.startswith("crawl: ") for line in err.splitlines()), err


async def test_a_closed_pipe_says_nothing_with_quiet(serve) -> None:
    code, lines, err = await crawl_into_head(serve, "-q")
    assert (code, err, len(lines)) == (0, "", WANTED)
