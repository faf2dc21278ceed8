"""The command line of shared crawls: workers waiting for ``crawl seed``, ``crawl status``,
``crawl export`` and ``crawl purge``, ``--max-pages`` across workers, and input errors."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from crawler import crawl
from tests.conftest import TEST_NAMESPACE, Site, chain_graph
from tests.test_workers import Serve
from tests.workers_support import Workers, exit_code, urls_in

pytestmark = pytest.mark.timeout(60)


async def run(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "crawler", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def shared(workers: Workers) -> list[str]:
    state = f"{workers.redis_url}?prefix={TEST_NAMESPACE}"
    return ["--state", state, "--crawl-id", workers.crawl_id]


async def test_workers_wait_for_a_separate_seed_run_then_status_export_purge(
    serve: Serve, workers: Workers, tmp_path: Path
) -> None:
    site = await serve(Site(pages=chain_graph(40)))
    name = workers.crawl_id
    worker = await workers.start("w1", "--ignore-robots")
    code, out, _ = await run("status", *shared(workers))
    assert (code, out.splitlines()[0]) == (0, f"crawl {name}: not seeded")
    code, _, err = await run("seed", site.url("/p0"), "--ignore-robots", *shared(workers))
    assert (code, err) == (0, f"crawl: seeded crawl {name!r} with 1 new URLs\n")
    assert await exit_code(worker) == 0
    code, out, _ = await run("status", *shared(workers))
    host = site.base.removeprefix("http://")
    assert (code, out.splitlines()) == (0, [
        f"crawl {name}: complete",
        "pending 0, in flight 0, done 40, seen 40",
        "errors: none",
        "workers (0 live):",
        "hosts (pending, in flight, done):",
        f"  {host}: 0, 0, 40",
    ])  # fmt: skip
    output = tmp_path / "all.jsonl"
    code, _, err = await run("export", *shared(workers), "-o", str(output))
    assert (code, err) == (0, "crawl: exported 40 records\n")
    assert sorted(urls_in(output)) == sorted(site.urls())
    assert sorted(urls_in(workers.output("w1"))) == sorted(site.urls())
    code, _, err = await run("purge", *shared(workers))
    assert (code, err) == (0, f"crawl: purged crawl {name!r} (8 keys)\n")
    code, out, _ = await run("status", *shared(workers))
    assert out.splitlines()[:2] == [
        f"crawl {name}: not seeded",
        "pending 0, in flight 0, done 0, seen 0",
    ]


async def test_max_pages_counts_across_workers(serve: Serve, workers: Workers) -> None:
    site = await serve(Site(pages=chain_graph(60)))
    options = ("--max-pages", "10", "--ignore-robots", "--concurrency", "2")
    procs = [await workers.start(f"w{i}", site.url("/p0"), *options) for i in range(2)]
    assert [await exit_code(proc) for proc in procs] == [0, 0]
    assert len(set(await workers.exported())) == 10
    assert len(await workers.exported()) == 10


async def test_a_redis_state_needs_a_crawl_id(redis_url: str) -> None:
    code, _, err = await run("http://127.0.0.1:1/", "--state", redis_url)
    assert (code, err) == (2, "crawl: error: --crawl-id is needed with a redis:// state\n")


async def test_operating_commands_need_state_and_crawl_id() -> None:
    code, _, err = await run("status", "--state", "redis://127.0.0.1:1/0")
    assert (code, err) == (2, "crawl: error: the following arguments are required: --crawl-id\n")


@pytest.mark.usefixtures("redis_package")
async def test_an_unreachable_redis_is_one_line_on_stderr() -> None:
    code, _, err = await run(
        "http://127.0.0.1:1/", "--state", "redis://127.0.0.1:1/0", "--crawl-id", "x"
    )
    assert code == 2
    assert err.startswith("crawl: error: cannot reach Redis at redis://127.0.0.1:1/0: ")
    assert err.count("\n") == 1


async def test_a_worker_started_after_seeding_crawls_at_once(
    serve: Serve, workers: Workers
) -> None:
    site = await serve(Site(pages=chain_graph(20)))
    code, _, _ = await run("seed", site.url("/p0"), "--ignore-robots", *shared(workers))
    assert code == 0
    worker = await workers.start("late", "--ignore-robots")  # default 300 s leases
    async with asyncio.timeout(30):
        assert await exit_code(worker) == 0
    assert sorted(urls_in(workers.output("late"))) == sorted(site.urls())


async def test_a_shared_worker_reports_the_same_summary_figures(
    serve: Serve, redis_url: str, crawl_id: str
) -> None:
    site = await serve(Site(pages=chain_graph(12, fanout=2)))
    state = f"{redis_url}?prefix={TEST_NAMESPACE}"
    stats = await crawl([site.url("/p0")], state=state, crawl_id=crawl_id, obey_robots=False)
    host = site.url("/").removeprefix("http://").rstrip("/")
    assert stats.pages == 12
    assert dict(stats.top_hosts) == {host: 12}
    assert len(stats.slowest) == 10


async def test_a_seed_run_and_its_workers_agree_on_scope_and_depth(
    serve: Serve, workers: Workers
) -> None:
    site = await serve(Site(pages=chain_graph(20, fanout=2)))
    scope = ("--ignore-robots", "--max-depth", "2", "--deny", "/p2$")
    code, _, err = await run("seed", site.url("/p0"), *scope, *shared(workers))
    assert (code, err) == (0, f"crawl: seeded crawl {workers.crawl_id!r} with 1 new URLs\n")
    worker = await workers.start("w1", *scope)
    assert await exit_code(worker) == 0
    assert sorted(urls_in(workers.output("w1"))) == [site.url(p) for p in ("/p0", "/p1", "/p3")]


async def test_seed_takes_only_the_options_of_seeding(workers: Workers) -> None:
    code, out, err = await run("seed", "http://127.0.0.1:1/", "-o", "x.jsonl", *shared(workers))
    assert (code, out, err) == (
        2,
        "",
        "crawl: error: unrecognized arguments: -o x.jsonl; see 'crawl seed --help'\n",
    )
