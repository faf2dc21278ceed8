"""Value objects that flow downstream: request → fetch result → page → record."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Literal

from crawler.simhash import simhash

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from datetime import datetime

    from bs4 import BeautifulSoup

ErrorKind = Literal[
    "timeout",  # connect or total timeout, body included
    "connection",  # refused, reset, closed without answer, DNS
    "too_large",  # body over max_bytes after decompression
    "http_status",  # a 4xx or 5xx status
    "invalid_content",  # a body that could not be decoded or parsed
    "too_many_redirects",  # more than max_redirects hops, or a loop
    "bad_redirect",  # a redirect to a non-http scheme or without Location
    "callback",  # the user's on_page callback raised
    "host_unavailable",  # not requested: its origin asked, again and again, to come back later
    "tls",  # the certificate was refused (expired, self-signed, another host) or TLS failed
    "blocked_address",  # not connected: a private, loopback or link-local address (the guard)
]
"""The closed set of ``error`` classes a record can carry."""

SkipReason = Literal[
    "bad_scheme",  # not http or https
    "invalid_url",  # unparsable, or longer than max_url_length
    "duplicate",  # its canonical form was seen before
    "out_of_scope",  # domain or allow/deny pattern
    "too_deep",  # depth over max_depth
    "limit_reached",  # max_pages or the time limit was reached
    "robots",  # disallowed by robots.txt
    "trap",  # repeated path segments or other crawler-trap guard
    "host_unavailable",  # left pending for the next run: its origin was given up for this one
]
"""The closed set of reasons a URL is not crawled; counted in the stats."""

RECORD_FIELDS: tuple[str, ...] = (
    "url",
    "final_url",
    "status",
    "depth",
    "parent",
    "content_type",
    "title",
    "links",
    "bytes",
    "elapsed_ms",
    "fetched_at",
    "error",
    "error_detail",
)
"""The fields of an output record, in output order."""

OPTIONAL_RECORD_FIELDS: tuple[str, ...] = (
    "outlinks", "callback_error", "text", "markdown", "saved_path", "change", "digest",
    "simhash", "canonical", "duplicate_of",
)  # fmt: skip
"""Fields a record carries only when asked for (``fields`` or ``include_links``):
``outlinks`` is the list of the page's in-scope links, to rebuild the crawl graph;
``callback_error`` is what ``on_page`` raised (a default record has it only when set);
``text`` is an HTML page's visible text (``crawler.text``) and ``markdown`` the page as
Markdown (``crawler.markdown``, the ``markdown`` extra), ``null`` for other pages;
``saved_path`` is where ``save_dir`` put the body (``crawler.savedir``), ``null`` if not;
``change`` is what a recrawl found (``Change``; a recrawl's records have it by default);
``digest`` is the SHA-1 (hex) of the decoded body of a 2xx answer; ``simhash`` the 64-bit
simhash (16 hex digits) of an HTML page's visible text (``crawler.simhash``); ``canonical``
the page's canonical URL (``<link rel="canonical">`` or a ``Link`` header); ``duplicate_of``
that URL when ``follow_canonical`` found it crawled already (the page's links not followed)."""


@dataclass(frozen=True, slots=True)
class Request:
    """One URL to fetch.

    Attributes:
        url: The URL sent on the wire (as found, fragment removed).
        key: The canonical form used for deduplication.
        depth: Link distance from a seed; seeds are depth 0.
        parent: The URL of the page that linked here, ``None`` for seeds.
        attempt: How many times the request was handed back after a 429 or 503 paused
            its host (0 for a first try).
    """

    url: str
    key: str
    depth: int = 0
    parent: str | None = None
    attempt: int = 0
    previous: Snapshot | None = field(default=None, compare=False)
    """What the previous generation kept of this URL (``--recrawl``), ``None`` if new."""


NOT_MODIFIED = 304
SUCCESS_STATUSES = range(200, 300)

Change = Literal["new", "changed", "unchanged", "gone"]
"""What a recrawl found of a URL against the previous generation (the ``change`` field)."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a state keeps of a done URL, for the next generation of the crawl.

    Attributes:
        status: The final status (``None``: no response).
        etag: The ``ETag`` header, sent back as ``If-None-Match``.
        last_modified: The ``Last-Modified`` header, sent back as ``If-Modified-Since``.
        digest: The SHA-1 (hex) of the decoded body of a 2xx answer.
        title: The page's title.
        links: How many links the page had.
        content_type: The media type.
        size: The decoded body's size in bytes.
        fetched_at: When it was fetched (ISO 8601 UTC).
        fields: The extracted fields (``extract``).
        simhash: The page's simhash (16 hex digits), when the record asked for it.
    """

    status: int | None
    etag: str | None = None
    last_modified: str | None = None
    digest: str | None = None
    title: str | None = None
    links: int = 0
    content_type: str | None = None
    size: int = 0
    fetched_at: str | None = None
    fields: Mapping[str, object] = field(default_factory=dict)
    simhash: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the URL answered 2xx (or 304: it was unchanged and fine)."""
        return self.status is not None and (200 <= self.status < 300 or self.status == 304)

    def to_json(self) -> str:
        """Return the snapshot as one JSON object (how a state stores it)."""
        kept = {name: getattr(self, name) for name in SNAPSHOT_FIELDS}  # asdict deep-copies
        return json.dumps(kept, separators=(",", ":"), default=str)

    @classmethod
    def from_json(cls, text: str) -> Snapshot:
        """Read a snapshot written by ``to_json`` (fields it does not know are ignored)."""
        data = json.loads(text)
        return cls(**{k: v for k, v in data.items() if k in SNAPSHOT_FIELDS})


SNAPSHOT_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Snapshot))


@dataclass(frozen=True, slots=True)
class Exchange:
    """One HTTP request and its response as they went over the wire, for an archive.

    Attributes:
        url: The URL requested.
        method: The request method.
        request_headers: The request headers as sent (secrets included: an archive
            writer redacts them, ``crawler.warc``).
        version: The response's HTTP version (``"1.1"``).
        status: The response status.
        reason: The status line's reason phrase.
        response_headers: The response headers as received, raw ``(name, value)`` pairs.
        body: The body as transferred: ``Content-Encoding`` kept, chunking undone (a
            compressed or cut body is kept only for an archive: ``warc``; else empty).
        truncated: The body was cut: over ``max_bytes``, or the connection broke.
        ip: The address connected to (a proxy's, through one), when known.
        date: When the request was sent (UTC).
        not_modified_since: For a 304 to a recrawl's conditional request, when the page it
            says is not modified was fetched (ISO 8601 UTC): archived as a revisit of it.
    """

    url: str
    method: str
    request_headers: Mapping[str, str]
    version: str
    status: int
    reason: str
    response_headers: tuple[tuple[bytes, bytes], ...]
    body: bytes
    truncated: bool
    ip: str | None
    date: datetime
    not_modified_since: str | None = None


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What the fetcher got for one request, success or not.

    Attributes:
        request: The request that was fetched.
        final_url: The URL after redirects (the request URL when none).
        status: The final HTTP status, ``None`` when no response arrived.
        headers: The final response headers (empty when no response).
        content_type: The media type, lower case without parameters, or ``None``.
        charset: The ``charset`` parameter of ``Content-Type``, or ``None``.
        body: The decompressed body; empty on error.
        elapsed: Seconds from the first byte sent to the last byte read.
        fetched_at: When the fetch finished (UTC).
        error: The error class, ``None`` on success.
        error_detail: A short human-readable explanation of ``error``.
        redirects: The URLs redirected through, in order, before ``final_url``.
        stopped_redirect: Set when a redirect was not followed because the
            ``follow`` check refused it; the refused target is ``final_url``.
        exchanges: Each hop's HTTP exchange (its last try), redirects first, for an
            archive; a hop that got no response has none.
    """

    request: Request
    final_url: str
    status: int | None
    headers: Mapping[str, str]
    content_type: str | None
    charset: str | None
    body: bytes
    elapsed: float
    fetched_at: datetime
    error: ErrorKind | None = None
    error_detail: str | None = None
    redirects: tuple[str, ...] = ()
    stopped_redirect: str | None = None
    exchanges: tuple[Exchange, ...] = ()

    @property
    def fetched_at_text(self) -> str:
        """``fetched_at`` as records and snapshots write it: ISO 8601 with ``Z``."""
        return self.fetched_at.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class ParsedHtml:
    """What the parser extracted from an HTML body.

    Attributes:
        title: The stripped text of ``<title>``, or ``None``.
        links: Absolute http(s) URLs of ``<a href>`` and ``<area href>``, in document
            order, resolved against ``<base href>`` or the page URL; fragments removed.
        encoding: The encoding the body was decoded with (Python codec name).
        nofollow: ``True`` when a robots meta tag says ``nofollow``.
        nofollow_links: The subset of ``links`` whose anchor has ``rel="nofollow"``.
    """

    title: str | None
    links: tuple[str, ...]
    encoding: str
    nofollow: bool = False
    nofollow_links: frozenset[str] = frozenset()
    fields: Mapping[str, object] = field(default_factory=dict)
    """The user's extracted fields (``crawler.extract``), by name."""
    text: str | None = None
    """The visible text, when asked for (``crawler.text``)."""
    canonical: str | None = None
    """The ``<link rel="canonical">`` URL, resolved (fragment removed), or ``None``."""


@dataclass(slots=True)
class Page:
    """A fetched page as user code sees it (``on_page`` and ``iter_pages``).

    ``text`` is decoded and ``soup`` is parsed on first access only, so a crawl
    whose callback never touches them pays nothing for them.
    """

    url: str
    final_url: str
    status: int | None
    headers: Mapping[str, str]
    depth: int
    parent: str | None
    content_type: str | None
    body: bytes
    encoding: str | None
    title: str | None
    links: tuple[str, ...]
    error: ErrorKind | None = None
    error_detail: str | None = None
    callback_error: str | None = None
    """What ``on_page`` raised (``"KeyError: 'x'"``); the fetch's own outcome is kept."""
    fields: Mapping[str, object] = field(default_factory=dict)
    """The fields extracted from the page (``CrawlConfig.extract``), by name."""
    saved_path: str | None = None
    """Where ``save_dir`` saved the body (``crawler.savedir``)."""
    previous: Snapshot | None = None
    """What the previous generation kept of this URL (``--recrawl``); a 304's title,
    type and fields come from it."""
    change: Change | None = None
    """What a recrawl found changed (``crawler.recrawl``); ``None`` outside a recrawl."""
    canonical: str | None = None
    """The page's canonical URL (``<link rel="canonical">``, else a ``Link`` header)."""
    duplicate_of: str | None = None
    """``canonical`` when ``follow_canonical`` found it crawled already."""
    _simhash: int | None = field(default=None, repr=False)
    _digest: str | None = field(default=None, repr=False)
    _visible_text: str | None = field(default=None, repr=False)
    _markdown: str | None = field(default=None, repr=False)
    _derive_text: Callable[[], str | None] | None = field(default=None, repr=False)
    _derive_markdown: Callable[[], str | None] | None = field(default=None, repr=False)
    _text: str | None = field(default=None, repr=False)
    _soup: BeautifulSoup | None = field(default=None, repr=False)

    @property
    def visible_text(self) -> str | None:
        """The page's visible text (``crawler.text``), ``None`` when not HTML; made on first
        use unless the record asked for ``text``. ``text`` is the whole body decoded."""
        if self._derive_text is not None:
            self._visible_text, self._derive_text = self._derive_text(), None
        return self._visible_text

    @property
    def digest(self) -> str | None:
        """The SHA-1 (hex) of the body of a 2xx answer (a 304's: the one kept by the
        previous generation), made once on first use; ``None`` for other answers."""
        if self._digest is None:
            if self.status == NOT_MODIFIED and self.previous is not None:
                self._digest = self.previous.digest
            elif self.error in (None, "callback") and self.status in SUCCESS_STATUSES:
                self._digest = hashlib.sha1(self.body).hexdigest()  # identity, not security
        return self._digest

    @property
    def simhash(self) -> int | None:
        """The 64-bit simhash of ``visible_text`` (``crawler.simhash``), made on first use;
        ``None`` when the page is not HTML."""
        if self._simhash is None and self.visible_text is not None:
            self._simhash = simhash(self.visible_text)
        return self._simhash

    @property
    def markdown(self) -> str | None:
        """The page as Markdown (``crawler.markdown``; the ``markdown`` extra), ``None`` when
        not HTML; made on first use unless the record asked for ``markdown``.

        Raises:
            ConfigError: The ``markdown`` extra is missing.
        """
        if self._derive_markdown is not None:
            self._markdown, self._derive_markdown = self._derive_markdown(), None
        return self._markdown

    @property
    def text(self) -> str:
        """The body decoded with the detected encoding (``""`` when not text)."""
        if self._text is None:
            self._text = self.body.decode(self.encoding or "utf-8", errors="replace")
        return self._text

    @property
    def soup(self) -> BeautifulSoup:
        """A BeautifulSoup document (lxml backend) of the body, built on first use."""
        if self._soup is None:
            from bs4 import BeautifulSoup

            self._soup = BeautifulSoup(self.text, "lxml")
        return self._soup


Record = dict[str, Any]
"""One output row: the ``RECORD_FIELDS`` of a page, or what ``on_page`` returned."""
