"""The fetcher: owns the crawl's one ``ClientSession``; timeouts, retries, redirects, size caps.

``Fetcher.fetch`` never raises for network or HTTP trouble: every outcome is a
``FetchResult`` whose ``error`` is one of ``crawler.models.ErrorKind``. Only misuse
(fetching outside ``async with``, reopening a closed fetcher) raises ``RuntimeError``.

Redirects are followed by hand so that each hop can be checked (scheme, loops, the
``max_redirects`` cap, and the caller's ``follow`` veto). Each hop is retried on its own
after connection errors, timeouts and ``retry_statuses``.

Bodies are read as transferred and decoded here (``crawler.content_coding``), so that each
hop's ``Exchange`` holds the bytes as they came, for an archive (``crawler.warc``). The
body of every answer is read (within ``max_bytes``), errors and redirects included: the
connection is then reused, and an archive has the whole exchange.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import re
import time
import weakref
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias

import aiohttp
from aiohttp.http_exceptions import HttpProcessingError
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from crawler.access import Access, OpenScope
from crawler.content_coding import DecodingError, decoder_for
from crawler.models import NOT_MODIFIED, Exchange, FetchResult
from crawler.netguard import BLOCKED_MARK
from crawler.recrawl import conditional_headers
from crawler.urls import HTTP_SCHEMES

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Collection, Mapping

    from crawler.config import CrawlConfig
    from crawler.models import ErrorKind, Request

__all__ = ["Fetcher", "FollowCheck", "parse_content_type", "parse_retry_after", "retry_delay"]

log = logging.getLogger(__name__)

CHUNK_SIZE: Final = 64 * 1024
"""Bytes per read; memory held for a body stays under ``max_bytes`` plus one chunk."""

ACCEPT_ENCODING: Final = "gzip, deflate, br"
"""Sent explicitly: aiohttp's default also depends on optional zstd support."""

DNS_CACHE_TTL: Final = 300
"""Seconds a resolved host is cached; a crawl hits the same hosts over and over."""

REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
"""The statuses followed (as aiohttp and browsers do): a 304 is an answer, not a redirect."""
_NO_HEADERS: Final[Mapping[str, str]] = CIMultiDictProxy(CIMultiDict())
_TRANSPORT_ERRORS: Final = (aiohttp.ClientError, OSError, TimeoutError)
_BLOCKED: Final = re.compile(rf"([0-9A-Fa-f:.%]+ is [^:]+): {BLOCKED_MARK}")
"""The guard's words in a connection error (one of several, when a host has many addresses)."""

_State = Literal["new", "open", "closed"]

FollowCheck: TypeAlias = "Callable[[str], Awaitable[str | None] | str | None]"
"""Asked with a redirect target: ``None`` to follow it, or the reason not to (sync or async)."""


def retry_delay(
    attempt: int,
    *,
    backoff: float,
    retry_after: float | None,
    cap: float,
    rng: Callable[[], float] = random.random,
) -> float:
    """Return the seconds to wait before retry number ``attempt`` (0 for the first retry).

    "Equal jitter": half of the exponential step ``backoff * 2**attempt`` is kept and
    the other half is random, so a retry never comes back immediately (polite to a
    struggling server) while retries of many URLs still spread out. A server's
    ``Retry-After`` is a lower bound. ``cap`` bounds both the step and ``Retry-After``.

    Args:
        attempt: The retry's index, starting at 0.
        backoff: The base step, in seconds.
        retry_after: The server's ``Retry-After`` in seconds, or ``None``.
        cap: The longest wait, in seconds.
        rng: A source of floats in ``[0, 1)``; injected for exact tests.

    Returns:
        The delay in seconds, between 0 and ``cap``.
    """
    step = min(cap, backoff * 2.0**attempt)
    delay = step / 2 + rng() * step / 2
    if retry_after is not None:
        delay = max(delay, min(retry_after, cap))
    return delay


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Return a ``Retry-After`` header (delta seconds or HTTP-date) as seconds from ``now``.

    Returns:
        Non-negative seconds, or ``None`` when the header is missing or malformed.
    """
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def parse_content_type(value: str | None) -> tuple[str | None, str | None]:
    """Split ``Content-Type`` into the lower-case media type and ``charset`` (or ``None``s)."""
    if not value:
        return None, None
    media, _, params = value.partition(";")
    charset = None
    for param in params.split(";"):
        name, _, raw = param.partition("=")
        if name.strip().lower() == "charset":
            charset = raw.strip().strip("\"'").lower() or None
    return media.strip().lower() or None, charset


@dataclass(frozen=True, slots=True)
class _Outcome:
    """One request's result before redirects are resolved."""

    status: int | None = None
    headers: Mapping[str, str] = field(default_factory=lambda: _NO_HEADERS)
    body: bytes = b""
    error: ErrorKind | None = None
    detail: str | None = None
    retry_after: float | None = None
    exchange: Exchange | None = None

    def failed(self, error: ErrorKind, detail: str) -> _Outcome:
        return replace(self, body=b"", error=error, detail=detail)


