"""Tests of crawler.content_coding: each coding undone, chunk by chunk, within a cap."""

from __future__ import annotations

import gzip
import zlib

import brotli
import pytest

from crawler.content_coding import DecodingError, decoder_for

TEXT = b"<p>hello</p>" * 2000


def _decode(coding: str, body: bytes, *, chunk: int = 1000, limit: int = 1 << 30) -> bytes:
    decoder = decoder_for(coding)
    assert decoder is not None
    parts = [decoder.feed(body[i : i + chunk], limit) for i in range(0, len(body), chunk)]
    return b"".join(parts) + decoder.flush()


@pytest.mark.parametrize(
    ("coding", "body"),
    [
        ("gzip", gzip.compress(TEXT)),
        ("x-gzip", gzip.compress(TEXT)),
        ("deflate", zlib.compress(TEXT)),
        ("deflate", zlib.compress(TEXT)[2:-4]),  # raw deflate, as some servers send it
        ("br", brotli.compress(TEXT)),
        ("GZIP", gzip.compress(TEXT)),
        ("gzip, br", brotli.compress(gzip.compress(TEXT))),
        ("identity, gzip", gzip.compress(TEXT)),
    ],
)
def test_each_coding_is_undone(coding: str, body: bytes) -> None:
    assert _decode(coding, body) == TEXT


@pytest.mark.parametrize("coding", [None, "", "identity", "zstd", "gzip, zstd"])
def test_nothing_to_undo_or_an_unknown_coding_is_left_as_it_is(coding: str | None) -> None:
    assert decoder_for(coding) is None


def test_a_small_body_that_expands_past_the_limit_stops_near_it() -> None:
    bomb = gzip.compress(b"\0" * (20 << 20))
    decoder = decoder_for("gzip")
    assert decoder is not None
    out = decoder.feed(bomb, 1000)
    assert len(out) == 1001  # one byte over says "too large" without inflating the rest


@pytest.mark.parametrize(
    ("coding", "body", "message"),
    [
        ("gzip", b"not gzip", r"^cannot decode Content-Encoding gzip: .*incorrect header check$"),
        ("br", b"not brotli at all", r"^cannot decode Content-Encoding br: "),
    ],
)
def test_a_body_not_in_its_coding_is_an_error(coding: str, body: bytes, message: str) -> None:
    with pytest.raises(DecodingError, match=message):
        _decode(coding, body)
