"""The ``crawl`` command: a thin shell that parses arguments, builds a config and runs a ``Crawl``.

``crawl URL...`` crawls; ``crawl report FILE`` reads a crawl's output and reports on it
(the first argument ``report`` picks the subcommand).

Exit status (``ExitStatus``): 0 the crawl ran, 1 an unexpected error or (with
``--fail-on-broken``) broken links found, 2 bad input (usage, a malformed URL, an invalid
option, an unreadable seeds file or unwritable output, a state file of another crawl or a
corrupt one), 130 stopped by SIGINT (Ctrl-C), 143 stopped by SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import enum
import json
import logging
import os
import signal
import sys
from typing import TYPE_CHECKING, NoReturn

from crawler._version import __version__
from crawler.config import CrawlConfig, is_shared
from crawler.coordination import open_state
from crawler.engine import Crawl
from crawler.errors import CrawlerError, OutputError, SeedError
from crawler.logs import configure_logging
from crawler.progress import DEFAULT_LOG_INTERVAL, choose_display, refresh
from crawler.records_io import read_records
from crawler.report import TOP_PAGES, build_report, format_report
from crawler.report_html import render_html
from crawler.shared.admin import export, purge_crawl, status_text
from crawler.summary import format_summary
from crawler.urls import validate_seed

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from crawler.progress import Display
    from crawler.report import Report
    from crawler.state import StateCounts
    from crawler.stats import CrawlStats

log = logging.getLogger("crawler")


class ExitStatus(enum.IntEnum):
    """The command's exit codes."""

    OK = 0
    ERROR = 1
    BROKEN_LINKS = 1  # with --fail-on-broken: the crawl or report found broken links
    USAGE = 2
    SIGINT = 128 + signal.SIGINT
    SIGTERM = 128 + signal.SIGTERM


class UsageError(Exception):
    """Bad command-line input: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of ``crawl URL... [options]``."""
    parser = _Parser(
        prog="crawl",
        description="Crawl web sites from seed URLs and write one record per page.",
        epilog="'crawl report FILE' reports on a crawl's output (see 'crawl report --help'). "
        "'crawl seed|status|export|purge --state redis://... --crawl-id NAME' seed, watch, "
        "export and delete a crawl shared by many workers. "
        "Exit status: 0 done, 1 error or broken links (--fail-on-broken), 2 bad input, "
        "130 SIGINT, 143 SIGTERM.",
    )
    parser.add_argument("urls", nargs="*", metavar="URL", help="seed URLs (http or https)")
    _add_output_options(parser)
    _add_limit_options(parser)
    _add_scope_options(parser)
    _add_observability_options(parser)
    _add_state_options(parser)
    _add_politeness_options(parser)
    parser.add_argument("--version", action="version", version=f"crawl {__version__}")
    return parser


def _add_output_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("input and output")
    group.add_argument("-o", "--output", default="-", help="output file, '-' for stdout")
    group.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    group.add_argument(
        "--seeds-file", action="append", default=[], metavar="FILE",
        help="file of seed URLs, one per line ('-' for stdin); repeatable",
    )  # fmt: skip
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


def _add_limit_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("limits and fetching")
    group.add_argument("--max-pages", type=_non_negative_int, metavar="N")
    group.add_argument("--max-depth", type=_non_negative_int, metavar="N")
    group.add_argument("--time-limit", type=_positive_float, metavar="S")
    group.add_argument("--concurrency", type=_non_negative_int, default=16, metavar="N")
    group.add_argument("--timeout", type=_positive_float, default=30.0, metavar="S")
    group.add_argument("--retries", type=_non_negative_int, default=2, metavar="N")
    group.add_argument("--max-bytes", type=_non_negative_int, default=10 * 2**20, metavar="N")
    group.add_argument("--user-agent", metavar="S")


def _add_scope_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("scope (deny wins over allow)")
    group.add_argument("--allow-domain", action="append", default=[], metavar="D")
    group.add_argument("--deny-domain", action="append", default=[], metavar="D")
    group.add_argument("--allow", action="append", default=[], metavar="REGEX")
    group.add_argument("--deny", action="append", default=[], metavar="REGEX")


def _add_observability_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("progress and logging")
    group.add_argument("-q", "--quiet", action="store_true", help="no progress, no stats")
    group.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv)")
    group.add_argument("--log-format", choices=("text", "json"), default="text")
    group.add_argument(
        "--no-progress", action="store_true",
        help="no live display on a terminal: log a progress line every interval instead",
    )  # fmt: skip
    group.add_argument(
        "--progress-interval", type=_positive_float, default=DEFAULT_LOG_INTERVAL, metavar="S",
        help=f"seconds between progress log lines (default {DEFAULT_LOG_INTERVAL:g})",
    )  # fmt: skip
    group.add_argument("--traceback", action="store_true", help="show tracebacks of errors")


