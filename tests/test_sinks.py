import csv
import json

import pytest

from crawler.errors import OutputError
from crawler.models import RECORD_FIELDS
from crawler.sinks import open_sink

RECORD = {f: None for f in RECORD_FIELDS} | {"url": "http://a/", "title": 'é, "x"\nline'}


def test_jsonl_lines_are_whole_and_flushed(tmp_path):
    path = tmp_path / "o.jsonl"
    sink = open_sink(str(path), "jsonl")
    sink.write([RECORD, RECORD])
    assert [json.loads(x) for x in path.read_text().splitlines()] == [RECORD, RECORD]
    sink.close()


def test_csv_has_header_and_quotes(tmp_path):
    path = tmp_path / "o.csv"
    sink = open_sink(str(path), "csv")
    sink.write([RECORD])
    sink.write([RECORD])
    sink.close()
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2
    assert rows[0]["title"] == RECORD["title"]
    assert list(rows[0]) == list(RECORD_FIELDS)


def test_append_keeps_existing_lines(tmp_path):
    path = tmp_path / "o.jsonl"
    path.write_text('{"url": "old"}\n')
    sink = open_sink(str(path), "jsonl", append=True)
    sink.write([{"url": "new"}])
    sink.close()
    assert [json.loads(x)["url"] for x in path.read_text().splitlines()] == ["old", "new"]


def test_unwritable_path_is_an_output_error(tmp_path):
    with pytest.raises(OutputError, match=r"^cannot open output '.*/missing/o.jsonl': "):
        open_sink(str(tmp_path / "missing" / "o.jsonl"), "jsonl")


def test_csv_cells_a_spreadsheet_would_run_are_neutralized_and_read_back(tmp_path):
    from crawler.records_io import read_records

    out = tmp_path / "out.csv"
    sink = open_sink(str(out), "csv")
    titles = ['=HYPERLINK("http://evil")', "+1", "-2 reasons", "@SUM(A1)", "\tx", "fine", "a=b"]
    sink.write([{"url": f"http://h/{i}", "title": t, "links": -1} for i, t in enumerate(titles)])
    sink.close()
    cells = [row.split(",", 1)[1] for row in out.read_text().splitlines()[1:]]
    assert [c.split(",")[0].strip('"') for c in cells] == [
        "'=HYPERLINK(\"\"http://evil\"\")", "'+1", "'-2 reasons", "'@SUM(A1)", "'\tx", "fine", "a=b",
    ]  # fmt: skip
    with out.open(newline="") as lines:
        records = list(read_records(lines, str(out)))
    assert [r["title"] for r in records] == titles
    assert {r["links"] for r in records} == {-1}  # numbers are not text: left as they are
