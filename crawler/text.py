"""A page's visible text: what a reader sees, for search and language-model pipelines.

Scripts, styles, ``<noscript>``, ``<template>`` and comments are left out; runs of
whitespace collapse to one space; block elements (paragraphs, headings, list items, table
rows, ``<br>``, ...) end their line, and empty lines are left out. The text is cut at
``max_bytes`` of UTF-8 (at a character boundary).

Walked on the crawl's own parse, lexbor's or libxml2's (``crawler.parser``), without
recursion: a deeply nested page costs a list, not the Python stack.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from collections.abc import Iterator

    from selectolax.lexbor import LexborHTMLParser

__all__ = ["lexbor_text", "libxml2_text"]

HIDDEN: Final = frozenset({"script", "style", "noscript", "template", "head", "title", "svg"})
BLOCKS: Final = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "br",
        "dd",
        "details",
        "dialog",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "summary",
        "table",
        "tbody",
        "thead",
        "tfoot",
        "tr",
        "td",
        "th",
        "ul",
        "caption",
        "option",
    ]
)
_SPACE: Final = re.compile(r"[ \t\r\f\v\u00a0]+")
_END: Final = object()
"""Marks, on the walk's stack, where a block element ends."""


def lexbor_text(document: LexborHTMLParser, max_bytes: int) -> str:
    """Return the visible text of a page lexbor parsed."""
    root = document.body or document.root
    return _join(_lexbor_pieces(root), max_bytes) if root is not None else ""


def _lexbor_pieces(root: Any) -> Iterator[str]:
    stack: list[Any] = [root]
    while stack:
        node = stack.pop()
        if node is _END:
            yield "\n"
            continue
        tag = node.tag
        if tag == "-text":
            yield node.text_content or ""
        elif tag not in HIDDEN and tag not in ("-comment", "_comment"):
            if tag in BLOCKS:
                yield "\n"
                stack.append(_END)
            stack.extend(reversed(list(node.iter(include_text=True))))


def libxml2_text(root: Any, max_bytes: int) -> str:
    """Return the visible text of a page libxml2 parsed (``root``: its root element)."""
    body = root.find("body")
    return _join(_libxml2_pieces(root if body is None else body), max_bytes)


def _libxml2_pieces(root: Any) -> Iterator[str]:
    stack: list[Any] = [root]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
            continue
        if not isinstance(item.tag, str) or item.tag in HIDDEN:  # a comment or hidden
            if item.tail:
                yield item.tail
            continue
        block = item.tag in BLOCKS
        if block:
            yield "\n"
        if item.text:
            yield item.text
        after = ["\n"] if block else []
        if item.tail and item is not root:
            after.append(item.tail)
        stack.extend(reversed(after))
        stack.extend(reversed(list(item)))


def _join(pieces: Iterator[str], max_bytes: int) -> str:
    lines: list[str] = []
    size = 0
    for raw in "".join(pieces).split("\n"):
        line = _SPACE.sub(" ", raw).strip()
        if not line:
            continue
        lines.append(line)
        size += len(line.encode()) + 1
        if size > max_bytes:
            break
    text = "\n".join(lines).strip()
    encoded = text.encode()
    return text if len(encoded) <= max_bytes else encoded[:max_bytes].decode("utf-8", "ignore")
