"""crawler: a small, fast, crash-safe asyncio web crawler.

Crawl a site and get its statistics::

    stats = await crawl(["https://example.com/"], max_pages=100, output="out.jsonl")

or take the pages as they come::

    async for page in iter_pages(["https://example.com/"], max_depth=2):
        print(page.url, page.title)
"""

from crawler._version import __version__
from crawler.api import PageStream, crawl, iter_pages
from crawler.config import CrawlConfig
from crawler.engine import Crawl
from crawler.errors import (
    ConfigError,
    CrawlerError,
    OutputError,
    RecordsError,
    SeedError,
    StateCorruptError,
    StateError,
    StateMismatchError,
)
from crawler.models import RECORD_FIELDS, ErrorKind, Page, SkipReason
from crawler.stats import CrawlProgress, CrawlStats

__all__ = [
    "RECORD_FIELDS",
    "ConfigError",
    "Crawl",
    "CrawlConfig",
    "CrawlProgress",
    "CrawlStats",
    "CrawlerError",
    "ErrorKind",
    "OutputError",
    "Page",
    "PageStream",
    "RecordsError",
    "SeedError",
    "SkipReason",
    "StateCorruptError",
    "StateError",
    "StateMismatchError",
    "__version__",
    "crawl",
    "iter_pages",
]
