"""A small web scraper on producer/consumer queues, with threads and the standard library.

Run from the repository root::

    python examples/threaded/real_world_example.py [URL ...] [--workers 4] [--max-depth 3]
        [--maxsize 2]

Without a URL it serves ``examples/site/`` on 127.0.0.1 (on a port the system picks) and crawls
that, so it runs offline. ``examples/asyncio/real_world_example.py`` does the same with asyncio,
aiohttp and beautifulsoup4; diff the two.

The pipeline: a producer seeds URLs into ``urls``; workers (the consumers) fetch each page, extract
its title and links, put new same-site links back on ``urls`` and the result on ``results``; a
reporter (the consumer of ``results``) prints what was found.

Output: ``page STATUS URL "TITLE" links=N`` or ``error URL REASON`` for each URL, exactly once,
then a site map and one ``summary key=value ...`` line.
"""

from __future__ import annotations

import argparse
import functools
import queue
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlsplit

SITE_DIR = Path(__file__).resolve().parent.parent / "site"
# Seconds for one whole request: a server that stops answering must not hold a worker forever.
FETCH_TIMEOUT_SECONDS = 5.0
# Bytes read from one response at most: a huge (or endless) page must not fill memory.
MAX_BYTES = 1024 * 1024
# Every wait in get() ends within one fetch (someone finishes a page: new URLs or the sentinels
# follow), so waiting three fetches' time means a thread died: give up instead of hanging.
GET_TIMEOUT_SECONDS = 3 * FETCH_TIMEOUT_SECONDS
# Simulated cost of reporting one page (think: a row written to a slow database). It makes the
# reporter the slow side, so the bounded results queue fills and holds the workers back.
REPORT_SECONDS = 0.02
SENTINEL = None


@dataclass(frozen=True)
class Result:
    """What a worker found at one URL."""

    url: str
    status: int | None
    title: str = ""
    links: tuple[str, ...] = ()
    error: str | None = None


@dataclass
class Crawl:
    """State the threads share. ``lock`` guards ``seen`` and the counters."""

    start: str
    max_depth: int
    urls: queue.Queue[tuple[str, int] | None]  # (url, depth); unbounded, see enqueue()
    results: queue.Queue[Result | None]  # bounded: the backpressure on the workers
    lock: threading.Lock = field(default_factory=threading.Lock)
    seen: set[str] = field(default_factory=set)
    sent: int = 0  # results put on the results queue
    reported: int = 0  # results the reporter has finished with
    max_ahead: int = 0  # the most results sent but not yet reported, at any moment
    bad_seeds: int = 0

    def enqueue(self, url: str, depth: int) -> None:
        """Queue ``url`` once, if it is on the start URL's site and not too deep."""
        url = urldefrag(url).url  # "contact.html#map" is the page "contact.html"
        if urlsplit(url).netloc != urlsplit(self.start).netloc or depth > self.max_depth:
            return
        with self.lock:
            if url in self.seen:
                return
            self.seen.add(url)
        # Never blocks: urls is unbounded. The workers both drain and feed it, and a bounded
        # queue that its own consumers feed deadlocks once all of them wait in put().
        self.urls.put((url, depth))


_print_lock = threading.Lock()


