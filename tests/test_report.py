"""The crawl report: broken links with their referrers, redirects, figures, text and command."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys

import pytest

from crawler import RecordsError, crawl
from crawler.records_io import read_records
from crawler.report import build_report, format_report
from tests.conftest import BROKEN_LINKS, Site, broken_link_site, chain_graph

pytestmark = pytest.mark.timeout(60)
CRAWL = [sys.executable, "-m", "crawler"]


def absolute(site: Site, path: str) -> str:
    return path if path.startswith("http") else site.url(path)


def expected_broken(site: Site, *, parents_only: bool = False) -> dict[str, dict[str, set[str]]]:
    parents = {"/missing": {"/"}}  # the first page to link there: its record's parent
    return {
        label: {
            absolute(site, url): {
                site.url(p) for p in (parents.get(url, pages) if parents_only else pages)
            }
            for url, pages in links.items()
        }
        for label, links in BROKEN_LINKS.items()
    }


def broken_of(report) -> dict[str, dict[str, set[str]]]:
    return {
        label: {link.url: set(link.referrers) for link in links}
        for label, links in report.broken.items()
    }


async def crawl_to(tmp_path, site: Site, name: str = "out.jsonl", **options) -> str:
    out = tmp_path / name
    await crawl([site.url("/")], output=str(out), retries=0, **options)
    return str(out)


def report_of(path: str):
    with open(path, encoding="utf-8") as file:
        return build_report(read_records(file, path))


async def run(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *CRAWL, *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_every_broken_link_with_every_referrer_from_outlinks(serve, tmp_path):
    site = await serve(broken_link_site())
    report = report_of(await crawl_to(tmp_path, site, include_links=True))
    assert broken_of(report) == expected_broken(site)
    assert list(report.broken) == list(BROKEN_LINKS)
    assert report.broken_count == 5
    assert [(r.url, r.final_url, r.status, r.referrers) for r in report.redirects] == [
        (site.url("/moved"), site.url("/c"), 200, (site.url("/"),))
    ]


async def test_without_outlinks_the_parent_is_the_referrer(serve, tmp_path):
    site = await serve(broken_link_site())
    report = report_of(await crawl_to(tmp_path, site))
    assert broken_of(report) == expected_broken(site, parents_only=True)


async def test_csv_output_gives_the_same_report(serve, tmp_path):
    site = await serve(broken_link_site())
    path = await crawl_to(tmp_path, site, "out.csv", include_links=True, output_format="csv")
    assert broken_of(report_of(path)) == expected_broken(site)


async def test_broken_link_moved_to_a_404_names_its_target(serve, tmp_path):
    site = await serve(broken_link_site())
    report = report_of(await crawl_to(tmp_path, site))
    (moved,) = [x for x in report.broken["404 Not Found"] if x.url == site.url("/moved-to-missing")]
    assert (moved.final_url, moved.status, moved.error) == (
        site.url("/nowhere"),
        404,
        "http_status",
    )


RECORDS = [
    {"url": "http://h/", "final_url": "http://h/", "status": 200, "depth": 0, "parent": None,
     "bytes": 2048, "elapsed_ms": 30.0, "error": None},
    {"url": "http://h/a", "final_url": "http://h/a", "status": 200, "depth": 1,
     "parent": "http://h/", "bytes": 100, "elapsed_ms": 700.5, "error": None},
    {"url": "http://h/old", "final_url": "http://h/new", "status": 200, "depth": 1,
     "parent": "http://h/", "bytes": 10, "elapsed_ms": 120.0, "error": None},
    {"url": "http://h/x", "final_url": "http://h/x", "status": 404, "depth": 2,
     "parent": "http://h/a", "bytes": 0, "elapsed_ms": 6000.0, "error": "http_status"},
    {"url": "http://h/t", "final_url": "http://h/t", "status": None, "depth": 2,
     "parent": "http://h/a", "bytes": 0, "elapsed_ms": 49.9, "error": "timeout"},
]  # fmt: skip

REPORT_TEXT = """\
Crawl report of out.jsonl: 5 pages

Broken links: 2

404 Not Found (1)
  http://h/x
    linked from http://h/a

timeout (1)
  http://h/t
    linked from http://h/a

Redirects worth fixing: 1
  http://h/old -> http://h/new (200)
    linked from http://h/

Slowest pages:
      6000.0 ms  http://h/x
       700.5 ms  http://h/a
       120.0 ms  http://h/old

Largest pages:
     2.0 KiB  http://h/
       100 B  http://h/a
        10 B  http://h/old

Pages per depth:
    0: 1
    1: 2
    2: 2
