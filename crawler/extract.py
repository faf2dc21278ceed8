"""Fields extracted from every HTML page: ``--field NAME=css:SELECTOR`` and its kin.

A field is ``NAME=KIND:EXPRESSION``:

- ``css:SELECTOR`` — the stripped text of the first matching element;
  ``css:SELECTOR@ATTR`` — its attribute ``ATTR``;
- ``xpath:EXPR`` — the first result: a string result as it is (``//a/@href``,
  ``//h1/text()``), an element's stripped text, a number or a boolean as JSON has them;
- ``re:REGEX`` — the first match in the decoded page: its first group if it has one, else
  the whole match.

``NAME[]=...`` collects every match, in document order, as a list; otherwise the first
match is kept, and ``None`` (JSON ``null``) when nothing matches. A bad selector, XPath or
regular expression is a ``ConfigError`` when the crawl is made, before any request.

Evaluated on the parse the crawl already made (``crawler.parser``): CSS on lexbor's tree,
or on libxml2's through cssselect's translation for the bodies that parser takes; XPath
needs libxml2's tree, built from the same decoded markup only for pages whose own parse
was lexbor's and only when an XPath field is asked for. Never a BeautifulSoup tree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

from cssselect import GenericTranslator, SelectorError
from lxml import etree  # type: ignore[import-untyped]
from selectolax.lexbor import LexborHTMLParser

from crawler.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

__all__ = ["Extraction", "FieldSpec", "compile_fields"]

Kind = Literal["css", "xpath", "re"]
KINDS: Final = ("css", "xpath", "re")
_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_CSS_TO_XPATH: Final = GenericTranslator()
_ATTRIBUTE: Final = re.compile(r"^[A-Za-z_:][\w:.-]*$")


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field: its record name, how it is found, and whether every match is kept."""

    name: str
    kind: Kind
    expression: str
    attribute: str | None
    many: bool
    compiled: Any  # a regex, or an ``etree.XPath`` (a CSS selector's translation for CSS)


def compile_fields(fields: Iterable[tuple[str, str]]) -> tuple[FieldSpec, ...]:
    """Compile ``(NAME or NAME[], KIND:EXPRESSION)`` pairs; raise ``ConfigError`` naming one."""
    specs: list[FieldSpec] = []
    for raw_name, text in fields:
        many = raw_name.endswith("[]")
        name = raw_name.removesuffix("[]")
        if not _NAME.match(name):
            raise ConfigError(f"extract: invalid field name {raw_name!r}")
        kind, sep, expression = text.partition(":")
        if not sep or kind not in KINDS or not expression:
            raise ConfigError(f"extract: {name}: not css:, xpath: or re: followed by an expression")
        specs.append(_compile(name, kind, expression, many))  # type: ignore[arg-type]
    names = [s.name for s in specs]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"extract: repeated field(s): {', '.join(repeated)}")
    return tuple(specs)


def _compile(name: str, kind: Kind, expression: str, many: bool) -> FieldSpec:
    attribute = None
    try:
        if kind == "re":
            compiled: Any = re.compile(expression)
        elif kind == "xpath":
            compiled = etree.XPath(expression)
        else:
            selector, _, after = expression.rpartition("@")
            if selector and _ATTRIBUTE.match(after):  # SELECTOR@ATTR
                expression, attribute = selector, after
            compiled = etree.XPath(_CSS_TO_XPATH.css_to_xpath(expression))  # for libxml2's tree
            LexborHTMLParser("<p></p>").css(expression)  # lexbor must take it too
    except (re.error, etree.XPathSyntaxError, SelectorError, ValueError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"extract: {name}: invalid {kind} {expression!r}: {message}") from None
    return FieldSpec(name, kind, expression, attribute, many, compiled)


class Extraction:
    """Evaluates a crawl's fields on one page's parse.

    Args:
        specs: The compiled fields.
    """

    def __init__(self, specs: Sequence[FieldSpec]) -> None:
        self.specs = tuple(specs)
        self._needs_libxml2 = any(s.kind == "xpath" for s in specs)

    def empty(self) -> dict[str, object]:
        """The fields of a page that is not HTML (or not parsed): all ``None`` or ``[]``."""
        return {s.name: [] if s.many else None for s in self.specs}

    def evaluate(
        self,
        markup: bytes | str,
        lexbor: LexborHTMLParser | None,
        libxml2: Any | None,
        parse_libxml2: Callable[[bytes | str], Any | None],
    ) -> dict[str, object]:
        """Return each field's value on the page whose trees (one of them) are given."""
        if libxml2 is None and lexbor is not None and self._needs_libxml2:
            libxml2 = parse_libxml2(markup)
        text = markup.decode("utf-8", "replace") if isinstance(markup, bytes) else markup
        values: dict[str, object] = {}
        for spec in self.specs:
            if spec.kind == "re":
                found = _regex(spec, text)
            elif spec.kind == "css" and lexbor is not None:
                found = _css_lexbor(spec, lexbor)
            elif libxml2 is not None:
                found = _xpath(spec, spec.compiled(libxml2))
            else:
                found = []
            values[spec.name] = found if spec.many else (found[0] if found else None)
        return values


def _regex(spec: FieldSpec, text: str) -> list[object]:
    group = 1 if spec.compiled.groups else 0
    if not spec.many:
        match = spec.compiled.search(text)
        return [] if match is None else [match.group(group)]
    return [m.group(group) for m in spec.compiled.finditer(text)]


def _css_lexbor(spec: FieldSpec, document: LexborHTMLParser) -> list[object]:
    nodes = document.css(spec.expression) if spec.many else [document.css_first(spec.expression)]
    found: list[object] = []
    for node in nodes:
        if node is None:
            continue
        if spec.attribute is None:
            found.append(node.text(deep=True).strip())
        elif (value := node.attributes.get(spec.attribute)) is not None:
            found.append(value)
    return found


def _xpath(spec: FieldSpec, result: Any) -> list[object]:
    items = result if isinstance(result, list) else [result]
    found: list[object] = []
    for item in items:
        if isinstance(item, etree._Element):
            if spec.attribute is not None:
                value = item.get(spec.attribute)
                if value is not None:
                    found.append(value)
            else:
                found.append("".join(item.itertext()).strip())
        elif isinstance(item, str | bool | int | float):
            found.append(str(item) if isinstance(item, str) else item)
    return found
