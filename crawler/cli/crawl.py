"""``crawl URL... [options]``: build a config from the options, run a ``Crawl``, summarise it."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import stat
import sys
from typing import TYPE_CHECKING

from crawler._version import __version__
from crawler.cli import options
from crawler.cli.door import add_door_options, check_door_files
from crawler.cli.errors import ExitStatus, UsageError
from crawler.cli.parsing import Parser
from crawler.config import is_shared
from crawler.engine import Crawl
from crawler.errors import OutputError
from crawler.progress import DEFAULT_LOG_INTERVAL, choose_display, refresh
from crawler.state import open_local_state
from crawler.summary import format_summary, no_seed_crawled, summary_json
from crawler.urls import with_default_scheme

if TYPE_CHECKING:
    from crawler.logs import LogFormat
    from crawler.progress import Display
    from crawler.state import StateCounts
    from crawler.stats import CrawlStats

EXAMPLES = """\
examples:
  # crawl a site into a file: JSON Lines, or CSV for a .csv file
  crawl https://example.com/ -o pages.jsonl
  # at most 3 links deep and 1000 pages, as CSV
  crawl https://example.com/ -d 3 -n 1000 -o pages.csv
  # check links in CI: exit 1 on a broken link, then list them with the pages linking to them
  crawl https://example.com/ -q --include-links --fail-on-broken -o links.jsonl \\
    || crawl report links.jsonl
  # a resumable crawl: after Ctrl-C or a crash, the same command carries on
  crawl https://example.com/ --state crawl.db -o pages.jsonl
  # a worker of a crawl shared through Redis (see 'crawl seed --help')
  crawl --state redis://127.0.0.1:6379/0 --crawl-id site -o worker-1.jsonl
"""
"""The five command lines people run most, the epilog's first part (a test parses each)."""

EPILOG = f"""{EXAMPLES}
{options.UNITS_NOTE}

Without URL, --seeds-file or --sitemap, the seed URLs are read from stdin when it is a pipe \
or a file: 'crawl -o pages.jsonl < urls.txt'.

'crawl report FILE' reports on a crawl's output; 'crawl seed|status|export|purge' seed, \
watch, export and delete a crawl shared through Redis; 'crawl help COMMAND' shows the \
options of each.

Exit status: 0 done, 1 an error, broken links (--fail-on-broken) or no seed could be \
crawled, 2 bad input, 130 SIGINT, 143 SIGTERM."""

RESUME_HINT = "run with --state FILE to make a crawl resumable"
"""The summary's last line after Ctrl-C or SIGTERM on a crawl without ``--state``."""

PARKED_HINT = (
    "{count} pages of origins that asked to come back later wait in the state: "
    "run the same command again to crawl them"
)
"""The summary's last line when a run ended with given-up origins' pages parked."""

USAGE = """\
%(prog)s [options] URL...
       %(prog)s report|seed|status|export|purge [options] ...   ('crawl help COMMAND')"""


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of ``crawl URL... [options]``: one machine's options, then shared ones."""
    parser = Parser(
        prog="crawl",
        description="Crawl web sites from seed URLs and write one record per page.",
        epilog=EPILOG,
        usage=USAGE,
    )
    parser.add_argument("-V", "--version", action="version", version=f"crawl {__version__}")
    _add_output_options(parser)
    _add_limit_options(parser)
    options.add_scope_options(parser)
    add_door_options(parser)
    _add_progress_options(parser)
    _add_state_options(parser)
    _add_politeness_options(parser)
    _add_shared_options(parser)
    return parser


def _add_output_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("input and output")
    options.add_output_file_options(group)
    options.add_seed_options(parser, group)
    group.add_argument(
        "--fields", type=_field_list, metavar="F,F,...",
        help="record fields to write, in this order, e.g. url,status,title,outlinks "
        "(default: all but outlinks)",
    )  # fmt: skip
    group.add_argument(
        "--field", dest="extract", type=_extract_field, action="append", default=[],
        metavar="NAME=KIND:EXPR",
        help="extract a field from every HTML page into its record: css:SELECTOR, "
        "css:SELECTOR@ATTR, xpath:EXPR or re:REGEX; NAME[]=... keeps every match as a "
        "list; repeatable",
    )  # fmt: skip
    group.add_argument(
        "--save-dir", metavar="DIR",
        help="keep each 2xx body as a file under DIR in wget's layout (DIR/HOST/PATH, "
        "index.html for /); records get saved_path",
    )  # fmt: skip
    group.add_argument(
        "--warc", metavar="FILE.warc.gz",
        help="archive every HTTP exchange (pages, redirects, robots.txt, sitemaps) as "
        "WARC/1.1, crash-safe with --state (the warc extra)",
    )  # fmt: skip
    group.add_argument(
        "--warc-max-size", type=options.size, metavar="SIZE",
        help="start FILE-00001.warc.gz, ... once the archive would pass SIZE",
    )  # fmt: skip
    group.add_argument(
        "--warc-cdx", action="store_true",
        help="also write a CDXJ index of the archive, FILE.cdxj, when the crawl ends",
    )  # fmt: skip
    group.add_argument(
        "--include-links", action="store_true",
        help="add 'outlinks' (the page's in-scope links) to every record",
    )  # fmt: skip
    group.add_argument(
        "--stats-json", metavar="FILE", help="also write the end summary as JSON to FILE"
    )
    group.add_argument(
        "--fail-on-broken", action="store_true",
        help="exit 1 if a page ended in an error or a 4xx/5xx status",
    )  # fmt: skip


