"""Profile our crawler in-process on the benchmark site: where does a crawl's time go?

Runs ``crawler.cli.main`` under cProfile against the same generated site and server as
``run.py``, then prints the top functions by cumulative and by own (total) time. Named
``profile_crawl`` because a ``profile.py`` here would shadow the stdlib module cProfile imports.

Usage: python benchmarks/profile_crawl.py [--pages 5000] [--links 30] [--top 25] [-o FILE.prof]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import shlex
import signal
import sys
import tempfile
from pathlib import Path

import server
import sitegen

HERE = Path(__file__).resolve().parent


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=sitegen.DEFAULT_PAGES)
    parser.add_argument("--links", type=int, default=sitegen.DEFAULT_LINKS)
    parser.add_argument("--seed", type=int, default=sitegen.DEFAULT_SEED)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--server", choices=["auto", "nginx", "python"], default="auto")
    parser.add_argument("--work-dir", type=Path, default=HERE / ".work")
    parser.add_argument("-o", "--stats-file", type=Path, help="also save the raw profile here")
    parser.add_argument(
        "--crawl-args", default="", metavar="ARGS",
        help="more options for the crawl, e.g. '--warc /tmp/p.warc.gz' (shell words)",
    )  # fmt: skip
    return parser.parse_args(argv)


def profile_crawl(
    base: str, out: Path, concurrency: int, extra: list[str] | None = None
) -> cProfile.Profile:
    """Crawl ``base`` with the CLI's entry point under cProfile; return the profile.

    Raises:
        RuntimeError: If the crawl exits non-zero (a failed crawl's profile misleads).
    """
    # Imported here so that --help works without the package installed.
    from crawler.cli import main as crawl_main

    argv = [base, "-o", str(out), "--concurrency", str(concurrency), "-q", "--ignore-robots"]
    argv += ["--per-host-concurrency", str(concurrency)]  # as in run.py: a speed profile
    argv += extra or []
    profiler = cProfile.Profile()
    status = profiler.runcall(crawl_main, argv)
    if status != 0:
        raise RuntimeError(f"crawl exited with status {status}")
    return profiler


def main(argv: list[str] | None = None) -> int:
    """Profile one crawl and print the top functions."""
    args = parse_args(argv)
    # SIGTERM becomes SystemExit so that the server's cleanup runs.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args.work_dir.mkdir(parents=True, exist_ok=True)
    manifest = sitegen.cached(args.work_dir, args.pages, args.links, args.seed)
    with (
        server.serve(manifest.parent, args.server) as srv,
        tempfile.TemporaryDirectory(dir=args.work_dir) as tmp,
    ):
        print(f"server: {srv.kind} at {srv.url}", flush=True)
        extra = shlex.split(args.crawl_args)
        profiler = profile_crawl(srv.url, Path(tmp) / "out.jsonl", args.concurrency, extra)
    if args.stats_file:
        profiler.dump_stats(args.stats_file)
    stats = pstats.Stats(profiler).strip_dirs()
    for key in ("cumulative", "tottime"):
        print(f"\n=== top {args.top} by {key} ===")
        stats.sort_stats(key).print_stats(args.top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
