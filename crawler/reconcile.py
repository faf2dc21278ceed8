"""Reconcile a crawl's output with its state when the crawl resumes.

Before appending, the output is checked against what the state says was done, so that a
damaged output is never silently continued (it would end with pages missing or twice):

- its last line: a partial line (a crash in mid-write) is cut; a last line that is whole
  JSON but lost its newline keeps its record and gets the newline back;
- a file that is missing or holds no record while the state has requests done (deleted
  or emptied), a line that is not a record (JSON Lines), or a URL with two records, stop
  the crawl with one line saying so and how to proceed: ``--force`` continues anyway;
- the requests taken over from the state (in flight at the stop) are looked up: those
  whose records are already there are fetched again but not written again.

See ``crawler.records_io`` for why this gives each URL exactly one record.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from crawler.errors import OutputMismatchError
from crawler.records_io import read_records, truncate_partial_line
from crawler.sinks import open_sink

if TYPE_CHECKING:
    from collections.abc import Iterator

    from crawler.config import OutputFormat
    from crawler.models import Request
    from crawler.sinks import Sink

log = logging.getLogger(__name__)

TAIL_LIMIT = 1 << 20
"""Bytes of a newline-less last line read to see whether it is whole JSON: a record is far
smaller; a longer tail is a partial line whatever it holds."""


@dataclass(slots=True)
class OutputScan:
    """What a resume found in a crawl's output.

    Attributes:
        records: Records read.
        bad_lines: Line numbers that are not records (JSON Lines only).
        urls: Records per ``url``.
    """

    records: int = 0
    bad_lines: list[int] = field(default_factory=list)
    urls: Counter[str] = field(default_factory=Counter)

    def problem(self, path: str, done: int) -> str | None:
        """Return what is wrong with the output of a state with ``done`` requests, if anything."""
        if self.records == 0 and done:
            return f"output {path!r} holds no record but the state has {done} requests done"
        if self.bad_lines:
            return f"line {self.bad_lines[0]} of output {path!r} is not a crawl record"
        twice = [url for url, count in self.urls.items() if count > 1]
        if twice:
            return f"output {path!r} has {self.urls[twice[0]]} records of {twice[0]}"
        return None


def finish_last_line(path: str, output_format: OutputFormat) -> int:
    """Give a whole JSON last line its newline, else cut the partial line; return bytes cut."""
    if output_format == "jsonl" and _tail_is_json(path):
        with open(path, "ab") as file:
            file.write(b"\n")
        return 0
    return truncate_partial_line(path)


def scan_output(path: str, output_format: OutputFormat) -> OutputScan:
    """Read the whole output once: its records, its bad lines, its URLs."""
    scan = OutputScan()
    try:
        with open(path, encoding="utf-8", errors="replace", newline="") as file:
            if output_format == "jsonl":
                _scan_json_lines(file, scan)
            else:
                for record in read_records(file, path, output_format="csv", lenient=True):
                    _count(scan, record)
    except FileNotFoundError:
        pass
    return scan


async def open_output(
    output: str | None,
    output_format: OutputFormat,
    *,
    resumed: bool,
    unconfirmed: list[Request],
    done: int,
    force: bool,
) -> tuple[Sink, set[str]]:
    """Open the crawl's sink; on resume, append, after checking and reconciling the file.

    Args:
        output: The output path, ``"-"`` for stdout, ``None`` for none.
        output_format: ``"jsonl"`` or ``"csv"``.
        resumed: Whether the state held a crawl already.
        unconfirmed: The requests taken over whose records may already be written.
        done: Requests the state has done; ``-1`` when the output is not this process's
            alone to check (another process writes the rest of the crawl's records).
        force: Continue an output that does not match the state.

    Returns:
        The sink, and the keys of ``unconfirmed`` whose records are already in the file.

    Raises:
        OutputMismatchError: The output does not match the state, and not ``force``.
    """
    written: set[str] = set()
    if resumed and output not in (None, "-"):
        assert output is not None
        await asyncio.to_thread(finish_last_line, output, output_format)
        scan = await asyncio.to_thread(scan_output, output, output_format)
        problem = scan.problem(output, done) if done >= 0 else None
        if problem is not None and not force:
            raise OutputMismatchError(
                f"{problem}: restore it, start another --state, or pass --force"
            )
        written = {r.key for r in unconfirmed if scan.urls[r.url]}
        log.info("resuming: %d in flight, %d already written", len(unconfirmed), len(written))
    return open_sink(output, output_format, append=resumed), written


def _scan_json_lines(lines: Iterator[str], scan: OutputScan) -> None:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if not isinstance(record, dict) or not isinstance(record.get("url"), str):
            scan.bad_lines.append(number)
            continue
        _count(scan, record)


def _count(scan: OutputScan, record: dict[str, object]) -> None:
    scan.records += 1
    url = record.get("url")
    if isinstance(url, str):
        scan.urls[url] += 1


def _tail_is_json(path: str) -> bool:
    """Return whether the file ends in a newline-less line that is a whole JSON object."""
    try:
        with open(path, "rb") as file:
            size = file.seek(0, os.SEEK_END)
            file.seek(max(0, size - TAIL_LIMIT))
            tail = file.read().rpartition(b"\n")[2]
    except FileNotFoundError:
        return False
    if not tail.strip():
        return False
    try:
        return isinstance(json.loads(tail), dict)
    except ValueError:
        return False