def _extract_field(text: str) -> tuple[str, str]:
    name, sep, expression = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"not NAME=KIND:EXPR: {text!r}")
    return name, expression


def _field_list(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


def _add_limit_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("limits and fetching")
    group.add_argument(
        "-n", "--max-pages", type=options.count, metavar="N",
        help="stop after N fetches, failed ones included (default: no limit)",
    )  # fmt: skip
    options.add_depth_option(group)
    group.add_argument(
        "--time-limit", type=options.duration, metavar="TIME",
        help="stop the crawl after TIME (default: no limit)",
    )  # fmt: skip
    options.add_field_options(group, "--concurrency")
    options.add_fetch_options(group)
    options.add_field_options(group, "--max-text-bytes")


def _add_progress_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("progress and logging")
    options.add_logging_options(group, quiet="no progress and no summary: errors only")
    group.add_argument(
        "--no-progress", action="store_true",
        help="no live display on a terminal: log a progress line every interval instead",
    )  # fmt: skip
    group.add_argument(
        "--progress-interval", type=options.positive_duration, default=DEFAULT_LOG_INTERVAL,
        metavar="TIME", help=options.with_default(
            "time between progress log lines", DEFAULT_LOG_INTERVAL, options.positive_duration
        ),
    )  # fmt: skip
    options.add_traceback_option(group)


def _add_state_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("state (crash-safe, resumable crawls)")
    group.add_argument(
        "--state", metavar="FILE",
        help="keep the crawl's state in this SQLite file: the same command resumes the "
        "crawl (default: in memory; redis://...: see shared crawls)",
    )  # fmt: skip
    options.add_force_option(group)
    group.add_argument(
        "--recrawl", action="store_true",
        help="with --state FILE of a crawl that completed: crawl it again, asking each URL "
        "whether it changed (If-None-Match, If-Modified-Since); records get 'change'",
    )  # fmt: skip
    group.add_argument(
        "--resume-info", action="store_true",
        help="print what the --state file holds (pending, in flight, done, seen) and exit",
    )  # fmt: skip


def _add_politeness_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("politeness, sitemaps and traps")
    options.add_host_options(group)
    options.add_robots_option(group)
    group.add_argument(
        "--respect-nofollow", action="store_true",
        help="do not follow rel=nofollow links, nor any link of a nofollow page",
    )  # fmt: skip
    group.add_argument(
        "--follow-canonical", action="store_true",
        help="queue a page's in-scope canonical URL not seen yet; a page whose canonical was "
        "seen is recorded with duplicate_of, its links not followed",
    )  # fmt: skip
    options.add_sitemap_options(group)
    group.add_argument(
        "--trust-lastmod", action="store_true",
        help="with --recrawl: record unchanged, without a request, a page whose sitemap "
        "lastmod is not after its last fetch (off: some sites' lastmod lie)",
    )  # fmt: skip
    group.add_argument(
        "--max-pages-per-host", type=options.integer, metavar="N",
        help="fetch at most N pages per origin, skip the rest (default: no limit)",
    )  # fmt: skip
    options.add_trap_option(group)
    group.add_argument(
        "--log-skipped", action="store_true",
        help="also write a record for a URL skipped by robots.txt or --max-pages-per-host",
    )  # fmt: skip


def _add_shared_options(parser: argparse.ArgumentParser) -> None:
    group = options.add_shared_group(
        parser,
        "Many workers, on one machine or many, crawl one crawl: start each with --state "
        "redis://HOST:PORT/DB (or rediss://, unix://) and the same --crawl-id; a worker "
        "without seeds waits for them ('crawl seed').",
    )
    options.add_crawl_id_option(group)
    options.add_worker_options(group)


def run(args: argparse.Namespace) -> int:
    """Run the crawl ``args`` describe; return the exit status."""
    if args.resume_info:
        return _resume_info(args.state)
    seed_files = seed_files_of(args, stdin_is_piped())
    _check_inputs(args, seed_files)
    config = options.config_from_args(args)
    _check_stats_json(args.stats_json)
    crawler = Crawl(args.urls, config, seed_files=seed_files)
    display = _display(args, crawler)
    with display or contextlib.nullcontext():
        stats, signum = asyncio.run(_run(crawler, display))
    if not args.quiet:
        hints = [RESUME_HINT] if signum is not None and config.state is None else []
        if stats.stop_reason == "host_unavailable":
            hints.append(PARKED_HINT.format(count=stats.skipped["host_unavailable"]))
        _print_summary(stats, hints, args.log_format)
    if args.stats_json is not None:
        _write_stats_json(args.stats_json, stats)
    return _exit_status(stats, signum, fail_on_broken=args.fail_on_broken)


def _print_summary(stats: CrawlStats, hints: list[str], log_format: LogFormat) -> None:
    text = summary_json(stats, hints) if log_format == "json" else format_summary(stats, hints)
    print(text, file=sys.stderr)


def _exit_status(stats: CrawlStats, signum: int | None, *, fail_on_broken: bool) -> int:
    if signum is not None:
        return 128 + signum
    if stats.stop_reason == "output_closed":  # `| head` has what it wanted: not a failure
        return ExitStatus.OK
    seeds = no_seed_crawled(stats)
    if seeds is not None:  # the warnings said why each was refused; this says it was all
        print(f"crawl: error: no seed could be crawled ({seeds})", file=sys.stderr)
        return ExitStatus.NO_SEED_CRAWLED
    if fail_on_broken and stats.broken:
        return ExitStatus.BROKEN_LINKS
    return ExitStatus.OK


def stdin_is_piped() -> bool:
    """Return whether stdin is a pipe, a socket or a file: something that may hold seeds.

    Not a terminal (a person would have to type the URLs), nor ``/dev/null`` (a service's
    stdin), nor closed.
    """
    try:
        mode = os.fstat(sys.stdin.fileno()).st_mode
    except (AttributeError, OSError, ValueError):  # None, closed, or no file (a test's)
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISREG(mode)


def seed_files_of(args: argparse.Namespace, piped: bool) -> list[str]:
    """Return the seeds files: ``--seeds-file``, else stdin if ``piped`` and nothing else seeds.

    A worker of a shared crawl never reads stdin unasked: it may start without seeds and
    wait for them, and its stdin (``ssh host crawl ...``) is no list of URLs.
    """
    seeded = args.seeds_file or args.urls or args.sitemaps or is_shared(args.state)
    return list(args.seeds_file) if seeded or not piped else ["-"]


def _check_inputs(args: argparse.Namespace, seed_files: list[str]) -> None:
    # A worker of a shared crawl may start without seeds: it waits for them.
    if not (args.urls or seed_files or args.sitemaps or is_shared(args.state)):
        raise UsageError(
            "no seed URL given (pass URLs, --seeds-file or --sitemap, or pipe URLs to stdin)"
        )
    args.urls = [with_default_scheme(url) for url in args.urls]
    options.check_seeds(args.urls, seed_files)
    check_door_files(args)


async def _run(crawler: Crawl, display: Display | None) -> tuple[CrawlStats, int | None]:
    loop = asyncio.get_running_loop()
    received: list[int] = []

    def on_signal(signum: int) -> None:
        received.append(signum)
        crawler.stop()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)
    ticker = asyncio.create_task(refresh(display), name="crawl-progress") if display else None
    try:
        stats = await crawler.run()
    finally:
        if ticker is not None:
            ticker.cancel()
            await asyncio.gather(ticker, return_exceptions=True)
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    return stats, (received[0] if received else None)


