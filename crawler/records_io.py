"""Read a crawl's output back: for ``crawl report``, and to reconcile it on a resume.

One reader, ``read_records``, serves both: JSON Lines or CSV records, as the sinks wrote
them, strict for a report (a bad line is an error naming it), lenient for a resume
(``crawler.reconcile``).

Reconciling on resume. The exactly-once rule: a record is appended and flushed *before*
its request is acked in the state, and a request whose record was written is never
released back to pending (it stays leased until it is acked). So after any stop, every
request either is done (its record is in the file), or is pending (no record), or is
leased (a record may or may not be in the file). On resume the file's partial last line,
if any, is cut off, and the file is scanned for records of the leased requests; those
are fetched again (their links may not have been added) but their records are not
written a second time.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from typing import IO, TYPE_CHECKING, Final

from crawler.errors import RecordsError
from crawler.sinks import FORMULA_STARTS

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from crawler.config import OutputFormat
    from crawler.models import Record

log = logging.getLogger(__name__)

CHUNK: Final = 1 << 20
"""Bytes read at a time while looking for the last newline."""

_INTEGERS = ("status", "depth", "links", "bytes")
_FLOATS = ("elapsed_ms",)


def read_records(
    lines: Iterable[str],
    source: str,
    *,
    output_format: OutputFormat | None = None,
    lenient: bool = False,
) -> Iterator[Record]:
    """Yield the records of a crawl's output, JSON Lines or CSV.

    Args:
        lines: The lines of the file.
        source: Its name, for error messages.
        output_format: The format; ``None`` tells them apart by the first line.
        lenient: Skip the lines that are not records instead of raising.

    Raises:
        RecordsError: A line is not a record; the message names ``source`` and the line.
    """
    numbered = enumerate(lines, start=1)
    for number, first in numbered:
        if not first.strip():
            continue
        rest = _chain(first, (line for _, line in numbered))
        json_lines = (
            first.lstrip().startswith("{") if output_format is None else (output_format == "jsonl")
        )
        if json_lines:
            yield from _json_records(rest, source, number, lenient=lenient)
        else:
            yield from _csv_records(rest, source, lenient=lenient)
        return


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
        with open(path, encoding="utf-8", errors="replace", newline="") as file:
            records = read_records(file, path, output_format=output_format, lenient=True)
            return {url for r in records if (url := r.get("url")) in wanted}
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


def _json_records(
    lines: Iterator[str], source: str, start: int, *, lenient: bool
) -> Iterator[Record]:
    for number, line in enumerate(lines, start=start):
        if not line.strip():
            continue
        try:
            record = _json_record(line, source, number)
        except RecordsError:
            if lenient:
                continue
            raise
        yield record


def _json_record(line: str, source: str, number: int) -> Record:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise RecordsError(f"{source}:{number}: not a JSON record: {exc.msg}") from None
    if not isinstance(record, dict) or not isinstance(record.get("url"), str):
        raise RecordsError(f"{source}:{number}: not a crawl record (no 'url')")
    return record


def _csv_records(lines: Iterator[str], source: str, *, lenient: bool) -> Iterator[Record]:
    reader = csv.DictReader(lines)
    if "url" not in (reader.fieldnames or ()):
        if lenient:
            return
        raise RecordsError(f"{source}: not a crawl output (no 'url' column)")
    for row in reader:
        # Lenient readers (a resume) need only ``url``: custom records may hold anything.
        yield dict(row) if lenient else _typed(row, source, reader.line_num)


def _text(cell: str) -> str | None:
    """Return a CSV cell's text: ``None`` when empty, a neutralized formula restored."""
    if cell == "":
        return None
    if cell.startswith("'") and cell[1:].startswith(FORMULA_STARTS):
        return cell[1:]
    return cell


def _chain(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield from rest


def _typed(row: dict[str, str], source: str, number: int) -> Record:
    record: Record = {k: _text(v) for k, v in row.items()}
    try:
        for name in _INTEGERS:
            if record.get(name) is not None:
                record[name] = int(record[name])
        for name in _FLOATS:
            if record.get(name) is not None:
                record[name] = float(record[name])
        if record.get("outlinks") is not None:
            record["outlinks"] = json.loads(record["outlinks"])
    except ValueError as exc:
        raise RecordsError(f"{source}:{number}: bad value: {exc}") from None
    return record
