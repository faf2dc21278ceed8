import pytest

from crawler import ConfigError, CrawlConfig


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"concurrency": 0}, "concurrency must be >= 1, got 0"),
        ({"max_pages": -1}, "max_pages must be >= 1, got -1"),
        ({"max_depth": -1}, "max_depth must be >= 0, got -1"),
        ({"retries": 1.5}, "retries must be an integer, got 1.5"),
        ({"timeout": 0}, "timeout must be > 0, got 0"),
        ({"backoff": -1}, "backoff must be >= 0, got -1"),
        ({"time_limit": "x"}, "time_limit must be a number, got 'x'"),
        ({"allow_domains": ("a b",)}, "allow_domains: invalid domain 'a b'"),
        (
            {"deny_patterns": ("[",)},
            "deny_patterns: invalid regular expression '[': "
            "unterminated character set at position 0",
        ),
        ({"output_format": "xml"}, "output_format must be 'jsonl' or 'csv', got 'xml'"),
        ({"user_agent": " "}, "user_agent must not be empty"),
        ({"state": "redis://127.0.0.1:6379/0"}, "crawl_id is needed with a redis:// state"),
        ({"crawl_id": "demo"}, "crawl_id needs a redis:// state"),
        (
            {"state": "redis://h/0", "crawl_id": "a{b}"},
            "crawl_id must be a non-empty name without {}*?[]\\ or spaces",
        ),
        (
            {"state": "redis://h/0", "crawl_id": "c", "worker_id": "w 1"},
            "worker_id must be a non-empty name without {}*?[]\\ or spaces",
        ),
    ],
)
def test_invalid_values_name_the_option(options, message):
    with pytest.raises(ConfigError, match=f"^{__import__('re').escape(message)}$"):
        CrawlConfig(**options)


def test_config_error_is_a_value_error():
    with pytest.raises(ValueError):
        CrawlConfig(concurrency=-3)


def test_defaults_and_queue_size():
    config = CrawlConfig()
    assert (config.concurrency, config.retries, config.max_bytes) == (16, 2, 10 * 2**20)
    assert config.effective_queue_size == 32
    assert CrawlConfig(queue_size=1).effective_queue_size == 1


def test_frozen_and_keyword_only():
    config = CrawlConfig()
    with pytest.raises(AttributeError):
        config.concurrency = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        CrawlConfig(16)  # type: ignore[misc]


def test_from_options_names_unknown_options_and_accepts_lists():
    with pytest.raises(ConfigError, match=r"^unknown option\(s\): bogus$"):
        CrawlConfig.from_options({"bogus": 1})
    assert CrawlConfig.from_options({"allow_domains": ["a.com"]}).allow_domains == ("a.com",)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (("url", "bogus"), "fields: unknown field 'bogus' (valid: url, final_url, status, depth, "
         "parent, content_type, title, links, bytes, elapsed_ms, fetched_at, error, error_detail, "
         "outlinks, callback_error, text, markdown, saved_path, change, digest, simhash, canonical, duplicate_of)"),
        ((), "fields: no field given (valid: url, final_url, status, depth, parent, content_type, "
         "title, links, bytes, elapsed_ms, fetched_at, error, error_detail, outlinks, "
         "callback_error, text, markdown, saved_path, change, digest, simhash, canonical, duplicate_of)"),
        (("url", "status", "url"), "fields: repeated field(s): url"),
    ],
)  # fmt: skip
def test_invalid_fields_list_the_valid_ones(fields, message):
    with pytest.raises(ConfigError, match=f"^{__import__('re').escape(message)}$"):
        CrawlConfig(fields=fields)


def test_record_fields():
    assert CrawlConfig().record_fields[-1] == "error_detail"
    assert CrawlConfig(include_links=True).record_fields[-2:] == ("error_detail", "outlinks")
    assert CrawlConfig(fields=("title", "url")).record_fields == ("title", "url")
    both = CrawlConfig(fields=("outlinks", "url"), include_links=True)
    assert both.record_fields == ("outlinks", "url")
