"""The ``markdown`` record field, through the optional ``markdown`` extra."""

from __future__ import annotations

import json
import os
import sys

import pytest
from aiohttp import web

from crawler import crawl
from crawler.errors import ConfigError
from tests.conftest import Site

pytestmark = pytest.mark.timeout(60)

PAGE = """<!doctype html><html><head><title>Doc</title><script>x = 1</script></head><body>
<h1>Guide</h1><p>Read <a href="/docs/next">the next page</a> or <b>stop</b>.</p>
<ul><li>one</li><li>two</li></ul>
<table><tr><th>name</th><th>size</th></tr><tr><td>a</td><td>1</td></tr></table>
<img src="img/logo.png" alt="logo"></body></html>"""

EXPECTED = """# Guide

Read [the next page](http://{host}/docs/next) or **stop**.

- one
- two

| name | size |
| ---- | ---- |
| a    | 1    |

![logo](http://{host}/docs/img/logo.png)"""


@pytest.fixture
def converter() -> None:
    if os.environ.get("CI") != "true":
        pytest.importorskip("html_to_markdown", reason="the markdown extra is not installed")


async def doc_site(serve) -> Site:  # type: ignore[no-untyped-def]
    async def doc(request: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    return await serve(Site(pages={"/": ["/docs/guide"]}, handlers={"/docs/guide": doc}))


async def test_a_page_as_markdown_with_absolute_links(serve, tmp_path, converter) -> None:
    site = await doc_site(serve)
    out = tmp_path / "out.jsonl"
    await crawl([site.url("/docs/guide")], output=str(out), fields=["url", "markdown"])
    records = {r["url"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert records[site.url("/docs/next")]["markdown"] is None  # a 404: no page to convert
    record = records[site.url("/docs/guide")]
    assert record["markdown"] == EXPECTED.format(host=site.base.removeprefix("http://"))


async def test_markdown_is_capped(serve, tmp_path, converter) -> None:
    site = await doc_site(serve)
    out = tmp_path / "out.jsonl"
    await crawl(
        [site.url("/docs/guide")], output=str(out), fields=["markdown"], max_text_bytes=20,
        max_pages=1,
    )  # fmt: skip
    [record] = map(json.loads, out.read_text().splitlines())
    assert record["markdown"] == "# Guide\n\nRead [the n"  # 20 bytes


def test_without_the_extra_the_crawl_is_refused_in_one_line(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "html_to_markdown", None)
    with pytest.raises(ConfigError) as caught:
        from crawler import Crawl, CrawlConfig

        Crawl(["http://127.0.0.1:1/"], CrawlConfig(fields=("url", "markdown")))
    assert str(caught.value) == (
        "the markdown field needs the markdown extra: pip install 'crawler[markdown]'"
    )


async def test_page_markdown_is_made_on_first_use_in_the_api(serve, converter) -> None:
    site = await doc_site(serve)
    seen: dict[str, str | None] = {}
    await crawl(site.url("/docs/guide"), on_page=lambda p: seen.__setitem__(p.url, p.markdown))
    host = site.base.removeprefix("http://")
    assert seen == {site.url("/docs/guide"): EXPECTED.format(host=host),
                    site.url("/docs/next"): None}  # fmt: skip


async def test_a_record_not_asking_for_markdown_converts_nothing(serve, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "html_to_markdown", None)  # any conversion would raise
    site = await doc_site(serve)
    out = tmp_path / "out.jsonl"
    await crawl([site.url("/docs/guide")], output=str(out), fields=["url", "title", "text"])
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["title"] for r in records if r["url"] == site.url("/docs/guide")] == ["Doc"]
