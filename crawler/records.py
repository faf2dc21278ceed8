"""Turn a fetch into the user's ``Page`` and the output ``Record``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from crawler.models import NOT_MODIFIED, RECORD_FIELDS, Page

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from crawler.models import FetchResult, ParsedHtml, Record, Request, SkipReason


def make_page(
    result: FetchResult, parsed: ParsedHtml | None, empty: Mapping[str, object] | None = None
) -> Page:
    """Build the ``Page`` handed to user code; ``empty`` is its fields when not parsed.

    A 304 (its body not sent) has the type, title and fields kept by the previous generation.
    """
    request = result.request
    previous = request.previous
    kept = previous if result.status == NOT_MODIFIED else None
    fields = parsed.fields if parsed else dict(empty or {})
    return Page(
        url=request.url,
        final_url=result.final_url,
        status=result.status,
        headers=result.headers,
        depth=request.depth,
        parent=request.parent,
        content_type=kept.content_type if kept else result.content_type,
        body=result.body,
        encoding=parsed.encoding if parsed else result.charset,
        title=kept.title if kept else parsed.title if parsed else None,
        links=parsed.links if parsed else (),
        error=result.error,
        error_detail=result.error_detail,
        fields=dict(kept.fields) if kept else fields,
        _visible_text=parsed.text if parsed else None,
        previous=previous,
    )


def make_record(
    result: FetchResult,
    page: Page,
    *,
    fields: Sequence[str] = RECORD_FIELDS,
    outlinks: Sequence[str] = (),
) -> Record:
    """Build the output record of one attempted URL: ``fields``, in that order.

    Args:
        result: The fetch.
        page: The page built from it (its ``error`` may have been set by a callback).
        fields: Names from ``RECORD_FIELDS`` and ``OPTIONAL_RECORD_FIELDS``.
        outlinks: The page's in-scope links, written as ``outlinks`` if asked for.
    """
    record = _full_record(result, page)
    if fields is RECORD_FIELDS:
        if page.callback_error is not None:
            record["callback_error"] = page.callback_error
        return record
    record["outlinks"] = list(outlinks)
    record["callback_error"] = page.callback_error
    record["saved_path"] = page.saved_path
    record["change"] = page.change
    record["canonical"] = page.canonical
    record["duplicate_of"] = page.duplicate_of
    for name in _MADE_ON_REQUEST.keys() & set(fields):  # the costly ones: only when asked
        record[name] = _MADE_ON_REQUEST[name](result, page)
    return {name: record[name] for name in fields}


def _simhash(result: FetchResult, page: Page) -> str | None:
    value = page.simhash
    return f"{value:016x}" if value is not None else None


_MADE_ON_REQUEST: dict[str, Callable[[FetchResult, Page], object]] = {
    "text": lambda _, page: page.visible_text,
    "markdown": lambda _, page: page.markdown,
    "simhash": _simhash,
    "digest": lambda _, page: page.digest,
}
"""Record fields made only when a record asks for them: a walk, a conversion, a hash."""


def _full_record(result: FetchResult, page: Page) -> Record:
    return {
        "url": page.url,
        "final_url": page.final_url,
        "status": page.status,
        "depth": page.depth,
        "parent": page.parent,
        "content_type": page.content_type,
        "title": page.title,
        "links": len(page.links),
        "bytes": len(result.body),
        **(_unchanged_counts(page) if page.status == NOT_MODIFIED else {}),
        "elapsed_ms": elapsed_ms(result),
        "fetched_at": result.fetched_at_text,
        "error": page.error,
        "error_detail": page.error_detail,
        **page.fields,
    }


def _unchanged_counts(page: Page) -> dict[str, int]:
    """A 304's links and size: the previous generation's (its body was not sent)."""
    previous = page.previous
    return {} if previous is None else {"links": previous.links, "bytes": previous.size}


def elapsed_ms(result: FetchResult) -> float:
    """Return the fetch time in milliseconds, rounded as records carry it."""
    return round(result.elapsed * 1000, 1)


def make_skip_record(
    request: Request, reason: SkipReason, *, fields: Sequence[str] = RECORD_FIELDS
) -> Record:
    """Build the record of a leased URL not crawled (``--log-skipped``): no fetch, a reason."""
    record: Record = {
        "url": request.url,
        "final_url": request.url,
        "status": None,
        "depth": request.depth,
        "parent": request.parent,
        "content_type": None,
        "title": None,
        "links": 0,
        "bytes": 0,
        "elapsed_ms": 0.0,
        "fetched_at": None,
        "error": None,
        "error_detail": f"skipped: {reason}",
        "outlinks": [],
    }
    return {name: record[name] for name in fields}
