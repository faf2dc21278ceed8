"""Turn an HTML body into its title and outgoing links: pure, synchronous, no I/O.

The encoding is decided by ``crawler.encoding`` (a BOM, the header, ``<meta>``, UTF-8,
then detection).

The decoded body is parsed by lexbor (selectolax), an HTML5 parser: the tree is the one a
browser builds, so tag soup browsers handle (a link after ``</html>``, hundreds of unclosed
``<div>``) gives the links a browser shows. The content of ``<template>`` elements is searched
for links too, as it was with libxml2, though a browser only shows it once a script does; a
``<base>``, ``<title>`` or robots meta there is inert, as in a browser.
An HTML5 tree builder is superlinear on hostile nesting, so a body with more than
``HTML5_MAX_TAGS`` tags goes to libxml2 (lxml) instead, which is linear but drops what follows
``</html>`` or nests deeper than 255 elements. No BeautifulSoup tree is built either way.

Links are resolved against the first ``<base href>`` (itself resolved against the page URL)
and kept only when http(s). Fragments are removed, so a fragment-only ``href="#top"`` yields
the page (or base) URL itself; it is kept, as a browser would follow it, and the frontier
drops it as seen. Links are deduplicated within the page, first occurrence first.
"""

from __future__ import annotations

import codecs
import operator
import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urljoin, urlsplit

from lxml import etree  # type: ignore[import-untyped]  # lxml ships no type information
from selectolax.lexbor import LexborHTMLParser, LexborNode, SelectolaxError

from crawler.encoding import FALLBACK_ENCODING, PRESCAN_BYTES, detect_encoding
from crawler.models import ParsedHtml
from crawler.text import lexbor_text, libxml2_text

if TYPE_CHECKING:
    from crawler.extract import Extraction

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping

__all__ = [
    "FALLBACK_ENCODING",
    "HTML5_MAX_TAGS",
    "PRESCAN_BYTES",
    "detect_encoding",
    "is_html",
    "parse_html",
]

HTML_MEDIA_TYPES = frozenset({"text/html", "application/xhtml+xml"})
"""The media types worth parsing for links."""

HTML5_MAX_TAGS = 2_000
"""Bodies with more ``<`` than this are parsed by libxml2 rather than lexbor. Nothing caps an
HTML5 tree builder's stack of open elements or list of active formatting elements, so crafted
nesting costs it quadratic or worse time and memory: 4,000 ``<`` can take lexbor 1.4 s or
640 MiB. Up to 2,000 its worst case measured here is 0.25 s and 160 MiB, twice the time and
3.5 times the memory libxml2 spends on a body of ``CrawlConfig.max_bytes`` (10 MiB: 0.13 s,
45 MiB); a 15 KB page has ~210 (``python benchmarks/parse.py --hostile``)."""

_UTF8 = frozenset({"utf-8", "utf-8-sig"})
"""Encodings whose bodies are parsed as bytes: lexbor and libxml2 decode UTF-8 themselves,
replacing invalid bytes as Python does. Other bodies are decoded by Python, as ``Page.text``
is (libxml2's own decoders stop at the first invalid byte, losing the rest of the page)."""


_PARSER_OPTIONS: dict[str, bool] = {
    "recover": True,  # malformed markup is the norm on the web
    "no_network": True,
    "remove_comments": True,  # fewer nodes to build and walk
    "remove_pis": True,
    "collect_ids": False,  # we never look elements up by id
    "default_doctype": False,
}

_C0_CONTROL_OR_SPACE = "".join(map(chr, range(0x21)))  # what WHATWG strips around a URL
_TAB_OR_NEWLINE = str.maketrans("", "", "\t\n\r")  # what WHATWG removes inside a URL
_FOLLOWED_SCHEMES = frozenset({"http", "https"})
_SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*:")
_ROBOTS_NOFOLLOW = frozenset({"nofollow", "none"})  # "none" means noindex, nofollow

_local = threading.local()


def is_html(content_type: str | None) -> bool:
    """Tell whether a ``Content-Type`` (with or without parameters) is HTML."""
    if not content_type:
        return False
    return content_type.partition(";")[0].strip().lower() in HTML_MEDIA_TYPES


def parse_html(
    body: bytes,
    url: str,
    *,
    charset: str | None = None,
    extraction: Extraction | None = None,
    text_bytes: int | None = None,
) -> ParsedHtml:
    """Extract the title, links and robots hints of an HTML body; never raise.

    Args:
        body: The raw body (empty or garbage gives an empty result).
        url: The final URL of the page, the base for relative links.
        charset: The ``charset`` parameter of ``Content-Type``, or ``None``.
        extraction: The user's fields to evaluate on the same parse (``crawler.extract``).
        text_bytes: Also give the visible text, cut at this many bytes (``crawler.text``).

    Returns:
        The parsed page; see ``ParsedHtml``.
    """
    encoding = detect_encoding(body, charset)
    markup = _markup(body, encoding)
    many_tags = _tag_count(markup) > HTML5_MAX_TAGS
    tree = _libxml2_tree(markup) if many_tags else _lexbor_tree(markup)
    if tree is None:
        fields = extraction.empty() if extraction else {}
        return ParsedHtml(title=None, links=(), encoding=encoding, fields=fields)
    base, title, nofollow, canonical = _scan_head(tree, url)
    links, nofollow_links = _links(tree, base)
    fields = {}
    lexbor, libxml2 = (None, tree.root) if many_tags else (tree.root, None)
    if extraction is not None:
        fields = extraction.evaluate(markup, lexbor, libxml2, _libxml2_root)
    text = None
    if text_bytes is not None:
        text = lexbor_text(lexbor, text_bytes) if lexbor else libxml2_text(libxml2, text_bytes)
    return ParsedHtml(title, links, encoding, nofollow, nofollow_links, fields, text, canonical)


