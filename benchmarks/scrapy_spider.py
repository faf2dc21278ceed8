"""A minimal Scrapy CrawlSpider, configured like our crawler, as the benchmark's reference.

Same concurrency, robots.txt ignored, no delay, no throttling, quiet logs. Every crawled page
becomes one JSON line with its ``url`` so the runner checks it like the other contenders.

Usage: python benchmarks/scrapy_spider.py START_URL -o OUT.jsonl [--concurrency 64]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.crawler import CrawlerProcess
from scrapy.linkextractors import LinkExtractor
from scrapy.spiders import CrawlSpider, Rule

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from scrapy.http import Response

DEFAULT_CONCURRENCY = 64


class SiteSpider(CrawlSpider):
    """Follow every on-site link; emit one item per page."""

    name = "bench"
    rules = (Rule(LinkExtractor(), callback="parse_item", follow=True),)

    def __init__(self, start_url: str, **kwargs: Any) -> None:
        host = urlsplit(start_url).hostname or ""
        # allowed_domains is what keeps the off-site links out, as scope does in our crawler.
        super().__init__(start_urls=[start_url], allowed_domains=[host], **kwargs)

    async def start(self) -> AsyncIterator[Request]:
        # The default start request has dont_filter=True, which keeps the seed out of the
        # dupefilter: Scrapy would fetch ``/`` a second time when a page links back to it.
        for request in self.start_requests():
            yield request

    def start_requests(self) -> Iterator[Request]:
        """Yield the seed request, deduplicated like every other (Scrapy < 2.13 calls this)."""
        for url in self.start_urls:
            yield Request(url)

    def parse_start_url(self, response: Response, **kwargs: Any) -> Iterator[dict[str, Any]]:
        # CrawlSpider emits nothing for start URLs by default; the seed is a crawled page too.
        yield from self.parse_item(response)

    def parse_item(self, response: Response) -> Iterator[dict[str, Any]]:
        """Emit the page's URL and status."""
        yield {"url": response.url, "status": response.status}


def settings(output: Path, concurrency: int) -> dict[str, Any]:
    """Return Scrapy settings that match our crawler's benchmark configuration."""
    return {
        "CONCURRENT_REQUESTS": concurrency,
        "CONCURRENT_REQUESTS_PER_DOMAIN": concurrency,
        "ROBOTSTXT_OBEY": False,
        "DOWNLOAD_DELAY": 0,
        "AUTOTHROTTLE_ENABLED": False,
        "LOG_LEVEL": "ERROR",
        "TELNETCONSOLE_ENABLED": False,
        "FEEDS": {str(output): {"format": "jsonlines", "overwrite": True}},
    }


def main(argv: list[str] | None = None) -> int:
    """Run the spider from the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("start_url")
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
    args = parser.parse_args(argv)
    process = CrawlerProcess(settings(args.output, args.concurrency))
    process.crawl(SiteSpider, start_url=args.start_url)
    process.start()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
