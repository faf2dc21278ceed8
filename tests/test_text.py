"""The ``text`` field: a page's visible text, the same from either parser, capped."""

from __future__ import annotations

import json

import pytest

from crawler import crawl
from crawler.parser import HTML5_MAX_TAGS, parse_html
from tests.conftest import Site

pytestmark = pytest.mark.timeout(60)

PAGE = b"""<!doctype html><html><head><title>Title</title><style>p { color: red }</style>
<script>var hidden = "no";</script></head><body>
<h1>Big   title</h1><p>Some <b>bold</b> text<br>next line</p><!-- a comment -->
<script>document.write("no")</script><noscript>no script</noscript>
<ul><li>one</li><li>two</li></ul><div>tail <span>in</span> div</div>after
<table><tr><th>a</th><td>b&nbsp;c</td></tr></table><template><p>inert</p></template>
<p>caf\xc3\xa9 \xe2\x80\x94 done</p></body></html>"""

EXPECTED = "Big title\nSome bold text\nnext line\none\ntwo\ntail in div\nafter\na\nb c\ncaf\u00e9 \u2014 done"


def test_visible_text_of_the_html5_parse() -> None:
    assert parse_html(PAGE, "http://h/", text_bytes=10_000).text == EXPECTED


def test_the_same_text_from_the_libxml2_parse_of_a_big_page() -> None:
    big = PAGE.replace(b"</body>", b"<i></i>" * (HTML5_MAX_TAGS + 1) + b"</body>")
    assert parse_html(big, "http://h/", text_bytes=10_000).text == EXPECTED


def test_the_text_is_cut_at_the_cap_on_a_character_boundary() -> None:
    text = parse_html(PAGE, "http://h/", text_bytes=len(EXPECTED.encode()) - 9).text
    assert text is not None and EXPECTED.startswith(text) and text.endswith("caf\u00e9")


def test_no_text_unless_asked() -> None:
    assert parse_html(PAGE, "http://h/").text is None


async def test_the_text_field_in_records(serve, tmp_path) -> None:
    site = await serve(Site(pages={"/": ["/a"], "/a": []}))
    out = tmp_path / "out.jsonl"
    await crawl([site.url("/"), site.url("/missing")], output=str(out), fields=["url", "text"])
    records = {r["url"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert records[site.url("/")]["text"] == "/a"  # the test pages: one list item a link
    assert records[site.url("/a")]["text"] == ""
    assert records[site.url("/missing")]["text"] is None


async def test_page_visible_text_is_made_on_first_use_in_the_api(serve) -> None:
    async def page(_: object) -> object:
        from aiohttp import web

        return web.Response(body=PAGE, content_type="text/html")

    site = await serve(Site(pages={"/": ["/doc", "/missing"]}, handlers={"/doc": page}))
    seen: dict[str, str | None] = {}
    await crawl(site.url("/"), on_page=lambda p: seen.__setitem__(p.url, p.visible_text))
    assert seen == {site.url("/"): "/doc\n/missing", site.url("/doc"): EXPECTED,
                    site.url("/missing"): None}  # fmt: skip
