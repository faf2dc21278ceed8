"""WARC/1.1 records of HTTP exchanges, built with warcio (the ``warc`` extra).

Each exchange (``crawler.models.Exchange``) becomes a ``request`` record and then a
``response`` record, each its own gzip member, paired both ways by ``WARC-Concurrent-To``
and carrying ``WARC-Target-URI``, ``WARC-Date`` (when the request was sent),
``WARC-Record-ID``, ``WARC-IP-Address`` and the block and payload digests (SHA-1, base32,
as wget, Heritrix and pywb write them). The response block is the response as received:
status line, headers, and the body as transferred (``Content-Encoding`` kept). Two things
differ from the wire, each for a reason:

- aiohttp undoes chunking, so ``Transfer-Encoding`` is written as
  ``X-Archive-Orig-Transfer-Encoding`` (pywb's convention), and a replayer does not try to
  de-chunk a body that no longer is;
- secrets are redacted (the value becomes ``(redacted)``): ``Authorization``,
  ``Proxy-Authorization`` and ``Cookie`` in requests, the headers given with ``-H``
  (but ``User-Agent``), and ``Set-Cookie`` in responses. An archive is a record like any
  other, and secrets reach none.

A body cut at ``max_bytes`` (or by a broken connection) is written as far as it came, with
``WARC-Truncated: length``. A payload already archived in this crawl is written as a
``revisit`` record (the identical-payload-digest profile), its HTTP headers only, pointing
at the first response by URI and date. A 304 to a recrawl's conditional request is a
``revisit`` of the server-not-modified profile, pointing at the page's previous fetch.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import io
import json
import zlib
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Final

from crawler._version import __version__
from crawler.access_options import redact_url
from crawler.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from datetime import datetime

    from crawler.config import CrawlConfig
    from crawler.models import Exchange

__all__ = ["EXTRA_MISSING", "Archived", "WarcRecords", "payload_digest", "warcinfo_fields"]

EXTRA_MISSING: Final = "--warc needs the warc extra: pip install 'crawler[warc]'"
REDACTED: Final = "(redacted)"
SECRET_REQUEST_HEADERS: Final = frozenset({"authorization", "proxy-authorization", "cookie"})
SECRET_RESPONSE_HEADERS: Final = frozenset({"set-cookie", "set-cookie2"})
UNDONE_HEADERS: Final = frozenset({"transfer-encoding"})
"""Headers whose coding the client undid: kept under ``ORIGINAL_PREFIX``."""
ORIGINAL_PREFIX: Final = "X-Archive-Orig-"
SECRET_OPTIONS: Final = frozenset({"cookies", "auth"})
"""``CrawlConfig`` fields left out of ``warcinfo`` (header values and proxies are redacted)."""
GZIP_LEVEL: Final = 1
"""Each member is compressed by ISA-L (``isal``, in the ``warc`` extra) at its level 1: for a
15 KB page 32 µs and 4.4 KB, where zlib takes 149 µs at its level 1 and 350 µs at warcio's
9 (4.0 KB). Without isal, zlib's level 1. The archive is written on the event loop, so
this is the archive's largest cost (``benchmarks/README.md``)."""
NOT_MODIFIED_PROFILE: Final = "http://netpreserve.org/warc/1.1/revisit/server-not-modified"
CONFORMS_TO: Final = (
    "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/"
)


@dataclass(frozen=True, slots=True)
class Archived:
    """A payload's first response in the archive: what a revisit of it refers to."""

    uri: str
    date: str


def payload_digest(body: bytes) -> str:
    """Return the ``WARC-Payload-Digest`` of ``body`` (``sha1:`` and base32, as warcio's)."""
    return "sha1:" + base64.b32encode(hashlib.sha1(body).digest()).decode()


EMPTY_DIGEST: Final = payload_digest(b"")


def warc_date(when: datetime) -> str:
    """Return ``when`` (UTC) as a ``WARC-Date`` with microseconds (WARC/1.1)."""
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _compressor() -> Callable[[], Any]:
    """Return a maker of gzip compressors: ISA-L's when installed, else zlib's."""
    try:
        module: Any = importlib.import_module("isal.isal_zlib")
    except ImportError:
        module = zlib
    return lambda: module.compressobj(GZIP_LEVEL, module.DEFLATED, zlib.MAX_WBITS | 16)


def _warcio() -> tuple[Any, Any]:
    try:
        writer = importlib.import_module("warcio.warcwriter")
        headers = importlib.import_module("warcio.statusandheaders")
    except ImportError:
        raise ConfigError(EXTRA_MISSING) from None
    return writer, headers


