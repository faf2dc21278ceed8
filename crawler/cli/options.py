"""Argument types and the option groups the commands share, with ``CrawlConfig``'s defaults.

An option that sets a ``CrawlConfig`` field has the field's name as its ``dest``, its
default read from the field (shown in the help) and, for numbers, a type that only parses:
the field's bounds are checked once, by ``CrawlConfig`` (``--max-pages`` alone also refuses
a negative count itself, as it always has). ``crawl`` and ``crawl seed``
build their options from the same builders here, so a seeder and its workers describe
the same scope and so the same crawl identity.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, get_args

from crawler.cli.errors import UsageError
from crawler.config import CrawlConfig, OutputFormat
from crawler.logs import LogFormat
from crawler.urls import validate_seed

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    Options = argparse._ActionsContainer  # a parser or one of its argument groups

_DEFAULTS: dict[str, Any] = {
    f.name: f.default
    for f in dataclasses.fields(CrawlConfig)
    if f.default is not dataclasses.MISSING
}
_FIELDS = frozenset(f.name for f in dataclasses.fields(CrawlConfig))


class Parser(argparse.ArgumentParser):
    """An argument parser that raises ``UsageError`` instead of exiting."""

    def error(self, message: str) -> NoReturn:
        """Raise ``UsageError(message)``."""
        raise UsageError(message)


def default(name: str) -> Any:
    """Return the default of ``CrawlConfig``'s field ``name``."""
    return _DEFAULTS[name]


def integer(text: str) -> int:
    """Parse an integer option (``CrawlConfig`` checks its bounds)."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def number(text: str) -> float:
    """Parse a number option (``CrawlConfig`` checks its bounds)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if math.isnan(value):
        raise argparse.ArgumentTypeError(f"not a number: {text!r}")
    return value


