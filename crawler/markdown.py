"""A page as Markdown: headings, lists, links made absolute, tables, through html-to-markdown.

The ``markdown`` record field needs the optional ``markdown`` extra (html-to-markdown, a
converter written in Rust: about 580 µs for a 15 KB page here, 2.6 times ``parse_html``;
``python benchmarks/markdown.py``). It converts the decoded page on its own parse; links
and images are resolved against the page's URL; nesting deeper than ``MAX_DEPTH`` is cut.
The Markdown is cut at ``max_bytes`` of UTF-8, at a character boundary.
"""

from __future__ import annotations

import importlib
from typing import Any, Final

from crawler.errors import ConfigError

__all__ = ["MarkdownConverter"]

EXTRA_MISSING: Final = (
    "the markdown field needs the markdown extra: pip install 'crawler[markdown]'"
)
MAX_DEPTH: Final = 256
"""Elements deeper than this are not converted (hostile nesting costs the converter)."""


class MarkdownConverter:
    """Converts pages to Markdown; made when the crawl is, so a missing extra fails first.

    Raises:
        ConfigError: html-to-markdown is not installed (the message names the extra).
    """

    def __init__(self) -> None:
        try:
            self._module: Any = importlib.import_module("html_to_markdown")
        except ImportError:
            raise ConfigError(EXTRA_MISSING) from None

    def convert(self, markup: str, url: str, max_bytes: int) -> str:
        """Return ``markup`` (a decoded HTML page at ``url``) as Markdown, at most ``max_bytes``."""
        options = self._module.ConversionOptions(
            base_url=url, extract_metadata=False, max_depth=MAX_DEPTH
        )
        try:
            text = str(self._module.convert(markup, options).content).strip()
        except Exception:
            return ""
        encoded = text.encode()
        return text if len(encoded) <= max_bytes else encoded[:max_bytes].decode("utf-8", "ignore")
