"""WARC archives: what a crawl of a local site writes reads back with warcio, digests right."""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import io
import json
import subprocess
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from aiohttp import web

from crawler import crawl
from crawler.archive import series_path
from crawler.config import CrawlConfig
from crawler.errors import ConfigError
from tests.conftest import Site

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.timeout(60)
warcio = pytest.importorskip("warcio", reason="the warc extra is not installed")
from warcio.archiveiterator import ArchiveIterator  # noqa: E402

SAME = b"<html><title>same</title><p>the same bytes at two URLs</p></html>"
BIG = b"<html>" + b"x" * 5000 + b"</html>"
GZIPPED = b"<html><title>gz</title>" + b"compressible " * 200 + b"</html>"
CAP = 4096


@dataclass
class Rec:
    type: str
    uri: str
    headers: dict[str, str]
    http: Any
    raw: bytes  # the record's block after the HTTP headers, as stored


def read_archive(path: Path) -> list[Rec]:
    """Read every record of ``path``, checking each one's block and payload digests."""
    records = []
    with open(path, "rb") as file:
        for record in ArchiveIterator(file, check_digests="raise"):
            raw = record.raw_stream.read()
            headers = dict(record.rec_headers.headers)
            records.append(Rec(record.rec_type, headers.get("WARC-Target-URI", ""), headers,
                               record.http_headers, raw))  # fmt: skip
    return records


def sha1(data: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode()


async def _static(body: bytes, **headers: str) -> web.Response:
    return web.Response(body=body, content_type="text/html", headers=headers)


def warc_site() -> Site:
    links = ["/same-1", "/same-2", "/hop", "/big", "/gz", "/chunked", "/missing"]

    async def same(_: web.Request) -> web.Response:
        return web.Response(body=SAME, content_type="text/html")

    async def hop(_: web.Request) -> web.Response:
        raise web.HTTPFound("/landing")

    async def big(_: web.Request) -> web.Response:
        return web.Response(body=BIG, content_type="text/html")

    async def gz(_: web.Request) -> web.Response:
        response = web.Response(body=gzip.compress(GZIPPED), content_type="text/html")
        response.headers["Content-Encoding"] = "gzip"
        response.headers["Set-Cookie"] = "session=s3cr3t-cookie; Path=/"
        return response

    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/html"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(b"<html><p>one</p>")
        await response.write(b"<p>two</p></html>")
        await response.write_eof()
        return response

    async def robots(_: web.Request) -> web.Response:
        return web.Response(text="User-agent: *\nAllow: /\n")

    return Site(
        pages={"/": links, "/landing": []},
        handlers={"/same-1": same, "/same-2": same, "/hop": hop, "/big": big, "/gz": gz,
                  "/chunked": chunked, "/robots.txt": robots},
    )  # fmt: skip


@pytest.fixture
async def archived(serve, tmp_path) -> tuple[Site, list[Rec], Path]:
    site = await serve(warc_site())
    path = tmp_path / "crawl.warc.gz"
    stats = await crawl(
        site.url("/"), warc=str(path), max_bytes=CAP, output=str(tmp_path / "out.jsonl"),
        headers={"X-Token": "s3cr3t-header"}, auth=("user", "s3cr3t-password"),
    )  # fmt: skip
    assert stats.stop_reason == "complete"
    return site, read_archive(path), tmp_path


def responses(records: list[Rec]) -> dict[str, Rec]:
    found = {r.uri: r for r in records if r.type in ("response", "revisit")}
    assert len(found) == len([r for r in records if r.type in ("response", "revisit")])
    return found


async def test_every_exchange_is_a_request_and_a_response_with_a_warcinfo_first(archived):
    site, records, _ = archived
    assert records[0].type == "warcinfo"
    assert {r.type for r in records} == {"warcinfo", "request", "response", "revisit"}
    expected = {site.url(p) for p in ("/", "/robots.txt", "/same-1", "/same-2", "/hop",
                                      "/landing", "/big", "/gz", "/chunked", "/missing")}  # fmt: skip
    assert set(responses(records)) == expected
    requests = {r.headers["WARC-Record-ID"]: r for r in records if r.type == "request"}
    assert len(requests) == len(expected)
    for response in responses(records).values():
        request = requests[response.headers["WARC-Concurrent-To"]]
        assert request.uri == response.uri
        assert request.headers["WARC-Concurrent-To"] == response.headers["WARC-Record-ID"]
        assert request.headers["WARC-Date"] == response.headers["WARC-Date"]
        assert response.headers["WARC-IP-Address"] == "127.0.0.1"
        assert request.http.protocol == "GET"


async def test_a_redirect_hop_is_archived_with_its_target(archived):
    site, records, _ = archived
    found = responses(records)
    assert found[site.url("/hop")].http.get_statuscode() == "302"
    assert found[site.url("/hop")].http.get_header("Location") == "/landing"
    assert found[site.url("/landing")].http.get_statuscode() == "200"


async def test_a_gzip_body_is_kept_as_transferred_and_its_digest_is_of_those_bytes(archived):
    site, records, _ = archived
    gz = responses(records)[site.url("/gz")]
    assert gz.http.get_header("Content-Encoding") == "gzip"
    assert gzip.decompress(gz.raw) == GZIPPED
    assert gz.headers["WARC-Payload-Digest"] == sha1(gz.raw)


async def test_a_chunked_body_is_kept_whole_without_its_transfer_coding(archived):
    site, records, _ = archived
    chunked = responses(records)[site.url("/chunked")]
    assert chunked.raw == b"<html><p>one</p><p>two</p></html>"
    assert chunked.http.get_header("Transfer-Encoding") is None
    assert chunked.http.get_header("X-Archive-Orig-Transfer-Encoding") == "chunked"


async def test_a_body_over_max_bytes_is_archived_cut_and_marked_truncated(archived):
    site, records, _ = archived
    big = responses(records)[site.url("/big")]
    assert big.headers["WARC-Truncated"] == "length"
    assert big.type == "response"
    assert BIG.startswith(big.raw)
    assert "WARC-Truncated" not in responses(records)[site.url("/")].headers


async def test_two_urls_serving_the_same_bytes_make_a_response_and_a_revisit(archived):
    site, records, _ = archived
    first, second = responses(records)[site.url("/same-1")], responses(records)[site.url("/same-2")]
    kinds = sorted([first, second], key=lambda r: r.type)
    response, revisit = kinds
    assert (response.type, revisit.type) == ("response", "revisit")
    assert response.raw == SAME and revisit.raw == b""
    assert revisit.headers["WARC-Profile"] == (
        "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"
    )
    assert revisit.headers["WARC-Refers-To-Target-URI"] == response.uri
    assert revisit.headers["WARC-Refers-To-Date"] == response.headers["WARC-Date"]
    assert revisit.headers["WARC-Payload-Digest"] == response.headers["WARC-Payload-Digest"]
    assert revisit.http.get_statuscode() == "200"


async def test_secrets_reach_no_record_of_the_archive(archived):
    _, _, tmp_path = archived
    text = gzip.decompress((tmp_path / "crawl.warc.gz").read_bytes())
    for secret in (b"s3cr3t-header", b"s3cr3t-password", b"s3cr3t-cookie",
                   base64.b64encode(b"user:s3cr3t-password")):  # fmt: skip
        assert secret not in text
    assert b"X-Token: (redacted)" in text
    assert b"Authorization: (redacted)" in text
    assert b"Set-Cookie: (redacted)" in text


async def test_warcinfo_names_the_crawler_and_its_options_without_secrets(archived):
    _, records, _ = archived
    info = dict(line.split(": ", 1) for line in records[0].raw.decode().splitlines() if line)
    assert info["software"].startswith("crawler/")
    assert info["format"] == "WARC File Format 1.1"
    options = json.loads(info["crawler-options"])
    assert options["max_bytes"] == CAP
    assert options["headers"] == ["X-Token: (redacted)"]
    assert "auth" not in options


async def test_warcio_check_passes(archived):
    _, _, tmp_path = archived
    check = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "warcio.cli", "check", str(tmp_path / "crawl.warc.gz")],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert (check.returncode, check.stdout) == (0, ""), check.stdout


