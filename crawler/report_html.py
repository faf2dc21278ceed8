"""The crawl report as one self-contained HTML file: tables and inline SVG bar charts.

No scripts, no external assets (a Content-Security-Policy forbids loading any), and every
value from the records is escaped: the file opens anywhere, offline, and a hostile URL or
title in a crawl cannot inject markup.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from crawler.summary import human_bytes
from crawler.urls import HTTP_SCHEMES, scheme_of

if TYPE_CHECKING:
    from collections.abc import Sequence

    from crawler.report import Link, Report

CHART_WIDTH = 360
"""Pixels: three charts fit side by side on a laptop screen."""

LABEL_WIDTH = 110
"""Pixels for the category labels left of the bars."""

ROW_HEIGHT = 22
"""Pixels per bar: readable text and a visible gap."""

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
h1 { margin-bottom: 0; } .meta { color: #666; margin-top: .2em; }
.charts { display: flex; flex-wrap: wrap; gap: 1.5em; }
figure { margin: 0; } figcaption { font-weight: 600; margin-bottom: .3em; }
table { border-collapse: collapse; margin-bottom: 1.5em; }
th, td { text-align: left; padding: .25em .7em; border-bottom: 1px solid #ddd; }
td { vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
ul { margin: 0; padding-left: 1.1em; } .none { color: #666; }
svg text { font: 12px system-ui, sans-serif; fill: #222; }
"""


def _text(value: object) -> str:
    return escape(str(value), quote=True)


def _url(url: str | None) -> str:
    """Return ``url`` as a link when it is http(s), else as plain escaped text."""
    if url is None:
        return ""
    if scheme_of(url) in HTTP_SCHEMES:
        return f'<a href="{_text(url)}">{_text(url)}</a>'
    return _text(url)


def bar_chart(title: str, items: Sequence[tuple[str, int]], color: str) -> str:
    """Return a horizontal bar chart of ``items`` (label, count) as an inline SVG figure."""
    most = max((count for _, count in items), default=0) or 1
    height = ROW_HEIGHT * max(len(items), 1) + 4
    bars = [_bar(index, label, count, most, color) for index, (label, count) in enumerate(items)]
    return (
        f"<figure><figcaption>{_text(title)}</figcaption>"
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{CHART_WIDTH}" height="{height}" '
        f'viewBox="0 0 {CHART_WIDTH} {height}" role="img" aria-label="{_text(title)}">'
        f"{''.join(bars)}</svg></figure>"
    )


def _bar(index: int, label: str, count: int, most: int, color: str) -> str:
    span = CHART_WIDTH - LABEL_WIDTH - 60
    width = round(span * count / most)
    y = index * ROW_HEIGHT + 2
    middle = y + ROW_HEIGHT / 2 + 4
    return (
        f'<text x="{LABEL_WIDTH - 6}" y="{middle}" text-anchor="end">{_text(label)}</text>'
        f'<rect x="{LABEL_WIDTH}" y="{y + 2}" width="{width}" height="{ROW_HEIGHT - 6}" '
        f'fill="{color}"><title>{_text(label)}: {count}</title></rect>'
        f'<text x="{LABEL_WIDTH + width + 6}" y="{middle}">{count}</text>'
    )


def _referrers(link: Link) -> str:
    if not link.referrers:
        return '<span class="none">a seed: no page links here</span>'
    items = "".join(f"<li>{_url(page)}</li>" for page in link.referrers)
    return f"<ul>{items}</ul>"


def _table(table_id: str, headers: Sequence[str], rows: Sequence[str]) -> str:
    head = "".join(f"<th>{_text(h)}</th>" for h in headers)
    body = "".join(rows) or f'<tr><td colspan="{len(headers)}" class="none">none</td></tr>'
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _broken_table(report: Report) -> str:
    rows = [
        f"<tr><td>{_text(label)}</td><td>{_url(link.url)}</td>"
        f"<td>{_url(link.final_url) if link.final_url != link.url else ''}</td>"
        f"<td>{_referrers(link)}</td></tr>"
        for label, links in report.broken.items()
        for link in links
    ]
    return _table("broken-links", ("Status", "URL", "Redirected to", "Linked from"), rows)


def _redirect_table(report: Report) -> str:
    rows = [
        f"<tr><td>{_url(link.url)}</td><td>{_url(link.final_url)}</td>"
        f'<td class="num">{_text(link.status)}</td><td>{_referrers(link)}</td></tr>'
        for link in report.redirects
    ]
    return _table("redirects", ("URL", "Redirects to", "Status", "Linked from"), rows)


def _page_tables(report: Report) -> str:
    slow = [
        f'<tr><td class="num">{ms:.1f} ms</td><td>{_url(u)}</td></tr>' for u, ms in report.slowest
    ]
    large = [
        f'<tr><td class="num">{_text(human_bytes(size))}</td><td>{_url(u)}</td></tr>'
        for u, size in report.largest
    ]
    return (
        "<h2>Slowest pages</h2>" + _table("slowest", ("Time", "URL"), slow)
        + "<h2>Largest pages</h2>" + _table("largest", ("Size", "URL"), large)
    )  # fmt: skip


def _duplicate_tables(report: Report) -> str:
    """The duplicate sections, when the records had ``digest`` or ``simhash``."""
    html = ""
    for shown, title, table_id, groups in (
        (report.has_digests, "Duplicate pages (the same body)", "duplicates", report.duplicates),
        (report.has_simhashes, "Near-duplicate pages (simhash)", "near-duplicates",
         report.near_duplicates),
    ):  # fmt: skip
        if shown:
            rows = [
                f'<tr><td class="num">{len(group)}</td><td><ul>'
                + "".join(f"<li>{_url(url)}</li>" for url in group)
                + "</ul></td></tr>"
                for group in groups
            ]
            html += f"<h2>{title} ({len(groups)})</h2>" + _table(table_id, ("Pages", "URLs"), rows)
    return html


def _charts(report: Report) -> str:
    depths = [(f"depth {d}", n) for d, n in report.depths.items()]
    return (
        '<section class="charts">'
        + bar_chart("Pages per status class", list(report.status_classes.items()), "#4e79a7")
        + bar_chart("Response times", list(report.response_times), "#f28e2b")
        + bar_chart("Pages per depth", depths, "#59a14f")
        + "</section>"
    )


def render_html(report: Report, source: str) -> str:
    """Return the report of ``source`` (a crawl's output file) as one HTML document."""
    title = f"Crawl report: {source}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<link rel="icon" href="data:,"><title>{_text(title)}</title>'
        f"<style>{STYLE}</style></head><body>"
        f'<h1>Crawl report</h1><p class="meta">{_text(source)}: {report.pages} pages, '
        f"{report.broken_count} broken links, {len(report.redirects)} redirects to fix</p>"
        + _charts(report)
        + f"<h2>Broken links ({report.broken_count})</h2>{_broken_table(report)}"
        + f"<h2>Redirects worth fixing ({len(report.redirects)})</h2>{_redirect_table(report)}"
        + _page_tables(report)
        + _duplicate_tables(report)
        + "</body></html>\n"
    )