def say(line: str) -> None:
    """Print one line; the lock keeps lines of different threads from interleaving."""
    with _print_lock:
        print(line, flush=True)


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Keep the server's access log out of the example's output."""


def serve_local_site() -> ThreadingHTTPServer:
    """Serve ``examples/site/`` on 127.0.0.1; port 0 lets the system pick a free port."""
    handler = functools.partial(QuietHandler, directory=str(SITE_DIR))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, name="site", daemon=True).start()
    return server


class PageParser(HTMLParser):
    """Collect the <title> text and every <a href> of one page."""

    def __init__(self) -> None:
        super().__init__()
        self.title = ""
        self.hrefs: list[str] = []
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_title = tag == "title"
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.hrefs.append(href)

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data.strip()


def fetch(url: str) -> Result:
    """Fetch and parse one page. Network and HTTP errors become a Result, never an exception."""
    try:
        with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_SECONDS) as response:
            status = response.status
            is_html = response.headers.get_content_type() == "text/html"
            charset = response.headers.get_content_charset() or "utf-8"
            body = response.read(MAX_BYTES)
    except urllib.error.HTTPError as exc:
        exc.close()
        return Result(url, exc.code, error=f"HTTP {exc.code}")
    except OSError as exc:  # URLError, timeouts, refused connections
        return Result(url, None, error=f"{type(exc).__name__}: {exc}")
    if not is_html:
        return Result(url, status)
    parser = PageParser()
    parser.feed(body.decode(charset, errors="replace"))
    links = tuple(urljoin(url, href) for href in parser.hrefs)
    return Result(url, status, parser.title, links)


def producer(crawl: Crawl, seeds: list[str]) -> None:
    """Seed the crawl. A bad seed is reported and skipped; the others still go in."""
    for seed in seeds:
        try:
            if urlsplit(seed).scheme not in ("http", "https"):
                raise ValueError(f"not an http(s) URL: {seed!r}")
            crawl.enqueue(seed, depth=0)
        except ValueError as exc:
            # Exception in the producer: skip this seed, keep seeding.
            with crawl.lock:
                crawl.bad_seeds += 1
            say(f"[producer] skipped seed: {exc}")


def handle(name: str, crawl: Crawl, url: str, depth: int) -> None:
    """Fetch one URL, queue its links, hand the result to the reporter."""
    try:
        result = fetch(url)
    except Exception as exc:
        # Exception in the consumer: a page that breaks the parser is reported like any
        # other error, and the worker goes on with the next URL.
        result = Result(url, None, error=f"{type(exc).__name__}: {exc}")
    say(f"[{name}] fetched {url} (depth {depth})")
    # New links go on the queue *before* this URL's task_done(), so the unfinished count
    # never drops to zero while there is still work: that is what makes urls.join() exact.
    for link in result.links:
        crawl.enqueue(link, depth + 1)
    # Backpressure: put() blocks while the reporter is maxsize results behind.
    crawl.results.put(result)
    with crawl.lock:
        crawl.sent += 1
        crawl.max_ahead = max(crawl.max_ahead, crawl.sent - crawl.reported)


def worker(name: str, crawl: Crawl) -> None:
    """Take URLs until a sentinel arrives."""
    while True:
        try:
            # Timeout: without one, a lost sentinel would hang the program forever.
            entry = crawl.urls.get(timeout=GET_TIMEOUT_SECONDS)
        except queue.Empty:
            say(f"[{name}] gave up: nothing arrived for {GET_TIMEOUT_SECONDS} s")
            return
        try:
            if entry is SENTINEL:
                return
            handle(name, crawl, *entry)
        finally:
            # task_done() for every get(), in a finally so that an exception still counts
            # the URL; otherwise urls.join() would wait forever.
            crawl.urls.task_done()


@dataclass
class Report:
    """What the reporter collected, by URL."""

    pages: dict[str, Result] = field(default_factory=dict)
    errors: dict[str, Result] = field(default_factory=dict)


def reporter(crawl: Crawl, report: Report) -> None:
    """Print each result as it arrives; stop at the sentinel."""
    while True:
        try:
            result = crawl.results.get(timeout=GET_TIMEOUT_SECONDS)
        except queue.Empty:
            say(f"[reporter] gave up: nothing arrived for {GET_TIMEOUT_SECONDS} s")
            return
        try:
            if result is SENTINEL:
                return
            time.sleep(REPORT_SECONDS)
            if result.error is None:
                report.pages[result.url] = result
                say(f'page {result.status} {result.url} "{result.title}" links={len(result.links)}')
            else:
                report.errors[result.url] = result
                say(f"error {result.url} {result.error}")
            with crawl.lock:
                crawl.reported += 1
        finally:
            crawl.results.task_done()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("urls", nargs="*", help="start URLs (default: the local example site)")
    parser.add_argument("--workers", type=int, default=4, help="fetching threads (default 4)")
    parser.add_argument("--max-depth", type=int, default=3, help="link hops (default 3)")
    parser.add_argument("--maxsize", type=int, default=2, help="results queue bound (default 2)")
    return parser.parse_args(argv)


def run(seeds: list[str], args: argparse.Namespace) -> tuple[Crawl, Report]:
    """Crawl from ``seeds`` with ``args.workers`` threads; return the state and the report."""
    crawl = Crawl(seeds[0], args.max_depth, queue.Queue(), queue.Queue(maxsize=args.maxsize))
    report = Report()
    reporter_thread = threading.Thread(target=reporter, args=(crawl, report), name="reporter")
    workers = [
        threading.Thread(target=worker, args=(f"worker-{i}", crawl), name=f"worker-{i}")
        for i in range(1, args.workers + 1)
    ]
    producer_thread = threading.Thread(target=producer, args=(crawl, seeds), name="producer")
    for thread in [reporter_thread, *workers, producer_thread]:
        thread.start()

    # Completion, in pipeline order. Once the seeds are in, urls.join() returns when every URL,
    # discovered ones included, is done; then one sentinel per worker, then one for the reporter.
    producer_thread.join()
    crawl.urls.join()
    for _ in workers:
        crawl.urls.put(SENTINEL)
    for thread in workers:
        thread.join()
    crawl.results.put(SENTINEL)
    crawl.results.join()
    reporter_thread.join()
    return crawl, report


def print_report(crawl: Crawl, report: Report, maxsize: int) -> None:
    say(f"site map ({len(report.pages)} pages):")
    for url in sorted(report.pages):
        say(f"  {urlsplit(url).path or '/'}  {report.pages[url].title}")
    say(f"backpressure: workers ran at most {crawl.max_ahead} results ahead (bound {maxsize + 1})")
    say(
        f"summary pages={len(report.pages)} errors={len(report.errors)} "
        f"bad_seeds={crawl.bad_seeds} fetched={crawl.sent} maxsize={maxsize} "
        f"max_ahead={crawl.max_ahead}"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    server = None
    seeds = args.urls
    if not seeds:
        server = serve_local_site()
        seeds = [f"http://127.0.0.1:{server.server_address[1]}/"]
        say(f"serving {SITE_DIR.name}/ at {seeds[0]}")
    try:
        crawl, report = run(seeds, args)
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
    print_report(crawl, report, args.maxsize)
    return 0 if report.pages else 1


if __name__ == "__main__":
    sys.exit(main())
