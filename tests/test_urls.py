import pytest

from crawler.errors import SeedError
from crawler.urls import canonicalize, defragment, fingerprint, host_of, origin_of, validate_seed


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("HTTP://Example.COM/a", "http://example.com/a"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("http://example.com:8080/a", "http://example.com:8080/a"),
        ("http://example.com/a#frag", "http://example.com/a"),
        ("http://example.com/a/./b/../c", "http://example.com/a/c"),
        ("http://example.com/%7euser", "http://example.com/~user"),
        ("http://example.com/a%2fb", "http://example.com/a%2Fb"),
        ("http://example.com/?b=2&a=1", "http://example.com/?a=1&b=2"),
        ("http://example.com", "http://example.com/"),
    ],
)
def test_canonicalize(url, key):
    assert canonicalize(url) == key


def test_spellings_share_one_key():
    spellings = ["HTTP://EXAMPLE.com:80/x?b=1&a=2#top", "http://example.com/y/../x?a=2&b=1"]
    assert {canonicalize(u) for u in spellings} == {"http://example.com/x?a=2&b=1"}


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("not-a-url", "not an http or https URL"),
        ("ftp://example.com/", "not an http or https URL"),
        ("http://", "no host"),
        ("http://x:99999/", "Port out of range 0-65535"),
    ],
)
def test_validate_seed_rejects(url, reason):
    with pytest.raises(SeedError, match=r"^invalid seed URL ") as info:
        validate_seed(url)
    assert info.value.url == url
    assert str(info.value).endswith(reason)


def test_validate_seed_strips():
    assert validate_seed("  http://example.com/ \n") == "http://example.com/"


def test_small_helpers():
    assert defragment("http://a/b#c") == "http://a/b"
    assert host_of("http://User@Example.com:81/") == "example.com"
    assert origin_of("HTTP://Example.com:81/x") == "http://example.com:81"
    assert fingerprint("a") == fingerprint("a") != fingerprint("b")
    assert 0 <= fingerprint("http://example.com/") < 2**64
