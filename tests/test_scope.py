from crawler.config import CrawlConfig
from crawler.scope import Scope


def scope(**options):
    s = Scope(CrawlConfig(**options))
    s.add_seed_host("example.com")
    return s


def test_seed_hosts_are_in_scope_exactly():
    s = scope()
    assert s.check("http://example.com/a", "example.com") is None
    assert s.check("http://sub.example.com/a", "sub.example.com") == "out_of_scope"
    assert s.check("http://other.org/", "other.org") == "out_of_scope"


def test_allowed_domains_include_subdomains():
    s = scope(allow_domains=("other.org",))
    assert s.check("http://a.b.other.org/", "a.b.other.org") is None
    assert s.check("http://notother.org/", "notother.org") == "out_of_scope"


def test_deny_wins_over_allow():
    s = scope(deny_domains=("example.com",), allow_patterns=("example",))
    assert s.check("http://example.com/", "example.com") == "out_of_scope"
    s = scope(allow_patterns=("/blog/",), deny_patterns=(r"\.pdf$",))
    assert s.check("http://example.com/blog/x", "example.com") is None
    assert s.check("http://example.com/blog/x.pdf", "example.com") == "out_of_scope"
    assert s.check("http://example.com/shop/", "example.com") == "out_of_scope"
