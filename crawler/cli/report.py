"""``crawl report FILE [options]``: report on a crawl's output, as text and optionally HTML."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from crawler.cli import options
from crawler.cli.errors import ExitStatus, UsageError
from crawler.cli.parsing import Parser
from crawler.errors import OutputError
from crawler.records_io import read_records
from crawler.report import TOP_PAGES, build_report, format_report
from crawler.report_html import render_html

if TYPE_CHECKING:
    import argparse

    from crawler.report import Report


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of ``crawl report FILE [options]``."""
    parser = Parser(
        prog="crawl report",
        description="Report on a crawl's output: broken links and the pages that link to "
        "them, redirects worth fixing, slowest and largest pages, pages per depth.",
        epilog="Exit status: 0 done, 1 broken links found (--fail-on-broken), 2 bad input.",
    )
    parser.add_argument(
        "file", metavar="FILE", help="a crawl's output (JSON Lines or CSV); '-' for stdin"
    )
    parser.add_argument(
        "--html", metavar="FILE", help="also write the report as one self-contained HTML file"
    )
    parser.add_argument(
        "--top", type=options.count, default=TOP_PAGES, metavar="N",
        help=options.with_default("how many slowest and largest pages to list", TOP_PAGES),
    )  # fmt: skip
    parser.add_argument("--fail-on-broken", action="store_true", help="exit 1 if links are broken")
    parser.add_argument("-q", "--quiet", action="store_true", help="no text report on stdout")
    options.add_traceback_option(parser)
    parser.set_defaults(verbose=0, log_format="text")
    return parser


def run(args: argparse.Namespace) -> int:
    """Report on ``args.file``; return the exit status."""
    report = _read_report(args.file, args.top)
    if args.html is not None:
        _write_html(args.html, render_html(report, args.file))
    if not args.quiet:
        sys.stdout.write(format_report(report, args.file))
    if args.fail_on_broken and report.broken_count:
        return ExitStatus.BROKEN_LINKS
    return ExitStatus.OK


def _read_report(path: str, top: int) -> Report:
    try:
        if path == "-":
            return build_report(read_records(sys.stdin, "<stdin>"), top=top)
        with open(path, encoding="utf-8") as file:
            return build_report(read_records(file, path), top=top)
    except OSError as exc:
        raise UsageError(f"cannot read {path!r}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"cannot read {path!r}: not UTF-8 text ({exc})") from None


def _write_html(path: str, text: str) -> None:
    try:
        with open(path, "w", encoding="utf-8") as file:
            file.write(text)
    except OSError as exc:
        raise OutputError(f"cannot write {path!r}: {exc.strerror or exc}") from None
