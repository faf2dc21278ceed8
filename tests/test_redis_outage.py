"""A Redis that stops mid-crawl: workers wait it out, carry on, and never hang.

Each test runs its own ``redis-server`` on a free port of 127.0.0.1 (skipped without the
binary, a failure under ``CI=true``), stops it for 5 s in the middle of a crawl by two
workers, and starts it again: with its data (AOF) the crawl completes exactly; without,
the workers stop with one line and exit status 1.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from crawler.shared.admin import export_records
from crawler.shared.state import RedisState
from crawler.sinks import open_sink
from tests.conftest import Site, chain_graph

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("redis_package")]

OUTAGE_SECONDS = 5.0
"""How long Redis is away: the fault the test injects, not a wait for anything."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A private ``redis-server`` that can be stopped and started again on the same port."""

    def __init__(self, directory: Path, *, aof: bool) -> None:
        self.port = free_port()
        self.directory = directory
        self.aof = aof
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            reason = "redis-server is not installed (apt-get install redis-server)"
            if os.environ.get("CI") == "true":
                pytest.fail(f"CI=true but {reason}")
            pytest.skip(reason)
        self.proc = await asyncio.create_subprocess_exec(
            binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
            "--save", "", "--appendonly", "yes" if self.aof else "no", "--appendfsync", "always",
            stdout=asyncio.subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        assert self.proc.stdout is not None
        async with asyncio.timeout(20):
            while b"Ready to accept connections" not in await self.proc.stdout.readline():
                pass

    async def stop(self) -> None:
        assert self.proc is not None
        self.proc.terminate()
        await self.proc.communicate()  # to its end: the pipe is closed, not left to the GC

    async def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.communicate()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


async def two_workers_through_an_outage(serve, tmp_path: Path, *, aof: bool):  # type: ignore[no-untyped-def]
    server = RedisServer(tmp_path, aof=aof)
    await server.start()
    site = await serve(Site(pages=chain_graph(1500, fanout=3)))
    state = f"{server.url}?prefix=crawlertest"
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "crawler",
            site.url("/p0"),
            "--state",
            state,
            "--crawl-id",
            "outage",
            "-o",
            str(tmp_path / f"w{i}.jsonl"),
            "-q",
            "--ignore-robots",
            "--concurrency",
            "4",
            stderr=asyncio.subprocess.PIPE,
        )
        for i in (1, 2)
    ]
    try:
        await asyncio.wait_for(site.wait_for_hits(300), 30)
        await server.stop()
        await asyncio.sleep(OUTAGE_SECONDS)
        await server.start()
        results = [await asyncio.wait_for(w.communicate(), 90) for w in workers]
        return (
            server,
            site,
            [(w.returncode, err.decode()) for w, (_, err) in zip(workers, results, strict=True)],
        )
    except BaseException:
        for worker in workers:
            if worker.returncode is None:
                worker.kill()
        await server.kill()
        raise


async def test_with_its_data_back_the_crawl_completes_exactly(serve, tmp_path: Path) -> None:
    server, site, outcomes = await two_workers_through_an_outage(serve, tmp_path, aof=True)
    if outcomes != [(0, ""), (0, "")]:
        await server.kill()
    assert outcomes == [(0, ""), (0, "")]
    path = tmp_path / "all.jsonl"
    async with RedisState(server.url, "outage", namespace="crawlertest") as state:
        sink = open_sink(str(path), "jsonl")
        await export_records(state, sink)
        sink.close()
    urls = [json.loads(line)["url"] for line in path.read_text().splitlines()]
    assert sorted(urls) == sorted(site.urls())
    await server.kill()


async def test_with_its_data_lost_the_workers_stop_in_one_line(serve, tmp_path: Path) -> None:
    server, _, outcomes = await two_workers_through_an_outage(serve, tmp_path, aof=False)
    await server.kill()
    for code, err in outcomes:
        assert code == 1, err
        assert err.count("\n") == 1 and "is gone from Redis" in err, err
