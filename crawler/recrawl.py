"""Coming back: what a generation keeps of each URL, and what the next one finds changed.

A durable state keeps a ``Snapshot`` of every URL done (``snapshot_of``): its status, its
validators (``ETag``, ``Last-Modified``), the SHA-1 of its decoded body, its title, links,
type, size and extracted fields. ``--recrawl`` starts the next generation
(``StateBackend.begin_generation``): every URL done is fetched again, with
``If-None-Match`` and ``If-Modified-Since`` from its snapshot (``conditional_headers``), and
each record says what changed (``change_of``):

=============  ================================================================
``new``        not in the previous generation
``changed``    a 2xx whose body differs (by digest), or an answer where it failed
``unchanged``  a 304 (no body sent), a 2xx with the same body, or still failing
``gone``       it answered 2xx last time and now fails (an error, a 4xx or 5xx)
=============  ================================================================

A 304's record is filled from the snapshot (title, links, type, size, fields), so the
output of a recrawl is a whole snapshot of the site.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from crawler.models import NOT_MODIFIED, Snapshot

if TYPE_CHECKING:
    from crawler.models import Change, FetchResult, Page

__all__ = ["change_of", "conditional_headers", "snapshot_of"]


def conditional_headers(previous: Snapshot | None) -> dict[str, str]:
    """Return the validators to send for a URL kept as ``previous`` (none if not kept)."""
    headers: dict[str, str] = {}
    if previous is None or not previous.ok:
        return headers
    if previous.etag:
        headers["If-None-Match"] = previous.etag
    if previous.last_modified:
        headers["If-Modified-Since"] = previous.last_modified
    return headers


def snapshot_of(result: FetchResult, page: Page, previous: Snapshot | None) -> Snapshot:
    """Return what to keep of a URL fetched as ``result`` (a 304 keeps ``previous``'s body)."""
    fetched_at = result.fetched_at_text
    etag, modified = result.headers.get("ETag"), result.headers.get("Last-Modified")
    if result.status == NOT_MODIFIED and previous is not None:
        return replace(
            previous,
            etag=etag or previous.etag,
            last_modified=modified or previous.last_modified,
            fetched_at=fetched_at,
        )
    kept = result.error is None and result.status is not None and 200 <= result.status < 300
    return Snapshot(
        status=result.status,
        etag=etag if kept else None,
        last_modified=modified if kept else None,
        digest=page.digest if kept else None,
        title=page.title,
        links=len(page.links),
        content_type=page.content_type,
        size=len(result.body),
        fetched_at=fetched_at,
        fields=dict(page.fields),
        simhash=f"{page._simhash:016x}" if page._simhash is not None else None,
    )


def change_of(result: FetchResult, page: Page, previous: Snapshot | None) -> Change:
    """Return what changed of a URL since the previous generation (see the module docstring)."""
    if previous is None:
        return "new"
    if result.status == NOT_MODIFIED:
        return "unchanged"
    ok = page.error is None and result.status is not None and 200 <= result.status < 300
    if not ok:
        return "gone" if previous.ok else "unchanged"
    if not previous.ok:
        return "changed"
    return "unchanged" if page.digest == previous.digest else "changed"
