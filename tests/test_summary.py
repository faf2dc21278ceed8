"""The end-of-crawl summary and ``--stats-json`` agree with the records the crawl wrote."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections import Counter
from types import MappingProxyType

import pytest

from crawler import crawl
from crawler.stats import CrawlStats
from crawler.summary import format_summary, human_bytes
from tests.conftest import broken_link_site

pytestmark = pytest.mark.timeout(60)
CRAWL = [sys.executable, "-m", "crawler"]


def expected_stats(records: list[dict[str, object]]) -> dict[str, object]:
    """The figures ``--stats-json`` must hold, computed from the records alone."""
    classes = Counter("none" if r["status"] is None else f"{r['status'] // 100}xx" for r in records)
    errors = Counter(r["error"] for r in records if r["error"])
    first_error: dict[object, object] = {}
    for r in records:
        if r["error"]:
            first_error.setdefault(r["error"], r["url"])
    hosts = Counter(str(r["url"]).split("/")[2] for r in records)
    times = sorted((r["elapsed_ms"] for r in records), reverse=True)
    return {
        "pages": len(records),
        "status_classes": dict(classes),
        "errors": dict(errors),
        "bytes": sum(r["bytes"] for r in records),
        "broken": sum(1 for r in records if r["error"] or (r["status"] or 0) >= 400),
        "error_examples": first_error,
        "top_hosts": [{"host": h, "pages": n} for h, n in hosts.most_common()],
        "slowest": times[:10],
    }


async def test_summary_and_stats_json_agree_with_the_records(serve, tmp_path):
    site = await serve(broken_link_site())
    out, stats_json = tmp_path / "out.jsonl", tmp_path / "stats.json"
    proc = await asyncio.create_subprocess_exec(
        *CRAWL, site.url("/"), "-o", str(out), "--retries", "0", "--stats-json", str(stats_json),
        stderr=subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    stats = json.loads(stats_json.read_text())
    expected = expected_stats(records)
    assert {k: stats[k] for k in expected if k != "slowest"} == {
        k: v for k, v in expected.items() if k != "slowest"
    }
    assert [page["elapsed_ms"] for page in stats["slowest"]] == expected["slowest"]
    assert stats["stop_reason"] == "complete"
    assert stats["skipped"] == {"duplicate": 3}
    lines = err.decode().splitlines()
    assert lines[0].startswith(f"crawl: {len(records)} pages in ")
    assert lines[1:6] == [
        "crawl: status: 2xx=4, 4xx=3, 5xx=1, none=1",
        "crawl: errors: connection=1 (e.g. http://127.0.0.1:1/refused), "
        f"http_status=4 (e.g. {stats['error_examples']['http_status']})",
        "crawl: broken links: 5",
        "crawl: skipped: duplicate=3",
        f"crawl: top hosts: {site.base.removeprefix('http://')}=8, 127.0.0.1:1=1",
    ]
    slowest = [f"{p['elapsed_ms']:.1f} ms {p['url']}" for p in stats["slowest"][:3]]
    assert lines[6:] == [f"crawl: slowest: {slowest[0]}"] + [
        f"crawl:          {line}" for line in slowest[1:]
    ]


async def test_the_api_returns_the_same_figures(serve, tmp_path):
    site = await serve(broken_link_site())
    out = tmp_path / "out.jsonl"
    stats = await crawl([site.url("/")], output=str(out), retries=0)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    expected = expected_stats(records)
    assert stats.as_dict()["error_examples"] == expected["error_examples"]
    assert stats.broken == expected["broken"] == 5
    assert [ms for _, ms in stats.slowest] == expected["slowest"]
    assert [{"host": h, "pages": n} for h, n in stats.top_hosts] == expected["top_hosts"]


def test_summary_text_is_exact():
    stats = CrawlStats(
        pages=3, status_classes=MappingProxyType({"2xx": 2, "4xx": 1}),
        errors=MappingProxyType({"http_status": 1}), skipped=MappingProxyType({}),
        bytes=3000, duration=1.5, pages_per_second=2.0, stop_reason="complete", broken=1,
        error_examples=MappingProxyType({"http_status": "http://h/x"}),
        top_hosts=(("h", 3),), slowest=(("http://h/x", 12.5),),
    )  # fmt: skip
    assert format_summary(stats) == "\n".join(
        [
            "crawl: 3 pages in 1.50 s (2.0 pages/s), 3000 bytes (2.9 KiB); complete",
            "crawl: status: 2xx=2, 4xx=1",
            "crawl: errors: http_status=1 (e.g. http://h/x)",
            "crawl: broken links: 1",
            "crawl: skipped: none",
            "crawl: top hosts: h=3",
            "crawl: slowest: 12.5 ms http://h/x",
        ]
    )


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (5 * 2**20, "5.0 MiB"),
        (2**42, "4096.0 GiB"),
    ],
)
def test_human_bytes(size, text):
    assert human_bytes(size) == text


def test_stats_json_to_an_unwritable_path_is_a_usage_error():
    result = subprocess.run(
        [*CRAWL, "http://127.0.0.1:1/", "--stats-json", "/nonexistent/dir/s.json"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert (result.returncode, result.stderr) == (
        2,
        "crawl: error: cannot write stats '/nonexistent/dir/s.json': No such file or directory\n",
    )
