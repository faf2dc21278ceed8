"""The ``crawl`` command as a subprocess: help, version, bad input, output, signals."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from crawler import __version__
from tests.conftest import Site, chain_graph

pytestmark = pytest.mark.timeout(60)
CRAWL = [sys.executable, "-m", "crawler"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CRAWL, *args], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30,
        check=False,
    )  # fmt: skip


async def run_async(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *CRAWL, *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    _, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, err.decode()


def test_help_lists_the_options():
    result = run("--help")
    assert result.returncode == 0
    options = ("--output", "--max-pages", "--max-depth", "--seeds-file", "--allow-domain")
    for option in (*options, "--per-host-concurrency", "--delay", "--ignore-robots", "--sitemap"):
        assert option in result.stdout


def test_version():
    result = run("--version")
    assert (result.returncode, result.stdout.strip()) == (0, f"crawl {__version__}")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["not-a-url"], "crawl: error: invalid seed URL 'not-a-url': not an http or https URL"),
        (
            ["--max-pages", "-1", "http://x"],
            "crawl: error: argument -n/--max-pages: must be >= 0, got -1",
        ),
        (["--max-pages", "0", "http://x"], "crawl: error: --max-pages must be >= 1, got 0"),
        (
            ["--allow", "(", "http://x"],
            "crawl: error: --allow: invalid regular expression '(': "
            "missing ), unterminated subpattern at position 0",
        ),
        (["http://x", "-o", "/nonexistent/dir/out.jsonl"], None),
        (["--seeds-file", "/nonexistent/seeds.txt"], None),
        (
            [],
            "crawl: error: no seed URL given (pass URLs, --seeds-file or --sitemap, "
            "or pipe URLs to stdin)",
        ),
        (
            ["--bogus", "http://x"],
            "crawl: error: unrecognized arguments: --bogus; see 'crawl --help'",
        ),
        (["http://x:99999/"], None),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message):
    result = run(*args)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("crawl: error: ")
    if message is not None:
        assert lines[0] == message
    assert result.stdout == ""


async def test_output_file_holds_one_record_per_page(serve, tmp_path):
    site = await serve(Site(pages=chain_graph(1000, fanout=3)))
    out = tmp_path / "out.jsonl"
    code, err = await run_async(site.url("/p0"), "-o", str(out), "--concurrency", "32")
    assert code == 0, err
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 1000
    assert {r["url"] for r in records} == site.urls()
    assert {r["status"] for r in records} == {200}
    assert "crawl: 1000 pages" in err


async def test_csv_output(serve, tmp_path):
    site = await serve(Site(pages=chain_graph(5, fanout=1)))
    out = tmp_path / "out.csv"
    code, _ = await run_async(site.url("/p0"), "-o", str(out), "--format", "csv", "-q")
    lines = out.read_text().splitlines()
    assert code == 0
    assert lines[0].startswith("url,final_url,status,depth,parent,")
    assert len(lines) == 6


async def test_max_pages_and_depth_from_the_command_line(serve, tmp_path):
    site = await serve(Site(pages=chain_graph(100, fanout=1)))
    out = tmp_path / "out.jsonl"
    code, _ = await run_async(site.url("/p0"), "-o", str(out), "--max-depth", "4", "-q")
    assert code == 0
    assert sorted(json.loads(x)["depth"] for x in out.read_text().splitlines()) == [0, 1, 2, 3, 4]


async def test_sigint_mid_crawl_leaves_valid_output(serve, tmp_path):
    release, blocked = asyncio.Event(), asyncio.Event()
    site = Site(pages=chain_graph(400, fanout=2))
    original = site.handle

    async def gated(request):  # hold every page after the 50th until the test is done
        if site.hits.total() >= 50:
            blocked.set()
            await release.wait()
        return await original(request)

    site.handle = gated  # type: ignore[method-assign]
    await serve(site)
    out = tmp_path / "out.jsonl"
    proc = await asyncio.create_subprocess_exec(
        *CRAWL, site.url("/p0"), "-o", str(out), stderr=subprocess.PIPE
    )
    await asyncio.wait_for(blocked.wait(), 20)
    proc.send_signal(signal.SIGINT)
    _, err = await asyncio.wait_for(proc.communicate(), 20)
    release.set()
    assert proc.returncode == 130, err.decode()
    text = out.read_text()
    assert text.endswith("\n")
    urls = [json.loads(line)["url"] for line in text.splitlines()]
    assert len(urls) == len(set(urls)) >= 1
    assert "stopped" in err.decode()


async def test_sigterm_exits_143(serve, tmp_path):
    release = asyncio.Event()
    site = Site(pages={"/": ["/hang"]})

    async def hang(request):
        await release.wait()

    site.handlers["/hang"] = hang
    await serve(site)
    proc = await asyncio.create_subprocess_exec(
        *CRAWL, site.url("/"), "-o", str(tmp_path / "o.jsonl"), stderr=subprocess.PIPE
    )
    await asyncio.wait_for(site.wait_for_hits(2), 20)
    proc.send_signal(signal.SIGTERM)
    await asyncio.wait_for(proc.communicate(), 20)
    release.set()
    assert proc.returncode == 143
    assert len(Path(tmp_path / "o.jsonl").read_text().splitlines()) == 1


def test_python_dash_m_and_console_script_agree():
    result = subprocess.run(["crawl", "--version"], capture_output=True, text=True, check=False)
    assert result.stdout.strip() == f"crawl {__version__}"


async def test_fields_select_and_order_jsonl_and_csv(serve, tmp_path):
    site = await serve(Site(pages={"/": ["/a", "http://other.invalid/x"], "/a": []}))
    jsonl, csv_out = tmp_path / "out.jsonl", tmp_path / "out.csv"
    fields = "title,url,outlinks,status"
    code, err = await run_async(site.url("/"), "-o", str(jsonl), "--fields", fields, "-q")
    assert (code, err) == (0, "")
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [list(r) for r in records] == [["title", "url", "outlinks", "status"]] * 2
    home = next(r for r in records if r["url"] == site.url("/"))
    assert home == {"title": "/", "url": site.url("/"), "outlinks": [site.url("/a")], "status": 200}
    args = (site.url("/"), "-o", str(csv_out), "--format", "csv", "--fields", fields, "-q")
    assert (await run_async(*args))[0] == 0
    lines = csv_out.read_text().splitlines()
    assert lines[0] == "title,url,outlinks,status"
    assert f'/,{site.url("/")},"[""{site.url("/a")}""]",200' in lines


async def test_include_links_adds_outlinks_to_the_default_record(serve, tmp_path):
    site = await serve(Site(pages={"/": ["/a"], "/a": ["/"]}))
    out = tmp_path / "out.jsonl"
    assert (await run_async(site.url("/"), "-o", str(out), "--include-links", "-q"))[0] == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [list(r)[-2:] for r in records] == [["error_detail", "outlinks"]] * 2
    assert {r["url"]: r["outlinks"] for r in records} == {
        site.url("/"): [site.url("/a")],
        site.url("/a"): [site.url("/")],
    }


def test_unknown_field_is_one_line_listing_the_valid_ones():
    result = run("http://x/", "--fields", "url,nope")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "crawl: error: --fields: unknown field 'nope' (valid: url, final_url, status, depth, "
        "parent, content_type, title, links, bytes, elapsed_ms, fetched_at, error, error_detail, "
        "outlinks, callback_error, text, markdown, saved_path, change, digest, simhash, canonical, duplicate_of)\n"
    )


def _serve_text(body: str, content_type: str):
    from aiohttp import web

    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=body, content_type=content_type)

    return handler


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ((), {"/a": (200, None), "/private": (None, "skipped: robots")}),
        (("--ignore-robots",), {"/a": (200, None), "/private": (200, None)}),
    ],
)
async def test_sitemap_robots_and_log_skipped_from_the_command_line(
    serve, tmp_path, flags, expected
):
    site = await serve(Site(pages={"/a": [], "/private": []}))
    sitemap = "".join(f"<url><loc>{site.url(p)}</loc></url>" for p in ("/a", "/private"))
    site.handlers["/sitemap.xml"] = _serve_text(f"<urlset>{sitemap}</urlset>", "application/xml")
    site.handlers["/robots.txt"] = _serve_text("User-agent: *\nDisallow: /private\n", "text/plain")
    out = tmp_path / "out.jsonl"
    args = ["--sitemap", site.url("/sitemap.xml"), "--log-skipped", "--delay", "0.05", *flags]
    code, err = await run_async(*args, "--per-host-concurrency", "2", "-o", str(out))
    assert code == 0, err
    records = [json.loads(line) for line in out.read_text().splitlines()]
    got = {r["url"].removeprefix(site.base): (r["status"], r["error_detail"]) for r in records}
    assert got == expected
