"""The ``crawl`` command: a thin shell that parses arguments, builds a config and runs a ``Crawl``.

Exit status (``ExitStatus``): 0 the crawl ran, 1 an unexpected error, 2 bad input
(usage, a malformed URL, an invalid option, an unreadable seeds file or unwritable
output, a state file of another crawl or a corrupt one), 130 stopped by SIGINT
(Ctrl-C), 143 stopped by SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import enum
import logging
import os
import signal
import sys
from typing import TYPE_CHECKING, NoReturn

from crawler._version import __version__
from crawler.config import CrawlConfig
from crawler.engine import Crawl
from crawler.errors import CrawlerError, SeedError
from crawler.state import open_state
from crawler.urls import validate_seed

if TYPE_CHECKING:
    from collections.abc import Sequence

    from crawler.state import StateCounts
    from crawler.stats import CrawlStats

log = logging.getLogger("crawler")


class ExitStatus(enum.IntEnum):
    """The command's exit codes."""

    OK = 0
    ERROR = 1
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


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of ``crawl URL... [options]``."""
    parser = _Parser(
        prog="crawl",
        description="Crawl web sites from seed URLs and write one record per page.",
        epilog="Exit status: 0 done, 1 error, 2 bad input, 130 SIGINT, 143 SIGTERM.",
    )
    parser.add_argument("urls", nargs="*", metavar="URL", help="seed URLs (http or https)")
    _add_output_options(parser)
    _add_limit_options(parser)
    _add_scope_options(parser)
    _add_state_options(parser)
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
    group.add_argument("-q", "--quiet", action="store_true", help="no stats, errors only")
    group.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv)")
    group.add_argument("--traceback", action="store_true", help="show tracebacks of errors")


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


def _add_state_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("state (crash-safe, resumable crawls)")
    group.add_argument(
        "--state", metavar="FILE",
        help="keep the crawl's state in this SQLite file; the same command resumes the crawl",
    )  # fmt: skip
    group.add_argument(
        "--force", action="store_true",
        help="continue a state file that belongs to another crawl (other seeds or scope)",
    )  # fmt: skip
    group.add_argument(
        "--resume-info", action="store_true",
        help="print what the --state file holds (pending, in flight, done, seen) and exit",
    )  # fmt: skip


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
        "state": args.state,
        "force_state": args.force,
    }
    if args.user_agent is not None:
        options["user_agent"] = args.user_agent
    return CrawlConfig(**options)


def _check_inputs(args: argparse.Namespace) -> None:
    if not args.urls and not args.seeds_file:
        raise UsageError("no seed URL given (pass URLs or --seeds-file)")
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
    logging.basicConfig(level=level, format="crawl: %(levelname)s: %(message)s", stream=sys.stderr)


async def _run(crawler: Crawl) -> tuple[CrawlStats, int | None]:
    loop = asyncio.get_running_loop()
    received: list[int] = []

    def on_signal(signum: int) -> None:
        received.append(signum)
        crawler.stop()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        stats = await crawler.run()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    return stats, (received[0] if received else None)


def format_stats(stats: CrawlStats) -> str:
    """Return the end-of-crawl summary printed on stderr."""

    def counts(mapping: object) -> str:
        items = sorted(dict(mapping).items())  # type: ignore[call-overload]
        return ", ".join(f"{k}={v}" for k, v in items) or "none"

    return "\n".join(
        (
            f"crawl: {stats.pages} pages in {stats.duration:.2f} s "
            f"({stats.pages_per_second:.1f} pages/s), {stats.bytes} bytes; {stats.stop_reason}",
            f"crawl: status: {counts(stats.status_classes)}",
            f"crawl: errors: {counts(stats.errors)}",
            f"crawl: skipped: {counts(stats.skipped)}",
        )
    )


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
    crawler = Crawl(args.urls, config, seed_files=args.seeds_file)
    stats, signum = asyncio.run(_run(crawler))
    if not args.quiet:
        print(format_stats(stats), file=sys.stderr)
    if signum is not None:
        return 128 + signum
    return ExitStatus.OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    traceback = False
    try:
        args = parser.parse_args(argv)
        traceback = args.traceback
        _configure_logging(args)
        return _crawl_command(args)
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