async def test_the_archive_rolls_over_and_each_file_reads_on_its_own(serve, tmp_path):
    site = await serve(Site(pages={f"/p{i}": [f"/p{j}" for j in range(20)] for i in range(20)}))
    path = tmp_path / "roll.warc.gz"
    await crawl(site.url("/p0"), warc=str(path), warc_max_size=3000)
    files = [series_path(str(path), i) for i in range(len(list(tmp_path.glob("roll*"))))]
    assert [f.name for f in files[:3]] == [
        "roll.warc.gz",
        "roll-00001.warc.gz",
        "roll-00002.warc.gz",
    ]
    assert all(f.exists() for f in files)
    uris: list[str] = []
    for file in files:
        records = read_archive(file)
        assert records[0].type == "warcinfo"
        assert records[0].headers["WARC-Filename"] == file.name
        uris += [r.uri for r in records if r.type == "response"]
        assert file.stat().st_size <= 3000 or len([r for r in records if r.type == "response"]) == 1
    assert sorted(uris) == sorted(site.urls() | {site.url("/robots.txt")})


async def test_a_fresh_crawl_replaces_an_old_series(serve, tmp_path):
    site = await serve(Site(pages={"/": []}))
    path = tmp_path / "a.warc.gz"
    old = series_path(str(path), 1)
    old.write_bytes(b"an old file of the series")
    await crawl(site.url("/"), warc=str(path))
    assert not old.exists()
    assert [r.type for r in read_archive(path)] == ["warcinfo", *["request", "response"] * 2]


async def test_cdx_indexes_every_response(serve, tmp_path):
    pytest.importorskip("cdxj_indexer", reason="the warc extra is not installed")
    site = await serve(Site(pages={"/": ["/a", "/b"], "/a": [], "/b": []}))
    path = tmp_path / "a.warc.gz"
    await crawl(site.url("/"), warc=str(path), warc_cdx=True)
    lines = (tmp_path / "a.cdxj").read_text().splitlines()
    entries = [json.loads(line.split(" ", 2)[2]) for line in lines]
    assert sorted(e["url"] for e in entries) == sorted([*site.urls(), site.url("/robots.txt")])
    with open(path, "rb") as file:
        for entry in entries:
            file.seek(int(entry["offset"]))
            record = next(iter(ArchiveIterator(io.BytesIO(file.read(int(entry["length"]))))))
            assert record.rec_headers.get_header("WARC-Target-URI") == entry["url"]
    assert lines == sorted(lines)
    assert not list(tmp_path.glob(".*partial"))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"warc": "crawl.warc"}, "warc must be a file name ending in .warc.gz, got 'crawl.warc'"),
        ({"warc": ".warc.gz"}, "warc must be a file name ending in .warc.gz, got '.warc.gz'"),
        ({"warc_max_size": 10}, "warc_max_size needs warc (the archive to write)"),
        ({"warc_cdx": True}, "warc_cdx needs warc (the archive to write)"),
        ({"warc": "a.warc.gz", "warc_max_size": 0}, "warc_max_size must be >= 1, got 0"),
    ],
)
def test_bad_archive_options_are_refused(options, message):
    with pytest.raises(ConfigError, match=rf"^{message}$".replace("(", r"\(").replace(")", r"\)")):
        CrawlConfig(**options)
