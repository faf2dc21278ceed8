"""Time the HTML parser on the benchmark site's pages: lexbor (the package) against lxml (before).

Three measures, on the same pages in the same run, the contenders alternating round by round
(A B, B A, A B, ...) so drift in machine load spreads over both. ``lxml`` is always the path
``crawler.parser`` took before issue 12, kept here only (same parser options, same code);
``lexbor`` is the package's own code.

- ``tree``: build the tree, nothing else.
- ``hrefs``: build the tree and list the hrefs of its ``<a>`` and ``<area>`` elements.
- ``parse_html``: the whole ``parse_html``: encoding, title, base, robots, resolving and
  deduplicating the links (the encoding and resolving code is the package's for both).

Each figure is µs a page: the median over the rounds of (time for all pages / pages), with
the fastest round in brackets; the garbage collector is off while a round runs, as in timeit.
The ratio is lxml's median over lexbor's: above 1, lexbor is faster.

Before timing, both ``parse_html`` paths run once over every page and must agree. That also
leaves the heap as a running crawl has it: in a fresh process glibc hands lexbor's freed pools
back to the OS after each page and lexbor pays ~15 page faults a parse (about 30 µs here);
with other objects on the heap, as after that check or in a crawl, it pays none.

``--hostile`` instead times crafted nesting, the reason for ``HTML5_MAX_TAGS``: for each
shape and count of ``<``, the seconds and the peak RSS growth of one parse by lexbor and by
libxml2, each in a child process of its own; the last row, ``ordinary``, is 10 MiB of the
site's pages (``CrawlConfig.max_bytes``), the most an ordinary body costs.

Usage: python benchmarks/parse.py [--pages 500] [--rounds 15] [--work-dir DIR]
       python benchmarks/parse.py --hostile [--tags 1000,2000,4000]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import sitegen
from lxml import etree
from selectolax.lexbor import LexborHTMLParser

from crawler import parser
from crawler.models import ParsedHtml

if TYPE_CHECKING:
    from collections.abc import Callable

HERE = Path(__file__).resolve().parent
# The options crawler.parser gave lxml before issue 12.
LXML_OPTIONS = {
    "recover": True,
    "no_network": True,
    "remove_comments": True,
    "remove_pis": True,
    "collect_ids": False,
    "default_doctype": False,
}
LXML_PARSER = etree.HTMLParser(encoding="utf-8", **LXML_OPTIONS)


def lxml_tree(body: bytes) -> object:
    return etree.fromstring(body, LXML_PARSER)


def lexbor_tree(body: bytes) -> object:
    return LexborHTMLParser(body)


def lxml_hrefs(body: bytes) -> list[str | None]:
    """List the hrefs as crawler.parser did before issue 12."""
    root = etree.fromstring(body, LXML_PARSER)
    return [element.get("href") for element in root.iter("a", "area")]


def lexbor_hrefs(body: bytes) -> list[str | None]:
    """List the hrefs as crawler.parser does now."""
    anchors = parser._lexbor_anchors(LexborHTMLParser(body))
    return [anchor.attributes.get("href") for anchor in anchors]


def lxml_parse_html(body: bytes) -> ParsedHtml:
    """Return what crawler.parser.parse_html returned before issue 12."""
    encoding = parser.detect_encoding(body, None)
    if encoding not in ("utf-8", "utf-8-sig"):
        body = body.decode(encoding, "replace").encode("utf-8")
    root = etree.fromstring(body, LXML_PARSER)
    base: str | None = None
    title: str | None = None
    seen_title = nofollow = False
    for element in root.iter("base", "title", "meta"):
        if element.tag == "base" and base is None:
            base = parser._Resolver(BASE_URL)(element.get("href"))
        elif element.tag == "title" and not seen_title:
            seen_title = True
            title = " ".join("".join(element.itertext()).split()) or None
        elif element.tag == "meta":
            nofollow = nofollow or parser._robots_nofollow(element.attrib)
    links: dict[str, None] = {}
    followed: set[str] = set()
    unfollowed: set[str] = set()
    resolve = parser._Resolver(base or BASE_URL)
    for element in root.iter("a", "area"):
        link = resolve(element.get("href"))
        if link is not None:
            links[link] = None
            rel = element.get("rel") or ""
            (unfollowed if "nofollow" in rel.lower().split() else followed).add(link)
    return ParsedHtml(title, tuple(links), encoding, nofollow, frozenset(unfollowed - followed))


def lexbor_parse_html(body: bytes) -> ParsedHtml:
    return parser.parse_html(body, BASE_URL)


BASE_URL = "http://127.0.0.1/s000/p1.html"
MEASURES: dict[str, tuple[tuple[str, Callable[[bytes], object]], ...]] = {
    "tree": (("lxml", lxml_tree), ("lexbor", lexbor_tree)),
    "hrefs": (("lxml", lxml_hrefs), ("lexbor", lexbor_hrefs)),
    "parse_html": (("lxml", lxml_parse_html), ("lexbor", lexbor_parse_html)),
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    arguments = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    arguments.add_argument("--pages", type=int, default=500, help="pages of the site to parse")
    arguments.add_argument("--rounds", type=int, default=15)
    arguments.add_argument("--work-dir", type=Path, default=HERE / ".work")
    arguments.add_argument("--hostile", action="store_true", help="time crafted nesting")
    arguments.add_argument("--tags", default="1000,2000,4000", help="counts of < for --hostile")
    arguments.add_argument("--one", nargs=3, metavar=("PARSER", "SHAPE", "TAGS"), help="internal")
    return arguments.parse_args(argv)


def formatting(tag: str, count: int) -> str:
    """Return ``count`` distinct ``tag`` start tags (distinct, so no Noah's Ark clause)."""
    return "".join(f"<{tag} {i}>" for i in range(count))


# Each builds a body with about n ``<``. "cubic" is lexbor issue #340 (adoption agency);
# "reconstruct" makes each text node clone every open formatting element.
HOSTILE: dict[str, Callable[[int], str]] = {
    "nested div": lambda n: "<div>" * n,
    "cubic": lambda n: formatting("b", n // 3) + formatting("i", n // 3) + "x</b>" * (n // 3),
    "reconstruct": lambda n: "<p>" + formatting("b", n // 2) + "</p>" + "<div>x</div>" * (n // 4),
}
PARSE: dict[str, Callable[[bytes], object]] = {"lexbor": lexbor_tree, "libxml2": lxml_tree}
ORDINARY_BYTES = 10 * 1024 * 1024  # CrawlConfig.max_bytes: the largest body the crawl parses


def ordinary_body() -> bytes:
    """Return the site's pages end to end, cut at ``ORDINARY_BYTES``: the reference row."""
    pages = load_pages(HERE / ".work", ORDINARY_BYTES // 15_000 + 1)
    return b"".join(pages)[:ORDINARY_BYTES]


def run_one(parser_name: str, shape: str, tags: int) -> str:
    """Parse one hostile body; return "seconds MiB" (peak RSS growth)."""
    body = ordinary_body() if shape == "ordinary" else HOSTILE[shape](tags).encode()
    before = memory_kib("VmRSS")
    start = time.perf_counter()
    PARSE[parser_name](body)
    seconds = time.perf_counter() - start
    return f"{seconds:.3f} {(memory_kib('VmHWM') - before) // 1024}"


def memory_kib(field: str) -> int:
    """Return ``VmRSS`` (resident now) or ``VmHWM`` (its peak) in KiB. Not ru_maxrss: Linux
    carries that over fork and exec, so a child would start with its parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise LookupError(field)


def hostile(counts: list[int]) -> None:
    """Print lexbor's and libxml2's cost on each hostile shape, one child process a parse."""
    print(f"{'shape':12} {'<':>7} {'lexbor s':>9} {'MiB':>5} {'libxml2 s':>10} {'MiB':>5}")
    cases = [(shape, tags) for shape in HOSTILE for tags in counts]
    for shape, tags in [*cases, ("ordinary", ordinary_body().count(b"<"))]:
        cells = []
        for name in PARSE:
            command = [sys.executable, __file__, "--one", name, shape, str(tags)]
            result = subprocess.run(command, capture_output=True, text=True, check=True)
            cells.extend(result.stdout.split())
        print(f"{shape:12} {tags:7} {cells[0]:>9} {cells[1]:>5} {cells[2]:>10} {cells[3]:>5}")


def load_pages(work: Path, count: int) -> list[bytes]:
    """Return the first ``count`` pages of the default benchmark site, generating it once."""
    manifest = sitegen.cached(
        work, sitegen.DEFAULT_PAGES, sitegen.DEFAULT_LINKS, sitegen.DEFAULT_SEED
    )
    count = min(count, sitegen.DEFAULT_PAGES)
    return [(manifest.parent / sitegen.file_path(i)).read_bytes() for i in range(count)]


def time_round(function: Callable[[bytes], object], pages: list[bytes]) -> float:
    """Return the µs a page of one pass over all pages."""
    gc.disable()
    try:
        start = time.perf_counter_ns()
        for body in pages:
            function(body)
        elapsed = time.perf_counter_ns() - start
    finally:
        gc.enable()
    return elapsed / 1_000 / len(pages)


def measure(
    contenders: tuple[tuple[str, Callable[[bytes], object]], ...], pages: list[bytes], rounds: int
) -> dict[str, list[float]]:
    """Time each contender ``rounds`` times, alternating which goes first."""
    for _, function in contenders:
        time_round(function, pages)  # warm up, untimed: first calls, caches, the heap
    times: dict[str, list[float]] = {name: [] for name, _ in contenders}
    for i in range(rounds):
        for name, function in contenders if i % 2 == 0 else contenders[::-1]:
            times[name].append(time_round(function, pages))
    return times


def check(pages: list[bytes]) -> None:
    """Fail unless both paths give the same result on every page: else timing means nothing."""
    for i, body in enumerate(pages):
        if lxml_parse_html(body) != lexbor_parse_html(body):
            raise SystemExit(f"page {i}: lxml and lexbor disagree")


def main(argv: list[str] | None = None) -> int:
    """Run both measures and print µs a page and the ratio."""
    args = parse_args(argv)
    if args.one:
        print(run_one(args.one[0], args.one[1], int(args.one[2])))
        return 0
    if args.hostile:
        hostile([int(n) for n in args.tags.split(",")])
        return 0
    pages = load_pages(args.work_dir, args.pages)
    check(pages)
    size = sum(map(len, pages)) / len(pages)
    print(f"{len(pages)} pages of {size / 1000:.1f} KB on average, {args.rounds} rounds")
    for measure_name, contenders in MEASURES.items():
        times = measure(contenders, pages, args.rounds)
        medians = [statistics.median(times[name]) for name, _ in contenders]
        for (name, _), median in zip(contenders, medians, strict=True):
            print(f"{measure_name:10} {name:8} {median:7.1f} µs a page ({min(times[name]):.1f})")
        print(f"{measure_name:10} lxml / lexbor: {medians[0] / medians[1]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