def _markup(body: bytes, encoding: str) -> bytes | str:
    """Return the body as the parsers take it: UTF-8 bytes without a BOM, or decoded text."""
    if encoding not in _UTF8:
        return body.decode(encoding, "replace")
    return body[len(codecs.BOM_UTF8) :] if body.startswith(codecs.BOM_UTF8) else body


def _tag_count(markup: bytes | str) -> int:
    """Return an upper bound on the tags in the markup: its count of ``<``."""
    return markup.count(b"<") if isinstance(markup, bytes) else markup.count("<")


@dataclass(frozen=True, slots=True)
class _Tree:
    """The elements a parsed body offers, whichever parser built it.

    ``head`` holds the ``base``, ``title`` and ``meta`` elements and ``anchors`` the ``a`` and
    ``area`` elements, each in document order; ``attributes`` and ``text`` read an element.
    """

    head: Iterable[Any]
    anchors: Iterable[Any]
    attributes: Callable[[Any], Mapping[str, str | None]]
    text: Callable[[Any], str]
    root: Any
    """The parser's own document (lexbor's) or root element (libxml2's)."""


def _lexbor_tree(markup: bytes | str) -> _Tree | None:
    """Parse with lexbor; ``None`` if it fails."""
    try:
        document = LexborHTMLParser(markup)
    except SelectolaxError:  # lexbor could not allocate its tree
        return None
    head = document.css("base, title, meta, link")
    return _Tree(head, _lexbor_anchors(document), _LEXBOR_ATTRIBUTES, LexborNode.text, document)


def _lexbor_anchors(document: LexborHTMLParser) -> Iterable[LexborNode]:
    """Return the ``a`` and ``area`` elements, those inside ``<template>`` included."""
    if not document.tags("template"):  # the common case: one search, no generator
        return document.css("a, area")
    return _anchors_with_templates(document)


def _anchors_with_templates(root: LexborHTMLParser | LexborNode) -> Iterator[LexborNode]:
    for node in root.css("a, area, template"):
        if node.tag == "template":  # its content is a fragment outside the document tree
            for fragment in node.template_fragments():
                yield from _anchors_with_templates(fragment)
        else:
            yield node


_LEXBOR_ATTRIBUTES = operator.attrgetter("attributes")


def _libxml2_tree(markup: bytes | str) -> _Tree | None:
    """Parse with libxml2; ``None`` if it fails or finds nothing."""
    root = _libxml2_root(markup)
    if root is None:
        return None
    head = root.iter("base", "title", "meta", "link")
    return _Tree(head, root.iter("a", "area"), _LIBXML2_ATTRIBUTES, _libxml2_text, root)


def _libxml2_root(markup: bytes | str) -> Any | None:
    """Return libxml2's root element of the markup; ``None`` if it fails or finds nothing."""
    body = markup.encode() if isinstance(markup, str) else markup
    try:
        return etree.fromstring(body, _libxml2_parser())  # None for an empty or blank body
    except etree.LxmlError:
        return None


def _libxml2_parser() -> Any:
    """Return this thread's HTML parser (lxml parsers must not be shared between threads)."""
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = etree.HTMLParser(encoding="utf-8", **_PARSER_OPTIONS)
    return parser


_LIBXML2_ATTRIBUTES = operator.attrgetter("attrib")


def _libxml2_text(element: Any) -> str:
    return "".join(element.itertext())


def _scan_head(tree: _Tree, url: str) -> tuple[str, str | None, bool, str | None]:
    """Return the base URL, the title, the robots ``nofollow`` flag and the canonical URL."""
    base: str | None = None
    title: str | None = None
    canonical: str | None = None
    seen_title = nofollow = False
    for element in tree.head:
        tag = element.tag
        if tag == "base" and base is None:
            base = _Resolver(url)(tree.attributes(element).get("href"))
        elif tag == "title" and not seen_title:
            seen_title = True
            title = " ".join(tree.text(element).split()) or None
        elif tag == "meta":
            nofollow = nofollow or _robots_nofollow(tree.attributes(element))
        elif tag == "link" and canonical is None:
            canonical = _canonical_href(tree.attributes(element))
    resolved = _Resolver(base or url)(canonical) if canonical is not None else None
    return base or url, title, nofollow, resolved


