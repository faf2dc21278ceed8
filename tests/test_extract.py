"""Fields from the command line: ``--field NAME=css:...``, ``xpath:``, ``re:``, lists."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest
from aiohttp import web

from crawler import CrawlConfig, crawl
from crawler.errors import ConfigError
from crawler.extract import Extraction, compile_fields
from crawler.parser import HTML5_MAX_TAGS, parse_html
from tests.conftest import Site

pytestmark = pytest.mark.timeout(60)

PRODUCT = b"""<!doctype html><html><head><title>Shoe</title>
<meta name="description" content="A fine shoe"></head><body>
<h1> Red  shoe </h1><span class="price">EUR 42.50</span>
<ul><li class="tag">red</li><li class="tag">leather</li><li class="tag">sale</li></ul>
<a class="next" href="/page/2">next</a><p>SKU: AB-123</p></body></html>"""

FIELDS = {
    "name": "css:h1",
    "description": "css:meta[name=description]@content",
    "tags[]": "css:li.tag",
    "next": "css:a.next@href",
    "heading": "xpath://h1/text()",
    "tag_count": "xpath:count(//li)",
    "first_tag": "xpath://li[1]",
    "sku": r"re:SKU: ([A-Z]+-\d+)",
    "prices[]": r"re:\d+\.\d+",
    "missing": "css:.nothing",
    "missing_list[]": "css:.nothing",
}

EXPECTED = {
    "name": "Red  shoe", "description": "A fine shoe", "tags": ["red", "leather", "sale"],
    "next": "/page/2", "heading": " Red  shoe ", "tag_count": 3.0, "first_tag": "red",
    "sku": "AB-123", "prices": ["42.50"], "missing": None, "missing_list": [],
}  # fmt: skip


def extraction() -> Extraction:
    return Extraction(compile_fields(FIELDS.items()))


def test_every_kind_of_field_on_the_html5_parse() -> None:
    assert parse_html(PRODUCT, "http://h/p", extraction=extraction()).fields == EXPECTED


def test_the_same_fields_on_the_libxml2_parse_of_a_big_page() -> None:
    big = PRODUCT.replace(b"</body>", b"<i></i>" * (HTML5_MAX_TAGS + 1) + b"</body>")
    assert parse_html(big, "http://h/p", extraction=extraction()).fields == EXPECTED


@pytest.mark.parametrize(
    ("field", "said"),
    [
        (("h", "css:h1["), "extract: h: invalid css 'h1['"),
        (("h", "xpath://h1["), "extract: h: invalid xpath '//h1['"),
        (("h", "re:("), "extract: h: invalid re '('"),
        (("h", "h1"), "extract: h: not css:, xpath: or re:"),
        (("bad name", "css:h1"), "extract: invalid field name 'bad name'"),
        (("url", "css:h1"), "extract: url is a record field already"),
    ],
)
def test_a_bad_field_is_one_clear_error_before_the_crawl(field, said) -> None:
    with pytest.raises(ConfigError, match=None) as caught:
        config = CrawlConfig(extract=(field,))
        compile_fields(config.extract)
    assert str(caught.value).startswith(said)


def test_a_bad_selector_on_the_command_line_is_one_line_and_exit_2() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "crawler", "http://127.0.0.1:1/", "--field", "h=css:h1["],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "crawl: error: --field: h: invalid css 'h1[': Expected ident or '*', got <EOF at 3>"
    ]


async def product_site(serve) -> Site:  # type: ignore[no-untyped-def]
    async def product(request: web.Request) -> web.Response:
        return web.Response(body=PRODUCT, content_type="text/html")

    async def data(request: web.Request) -> web.Response:
        return web.json_response({"not": "html"})

    return await serve(Site(pages={"/": ["/product", "/data"]},
                            handlers={"/product": product, "/data": data}))  # fmt: skip


async def test_fields_join_the_records_and_are_null_on_other_pages(serve, tmp_path) -> None:
    site = await product_site(serve)
    out = tmp_path / "out.jsonl"
    await crawl([site.url("/")], output=str(out), extract={"name": "css:h1", "tags[]": "css:li"})
    records = {r["url"]: r for r in map(json.loads, out.read_text().splitlines())}
    product = records[site.url("/product")]
    assert (product["name"], product["tags"]) == ("Red  shoe", ["red", "leather", "sale"])
    assert list(product)[-2:] == ["name", "tags"]  # after the default fields
    assert (records[site.url("/data")]["name"], records[site.url("/data")]["tags"]) == (None, [])


async def test_fields_can_be_ordered_and_written_as_csv(serve, tmp_path) -> None:
    site = await product_site(serve)
    out = tmp_path / "out.csv"
    await crawl(
        [site.url("/product")], output=str(out), output_format="csv",
        extract={"tags[]": "css:li", "name": "css:h1"}, fields=["name", "url", "tags"],
    )  # fmt: skip
    rows = list(csv.DictReader(out.read_text().splitlines()))
    assert list(rows[0]) == ["name", "url", "tags"]
    assert (rows[0]["name"], json.loads(rows[0]["tags"])) == (
        "Red  shoe",
        ["red", "leather", "sale"],
    )
