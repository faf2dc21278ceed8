"""Reconcile the output file with the state when a crawl resumes.

The exactly-once rule: a record is appended and flushed *before* its request is acked
in the state, and a request whose record was written is never released back to pending
(it stays leased until it is acked). So after any stop, every request either is done
(its record is in the file), or is pending (no record), or is leased (a record may or may
not be in the file). On resume the file's partial last line, if any, is cut off, and the
file is scanned for records of the leased requests; those are fetched again (their links
may not have been added) but their records are not written a second time.
"""

from __future__ import annotations

import csv
import json
import os
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

    from crawler.config import OutputFormat

# Bytes read at a time while looking for the last newline or scanning records.
CHUNK = 1 << 20


def truncate_partial_line(path: str) -> int:
    """Cut the file after its last newline; return how many bytes were cut (0 if none)."""
    try:
        with open(path, "r+b") as file:
            size = file.seek(0, os.SEEK_END)
            end = _last_newline_end(file, size)
            if end < size:
                file.truncate(end)
            return size - end
    except FileNotFoundError:
        return 0


def written_urls(path: str, output_format: OutputFormat, wanted: set[str]) -> set[str]:
    """Return the URLs in ``wanted`` that already have a record (a ``url`` field) in ``path``."""
    if not wanted:
        return set()
    try:
        urls = _csv_urls(path) if output_format == "csv" else _jsonl_urls(path)
        return {url for url in urls if url in wanted}
    except FileNotFoundError:
        return set()


def _last_newline_end(file: IO[bytes], size: int) -> int:
    position = size
    while position > 0:
        start = max(0, position - CHUNK)
        file.seek(start)
        chunk = file.read(position - start)
        index = chunk.rfind(b"\n")
        if index >= 0:
            return start + index + 1
        position = start
    return 0


def _jsonl_urls(path: str) -> Iterator[str]:
    with open(path, "rb") as lines:
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and isinstance(record.get("url"), str):
                yield record["url"]


def _csv_urls(path: str) -> Iterator[str]:
    with open(path, newline="", encoding="utf-8", errors="replace") as file:
        for row in csv.DictReader(file):
            url = row.get("url")
            if url:
                yield url
