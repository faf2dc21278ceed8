"""A small web scraper on producer/consumer queues, with asyncio, aiohttp and beautifulsoup4.

Run from the repository root::

    python examples/asyncio/real_world_example.py [URL ...] [--workers 4] [--max-depth 3]
        [--maxsize 2] [--use-crawler]

Without a URL it serves ``examples/site/`` on 127.0.0.1 (on a port the system picks) and crawls
that, so it runs offline. ``examples/threaded/real_world_example.py`` does the same with threads
and the standard library; diff the two.

The pipeline: a producer seeds URLs into ``urls``; workers (the consumers) fetch each page, extract
its title and links, put new same-site links back on ``urls`` and the result on ``results``; a
reporter (the consumer of ``results``) prints what was found. ``--use-crawler`` does the same job
with this repository's ``crawler`` package instead, in a few lines (see ``crawl_with_package``).

Output: ``page STATUS URL "TITLE" links=N`` or ``error URL REASON`` for each URL, exactly once,
then a site map and one ``summary key=value ...`` line.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlsplit

import aiohttp
from aiohttp import web
from bs4 import BeautifulSoup

SITE_DIR = Path(__file__).resolve().parent.parent / "site"
# Seconds for one whole request: a server that stops answering must not hold a worker forever.
FETCH_TIMEOUT_SECONDS = 5.0
# Bytes read from one response at most: a huge (or endless) page must not fill memory.
MAX_BYTES = 1024 * 1024
# The reporter waits for one result at a time, and every result arrives within one fetch, so
# waiting three fetches' time means a task died: give up instead of hanging.
GET_TIMEOUT_SECONDS = 3 * FETCH_TIMEOUT_SECONDS
# A whole crawl of the example site takes well under a second; one that has not finished in
# this many seconds is stuck, and waiting on it forever would be a bug.
CRAWL_TIMEOUT_SECONDS = 60.0
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
    """State the tasks share. One thread runs them all, so no lock is needed."""

    start: str
    max_depth: int
    urls: asyncio.Queue[tuple[str, int]]  # (url, depth); unbounded, see enqueue()
    results: asyncio.Queue[Result | None]  # bounded: the backpressure on the workers
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
        if url in self.seen:
            return
        self.seen.add(url)
        # put_nowait() never fails: urls is unbounded. The workers both drain and feed it, and
        # a bounded queue that its own consumers feed deadlocks once all of them wait in put().
        self.urls.put_nowait((url, depth))


@dataclass
class Report:
    """What the reporter collected, by URL; ``add`` prints each result as it comes."""

    pages: dict[str, Result] = field(default_factory=dict)
    errors: dict[str, Result] = field(default_factory=dict)

    def add(self, result: Result) -> None:
        if result.error is None:
            self.pages[result.url] = result
            print(f'page {result.status} {result.url} "{result.title}" links={len(result.links)}')
        else:
            self.errors[result.url] = result
            print(f"error {result.url} {result.error}")


def load_site(directory: Path) -> dict[str, bytes]:
    """Read the site's pages by URL path; a directory's path serves its index.html."""
    pages = {}
    for file in sorted(directory.rglob("*.html")):
        path = "/" + file.relative_to(directory).as_posix()
        pages[path] = file.read_bytes()
        if file.name == "index.html":
            pages[path.removesuffix("index.html")] = pages[path]
    return pages


async def serve_local_site() -> tuple[web.AppRunner, str]:
    """Serve ``examples/site/`` on 127.0.0.1; port 0 lets the system pick a free port."""
    pages = load_site(SITE_DIR)  # read up front: no blocking file I/O inside the handler

    async def handler(request: web.Request) -> web.Response:
        if request.path not in pages:
            raise web.HTTPNotFound()
        return web.Response(body=pages[request.path], content_type="text/html")

    app = web.Application()
    app.router.add_get("/{path:.*}", handler)
    runner = web.AppRunner(app, access_log=None)  # keep the access log out of the output
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}/"


async def fetch(session: aiohttp.ClientSession, url: str) -> Result:
    """Fetch and parse one page. Network and HTTP errors become a Result, never an exception."""
    try:
        async with session.get(url) as response:
            if response.status >= 400:
                return Result(url, response.status, error=f"HTTP {response.status}")
            status, is_html = response.status, response.content_type == "text/html"
            charset = response.charset or "utf-8"
            body = await response.content.read(MAX_BYTES)
    except (aiohttp.ClientError, TimeoutError) as exc:  # the session's timeout is a TimeoutError
        return Result(url, None, error=f"{type(exc).__name__}: {exc}")
    if not is_html:
        return Result(url, status)
    # Parsing is synchronous and blocks the loop while it runs: fine for small pages; for big
    # ones, hand it to a thread with asyncio.to_thread().
    soup = BeautifulSoup(body.decode(charset, errors="replace"), "lxml")
    title = soup.title.get_text(strip=True) if soup.title else ""
    links = tuple(urljoin(url, str(a["href"])) for a in soup.find_all("a", href=True))
    return Result(url, status, title, links)


async def producer(crawl: Crawl, seeds: list[str]) -> None:
    """Seed the crawl. A bad seed is reported and skipped; the others still go in."""
    for seed in seeds:
        try:
            if urlsplit(seed).scheme not in ("http", "https"):
                raise ValueError(f"not an http(s) URL: {seed!r}")
            crawl.enqueue(seed, depth=0)
        except ValueError as exc:
            # Exception in the producer: skip this seed, keep seeding.
            crawl.bad_seeds += 1
            print(f"[producer] skipped seed: {exc}")


async def handle(
    name: str, crawl: Crawl, session: aiohttp.ClientSession, url: str, depth: int
) -> None:
    """Fetch one URL, queue its links, hand the result to the reporter."""
    try:
        result = await fetch(session, url)
    except Exception as exc:
        # Exception in the consumer: a page that breaks the parser is reported like any
        # other error, and the worker goes on with the next URL.
        result = Result(url, None, error=f"{type(exc).__name__}: {exc}")
    print(f"[{name}] fetched {url} (depth {depth})")
    # New links go on the queue *before* this URL's task_done(), so the unfinished count
    # never drops to zero while there is still work: that is what makes urls.join() exact.
    for link in result.links:
        crawl.enqueue(link, depth + 1)
    # Backpressure: put() waits while the reporter is maxsize results behind.
    await crawl.results.put(result)
    crawl.sent += 1
    crawl.max_ahead = max(crawl.max_ahead, crawl.sent - crawl.reported)


async def worker(name: str, crawl: Crawl, session: aiohttp.ClientSession) -> None:
    """Take URLs until cancelled. No sentinel and no timeout: run() cancels the workers."""
    while True:
        url, depth = await crawl.urls.get()  # the cancellation arrives here, between URLs
        try:
            await handle(name, crawl, session, url, depth)
        finally:
            # task_done() for every get(), in a finally so that an exception still counts
            # the URL; otherwise urls.join() would wait forever.
            crawl.urls.task_done()


async def reporter(crawl: Crawl, report: Report) -> None:
    """Report each result as it arrives; stop at the sentinel."""
    while True:
        try:
            result = await asyncio.wait_for(crawl.results.get(), timeout=GET_TIMEOUT_SECONDS)
        except TimeoutError:
            print(f"[reporter] gave up: nothing arrived for {GET_TIMEOUT_SECONDS} s")
            return
        try:
            if result is SENTINEL:
                return
            await asyncio.sleep(REPORT_SECONDS)
            report.add(result)
            crawl.reported += 1
        finally:
            crawl.results.task_done()


async def crawl_by_hand(seeds: list[str], args: argparse.Namespace) -> tuple[Crawl, Report]:
    """Crawl from ``seeds`` with ``args.workers`` tasks; return the state and the report."""
    crawl = Crawl(seeds[0], args.max_depth, asyncio.Queue(), asyncio.Queue(maxsize=args.maxsize))
    report = Report()
    timeout = aiohttp.ClientTimeout(total=FETCH_TIMEOUT_SECONDS)
    # TaskGroup: leaving the block waits for every task, and an unexpected exception in one
    # cancels the others instead of leaving them running unseen.
    async with aiohttp.ClientSession(timeout=timeout) as session, asyncio.TaskGroup() as group:
        group.create_task(reporter(crawl, report), name="reporter")
        workers = [
            group.create_task(worker(f"worker-{i}", crawl, session), name=f"worker-{i}")
            for i in range(1, args.workers + 1)
        ]
        await group.create_task(producer(crawl, seeds), name="producer")

        # Completion. Once the seeds are in, urls.join() returns when every URL, discovered
        # ones included, is done; wait_for() turns a stuck crawl into an error, not a hang.
        await asyncio.wait_for(crawl.urls.join(), timeout=CRAWL_TIMEOUT_SECONDS)
        # Cancellation instead of sentinels: every URL is done, so each worker is idle in
        # get() (its last put() on results returned before its task_done()).
        for task in workers:
            task.cancel()
        # The reporter gets a sentinel instead: it must first drain what is still queued.
        await crawl.results.put(SENTINEL)
        await crawl.results.join()
    return crawl, report


async def crawl_with_package(seeds: list[str], args: argparse.Namespace) -> Report:
    """The same crawl with this repository's ``crawler`` package: its queue, workers, scope,
    deduplication and completion replace everything in ``crawl_by_hand``."""
    from crawler import Page, crawl  # imported here: only --use-crawler needs the package

    report = Report()

    def on_page(page: Page) -> None:
        error = None
        if page.error is not None:
            error = f"HTTP {page.status}" if page.error == "http_status" else page.error
        report.add(Result(page.url, page.status, page.title or "", page.links, error))

    stats = await crawl(seeds, on_page=on_page, max_depth=args.max_depth, concurrency=args.workers)
    print(f"crawler package: {stats.pages} fetches, stop reason {stats.stop_reason}")
    return report


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("urls", nargs="*", help="start URLs (default: the local example site)")
    parser.add_argument("--workers", type=int, default=4, help="fetching tasks (default 4)")
    parser.add_argument("--max-depth", type=int, default=3, help="link hops (default 3)")
    parser.add_argument("--maxsize", type=int, default=2, help="results queue bound (default 2)")
    parser.add_argument(
        "--use-crawler", action="store_true", help="crawl with the crawler package instead"
    )
    return parser.parse_args(argv)


def print_report(report: Report, crawl: Crawl | None, maxsize: int) -> None:
    print(f"site map ({len(report.pages)} pages):")
    for url in sorted(report.pages):
        print(f"  {urlsplit(url).path or '/'}  {report.pages[url].title}")
    totals = f"summary pages={len(report.pages)} errors={len(report.errors)}"
    if crawl is not None:
        ahead = crawl.max_ahead
        print(f"backpressure: workers ran at most {ahead} results ahead (bound {maxsize + 1})")
        totals += f" bad_seeds={crawl.bad_seeds} fetched={crawl.sent} maxsize={maxsize}"
        totals += f" max_ahead={ahead}"
    print(totals)


async def run(args: argparse.Namespace) -> int:
    runner = None
    seeds = args.urls
    if not seeds:
        runner, start = await serve_local_site()
        seeds = [start]
        print(f"serving {SITE_DIR.name}/ at {start}")
    try:
        if args.use_crawler:
            report, crawl = await crawl_with_package(seeds, args), None
        else:
            crawl, report = await crawl_by_hand(seeds, args)
    except ImportError as exc:
        print(f"--use-crawler needs the crawler package (pip install -e .): {exc}", file=sys.stderr)
        return 2
    finally:
        if runner is not None:
            await runner.cleanup()
    print_report(report, crawl, args.maxsize)
    return 0 if report.pages else 1


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
