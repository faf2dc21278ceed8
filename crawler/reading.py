"""Reading a fetched page: parse it once, and give user code and the record what they ask.

``PageReader`` is made with the crawl, so that what can be refused is refused before any
request: a bad ``--field`` expression, or the ``markdown`` field without its extra. For
each finished fetch, ``read`` parses a 2xx HTML body once (``crawler.parser``), evaluating
there the user's fields (``crawler.extract``) and, when the record asks for it, the
visible text (``crawler.text``); the Markdown (``crawler.markdown``) is converted from the
decoded page; with ``save_dir`` the body of a 2xx answer is saved (``crawler.savedir``)
before its record is written, so before its request is acked. What is not asked for
costs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crawler.extract import Extraction, compile_fields
from crawler.markdown import MarkdownConverter
from crawler.parser import header_canonical, is_html, parse_html
from crawler.records import make_page
from crawler.savedir import SaveDir

if TYPE_CHECKING:
    from crawler.config import CrawlConfig
    from crawler.models import FetchResult, Page, ParsedHtml

__all__ = ["PageReader"]


class PageReader:
    """Parses finished fetches into pages (see the module docstring).

    Raises:
        ConfigError: A field expression is invalid, or the markdown extra is missing.
    """

    def __init__(self, config: CrawlConfig) -> None:
        specs = compile_fields(config.extract)
        self._extraction = Extraction(specs) if specs else None
        wanted = config.record_fields
        self._text_bytes = config.max_text_bytes if "text" in wanted else None
        self._markdown = MarkdownConverter() if "markdown" in wanted else None
        self._markdown_bytes = config.max_text_bytes
        self._save_dir = SaveDir(config.save_dir) if config.save_dir is not None else None

    def read(self, result: FetchResult) -> tuple[Page, ParsedHtml | None]:
        """Return the page of ``result``, and its parse (``None`` when not 2xx HTML)."""
        parsed = self._parse(result)
        empty = self._extraction.empty() if self._extraction is not None else None
        page = make_page(result, parsed, empty)
        if _kept(result):
            from_tag = parsed.canonical if parsed is not None else None
            page.canonical = from_tag or header_canonical(
                result.headers.get("Link"), page.final_url
            )
        if parsed is not None:
            self._add_derived(page, result, parsed)
        if self._save_dir is not None and _kept(result):
            page.saved_path = self._save_dir.save(result.final_url, result.body)
        return page, parsed

    def _add_derived(self, page: Page, result: FetchResult, parsed: ParsedHtml) -> None:
        """Give ``page`` its text and Markdown: now if the record asks, else on first use."""
        max_bytes = self._markdown_bytes

        def text() -> str | None:
            again = parse_html(result.body, result.final_url, charset=result.charset,
                               text_bytes=max_bytes)  # fmt: skip
            return again.text

        def markdown() -> str | None:
            converter = self._markdown or MarkdownConverter()
            return converter.convert(page.text, page.final_url, max_bytes)

        if self._text_bytes is None:
            page._derive_text = text
        if self._markdown is not None:
            page._markdown = markdown()
        else:
            page._derive_markdown = markdown

    def _parse(self, result: FetchResult) -> ParsedHtml | None:
        if not _kept(result) or not is_html(result.content_type):
            return None
        return parse_html(
            result.body,
            result.final_url,
            charset=result.charset,
            extraction=self._extraction,
            text_bytes=self._text_bytes,
        )


def _kept(result: FetchResult) -> bool:
    """Whether a fetch ended in a 2xx answer with its whole body."""
    return result.error is None and result.status is not None and 200 <= result.status < 300
