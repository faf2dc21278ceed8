"""Crash-safe crawls: killed at random moments and run again, the output holds each URL once."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Site, chain_graph, page_html

pytestmark = pytest.mark.timeout(120)
CRAWL = [sys.executable, "-m", "crawler"]
PAGES = 2000
ARCHIVED_PAGES = 600
KILLS = 6


def output_urls(path: Path) -> list[str]:
    """Return the ``url`` of every line; every line must be whole JSON (raises otherwise)."""
    text = path.read_text()
    assert text == "" or text.endswith("\n")
    return [json.loads(line)["url"] for line in text.splitlines()]


async def start(site: Site, state: Path, out: Path, *extra: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *CRAWL, site.url("/p0"), "--state", str(state), "-o", str(out), "-q",
        "--concurrency", "8", *extra, stderr=subprocess.PIPE,
    )  # fmt: skip


async def interrupt_runs(
    site: Site, state: Path, out: Path, signum: int, seed: int, *extra: str, most: int = 250
) -> int:
    """Start, and stop with ``signum`` after 1 to ``most`` new requests, ``KILLS`` times."""
    rng = random.Random(seed)
    for _ in range(KILLS):
        proc = await start(site, state, out, *extra)
        await asyncio.wait_for(site.wait_for_hits(site.hits.total() + rng.randint(1, most)), 30)
        proc.send_signal(signum)
        _, err = await asyncio.wait_for(proc.communicate(), 30)
        expected = -signal.SIGKILL if signum == signal.SIGKILL else 128 + signum
        assert proc.returncode in (expected, 0), err.decode()
    proc = await start(site, state, out, *extra)
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    return site.hits.total()


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
async def test_interrupted_crawl_resumes_with_each_record_once(serve, tmp_path, signum):
    site = await serve(Site(pages=chain_graph(PAGES, fanout=3)))
    state, out = tmp_path / "crawl.db", tmp_path / "out.jsonl"
    seed = random.randrange(2**32)
    hits = await interrupt_runs(site, state, out, signum, seed)
    urls = output_urls(out)
    assert len(urls) == len(set(urls)), f"seed {seed}: duplicates"
    assert set(urls) == site.urls(), f"seed {seed}: missing {len(site.urls() - set(urls))}"
    assert hits >= PAGES
    db = sqlite3.connect(state)
    assert dict(db.execute("SELECT state, COUNT(*) FROM requests GROUP BY state")) == {2: PAGES}


def archived_responses(warc: Path) -> list[str]:
    """Return the URI of every response and revisit in the series of ``warc``, checking every
    record's digests (warcio raises on a bad digest or an unreadable member)."""
    from warcio.archiveiterator import ArchiveIterator

    uris = []
    for path in [warc, *sorted(warc.parent.glob(warc.name.removesuffix(".warc.gz") + "-*"))]:
        with open(path, "rb") as file:
            for record in ArchiveIterator(file, check_digests="raise"):
                if record.rec_type in ("response", "revisit"):
                    uris.append(record.rec_headers.get_header("WARC-Target-URI"))
    return uris


@pytest.mark.timeout(240)
async def test_a_killed_crawl_archives_and_saves_each_page_exactly_once(serve, tmp_path):
    pytest.importorskip("warcio", reason="the warc extra is not installed")
    site = await serve(Site(pages=chain_graph(ARCHIVED_PAGES, fanout=3)))
    state, out = tmp_path / "crawl.db", tmp_path / "out.jsonl"
    warc, saved = tmp_path / "crawl.warc.gz", tmp_path / "saved"
    seed = random.randrange(2**32)
    extra = ("--warc", str(warc), "--warc-max-size", "200K", "--save-dir", str(saved))
    most = ARCHIVED_PAGES // (KILLS + 1)  # so that every run has pages left to be killed in
    await interrupt_runs(site, state, out, signal.SIGKILL, seed, *extra, most=most)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["url"] for r in records) == sorted(site.urls()), f"seed {seed}"
    uris = archived_responses(warc)
    assert len(uris) == len(set(uris)), f"seed {seed}: archived twice"
    assert set(uris) == site.urls() | {site.url("/robots.txt")}, f"seed {seed}"
    assert len(list(tmp_path.glob("crawl-*.warc.gz"))) >= 1  # it rolled over
    for record in records:
        path = record["url"].removeprefix(site.url(""))
        expected = page_html(path, site.pages[path]).encode()
        assert Path(record["saved_path"]).read_bytes() == expected, f"seed {seed}: {path}"
    kept = {str(p) for p in saved.rglob("*") if p.is_file()}
    assert kept == {r["saved_path"] for r in records}  # no temporary file left by a kill


