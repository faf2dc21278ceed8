"""The public API as a user meets it: streams that clean up, honest records, typed options."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from crawler import CrawlConfig, Page, SeedError, crawl, iter_pages
from crawler.options import CrawlOptions
from tests.conftest import Site, chain_graph

pytestmark = pytest.mark.timeout(60)


async def crawl_tasks_settle() -> list[asyncio.Task[object]]:
    """Wait for the crawl of a dropped stream to stop; return the crawler tasks still there."""
    runs = [t for t in asyncio.all_tasks() if t.get_name() == "crawler-run"]
    assert len(runs) == 1
    done, _ = await asyncio.wait(runs, timeout=20)
    assert done == set(runs), "the crawl went on after its stream was dropped"
    assert runs[0].result().stop_reason == "stopped"
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("crawler-")]


async def test_breaking_out_of_a_bare_loop_stops_the_crawl_and_leaves_no_task(serve) -> None:
    site = await serve(Site(pages=chain_graph(500, fanout=3)))
    async for page in iter_pages(site.url("/p0"), concurrency=4):
        if page.depth >= 2:
            break
    assert await crawl_tasks_settle() == []
    assert site.hits.total() < 500


async def test_an_exception_in_the_loop_stops_the_crawl_and_leaves_no_task(serve) -> None:
    site = await serve(Site(pages=chain_graph(500, fanout=3)))
    with pytest.raises(LookupError):
        async for _ in iter_pages([site.url("/p0")], concurrency=4):
            raise LookupError("the reader failed")
    assert await crawl_tasks_settle() == []


async def test_a_callback_error_keeps_the_fetch_outcome_beside_it(serve, tmp_path) -> None:
    site = await serve(Site(pages={"/": ["/missing", "/fine"], "/fine": []}))
    out = tmp_path / "out.jsonl"

    def on_page(page: Page) -> None:
        if page.url != site.url("/"):
            raise KeyError(page.url.rsplit("/", 1)[1])

    stats = await crawl(site.url("/"), on_page=on_page, output=str(out), obey_robots=False)
    records = {r["url"]: r for r in map(json.loads, out.read_text().splitlines())}
    missing, fine = records[site.url("/missing")], records[site.url("/fine")]
    assert (missing["status"], missing["error"]) == (404, "http_status")
    assert missing["callback_error"] == "KeyError: 'missing'"
    assert (fine["status"], fine["error"], fine["callback_error"]) == (
        200,
        "callback",
        "KeyError: 'fine'",
    )
    assert "callback_error" not in records[site.url("/")]
    assert dict(stats.errors) == {"http_status": 1, "callback": 2}


async def test_a_string_is_one_seed(serve) -> None:
    site = await serve(Site(pages={"/": []}))
    stats = await crawl(site.url("/"), obey_robots=False)
    assert (stats.pages, dict(stats.skipped)) == (1, {})


@pytest.mark.parametrize("seed", ["not-a-url", "ftp://example.test/", "http://"])
async def test_an_invalid_seed_raises(seed: str) -> None:
    with pytest.raises(SeedError, match=rf"^invalid seed URL '{seed}': "):
        await crawl([seed])
    with pytest.raises(SeedError):
        iter_pages(seed)


def test_the_typed_options_are_the_config_fields() -> None:
    assert list(CrawlOptions.__annotations__) == [f.name for f in fields(CrawlConfig)]


TYPED_USE = """
import asyncio
from crawler import crawl, iter_pages

async def main() -> int:
    stats = await crawl("http://127.0.0.1:1/", max_pages=1, allow_domains=["a.test"])
    async with iter_pages(["http://127.0.0.1:1/"], max_depth=1) as pages:
        async for page in pages:
            print(page.url)
    return stats.pages

asyncio.run(main())
"""


def mypy(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    """Type-check ``source`` as a user's script, outside the checkout (the installed package)."""
    script = tmp_path / "use.py"
    script.write_text(source)
    command = [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(script)]
    return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)


def test_a_users_script_type_checks_against_the_installed_package(tmp_path: Path) -> None:
    result = mypy(tmp_path, TYPED_USE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_misspelt_option_is_a_type_error(tmp_path: Path) -> None:
    result = mypy(tmp_path, TYPED_USE.replace("max_pages=1", "max_page=1"))
    assert result.returncode == 1
    assert 'Unexpected keyword argument "max_page"' in result.stdout, result.stdout
