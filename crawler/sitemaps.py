"""Sitemaps (sitemaps.org): urlsets and sitemap indexes, plain or gzipped. Pure, no I/O.

XML is parsed by lxml with entity expansion and network access turned off (a sitemap is
untrusted input), and a gzipped body is inflated only up to the crawl's ``max_bytes``.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any, Final, Literal

from lxml import etree  # type: ignore[import-untyped]  # lxml ships no type information

__all__ = ["Sitemap", "gunzip_capped", "parse_sitemap"]

GZIP_MAGIC: Final = b"\x1f\x8b"

SitemapKind = Literal["urlset", "index", "unknown"]


@dataclass(frozen=True, slots=True)
class Sitemap:
    """What one sitemap file lists.

    Attributes:
        kind: ``"urlset"`` (pages), ``"index"`` (more sitemaps) or ``"unknown"``.
        locs: The ``<loc>`` URLs, in document order, stripped.
    """

    kind: SitemapKind
    locs: tuple[str, ...]


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
    return Sitemap(_kind(root), locs)


def _kind(root: Any) -> SitemapKind:
    name = etree.QName(root).localname
    if name == "urlset":
        return "urlset"
    return "index" if name == "sitemapindex" else "unknown"


def _parser() -> Any:
    return etree.XMLParser(
        resolve_entities=False, no_network=True, recover=True, huge_tree=False, remove_comments=True
    )
