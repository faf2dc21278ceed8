"""The encoding of an HTML body, decided once, in the HTML standard's order (detection last):

1. a byte order mark (it wins even over the header, as in every browser);
2. a valid ``charset`` from the ``Content-Type`` header;
3. ``<meta charset>`` or ``<meta http-equiv="Content-Type">`` in the first ``PRESCAN_BYTES``;
4. UTF-8, when the body is valid UTF-8 or mostly so;
5. detection by ``bs4.dammit.EncodingDetector``, then ``FALLBACK_ENCODING``.

Unknown or non-text codec names fall through to the next step, and legacy labels are widened
to the superset browsers decode them with (``iso-8859-1`` → ``cp1252``, ``shift_jis`` →
``cp932``...).
"""

from __future__ import annotations

import codecs
import re

from bs4.dammit import EncodingDetector

__all__ = ["FALLBACK_ENCODING", "PRESCAN_BYTES", "detect_encoding"]

PRESCAN_BYTES = 2048
"""How far into the body to look for a ``<meta>`` charset. The HTML standard scans 1024
bytes; twice that also finds metas placed after a long title or a few scripts."""

FALLBACK_ENCODING = "cp1252"
"""What browsers in Western locales assume when nothing else decides."""

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
"""Byte order marks; the codecs named also drop the mark from ``Page.text``."""

_BROWSER_SUPERSETS = {
    "ascii": "cp1252",
    "iso8859-1": "cp1252",
    "iso8859-9": "cp1254",
    "iso8859-11": "cp874",
    "tis-620": "cp874",
    "shift_jis": "cp932",
    "euc_kr": "cp949",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "big5": "big5hkscs",
}
"""Python codec name → the superset browsers decode that label with (WHATWG Encoding
Standard); pages labelled with the former routinely contain characters of the latter."""

_NOT_WEB_ENCODINGS = frozenset(
    # Python text codecs that no browser decodes a page with (UTF-7 for XSS reasons).
    {"idna", "punycode", "raw-unicode-escape", "unicode-escape", "utf-7"}
)

_META_CHARSET = re.compile(rb"""<meta\s[^>]*?charset\s*=\s*["']?\s*([-\w.:]+)""", re.IGNORECASE)


def detect_encoding(body: bytes, charset: str | None) -> str:
    """Decide the encoding of an HTML body.

    Args:
        body: The raw body.
        charset: The ``charset`` parameter of ``Content-Type``, or ``None``.

    Returns:
        A Python codec name that decodes ``body``.
    """
    return (
        _bom_encoding(body)
        or _codec(charset)
        or _meta_encoding(body)
        or _utf8_encoding(body)
        or _detected_encoding(body)
    )


def _codec(label: str | bytes | None) -> str | None:
    """Return the browser-widened Python codec for a label, ``None`` if unknown."""
    if not label:
        return None
    if isinstance(label, bytes):
        label = label.decode("ascii", "replace")
    try:
        name = codecs.lookup(label.strip().strip("\"'")).name
        b"  ".decode(name, "replace")  # refuses non-text codecs (base64) and "undefined"
    except (LookupError, ValueError):  # UnicodeError is a ValueError
        return None
    return None if name in _NOT_WEB_ENCODINGS else _BROWSER_SUPERSETS.get(name, name)


def _bom_encoding(body: bytes) -> str | None:
    for bom, encoding in _BOMS:
        if body.startswith(bom):
            return encoding
    return None


def _meta_encoding(body: bytes) -> str | None:
    match = _META_CHARSET.search(body, 0, PRESCAN_BYTES)
    encoding = _codec(match[1]) if match else None
    if encoding and encoding.startswith(("utf-16", "utf-32")):
        return "utf-8"  # an ASCII-readable meta cannot be UTF-16: the standard says UTF-8
    return encoding


def _utf8_encoding(body: bytes) -> str | None:
    """Return ``"utf-8"`` if the body is UTF-8, allowing a few stray bytes."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as error:
        truncated = error.end == len(body) and error.reason == "unexpected end of data"
        return "utf-8" if truncated or _mostly_utf8(body) else None
    return "utf-8"


def _mostly_utf8(body: bytes) -> bool:
    """Tell whether well-formed multibyte characters outnumber invalid bytes."""
    text = body.decode("utf-8", "replace")
    invalid = text.count("\ufffd")
    non_ascii = len(text) - len(text.encode("ascii", "ignore"))
    return non_ascii - invalid > invalid


def _detected_encoding(body: bytes) -> str:
    for candidate in EncodingDetector(body, is_html=True, exclude_encodings=["utf-8"]).encodings:
        encoding = _codec(candidate)
        if encoding and _decodes(body, encoding):
            return encoding
    return FALLBACK_ENCODING


def _decodes(body: bytes, encoding: str) -> bool:
    try:
        body.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True
