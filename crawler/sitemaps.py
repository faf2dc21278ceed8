"""Sitemaps (sitemaps.org): urlsets and sitemap indexes, plain or gzipped. Pure, no I/O.

XML is parsed by lxml with entity expansion and network access turned off (a sitemap is
untrusted input), and a gzipped body is inflated only up to the crawl's ``max_bytes``.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Literal

from lxml import etree  # type: ignore[import-untyped]  # lxml ships no type information

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["Sitemap", "gunzip_capped", "parse_lastmod", "parse_sitemap"]

GZIP_MAGIC: Final = b"\x1f\x8b"

SitemapKind = Literal["urlset", "index", "unknown"]


@dataclass(frozen=True, slots=True)
class Sitemap:
    """What one sitemap file lists.

    Attributes:
        kind: ``"urlset"`` (pages), ``"index"`` (more sitemaps) or ``"unknown"``.
        locs: The ``<loc>`` URLs, in document order, stripped.
        lastmods: The ``<lastmod>`` of each ``<loc>`` that has a valid one (UTC; a date
            alone is its midnight, a time without a zone is UTC).
    """

    kind: SitemapKind
    locs: tuple[str, ...]
    lastmods: Mapping[str, datetime] = field(default_factory=dict)


def gunzip_capped(body: bytes, max_bytes: int) -> bytes | None:
    """Inflate a gzip ``body``; ``None`` if it is not gzip, broken, or over ``max_bytes``."""
    inflater = zlib.decompressobj(wbits=31)
    try:
        data = inflater.decompress(body, max_bytes + 1)
    except zlib.error:
        return None
    return data if len(data) <= max_bytes else None


def parse_sitemap(body: bytes, max_bytes: int) -> Sitemap:
    """Return the kind and the ``<loc>`` URLs of a sitemap (gzipped or not)."""
    if body.startswith(GZIP_MAGIC):
        inflated = gunzip_capped(body, max_bytes)
        if inflated is None:
            return Sitemap("unknown", ())
        body = inflated
    try:
        root = etree.fromstring(body, _parser())
    except etree.XMLSyntaxError:
        return Sitemap("unknown", ())
    if root is None:
        return Sitemap("unknown", ())
    locs = tuple(text for el in root.iter("{*}loc") if (text := (el.text or "").strip()))
    return Sitemap(_kind(root), locs, _lastmods(root))


def _lastmods(root: Any) -> dict[str, datetime]:
    found: dict[str, datetime] = {}
    for entry in root.iter("{*}url"):
        loc, lastmod = entry.find("{*}loc"), entry.find("{*}lastmod")
        if loc is None or lastmod is None or not (loc.text or "").strip():
            continue
        when = parse_lastmod(lastmod.text or "")
        if when is not None:
            found[loc.text.strip()] = when
    return found


def parse_lastmod(text: str) -> datetime | None:
    """Return a W3C datetime (``2026-12-01``, ``2026-12-01T10:00:00+01:00``) in UTC, or
    ``None`` when it is not one."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _kind(root: Any) -> SitemapKind:
    name = etree.QName(root).localname
    if name == "urlset":
        return "urlset"
    return "index" if name == "sitemapindex" else "unknown"


def _parser() -> Any:
    return etree.XMLParser(
        resolve_entities=False, no_network=True, recover=True, huge_tree=False, remove_comments=True
    )
