"""Benchmark our crawler against Scrapy, wget and the aiohttp fetch floor on a generated site.

Generates (or reuses) the site in the work dir, starts one static server, runs the contenders
interleaved (A B C D A B C D ...) so that drift in machine load spreads over all of them, checks
each run crawled exactly the manifest, and prints a table. Exits 1 if a contender that ran
failed its check, 0 otherwise; contenders that are not installed are reported as skipped.

Usage: python benchmarks/run.py [--pages 5000] [--links 30] [--rounds 3] [--concurrency 64]
                                [--only crawler,floor] [--markdown]
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import tempfile
from pathlib import Path

import contenders
import measure
import report
import server
import sitegen

HERE = Path(__file__).resolve().parent
# Far above any contender's time on the default site; a hung run must still end the benchmark.
DEFAULT_TIMEOUT_S = 600.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=sitegen.DEFAULT_PAGES)
    parser.add_argument("--links", type=int, default=sitegen.DEFAULT_LINKS)
    parser.add_argument("--seed", type=int, default=sitegen.DEFAULT_SEED)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument(
        "--only",
        type=lambda s: s.split(","),
        default=list(contenders.NAMES),
        help=f"comma-separated subset of {','.join(contenders.NAMES)}",
    )
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--server", choices=["auto", "nginx", "python"], default="auto")
    parser.add_argument("--work-dir", type=Path, default=HERE / ".work")
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        help="seconds before one run is killed and counted as failed",
    )
    parser.add_argument(
        "--crawl-cmd", default="crawl", help="command that runs our crawler (default: crawl)"
    )
    args = parser.parse_args(argv)
    unknown = set(args.only) - set(contenders.NAMES)
    if unknown:
        parser.error(f"unknown contenders: {', '.join(sorted(unknown))}")
    return args


def note(summary: report.Summary, problem: str) -> None:
    """Record a problem once, however many rounds repeat it."""
    if problem not in summary.problems:
        summary.problems.append(problem)


def run_one(
    contender: contenders.Contender,
    job: contenders.Job,
    expected: set[str],
    summary: report.Summary,
    timeout: float,
) -> None:
    """Run one contender once, check its crawl and add the result to its summary."""
    done = measure.run(contender.argv(job), job.workdir, timeout)
    verdict = report.check(contender.urls(job), expected, job.base)
    summary.rates.append(verdict.pages / done.seconds)
    summary.rss_mb.append(done.peak_rss_mb)
    if done.timed_out:
        note(summary, f"killed after {timeout:.0f}s")
    elif done.exit_code != 0:
        note(summary, f"exit {done.exit_code}, see {job.workdir / 'stderr.txt'}")
    if not verdict.exact:
        note(
            summary,
            f"missing {verdict.missing}, extra {verdict.extra}, duplicates {verdict.duplicates}",
        )
    print(
        f"  {contender.name:8} {done.seconds:7.2f}s {verdict.pages / done.seconds:7.0f} pages/s"
        f" {done.peak_rss_mb:6.0f} MiB  {'exact' if verdict.exact else 'MISMATCH'}",
        flush=True,
    )


def run_rounds(args: argparse.Namespace, base: str, manifest: Path) -> list[report.Summary]:
    """Run the selected contenders ``args.rounds`` times, interleaved."""
    expected = sitegen.read_manifest(manifest)
    chosen = [c for c in contenders.CONTENDERS if c.name in args.only]
    crawl_cmd = tuple(shlex.split(args.crawl_cmd))
    # Outputs of failed runs are kept under the work dir until the next benchmark, for a look.
    runs = Path(tempfile.mkdtemp(prefix="runs-", dir=args.work_dir))
    jobs = {
        c.name: contenders.Job(base, manifest, args.concurrency, runs / c.name, crawl_cmd)
        for c in chosen
    }
    summaries = [report.Summary(c.name, c.missing(jobs[c.name])) for c in chosen]
    active = [(c, s) for c, s in zip(chosen, summaries, strict=True) if not s.skipped]
    for n in range(args.rounds):
        print(f"round {n + 1}/{args.rounds}", flush=True)
        for contender, summary in active:
            jobs[contender.name].workdir.mkdir(parents=True, exist_ok=True)
            run_one(contender, jobs[contender.name], expected, summary, args.timeout)
    return summaries


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    args = parse_args(argv)
    # SIGTERM becomes SystemExit so that the server's cleanup stops nginx.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args.work_dir.mkdir(parents=True, exist_ok=True)
    for key, value in measure.machine():
        print(f"{key}: {value}")
    manifest = sitegen.cached(args.work_dir, args.pages, args.links, args.seed)
    print(
        f"site: {args.pages} pages, {args.links} links a page, seed {args.seed}: {manifest.parent}"
    )
    with server.serve(manifest.parent, args.server) as srv:
        print(f"server: {srv.kind} at {srv.url}", flush=True)
        summaries = run_rounds(args, srv.url, manifest)
    print()
    print(report.table(summaries, args.markdown))
    return 1 if any(s.failed for s in summaries) else 0


if __name__ == "__main__":
    raise SystemExit(main())
