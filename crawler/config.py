"""The crawl's configuration: one frozen, keyword-only value object, the only home of defaults."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

from crawler._version import __version__
from crawler.access_options import check_access
from crawler.errors import ConfigError, SeedError
from crawler.models import OPTIONAL_RECORD_FIELDS, RECORD_FIELDS
from crawler.urls import validate_seed

OutputFormat = Literal["jsonl", "csv"]

SHARED_SCHEMES = ("redis://", "rediss://", "unix://")
"""State locations of the shared (Redis) backend: many workers, one crawl."""


def is_shared(location: str | None) -> bool:
    """Return whether ``location`` names a shared (Redis) state."""
    return location is not None and location.startswith(SHARED_SCHEMES)


DEFAULT_USER_AGENT = f"crawler/{__version__} (python asyncio crawler)"
MIB = 1024 * 1024


MAX_CONCURRENCY = 10_000
"""Consumer tasks at most: far past what one process can keep busy (each holds a socket and
a buffer), and short of a typo like ``--concurrency 99999999999999999999``."""


def _positive(name: str, value: float | None, *, allow_zero: bool = False) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ConfigError(f"{name} must be {bound}, got {value!r}")


def _patterns(name: str, values: tuple[str, ...]) -> None:
    for pattern in values:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ConfigError(f"{name}: invalid regular expression {pattern!r}: {exc}") from None


def _domains(name: str, values: tuple[str, ...]) -> None:
    for domain in values:
        if not domain or "/" in domain or " " in domain:
            raise ConfigError(f"{name}: invalid domain {domain!r}")


@dataclass(frozen=True, kw_only=True, slots=True)
class CrawlConfig:
    """Everything that shapes a crawl. Invalid values raise ``ConfigError`` (a ``ValueError``).

    Attributes:
        concurrency: Consumer tasks, and so the most requests in flight at once.
        queue_size: ``maxsize`` of the queue between frontier and consumers; the
            backpressure. ``None`` means twice ``concurrency``. URLs beyond it wait
            in the frontier's state, never in a blocked consumer.
        max_pages: Stop after this many fetches (successful and failed together).
        max_depth: Do not follow links further than this from a seed (seeds are 0).
        time_limit: Stop the crawl after this many seconds.
        timeout: Total seconds for one request, body included.
        connect_timeout: Seconds to establish a connection.
        retries: Retries after the first attempt on connection errors, timeouts and
            the statuses in ``retry_statuses``.
        backoff: Base of the exponential back-off between retries, in seconds.
        max_retry_after: Cap, in seconds, on a server's ``Retry-After``.
        max_redirects: Redirect hops followed before ``too_many_redirects``.
        max_bytes: Cap on a body after decompression; a longer one is ``too_large``.
        max_url_length: Longer URLs are skipped as ``invalid_url`` (a trap guard).
        allow_domains: Domains in scope besides the seeds' hosts (with subdomains).
        deny_domains: Domains never crawled (with subdomains); wins over allow.
        allow_patterns: If any is given, a URL must match one (``re.search``).
        deny_patterns: A URL that matches any is skipped; wins over allow.
        user_agent: The ``User-Agent`` header.
        output: A path to write records to, ``"-"`` for stdout, ``None`` for none.
        output_format: ``"jsonl"`` (JSON Lines) or ``"csv"``.
        lease_seconds: How long a leased request stays claimed before another worker
            may take it; a worker renews the leases of requests it still works on.
        fields: The record fields to write, in this order (``RECORD_FIELDS`` and
            ``OPTIONAL_RECORD_FIELDS``); ``None`` writes ``RECORD_FIELDS``.
        include_links: Add ``outlinks`` (the page's in-scope links) to the records.
        state: Where the crawl's state lives: ``None`` in memory (gone at exit), a file
            path for SQLite (durable: a crawl with the same state file resumes).
        force_state: Continue a state file bound to another crawl (other seeds or scope
            options) instead of refusing it.
        crawl_id: The crawl's name in a shared ``redis://`` state: it namespaces every
            key, so several crawls share one Redis; needed with a Redis state.
        worker_id: This worker's id in a shared state (default: host name, pid and a
            random part); a worker restarted with the same id takes its leases over.
        per_host_concurrency: Most requests in flight to one origin (scheme, host, port)
            at a time, on top of ``concurrency`` (8, as Scrapy).
        delay: Least seconds between the starts of two requests to one origin.
        max_crawl_delay: Cap, in seconds, on a robots.txt ``Crawl-delay`` and on the
            adaptive back-off after 429 responses.
        obey_robots: Fetch robots.txt once per origin and skip what it disallows
            (skip reason ``robots``); a 5xx or unreachable robots.txt disallows the origin.
        respect_nofollow: Do not follow ``rel="nofollow"`` links, nor any link of a page
            with a robots ``nofollow`` in ``<meta>`` or ``X-Robots-Tag``.
        sitemaps: Sitemap URLs (urlset, index, gzipped) whose pages seed the crawl at
            depth 0; their hosts join the scope.
        sitemaps_from_robots: Also seed from the ``Sitemap:`` lines of the seeds' robots.txt.
        max_pages_per_host: Fetch at most this many pages per origin (a trap guard); the
            rest are skipped as ``limit_reached``.
        max_repeated_segments: Skip as ``trap`` a URL whose path repeats one segment more
            often than this (``/a/b/a/b/a/b/a/``); ``None`` turns the guard off.
        log_skipped: Also write a record (``error`` null, ``error_detail`` the reason) for
            a leased URL skipped by robots.txt or ``max_pages_per_host``.
        redis_outage_seconds: In a shared crawl, how long a worker waits for a Redis that
            stopped answering (a restart, a fail-over) before it gives up with one line
            and exit status 1 (``crawler.shared.outage``).
        headers: Extra request headers, ``(name, value)`` pairs, sent on every request to
            the crawl's scope (robots.txt and sitemaps included), never to other hosts;
            ``user_agent`` wins over a ``User-Agent`` here only when it is not the default.
        cookies: ``(name, value)`` cookies sent to the seed origins.
        use_cookies: Keep the cookies sites set, per origin, for the crawl (the RFC's
            domain and path rules); ``False`` keeps none.
        load_cookies: A Netscape ``cookies.txt`` file (browsers' export, wget, curl) whose
            cookies the jar starts with.
        save_cookies: Where to write the jar in the same format when the crawl ends.
        auth: ``(user, password)`` for HTTP basic auth, sent to the seed origins only
            (never on a redirect that leaves them). Never written anywhere.
        proxy: The proxy for every request (``http://``, ``https://``, ``socks5://``,
            ``socks5h://``; SOCKS needs the ``socks`` extra); ``None`` reads the
            environment when ``trust_env``.
        trust_env: Honour ``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY`` and ``NO_PROXY``
            (lower case too) when ``proxy`` is not given.
        insecure: Skip TLS certificate verification (logged once).
        ca_bundle: A PEM file of CA certificates to trust besides the system's.
        client_cert: A PEM client certificate for mutual TLS (its key too, unless
            ``client_key`` is given).
        client_key: The client certificate's PEM private key.
        resolve: ``HOST:PORT:ADDRESS`` entries: connect to ADDRESS for HOST:PORT while
            sending HOST (curl's ``--resolve``).
        save_dir: Keep each 2xx body as a file under this folder, in wget's layout
            (``crawler.savedir``); records then carry ``saved_path``.
        max_text_bytes: Cap, in bytes of UTF-8, on the ``text`` and ``markdown`` fields.
        warc: Archive every HTTP exchange (pages, redirect hops, robots.txt, sitemaps) in
            this WARC/1.1 file, ending in ``.warc.gz`` (``crawler.archive``; the ``warc``
            extra); with ``state``, as crash-safe as ``output``.
        warc_max_size: Bytes after which the archive rolls over to ``FILE-00001.warc.gz``,
            ...; ``None`` for one file.
        warc_cdx: Also write a CDXJ index of the archive, ``FILE.cdxj``, when the crawl ends.
        recrawl: With a ``state`` (a file, or Redis) whose crawl completed, start its next
            generation: every URL done is fetched again, conditionally (``If-None-Match``,
            ``If-Modified-Since``), and each record says its ``change``; an unfinished
            generation is resumed. Records then carry ``change``.
        follow_canonical: Queue a page's in-scope canonical URL (``<link rel="canonical">``
            or a ``Link`` header) not seen yet; a page whose canonical URL was seen already
            is recorded with ``duplicate_of`` and its links are not followed.
        trust_lastmod: In a recrawl, record ``unchanged`` without a request a page whose
            sitemap ``<lastmod>`` is not after its last fetch (some sites' lastmod lie: off
            by default); the crawl reads its sitemaps before it fetches pages.
        extract: ``(NAME, KIND:EXPRESSION)`` fields to extract from every HTML page into its
            record (``crawler.extract``: ``css:``, ``xpath:``, ``re:``; ``NAME[]`` keeps
            every match as a list); checked when the crawl is made.
        allow_private: Lift the private-network guard (``crawler.netguard``): loopback,
            private and link-local addresses may be connected to whatever the seeds are.
        schedule_size: Most leased requests waiting in the per-host scheduler for their
            origin's next slot; bounds memory while keeping enough hosts in view that
            one slow host never holds back the others.
    """

    concurrency: int = 16
    queue_size: int | None = None
    max_pages: int | None = None
    max_depth: int | None = None
    time_limit: float | None = None
    timeout: float = 30.0
    connect_timeout: float = 10.0
    retries: int = 2
    backoff: float = 0.5
    max_retry_after: float = 60.0
    retry_statuses: frozenset[int] = field(
        default_factory=lambda: frozenset({408, 429, 500, 502, 503, 504})
    )
    max_redirects: int = 10
    max_bytes: int = 10 * MIB
    max_url_length: int = 2048
    allow_domains: tuple[str, ...] = ()
    deny_domains: tuple[str, ...] = ()
    allow_patterns: tuple[str, ...] = ()
    deny_patterns: tuple[str, ...] = ()
    user_agent: str = DEFAULT_USER_AGENT
    output: str | None = None
    output_format: OutputFormat = "jsonl"
    lease_seconds: float = 300.0
    fields: tuple[str, ...] | None = None
    include_links: bool = False
    state: str | None = None
    force_state: bool = False
    crawl_id: str | None = None
    worker_id: str | None = None
    per_host_concurrency: int = 8
    delay: float = 0.0
    max_crawl_delay: float = 30.0
    obey_robots: bool = True
    respect_nofollow: bool = False
    sitemaps: tuple[str, ...] = ()
    sitemaps_from_robots: bool = False
    max_pages_per_host: int | None = None
    max_repeated_segments: int | None = 3
    log_skipped: bool = False
    schedule_size: int = 10_000
    redis_outage_seconds: float = 30.0
    headers: tuple[tuple[str, str], ...] = ()
    cookies: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    use_cookies: bool = True
    load_cookies: str | None = None
    save_cookies: str | None = None
    auth: tuple[str, str] | None = field(default=None, repr=False)
    proxy: str | None = field(default=None, repr=False)
    trust_env: bool = True
    insecure: bool = False
    ca_bundle: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    resolve: tuple[str, ...] = ()
    allow_private: bool = False
    extract: tuple[tuple[str, str], ...] = ()
    max_text_bytes: int = MIB
    save_dir: str | None = None
    warc: str | None = None
    warc_max_size: int | None = None
    warc_cdx: bool = False
    recrawl: bool = False
    follow_canonical: bool = False
    trust_lastmod: bool = False

    def __post_init__(self) -> None:
        for name in ("concurrency", "max_bytes", "max_url_length", "max_text_bytes"):
            _integer(name, getattr(self, name), minimum=1)
        if self.concurrency > MAX_CONCURRENCY:
            raise ConfigError(f"concurrency must be <= {MAX_CONCURRENCY}, got {self.concurrency}")
        for name in ("queue_size", "max_pages"):
            _integer(name, getattr(self, name), minimum=1)
        for name in ("max_depth", "retries", "max_redirects"):
            _integer(name, getattr(self, name), minimum=0)
        for name in (
            "time_limit",
            "timeout",
            "connect_timeout",
            "lease_seconds",
            "redis_outage_seconds",
        ):
            _positive(name, getattr(self, name))
        for name in ("backoff", "max_retry_after"):
            _positive(name, getattr(self, name), allow_zero=True)
        self._check_politeness()
        _domains("allow_domains", self.allow_domains)
        _domains("deny_domains", self.deny_domains)
        _patterns("allow_patterns", self.allow_patterns)
        _patterns("deny_patterns", self.deny_patterns)
        if self.output_format not in ("jsonl", "csv"):
            raise ConfigError(f"output_format must be 'jsonl' or 'csv', got {self.output_format!r}")
        if not self.user_agent.strip():
            raise ConfigError("user_agent must not be empty")
        if any(c in self.user_agent for c in "\r\n\0"):
            raise ConfigError("user_agent must not contain CR, LF or NUL (a header value)")
        _fields(self.fields, self.extracted_fields)
        check_access(self)
        if self.save_dir is not None and not self.save_dir:
            raise ConfigError("save_dir must be a folder path or None, got ''")
        self._check_warc()
        self._check_recrawl()
        if self.state is not None and not self.state:
            raise ConfigError("state must be a path or None, got ''")
        self._check_shared()

    def _check_warc(self) -> None:
        if self.warc is not None and (
            not self.warc.endswith(".warc.gz") or self.warc == ".warc.gz"
        ):
            raise ConfigError(f"warc must be a file name ending in .warc.gz, got {self.warc!r}")
        _integer("warc_max_size", self.warc_max_size, minimum=1)
        if not isinstance(self.warc_cdx, bool):
            raise ConfigError(f"warc_cdx must be true or false, got {self.warc_cdx!r}")
        for name in ("warc_max_size", "warc_cdx"):
            if getattr(self, name) and self.warc is None:
                raise ConfigError(f"{name} needs warc (the archive to write)")

    def _check_recrawl(self) -> None:
        if not isinstance(self.recrawl, bool):
            raise ConfigError(f"recrawl must be true or false, got {self.recrawl!r}")
        if self.recrawl and self.state is None:
            raise ConfigError("recrawl needs state (the file of the crawl to come back to)")
        if not isinstance(self.trust_lastmod, bool):
            raise ConfigError(f"trust_lastmod must be true or false, got {self.trust_lastmod!r}")
        if self.trust_lastmod and not self.recrawl:
            raise ConfigError("trust_lastmod needs recrawl (a last fetch to compare with)")

    def _check_shared(self) -> None:
        shared = is_shared(self.state)
        if shared and not self.crawl_id:
            raise ConfigError("crawl_id is needed with a redis:// state")
        if self.crawl_id is not None and not shared:
            raise ConfigError("crawl_id needs a redis:// state")
        for name in ("crawl_id", "worker_id"):
            value = getattr(self, name)
            if value is not None and (not value or any(c in value for c in "{}*?[]\\ ")):
                raise ConfigError(f"{name} must be a non-empty name without {{}}*?[]\\ or spaces")

    def _check_politeness(self) -> None:
        for name in ("per_host_concurrency", "max_pages_per_host", "schedule_size"):
            _integer(name, getattr(self, name), minimum=1)
        _integer("max_repeated_segments", self.max_repeated_segments, minimum=1)
        for name in ("delay", "max_crawl_delay"):
            _positive(name, getattr(self, name), allow_zero=True)
        for name in (
            "obey_robots", "respect_nofollow", "sitemaps_from_robots", "log_skipped",
            "follow_canonical",
        ):  # fmt: skip
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be true or false, got {getattr(self, name)!r}")
        for url in self.sitemaps:
            try:
                validate_seed(url)
            except SeedError as exc:
                raise ConfigError(f"sitemaps: {exc}") from None

    @property
    def extracted_fields(self) -> tuple[str, ...]:
        """The record fields ``extract`` adds (``NAME[]`` adds ``NAME``), in order."""
        return tuple(name.removesuffix("[]") for name, _ in self.extract)

    @property
    def agent(self) -> str:
        """The ``User-Agent`` sent and matched in robots.txt: ``user_agent``, or the one in
        ``headers`` when ``user_agent`` is left at its default."""
        given = [value for name, value in self.headers if name.lower() == "user-agent"]
        return given[-1] if given and self.user_agent == DEFAULT_USER_AGENT else self.user_agent

    @property
    def effective_queue_size(self) -> int:
        """The queue's ``maxsize``: ``queue_size``, or twice ``concurrency``."""
        return self.queue_size or 2 * self.concurrency

    @property
    def record_fields(self) -> tuple[str, ...]:
        """The fields of a default record, in order: ``fields`` plus ``outlinks`` if asked."""
        chosen = self.fields or (*RECORD_FIELDS, *self.extracted_fields)
        if self.save_dir is not None and self.fields is None:
            chosen = (*chosen, "saved_path")
        if self.recrawl and self.fields is None:
            chosen = (*chosen, "change")
        if self.include_links and "outlinks" not in chosen:
            return (*chosen, "outlinks")
        return chosen

    def replace(self, **changes: Any) -> CrawlConfig:
        """Return a copy with ``changes`` applied (and validated)."""
        return replace(self, **changes)

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> CrawlConfig:
        """Build a config from keyword options, naming any unknown one."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigError(f"unknown option(s): {', '.join(unknown)}")
        return cls(**_tupled(options))


def _integer(name: str, value: int | None, *, minimum: int) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value!r}")


def _fields(names: tuple[str, ...] | None, extracted: tuple[str, ...]) -> None:
    clash = sorted(set(extracted) & {*RECORD_FIELDS, *OPTIONAL_RECORD_FIELDS})
    if clash:
        raise ConfigError(f"extract: {', '.join(clash)} is a record field already: rename it")
    if names is None:
        return
    valid = (*RECORD_FIELDS, *OPTIONAL_RECORD_FIELDS, *extracted)
    if not names:
        raise ConfigError(f"fields: no field given (valid: {', '.join(valid)})")
    for name in names:
        if name not in valid:
            raise ConfigError(f"fields: unknown field {name!r} (valid: {', '.join(valid)})")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"fields: repeated field(s): {', '.join(repeated)}")


def _tupled(options: dict[str, Any]) -> dict[str, Any]:
    """Accept lists where the config holds tuples, so ``crawl(allow_domains=[...])`` works,
    and mappings for pairs, so ``crawl(headers={"X-Token": "t"})`` does."""
    return {key: _tuple(value) for key, value in options.items()}


def _tuple(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(value.items())
    if isinstance(value, list):
        return tuple(tuple(v) if isinstance(v, list) else v for v in value)
    return value
