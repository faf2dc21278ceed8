"""``crawl seed URL... --state redis://... --crawl-id NAME``: seed a crawl shared by workers.

The parser lists only what seeding uses: the seeds, the scope and ``--max-depth`` (which
make the crawl's identity, so they are built by the same builders as the workers'
options), the fetch and politeness options of reading sitemaps and robots.txt, and the
shared state.
"""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING

from crawler.cli import options
from crawler.cli.errors import ExitStatus, UsageError
from crawler.cli.parsing import Parser
from crawler.config import is_shared
from crawler.engine import Crawl

if TYPE_CHECKING:
    import argparse

EXAMPLE = (
    "crawl seed https://example.com/ --sitemap https://example.com/sitemap.xml "
    "--state redis://127.0.0.1:6379/0 --crawl-id site"
)
"""A seeding command line (the help's example; a test parses it)."""


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of ``crawl seed URL... --state redis://... --crawl-id NAME``."""
    parser = Parser(
        prog="crawl seed",
        description="Seed a crawl shared by many workers: admit the seed URLs, the pages of "
        "the sitemaps and mark the crawl seeded; workers started with the same --crawl-id "
        "and scope crawl it.",
        epilog=f"{options.UNITS_NOTE}\n\nexample:\n  {EXAMPLE}",
    )
    seeds = parser.add_argument_group("seeds")
    options.add_seed_options(parser, seeds)
    options.add_sitemap_options(seeds)
    scope = options.add_scope_options(parser)
    options.add_depth_option(scope)
    options.add_trap_option(scope)
    fetching = parser.add_argument_group("fetching sitemaps and robots.txt")
    options.add_fetch_options(fetching)
    options.add_host_options(fetching)
    # Seeding fetches no page: the option is taken so a seeder's command line can be its
    # workers', as it was before the command had a parser of its own.
    options.add_robots_option(fetching, "accepted as the workers take it; seeding fetches no page")
    logging = parser.add_argument_group("logging")
    options.add_logging_options(logging, quiet="log errors only")
    options.add_traceback_option(logging)
    state = options.add_shared_group(parser, "The crawl to seed; its workers take the same.")
    options.add_shared_target(state)
    options.add_worker_options(state)
    options.add_force_option(state)
    return parser


def run(args: argparse.Namespace) -> int:
    """Seed the shared crawl ``args`` describe; return the exit status."""
    if not is_shared(args.state):
        raise UsageError("crawl seed needs --state redis://HOST:PORT/DB and --crawl-id")
    options.check_seeds(args.urls, args.seeds_file)
    crawler = Crawl(args.urls, options.config_from_args(args), seed_files=args.seeds_file)
    added = asyncio.run(crawler.seed())
    print(f"crawl: seeded crawl {args.crawl_id!r} with {added} new URLs", file=sys.stderr)
    return ExitStatus.OK
