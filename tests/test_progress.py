"""Progress: the live display under a pseudo-terminal, the periodic log line, ``-q``, figures."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import pty
import re
import subprocess
import sys

import pytest

from crawler import Crawl, CrawlConfig
from crawler.progress import LiveDisplay, LogDisplay, RateMeter, choose_display, format_line
from crawler.stats import CrawlProgress
from tests.conftest import Site, chain_graph

pytestmark = pytest.mark.timeout(60)
CRAWL = [sys.executable, "-m", "crawler"]

LINE = re.compile(
    r"progress: \d+ pages done, \d+ discovered, \d+\.\d pages/s, \d+ in flight, \d+ queued, "
    r"0 errors, \d+(\.\d)? (B|KiB), elapsed 0:00:\d\d, \d+% of 30, ETA (\d+:\d\d:\d\d|\?)"
)


def gated(site: Site, answered: int, release: asyncio.Event) -> Site:
    """Answer the first ``answered`` requests, then hold each until ``release`` is set.

    A held request counts in ``site.hits`` as it arrives (and again once answered).
    """
    original = site.handle

    async def handle(request):
        if site.hits.total() >= answered:
            site.hits[f"held {request.path_qs}"] += 1  # counted on arrival: wait_for_hits works
            async with site.arrived:
                site.arrived.notify_all()
            await release.wait()
        return await original(request)

    site.handle = handle  # type: ignore[method-assign]
    return site


def terminal_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "CI")}
    return env | {"TERM": "xterm-256color", "COLUMNS": "160", "LINES": "40"}


class Terminal:
    """The master side of a pseudo-terminal: collects what the child draws on it."""

    def __init__(self, master: int) -> None:
        self.master = master
        self.data = bytearray()
        self.changed = asyncio.Event()
        self.closed = asyncio.Event()
        asyncio.get_running_loop().add_reader(master, self._read)

    def _read(self) -> None:
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # EIO: every writer is gone
            chunk = b""
        if not chunk:
            self.close()
        self.data += chunk
        self.changed.set()

    async def wait_for(self, text: bytes) -> None:
        while text not in self.data:
            self.changed.clear()
            await self.changed.wait()

    def close(self) -> None:
        if not self.closed.is_set():
            asyncio.get_running_loop().remove_reader(self.master)
            os.close(self.master)
            self.closed.set()
            self.changed.set()


async def test_live_display_on_a_terminal_leaves_stdout_records_alone(serve):
    release = asyncio.Event()
    site = await serve(gated(Site(pages=chain_graph(100, fanout=3)), 10, release))
    master, slave = pty.openpty()
    proc = await asyncio.create_subprocess_exec(
        *CRAWL, site.url("/p0"), "--max-pages", "40",
        stdout=subprocess.PIPE, stderr=slave, env=terminal_env(),
    )  # fmt: skip
    os.close(slave)
    terminal = Terminal(master)
    try:
        await asyncio.wait_for(terminal.wait_for(b"crawling"), 20)  # drawn mid-crawl
        release.set()
        out, _ = await asyncio.wait_for(proc.communicate(), 20)
        await asyncio.wait_for(terminal.closed.wait(), 20)
    finally:
        release.set()
        terminal.close()
    assert proc.returncode == 0
    assert b"\x1b" not in out
    assert len([json.loads(line) for line in out.decode().splitlines()]) == 40
    drawn = terminal.data.decode()
    assert "\x1b[1A\x1b[2K" in drawn  # cursor up, erase line: redrawn in place
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", drawn)
    assert "40 done" in screen
    assert "━━━━━━━━━━ 100% of 40, ETA" in screen
    assert "crawl: 40 pages in " in screen  # the summary follows the display


async def read_until(stream: asyncio.StreamReader, marker: bytes) -> str:
    while marker not in (line := await stream.readline()):
        assert line, "stream ended"
    return line.decode().rstrip("\n")


async def test_without_a_terminal_a_line_is_logged_every_interval(serve, tmp_path):
    release = asyncio.Event()
    site = await serve(gated(Site(pages=chain_graph(100, fanout=3)), 5, release))
    out = tmp_path / "out.jsonl"
    proc = await asyncio.create_subprocess_exec(
        *CRAWL, site.url("/p0"), "-o", str(out), "--max-pages", "30",
        "--progress-interval", "0.2", stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stderr is not None
    try:
        first = await asyncio.wait_for(read_until(proc.stderr, b"progress:"), 20)
        second = await asyncio.wait_for(read_until(proc.stderr, b"progress:"), 20)
    finally:
        release.set()
    _, rest = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0
    for line in (first, second):
        assert line.startswith("crawl: INFO: ")
        assert LINE.fullmatch(line.removeprefix("crawl: INFO: ")), line
    assert "\x1b" not in rest.decode()
    assert len(out.read_text().splitlines()) == 30


async def test_json_logs_carry_the_figures(serve):
    release = asyncio.Event()
    site = await serve(gated(Site(pages=chain_graph(100, fanout=3)), 5, release))
    proc = await asyncio.create_subprocess_exec(
        *CRAWL, site.url("/p0"), "-o", os.devnull, "--max-pages", "30",
        "--progress-interval", "0.2", "--log-format", "json", stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stderr is not None
    try:
        line = await asyncio.wait_for(read_until(proc.stderr, b"progress"), 20)
    finally:
        release.set()
    await asyncio.wait_for(proc.communicate(), 20)
    entry = json.loads(line)
    assert sorted(entry) == ["level", "logger", "message", "progress", "time"]
    assert (entry["level"], entry["logger"]) == ("info", "crawler.progress")
    assert LINE.fullmatch(entry["message"])
    assert sorted(entry["progress"]) == sorted(
        ["pages", "discovered", "in_flight", "queued", "errors", "bytes", "elapsed",
         "max_pages", "pages_per_second"]
    )  # fmt: skip
    assert entry["progress"]["max_pages"] == 30


async def test_quiet_is_silent(serve):
    release = asyncio.Event()
    site = await serve(gated(Site(pages=chain_graph(100, fanout=3)), 0, release))
    args = [site.url("/p0"), "-o", os.devnull, "--max-pages", "5", "--progress-interval", "0.2"]
    quiet = await asyncio.create_subprocess_exec(*CRAWL, *args, "-q", stderr=subprocess.PIPE)
    clock = await asyncio.create_subprocess_exec(*CRAWL, *args, stderr=subprocess.PIPE)
    assert clock.stderr is not None
    try:  # the second crawl logging proves the first ran past an interval
        await asyncio.wait_for(read_until(clock.stderr, b"progress:"), 20)
    finally:
        release.set()
    _, err = await asyncio.wait_for(quiet.communicate(), 20)
    await asyncio.wait_for(clock.communicate(), 20)
    assert (quiet.returncode, err) == (0, b"")


async def test_crawl_progress_counts_live_work(serve):
    release = asyncio.Event()
    # robots.txt and / are answered, the next two requests are held.
    site = await serve(gated(Site(pages={"/": ["/1", "/2", "/3", "/4", "/5"]}), 2, release))
    crawler = Crawl([site.url("/")], CrawlConfig(concurrency=2))
    task = asyncio.create_task(crawler.run())
    try:
        await asyncio.wait_for(site.wait_for_hits(4), 20)
        progress = crawler.progress()
    finally:
        release.set()
    await asyncio.wait_for(task, 20)
    assert (progress.pages, progress.discovered, progress.in_flight, progress.queued) == (
        1,
        6,
        2,
        3,
    )
    assert (progress.errors, progress.max_pages) == (0, None)
    assert crawler.progress().pages == 6


def figures(pages: int, elapsed: float, max_pages: int | None = None) -> CrawlProgress:
    return CrawlProgress(
        pages=pages, discovered=pages + 50, in_flight=4, queued=46, errors=2,
        bytes=3 * 1024 * 1024, elapsed=elapsed, max_pages=max_pages,
    )  # fmt: skip


def test_format_line():
    assert format_line(figures(100, 65.4), 12.34) == (
        "100 pages done, 150 discovered, 12.3 pages/s, 4 in flight, 46 queued, 2 errors, "
        "3.0 MiB, elapsed 0:01:05"
    )
    assert format_line(figures(100, 10.0, max_pages=400), 10.0).endswith(
        ", elapsed 0:00:10, 25% of 400, ETA 0:00:30"
    )
    assert format_line(figures(0, 1.0, max_pages=400), 0.0).endswith(", 0% of 400, ETA ?")


def test_rate_meter_measures_the_recent_window():
    meter = RateMeter(window=5.0)
    assert meter.update(0.0, 0) == 0.0
    assert meter.update(2.0, 100) == 50.0
    assert meter.update(10.0, 500) == 50.0
    assert meter.update(20.0, 500) == 0.0  # stalled for the last 10 s


def test_log_display_logs_on_the_progress_logger(caplog):
    caplog.set_level(logging.INFO, logger="crawler.progress")
    LogDisplay(lambda: figures(10, 1.0), interval=1.0).tick()
    (record,) = caplog.records
    assert (record.name, record.levelname) == ("crawler.progress", "INFO")
    assert record.getMessage().startswith("progress: 10 pages done, 60 discovered, 10.0 pages/s")
    assert record.progress["pages_per_second"] == 10.0  # type: ignore[attr-defined]


def test_choose_display(monkeypatch):
    def source() -> CrawlProgress:
        return figures(0, 0.0)

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    choose = {"interval": 3.0, "records_on_terminal": False}
    assert choose_display(source, quiet=True, live=True, **choose) is None
    assert isinstance(choose_display(source, quiet=False, live=True, **choose), LiveDisplay)
    logged = choose_display(source, quiet=False, live=False, **choose)
    assert isinstance(logged, LogDisplay)
    assert logged.interval == 3.0
    on_terminal = choose | {"records_on_terminal": True}
    assert isinstance(choose_display(source, quiet=False, live=True, **on_terminal), LogDisplay)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    assert isinstance(choose_display(source, quiet=False, live=True, **choose), LogDisplay)


LOG_DURING_DISPLAY = """
import logging
from crawler.logs import configure_logging
from crawler.progress import LiveDisplay
from crawler.stats import CrawlProgress
configure_logging(logging.WARNING)
figures = CrawlProgress(pages=1, discovered=2, in_flight=1, queued=0, errors=0, bytes=10,
                        elapsed=1.0, max_pages=None)
with LiveDisplay(lambda: figures) as display:
    display.tick()
    logging.getLogger("crawler.x").warning("during")
    display.tick()
logging.getLogger("crawler.x").warning("after")
"""


def test_log_records_print_above_the_live_display():
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-c", LOG_DURING_DISPLAY], stderr=slave, env=terminal_env()
    )
    os.close(slave)
    data = bytearray()
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child has exited
            break
        if not chunk:
            break
        data += chunk
    os.close(master)
    assert proc.wait(timeout=30) == 0
    drawn = data.decode()
    # The display is erased, the record printed, and the display drawn again below it.
    assert "\x1b[2Kcrawl: WARNING: during\r\n\x1b[1mcrawling " in drawn
    assert drawn.endswith("\x1b[?25hcrawl: WARNING: after\r\n")  # the handler is restored
