"""``crawl URL... [options]``: build a config from the options, run a ``Crawl``, summarise it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from typing import TYPE_CHECKING

from crawler._version import __version__
from crawler.cli import options
from crawler.cli.errors import ExitStatus, UsageError
from crawler.config import is_shared
from crawler.engine import Crawl
from crawler.errors import OutputError
from crawler.progress import DEFAULT_LOG_INTERVAL, choose_display, refresh
from crawler.state import open_local_state
from crawler.summary import format_summary

if TYPE_CHECKING:
    import argparse

    from crawler.progress import Display
    from crawler.state import StateCounts
    from crawler.stats import CrawlStats

EPILOG = (
    "'crawl report FILE' reports on a crawl's output (see 'crawl report --help'). "
    "'crawl seed|status|export|purge --state redis://... --crawl-id NAME' seed, watch, "
    "export and delete a crawl shared by many workers. "
    "Exit status: 0 done, 1 error or broken links (--fail-on-broken), 2 bad input, "
    "130 SIGINT, 143 SIGTERM."
)


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of ``crawl URL... [options]``."""
    parser = options.Parser(
        prog="crawl",
        description="Crawl web sites from seed URLs and write one record per page.",
        epilog=EPILOG,
    )
    _add_output_options(parser)
    _add_limit_options(parser)
    options.add_scope_options(parser)
    _add_progress_options(parser)
    _add_state_options(parser)
    _add_politeness_options(parser)
    parser.add_argument("--version", action="version", version=f"crawl {__version__}")
    return parser


def _add_output_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("input and output")
    options.add_output_file_options(group)
    options.add_seed_options(parser, group)
    group.add_argument(
        "--fields", type=_field_list, metavar="F,F,...",
        help="record fields to write, in this order (e.g. url,status,title,outlinks)",
    )  # fmt: skip
    group.add_argument(
        "--include-links", action="store_true",
        help="add 'outlinks' (the page's in-scope links) to every record",
    )  # fmt: skip
    group.add_argument("--stats-json", metavar="FILE", help="also write the summary as JSON")
    group.add_argument(
        "--fail-on-broken", action="store_true",
        help="exit 1 if a page ended in an error or a 4xx/5xx status",
    )  # fmt: skip


def _field_list(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


def _add_limit_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("limits and fetching")
    group.add_argument("--max-pages", type=options.count, metavar="N")
    options.add_depth_option(group)
    group.add_argument("--time-limit", type=options.number, metavar="S")
    options.add_field_options(group, "--concurrency")
    options.add_fetch_options(group)


def _add_progress_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("progress and logging")
    options.add_logging_options(group, quiet="no progress, no stats")
    group.add_argument(
        "--no-progress", action="store_true",
        help="no live display on a terminal: log a progress line every interval instead",
    )  # fmt: skip
    group.add_argument(
        "--progress-interval", type=options.positive_number, default=DEFAULT_LOG_INTERVAL,
        metavar="S", help="seconds between progress log lines (default: %(default)s)",
    )  # fmt: skip
    options.add_traceback_option(group)


def _add_state_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("state (crash-safe, resumable crawls)")
    group.add_argument(
        "--state", metavar="FILE|URL",
        help="keep the crawl's state in this SQLite file (the same command resumes the crawl)"
        " or in Redis, redis://HOST:PORT/DB, shared by every worker of --crawl-id",
    )  # fmt: skip
    group.add_argument("--crawl-id", metavar="NAME", help="the crawl's name in a Redis state")
    options.add_worker_options(group)
    group.add_argument(
        "--resume-info", action="store_true",
        help="print what the --state file holds (pending, in flight, done, seen) and exit",
    )  # fmt: skip


def _add_politeness_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("politeness, sitemaps and traps")
    options.add_host_options(group)
    options.add_robots_option(group)
    group.add_argument("--respect-nofollow", action="store_true", help="do not follow nofollow")
    options.add_sitemap_options(group)
    group.add_argument("--max-pages-per-host", type=options.integer, metavar="N")
    options.add_trap_option(group)
    group.add_argument("--log-skipped", action="store_true", help="a record per skipped URL")


def run(args: argparse.Namespace) -> int:
    """Run the crawl ``args`` describe; return the exit status."""
    if args.resume_info:
        return _resume_info(args.state)
    _check_inputs(args)
    config = options.config_from_args(args)
    _check_stats_json(args.stats_json)
    crawler = Crawl(args.urls, config, seed_files=args.seeds_file)
    display = _display(args, crawler)
    with display or contextlib.nullcontext():
        stats, signum = asyncio.run(_run(crawler, display))
    if not args.quiet:
        print(format_summary(stats), file=sys.stderr)
    if args.stats_json is not None:
        _write_stats_json(args.stats_json, stats)
    if signum is not None:
        return 128 + signum
    if stats.stop_reason == "output_closed":  # `| head` has what it wanted: not a failure
        return ExitStatus.OK
    if args.fail_on_broken and stats.broken:
        return ExitStatus.BROKEN_LINKS
    return ExitStatus.OK


def _check_inputs(args: argparse.Namespace) -> None:
    # A worker of a shared crawl may start without seeds: it waits for them.
    if not (args.urls or args.seeds_file or args.sitemaps or is_shared(args.state)):
        raise UsageError("no seed URL given (pass URLs, --seeds-file or --sitemap)")
    options.check_seeds(args.urls, args.seeds_file)


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
