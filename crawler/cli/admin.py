"""``crawl status|export|purge --state redis://... --crawl-id NAME``: operate a shared crawl.

``crawler.shared.admin`` is imported by each command, so that no other command loads the
Redis code.
"""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING

from crawler.cli import options
from crawler.cli.errors import ExitStatus
from crawler.cli.parsing import Parser

if TYPE_CHECKING:
    import argparse


def _parser(name: str, description: str) -> argparse.ArgumentParser:
    parser = Parser(prog=f"crawl {name}", description=description)
    options.add_traceback_option(parser)
    parser.set_defaults(quiet=False, verbose=0, log_format="text")
    return parser


def _add_target(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    options.add_shared_target(options.add_shared_group(parser, "The shared crawl."))
    return parser


def build_status_parser() -> argparse.ArgumentParser:
    """Return the parser of ``crawl status``."""
    description = "Show a shared crawl: pending, in flight, done, errors, hosts, live workers."
    return _add_target(_parser("status", description))


def build_export_parser() -> argparse.ArgumentParser:
    """Return the parser of ``crawl export``."""
    description = "Write a shared crawl's records, exactly one per URL, to one file."
    parser = _parser("export", description)
    options.add_output_file_options(parser.add_argument_group("output"))
    return _add_target(parser)


def build_purge_parser() -> argparse.ArgumentParser:
    """Return the parser of ``crawl purge``."""
    description = "Delete every Redis key of a shared crawl (and nothing else)."
    return _add_target(_parser("purge", description))


def status(args: argparse.Namespace) -> int:
    """Print the status of the shared crawl."""
    from crawler.shared.admin import status_text

    print(asyncio.run(status_text(args.state, args.crawl_id)))
    return ExitStatus.OK


def export(args: argparse.Namespace) -> int:
    """Write the shared crawl's records to ``--output``."""
    from crawler.shared.admin import export as export_crawl

    output_format = options.output_format(args)
    count = asyncio.run(export_crawl(args.state, args.crawl_id, args.output, output_format))
    print(f"crawl: exported {count} records", file=sys.stderr)
    return ExitStatus.OK


def purge(args: argparse.Namespace) -> int:
    """Delete the shared crawl's keys."""
    from crawler.shared.admin import purge_crawl

    count = asyncio.run(purge_crawl(args.state, args.crawl_id))
    print(f"crawl: purged crawl {args.crawl_id!r} ({count} keys)", file=sys.stderr)
    return ExitStatus.OK
