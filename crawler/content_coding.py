"""Content codings: undo ``Content-Encoding`` (gzip, deflate, br) while a body is read.

The fetcher reads bodies as they were transferred, so that an archive keeps them exactly
(``crawler.warc``), and decodes them here, chunk by chunk, with a cap on the decoded size:
a small compressed body that would expand past the cap stops there (a zip bomb costs one
chunk's worth of output, never the whole). A coding this module does not know (``zstd``,
which is never asked for) is left as it is, as aiohttp does.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING, Final, Protocol

import brotli  # type: ignore[import-untyped]  # Brotli ships no type information

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["BodyDecoder", "DecodingError", "decoder_for"]


class DecodingError(ValueError):
    """The body is not valid in its ``Content-Encoding``."""


class _Step(Protocol):
    def feed(self, data: bytes, limit: int) -> bytes: ...

    def flush(self) -> bytes: ...


class _Zlib:
    """gzip (``wbits`` 31) or deflate: zlib-wrapped as the RFC says, or raw as some send."""

    def __init__(self, gzip: bool) -> None:
        self._gzip = gzip
        self._decoder = zlib.decompressobj(zlib.MAX_WBITS | 16 if gzip else zlib.MAX_WBITS)
        self._started = False

    def feed(self, data: bytes, limit: int) -> bytes:
        if not self._started and not self._gzip and data and (data[0] & 0x0F) != zlib.DEFLATED:
            self._decoder = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate, no header
        self._started = True
        try:
            return self._decoder.decompress(self._decoder.unconsumed_tail + data, limit)
        except zlib.error as exc:
            raise DecodingError(f"cannot decode Content-Encoding {self._name}: {exc}") from None

    def flush(self) -> bytes:
        try:
            return self._decoder.flush()
        except zlib.error as exc:
            raise DecodingError(f"cannot decode Content-Encoding {self._name}: {exc}") from None

    @property
    def _name(self) -> str:
        return "gzip" if self._gzip else "deflate"


class _Brotli:
    def __init__(self) -> None:
        self._decoder = brotli.Decompressor()

    def feed(self, data: bytes, limit: int) -> bytes:
        try:
            return bytes(self._decoder.process(data))
        except brotli.error as exc:
            raise DecodingError(f"cannot decode Content-Encoding br: {exc}") from None

    def flush(self) -> bytes:
        return b""


KNOWN: Final = ("gzip", "x-gzip", "deflate", "br")
UNLIMITED: Final = 1 << 62
"""A decoded-size limit that never binds (what is left at the end of a body is small)."""


def _step(coding: str) -> _Step:
    if coding == "br":
        return _Brotli()
    return _Zlib(gzip=coding != "deflate")


class BodyDecoder:
    """Decodes one body: its codings undone in reverse order of application."""

    def __init__(self, codings: Sequence[str]) -> None:
        self._steps = [_step(c) for c in reversed(codings)]

    def feed(self, data: bytes, limit: int) -> bytes:
        """Return what ``data`` decodes to, at most about ``limit`` bytes more than asked.

        Raises:
            DecodingError: The body is not valid in its coding.
        """
        for step in self._steps:
            data = step.feed(data, limit + 1)
        return data

    def flush(self) -> bytes:
        """Return what is left once the whole body was fed.

        Raises:
            DecodingError: The body ended in the middle of its coding.
        """
        data = b""
        for step in self._steps:
            data = (step.feed(data, UNLIMITED) if data else b"") + step.flush()
        return data


def decoder_for(content_encoding: str | None) -> BodyDecoder | None:
    """Return the decoder of a ``Content-Encoding`` value, ``None`` when nothing to undo."""
    if not content_encoding:
        return None
    codings = [c.strip().lower() for c in content_encoding.split(",")]
    codings = [c for c in codings if c and c != "identity"]
    if not codings or any(c not in KNOWN for c in codings):
        return None
    return BodyDecoder(codings)
