"""Time a recrawl of the unchanged benchmark site against the first crawl of it.

Each round crawls the site into a fresh ``--state`` file (the first crawl, the reference),
then runs the same command with ``--recrawl``: every URL is asked again with the
``If-None-Match`` and ``If-Modified-Since`` of its first answer. nginx (when installed)
answers 304 to both, as it does for any static file. The recrawl's records are checked:
each page of the manifest once, every one ``unchanged`` with status 304 and no body
(``bytes`` is the stored size, the body was not sent). Prints the wall time of each
and the ratio, the median over rounds.

Usage: python benchmarks/recrawl.py [--pages 5000] [--rounds 3] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from collections import Counter
from pathlib import Path

import server
import sitegen
from measure import run

HERE = Path(__file__).resolve().parent
TIMEOUT_S = 600


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=sitegen.DEFAULT_PAGES)
    parser.add_argument("--links", type=int, default=sitegen.DEFAULT_LINKS)
    parser.add_argument("--seed", type=int, default=sitegen.DEFAULT_SEED)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--server", choices=["auto", "nginx", "python"], default="auto")
    parser.add_argument("--work-dir", type=Path, default=HERE / ".work")
    return parser.parse_args(argv)


def crawl_argv(base: str, workdir: Path, out: str, concurrency: int, *extra: str) -> list[str]:
    """Our crawler on the terms of ``run.py`` (robots.txt off, per-host limit raised)."""
    return [
        sys.executable, "-m", "crawler", base, "-o", out, "-q", "--ignore-robots",
        "--concurrency", str(concurrency), "--per-host-concurrency", str(concurrency),
        "--state", str(workdir / "crawl.db"), *extra,
    ]  # fmt: skip


def check(out: Path, manifest: Path, base: str) -> str:
    """Return what is wrong with a recrawl's records, or ``"exact"``."""
    expected = {base.rstrip("/") + line for line in manifest.read_text().split()}
    records = [json.loads(line) for line in out.read_text().splitlines()]
    urls = [r["url"] for r in records]
    if len(urls) != len(set(urls)):
        return "a URL twice"
    if set(urls) != expected:
        return f"{len(expected - set(urls))} missing, {len(set(urls) - expected)} extra"
    kinds = Counter((r["change"], r["status"]) for r in records)
    if kinds != Counter({("unchanged", 304): len(expected)}):
        return f"not all unchanged 304s: {dict(kinds)}"
    return "exact"


def one_round(base: str, manifest: Path, work: Path, concurrency: int) -> tuple[float, float, str]:
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        workdir = Path(tmp)
        first = run(crawl_argv(base, workdir, "first.jsonl", concurrency), workdir, TIMEOUT_S)
        again = run(
            crawl_argv(base, workdir, "again.jsonl", concurrency, "--recrawl"), workdir, TIMEOUT_S
        )
        if first.exit_code or again.exit_code:
            return first.seconds, again.seconds, f"exit {first.exit_code}/{again.exit_code}"
        return first.seconds, again.seconds, check(workdir / "again.jsonl", manifest, base)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    manifest = sitegen.cached(args.work_dir, args.pages, args.links, args.seed)
    results = []
    with server.serve(manifest.parent, args.server) as srv:
        print(f"site: {args.pages} pages; server: {srv.kind} at {srv.url}", flush=True)
        for number in range(1, args.rounds + 1):
            first, again, verdict = one_round(srv.url, manifest, args.work_dir, args.concurrency)
            results.append((first, again, verdict))
            print(f"round {number}: first {first:.2f}s, recrawl {again:.2f}s "
                  f"({again / first:.0%}), {verdict}", flush=True)  # fmt: skip
    ratio = statistics.median(again / first for first, again, _ in results)
    firsts, agains = [r[0] for r in results], [r[1] for r in results]
    print(f"median: first {statistics.median(firsts):.2f}s, recrawl "
          f"{statistics.median(agains):.2f}s, recrawl/first {ratio:.0%}")  # fmt: skip
    return 0 if all(v == "exact" for _, _, v in results) else 1


if __name__ == "__main__":
    sys.exit(main())