def _field_list(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


def _add_state_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("state (crash-safe, resumable crawls)")
    group.add_argument(
        "--state", metavar="FILE|URL",
        help="keep the crawl's state in this SQLite file (the same command resumes the crawl)"
        " or in Redis, redis://HOST:PORT/DB, shared by every worker of --crawl-id",
    )  # fmt: skip
    group.add_argument("--crawl-id", metavar="NAME", help="the crawl's name in a Redis state")
    group.add_argument(
        "--worker-id", metavar="ID",
        help="this worker's id in a Redis state (default: host-pid-random)",
    )  # fmt: skip
    group.add_argument(
        "--lease-seconds", type=_positive_float, metavar="S",
        help="a leased URL goes back to pending if not renewed for S seconds (default 300)",
    )  # fmt: skip
    group.add_argument(
        "--force", action="store_true",
        help="continue a state file that belongs to another crawl (other seeds or scope)",
    )  # fmt: skip
    group.add_argument(
        "--resume-info", action="store_true",
        help="print what the --state file holds (pending, in flight, done, seen) and exit",
    )  # fmt: skip


def _add_politeness_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("politeness, sitemaps and traps")
    group.add_argument("--per-host-concurrency", type=_non_negative_int, default=8, metavar="N")
    group.add_argument("--delay", type=_non_negative_float, default=0.0, metavar="S")
    group.add_argument("--max-crawl-delay", type=_non_negative_float, default=30.0, metavar="S")
    group.add_argument("--ignore-robots", action="store_true", help="do not obey robots.txt")
    group.add_argument("--respect-nofollow", action="store_true", help="do not follow nofollow")
    group.add_argument(
        "--sitemap", action="append", default=[], metavar="URL",
        help="seed from this sitemap (urlset, index, gzipped); repeatable",
    )  # fmt: skip
    group.add_argument("--sitemaps-from-robots", action="store_true")
    group.add_argument("--max-pages-per-host", type=_non_negative_int, metavar="N")
    group.add_argument("--max-repeated-segments", type=_non_negative_int, default=3, metavar="N")
    group.add_argument("--log-skipped", action="store_true", help="a record per skipped URL")


def _politeness_options(args: argparse.Namespace) -> dict[str, object]:
    return {
        "per_host_concurrency": args.per_host_concurrency,
        "delay": args.delay,
        "max_crawl_delay": args.max_crawl_delay,
        "obey_robots": not args.ignore_robots,
        "respect_nofollow": args.respect_nofollow,
        "sitemaps": tuple(args.sitemap),
        "sitemaps_from_robots": args.sitemaps_from_robots,
        "max_pages_per_host": args.max_pages_per_host,
        "max_repeated_segments": args.max_repeated_segments,
        "log_skipped": args.log_skipped,
    }


def config_from_args(args: argparse.Namespace) -> CrawlConfig:
    """Build the ``CrawlConfig`` the arguments describe.

    Raises:
        ConfigError: An option value is invalid (the message names it).
    """
    options = {
        "output": args.output,
        "output_format": args.format,
        "max_pages": args.max_pages,
        "max_depth": args.max_depth,
        "time_limit": args.time_limit,
        "concurrency": args.concurrency,
        "timeout": args.timeout,
        "retries": args.retries,
        "max_bytes": args.max_bytes,
        "allow_domains": tuple(args.allow_domain),
        "deny_domains": tuple(args.deny_domain),
        "allow_patterns": tuple(args.allow),
        "deny_patterns": tuple(args.deny),
        "fields": args.fields,
        "include_links": args.include_links,
        "state": args.state,
        "force_state": args.force,
        "crawl_id": args.crawl_id,
        "worker_id": args.worker_id,
        **_politeness_options(args),
    }
    if args.user_agent is not None:
        options["user_agent"] = args.user_agent
    if args.lease_seconds is not None:
        options["lease_seconds"] = args.lease_seconds
    return CrawlConfig(**options)


def _check_inputs(args: argparse.Namespace) -> None:
    # A worker of a shared crawl may start without seeds: it waits for them.
    if not (args.urls or args.seeds_file or args.sitemap or is_shared(args.state)):
        raise UsageError("no seed URL given (pass URLs, --seeds-file or --sitemap)")
    for url in args.urls:
        validate_seed(url)
    for path in args.seeds_file:
        if path != "-":
            try:
                open(path, "rb").close()
            except OSError as exc:
                raise UsageError(f"cannot read seeds file {path!r}: {exc.strerror}") from None


def _configure_logging(args: argparse.Namespace) -> None:
    level = logging.ERROR if args.quiet else (logging.WARNING, logging.INFO)[min(args.verbose, 1)]
    if args.verbose >= 2:
        level = logging.DEBUG
    configure_logging(level, args.log_format)
    if not args.quiet:
        # Progress lines are the command's heartbeat: shown unless -q, whatever the level.
        logging.getLogger("crawler.progress").setLevel(min(level, logging.INFO))


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


def format_stats(stats: CrawlStats) -> str:
    """Return the end-of-crawl summary printed on stderr."""
    return format_summary(stats)


def _display(args: argparse.Namespace, crawler: Crawl) -> Display | None:
    return choose_display(
        crawler.progress,
        quiet=args.quiet,
        live=not args.no_progress,
        interval=args.progress_interval,
        records_on_terminal=args.output == "-" and sys.stdout.isatty(),
    )


def _write_stats_json(path: str, stats: CrawlStats) -> None:
    try:
        with open(path, "w", encoding="utf-8") as file:
            json.dump(stats.as_dict(), file, indent=2)
            file.write("\n")
    except OSError as exc:
        raise OutputError(f"cannot write stats {path!r}: {exc.strerror or exc}") from None


def _check_stats_json(path: str | None) -> None:
    if path is not None:
        try:
            open(path, "a").close()
        except OSError as exc:
            raise UsageError(f"cannot write stats {path!r}: {exc.strerror}") from None


async def _state_counts(path: str) -> StateCounts:
    state = open_state(path)
    await state.open()
    try:
        return await state.counts()
    finally:
        await state.close()


def _resume_info(args: argparse.Namespace) -> int:
    if args.state is None:
        raise UsageError("--resume-info needs --state FILE")
    if not os.path.exists(args.state):
        raise UsageError(f"no state file {args.state!r}")
    counts = asyncio.run(_state_counts(args.state))
    print(
        f"state {args.state}: pending {counts.pending}, in flight {counts.leased}, "
        f"done {counts.done}, seen {counts.seen}"
    )
    return ExitStatus.OK


def _crawl_command(args: argparse.Namespace) -> int:
    if args.resume_info:
        return _resume_info(args)
    _check_inputs(args)
    config = config_from_args(args)
    _check_stats_json(args.stats_json)
    crawler = Crawl(args.urls, config, seed_files=args.seeds_file)
    display = _display(args, crawler)
    with display or contextlib.nullcontext():
        stats, signum = asyncio.run(_run(crawler, display))
    if not args.quiet:
        print(format_stats(stats), file=sys.stderr)
    if args.stats_json is not None:
        _write_stats_json(args.stats_json, stats)
    if signum is not None:
        return 128 + signum
    if args.fail_on_broken and stats.broken:
        return ExitStatus.BROKEN_LINKS
    return ExitStatus.OK


def build_report_parser() -> argparse.ArgumentParser:
    """Return the parser of ``crawl report FILE [options]``."""
    parser = _Parser(
        prog="crawl report",
        description="Report on a crawl's output: broken links and the pages that link to "
        "them, redirects worth fixing, slowest and largest pages, pages per depth.",
        epilog="Exit status: 0 done, 1 broken links found (--fail-on-broken), 2 bad input.",
    )
    parser.add_argument(
        "file", metavar="FILE", help="a crawl's output (JSON Lines or CSV); '-' for stdin"
    )
    parser.add_argument("--html", metavar="FILE", help="also write one self-contained HTML file")
    parser.add_argument(
        "--top", type=_non_negative_int, default=TOP_PAGES, metavar="N",
        help=f"how many slowest and largest pages to list (default {TOP_PAGES})",
    )  # fmt: skip
    parser.add_argument("--fail-on-broken", action="store_true", help="exit 1 if links are broken")
    parser.add_argument("-q", "--quiet", action="store_true", help="no text report on stdout")
    parser.add_argument("--traceback", action="store_true", help="show tracebacks of errors")
    parser.set_defaults(verbose=0, log_format="text")
    return parser


def _read_report(path: str, top: int) -> Report:
    if path == "-":
        return build_report(read_records(sys.stdin, "<stdin>"), top=top)
    try:
        with open(path, encoding="utf-8") as file:
            return build_report(read_records(file, path), top=top)
    except OSError as exc:
        raise UsageError(f"cannot read {path!r}: {exc.strerror or exc}") from None


def _write_html(path: str, text: str) -> None:
    try:
        with open(path, "w", encoding="utf-8") as file:
            file.write(text)
    except OSError as exc:
        raise OutputError(f"cannot write {path!r}: {exc.strerror or exc}") from None


def _report_command(args: argparse.Namespace) -> int:
    report = _read_report(args.file, args.top)
    if args.html is not None:
        _write_html(args.html, render_html(report, args.file))
    if not args.quiet:
        sys.stdout.write(format_report(report, args.file))
    if args.fail_on_broken and report.broken_count:
        return ExitStatus.BROKEN_LINKS
    return ExitStatus.OK


def _add_shared_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state", required=True, metavar="URL", help="redis://HOST:PORT/DB")
    parser.add_argument("--crawl-id", required=True, metavar="NAME")
    parser.add_argument("--traceback", action="store_true", help="show tracebacks of errors")


SHARED_COMMANDS = {
    "status": "Show a shared crawl: pending, in flight, done, errors, hosts, live workers.",
    "export": "Write a shared crawl's records, exactly one per URL, to one file.",
    "purge": "Delete every Redis key of a shared crawl (and nothing else).",
}
"""``crawl COMMAND --state URL --crawl-id NAME``: the operating commands of a shared crawl."""


def build_shared_parser(command: str) -> argparse.ArgumentParser:
    """Return the parser of ``crawl status|export|purge --state URL --crawl-id NAME``."""
    parser = _Parser(prog=f"crawl {command}", description=SHARED_COMMANDS[command])
    _add_shared_options(parser)
    if command == "export":
        parser.add_argument("-o", "--output", default="-", help="output file, '-' for stdout")
        parser.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    parser.set_defaults(command=command, quiet=False, verbose=0, log_format="text")
    return parser


def _shared_command(args: argparse.Namespace) -> int:
    if args.command == "status":
        print(asyncio.run(status_text(args.state, args.crawl_id)))
    elif args.command == "export":
        count = asyncio.run(export(args.state, args.crawl_id, args.output, args.format))
        print(f"crawl: exported {count} records", file=sys.stderr)
    else:
        count = asyncio.run(purge_crawl(args.state, args.crawl_id))
        print(f"crawl: purged crawl {args.crawl_id!r} ({count} keys)", file=sys.stderr)
    return ExitStatus.OK


def _seed_command(args: argparse.Namespace) -> int:
    if not is_shared(args.state):
        raise UsageError("crawl seed needs --state redis://HOST:PORT/DB and --crawl-id")
    _check_inputs(args)
    crawler = Crawl(args.urls, config_from_args(args), seed_files=args.seeds_file)
    added = asyncio.run(crawler.seed())
    print(f"crawl: seeded crawl {args.crawl_id!r} with {added} new URLs", file=sys.stderr)
    return ExitStatus.OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command with ``argv`` (default ``sys.argv[1:]``); return the exit status.

    ``crawl report ...`` runs the report subcommand; ``crawl status|export|purge ...``
    operate a shared crawl and ``crawl seed ...`` seeds one; anything else is a crawl.
    """
    arguments = list(sys.argv[1:] if argv is None else argv)
    command = arguments[0] if arguments else ""
    if command == "report":
        return _guarded(build_report_parser(), _report_command, arguments[1:])
    if command in SHARED_COMMANDS:
        return _guarded(build_shared_parser(command), _shared_command, arguments[1:])
    if command == "seed":
        seed_parser = build_parser()
        seed_parser.prog = "crawl seed"
        return _guarded(seed_parser, _seed_command, arguments[1:])
    return _guarded(build_parser(), _crawl_command, arguments)


def _guarded(
    parser: argparse.ArgumentParser,
    command: Callable[[argparse.Namespace], int],
    argv: Sequence[str],
) -> int:
    traceback = False
    try:
        args = parser.parse_args(argv)
        traceback = args.traceback
        _configure_logging(args)
        return command(args)
    except (UsageError, SeedError, ValueError) as exc:
        return _report(exc, ExitStatus.USAGE, traceback)
    except CrawlerError as exc:
        return _report(exc, ExitStatus.USAGE, traceback)
    except KeyboardInterrupt:
        return ExitStatus.SIGINT
    except Exception as exc:
        return _report(exc, ExitStatus.ERROR, traceback)


def _report(exc: BaseException, status: int, traceback: bool) -> int:
    if traceback:
        log.exception("error")
    print(f"crawl: error: {exc}", file=sys.stderr)
    return status
