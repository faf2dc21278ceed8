"""A page's simhash: 64 bits that near-duplicate pages share all but a few of (Charikar).

The tokenizer: the page's visible text (``crawler.text``), lower-cased and split on white
space into words. The features are the distinct pairs of adjacent words, so that word order
counts and a changed date or counter changes a few features of hundreds (the distinct words
alone made the benchmark's generated pages, one small vocabulary, near duplicates of each
other). Each word is hashed to 64 bits with BLAKE2b (stable across runs and machines,
unlike ``hash()``); a pair's is its first word's XOR its second's rotated, so that each
word is hashed once and each pair costs one XOR. Of a long page only the ``SAMPLE``
features with the smallest hashes count (a bottom-k sample: two pages that share most
features share most of their samples), which bounds the cost. Bit *i* of the simhash is
set when more than half of the features counted have it set. Two pages whose simhashes
differ in at most ``NEAR_BITS`` bits are near duplicates (print versions, session-id
variants, tag pages of the same posts).

The bits are counted without a loop over features: the features' hashes are laid side by
side in one integer, and each bit position is one shift, one mask and one ``bit_count``.
"""

from __future__ import annotations

import hashlib
import operator
from typing import Final

__all__ = ["NEAR_BITS", "distance", "simhash"]

NEAR_BITS: Final = 3
"""Most differing bits of two near duplicates (of 64), as Manku et al. chose for web pages."""
SAMPLE: Final = 256
"""Features counted at most: ~0.4 ms a page of the benchmark site's ~1,100 (all: ~1.7 ms)."""
BITS: Final = 64
_MASK: Final = (1 << BITS) - 1


def simhash(text: str) -> int:
    """Return the 64-bit simhash of a page's visible ``text`` (0 for a text without words)."""
    words = text.lower().split()
    first = {w: _hash(w) for w in set(words)}
    second = {w: _rotate(h) for w, h in first.items()}
    lefts = [first[w] for w in words]
    features = set(map(operator.xor, lefts, [second[w] for w in words[1:]])) or set(lefts)
    if not features:
        return 0
    counted = sorted(features)[:SAMPLE]
    lanes = int.from_bytes(b"".join(f.to_bytes(8, "little") for f in counted), "little")
    ones = int.from_bytes((b"\x01" + bytes(7)) * len(counted), "little")
    half = len(counted) / 2
    value = 0
    for bit in range(BITS):
        if ((lanes >> bit) & ones).bit_count() > half:
            value |= 1 << bit
    return value


def distance(a: int, b: int) -> int:
    """Return how many of the 64 bits two simhashes differ in."""
    return (a ^ b).bit_count()


def _rotate(value: int) -> int:
    """The second hash of a word: its first rotated by 31 bits (a pair is ``a ^ rot(b)``)."""
    return ((value << 31) | (value >> (BITS - 31))) & _MASK


def _hash(word: str) -> int:
    return int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
