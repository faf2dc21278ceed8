"""The crawl's WARC archive: files that roll over, crash-safe like the output.

``--warc FILE.warc.gz`` archives every HTTP exchange of the crawl (``crawler.warc``):
pages and each of their redirect hops, robots.txt, sitemaps. ``--warc-max-size SIZE``
starts ``FILE-00001.warc.gz``, ``FILE-00002.warc.gz``, ... once a file would pass SIZE
(each opens with its own ``warcinfo``); ``--warc-cdx`` writes ``FILE.cdxj`` beside them
when the crawl ends (cdxj-indexer, the index pywb replays from).

**What a killed crawl keeps.** A page's exchanges are written in one write, then flushed,
before its record is written and its request acked (``crawler.worker``), so an acked
page's exchanges are in the files. After ``kill -9``, the resumed run (``--state``) cuts
off what was half-written: a partial last gzip member, and a request record whose
response never came. The URIs whose responses the files already hold are not archived
again, which covers the pages in flight at the kill (fetched again, but archived once)
and robots.txt. So when the crawl completes, every URL crawled has exactly one
``response`` or ``revisit`` record across the files, and every member reads. As for
``-o``, this holds for a killed process, not a power loss: nothing is fsync'ed.

A fresh run (no ``--state``, or a new one) writes the files anew and removes the old
series' later files.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import zlib
from pathlib import Path
from typing import IO, TYPE_CHECKING, Final, Protocol

from crawler.errors import ConfigError, OutputMismatchError, WriteError
from crawler.warc import Archived, WarcRecords, payload_digest, warc_date, warcinfo_fields

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from crawler.config import CrawlConfig
    from crawler.models import Exchange

__all__ = ["Archive", "NullArchive", "WarcArchive", "check_archive", "open_archive", "series_path"]

log = logging.getLogger(__name__)

SUFFIX: Final = ".warc.gz"
READ_SIZE: Final = 1 << 20
"""Bytes read at a time while a resume walks the files."""
HEAD_SIZE: Final = 64 * 1024
"""Decompressed bytes kept of each member walked: the WARC headers are far shorter."""
CDX_MISSING: Final = "--warc-cdx needs the warc extra: pip install 'crawler[warc]'"


class Archive(Protocol):
    """Keeps HTTP exchanges; each ``write`` lands whole records and flushes them."""

    def write(self, exchanges: Sequence[Exchange]) -> None:
        """Archive ``exchanges``, in order."""

    def close(self) -> None:
        """Flush and release the files."""


class NullArchive:
    """Keeps nothing: a crawl without ``--warc``."""

    def write(self, exchanges: Sequence[Exchange]) -> None:
        """Keep nothing."""

    def close(self) -> None:
        """Nothing to close."""


def series_path(path: str, index: int) -> Path:
    """Return file ``index`` of the series of ``path`` (``FILE.warc.gz``, ``FILE-00001...``)."""
    if index == 0:
        return Path(path)
    return Path(f"{path.removesuffix(SUFFIX)}-{index:05d}{SUFFIX}")


def cdx_path(path: str) -> Path:
    """Return the CDXJ index of the series of ``path`` (``FILE.cdxj``)."""
    return Path(path.removesuffix(SUFFIX) + ".cdxj")


class WarcArchive:
    """The archive of one crawl (see the module docstring).

    Raises:
        ConfigError: The ``warc`` extra is missing.
        OutputMismatchError: On resume, the archive is gone while the state has pages done.
        WriteError: A file cannot be opened or written.
    """

    def __init__(self, config: CrawlConfig, *, resumed: bool, done: int, force: bool) -> None:
        assert config.warc is not None
        self._path = config.warc
        self._max_size = config.warc_max_size
        self._cdx = config.warc_cdx
        self._records = WarcRecords(
            name for name, _ in config.headers if name.lower() != "user-agent"
        )
        self._info = warcinfo_fields(config)
        self._payloads: dict[str, Archived] = {}
        self._archived: set[str] = set()
        self._index = 0
        self._file: IO[bytes] | None = None
        if resumed:
            self._resume(done, force)
        else:
            self._start()

    def _start(self) -> None:
        index = 1
        while series_path(self._path, index).exists():
            _remove(series_path(self._path, index))
            index += 1
        self._open(0, fresh=True)

    def _resume(self, done: int, force: bool) -> None:
        files = list(_existing(self._path))
        if not files and done > 0 and not force:
            raise OutputMismatchError(
                f"archive {self._path!r} is missing while the state has {done} requests "
                "done: restore it, start another --state, or pass --force"
            )
        for index, path in enumerate(files):
            self._scan(path)
            self._index = index
        self._open(self._index, fresh=not files)

    def _scan(self, path: Path) -> None:
        end = 0
        for _, stop, head in _members(path):
            fields = _warc_fields(head)
            kind = fields.get("warc-type")
            if kind in ("response", "revisit"):
                self._archived.add(fields.get("warc-target-uri", ""))
            digest = fields.get("warc-payload-digest")
            if kind == "response" and digest and fields.get("warc-truncated") is None:
                uri, date = fields.get("warc-target-uri", ""), fields.get("warc-date", "")
                self._payloads.setdefault(digest, Archived(uri, date))
            if kind != "request":  # a request's response follows it, or it was cut short
                end = stop
        size = path.stat().st_size
        if end < size:
            log.info("archive %s: cutting %d bytes of a record cut short", path, size - end)
            _truncate(path, end)

    def _open(self, index: int, *, fresh: bool) -> None:
        path = series_path(self._path, index)
        try:
            self._file = open(path, "wb" if fresh else "ab")  # noqa: SIM115
        except OSError as exc:
            raise WriteError(f"cannot open archive {str(path)!r}: {exc.strerror or exc}") from None
        self._index = index
        self._fresh = self._file.tell() == 0  # nothing in it but its warcinfo, soon
        if self._fresh:
            self._emit(self._records.warcinfo(path.name, self._info))

    def write(self, exchanges: Sequence[Exchange]) -> None:
        """Archive ``exchanges`` as one write: whole records, flushed (see the docstring).

        Raises:
            WriteError: The archive cannot be written.
        """
        data = b"".join(self._record(e) for e in exchanges if e.url not in self._archived)
        if not data:
            return
        assert self._file is not None
        too_big = self._max_size is not None and self._file.tell() + len(data) > self._max_size
        if too_big and not self._fresh:  # a fresh file takes the records, however big
            self._close_file()
            self._open(self._index + 1, fresh=True)
        self._emit(data)
        self._fresh = False

    def _record(self, exchange: Exchange) -> bytes:
        kept = bool(exchange.body) and not exchange.truncated
        digest = payload_digest(exchange.body)
        first = self._payloads.get(digest) if kept else None
        data = self._records.exchange(exchange, digest, first)
        if kept and first is None:
            self._payloads[digest] = Archived(exchange.url, warc_date(exchange.date))
        return data

    def _emit(self, data: bytes) -> None:
        assert self._file is not None
        try:
            self._file.write(data)
            self._file.flush()
        except OSError as exc:
            raise WriteError(
                f"cannot write archive {self._file.name!r}: {exc.strerror or exc}"
            ) from None

    def _close_file(self) -> None:
        if self._file is not None:
            file, self._file = self._file, None
            try:
                file.close()
            except OSError as exc:
                raise WriteError(
                    f"cannot write archive {file.name!r}: {exc.strerror or exc}"
                ) from None

    def close(self) -> None:
        """Close the files, and write the CDXJ index if asked.

        Raises:
            WriteError: The archive or its index cannot be written.
        """
        self._close_file()
        if self._cdx:
            self._write_cdx()

    def _write_cdx(self) -> None:
        target = cdx_path(self._path)
        temporary = target.with_name(f".{target.name}.partial")
        inputs = [str(p) for p in _existing(self._path)]
        try:
            _cdx_writer()(str(temporary), inputs, {"sort": True})
            os.replace(temporary, target)
        except OSError as exc:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise WriteError(f"cannot write index {str(target)!r}: {exc.strerror or exc}") from None


def open_archive(config: CrawlConfig, *, resumed: bool, done: int, force: bool) -> Archive:
    """Open the crawl's archive: a ``WarcArchive`` with ``warc``, else a ``NullArchive``."""
    if config.warc is None:
        return NullArchive()
    return WarcArchive(config, resumed=resumed, done=done, force=force)


