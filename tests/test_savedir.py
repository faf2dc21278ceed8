"""Saved pages: wget's layout, and nothing ever written outside the folder."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from aiohttp import web

from crawler import crawl
from crawler.savedir import MAX_NAME, SaveDir, relative_path
from tests.conftest import Site

pytestmark = pytest.mark.timeout(60)

LONG = "x" * 300


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://h.test/", "h.test/index.html"),
        ("http://h.test", "h.test/index.html"),
        ("http://h.test/docs/", "h.test/docs/index.html"),
        ("http://h.test/docs/index.html", "h.test/docs/index.html"),
        ("http://h.test/a/b.css", "h.test/a/b.css"),
        ("http://H.test:8080/p", "h.test+8080/p"),
        ("https://h.test:443/p", "h.test/p"),
        ("http://h.test/p?b=2&a=1", "h.test/p@b=2&a=1"),
        ("http://h.test/?q=1", "h.test/index.html@q=1"),
        ("http://h.test/../../etc/passwd", "h.test/etc/passwd"),
        ("http://h.test/a/%2e%2e/%2e%2e/x", "h.test/a/x"),
        ("http://h.test/a%2Fb/c", "h.test/a%2Fb/c"),
        ("http://h.test/a%5Cb", "h.test/a%5Cb"),
        ("http://h.test/caf%C3%A9/%E2%82%AC", "h.test/café/€"),
        ("http://h.test/con", "h.test/_con"),
        ("http://h.test/NUL.txt", "h.test/_NUL.txt"),
        ("http://h.test/a%00b", "h.test/a%00b"),
        ("http://h.test/p?x=../../y", "h.test/p@x=..%2F..%2Fy"),
    ],
)
def test_wget_layout_and_safe_names(url: str, expected: str) -> None:
    assert relative_path(url) == Path(expected)


@pytest.mark.parametrize(
    "url",
    [
        "http://h.test/../../../../etc/passwd", "http://h.test/%2e%2e/%2e%2e/x",
        "http://h.test/..%2f..%2fx", "http://h.test/a/../../../b", f"http://h.test/{LONG}/{LONG}",
        f"http://h.test/p?{LONG}", "http://h.test/%00/%0a", "http://h.test//abs/path",
    ],
)  # fmt: skip
def test_every_path_stays_inside_the_folder(tmp_path: Path, url: str) -> None:
    saved = Path(SaveDir(str(tmp_path / "pages")).save(url, b"body"))
    assert saved.resolve().is_relative_to((tmp_path / "pages").resolve())
    assert all(len(part.encode()) <= MAX_NAME for part in saved.parts)
    assert saved.read_bytes() == b"body"


def test_long_names_are_shortened_with_a_hash_and_never_meet(tmp_path: Path) -> None:
    first = relative_path(f"http://h.test/{LONG}a")
    second = relative_path(f"http://h.test/{LONG}b")
    assert first != second and len(first.name.encode()) <= MAX_NAME


def test_a_file_and_a_folder_of_the_same_name_both_keep(tmp_path: Path) -> None:
    save = SaveDir(str(tmp_path))
    page = save.save("http://h.test/a", b"page a")
    below = save.save("http://h.test/a/b", b"page b")
    assert Path(page).read_bytes() == b"page a"
    assert Path(below) == tmp_path / "h.test" / "a@dir" / "b"


def test_a_symbolic_link_in_the_folder_is_never_followed_out(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "pages"
    (root / "h.test").mkdir(parents=True)
    os.symlink(outside, root / "h.test" / "docs")
    os.symlink(outside / "target", root / "h.test" / "file")
    os.symlink(outside / "temporary", root / "h.test" / ".page.part")  # where a try writes
    saved = Path(SaveDir(str(root)).save("http://h.test/docs/x", b"x"))
    SaveDir(str(root)).save("http://h.test/file", b"y")
    SaveDir(str(root)).save("http://h.test/page", b"z")
    assert list(outside.iterdir()) == []
    assert (root / "h.test" / "page").read_bytes() == b"z"
    assert saved.resolve().is_relative_to(root.resolve())


async def test_a_crawl_saves_every_2xx_body_and_records_where(serve, tmp_path: Path) -> None:
    async def image(request: web.Request) -> web.Response:
        return web.Response(body=b"\x89PNG-bytes", content_type="image/png")

    site = await serve(Site(pages={"/": ["/docs/", "/logo.png", "/missing"], "/docs/": []},
                            handlers={"/logo.png": image}))  # fmt: skip
    out, pages = tmp_path / "out.jsonl", tmp_path / "pages"
    await crawl([site.url("/")], output=str(out), save_dir=str(pages))
    records = {r["url"]: r for r in map(json.loads, out.read_text().splitlines())}
    host = site.base.removeprefix("http://").replace(":", "+")
    expected = {"/": f"{host}/index.html", "/docs/": f"{host}/docs/index.html",
                "/logo.png": f"{host}/logo.png"}  # fmt: skip
    for path, relative in expected.items():
        assert records[site.url(path)]["saved_path"] == str(pages.resolve() / relative)
        assert (pages / relative).read_bytes() == await _body(site, path)
    assert records[site.url("/missing")]["saved_path"] is None
    assert not [p for p in pages.rglob("*.part")]


async def _body(site: Site, path: str) -> bytes:
    import aiohttp

    async with aiohttp.ClientSession() as session, session.get(site.url(path)) as resp:
        return await resp.read()
