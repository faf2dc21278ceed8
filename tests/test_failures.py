"""Hostile input and failing disks meet one clear line: no traceback, the right exit status.

Bad input is exit 2; the output failing mid-crawl (a full disk, an I/O error) is exit 1, and
the same command resumes exactly once space is back.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from crawler.config import CrawlConfig
from crawler.errors import ConfigError, SeedError
from crawler.urls import validate_seed
from tests.conftest import Site, chain_graph

pytestmark = pytest.mark.timeout(120)


def crawl_command(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "crawler", *args],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--timeout", "inf"], "timeout"),
        (["--timeout", "1e309"], "timeout"),
        (["--delay", "inf"], "delay"),
        (["--concurrency", "99999999999999999999"], "concurrency"),
        (["--user-agent", "a\r\nX-Evil: 1"], "user"),
    ],
)
def test_a_hostile_option_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = crawl_command("http://127.0.0.1:1/", *args)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("crawl: error: ")
    assert message in result.stderr


@pytest.mark.parametrize(
    ("seed", "reason"),
    [
        ("http://127.0.0.1%00evil/", "invalid host"),
        ("http://a" + "b" * 100_000 + ".test/", "longer than 2048 characters"),
        ("http://ex ample.test/", "invalid host"),
    ],
)
def test_a_hostile_seed_is_refused(seed: str, reason: str) -> None:
    with pytest.raises(SeedError, match=reason):
        validate_seed(seed)
    result = crawl_command(seed)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.count("\n") == 1 and reason in result.stderr


@pytest.mark.parametrize("seed", ["http://[::1]:8080/", "http://bücher.test/", "http://a_b.test/"])
def test_unusual_but_valid_seeds_pass(seed: str) -> None:
    assert validate_seed(seed) == seed


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"timeout": float("nan")}, r"^timeout must be a finite number, got nan$"),
        ({"max_crawl_delay": float("inf")}, r"^max_crawl_delay must be a finite number, got inf$"),
        ({"concurrency": 10_001}, r"^concurrency must be <= 10000, got 10001$"),
        ({"user_agent": "a\nb"}, r"^user_agent must not contain CR, LF or NUL"),
    ],
)
def test_the_config_refuses_unbounded_numbers_and_header_breaks(options, message) -> None:
    with pytest.raises(ConfigError, match=message):
        CrawlConfig(**options)


@pytest.mark.skipif(not Path("/proc/version").exists(), reason="needs Linux's /proc")
def test_an_output_that_fails_mid_crawl_is_one_line_and_exit_1(tmp_path: Path) -> None:
    result = crawl_command("http://127.0.0.1:1/", "-o", "/proc/version", "-q")
    assert (result.returncode, result.stdout) == (1, "")
    assert (
        result.stderr == "crawl: error: cannot write output '/proc/version': Input/output error\n"
    )


def tiny_disk(path: Path, size: str) -> None:
    """Mount a tmpfs of ``size`` at ``path``; skip where that is impossible (fail under CI)."""
    path.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        reason = f"cannot mount a tmpfs (needs root): {result.stderr.strip()}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)


def unmount(path: Path) -> None:
    subprocess.run(["umount", str(path)], check=False)
    shutil.rmtree(path, ignore_errors=True)


async def test_a_full_disk_stops_the_crawl_in_one_line_and_it_resumes_exactly(
    serve, tmp_path: Path
) -> None:
    site = await serve(Site(pages=chain_graph(400, fanout=3)))
    disk = tmp_path / "disk"
    tiny_disk(disk, "256k")
    try:
        filler = disk / "filler"
        filler.write_bytes(b"x" * (256 * 1024 - 40 * 1024))  # about 40 KiB left: ~150 records
        out, state = disk / "out.jsonl", tmp_path / "crawl.db"
        args = [sys.executable, "-m", "crawler", site.url("/p0"), "-o", str(out), "-q",
                "--state", str(state), "--ignore-robots", "--concurrency", "4"]  # fmt: skip
        first = await asyncio.create_subprocess_exec(*args, stderr=subprocess.PIPE)
        _, err = await asyncio.wait_for(first.communicate(), 60)
        assert first.returncode == 1
        assert err.decode() == (
            f"crawl: error: cannot write output '{out}': No space left on device\n"
        )
        filler.unlink()
        again = await asyncio.create_subprocess_exec(*args, stderr=subprocess.PIPE)
        _, err = await asyncio.wait_for(again.communicate(), 60)
        assert again.returncode == 0, err.decode()
        urls = [json.loads(line)["url"] for line in out.read_text().splitlines()]
        assert sorted(urls) == sorted(site.urls())
    finally:
        unmount(disk)


async def test_a_full_disk_under_the_state_is_one_line_and_it_resumes_exactly(
    serve, tmp_path: Path
) -> None:
    site = await serve(Site(pages=chain_graph(3000, fanout=3)))
    disk = tmp_path / "disk"
    tiny_disk(disk, "8m")
    try:
        filler = disk / "filler"
        filler.write_bytes(b"x" * (8 * 1024 * 1024 - 300 * 1024))  # about 300 KiB for the state
        out, state = tmp_path / "out.jsonl", disk / "crawl.db"
        args = [sys.executable, "-m", "crawler", site.url("/p0"), "-o", str(out), "-q",
                "--state", str(state), "--ignore-robots", "--concurrency", "4"]  # fmt: skip
        first = await asyncio.create_subprocess_exec(*args, stderr=subprocess.PIPE)
        _, err = await asyncio.wait_for(first.communicate(), 60)
        assert first.returncode == 1, err.decode()
        assert err.decode().startswith(f"crawl: error: cannot write state file '{state}': ")
        assert err.decode().endswith("database or disk is full\n") and err.count(b"\n") == 1
        filler.unlink()
        again = await asyncio.create_subprocess_exec(*args, stderr=subprocess.PIPE)
        _, err = await asyncio.wait_for(again.communicate(), 60)
        assert again.returncode == 0, err.decode()
        urls = [json.loads(line)["url"] for line in out.read_text().splitlines()]
        assert sorted(urls) == sorted(site.urls())
    finally:
        unmount(disk)