def check_archive(config: CrawlConfig) -> None:
    """Refuse, before any request, an archive whose extra is missing.

    Raises:
        ConfigError: warcio (or, with ``warc_cdx``, cdxj-indexer) is not installed.
    """
    if config.warc is not None:
        WarcRecords()
    if config.warc_cdx:
        _cdx_writer()


def _cdx_writer() -> Callable[..., object]:
    try:
        module = importlib.import_module("cdxj_indexer.main")
    except ImportError:
        raise ConfigError(CDX_MISSING) from None
    writer: Callable[..., object] = module.write_cdx_index
    return writer


def _existing(path: str) -> Iterator[Path]:
    index = 0
    while series_path(path, index).exists():
        yield series_path(path, index)
        index += 1


def _members(path: Path) -> Iterator[tuple[int, int, bytes]]:
    """Yield each whole gzip member of ``path``: its start, its end, its first bytes.

    Stops at the first member that is cut short or not gzip: the whole ones before it
    are what the file can keep.
    """
    with open(path, "rb") as file:
        offset, pending = 0, b""
        while True:
            decoder = zlib.decompressobj(zlib.MAX_WBITS | 16)
            head, used = b"", 0
            while not decoder.eof:
                data = pending or file.read(READ_SIZE)
                pending = b""
                if not data:
                    return
                try:
                    out = decoder.decompress(data)
                except zlib.error:
                    return
                if len(head) < HEAD_SIZE:
                    head += out[: HEAD_SIZE - len(head)]
                used += len(data) - len(decoder.unused_data)
            pending = decoder.unused_data
            yield offset, offset + used, head
            offset += used


def _warc_fields(head: bytes) -> dict[str, str]:
    """Return a record's WARC header fields (lower-case names) from its first bytes."""
    block = head.partition(b"\r\n\r\n")[0].decode("utf-8", "replace")
    found: dict[str, str] = {}
    for line in block.split("\r\n")[1:]:
        name, sep, value = line.partition(":")
        if sep:
            found[name.strip().lower()] = value.strip()
    return found


def _truncate(path: Path, size: int) -> None:
    try:
        os.truncate(path, size)
    except OSError as exc:
        raise WriteError(f"cannot cut archive {str(path)!r}: {exc.strerror or exc}") from None


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except OSError as exc:
        raise WriteError(
            f"cannot remove old archive {str(path)!r}: {exc.strerror or exc}"
        ) from None
