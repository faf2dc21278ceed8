"""The ``crawl`` command: thin shells that parse arguments, build a config and run.

``crawl URL...`` crawls (``crawler.cli.crawl``); a first argument that names a command in
``COMMANDS`` runs that command instead: ``crawl report FILE`` reports on a crawl's output,
``crawl seed`` seeds a crawl shared through Redis and ``crawl status|export|purge`` watch,
export and delete one; ``crawl help [COMMAND]`` is ``crawl [COMMAND] --help``.

Exit status (``ExitStatus``): 0 the command ran, 1 an internal error (a bug: one line that
names it, ``--traceback`` for the traceback), no seed could be crawled (a complete crawl
whose every seed failed or was refused), or (with ``--fail-on-broken``) broken links
found, 2 bad input (usage, a malformed URL, an invalid option, an unreadable seeds file or
unwritable output, a state of another crawl or a corrupt one: any other ``CrawlerError``;
a ``WriteError``, the output failing mid-crawl, is 1), 130
stopped by SIGINT (Ctrl-C), 143 stopped by SIGTERM.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from crawler.cli import admin, crawl, options, parsing, report, seed
from crawler.cli.errors import ExitStatus, UsageError, report_error, report_internal_error
from crawler.cli.options import config_from_args
from crawler.errors import (
    ConfigError,
    CrawlerError,
    StateUnavailableError,
    StateWriteError,
    WriteError,
)
from crawler.logs import configure_logging

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence


@dataclass(frozen=True, slots=True)
class Command:
    """One command: how to parse its arguments and how to run it.

    Attributes:
        parser: Returns the command's argument parser.
        run: Runs the command with the parsed arguments; returns the exit status.
    """

    parser: Callable[[], argparse.ArgumentParser]
    run: Callable[[argparse.Namespace], int]


CRAWL = Command(crawl.build_parser, crawl.run)
"""``crawl URL...``: the command when the first argument names no other."""

COMMANDS = {
    "report": Command(report.build_parser, report.run),
    "seed": Command(seed.build_parser, seed.run),
    "status": Command(admin.build_status_parser, admin.status),
    "export": Command(admin.build_export_parser, admin.export),
    "purge": Command(admin.build_purge_parser, admin.purge),
}
"""``crawl NAME ...``: the commands picked by the first argument."""

build_parser = crawl.build_parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command with ``argv`` (default ``sys.argv[1:]``); return the exit status.

    A first argument in ``COMMANDS`` picks that command, ``help [COMMAND]`` shows the help
    of the command; anything else is a crawl, unless it looks like a misspelt command name
    rather than a URL (``crawl reprot x``): that is a usage error naming the command meant.
    """
    arguments = list(sys.argv[1:] if argv is None else argv)
    first = arguments[0] if arguments else ""
    if first == "help":
        return _help(arguments[1:])
    command = COMMANDS.get(first)
    if command is not None:
        return run(command, arguments[1:])
    misspelt = _misspelt_command(first)
    if misspelt is not None:
        return report_error(UsageError(misspelt), traceback=False)
    return run(CRAWL, arguments)


def _misspelt_command(first: str) -> str | None:
    """Return the error for a first argument that is a command's name misspelt, if it is one."""
    # A seed has a scheme or a dot in its host: never a command's name.
    if first.startswith("-") or "://" in first or "." in first:
        return None
    meant = parsing.suggestions(first, [*COMMANDS, "help"])
    if not meant:
        return None
    quoted = parsing.did_you_mean(f"'{name}'" for name in meant)
    return f"unknown command {first!r}{quoted}; {parsing.see_help('crawl')}"


def _help(arguments: Sequence[str]) -> int:
    """``crawl help [COMMAND]``: show the help of ``COMMAND``, or of ``crawl``."""
    if arguments and arguments[0] not in COMMANDS:
        names = ", ".join(sorted(COMMANDS))
        message = f"no command {arguments[0]!r} to help with; commands: {names}"
        return report_error(UsageError(message), traceback=False)
    command = COMMANDS[arguments[0]] if arguments else CRAWL
    command.parser().print_help()
    return ExitStatus.OK


def run(command: Command, argv: Sequence[str]) -> int:
    """Parse ``argv`` and run ``command``, mapping what it raises to an exit status.

    A ``ConfigError`` that starts with a ``CrawlConfig`` field's name is reported with the
    command's flag for it instead (``--max-pages must be >= 1``).
    """
    traceback = False
    parser = command.parser()
    try:
        args = parser.parse_args(argv)
        traceback = args.traceback
        _configure_logging(args)
        return command.run(args)
    except ConfigError as exc:
        flags = parsing.flags_of_fields(parser, options.FIELDS)
        return report_error(UsageError(parsing.cli_message(str(exc), flags)), traceback=traceback)
    except (WriteError, StateUnavailableError, StateWriteError) as exc:  # not bad input
        return report_error(exc, traceback=traceback, status=ExitStatus.ERROR)
    except (UsageError, CrawlerError) as exc:
        return report_error(exc, traceback=traceback)
    except KeyboardInterrupt:
        return ExitStatus.SIGINT
    except Exception as exc:
        return report_internal_error(exc, traceback=traceback)


def _configure_logging(args: argparse.Namespace) -> None:
    level = logging.ERROR if args.quiet else (logging.WARNING, logging.INFO)[min(args.verbose, 1)]
    if args.verbose >= 2:
        level = logging.DEBUG
    configure_logging(level, args.log_format)
    if not args.quiet:
        # Progress lines are the command's heartbeat: shown unless -q, whatever the level.
        logging.getLogger("crawler.progress").setLevel(min(level, logging.INFO))


__all__ = [
    "COMMANDS",
    "CRAWL",
    "Command",
    "ExitStatus",
    "UsageError",
    "build_parser",
    "config_from_args",
    "main",
    "run",
]
