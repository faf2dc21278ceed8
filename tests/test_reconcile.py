"""A resume checks the output against the state: a damaged output is never continued silently."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crawler import crawl
from crawler.errors import OutputMismatchError
from crawler.reconcile import finish_last_line
from tests.conftest import Site, chain_graph

pytestmark = pytest.mark.timeout(60)


async def half_crawled(serve, tmp_path: Path) -> tuple[Site, Path, Path]:
    """Crawl 20 of 60 pages with a state file; return the site, the state and the output."""
    site = await serve(Site(pages=chain_graph(60, fanout=2)))
    state, out = tmp_path / "crawl.db", tmp_path / "out.jsonl"
    await crawl([site.url("/p0")], state=str(state), output=str(out), max_pages=20)
    return site, state, out


async def resume(site: Site, state: Path, out: Path, **options: object):  # type: ignore[no-untyped-def]
    return await crawl([site.url("/p0")], state=str(state), output=str(out), **options)


def urls(out: Path) -> list[str]:
    return [json.loads(line)["url"] for line in out.read_text().splitlines()]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda out: out.write_text(""), r"holds no record but the state has 20 requests done"),
        (lambda out: out.unlink(), r"holds no record but the state has 20 requests done"),
        (lambda out: out.write_text(out.read_text() + "garbage\n"), r"^line 21 of output .* is not a crawl record"),
        (lambda out: out.write_text(out.read_text() + out.read_text().splitlines()[0] + "\n"), r"has 2 records of "),
    ],
    ids=["emptied", "deleted", "garbage", "duplicated"],
)  # fmt: skip
async def test_a_damaged_output_stops_the_resume_in_one_line(
    serve, tmp_path: Path, damage, message: str
) -> None:
    site, state, out = await half_crawled(serve, tmp_path)
    damage(out)
    with pytest.raises(OutputMismatchError, match=message) as refused:
        await resume(site, state, out)
    assert "\n" not in str(refused.value) and str(refused.value).endswith("or pass --force")
    stats = await resume(site, state, out, force_state=True)  # the user's choice: go on
    assert stats.stop_reason == "complete"


async def test_an_intact_output_resumes_exactly(serve, tmp_path: Path) -> None:
    site, state, out = await half_crawled(serve, tmp_path)
    await resume(site, state, out)
    assert sorted(urls(out)) == sorted(site.urls())


async def test_a_whole_last_record_that_lost_its_newline_is_kept(serve, tmp_path: Path) -> None:
    site, state, out = await half_crawled(serve, tmp_path)
    out.write_bytes(out.read_bytes().rstrip(b"\n"))
    await resume(site, state, out)
    assert sorted(urls(out)) == sorted(site.urls())


def test_a_partial_last_line_is_cut_and_a_whole_one_finished(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_bytes(b'{"url": "a"}\n{"url": "b"}')
    assert finish_last_line(str(out), "jsonl") == 0
    assert out.read_bytes() == b'{"url": "a"}\n{"url": "b"}\n'
    out.write_bytes(b'{"url": "a"}\n{"url": "b", "sta')
    assert finish_last_line(str(out), "jsonl") == 17
    assert out.read_bytes() == b'{"url": "a"}\n'
