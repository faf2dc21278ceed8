"""The archive across runs: a resumed archive cuts what a kill left half-written, and never
archives a URI twice."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from crawler.archive import WarcArchive
from crawler.config import CrawlConfig
from crawler.errors import OutputMismatchError
from crawler.models import Exchange

if TYPE_CHECKING:
    from pathlib import Path

warcio = pytest.importorskip("warcio", reason="the warc extra is not installed")
from warcio.archiveiterator import ArchiveIterator  # noqa: E402


def exchange(url: str, body: bytes = b"<html>a page</html>") -> Exchange:
    return Exchange(
        url=url, method="GET", request_headers={"Host": "h.test"}, version="1.1",
        status=200, reason="OK", response_headers=((b"Content-Type", b"text/html"),),
        body=body, truncated=False, ip="127.0.0.1", date=datetime.now(UTC),
    )  # fmt: skip


def open_archive(path: Path, *, resumed: bool, done: int = 0, force: bool = False) -> WarcArchive:
    config = CrawlConfig(warc=str(path))
    return WarcArchive(config, resumed=resumed, done=done, force=force)


def records(path: Path) -> list[tuple[str, str]]:
    with open(path, "rb") as file:
        return [
            (r.rec_type, r.rec_headers.get_header("WARC-Target-URI") or "")
            for r in ArchiveIterator(file, check_digests="raise")
        ]


def first_run(path: Path) -> int:
    archive = open_archive(path, resumed=False)
    archive.write([exchange("http://h.test/a"), exchange("http://h.test/b", b"other bytes")])
    archive.close()
    return path.stat().st_size


def members_of_another_page(tmp_path: Path, body: bytes) -> tuple[bytes, bytes]:
    """Return the request and the response members an archive writes for one more page."""
    other = tmp_path / "other.warc.gz"
    archive = open_archive(other, resumed=False)
    archive.write([exchange("http://h.test/c", body)])
    archive.close()
    with open(other, "rb") as file:
        iterator = ArchiveIterator(file)
        starts = [iterator.get_record_offset() for _ in iterator]
    data = other.read_bytes()
    return data[starts[1] : starts[2]], data[starts[2] :]


@pytest.mark.parametrize("cut", [1, 10, 200, -1])
def test_a_partial_last_member_is_cut_and_its_page_archived_once(tmp_path, cut):
    path = tmp_path / "a.warc.gz"
    whole = first_run(path)
    request, response = members_of_another_page(tmp_path, b"<html>a page</html>")
    with open(path, "ab") as file:  # what a kill in the middle of a write leaves
        file.write((request + response)[:cut])
    resumed = open_archive(path, resumed=True, done=2)
    assert path.stat().st_size == whole
    resumed.write([exchange("http://h.test/c")])
    resumed.close()
    assert records(path) == [
        ("warcinfo", ""),
        ("request", "http://h.test/a"), ("response", "http://h.test/a"),
        ("request", "http://h.test/b"), ("response", "http://h.test/b"),
        ("request", "http://h.test/c"), ("revisit", "http://h.test/c"),
    ]  # fmt: skip


def test_a_request_whose_response_never_came_is_cut(tmp_path):
    path = tmp_path / "a.warc.gz"
    whole = first_run(path)
    request, _ = members_of_another_page(tmp_path, b"new bytes")
    with open(path, "ab") as file:
        file.write(request)
    open_archive(path, resumed=True, done=2).close()
    assert path.stat().st_size == whole


def test_uris_archived_by_an_earlier_run_are_not_archived_again(tmp_path):
    path = tmp_path / "a.warc.gz"
    first_run(path)
    resumed = open_archive(path, resumed=True, done=1)
    resumed.write([exchange("http://h.test/a"), exchange("http://h.test/d", b"fresh")])
    resumed.close()
    uris = [uri for kind, uri in records(path) if kind in ("response", "revisit")]
    assert uris == ["http://h.test/a", "http://h.test/b", "http://h.test/d"]


def test_a_missing_archive_stops_the_resume_unless_forced(tmp_path):
    path = tmp_path / "gone.warc.gz"
    message = (
        rf"^archive '{path}' is missing while the state has 3 requests done: restore it, "
        r"start another --state, or pass --force$"
    )
    with pytest.raises(OutputMismatchError, match=message):
        open_archive(path, resumed=True, done=3)
    open_archive(path, resumed=True, done=3, force=True).close()
    assert records(path) == [("warcinfo", "")]
    open_archive(tmp_path / "new.warc.gz", resumed=True, done=0).close()
