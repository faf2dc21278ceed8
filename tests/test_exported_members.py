import crawler

PUBLIC = [
    "RECORD_FIELDS", "ConfigError", "Crawl", "CrawlConfig", "CrawlProgress", "CrawlStats",
    "CrawlerError", "ErrorKind", "OutputError", "Page", "PageStream", "RecordsError", "SeedError",
    "SkipReason",
    "StateCorruptError", "StateError", "StateMismatchError", "__version__", "crawl",
    "iter_pages",
]  # fmt: skip


def test_public_api_is_pinned():
    assert crawler.__all__ == PUBLIC
    for name in crawler.__all__:
        assert getattr(crawler, name) is not None
