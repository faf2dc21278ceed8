"""Argument types and the option groups the commands share, with ``CrawlConfig``'s defaults.

An option that sets a ``CrawlConfig`` field has the field's name as its ``dest``, its
default read from the field (shown in the help, in the unit it is typed in) and a type
that only parses: durations (``500ms``, ``5m``) and sizes (``10M``) by ``crawler.cli.units``,
the field's bounds checked once, by ``CrawlConfig`` (``--max-pages`` alone also refuses a
negative count itself, as it always has). ``crawl`` and ``crawl seed`` build their options
from the same builders here, so a seeder and its workers describe the same scope and so
the same crawl identity.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, get_args

from crawler.cli import units
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
FIELDS = frozenset(f.name for f in dataclasses.fields(CrawlConfig))
"""The names of ``CrawlConfig``'s fields: the ``dest`` of every option that sets one."""

SHARED_GROUP = "shared crawls (Redis)"
"""The title of the group of a shared crawl's options, the last of each command's help."""

FORMAT_OF_EXTENSION: dict[str, OutputFormat] = {
    ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",
}  # fmt: skip
"""The format an ``-o`` file's extension (any case) picks when ``--format`` is not given."""

DEFAULT_FORMAT: OutputFormat = _DEFAULTS["output_format"]
"""The format of stdout and of an ``-o`` file of another extension."""

UNITS_NOTE = f"Durations (TIME): {units.DURATION_HELP}. Sizes (SIZE): {units.SIZE_HELP}."
"""How the help of a command with TIME or SIZE options explains them."""


def default(name: str) -> Any:
    """Return the default of ``CrawlConfig``'s field ``name``."""
    return _DEFAULTS[name]


