"""The command's exit statuses and its one-line error reports on stderr.

Only the project's own errors are bad input (exit 2, ``crawl: error: MESSAGE``): a
``UsageError`` from the command line and a ``CrawlerError`` from the library (an invalid
option, seed, seeds file, output, state or records). Anything else is a bug: exit 1,
``crawl: internal error: TYPE: MESSAGE`` and a hint to run again with ``--traceback``.
"""

from __future__ import annotations

import enum
import logging
import signal
import sys

log = logging.getLogger("crawler")

TRACEBACK_HINT = "run again with --traceback for details"


class ExitStatus(enum.IntEnum):
    """The command's exit codes."""

    OK = 0
    ERROR = 1
    BROKEN_LINKS = 1  # with --fail-on-broken: the crawl or report found broken links
    NO_SEED_CRAWLED = 1  # a complete crawl in which every seed failed or was refused
    USAGE = 2
    SIGINT = 128 + signal.SIGINT
    SIGTERM = 128 + signal.SIGTERM


class UsageError(Exception):
    """Bad command-line input: reported in one line, exit status 2."""


def report_error(
    exc: BaseException, *, traceback: bool, status: ExitStatus = ExitStatus.USAGE
) -> ExitStatus:
    """Print ``crawl: error: MESSAGE`` in one line (after the traceback if asked); return
    ``status`` (``USAGE`` for bad input)."""
    if traceback:
        log.exception("error")
    message = " ".join(str(exc).split())  # a library's multi-line message on one line
    print(f"crawl: error: {message}", file=sys.stderr)
    return status


def report_internal_error(exc: BaseException, *, traceback: bool) -> ExitStatus:
    """Print ``crawl: internal error: TYPE: MESSAGE`` in one line; return ``ERROR``.

    Without ``traceback`` the line ends with the hint to run again with ``--traceback``;
    with it the traceback is logged first.
    """
    if traceback:
        log.exception("internal error")
    message = " ".join(str(exc).splitlines())
    described = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    hint = "" if traceback else f" ({TRACEBACK_HINT})"
    print(f"crawl: internal error: {described}{hint}", file=sys.stderr)
    return ExitStatus.ERROR