"""


def test_report_text_is_exact():
    report = build_report(RECORDS, top=3)
    assert format_report(report, "out.jsonl") == REPORT_TEXT


def test_report_figures():
    report = build_report(RECORDS)
    assert report.status_classes == {"2xx": 3, "4xx": 1, "none": 1}
    assert report.depths == {0: 1, 1: 2, 2: 2}
    assert dict(report.response_times) == {
        "< 50 ms": 2, "< 100 ms": 0, "< 250 ms": 1, "< 500 ms": 0, "< 1000 ms": 1,
        "< 2500 ms": 0, "< 5000 ms": 0, ">= 5000 ms": 1,
    }  # fmt: skip


def test_outlinks_match_in_canonical_form():
    records = [
        {"url": "http://h/", "status": 200, "outlinks": ["http://H:80/q?b=2&a=1"]},
        {"url": "http://h/q?a=1&b=2", "status": 503, "parent": "http://h/", "error": None},
    ]
    (link,) = build_report(records).broken["503 Service Unavailable"]
    assert link.referrers == ("http://h/",)


def test_records_missing_optional_fields_still_report():
    report = build_report([{"url": "http://h/", "status": 500}])
    assert [link.url for link in report.broken["500 Internal Server Error"]] == ["http://h/"]
    assert (report.slowest, report.largest, report.depths) == ((), (), {})


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['{"url": "http://h/"}', "{oops"], "f:2: not a JSON record: Expecting property name"),
        (["", '{"status": 200}'], "f:2: not a crawl record (no 'url')"),
        (["a,b", "1,2"], "f: not a crawl output (no 'url' column)"),
        (["url,status", "http://h/,abc"], "f:2: bad value: invalid literal for int()"),
    ],
)
def test_unreadable_records_name_file_and_line(lines, message):
    with pytest.raises(RecordsError, match=f"^{re.escape(message)}"):
        list(read_records(lines, "f"))


async def test_report_command_prints_the_broken_links_and_gates_on_them(serve, tmp_path):
    site = await serve(broken_link_site())
    path = await crawl_to(tmp_path, site, include_links=True)
    code, out, err = await run("report", path, "--fail-on-broken")
    assert (code, err) == (1, "")
    section = out.split("\n\nBroken links: 5\n\n")[1].split("\n\nRedirects worth fixing:")[0]
    assert section == "\n\n".join(
        f"{label} ({len(links)})\n"
        + "\n".join(
            f"  {url}{' -> ' + site.url('/nowhere') if url.endswith('moved-to-missing') else ''}\n"
            + "\n".join(f"    linked from {page}" for page in sorted(pages))
            for url, pages in sorted(links.items())
        )
        for label, links in expected_broken(site).items()
    )
    code, out, _ = await run("report", path)
    assert code == 0


async def test_fail_on_broken_passes_a_clean_site(serve, tmp_path):
    site = await serve(Site(pages=chain_graph(5, fanout=2)))
    out = tmp_path / "out.jsonl"
    assert (await run(site.url("/p0"), "-o", str(out), "--fail-on-broken", "-q"))[:2] == (0, "")
    assert (await run("report", str(out), "--fail-on-broken", "-q")) == (0, "", "")


async def test_crawl_fail_on_broken_exits_1_on_a_broken_site(serve, tmp_path):
    site = await serve(broken_link_site())
    out = str(tmp_path / "out.jsonl")
    code, _, err = await run(site.url("/"), "-o", out, "--retries", "0", "--fail-on-broken", "-q")
    assert (code, err) == (1, "")
    assert (await run(site.url("/"), "-o", out, "--retries", "0", "-q"))[0] == 0


async def test_report_bad_input_is_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"url": "http://h/"}\nnot json\n')
    code, out, err = await run("report", str(bad))
    assert (code, out) == (2, "")
    assert err == f"crawl: error: {bad}:2: not a JSON record: Expecting value\n"
    code, _, err = await run("report", str(tmp_path / "none.jsonl"))
    assert (code, err) == (2, f"crawl: error: cannot read '{tmp_path}/none.jsonl': "
                              "No such file or directory\n")  # fmt: skip
    code, _, err = await run("report")
    assert (code, err) == (2, "crawl: error: the following arguments are required: FILE\n")


def test_report_reads_stdin():
    lines = "".join(json.dumps(r) + "\n" for r in RECORDS)
    result = subprocess.run(
        [*CRAWL, "report", "-", "--top", "3"],
        input=lines, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    expected = REPORT_TEXT.replace("out.jsonl", "-", 1)
    assert (result.returncode, result.stdout, result.stderr) == (0, expected, "")
