"""Check what each contender crawled against the manifest, and summarise the runs as a table."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from urllib.parse import urlsplit

# Crawlers may fetch robots.txt (wget always does); it is not a page of the site.
NOT_PAGES = frozenset({"/robots.txt"})
# Ratios are against these contenders' medians, in this order of columns.
REFERENCES = ("scrapy", "floor", "wget")


@dataclass(frozen=True, slots=True)
class Verdict:
    """How one run's crawled URLs compare with the manifest.

    Attributes:
        pages: Distinct pages crawled.
        missing: Manifest paths not crawled.
        extra: Crawled paths (or off-site URLs) not in the manifest.
        duplicates: Fetches of a page already fetched in the same run.
    """

    pages: int
    missing: int
    extra: int
    duplicates: int

    @property
    def exact(self) -> bool:
        """Whether the run fetched every manifest page once and nothing else."""
        return self.missing == self.extra == self.duplicates == 0


def page_key(url: str, netloc: str) -> str:
    """Return the URL path (with any query) for an on-site URL, else the whole URL."""
    parts = urlsplit(url)
    if parts.netloc != netloc:
        return url
    path = parts.path or "/"
    return f"{path}?{parts.query}" if parts.query else path


def check(urls: list[str], expected: set[str], base: str) -> Verdict:
    """Compare crawled ``urls`` with the ``expected`` paths of the site at ``base``."""
    netloc = urlsplit(base).netloc
    keys = [key for key in (page_key(u, netloc) for u in urls) if key not in NOT_PAGES]
    got = set(keys)
    return Verdict(len(got), len(expected - got), len(got - expected), len(keys) - len(got))


@dataclass(slots=True)
class Summary:
    """All rounds of one contender."""

    name: str
    skipped: str | None = None
    rates: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def median(self) -> float:
        """Median pages/s over the rounds, 0 with none."""
        return statistics.median(self.rates) if self.rates else 0.0

    @property
    def failed(self) -> bool:
        """Whether any round exited non-zero or crawled other than the manifest."""
        return bool(self.problems)


def ratio(summary: Summary, reference: Summary | None) -> str:
    """Return ``summary``'s median over ``reference``'s, or a dash when there is none."""
    if reference is None or reference.skipped or not reference.median or not summary.rates:
        return "-"
    return f"{summary.median / reference.median:.2f}x"


def row(summary: Summary, by_name: dict[str, Summary]) -> list[str]:
    """Return one table row."""
    if summary.skipped:
        return [summary.name, "skipped", "-", "-", "-", "-", summary.skipped]
    rate = f"{summary.median:.0f} ({min(summary.rates):.0f}-{max(summary.rates):.0f})"
    ratios = [ratio(summary, by_name.get(ref)) for ref in REFERENCES]
    status = "FAILED: " + "; ".join(summary.problems) if summary.failed else "exact"
    return [summary.name, rate, *ratios, f"{max(summary.rss_mb):.0f}", status]


HEADER = [
    "contender",
    "pages/s median (min-max)",
    "vs scrapy",
    "vs floor",
    "vs wget",
    "peak RSS MiB",
    "check",
]


def table(summaries: list[Summary], markdown: bool) -> str:
    """Format the summaries as a plain or Markdown table."""
    by_name = {s.name: s for s in summaries}
    rows = [HEADER, *(row(s, by_name) for s in summaries)]
    if markdown:
        lines = ["| " + " | ".join(r) + " |" for r in rows]
        lines.insert(1, "|" + "|".join("---" for _ in HEADER) + "|")
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )
