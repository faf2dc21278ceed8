"""The contenders: how to tell each is installed, how to run it, and how to read what it crawled.

Every contender runs as a command in its own process, so each is measured the same way (wall
time from spawn to exit, peak RSS of that process) and Python start-up counts for all of them.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

HERE = Path(__file__).resolve().parent
# ``crawl --help`` must answer within this; a broken entry point fails fast, a slow import not.
HELP_TIMEOUT_S = 30.0
# wget -nv logs each fetched page as ``<date> <time> URL:<url> [<size>] -> "<file>" [1]``.
WGET_FETCHED = re.compile(r" URL:(\S+) \[")


@dataclass(frozen=True, slots=True)
class Job:
    """One contender's run: where the site is, and where its output goes."""

    base: str
    manifest: Path
    concurrency: int
    workdir: Path
    crawl_cmd: tuple[str, ...]

    @property
    def output(self) -> Path:
        """The JSON Lines file that the contender writes."""
        return self.workdir / "out.jsonl"


@dataclass(frozen=True, slots=True)
class Contender:
    """A crawler under test.

    Attributes:
        name: Its name in ``--only`` and in the table.
        missing: Returns why it cannot run here, or ``None`` when it can.
        argv: Builds the command for one run.
        urls: Reads the URLs of the pages it fetched, after the run.
    """

    name: str
    missing: Callable[[Job], str | None]
    argv: Callable[[Job], list[str]]
    urls: Callable[[Job], list[str]]


def jsonl_urls(job: Job) -> list[str]:
    """Return the ``url`` of each record whose ``status``, if it has one, is a success."""
    if not job.output.exists():
        return []
    urls = []
    with job.output.open(encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            status = record.get("status", 200)
            # A record for a failed fetch is not a crawled page; the check reports it missing.
            if isinstance(status, int) and 200 <= status < 300 and "url" in record:
                urls.append(record["url"])
    return urls


@functools.cache
def crawl_help(cmd: tuple[str, ...]) -> str | None:
    """Return ``crawl --help`` output, or ``None`` if the command is absent or broken."""
    if shutil.which(cmd[0]) is None:
        return None
    try:
        done = subprocess.run(
            [*cmd, "--help"], capture_output=True, text=True, timeout=HELP_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def crawler_missing(job: Job) -> str | None:
    """Our crawler runs when its command answers ``--help``."""
    if crawl_help(job.crawl_cmd) is None:
        return f"`{shlex.join(job.crawl_cmd)} --help` failed (CLI not installed yet?)"
    return None


def crawler_argv(job: Job) -> list[str]:
    """Build our crawler's command on the same terms as the others.

    robots.txt off (Scrapy runs with ROBOTSTXT_OBEY False) and the per-host limit raised
    to the global concurrency (Scrapy runs with CONCURRENT_REQUESTS_PER_DOMAIN equal to
    CONCURRENT_REQUESTS): the whole site is one host, and our default of 8 would make
    this a politeness benchmark instead of a speed one.
    """
    argv = [
        *job.crawl_cmd,
        job.base,
        "-o",
        str(job.output),
        "--concurrency",
        str(job.concurrency),
        "-q",
    ]
    help_text = crawl_help(job.crawl_cmd) or ""
    if "--ignore-robots" in help_text:
        argv.append("--ignore-robots")
    if "--per-host-concurrency" in help_text:
        argv += ["--per-host-concurrency", str(job.concurrency)]
    return argv


def crawler_state_argv(job: Job) -> list[str]:
    """Build our crawler's command with a fresh SQLite ``--state`` file in the run's directory."""
    state = job.workdir / "crawl.db"
    for stale in (state, state.with_name("crawl.db-wal"), state.with_name("crawl.db-shm")):
        stale.unlink(missing_ok=True)  # a finished state would make the next round a no-op
    return [*crawler_argv(job), "--state", str(state)]


def warc_missing(job: Job) -> str | None:
    """``crawler-warc`` runs when our crawler does and the warc extra is installed."""
    return crawler_missing(job) or module_missing("warcio", "pip install -e '.[warc]'")(job)


def crawler_warc_argv(job: Job) -> list[str]:
    """Build our crawler's command archiving every exchange with ``--warc``."""
    return [*crawler_argv(job), "--warc", str(job.workdir / "crawl.warc.gz")]


def warc_urls(job: Job) -> list[str]:
    """Return the URI of each 2xx response in the run's archive, every digest checked.

    warcio raises on a block or payload digest that does not match, or a member that does
    not read; so a run whose archive is wrong fails instead of counting.
    """
    from warcio.archiveiterator import ArchiveIterator

    urls = []
    with (job.workdir / "crawl.warc.gz").open("rb") as file:
        for record in ArchiveIterator(file, check_digests="raise"):
            record.content_stream().read()  # the payload digest is checked as it is read
            status = record.http_headers.get_statuscode() if record.http_headers else ""
            uri = record.rec_headers.get_header("WARC-Target-URI")
            if record.rec_type in ("response", "revisit") and status.startswith("2"):
                urls.append(uri)
    return urls


def module_missing(module: str, install: str) -> Callable[[Job], str | None]:
    """Return a check that ``module`` is importable, naming the command that installs it."""

    def missing(job: Job) -> str | None:
        if importlib.util.find_spec(module) is None:
            return f"{module} not installed ({install})"
        return None

    return missing


def wget_missing(job: Job) -> str | None:
    """wget runs when it is on PATH."""
    return None if shutil.which("wget") else "wget not installed (apt-get install wget)"


def wget_argv(job: Job) -> list[str]:
    """Build the wget spider command; -P keeps its temporary files in the run's directory."""
    return [
        "wget",
        "-r",
        "-l",
        "inf",
        "--spider",
        "-nd",
        "-nv",
        "-P",
        str(job.workdir),
        "-o",
        str(job.workdir / "wget.log"),
        job.base,
    ]


def wget_urls(job: Job) -> list[str]:
    """Read the fetched URLs from wget's log."""
    log = job.workdir / "wget.log"
    text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
    return WGET_FETCHED.findall(text)


def floor_argv(job: Job) -> list[str]:
    """Build the fetch floor's command."""
    return [
        sys.executable,
        str(HERE / "floor.py"),
        job.base,
        str(job.manifest),
        "-o",
        str(job.output),
        "--concurrency",
        str(job.concurrency),
    ]


def scrapy_argv(job: Job) -> list[str]:
    """Build the Scrapy spider's command."""
    return [
        sys.executable,
        str(HERE / "scrapy_spider.py"),
        job.base,
        "-o",
        str(job.output),
        "--concurrency",
        str(job.concurrency),
    ]


CONTENDERS = (
    Contender("crawler", crawler_missing, crawler_argv, jsonl_urls),
    Contender("crawler-state", crawler_missing, crawler_state_argv, jsonl_urls),
    Contender("crawler-warc", warc_missing, crawler_warc_argv, warc_urls),
    Contender(
        "scrapy", module_missing("scrapy", "pip install -e '.[bench]'"), scrapy_argv, jsonl_urls
    ),
    Contender("wget", wget_missing, wget_argv, wget_urls),
    Contender("floor", module_missing("aiohttp", "pip install -e ."), floor_argv, jsonl_urls),
)
NAMES = tuple(c.name for c in CONTENDERS)
