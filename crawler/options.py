"""``CrawlOptions``: the keyword options of ``crawl()`` and ``iter_pages()``, typed.

One key per field of ``CrawlConfig``, with the type it accepts (a sequence wherever the
config keeps a tuple), so that editors complete them and mypy checks them:
``crawl(urls, max_pages=100)`` is checked, ``crawl(urls, max_page=100)`` is an error.
``tests/test_api.py`` holds this list to ``CrawlConfig``'s fields; what each option
means is written once, on ``CrawlConfig``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from crawler.config import OutputFormat


class CrawlOptions(TypedDict, total=False):
    """Every field of ``CrawlConfig``, as a keyword option (see ``CrawlConfig`` for each)."""

    concurrency: int
    queue_size: int | None
    max_pages: int | None
    max_depth: int | None
    time_limit: float | None
    timeout: float
    connect_timeout: float
    retries: int
    backoff: float
    max_retry_after: float
    retry_statuses: frozenset[int]
    max_redirects: int
    max_bytes: int
    max_url_length: int
    allow_domains: Sequence[str]
    deny_domains: Sequence[str]
    allow_patterns: Sequence[str]
    deny_patterns: Sequence[str]
    user_agent: str
    output: str | None
    output_format: OutputFormat
    lease_seconds: float
    fields: Sequence[str] | None
    include_links: bool
    state: str | None
    force_state: bool
    crawl_id: str | None
    worker_id: str | None
    per_host_concurrency: int
    delay: float
    max_crawl_delay: float
    obey_robots: bool
    respect_nofollow: bool
    sitemaps: Sequence[str]
    sitemaps_from_robots: bool
    max_pages_per_host: int | None
    max_repeated_segments: int | None
    log_skipped: bool
    schedule_size: int
    redis_outage_seconds: float
    headers: Mapping[str, str] | Sequence[tuple[str, str]]
    cookies: Mapping[str, str] | Sequence[tuple[str, str]]
    use_cookies: bool
    load_cookies: str | None
    save_cookies: str | None
    auth: tuple[str, str] | None
    proxy: str | None
    trust_env: bool
    insecure: bool
    ca_bundle: str | None
    client_cert: str | None
    client_key: str | None
    resolve: Sequence[str]
    allow_private: bool
    extract: Mapping[str, str] | Sequence[tuple[str, str]]
    max_text_bytes: int
    save_dir: str | None
    warc: str | None
    warc_max_size: int | None
    warc_cdx: bool
    recrawl: bool
    follow_canonical: bool
    trust_lastmod: bool