class WarcRecords:
    """Builds gzip members of WARC records (see the module docstring).

    Args:
        secret_headers: Request header names (any case) whose values are redacted, on
            top of ``SECRET_REQUEST_HEADERS``.

    Raises:
        ConfigError: warcio is not installed (the message names the extra).
    """

    def __init__(self, secret_headers: Iterable[str] = ()) -> None:
        writer_module, headers_module = _warcio()
        self._out = io.BytesIO()
        self._writer = writer_module.WARCWriter(self._out, gzip=False, warc_version="1.1")
        self._compressor = _compressor()
        self._headers = headers_module.StatusAndHeaders
        self._secret = SECRET_REQUEST_HEADERS | {h.lower() for h in secret_headers}

    def warcinfo(self, filename: str, info: Mapping[str, str]) -> bytes:
        """Return the ``warcinfo`` record that opens the file ``filename``."""
        return self._written(self._writer.create_warcinfo_record(filename, dict(info)))

    def exchange(self, exchange: Exchange, digest: str, first: Archived | None) -> bytes:
        """Return the request and response (or revisit of ``first``) records of ``exchange``,
        whose payload digest is ``digest``."""
        date = warc_date(exchange.date)
        response = self._response(exchange, digest, date, first)
        request = self._request(exchange, date)
        response_id = response.rec_headers.get_header("WARC-Record-ID")
        request_id = request.rec_headers.get_header("WARC-Record-ID")
        request.rec_headers.add_header("WARC-Concurrent-To", response_id)
        response.rec_headers.add_header("WARC-Concurrent-To", request_id)
        return self._written(request) + self._written(response)

    def _request(self, exchange: Exchange, date: str) -> Any:
        path = _target(exchange.url)
        lines = [(k, REDACTED if k.lower() in self._secret else v)
                 for k, v in exchange.request_headers.items()]  # fmt: skip
        http = self._headers(f"{exchange.method} {path} HTTP/1.1", lines, is_http_request=True)
        headers = self._common(exchange, date)
        headers["WARC-Payload-Digest"] = EMPTY_DIGEST  # a GET has no body
        return self._writer.create_warc_record(
            exchange.url, "request", http_headers=http, warc_headers_dict=headers
        )

    def _response(self, exchange: Exchange, digest: str, date: str, first: Archived | None) -> Any:
        lines = [_header(k, v) for k, v in exchange.response_headers]
        status = f"{exchange.status} {exchange.reason}".rstrip()
        http = self._headers(status, lines, protocol=f"HTTP/{exchange.version}")
        headers = self._common(exchange, date)
        if exchange.truncated:
            headers["WARC-Truncated"] = "length"
        if exchange.not_modified_since is not None:
            return self._not_modified(exchange, http, headers)
        if first is not None:
            return self._writer.create_revisit_record(
                exchange.url, digest, first.uri, first.date, http_headers=http,
                warc_headers_dict=headers,
            )  # fmt: skip
        headers["WARC-Payload-Digest"] = digest
        return self._writer.create_warc_record(
            exchange.url, "response", payload=io.BytesIO(exchange.body),
            length=len(exchange.body), http_headers=http, warc_headers_dict=headers,
        )  # fmt: skip

    def _not_modified(self, exchange: Exchange, http: Any, headers: dict[str, str]) -> Any:
        """A 304 to a recrawl's conditional request: a revisit of the page fetched before."""
        headers["WARC-Profile"] = NOT_MODIFIED_PROFILE
        headers["WARC-Refers-To-Target-URI"] = exchange.url
        headers["WARC-Refers-To-Date"] = exchange.not_modified_since or ""  # ISO 8601, ``Z``
        return self._writer.create_warc_record(
            exchange.url, "revisit", http_headers=http, warc_headers_dict=headers
        )

    @staticmethod
    def _common(exchange: Exchange, date: str) -> dict[str, str]:
        headers = {"WARC-Date": date}
        if exchange.ip is not None:
            headers["WARC-IP-Address"] = exchange.ip
        return headers

    def _written(self, record: Any) -> bytes:
        """Return ``record`` as one gzip member (see ``GZIP_LEVEL``)."""
        self._out.seek(0)
        self._out.truncate()
        self._writer.write_record(record)
        member = self._compressor()
        return bytes(member.compress(self._out.getbuffer()) + member.flush())


def _target(url: str) -> str:
    """Return the request target (origin form: path and query) of ``url``."""
    rest = url.split("://", 1)[-1]
    slash = rest.find("/")
    return rest[slash:] if slash >= 0 else "/"


def _header(raw_name: bytes, raw_value: bytes) -> tuple[str, str]:
    name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
    lower = name.lower()
    if lower in SECRET_RESPONSE_HEADERS:
        return name, REDACTED
    if lower in UNDONE_HEADERS:
        return ORIGINAL_PREFIX + name, value
    return name, value


def warcinfo_fields(config: CrawlConfig) -> dict[str, str]:
    """Return the ``warcinfo`` fields of a crawl: the crawler, and its options without secrets."""
    options: dict[str, object] = {}
    for option in fields(config):
        value = getattr(config, option.name)
        if option.name in SECRET_OPTIONS or value in (option.default, ()):
            continue
        options[option.name] = _public(option.name, value)
    return {
        "software": f"crawler/{__version__}",
        "format": "WARC File Format 1.1",
        "conformsTo": CONFORMS_TO,
        "http-header-user-agent": config.agent,
        "robots": "obey" if config.obey_robots else "ignore",
        "crawler-options": json.dumps(options, sort_keys=True, default=_listed),
    }


def _public(name: str, value: object) -> object:
    if name == "headers" and isinstance(value, tuple):
        return [f"{k}: {v if k.lower() == 'user-agent' else REDACTED}" for k, v in value]
    if name == "proxy" and isinstance(value, str):
        return redact_url(value)
    return value


def _listed(value: object) -> object:
    return sorted(value) if isinstance(value, frozenset | set) else str(value)