def integer(text: str) -> int:
    """Parse an integer option (``CrawlConfig`` checks its bounds)."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def count(text: str) -> int:
    """Parse an integer ``>= 0``."""
    value = integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def duration(text: str) -> float:
    """Parse a duration option into seconds (``CrawlConfig`` checks its bounds)."""
    try:
        return units.parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def positive_duration(text: str) -> float:
    """Parse a duration ``> 0`` into seconds."""
    value = duration(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def size(text: str) -> int:
    """Parse a size option into bytes (``CrawlConfig`` checks its bounds)."""
    try:
        return units.parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _shown(type: Callable[[str], Any]) -> Callable[[Any], str]:
    """Return how the help shows a default of an option parsed by ``type``."""
    if type in (duration, positive_duration):
        return units.format_duration
    return units.format_size if type is size else str


def with_default(help: str, value: Any, type: Callable[[str], Any] = str) -> str:
    """Return ``help`` ending in ``(default: VALUE)``, VALUE as one types it (``30s``, ``10M``)."""
    return f"{help} (default: {_shown(type)(value)})".replace("%", "%%")


@dataclass(frozen=True, slots=True)
class FieldOption:
    """An option that sets one ``CrawlConfig`` field, with the field's default (shown in help).

    Attributes:
        flags: The option's names, e.g. ``("-c", "--concurrency")``.
        field: The ``CrawlConfig`` field it sets (and its ``dest``).
        type: Parses the value (``str`` keeps the text).
        metavar: The value's name in the help.
        help: What the option does, one sentence.
    """

    flags: tuple[str, ...]
    field: str
    type: Callable[[str], Any]
    metavar: str
    help: str

    def add_to(self, group: Options) -> None:
        """Add the option to ``group``."""
        group.add_argument(
            *self.flags, dest=self.field, default=default(self.field), type=self.type,
            metavar=self.metavar, help=with_default(self.help, default(self.field), self.type),
        )  # fmt: skip


FIELD_OPTIONS = {option.flags[-1]: option for option in (
    FieldOption(("-c", "--concurrency"), "concurrency", integer, "N",
                "most requests in flight at once"),
    FieldOption(("--timeout",), "timeout", duration, "TIME",
                "the longest one request may take, body included"),
    FieldOption(("--retries",), "retries", integer, "N",
                "retries on connection errors, timeouts and 408/429/5xx, with back-off"),
    FieldOption(("--max-bytes",), "max_bytes", size, "SIZE",
                "cap on a body after decompression; a longer one is recorded as too_large"),
    FieldOption(("--user-agent",), "user_agent", str, "S", "the User-Agent header"),
    FieldOption(("--max-text-bytes",), "max_text_bytes", size, "SIZE",
                "cap on the text field of a record (--fields ...,text)"),
    FieldOption(("--per-host-concurrency",), "per_host_concurrency", integer, "N",
                "most requests in flight to one origin (scheme, host, port)"),
    FieldOption(("--delay",), "delay", duration, "TIME",
                "least time between the starts of two requests to one origin"),
    FieldOption(("--max-crawl-delay",), "max_crawl_delay", duration, "TIME",
                "cap on a robots.txt Crawl-delay and on the back-off after 429s"),
    FieldOption(("--max-repeated-segments",), "max_repeated_segments", integer, "N",
                "skip as a trap a URL whose path repeats one segment more than N times"),
    FieldOption(("--lease-seconds",), "lease_seconds", duration, "TIME",
                "a URL leased by a worker that stops renewing it goes back to pending after TIME"),
)}  # fmt: skip
"""The options taken from ``CrawlConfig`` with their defaults, by long flag."""


def add_field_options(group: Options, *flags: str) -> None:
    """Add the ``FIELD_OPTIONS`` of ``flags`` to ``group``, in this order."""
    for flag in flags:
        FIELD_OPTIONS[flag].add_to(group)


def add_output_file_options(group: Options) -> None:
    """Add ``-o/--output`` and ``--format`` (by default, the one ``-o``'s extension names)."""
    group.add_argument(
        "-o", "--output", default="-", metavar="FILE",
        help=with_default("write the records to FILE, '-' for stdout", "-"),
    )  # fmt: skip
    group.add_argument(
        "--format", dest="output_format", choices=get_args(OutputFormat),
        help="the records' format (default: from -o's extension: csv for .csv, "
        f"else {DEFAULT_FORMAT})",
    )  # fmt: skip


def output_format(args: argparse.Namespace) -> OutputFormat:
    """Return ``--format``, else the format ``-o``'s extension names, else the default."""
    chosen: OutputFormat | None = args.output_format
    if chosen is None:
        chosen = FORMAT_OF_EXTENSION.get(os.path.splitext(args.output)[1].lower())
    return chosen or DEFAULT_FORMAT


def add_seed_options(parser: argparse.ArgumentParser, group: Options) -> None:
    """Add the seed URLs (positional) and ``--seeds-file``."""
    parser.add_argument(
        "urls", nargs="*", metavar="URL",
        help="seed URLs (http or https); their hosts are the crawl's scope",
    )  # fmt: skip
    group.add_argument(
        "--seeds-file", action="append", default=[], metavar="FILE",
        help="read seed URLs from FILE, one a line, '-' for stdin; repeatable",
    )  # fmt: skip


def add_fetch_options(group: Options) -> None:
    """Add ``--timeout``, ``--retries``, ``--max-bytes`` and ``--user-agent``."""
    add_field_options(group, "--timeout", "--retries", "--max-bytes", "--user-agent")


def add_depth_option(group: Options) -> None:
    """Add ``-d/--max-depth`` (part of the crawl's identity, like the scope)."""
    group.add_argument(
        "-d", "--max-depth", dest="max_depth", type=integer, metavar="N",
        help="follow links at most N hops from a seed, seeds being 0 (default: no limit)",
    )  # fmt: skip


SCOPE_OPTIONS = (
    ("--allow-domain", "allow_domains", "D", "also crawl domain D and its subdomains"),
    ("--deny-domain", "deny_domains", "D", "never crawl domain D nor its subdomains"),
    ("--allow", "allow_patterns", "REGEX", "crawl only URLs that match one of these"),
    ("--deny", "deny_patterns", "REGEX", "never crawl a URL that matches REGEX"),
)
"""The scope options: flag, ``CrawlConfig`` field, metavar and help; each is repeatable."""


def add_scope_options(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """Add and return the scope group: allowed and denied domains and patterns."""
    group = parser.add_argument_group(
        "scope", "The seeds' hosts are in scope; deny wins over allow."
    )
    for flag, field, metavar, text in SCOPE_OPTIONS:
        group.add_argument(
            flag, dest=field, action="append", default=[], metavar=metavar,
            help=f"{text}; repeatable",
        )  # fmt: skip
    return group


def add_host_options(group: Options) -> None:
    """Add the per-origin politeness options."""
    add_field_options(group, "--per-host-concurrency", "--delay", "--max-crawl-delay")


def add_robots_option(group: Options, text: str = "do not fetch nor obey robots.txt") -> None:
    """Add ``--ignore-robots``, explained by ``text``."""
    group.add_argument("--ignore-robots", dest="obey_robots", action="store_false", help=text)


def add_sitemap_options(group: Options) -> None:
    """Add ``--sitemap`` and ``--sitemaps-from-robots``."""
    group.add_argument(
        "--sitemap", dest="sitemaps", action="append", default=[], metavar="URL",
        help="seed from this sitemap (urlset or index, gzipped or not); repeatable",
    )  # fmt: skip
    group.add_argument(
        "--sitemaps-from-robots", action="store_true",
        help="also seed from the Sitemap: lines of the seed hosts' robots.txt",
    )  # fmt: skip


def add_trap_option(group: Options) -> None:
    """Add ``--max-repeated-segments``."""
    add_field_options(group, "--max-repeated-segments")


def add_shared_group(parser: argparse.ArgumentParser, description: str) -> argparse._ArgumentGroup:
    """Add and return the group of a shared crawl's options (add it last: it ends the help)."""
    return parser.add_argument_group(SHARED_GROUP, description)


def add_shared_target(group: Options) -> None:
    """Add the required ``--state redis://...`` and ``--crawl-id`` of a shared crawl."""
    group.add_argument(
        "--state", required=True, metavar="URL",
        help="the Redis of the crawl: redis://HOST:PORT/DB, rediss://..., unix://...",
    )  # fmt: skip
    add_crawl_id_option(group, required=True)


def add_crawl_id_option(group: Options, *, required: bool = False) -> None:
    """Add ``--crawl-id``."""
    group.add_argument(
        "--crawl-id", required=required, metavar="NAME",
        help="the crawl's name in Redis: its keys are under crawler:{NAME}:",
    )  # fmt: skip


def add_worker_options(group: Options) -> None:
    """Add ``--worker-id`` and ``--lease-seconds``."""
    group.add_argument(
        "--worker-id", metavar="ID",
        help="this worker's name in Redis; restarted with the same one, it takes its leases "
        "over (default: host-pid-random)",
    )  # fmt: skip
    add_field_options(group, "--lease-seconds")


def add_force_option(group: Options) -> None:
    """Add ``--force``."""
    group.add_argument(
        "--force", dest="force_state", action="store_true",
        help="continue a state that belongs to another crawl (other seeds or scope)",
    )  # fmt: skip


def add_logging_options(group: Options, *, quiet: str) -> None:
    """Add ``-q`` (described by ``quiet``), ``-v`` and ``--log-format``."""
    group.add_argument("-q", "--quiet", action="store_true", help=quiet)
    group.add_argument(
        "-v", "--verbose", action="count", default=0, help="log more: -v info, -vv debug"
    )
    group.add_argument(
        "--log-format", choices=get_args(LogFormat), default="text",
        help=with_default("log lines (and the summary) as text or as JSON objects", "text"),
    )  # fmt: skip


def add_traceback_option(group: Options) -> None:
    """Add ``--traceback``."""
    group.add_argument("--traceback", action="store_true", help="show tracebacks of errors")


def config_from_args(args: argparse.Namespace) -> CrawlConfig:
    """Build the ``CrawlConfig`` the arguments describe (those named after its fields).

    Raises:
        ConfigError: An option value is invalid (the message names its field).
    """
    values = {k: v for k, v in vars(args).items() if k in FIELDS}
    if "output_format" in values:
        values["output_format"] = output_format(args)
    return CrawlConfig.from_options(values)


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
