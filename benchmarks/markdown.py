"""Time what the text, simhash and markdown record fields add to a page's parse.

On the benchmark site's pages, in the same run, alternating round by round: ``parse_html``
alone (the crawl's own cost a page, the reference), ``parse_html`` with the visible text
(``--fields ...,text``), and html-to-markdown's conversion of the decoded page (the
``markdown`` field, the ``markdown`` extra); markdownify too when it is installed (a
pure-Python converter, for comparison). Each figure is µs a page: the median over rounds,
the fastest in brackets; the ratio is against ``parse_html`` alone.

Usage: python benchmarks/markdown.py [--pages 300] [--rounds 9] [--work-dir DIR]
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import statistics
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from parse import load_pages

from crawler.markdown import MarkdownConverter
from crawler.parser import parse_html
from crawler.simhash import simhash

if TYPE_CHECKING:
    from collections.abc import Callable

HERE = Path(__file__).resolve().parent
URL = "http://127.0.0.1/s000/p1.html"


def contenders() -> dict[str, Callable[[bytes], object]]:
    converter = MarkdownConverter()
    found: dict[str, Callable[[bytes], object]] = {
        "parse_html": lambda body: parse_html(body, URL),
        "parse_html + text": lambda body: parse_html(body, URL, text_bytes=1 << 20),
        "... + simhash": lambda body: simhash(parse_html(body, URL, text_bytes=1 << 20).text or ""),
        "html-to-markdown": lambda body: converter.convert(body.decode(), URL, 1 << 20),
    }
    if importlib.util.find_spec("markdownify") is not None:
        import markdownify  # type: ignore[import-not-found]

        found["markdownify"] = lambda body: markdownify.markdownify(body.decode())
    return found


def main(argv: list[str] | None = None) -> int:
    arguments = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    arguments.add_argument("--pages", type=int, default=300)
    arguments.add_argument("--rounds", type=int, default=9)
    arguments.add_argument("--work-dir", type=Path, default=HERE / ".work")
    args = arguments.parse_args(argv)
    pages = load_pages(args.work_dir, args.pages)
    timed = contenders()
    rounds: dict[str, list[float]] = {name: [] for name in timed}
    for index in range(args.rounds):
        order = list(timed) if index % 2 == 0 else list(reversed(timed))
        for name in order:
            gc.disable()
            started = time.perf_counter()
            for body in pages:
                timed[name](body)
            rounds[name].append((time.perf_counter() - started) / len(pages) * 1e6)
            gc.enable()
    size = sum(map(len, pages)) / len(pages) / 1024
    print(f"{len(pages)} pages of {size:.1f} KB, {args.rounds} rounds")
    floor = statistics.median(rounds["parse_html"])
    for name, times in rounds.items():
        median = statistics.median(times)
        print(f"{name:<20} {median:8.1f} µs a page ({min(times):.1f})  x{median / floor:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