class Fetcher:
    """Owns the crawl's single ``aiohttp.ClientSession`` (an async context manager).

    A fetcher is opened once: ``async with Fetcher(config) as fetcher: ...``. Using it
    before opening or after closing raises ``RuntimeError``.

    Args:
        config: Timeouts, retries, caps and the ``User-Agent``.
        sleep: Awaited for back-off delays; tests inject a recorder.
        rng: The jitter source for ``retry_delay``; tests inject a constant.
    """

    def __init__(
        self,
        config: CrawlConfig,
        *,
        access: Access | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._config = config
        self._access = access or Access(config, OpenScope())
        self._sleep = sleep
        self._rng = rng
        self._session: aiohttp.ClientSession | None = None
        self._peers: _Peers | None = None
        self._state: _State = "new"

    async def __aenter__(self) -> Fetcher:
        if self._state != "new":
            raise RuntimeError(f"Fetcher cannot be opened twice (it is {self._state})")
        self._session = self._new_session()
        self._state = "open"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._state = "closed"
        if self._session is not None:
            try:
                self._access.keep_cookies(self._session.cookie_jar)
            finally:
                await self._session.close()
                self._session = None

    def _new_session(self) -> aiohttp.ClientSession:
        config = self._config
        jar = self._access.cookie_jar()
        connector = self._access.connector(limit=config.concurrency, ttl_dns_cache=DNS_CACHE_TTL)
        self._peers = _Peers(connector)
        timeout = aiohttp.ClientTimeout(total=config.timeout, sock_connect=config.connect_timeout)
        headers = {"User-Agent": config.agent, "Accept-Encoding": ACCEPT_ENCODING}
        return aiohttp.ClientSession(
            connector=connector,
            timeout=timeout,
            headers=headers,
            cookie_jar=jar,
            auto_decompress=False,  # bodies as transferred: see ``_read_body``
            trust_env=False,  # the environment's proxies are read by ``Access``, with ALL_PROXY
        )

    def _open_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError(f"Fetcher is {self._state}; use it inside 'async with'")
        return self._session

    async def fetch(
        self,
        request: Request,
        follow: FollowCheck | None = None,
        *,
        defer: Collection[int] = (),
    ) -> FetchResult:
        """Fetch ``request.url``, following redirects by hand; never raise for network trouble.

        Args:
            request: What to fetch.
            follow: Asked (and awaited if async) before each redirect hop with the target
                URL; ``None`` follows, a reason stops there (as ``stopped_redirect``).
            defer: Statuses returned at once instead of retried here, so that the caller
                can wait (e.g. pause the host after a 429) without holding a consumer.

        Returns:
            The result; ``error`` says what went wrong, if anything.

        Raises:
            RuntimeError: The fetcher is not open.
        """
        self._open_session()
        started = time.perf_counter()
        url, chain, exchanges = request.url, list[str](), list[Exchange]()
        validators = conditional_headers(request.previous)  # the first hop only
        while True:
            outcome = await self._fetch_with_retries(url, defer, validators if not chain else {})
            if outcome.exchange is not None:
                exchanges.append(
                    _not_modified(outcome.exchange, request) if not chain else outcome.exchange
                )
            if outcome.error is not None or outcome.status not in REDIRECT_STATUSES:
                return _result(request, url, outcome, chain, exchanges, started=started)
            target, outcome = self._check_redirect(url, outcome, chain)
            if target is None:
                return _result(request, url, outcome, chain, exchanges, started=started)
            reason = await _ask(follow, target)
            if reason is not None:
                log.debug("not following %s -> %s: %s", url, target, reason)
                return _result(
                    request, target, outcome, chain, exchanges, started=started, stopped=reason
                )
            chain.append(url)
            url = target

    def _check_redirect(
        self, url: str, outcome: _Outcome, chain: list[str]
    ) -> tuple[str | None, _Outcome]:
        """Return the hop's target, or ``None`` and the outcome marked with why not."""
        target, problem = _redirect_target(url, outcome.headers.get("Location"))
        if target is None:
            return None, outcome.failed("bad_redirect", problem)
        if target == url or target in chain:
            return None, outcome.failed("too_many_redirects", f"redirect loop back to {target}")
        if len(chain) >= self._config.max_redirects:
            detail = f"more than {self._config.max_redirects} redirects"
            return None, outcome.failed("too_many_redirects", detail)
        return target, outcome

    async def _fetch_with_retries(
        self, url: str, defer: Collection[int], validators: Mapping[str, str]
    ) -> _Outcome:
        config = self._config
        attempt = 0
        while True:
            outcome = await self._fetch_once(url, validators)
            if attempt >= config.retries or not self._retryable(outcome, defer):
                return outcome
            delay = retry_delay(
                attempt,
                backoff=config.backoff,
                retry_after=outcome.retry_after,
                cap=config.max_retry_after,
                rng=self._rng,
            )
            log.debug("retrying %s in %.2fs after %s", url, delay, outcome.detail)
            await self._sleep(delay)
            attempt += 1

    def _retryable(self, outcome: _Outcome, defer: Collection[int]) -> bool:
        if outcome.error in ("timeout", "connection"):
            return True
        return outcome.status in self._config.retry_statuses and outcome.status not in defer

    async def _fetch_once(self, url: str, validators: Mapping[str, str]) -> _Outcome:
        session = self._open_session()
        sent_at = datetime.now(UTC)
        headers = self._access.headers(url)
        if validators:
            headers = {**headers, **validators}
        try:
            async with session.get(
                url,
                allow_redirects=False,
                headers=headers,
                proxy=self._access.proxy(url),
            ) as resp:
                return await self._read_response(resp, sent_at)
        except _TRANSPORT_ERRORS as exc:
            error, detail = self._classify(exc)
            log.debug("fetch %s failed: %s", url, detail)
            return _Outcome(error=error, detail=detail)

    async def _read_response(self, resp: aiohttp.ClientResponse, sent_at: datetime) -> _Outcome:
        ip = self._peers.of(resp) if self._peers is not None else None
        body = await self._read_body(resp)
        outcome = _Outcome(
            status=resp.status,
            headers=resp.headers,
            retry_after=parse_retry_after(resp.headers.get("Retry-After"), datetime.now(UTC)),
            exchange=_exchange(resp, body, ip, sent_at),
        )
        if body.error == "too_large":
            resp.close()  # the rest of the body is never read: the connection cannot be reused
        if resp.status >= 400:
            return outcome.failed("http_status", f"HTTP {resp.status} {resp.reason or ''}".strip())
        if resp.status in REDIRECT_STATUSES:
            return outcome
        if body.error is not None:
            return outcome.failed(body.error, body.detail)
        return replace(outcome, body=body.decoded)

    async def _read_body(self, resp: aiohttp.ClientResponse) -> _Body:
        """Read the body as transferred and decode it; stop once it passes ``max_bytes``."""
        limit = self._config.max_bytes
        coding = resp.headers.get("Content-Encoding")
        decoder = decoder_for(coding)
        if decoder is None and resp.content_length is not None and resp.content_length > limit:
            return _Body.cut(b"", "too_large", f"body over {limit} bytes")
        raw, decoded, size = list[bytes](), list[bytes](), 0
        try:
            async for chunk in resp.content.iter_chunked(CHUNK_SIZE):
                raw.append(chunk)
                part = decoder.feed(chunk, limit - size) if decoder is not None else chunk
                decoded.append(part)
                size += len(part)
                if size > limit:
                    return _Body.cut(self._kept(raw), "too_large", f"body over {limit} bytes")
            if decoder is not None:
                decoded.append(decoder.flush())
        except DecodingError as exc:
            return _Body(self._kept(raw), b"", error="invalid_content", detail=str(exc))
        except _TRANSPORT_ERRORS as exc:
            return _Body.cut(self._kept(raw), *self._classify(exc))
        whole = b"".join(decoded)
        if len(whole) > limit:
            return _Body.cut(self._kept(raw), "too_large", f"body over {limit} bytes")
        return _Body(self._kept(raw) if decoder is not None else whole, whole)

    def _kept(self, raw: list[bytes]) -> bytes:
        """Return the body as transferred (compressed, or cut short), for the archive;
        nothing without one: a second copy of every body is work a crawl need not do."""
        return b"".join(raw) if self._config.warc is not None else b""

    def _classify(self, exc: BaseException) -> tuple[ErrorKind, str]:
        """Map an exception from a request to an error class and a short detail."""
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            return "timeout", f"connect timed out after {self._config.connect_timeout:g}s"
        if isinstance(exc, TimeoutError):
            return "timeout", f"timed out after {self._config.timeout:g}s"
        if isinstance(exc, aiohttp.ClientConnectorCertificateError):
            return "tls", _certificate_problem(exc)
        if isinstance(exc, aiohttp.ClientConnectorSSLError | aiohttp.ClientSSLError):
            return "tls", f"TLS handshake failed: {exc.__cause__ or exc}"
        blocked = _BLOCKED.search(f"{exc.__cause__} {exc}")
        if blocked is not None:
            return "blocked_address", blocked[1]
        cause = exc.__cause__
        if isinstance(cause, HttpProcessingError):
            return "connection", cause.message.strip()
        return "connection", f"{type(exc).__name__}: {exc}"


@dataclass(frozen=True, slots=True)
class _Body:
    """A body read: as transferred (``raw``) and decoded, or why it is not whole."""

    raw: bytes
    decoded: bytes
    truncated: bool = False
    error: ErrorKind | None = None
    detail: str = ""

    @classmethod
    def cut(cls, raw: bytes, error: ErrorKind, detail: str) -> _Body:
        return cls(raw, b"", truncated=True, error=error, detail=detail)


class _Peers:
    """The address each connection was made to, for ``WARC-IP-Address``.

    aiohttp has no public accessor for it: a response's connection is already released
    (and closed, for a ``Connection: close`` server) when the whole body came with the
    headers. So the connector's connection factory is wrapped to note each new
    connection's peer, by its protocol, which the response keeps (``_protocol``).
    """

    def __init__(self, connector: aiohttp.BaseConnector) -> None:
        self._by_protocol: weakref.WeakKeyDictionary[object, str] = weakref.WeakKeyDictionary()
        create = connector._create_connection

        async def create_and_note(*args: Any, **kwargs: Any) -> Any:
            protocol = await create(*args, **kwargs)
            transport = protocol.transport
            peer = transport.get_extra_info("peername") if transport is not None else None
            if isinstance(peer, tuple) and peer:
                self._by_protocol[protocol] = str(peer[0])
            return protocol

        connector._create_connection = create_and_note  # type: ignore[method-assign]

    def of(self, resp: aiohttp.ClientResponse) -> str | None:
        """Return the address ``resp`` came from, when known."""
        protocol = getattr(resp, "_protocol", None)
        return self._by_protocol.get(protocol) if protocol is not None else None


def _exchange(
    resp: aiohttp.ClientResponse, body: _Body, ip: str | None, sent: datetime
) -> Exchange:
    info = resp.request_info
    return Exchange(
        url=str(info.url),
        method=info.method,
        request_headers=info.headers,
        version=f"{resp.version.major}.{resp.version.minor}" if resp.version else "1.1",
        status=resp.status,
        reason=resp.reason or "",
        response_headers=resp.raw_headers,
        body=body.raw,
        truncated=body.truncated,
        ip=ip,
        date=sent,
    )


def _not_modified(exchange: Exchange, request: Request) -> Exchange:
    """Mark a 304 to a conditional request with when its page was fetched before."""
    previous = request.previous
    if exchange.status != NOT_MODIFIED or previous is None or previous.fetched_at is None:
        return exchange
    return replace(exchange, not_modified_since=previous.fetched_at)


def _certificate_problem(exc: aiohttp.ClientConnectorCertificateError) -> str:
    """Say why a certificate was refused: expired, self-signed, for another host, ..."""
    error = exc.certificate_error
    reason = getattr(error, "verify_message", None) or getattr(error, "reason", None) or error
    return f"certificate verify failed: {reason} ({exc.host}:{exc.port})"


async def _ask(follow: FollowCheck | None, target: str) -> str | None:
    if follow is None:
        return None
    answer = follow(target)
    if answer is None or isinstance(answer, str):
        return answer
    return await answer


def _redirect_target(url: str, location: str | None) -> tuple[str | None, str]:
    """Resolve ``Location`` against ``url``: the target, or ``None`` and the problem."""
    if not location:
        return None, "redirect without Location"
    try:
        target = URL(url).join(URL(location.strip()))
    except ValueError:
        return None, f"invalid redirect Location {location!r}"
    if target.scheme not in HTTP_SCHEMES:
        return None, f"redirect to non-http URL {location!r}"
    return str(target.with_fragment(None)), ""


def _result(
    request: Request,
    final_url: str,
    outcome: _Outcome,
    chain: list[str],
    exchanges: list[Exchange],
    *,
    started: float,
    stopped: str | None = None,
) -> FetchResult:
    content_type, charset = parse_content_type(outcome.headers.get("Content-Type"))
    log.debug("fetched %s: status %s, error %s", final_url, outcome.status, outcome.error)
    return FetchResult(
        request=request,
        final_url=final_url,
        status=outcome.status,
        headers=outcome.headers,
        content_type=content_type,
        charset=charset,
        body=outcome.body,
        elapsed=time.perf_counter() - started,
        fetched_at=datetime.now(UTC),
        error=outcome.error,
        error_detail=outcome.detail,
        redirects=tuple(chain),
        stopped_redirect=stopped,
        exchanges=tuple(exchanges),
    )
