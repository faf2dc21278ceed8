"""Reconciling the output file on resume: the partial last line, records already written."""

from __future__ import annotations

from crawler.records_io import truncate_partial_line, written_urls


def test_partial_last_line_is_cut(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_bytes(b'{"url": "a"}\n{"url": "b"}\n{"url": "c", "sta')
    assert truncate_partial_line(str(out)) == 17
    assert out.read_bytes() == b'{"url": "a"}\n{"url": "b"}\n'


def test_whole_lines_are_kept(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_bytes(b'{"url": "a"}\n')
    assert truncate_partial_line(str(out)) == 0
    assert out.read_bytes() == b'{"url": "a"}\n'


def test_a_file_without_newline_is_emptied_and_a_missing_one_ignored(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_bytes(b'{"url": "a"')
    assert truncate_partial_line(str(out)) == 11
    assert out.read_bytes() == b""
    assert truncate_partial_line(str(tmp_path / "missing")) == 0


def test_written_urls_finds_only_the_wanted_jsonl(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text('{"url": "http://h/a"}\n{"url": "http://h/b"}\n{"title": "x"}\nnot json\n')
    assert written_urls(str(out), "jsonl", {"http://h/b", "http://h/z"}) == {"http://h/b"}
    assert written_urls(str(tmp_path / "missing"), "jsonl", {"http://h/b"}) == set()


def test_written_urls_csv(tmp_path):
    out = tmp_path / "out.csv"
    out.write_text('url,title\nhttp://h/a,"A, b"\nhttp://h/b,B\n')
    assert written_urls(str(out), "csv", {"http://h/a"}) == {"http://h/a"}


def test_written_urls_finds_custom_csv_records_whatever_their_other_cells(tmp_path):
    """A resume must see records ``on_page`` made, though their cells are not the default's."""
    out = tmp_path / "out.csv"
    out.write_text('url,status,links\nhttp://h/1,ok,"[""a"", ""b""]"\nhttp://h/2,200,3\n')
    assert written_urls(str(out), "csv", {"http://h/1", "http://h/2"}) == {
        "http://h/1",
        "http://h/2",
    }