def header_canonical(link: str | None, url: str) -> str | None:
    """Return the canonical URL of a ``Link`` header (``<URL>; rel="canonical"``), resolved
    against ``url``; ``None`` when it names none."""
    for part in _LINK_SPLIT.split(link or ""):
        match = _LINK_VALUE.match(part)
        if match is None:
            continue
        rels = _LINK_REL.search(match[2])
        if rels is not None and "canonical" in rels[1].lower().split():
            return _Resolver(url)(match[1])
    return None


_LINK_SPLIT: Final = re.compile(r",\s*(?=<)")
_LINK_VALUE: Final = re.compile(r"\s*<([^>]*)>(.*)", re.DOTALL)
_LINK_REL: Final = re.compile(r';\s*rel\s*=\s*"?([^";]*)"?', re.IGNORECASE)


def _canonical_href(link: Mapping[str, str | None]) -> str | None:
    """Return the ``href`` of a ``<link rel="canonical">``, ``None`` for another link."""
    if "canonical" not in (link.get("rel") or "").lower().split():
        return None
    return link.get("href") or None


def _robots_nofollow(meta: Mapping[str, str | None]) -> bool:
    if (meta.get("name") or "").strip().lower() != "robots":
        return False
    directives = (meta.get("content") or "").lower().split(",")
    return any(directive.strip() in _ROBOTS_NOFOLLOW for directive in directives)


def _links(tree: _Tree, base: str) -> tuple[tuple[str, ...], frozenset[str]]:
    """Return the page's links, and those that only ``rel="nofollow"`` anchors point to."""
    links: dict[str, None] = {}  # an ordered set
    followed: set[str] = set()
    unfollowed: set[str] = set()
    resolve = _Resolver(base)
    for element in tree.anchors:
        attributes = tree.attributes(element)
        link = resolve(attributes.get("href"))
        if link is not None:
            links[link] = None
            rel = attributes.get("rel") or ""
            (unfollowed if "nofollow" in rel.lower().split() else followed).add(link)
    return tuple(links), frozenset(unfollowed - followed)


def remove_dot_segments(path: str) -> str:
    """Resolve ``.`` and ``..`` in an absolute path (RFC 3986, section 5.2.4)."""
    output: list[str] = []
    segments = path.split("/")[1:]
    for segment in segments:
        if segment == "..":
            if output:
                output.pop()
        elif segment != ".":
            output.append(segment)
    if segments and segments[-1] in (".", ".."):
        output.append("")  # "/a/b/.." is the directory "/a/", not the file "/a"
    return "/" + "/".join(output)


class _Resolver:
    """Resolve hrefs against one base URL: the common shapes by concatenation, the rest
    (dot segments, ``http:path``, IPv6 hosts) by ``urljoin``, which is ten times slower."""

    __slots__ = ("_base", "_directory", "_document", "_origin", "_path", "_scheme")

    def __init__(self, base: str) -> None:
        parts = urlsplit(base)
        path = parts.path or "/"
        self._base = base
        self._scheme = parts.scheme
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self._document = self._origin + path + (f"?{parts.query}" if parts.query else "")
        self._path = path[: path.rfind("/") + 1]
        self._directory = self._origin + self._path

    def __call__(self, href: str | None) -> str | None:
        """Return ``href`` as an absolute http(s) URL without fragment, or ``None``."""
        href = href.strip(_C0_CONTROL_OR_SPACE) if href else None
        if not href:
            return None
        if "\n" in href or "\t" in href or "\r" in href:  # rare: skip translate's cost
            href = href.translate(_TAB_OR_NEWLINE)
        try:
            absolute = self._join(href)
        except ValueError:  # urljoin on an unbalanced IPv6 bracket: not a URL
            return None
        scheme, _, rest = absolute.partition(":")
        scheme = scheme.lower()
        if scheme not in _FOLLOWED_SCHEMES or not rest.startswith("//") or len(rest) == 2:
            return None
        return f"{scheme}:{rest.partition('#')[0]}"

    def _join_dotted(self, href: str) -> str:
        """Resolve a relative or absolute-path href with dot segments, as urljoin would."""
        if href[0] in "?#" or href.startswith("//") or _SCHEME.match(href):
            return urljoin(self._base, href)
        end = min((i for i in (href.find("?"), href.find("#")) if i >= 0), default=len(href))
        path = href[:end] if href[0] == "/" else self._path + href[:end]
        return self._origin + remove_dot_segments(path) + href[end:]

    def _join(self, href: str) -> str:
        if "[" in href or "]" in href:
            return urljoin(self._base, href)
        if "./" in href or href.endswith("."):
            return self._join_dotted(href)
        if href.startswith("//"):
            return f"{self._scheme}:{href}"
        first = href[0]
        if first == "/":
            return self._origin + href
        if first == "?":
            return self._document.partition("?")[0] + href
        if first == "#":
            return self._document
        scheme = _SCHEME.match(href)
        if scheme is None:
            return self._directory + href
        return href if href.startswith("//", scheme.end()) else urljoin(self._base, href)