def _display(args: argparse.Namespace, crawler: Crawl) -> Display | None:
    return choose_display(
        crawler.progress,
        quiet=args.quiet,
        live=not args.no_progress,
        interval=args.progress_interval,
        records_on_terminal=args.output == "-" and sys.stdout.isatty(),
    )


def _check_stats_json(path: str | None) -> None:
    if path is not None:
        try:
            open(path, "a").close()
        except OSError as exc:
            raise UsageError(f"cannot write stats {path!r}: {exc.strerror}") from None


def _write_stats_json(path: str, stats: CrawlStats) -> None:
    try:
        with open(path, "w", encoding="utf-8") as file:
            json.dump(stats.as_dict(), file, indent=2)
            file.write("\n")
    except OSError as exc:
        raise OutputError(f"cannot write stats {path!r}: {exc.strerror or exc}") from None


def _resume_info(path: str | None) -> int:
    if path is None:
        raise UsageError("--resume-info needs --state FILE")
    if not os.path.exists(path):
        raise UsageError(f"no state file {path!r}")
    counts = asyncio.run(_state_counts(path))
    print(
        f"state {path}: pending {counts.pending}, in flight {counts.leased}, "
        f"done {counts.done}, seen {counts.seen}"
    )
    return ExitStatus.OK


async def _state_counts(path: str) -> StateCounts:
    async with open_local_state(path) as state:
        return await state.counts()
