"""Tests for crawler.parser: encoding decisions, link extraction, title and robots hints."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from crawler import parser
from crawler.models import Page, ParsedHtml
from crawler.parser import (
    FALLBACK_ENCODING,
    HTML5_MAX_TAGS,
    detect_encoding,
    is_html,
    parse_html,
)

PAGE = "http://example.com/dir/page.html"


def links_of(html: str, url: str = PAGE) -> tuple[str, ...]:
    return parse_html(html.encode(), url).links


# --- is_html ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("text/html", True),
        ("text/html; charset=utf-8", True),
        ("TEXT/HTML", True),
        ("application/xhtml+xml", True),
        ("application/octet-stream", False),
        ("text/plain", False),
        ("application/json", False),
        ("image/png", False),
        ("", False),
        (None, False),
    ],
)
def test_is_html(content_type: str | None, expected: bool) -> None:
    assert is_html(content_type) is expected


# --- links -----------------------------------------------------------------------------


def test_relative_absolute_and_parent_paths_resolve_against_the_page() -> None:
    html = '<a href="a.html"></a><a href="/root"></a><a href="../up"></a><a href="../../../x"></a>'
    assert links_of(html) == (
        "http://example.com/dir/a.html",
        "http://example.com/root",
        "http://example.com/up",
        "http://example.com/x",
    )


def test_full_urls_and_uppercase_schemes() -> None:
    html = '<a href="https://other.org/p?q=1"></a><a href="HTTP://Other.org/Up"></a>'
    assert links_of(html) == ("https://other.org/p?q=1", "http://Other.org/Up")


def test_query_only_href_replaces_the_query() -> None:
    assert links_of('<a href="?page=2">', PAGE + "?page=1") == (PAGE + "?page=2",)


def test_protocol_relative_takes_the_page_scheme() -> None:
    html = '<a href="//cdn.example.org/lib.js">'
    assert links_of(html, "https://example.com/") == ("https://cdn.example.org/lib.js",)


def test_absolute_base_href_applies_to_every_link_even_earlier_ones() -> None:
    html = (
        '<html><head><a href="early"></a><base href="http://other.org/base/">'
        '<base href="http://ignored.org/"></head><body><a href="x"></a><a href="/y"></a>'
    )
    assert links_of(html) == (
        "http://other.org/base/early",
        "http://other.org/base/x",
        "http://other.org/y",
    )


def test_relative_base_href_is_resolved_against_the_page() -> None:
    html = '<base href="../assets/"><a href="img/a.png"></a>'
    assert links_of(html) == ("http://example.com/assets/img/a.png",)


def test_non_http_base_href_is_ignored() -> None:
    assert links_of('<base href="javascript:alert(1)"><a href="x">') == (
        "http://example.com/dir/x",
    )


def test_whitespace_and_newlines_in_hrefs_are_removed() -> None:
    html = '<a href="  \n /a/\nb\tc\r.html  \t"></a><a href="\nhttp://x.org/p\n"></a>'
    assert links_of(html) == ("http://example.com/a/bc.html", "http://x.org/p")


@pytest.mark.parametrize(
    "href",
    [
        "mailto:someone@example.com",
        "javascript:void(0)",
        " JavaScript:alert(1)",
        "tel:+15551234",
        "data:text/html,hello",
        "ftp://example.com/file",
        "file:///etc/passwd",
        "",
        "   ",
        "http://",
        "http://[::1/",
        "http://a]b/",
    ],
)
def test_skipped_hrefs(href: str) -> None:
    assert links_of(f'<a href="{href}">x</a><a>no href</a>') == ()


def test_fragments_are_dropped_and_fragment_only_means_the_page() -> None:
    html = '<a href="/p#section"></a><a href="#top"></a><a href="q#"></a>'
    assert links_of(html) == ("http://example.com/p", PAGE, "http://example.com/dir/q")


def test_duplicates_are_removed_keeping_first_occurrence_order() -> None:
    html = '<a href="/b"></a><a href="/a"></a><a href="/b#x"></a><a href="/a"></a>'
    assert links_of(html) == ("http://example.com/b", "http://example.com/a")


def test_malformed_html_still_yields_links() -> None:
    html = (
        "<html><body><div><p><a href=/unquoted>one<table><tr><td>"
        "<a href='/single' class=x>two<span><a href=\"/double\">three</div>"
        "<a href=/tail attr=<>><<>>"
    )
    assert links_of(html) == (
        "http://example.com/unquoted",
        "http://example.com/single",
        "http://example.com/double",
        "http://example.com/tail",
    )


def test_nested_anchors_yield_both_links() -> None:
    html = '<a href="/outer">a <a href="/inner">b</a> c</a>'
    assert links_of(html) == ("http://example.com/outer", "http://example.com/inner")


def test_area_tags_are_links() -> None:
    html = '<img usemap="#m"><map name="m"><area shape="rect" href="/region"><area></map>'
    assert links_of(html) == ("http://example.com/region",)


# --- tag soup: the tree a browser builds ----------------------------------------------


def test_a_link_after_the_end_of_html_is_extracted() -> None:
    html = '<html><body><p><a href="/in">in</a></p></html>\n<a href="/after">after</a>'
    assert links_of(html) == ("http://example.com/in", "http://example.com/after")


def test_links_after_the_end_of_body_are_extracted() -> None:
    html = (
        '<html><body><a href="/in"></a></body>\n<a href="/after-body"></a></html>\n'
        '<div><a href="/after-both"></a></div>'
    )
    assert links_of(html) == (
        "http://example.com/in",
        "http://example.com/after-body",
        "http://example.com/after-both",
    )


def test_links_inside_hundreds_of_unclosed_elements_are_extracted() -> None:
    html = "".join(f'<div class="item"><a href="/item/{i}">{i}</a>' for i in range(300))
    assert links_of(html) == tuple(f"http://example.com/item/{i}" for i in range(300))


def test_a_base_href_after_the_end_of_html_applies() -> None:
    html = '<html><body><a href="x"></a></body></html><base href="http://other.org/">'
    assert links_of(html) == ("http://other.org/x",)


def test_a_robots_meta_after_the_end_of_html_applies() -> None:
    html = '<html><body><a href="/a"></a></body></html><meta name="robots" content="nofollow">'
    assert parse_html(html.encode(), PAGE).nofollow is True


def test_links_inside_templates_are_extracted_in_document_order() -> None:
    html = (
        '<a href="/1"></a><template><a href="/t1"></a>'
        '<template><area href="/t2"></template></template><a href="/2">'
    )
    assert links_of(html) == tuple(f"http://example.com/{p}" for p in ("1", "t1", "t2", "2"))


# --- bodies over the HTML5 tag budget --------------------------------------------------

ORDINARY = (
    '<html><head><meta charset="utf-8"><base href="/site/"><title> Fish &amp; Chips </title>'
    '<meta name="robots" content="index, nofollow"></head><body><nav><a href="/">home</a>'
    '<a href="a.html#top">a</a><a href="../b?x=1&amp;y=2" rel="nofollow">b</a></nav>'
    '<p>text <a href="//cdn.example.org/x">x</a> <a href="mailto:a@b">m</a></p>'
    '<map><area href="map.html"></map><table><tr><td><a href="t">t</a></table></body></html>'
)


def test_a_body_over_the_budget_parses_as_one_under_it(monkeypatch: pytest.MonkeyPatch) -> None:
    under = parse_html(ORDINARY.encode(), PAGE)
    monkeypatch.setattr(parser, "HTML5_MAX_TAGS", 0)
    assert parse_html(ORDINARY.encode(), PAGE) == under
    assert under.links == (
        "http://example.com/",
        "http://example.com/site/a.html",
        "http://example.com/b?x=1&y=2",
        "http://cdn.example.org/x",
        "http://example.com/site/map.html",
        "http://example.com/site/t",
    )
    assert (under.title, under.nofollow) == ("Fish & Chips", True)


@pytest.mark.parametrize(
    ("tags", "after_html"), [(HTML5_MAX_TAGS, True), (HTML5_MAX_TAGS + 1, False)]
)
def test_the_budget_counts_the_tags_of_the_body(tags: int, after_html: bool) -> None:
    html = '<a href="/in"></a></html><a href="/after">' + "<br>" * (tags - 4)
    expected = ("http://example.com/in", "http://example.com/after")
    assert links_of(html) == (expected if after_html else expected[:1])


@pytest.mark.timeout(10)  # lexbor takes about a minute: its scope checks walk the whole stack
def test_hostile_nesting_over_the_budget_parses_in_linear_time() -> None:
    body = b'<title>deep</title><a href="/first"></a>' + b"<div>" * 100_000
    parsed = parse_html(body, PAGE)
    assert (parsed.title, parsed.links) == ("deep", ("http://example.com/first",))


# --- title -----------------------------------------------------------------------------


def test_title_whitespace_is_collapsed() -> None:
    html = "<title>\n   Hello \t\r\n  big   World \n</title><title>second</title>"
    assert parse_html(html.encode(), PAGE).title == "Hello big World"


@pytest.mark.parametrize("html", ["<p>no title</p>", "<title>  \n </title>", "<title></title>"])
def test_missing_or_empty_title_is_none(html: str) -> None:
    assert parse_html(html.encode(), PAGE).title is None


def test_title_entities_are_decoded() -> None:
    assert parse_html(b"<title>Fish &amp; Chips&nbsp;!</title>", PAGE).title == "Fish & Chips !"


# --- robots hints ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("meta", "expected"),
    [
        ('<meta name="robots" content="noindex, NoFollow">', True),
        ('<meta name="ROBOTS" content="none">', True),
        ('<meta name="robots" content="noindex">', False),
        ('<meta name="googlebot" content="nofollow">', False),
        ('<meta name="description" content="nofollow">', False),
        ("", False),
    ],
)
def test_robots_meta_nofollow(meta: str, expected: bool) -> None:
    assert parse_html(f"<head>{meta}</head><a href=/a>".encode(), PAGE).nofollow is expected


def test_rel_nofollow_links_unless_another_anchor_follows_them() -> None:
    html = (
        '<a href="/sponsored" rel="external NoFollow">x</a>'
        '<a href="/both" rel="nofollow"></a><a href="/both"></a>'
        '<a href="/plain" rel="noopener"></a><area href="/map" rel="nofollow">'
    )
    parsed = parse_html(html.encode(), PAGE)
    assert parsed.links == (
        "http://example.com/sponsored",
        "http://example.com/both",
        "http://example.com/plain",
        "http://example.com/map",
    )
    assert parsed.nofollow_links == frozenset(
        {"http://example.com/sponsored", "http://example.com/map"}
    )
    assert parsed.nofollow is False


# --- degenerate input ------------------------------------------------------------------


def test_empty_body_gives_an_empty_result() -> None:
    assert parse_html(b"", PAGE) == ParsedHtml(title=None, links=(), encoding="utf-8")


@pytest.mark.parametrize(
    "body",
    [b"   \n", b"\x00" * 64, bytes(range(256)) * 8, b"\xff\xfe\x00<\x00", b"<<<>>><a href"],
)
def test_garbage_gives_no_links_and_no_exception(body: bytes) -> None:
    parsed = parse_html(body, PAGE)
    assert (parsed.title, parsed.links, parsed.nofollow) == (None, (), False)


# --- encodings -------------------------------------------------------------------------

RUSSIAN = "Привет, мир: проверка кодировки"
JAPANESE = "日本語のページ・テスト"


def test_windows_1251_declared_only_in_meta_charset() -> None:
    body = f'<html><head><meta charset="windows-1251"><title>{RUSSIAN}</title>'.encode("cp1251")
    parsed = parse_html(body, PAGE)
    assert (parsed.encoding, parsed.title) == ("cp1251", RUSSIAN)


def test_windows_1251_declared_via_http_equiv() -> None:
    meta = '<meta http-equiv="Content-Type" content="text/html; charset=Windows-1251">'
    body = f"<head>{meta}<title>{RUSSIAN}</title><a href='/ы'>".encode("cp1251")
    parsed = parse_html(body, PAGE)
    assert (parsed.encoding, parsed.title, parsed.links) == (
        "cp1251",
        RUSSIAN,
        ("http://example.com/ы",),
    )


def test_shift_jis_declared_only_by_the_charset_argument() -> None:
    body = f"<title>{JAPANESE}</title><p>本文</p>".encode("shift_jis")
    parsed = parse_html(body, PAGE, charset="Shift_JIS")
    assert (parsed.encoding, parsed.title) == ("cp932", JAPANESE)


def test_header_charset_beats_meta() -> None:
    body = f'<meta charset="utf-8"><title>{RUSSIAN}</title>'.encode("koi8-r")
    parsed = parse_html(body, PAGE, charset='"KOI8-R"')
    assert (parsed.encoding, parsed.title) == ("koi8-r", RUSSIAN)


def test_utf8_bom_beats_header_and_meta() -> None:
    body = b"\xef\xbb\xbf" + f'<meta charset="cp1251"><title>{RUSSIAN}</title>'.encode()
    parsed = parse_html(body, PAGE, charset="iso-8859-5")
    assert (parsed.encoding, parsed.title) == ("utf-8-sig", RUSSIAN)


def test_utf16_bom() -> None:
    body = f"<title>{JAPANESE}</title>".encode("utf-16")
    parsed = parse_html(body, PAGE)
    assert (parsed.encoding, parsed.title) == ("utf-16", JAPANESE)


@pytest.mark.parametrize(
    "bogus",
    [
        "x-no-such-codec",
        "base64",
        "rot13",
        "undefined",
        "utf-7",
        "unicode_escape",
        "raw_unicode_escape",
        "idna",
        "\x00",
        "",
    ],
)
def test_bogus_charset_falls_through_to_meta(bogus: str) -> None:
    body = f'<meta charset="windows-1251"><title>{RUSSIAN}</title>'.encode("cp1251")
    parsed = parse_html(body, PAGE, charset=bogus)
    assert (parsed.encoding, parsed.title) == ("cp1251", RUSSIAN)


@pytest.mark.parametrize("charset", ["windows-1252", "shift_jis", "euc-kr", "big5", "utf-8"])
def test_invalid_bytes_do_not_cut_the_page_short(charset: str) -> None:
    body = b"<title>T\x81\x8d\xff</title><p>" + b"\x81\x8d\x90\xa0\xff\x80" * 5 + b"<a href=/after>"
    assert parse_html(body, PAGE, charset=charset).links == ("http://example.com/after",)


def test_base_href_with_a_stray_bracket_is_ignored() -> None:
    assert links_of('<base href="http://a]b/"><a href="x">') == ("http://example.com/dir/x",)


def test_codec_unknown_to_libxml2_is_decoded_by_python() -> None:
    body = f'<meta charset="euc-jp"><title>{JAPANESE}</title><a href="/x">'.encode("euc_jp")
    parsed = parse_html(body, PAGE)
    assert (parsed.encoding, parsed.title, parsed.links) == (
        "euc_jp",
        JAPANESE,
        ("http://example.com/x",),
    )


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("iso-8859-1", "cp1252"),
        ("latin1", "cp1252"),
        ("us-ascii", "cp1252"),
        ("gb2312", "gb18030"),
        ("utf-16", "utf-8"),  # a meta claiming UTF-16 was readable as ASCII: it is not UTF-16
        ("UTF8", "utf-8"),
    ],
)
def test_meta_labels_are_normalised_as_browsers_do(label: str, expected: str) -> None:
    assert detect_encoding(f"<meta charset='{label}'>".encode(), None) == expected


def test_meta_after_the_prescan_window_is_ignored() -> None:
    body = b"<!--" + b"x" * 4096 + b'--><meta charset="cp1251">'
    assert detect_encoding(body, None) == "utf-8"


def test_undeclared_utf8_is_utf8() -> None:
    assert detect_encoding("<title>café</title>".encode(), None) == "utf-8"


def test_utf8_cut_inside_a_character_is_still_utf8() -> None:
    assert detect_encoding("<p>abc é".encode()[:-1], None) == "utf-8"


def test_mostly_utf8_with_invalid_bytes_stays_utf8() -> None:
    body = "<title>Crème brûlée ".encode() + b"\xff\xfe" + b" caf\xc3\xa9</title>"
    parsed = parse_html(body, PAGE)
    assert (parsed.encoding, parsed.title) == ("utf-8", "Crème brûlée \ufffd\ufffd café")


def test_undeclared_invalid_utf8_falls_back_without_raising() -> None:
    body = b"<title>Hello \xff\xfe world</title><a href='/a\xe9'>"
    parsed = parse_html(body, PAGE)
    assert parsed.encoding != "utf-8"
    assert parsed.title is not None
    assert parsed.title.startswith("Hello ")
    assert parsed.title.endswith(" world")
    assert parsed.links == (f"http://example.com/a{body[-3:-2].decode(parsed.encoding)}",)


@pytest.mark.parametrize(
    "body", [b"\x81\x8d\x8f\x90\x9d" * 20, bytes(range(128, 256)) * 4, b"<p>\xc3\x28\xa0\xa1"]
)
def test_detected_encoding_decodes_the_body_or_is_the_fallback(body: bytes) -> None:
    encoding = detect_encoding(body, None)
    if encoding != FALLBACK_ENCODING:
        body.decode(encoding)  # raises, failing the test, if the detector was wrong


def test_parsing_from_many_threads_gives_the_same_results() -> None:
    bodies = [f"<title>t{i}</title><a href='/{i}'>".encode() for i in range(200)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda body: parse_html(body, PAGE), bodies))
    assert [(r.title, r.links) for r in results] == [
        (f"t{i}", (f"http://example.com/{i}",)) for i in range(200)
    ]


# --- Page laziness ---------------------------------------------------------------------


def make_page(body: bytes, encoding: str | None) -> Page:
    return Page(
        url=PAGE,
        final_url=PAGE,
        status=200,
        headers={},
        depth=0,
        parent=None,
        content_type="text/html",
        body=body,
        encoding=encoding,
        title=None,
        links=(),
    )


def test_page_text_and_soup_are_built_on_first_access_only() -> None:
    body = f"<html><head><title>{RUSSIAN}</title></head><body><p>x</p></body></html>"
    page = make_page(body.encode("cp1251"), "cp1251")
    assert (page._text, page._soup) == (None, None)
    assert page.text == body
    assert page._soup is None
    soup = page.soup
    assert soup.title is not None
    assert soup.title.string == RUSSIAN
    assert page.soup is soup


def test_page_text_replaces_undecodable_bytes() -> None:
    assert make_page(b"a\xffb", None).text == "a\ufffdb"
