"""Nothing silent at the end of a crawl: a crawl that could crawl no seed says so and exits 1,
Ctrl-C on a crawl without ``--state`` hints at it, and ``--log-format json`` ends with the
summary as one JSON object."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from types import MappingProxyType

import pytest
from aiohttp import web

from crawler.stats import CrawlStats
from crawler.summary import format_summary, no_seed_crawled, summary_json
from tests.conftest import Site, chain_graph

pytestmark = pytest.mark.timeout(60)
CRAWL = [sys.executable, "-m", "crawler"]
HINT = "crawl: hint: run with --state FILE to make a crawl resumable"
REFUSED = "http://127.0.0.1:1/"  # nothing listens on port 1


async def run(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *CRAWL, *args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, err.decode()


def stats_of(seeds: dict[str, int], stop_reason: str = "complete") -> CrawlStats:
    return CrawlStats(
        pages=1, status_classes={}, errors={}, skipped={}, bytes=0, duration=1.0,
        pages_per_second=1.0, stop_reason=stop_reason, seeds=MappingProxyType(seeds),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("seeds", "stop_reason", "said"),
    [
        ({"failed": 1}, "complete", "1 failed"),
        ({"out_of_scope": 1, "failed": 2}, "complete", "2 failed, 1 out_of_scope"),
        ({"robots": 1, "invalid_url": 1}, "complete", "1 invalid_url, 1 robots"),
        ({"failed": 1, "crawled": 1}, "complete", None),
        ({"duplicate": 2, "out_of_scope": 1}, "complete", None),  # crawled by an earlier run
        ({}, "complete", None),  # a shared worker without seeds of its own
        ({"failed": 1}, "max_pages", None),
        ({"failed": 1}, "stopped", None),
        ({"failed": 1}, "output_closed", None),
    ],
)
def test_no_seed_crawled_says_what_became_of_each(seeds, stop_reason, said):
    assert no_seed_crawled(stats_of(seeds, stop_reason)) == said


def test_the_hints_end_the_text_summary_and_join_the_json_one():
    stats = stats_of({"crawled": 1})
    assert format_summary(stats, ["do this"]).splitlines()[-1] == "crawl: hint: do this"
    assert "hint" not in format_summary(stats)
    assert json.loads(summary_json(stats, ["do this"])) == {
        "type": "summary", **stats.as_dict(), "hints": ["do this"],
    }  # fmt: skip
    assert json.loads(summary_json(stats)) == {"type": "summary", **stats.as_dict()}


async def test_an_unreachable_only_seed_is_one_error_line_and_exit_1(tmp_path):
    code, err = await run(REFUSED, "-o", str(tmp_path / "o.jsonl"), "--retries", "0")
    assert code == 1, err
    assert err.splitlines()[-1] == "crawl: error: no seed could be crawled (1 failed)"
    assert err.startswith("crawl: 1 pages in ")  # the summary comes first


async def test_a_seed_out_of_scope_is_warned_then_one_error_line_and_exit_1(serve, tmp_path):
    site = await serve(Site(pages={"/": []}))
    args = (site.url("/"), "--allow", "/elsewhere", "-o", str(tmp_path / "o.jsonl"))
    code, err = await run(*args, "--no-progress")
    assert code == 1, err
    lines = err.splitlines()
    assert f"crawl: WARNING: seed {site.url('/')} not crawled: out_of_scope" in lines
    assert lines[-1] == "crawl: error: no seed could be crawled (1 out_of_scope)"
    assert site.hits.total() == 0


async def test_with_quiet_the_error_line_is_all(serve, tmp_path):
    site = await serve(Site(pages={"/": []}))
    site.handlers["/robots.txt"] = _text("User-agent: *\nDisallow: /\n")
    code, err = await run(site.url("/"), "-q", "-o", str(tmp_path / "o.jsonl"))
    assert (code, err) == (1, "crawl: error: no seed could be crawled (1 robots)\n")


def _text(body: str):
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=body, content_type="text/plain")

    return handler


async def test_one_crawled_seed_is_enough(serve, tmp_path):
    site = await serve(Site(pages={"/": []}))
    code, err = await run(site.url("/"), REFUSED, "-q", "--retries", "0", "-o", str(tmp_path / "o"))
    assert (code, err) == (0, "")


async def test_a_resumed_crawl_whose_seeds_were_crawled_before_exits_0(serve, tmp_path):
    site = await serve(Site(pages={"/": []}))
    args = (site.url("/"), "-q", "--state", str(tmp_path / "s.db"), "-o", str(tmp_path / "o"))
    assert await run(*args) == (0, "")
    assert await run(*args) == (0, "")
    assert site.hits["/"] == 1


async def test_the_json_summary_is_one_object_on_the_last_line(serve, tmp_path):
    site = await serve(Site(pages=chain_graph(5, fanout=1)))
    out, stats_json = tmp_path / "o.jsonl", tmp_path / "stats.json"
    args = (
        site.url("/p0"),
        "--log-format",
        "json",
        "-o",
        str(out),
        "--stats-json",
        str(stats_json),
    )
    code, err = await run(*args, "--ignore-robots")
    assert code == 0, err
    lines = err.splitlines()
    summary = json.loads(lines[-1])
    assert summary == {"type": "summary", **json.loads(stats_json.read_text())}
    assert summary["pages"] == 5
    assert [json.loads(line).get("type") for line in lines[:-1]] == [None] * (len(lines) - 1)
    assert not any(line.startswith("crawl: ") for line in lines), err


async def stopped_by(signum: int, serve, tmp_path, *options: str) -> tuple[int, str]:
    """Crawl a site whose second page hangs, send ``signum`` once it is asked for; return the
    exit status and stderr."""
    release = asyncio.Event()
    site = Site(pages={"/": ["/hang"]})

    async def hang(request: web.Request) -> web.StreamResponse:
        await release.wait()
        return web.Response(text="late")

    site.handlers["/hang"] = hang
    await serve(site)
    args = (site.url("/"), "--no-progress", "-o", str(tmp_path / "o.jsonl"), *options)
    proc = await asyncio.create_subprocess_exec(
        *CRAWL, *args, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    await asyncio.wait_for(site.wait_for_hits(2), 20)
    proc.send_signal(signum)
    _, err = await asyncio.wait_for(proc.communicate(), 20)
    release.set()
    assert proc.returncode is not None
    return proc.returncode, err.decode()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
async def test_a_stopped_crawl_without_state_hints_at_it(signum, serve, tmp_path):
    code, err = await stopped_by(signum, serve, tmp_path)
    assert code == 128 + signum
    assert err.splitlines()[-1] == HINT
    assert err.count(HINT) == 1


async def test_a_stopped_crawl_with_state_needs_no_hint(serve, tmp_path):
    code, err = await stopped_by(signal.SIGINT, serve, tmp_path, "--state", str(tmp_path / "s.db"))
    assert code == 130
    assert "hint" not in err
    assert err.splitlines()[-1].startswith("crawl: slowest: ")


async def test_the_hint_joins_the_json_summary(serve, tmp_path):
    code, err = await stopped_by(signal.SIGINT, serve, tmp_path, "--log-format", "json")
    assert code == 130
    summary = json.loads(err.splitlines()[-1])
    assert (summary["type"], summary["stop_reason"]) == ("summary", "stopped")
    assert summary["hints"] == [HINT.removeprefix("crawl: hint: ")]


async def test_pages_parked_for_the_next_run_are_a_hint_and_exit_0(serve, tmp_path) -> None:
    async def come_back_tomorrow(request: web.Request) -> web.StreamResponse:
        return web.Response(status=503, headers={"Retry-After": "86400"})

    later = [f"/later{i}" for i in range(5)]
    site = await serve(Site(pages={"/": later}, handlers={p: come_back_tomorrow for p in later}))
    state = str(tmp_path / "state.db")
    code, err = await run(site.url("/"), "--ignore-robots", "-c", "1", "--state", state)
    assert code == 0, err
    assert err.splitlines()[-1] == (
        "crawl: hint: 2 pages of origins that asked to come back later wait in the state: "
        "run the same command again to crawl them"
    )
