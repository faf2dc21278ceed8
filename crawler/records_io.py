"""Read a crawl's output back: JSON Lines or CSV records, as the sinks wrote them."""

from __future__ import annotations

import csv
import json
from typing import TYPE_CHECKING

from crawler.errors import RecordsError

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from crawler.models import Record

_INTEGERS = ("status", "depth", "links", "bytes")
_FLOATS = ("elapsed_ms",)


def read_records(lines: Iterable[str], source: str) -> Iterator[Record]:
    """Yield the records of a crawl's output, JSON Lines or CSV (told apart by the first line).

    Args:
        lines: The lines of the file.
        source: Its name, for error messages.

    Raises:
        RecordsError: A line is not a record; the message names ``source`` and the line.
    """
    numbered = enumerate(lines, start=1)
    for number, first in numbered:
        if not first.strip():
            continue
        rest = (line for _, line in numbered)
        if first.lstrip().startswith("{"):
            yield from _json_records(_chain(first, rest), source, number)
        else:
            yield from _csv_records(_chain(first, rest), source)
        return


def _json_records(lines: Iterator[str], source: str, start: int) -> Iterator[Record]:
    for number, line in enumerate(lines, start=start):
        if line.strip():
            yield _json_record(line, source, number)


def _json_record(line: str, source: str, number: int) -> Record:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise RecordsError(f"{source}:{number}: not a JSON record: {exc.msg}") from None
    if not isinstance(record, dict) or not isinstance(record.get("url"), str):
        raise RecordsError(f"{source}:{number}: not a crawl record (no 'url')")
    return record


def _csv_records(lines: Iterator[str], source: str) -> Iterator[Record]:
    reader = csv.DictReader(lines)
    if "url" not in (reader.fieldnames or ()):
        raise RecordsError(f"{source}: not a crawl output (no 'url' column)")
    for row in reader:
        yield _typed(row, source, reader.line_num)


def _chain(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield from rest


def _typed(row: dict[str, str], source: str, number: int) -> Record:
    record: Record = {k: (v if v != "" else None) for k, v in row.items()}
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
