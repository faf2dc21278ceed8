"""Where the command reads and writes without being told: the output format follows ``-o``'s
extension, and seed URLs piped to stdin are read when nothing else seeds the crawl."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest

from crawler.cli import COMMANDS
from crawler.cli import crawl as crawl_command
from crawler.cli.options import config_from_args, output_format
from tests.conftest import Site, chain_graph

pytestmark = pytest.mark.timeout(60)
CRAWL = [sys.executable, "-m", "crawler"]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["-o", "out.csv"], "csv"), (["-o", "OUT.CSV"], "csv"), (["-o", "out.jsonl"], "jsonl"),
        (["-o", "out.ndjson"], "jsonl"), (["-o", "out.json"], "jsonl"),
        (["-o", "out.txt"], "jsonl"), (["-o", "csv"], "jsonl"), ([], "jsonl"),
        (["-o", "dir.csv/out"], "jsonl"),
        (["-o", "out.csv", "--format", "jsonl"], "jsonl"),
        (["-o", "out.jsonl", "--format", "csv"], "csv"), (["--format", "csv"], "csv"),
    ],
)  # fmt: skip
def test_the_output_format_follows_the_extension_unless_given(argv, expected):
    crawl_args = crawl_command.build_parser().parse_args([*argv, "http://h/"])
    assert config_from_args(crawl_args).output_format == expected
    export_args = (
        COMMANDS["export"].parser().parse_args([*argv, "--state", "redis://h/0", "--crawl-id", "c"])
    )
    assert output_format(export_args) == expected


async def run(*args: str, stdin=subprocess.DEVNULL, input: str | None = None) -> tuple[int, str]:
    """Run ``crawl ARGS`` with ``stdin`` (or a pipe of ``input``); return its status and stderr."""
    proc = await asyncio.create_subprocess_exec(
        *CRAWL, *args, stdin=subprocess.PIPE if input is not None else stdin,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    _, err = await proc.communicate(None if input is None else input.encode())
    assert proc.returncode is not None
    return proc.returncode, err.decode()


async def test_a_csv_file_gets_csv_without_format(serve, tmp_path):
    site = await serve(Site(pages=chain_graph(3, fanout=1)))
    out = tmp_path / "pages.csv"
    assert await run(site.url("/p0"), "-o", str(out), "-q") == (0, "")
    lines = out.read_text().splitlines()
    assert lines[0].startswith("url,final_url,status,")
    assert len(lines) == 4


def urls_in(path) -> set[str]:
    return {json.loads(line)["url"] for line in path.read_text().splitlines()}


async def test_urls_piped_to_stdin_are_the_seeds(serve, tmp_path):
    site = await serve(Site(pages={"/a": [], "/b": []}))
    out = tmp_path / "out.jsonl"
    piped = f"{site.url('/a')}\n# a comment\n{site.url('/b')}\n"
    assert await run("-o", str(out), "-q", "--ignore-robots", input=piped) == (0, "")
    assert urls_in(out) == {site.url("/a"), site.url("/b")}


async def test_a_file_on_stdin_is_read_as_seeds(serve, tmp_path):
    site = await serve(Site(pages={"/a": []}))
    seeds, out = tmp_path / "seeds.txt", tmp_path / "out.jsonl"
    seeds.write_text(site.url("/a") + "\n")
    with seeds.open() as stdin:
        assert await run("-o", str(out), "-q", "--ignore-robots", stdin=stdin) == (0, "")
    assert urls_in(out) == {site.url("/a")}


async def test_stdin_is_not_read_when_a_url_is_given(serve, tmp_path):
    site = await serve(Site(pages={"/a": [], "/b": []}))
    out = tmp_path / "out.jsonl"
    args = (site.url("/a"), "-o", str(out), "-q", "--ignore-robots")
    assert await run(*args, input=site.url("/b") + "\n") == (0, "")
    assert urls_in(out) == {site.url("/a")}


async def test_without_seeds_and_with_dev_null_on_stdin_it_is_a_usage_error():
    assert await run() == (
        2,
        "crawl: error: no seed URL given (pass URLs, --seeds-file or --sitemap, or pipe URLs "
        "to stdin)\n",
    )


@pytest.mark.parametrize(
    ("argv", "piped", "expected"),
    [
        ([], True, ["-"]),
        ([], False, []),
        (["http://h/"], True, []),
        (["--seeds-file", "s.txt"], True, ["s.txt"]),
        (["--sitemap", "http://h/sitemap.xml"], True, []),
        (["--state", "redis://h/0", "--crawl-id", "c"], True, []),  # a worker waits instead
        (["--state", "crawl.db"], True, ["-"]),
    ],
)
def test_stdin_seeds_only_a_crawl_that_nothing_else_seeds(argv, piped, expected):
    args = crawl_command.build_parser().parse_args(argv)
    assert crawl_command.seed_files_of(args, piped) == expected


def test_stdin_of_pytest_is_not_taken_for_a_pipe():
    assert crawl_command.stdin_is_piped() is False  # pytest's stdin has no file descriptor
