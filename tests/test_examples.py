"""Run every example in ``examples/`` as a subprocess and check what it printed.

The classic examples print one ``produced item-...`` line per item put on the queue, one
``consumed item-...`` line per item taken off it and a final ``summary key=value ...`` line.
The checks here compare the multiset of consumed items with the set of produced ones, so an
example that loses or duplicates an item fails.

The backpressure bound asserted is ``max_ahead <= maxsize + consumers``: at any moment at most
``maxsize`` items wait in the queue and each consumer holds at most one more (taken but not yet
counted as consumed). A producer counts an item only after ``put()`` has accepted it, so items a
blocked producer holds do not count.
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
import threading
from collections import Counter
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
FLAVOURS = ["threaded", "asyncio"]
# The budget for one run; the examples take well under a second.
RUN_TIMEOUT_SECONDS = 10
# Inputs the examples treat as broken: the producer skips every sixth, the consumer fails on
# every seventh (see make_item() and process() in each example).
PRODUCER_BAD_EVERY = 6
CONSUMER_BAD_EVERY = 7

ITEM_LINE = r"^\[(?P<who>[\w-]+)\] {verb} (?P<item>item-[\d-]+) \((?P<rest>[^\n]*)\)$"


def run_example(path: str, *args: str) -> str:
    """Run ``examples/<path>`` from the repository root; return its stdout."""
    # PYTHONPATH: --use-crawler imports this checkout's crawler package, however (or whether)
    # it is installed. The other examples import nothing from the repository.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / path), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""
    return result.stdout


def summary(out: str) -> dict[str, int]:
    lines = [line for line in out.splitlines() if line.startswith("summary ")]
    assert len(lines) == 1, out
    return {key: int(value) for key, value in (f.split("=") for f in lines[0].split()[1:])}


def lines_of(out: str, verb: str) -> list[re.Match[str]]:
    return list(re.finditer(ITEM_LINE.format(verb=verb), out, re.MULTILINE))


def expected_items(items: int, producers: int | None = None) -> list[str]:
    numbers = [n for n in range(1, items + 1) if n % PRODUCER_BAD_EVERY]
    if producers is None:
        return [f"item-{n}" for n in numbers]
    return [f"item-{p}-{n}" for p in range(1, producers + 1) for n in numbers]


def check_run(
    out: str, *, items: int, maxsize: int, consumers: int, producers: int | None = None
) -> dict[str, int]:
    """Assert every produced item was consumed exactly once, the totals and the bound."""
    expected = Counter(expected_items(items, producers))
    produced = Counter(m["item"] for m in lines_of(out, "produced"))
    consumed = Counter(m["item"] for m in lines_of(out, "consumed"))
    assert produced == expected
    assert consumed == expected, f"lost: {expected - consumed}, extra: {consumed - expected}"

    totals = summary(out)
    failed = sum(int(item.rsplit("-", 1)[1]) % CONSUMER_BAD_EVERY == 0 for item in expected)
    bad_inputs = (items // PRODUCER_BAD_EVERY) * (producers or 1)
    assert totals["produced"] == totals["consumed"] == sum(expected.values())
    assert totals["failed"] == failed
    assert totals["producer_errors"] == bad_inputs
    assert totals["maxsize"] == maxsize
    assert totals["consumers"] == consumers

    aheads = [int(re.search(r"(\d+) ahead", m["rest"])[1]) for m in lines_of(out, "produced")]
    assert max(aheads) == totals["max_ahead"]
    assert totals["bound"] == maxsize + consumers
    assert totals["max_ahead"] <= maxsize + consumers
    return totals


CLASSIC_RUNS = [
    # (file, arguments, items, maxsize, consumers, producers)
    ("basic_example.py", [], 10, 3, 1, None),
    ("basic_example.py", ["--items", "50", "--maxsize", "2"], 50, 2, 1, None),
    ("multiple_consumers.py", [], 20, 3, 3, None),
    (
        "multiple_consumers.py",
        ["--items", "60", "--maxsize", "2", "--consumers", "5"],
        60,
        2,
        5,
        None,
    ),
    ("multiple_producers.py", [], 8, 4, 3, 3),
    (
        "multiple_producers.py",
        ["--producers", "4", "--items", "15", "--consumers", "2", "--maxsize", "3"],
        15,
        3,
        2,
        4,
    ),
]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize(
    ("name", "args", "items", "maxsize", "consumers", "producers"), CLASSIC_RUNS
)
def test_classic_example(
    flavour: str,
    name: str,
    args: list[str],
    items: int,
    maxsize: int,
    consumers: int,
    producers: int | None,
) -> None:
    out = run_example(f"{flavour}/{name}", *args)
    check_run(out, items=items, maxsize=maxsize, consumers=consumers, producers=producers)
    stops = len(re.findall(r"^\[consumer(-\d+)?\] got (a|the) sentinel, stopping$", out, re.M))
    assert stops == consumers  # one sentinel per consumer, each taken exactly once


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("name", "items", "consumers", "producers"),
    [
        ("basic_example.py", 10, 1, None),
        ("multiple_consumers.py", 20, 3, None),
        ("multiple_producers.py", 8, 3, 3),
    ],
)
def test_asyncio_example_stopped_by_cancellation(
    name: str, items: int, consumers: int, producers: int | None
) -> None:
    out = run_example(f"asyncio/{name}", "--stop", "cancel")
    maxsize = summary(out)["maxsize"]
    check_run(out, items=items, maxsize=maxsize, consumers=consumers, producers=producers)
    assert "sentinel" not in out


@pytest.mark.timeout(30)
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_backpressure_holds_the_producer_back(flavour: str) -> None:
    out = run_example(
        f"{flavour}/multiple_consumers.py", "--items", "40", "--maxsize", "1", "--consumers", "2"
    )
    totals = check_run(out, items=40, maxsize=1, consumers=2)
    assert totals["max_ahead"] <= 1 + 2
    sizes = [int(re.search(r"queue (\d+)/1,", m["rest"])[1]) for m in lines_of(out, "produced")]
    assert max(sizes) <= 1


@pytest.mark.timeout(30)
def test_without_a_bound_the_producer_runs_ahead() -> None:
    # The contrast that shows the bound comes from maxsize: with an unbounded queue (0) the
    # asyncio producer never has to wait in put(), so it produces everything before the
    # consumer takes its first item. One thread runs both, so this is deterministic.
    out = run_example("asyncio/basic_example.py", "--items", "30", "--maxsize", "0")
    totals = summary(out)
    assert totals["max_ahead"] == totals["produced"] == len(expected_items(30))


def test_the_check_fails_when_an_item_is_lost_or_duplicated() -> None:
    out = run_example("asyncio/basic_example.py")
    check_run(out, items=10, maxsize=3, consumers=1)
    lost = out.replace("[consumer] consumed item-4 (ok)\n", "")
    with pytest.raises(AssertionError, match="lost"):
        check_run(lost, items=10, maxsize=3, consumers=1)
    duplicated = out.replace(
        "[consumer] consumed item-4 (ok)\n", "[consumer] consumed item-4 (ok)\n" * 2
    )
    with pytest.raises(AssertionError, match="extra"):
        check_run(duplicated, items=10, maxsize=3, consumers=1)


# The local site in examples/site/, by path: what a full crawl from "/" must find.
SITE_PAGES = {
    "/": "Example Bakery",
    "/about.html": "About the Bakery",
    "/products.html": "Our Products",
    "/contact.html": "Contact",
    "/blog/": "Bakery Blog",
    "/blog/sourdough.html": "Why Sourdough Takes Two Days",
    "/blog/croissants.html": "Laminating Croissant Dough",
}
SITE_ERRORS = {"/discontinued.html": "HTTP 404"}  # linked from products.html, not shipped
PAGE_LINE = re.compile(r'^page (?P<status>\d+) (?P<url>\S+) "(?P<title>[^"]*)" links=\d+$', re.M)
ERROR_LINE = re.compile(r"^error (?P<url>\S+) (?P<reason>.+)$", re.M)


def found(out: str) -> tuple[dict[str, str], dict[str, str], str]:
    """Return the pages (path: title) and errors (path: reason) reported, and their host.

    Asserts each URL was reported exactly once and all on one host.
    """
    pages = list(PAGE_LINE.finditer(out))
    errors = list(ERROR_LINE.finditer(out))
    urls = Counter(m["url"] for m in [*pages, *errors])
    assert all(n == 1 for n in urls.values()), urls
    hosts = {urlsplit(url).netloc for url in urls}
    assert len(hosts) == 1, hosts  # the link to example.org was not followed
    assert all(m["status"] == "200" for m in pages)
    return (
        {urlsplit(m["url"]).path: m["title"] for m in pages},
        {urlsplit(m["url"]).path: m["reason"] for m in errors},
        hosts.pop(),
    )


@pytest.mark.timeout(30)
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_real_world_example_crawls_the_local_site(flavour: str) -> None:
    out = run_example(f"{flavour}/real_world_example.py")
    pages, errors, host = found(out)
    assert pages == SITE_PAGES
    assert errors == SITE_ERRORS
    assert re.search(rf"^serving site/ at http://{re.escape(host)}/$", out, re.M)
    assert out.count(" fetched ") == len(SITE_PAGES) + len(SITE_ERRORS)  # each URL once
    totals = summary(out)
    assert totals["pages"] == len(SITE_PAGES)
    assert totals["errors"] == len(SITE_ERRORS)
    assert totals["fetched"] == len(SITE_PAGES) + len(SITE_ERRORS)
    assert totals["bad_seeds"] == 0
    # One reporter: maxsize results wait in its queue, and it holds at most one more.
    assert totals["max_ahead"] <= totals["maxsize"] + 1
    assert "gave up" not in out


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def other_site() -> Iterator[str]:
    """Serve examples/site/ from the test process: "another site" for the URL argument."""
    handler = functools.partial(_QuietHandler, directory=str(EXAMPLES / "site"))
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield f"http://127.0.0.1:{server.server_address[1]}/"
        server.shutdown()
        thread.join()


@pytest.mark.timeout(30)
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_real_world_example_crawls_the_url_given(flavour: str, other_site: str) -> None:
    # Seeded at /blog/ and one hop deep: the blog index, its two posts and the home page it
    # links to. A seed that is not an http(s) URL is skipped by the producer, not fatal.
    out = run_example(
        f"{flavour}/real_world_example.py",
        f"{other_site}blog/",
        "ftp://127.0.0.1/nothing",
        "--max-depth",
        "1",
        "--workers",
        "2",
        "--maxsize",
        "1",
    )
    pages, errors, host = found(out)
    assert f"http://{host}/" == other_site
    assert "serving" not in out
    assert pages == {
        path: SITE_PAGES[path]
        for path in ["/", "/blog/", "/blog/sourdough.html", "/blog/croissants.html"]
    }
    assert errors == {}
    totals = summary(out)
    assert totals["bad_seeds"] == 1
    assert totals["max_ahead"] <= 1 + 1


def _crawler_api_missing() -> str | None:
    """Why the crawler package's crawl() cannot be used here, or None if it can."""
    result = subprocess.run(
        [sys.executable, "-c", "from crawler import Page, crawl"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        check=False,
    )
    return result.stderr.strip().splitlines()[-1] if result.returncode else None


@pytest.mark.timeout(30)
def test_real_world_example_with_the_crawler_package_finds_the_same_pages() -> None:
    missing = _crawler_api_missing()
    if missing:
        pytest.skip(f"crawler.crawl / crawler.Page not available yet: {missing}")
    out = run_example("asyncio/real_world_example.py", "--use-crawler")
    pages, errors, _ = found(out)
    assert pages == SITE_PAGES
    assert errors == SITE_ERRORS
    assert re.search(r"^crawler package: 8 fetches, stop reason complete$", out, re.M)


@pytest.mark.timeout(60)
def test_the_quickstart_server_serves_while_the_crawl_runs_then_stops(tmp_path: Path) -> None:
    """The README's quickstart: no server log in the crawl's output, no server left after."""
    out = tmp_path / "out.jsonl"
    crawl = [sys.executable, "-m", "crawler", "{url}", "-o", str(out), "-q"]
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "serve.py"), str(EXAMPLES / "site"), "--", *crawl],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == len(SITE_PAGES) + len(SITE_ERRORS)
    assert all(r["url"].startswith("http://127.0.0.1:") for r in records)