def count(text: str) -> int:
    """Parse an integer ``>= 0``."""
    value = integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def positive_number(text: str) -> float:
    """Parse a number ``> 0``."""
    value = number(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


@dataclass(frozen=True, slots=True)
class FieldOption:
    """An option that sets one ``CrawlConfig`` field, with the field's default (shown in help).

    Attributes:
        flag: The option, e.g. ``--timeout``.
        field: The ``CrawlConfig`` field it sets (and its ``dest``).
        type: Parses the value (``str`` keeps the text).
        metavar: The value's name in the help.
        help: What the option does.
    """

    flag: str
    field: str
    type: Callable[[str], Any]
    metavar: str
    help: str

    def add_to(self, group: Options) -> None:
        """Add the option to ``group``."""
        group.add_argument(
            self.flag, dest=self.field, default=default(self.field), type=self.type,
            metavar=self.metavar, help=f"{self.help} (default: %(default)s)",
        )  # fmt: skip


FIELD_OPTIONS = {option.flag: option for option in (
    FieldOption("--concurrency", "concurrency", integer, "N", "requests in flight at most"),
    FieldOption("--timeout", "timeout", number, "S",
                "total seconds for one request, body included"),
    FieldOption("--retries", "retries", integer, "N",
                "retries on connection errors, timeouts, 408/429/5xx"),
    FieldOption("--max-bytes", "max_bytes", integer, "N", "cap on a body after decompression"),
    FieldOption("--user-agent", "user_agent", str, "S", "the User-Agent header"),
    FieldOption("--per-host-concurrency", "per_host_concurrency", integer, "N",
                "most requests in flight to one origin"),
    FieldOption("--delay", "delay", number, "S",
                "least seconds between two requests to one origin"),
    FieldOption("--max-crawl-delay", "max_crawl_delay", number, "S",
                "cap on a robots.txt Crawl-delay and the 429 back-off"),
    FieldOption("--max-repeated-segments", "max_repeated_segments", integer, "N",
                "skip a URL whose path repeats a segment more often"),
    FieldOption("--lease-seconds", "lease_seconds", number, "S",
                "a leased URL goes back to pending if not renewed for S seconds"),
)}  # fmt: skip
"""The options taken from ``CrawlConfig`` with their defaults, by flag."""


def add_field_options(group: Options, *flags: str) -> None:
    """Add the ``FIELD_OPTIONS`` of ``flags`` to ``group``, in this order."""
    for flag in flags:
        FIELD_OPTIONS[flag].add_to(group)


def add_output_file_options(group: Options) -> None:
    """Add ``-o/--output`` and ``--format``."""
    group.add_argument("-o", "--output", default="-", help="output file, '-' for stdout")
    group.add_argument(
        "--format", dest="output_format", choices=get_args(OutputFormat),
        default=default("output_format"), help="(default: %(default)s)",
    )  # fmt: skip


def add_seed_options(parser: argparse.ArgumentParser, group: Options) -> None:
    """Add the seed URLs (positional) and ``--seeds-file``."""
    parser.add_argument("urls", nargs="*", metavar="URL", help="seed URLs (http or https)")
    group.add_argument(
        "--seeds-file", action="append", default=[], metavar="FILE",
        help="file of seed URLs, one per line ('-' for stdin); repeatable",
    )  # fmt: skip


def add_fetch_options(group: Options) -> None:
    """Add ``--timeout``, ``--retries``, ``--max-bytes`` and ``--user-agent``."""
    add_field_options(group, "--timeout", "--retries", "--max-bytes", "--user-agent")


def add_depth_option(group: Options) -> None:
    """Add ``--max-depth`` (part of the crawl's identity, like the scope)."""
    group.add_argument(
        "--max-depth", dest="max_depth", type=integer, metavar="N",
        help="follow links at most N hops from a seed",
    )  # fmt: skip


def add_scope_options(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """Add and return the scope group: allowed and denied domains and patterns."""
    group = parser.add_argument_group("scope (deny wins over allow)")
    for flag, field, metavar in (
        ("--allow-domain", "allow_domains", "D"),
        ("--deny-domain", "deny_domains", "D"),
        ("--allow", "allow_patterns", "REGEX"),
        ("--deny", "deny_patterns", "REGEX"),
    ):
        group.add_argument(flag, dest=field, action="append", default=[], metavar=metavar)
    return group


def add_host_options(group: Options) -> None:
    """Add the per-origin politeness options."""
    add_field_options(group, "--per-host-concurrency", "--delay", "--max-crawl-delay")


def add_robots_option(group: Options, text: str = "do not obey robots.txt") -> None:
    """Add ``--ignore-robots``, explained by ``text``."""
    group.add_argument("--ignore-robots", dest="obey_robots", action="store_false", help=text)


def add_sitemap_options(group: Options) -> None:
    """Add ``--sitemap`` and ``--sitemaps-from-robots``."""
    group.add_argument(
        "--sitemap", dest="sitemaps", action="append", default=[], metavar="URL",
        help="seed from this sitemap (urlset, index, gzipped); repeatable",
    )  # fmt: skip
    group.add_argument("--sitemaps-from-robots", action="store_true")


def add_trap_option(group: Options) -> None:
    """Add ``--max-repeated-segments``."""
    add_field_options(group, "--max-repeated-segments")


def add_shared_target(group: Options) -> None:
    """Add the required ``--state redis://...`` and ``--crawl-id`` of a shared crawl."""
    group.add_argument("--state", required=True, metavar="URL", help="redis://HOST:PORT/DB")
    group.add_argument("--crawl-id", required=True, metavar="NAME")


def add_worker_options(group: Options) -> None:
    """Add ``--worker-id``, ``--lease-seconds`` and ``--force``."""
    group.add_argument(
        "--worker-id", metavar="ID",
        help="this worker's id in a Redis state (default: host-pid-random)",
    )  # fmt: skip
    add_field_options(group, "--lease-seconds")
    group.add_argument(
        "--force", dest="force_state", action="store_true",
        help="continue a state that belongs to another crawl (other seeds or scope)",
    )  # fmt: skip


def add_logging_options(group: Options, *, quiet: str) -> None:
    """Add ``-q`` (described by ``quiet``), ``-v`` and ``--log-format``."""
    group.add_argument("-q", "--quiet", action="store_true", help=quiet)
    group.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv)")
    group.add_argument("--log-format", choices=get_args(LogFormat), default="text")


def add_traceback_option(group: Options) -> None:
    """Add ``--traceback``."""
    group.add_argument("--traceback", action="store_true", help="show tracebacks of errors")


def config_from_args(args: argparse.Namespace) -> CrawlConfig:
    """Build the ``CrawlConfig`` the arguments describe (those named after its fields).

    Raises:
        ConfigError: An option value is invalid (the message names it).
    """
    return CrawlConfig.from_options({k: v for k, v in vars(args).items() if k in _FIELDS})


def check_seeds(urls: Sequence[str], seeds_files: Sequence[str]) -> None:
    """Check that the seed URLs are http(s) URLs and the seeds files can be read.

    Raises:
        SeedError: A URL is not an absolute http(s) URL.
        UsageError: A seeds file cannot be read.
    """
    for url in urls:
        validate_seed(url)
    for path in seeds_files:
        if path != "-":
            try:
                open(path, "rb").close()
            except OSError as exc:
                raise UsageError(f"cannot read seeds file {path!r}: {exc.strerror}") from None