async def test_resume_info_prints_the_counts(serve, tmp_path):
    site = await serve(Site(pages=chain_graph(20, fanout=1)))
    state, out = tmp_path / "crawl.db", tmp_path / "out.jsonl"
    proc = await start(site, state, out, "--max-pages", "5")
    await asyncio.wait_for(proc.communicate(), 30)
    info = await asyncio.to_thread(run_cli, "--state", str(state), "--resume-info")
    assert (info.returncode, info.stderr) == (0, "")
    assert info.stdout == f"state {state}: pending 0, in flight 0, done 5, seen 5\n"


async def test_max_pages_counts_across_runs(serve, tmp_path):
    site = await serve(Site(pages=chain_graph(50, fanout=1)))
    state, out = tmp_path / "crawl.db", tmp_path / "out.jsonl"
    for _ in range(2):
        proc = await start(site, state, out, "--max-pages", "10")
        _, err = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, err.decode()
    assert output_urls(out) == [site.url(f"/p{i}") for i in range(10)]
    assert site.hits.pop("/robots.txt") == 1  # the second run had nothing to fetch
    assert site.hits.total() == 10


async def test_a_finished_crawl_run_again_fetches_nothing(serve, tmp_path):
    site = await serve(Site(pages=chain_graph(30, fanout=2)))
    state, out = tmp_path / "crawl.db", tmp_path / "out.jsonl"
    for _ in range(2):
        proc = await start(site, state, out)
        await asyncio.wait_for(proc.communicate(), 30)
    assert sorted(output_urls(out)) == sorted(site.urls())
    assert site.hits.pop("/robots.txt") == 1  # the second run had nothing to fetch
    assert site.hits.total() == 30


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CRAWL, *args], capture_output=True, text=True, timeout=30, check=False)


def test_state_of_another_crawl_is_refused_unless_forced(tmp_path):
    state, out = tmp_path / "crawl.db", str(tmp_path / "out.jsonl")
    first = run_cli(
        "http://127.0.0.1:9/a", "--state", str(state), "-o", out, "-q", "--retries", "0"
    )
    # Nothing listens on port 9: the crawl completes, having crawled no seed (exit 1).
    no_seed = "crawl: error: no seed could be crawled (1 failed)\n"
    assert (first.returncode, first.stderr) == (1, no_seed)
    other = run_cli("http://127.0.0.1:9/b", "--state", str(state), "-o", out, "--retries", "0")
    assert other.returncode == 2
    assert other.stderr == (
        f"crawl: error: state file {str(state)!r} belongs to another crawl (other seeds or "
        "scope options); give --force to continue it with these, or another --state file\n"
    )
    forced = run_cli(
        "http://127.0.0.1:9/b", "--state", str(state), "-o", out, "--force", "-q", "--retries", "0"
    )
    assert (forced.returncode, forced.stderr) == (1, no_seed)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"this is not a database, just some text " * 200, "is corrupt: file is not a database"),
        (None, "is not a crawl state file"),
    ],
    ids=["garbage", "other-database"],
)
def test_corrupt_state_file_is_refused_and_kept(tmp_path, content, message):
    state = tmp_path / "crawl.db"
    if content is None:
        sqlite3.connect(state).execute("CREATE TABLE other (x)").connection.commit()
    else:
        state.write_bytes(content)
    before = state.read_bytes()
    result = run_cli("http://127.0.0.1:9/", "--state", str(state), "-o", str(tmp_path / "o"))
    assert result.returncode == 2
    assert result.stderr == f"crawl: error: state file {str(state)!r} {message}\n"
    assert state.read_bytes() == before


def test_resume_info_without_a_state_file(tmp_path):
    result = run_cli("--state", str(tmp_path / "none.db"), "--resume-info")
    assert result.returncode == 2
    assert result.stderr == f"crawl: error: no state file {str(tmp_path / 'none.db')!r}\n"
