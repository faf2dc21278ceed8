"""Where records go: JSON Lines or CSV, a whole line per write, flushed on every way out."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import sys
from typing import IO, TYPE_CHECKING, Final, Protocol

from crawler.errors import OutputClosed, OutputError, WriteError
from crawler.models import RECORD_FIELDS

if TYPE_CHECKING:
    from collections.abc import Sequence

    from crawler.config import OutputFormat
    from crawler.models import Record


class Sink(Protocol):
    """Writes records; each ``write`` lands whole lines and flushes them."""

    def write(self, records: Sequence[Record]) -> None:
        """Append ``records``."""

    def close(self) -> None:
        """Flush and release the destination."""


class NullSink:
    """Discards records: the API without an ``output``."""

    def write(self, records: Sequence[Record]) -> None:
        """Discard ``records``."""

    def close(self) -> None:
        """Nothing to close."""


class _FileSink:
    """Shared plumbing: open a path (or stdout for ``"-"``) in binary append-safe mode."""

    def __init__(self, path: str, *, append: bool = False) -> None:
        self._owned = path != "-"
        mode = "ab" if append else "wb"
        try:
            self._file: IO[bytes] = open(path, mode) if self._owned else sys.stdout.buffer  # noqa: SIM115
        except OSError as exc:
            raise OutputError(f"cannot open output {path!r}: {exc.strerror or exc}") from None
        self._path = path

    def _emit(self, data: bytes) -> None:
        # One write of whole lines then a flush: a reader (or a crash) never sees half a line
        # from us, and nothing produced is left in a buffer when the process dies.
        try:
            self._file.write(data)
            self._file.flush()
        except BrokenPipeError:
            self._closed_by_reader()
            raise OutputClosed(f"the reader of {self._path!r} closed it") from None
        except OSError as exc:
            raise WriteError(f"cannot write output {self._path!r}: {_cause(exc)}") from None

    def _closed_by_reader(self) -> None:
        """Send what stdout still holds to /dev/null, so no later flush fails on the pipe.

        The recipe of Python's ``signal`` documentation for ``SIGPIPE``: without it the
        interpreter's own flush of ``sys.stdout`` at exit prints an error of its own.
        """
        if not self._owned:
            os.dup2(os.open(os.devnull, os.O_WRONLY), self._file.fileno())

    def close(self) -> None:
        """Flush, and close the file unless it is stdout.

        Raises:
            WriteError: What was buffered could not be written.
        """
        try:
            self._file.flush()
        except BrokenPipeError:
            self._closed_by_reader()
        except OSError as exc:
            raise WriteError(f"cannot write output {self._path!r}: {_cause(exc)}") from None
        finally:
            if self._owned:
                with contextlib.suppress(OSError):  # the flush above said what went wrong
                    self._file.close()


def _cause(exc: OSError) -> str:
    """Return an OS error's cause in words (``No space left on device``)."""
    return exc.strerror or str(exc)


def encode_record(record: Record) -> bytes:
    """Return ``record`` as one line of JSON (UTF-8, no newline), as JSON Lines files hold it."""
    return json.dumps(record, ensure_ascii=False, default=str).encode()


class JsonLinesSink(_FileSink):
    """One JSON object per line, UTF-8."""

    def write(self, records: Sequence[Record]) -> None:
        """Append ``records`` as JSON lines."""
        if records:
            self._emit(b"".join(encode_record(r) + b"\n" for r in records))


class CsvSink(_FileSink):
    """CSV with a header row; columns are the record fields (or the first custom record's keys)."""

    def __init__(self, path: str, *, append: bool = False) -> None:
        super().__init__(path, append=append)
        self._fields: Sequence[str] | None = None

    def write(self, records: Sequence[Record]) -> None:
        """Append ``records`` as CSV rows, writing the header first if needed."""
        if not records:
            return
        buffer = io.StringIO()
        if self._fields is None:
            first = records[0]
            self._fields = RECORD_FIELDS if set(first) == set(RECORD_FIELDS) else list(first)
            if not self._has_content():
                csv.writer(buffer).writerow(self._fields)
        writer = csv.DictWriter(buffer, self._fields, extrasaction="ignore")
        writer.writerows(_flat(r) for r in records)
        self._emit(buffer.getvalue().encode())

    def _has_content(self) -> bool:
        return self._owned and self._file.tell() > 0


FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")
"""What makes a spreadsheet run a cell as a formula (OWASP's CSV injection list): such a
cell is written with a leading ``'``, which spreadsheets show as text and hide."""


def _flat(record: Record) -> Record:
    """Return ``record`` ready for CSV: lists and mappings (``outlinks``) as JSON text, one
    cell each, and text a spreadsheet would run as a formula neutralized with a ``'``."""
    nested = (list, tuple, dict)
    return {k: _cell(json.dumps(v) if isinstance(v, nested) else v) for k, v in record.items()}


def _cell(value: object) -> object:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def open_sink(path: str | None, output_format: OutputFormat, *, append: bool = False) -> Sink:
    """Open the sink for ``path`` (``None``: discard, ``"-"``: stdout); truncate unless ``append``.

    Raises:
        OutputError: The path cannot be opened for writing.
    """
    if path is None:
        return NullSink()
    sink_class = CsvSink if output_format == "csv" else JsonLinesSink
    return sink_class(path, append=append)
