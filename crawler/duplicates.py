"""Groups of pages with the same content, and clusters of pages with nearly the same.

Pure: ``exact_groups`` groups URLs by the ``digest`` of their body; ``near_clusters``
joins URLs whose ``simhash`` values differ in at most ``NEAR_BITS`` bits, transitively.
Comparing every pair would be quadratic; instead the 64 bits are cut into
``NEAR_BITS + 1`` bands, and only pages that share a band exactly are compared: two
simhashes that differ in at most ``NEAR_BITS`` bits leave at least one band untouched
(the pigeonhole principle), so no near pair is missed.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import TYPE_CHECKING, Final

from crawler.simhash import BITS, NEAR_BITS, distance

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

__all__ = ["exact_groups", "near_clusters"]

BANDS: Final = NEAR_BITS + 1
_WIDTH: Final = BITS // BANDS


def exact_groups(digests: Mapping[str, str]) -> tuple[tuple[str, ...], ...]:
    """Return the URLs sharing a digest, each group sorted, the largest groups first."""
    by_digest: defaultdict[str, list[str]] = defaultdict(list)
    for url, digest in digests.items():
        by_digest[digest].append(url)
    return _ordered(group for group in by_digest.values() if len(group) > 1)


def near_clusters(
    simhashes: Mapping[str, int], digests: Mapping[str, str] | None = None
) -> tuple[tuple[str, ...], ...]:
    """Return the clusters of near-duplicate URLs, the largest first.

    Args:
        simhashes: Each URL's simhash.
        digests: Each URL's digest, if known: a cluster whose pages are all exact
            duplicates of one another is an exact group, not listed here.
    """
    parent = {url: url for url in simhashes}

    def root(url: str) -> str:
        while parent[url] != url:
            parent[url] = parent[parent[url]]
            url = parent[url]
        return url

    for a, b in _candidates(simhashes):
        if distance(simhashes[a], simhashes[b]) <= NEAR_BITS:
            parent[root(a)] = root(b)
    clusters: defaultdict[str, list[str]] = defaultdict(list)
    for url in simhashes:
        clusters[root(url)].append(url)
    kept = [c for c in clusters.values() if len(c) > 1 and not _all_same(c, digests)]
    return _ordered(kept)


def _candidates(simhashes: Mapping[str, int]) -> Iterable[tuple[str, str]]:
    """Yield the pairs of URLs that share a band of their simhash (each pair once a band)."""
    mask = (1 << _WIDTH) - 1
    for band in range(BANDS):
        buckets: defaultdict[int, list[str]] = defaultdict(list)
        for url, value in simhashes.items():
            buckets[(value >> (band * _WIDTH)) & mask].append(url)
        for bucket in buckets.values():
            yield from itertools.combinations(bucket, 2)


def _all_same(urls: list[str], digests: Mapping[str, str] | None) -> bool:
    if digests is None:
        return False
    found = {digests.get(url) for url in urls}
    return len(found) == 1 and None not in found


def _ordered(groups: Iterable[list[str]]) -> tuple[tuple[str, ...], ...]:
    return tuple(sorted((tuple(sorted(g)) for g in groups), key=lambda g: (-len(g), g)))
