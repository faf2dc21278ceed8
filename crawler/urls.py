"""Pure URL functions: validate, canonicalize (the dedup key), host key, fingerprint."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from functools import lru_cache
from typing import Final
from urllib.parse import unquote, urlsplit, urlunsplit

from w3lib.url import canonicalize_url

from crawler.errors import SeedError

HTTP_SCHEMES = frozenset({"http", "https"})
DEFAULT_PORTS = {"http": 80, "https": 443}
# Links repeat across pages (navigation, footers): caching the canonical form makes
# the w3lib call (~20 µs) a dictionary hit for most links. 2**17 keys is a few MB.
_CANONICAL_CACHE_SIZE = 2**17


MAX_SEED_LENGTH: Final = 2048
"""Characters in a seed at most: the default ``max_url_length``, and what browsers and most
servers take; a longer seed is a mistake (a pasted file, a trap), not a page."""

_ASCII_HOST: Final = re.compile(r"[a-z0-9_.-]+|[0-9a-f:.]+")
"""A host name or IPv4 address, or an IPv6 address as ``urlsplit`` gives it (no brackets)."""


def validate_seed(url: str, *, max_length: int = MAX_SEED_LENGTH) -> str:
    """Return ``url`` stripped if it is an absolute http(s) URL with a valid host.

    Raises:
        SeedError: The URL is not absolute, not http(s), longer than ``max_length``, or
            its host is missing or not a host name (``127.0.0.1%00evil``).
    """
    candidate = url.strip()
    if len(candidate) > max_length:
        raise SeedError(url[:80] + "...", f"longer than {max_length} characters")
    try:
        parts = urlsplit(candidate)
        parts.port  # noqa: B018 - raises ValueError on a non-numeric or out-of-range port
    except ValueError as exc:
        raise SeedError(url, str(exc)) from None
    if parts.scheme.lower() not in HTTP_SCHEMES:
        raise SeedError(url, "not an http or https URL")
    if not parts.hostname:
        raise SeedError(url, "no host")
    if not _valid_host(parts.hostname):
        raise SeedError(url, f"invalid host {parts.hostname!r}")
    return candidate


def with_default_scheme(url: str) -> str:
    """Return ``url`` with ``http://`` in front when it has no scheme (``example.com/docs``),
    as wget and curl read a bare host."""
    stripped = url.strip()
    if "://" in stripped or stripped.startswith("//"):
        return url
    host = stripped.split("/", 1)[0]
    if "." not in host and ":" not in host and host.lower() != "localhost":
        return url  # a word, not a host: left to be refused as a seed
    return f"http://{stripped}"


def split_userinfo(url: str) -> tuple[str, tuple[str, str] | None]:
    """Return ``url`` without ``user:password@``, and the credentials it held (or ``None``)."""
    parts = urlsplit(url)
    if parts.username is None:
        return url, None
    netloc = parts.netloc.rpartition("@")[2]
    credentials = (unquote(parts.username), unquote(parts.password or ""))
    return urlunsplit(parts._replace(netloc=netloc)), credentials


def _valid_host(host: str) -> bool:
    if host.isascii():
        return _ASCII_HOST.fullmatch(host) is not None
    try:
        host.encode("idna")
    except UnicodeError:
        return False
    return True


def defragment(url: str) -> str:
    """Return ``url`` without its ``#fragment``."""
    hash_at = url.find("#")
    return url if hash_at < 0 else url[:hash_at]


@lru_cache(maxsize=_CANONICAL_CACHE_SIZE)
def canonicalize(url: str) -> str:
    """Return the dedup key of ``url``.

    Lower-case scheme and host, default port dropped, fragment dropped, dot segments
    resolved, percent-encoding normalised, query parameters sorted. The key is for
    deduplication only: the URL sent on the wire stays as found.

    Raises:
        ValueError: The URL cannot be parsed.
    """
    parts = urlsplit(canonicalize_url(url, keep_fragments=False))
    netloc = parts.netloc.lower()
    port = parts.port
    if port is not None and DEFAULT_PORTS.get(parts.scheme) == port:
        netloc = netloc.rsplit(":", 1)[0]
    return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))


def scheme_of(url: str) -> str:
    """Return the lower-case scheme of ``url`` (``""`` when it has none)."""
    colon = url.find(":")
    return url[:colon].lower() if colon > 0 else ""


def host_of(url: str) -> str:
    """Return the lower-case host name of ``url``, without port (``""`` when none)."""
    return (urlsplit(url).hostname or "").lower()


def origin_of(url: str) -> str:
    """Return ``scheme://host[:port]`` of ``url``: the unit robots.txt and politeness use."""
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def segment_repeats(url: str) -> int:
    """Return how often the most repeated non-empty path segment occurs in ``url``.

    ``/a/b/a/b/a/`` gives 3: a crawler trap (relative links that keep nesting) shows as
    a high count; an ordinary path has 1.
    """
    segments = [s for s in urlsplit(url).path.split("/") if s]
    return max(Counter(segments).values(), default=0)


def fingerprint(key: str) -> int:
    """Return a stable 64-bit fingerprint of a canonical key (compact seen-set entries)."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big")
