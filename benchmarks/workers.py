"""Scale-out benchmark: 1 vs N ``crawl`` workers sharing one crawl in Redis.

Generates (or reuses) the benchmark site, starts one static server, and for each worker
count runs the crawl ``--rounds`` times, interleaved (1 2 1 2 ...): N worker processes
started together with the same seed, the same ``--state redis://...`` and a fresh crawl
id each. Wall time is from the first spawn to the last exit. Every run is checked:
``crawl export`` must hold every manifest page exactly once.

Redis cost per page comes from ``INFO commandstats`` deltas around each run (the server
is otherwise idle, or the figures include other clients' commands): all commands (those
run inside the Lua scripts included), script calls (``EVALSHA``: about one round trip
each), and the server's CPU time, from which the pages/s one Redis core could serve
follows.

Usage: python benchmarks/workers.py [--pages 5000] [--links 30] [--rounds 3]
                                    [--workers 1,2] [--concurrency 64]
                                    [--redis redis://127.0.0.1:6379/13]
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis
import report
import server
import sitegen

HERE = Path(__file__).resolve().parent
TIMEOUT_S = 600.0


@dataclass(slots=True)
class Runs:
    """The rounds of one worker count."""

    workers: int
    rates: list[float] = field(default_factory=list)
    commands: list[float] = field(default_factory=list)
    scripts: list[float] = field(default_factory=list)
    redis_usec: list[float] = field(default_factory=list)
    exact: bool = True


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=sitegen.DEFAULT_PAGES)
    parser.add_argument("--links", type=int, default=sitegen.DEFAULT_LINKS)
    parser.add_argument("--seed", type=int, default=sitegen.DEFAULT_SEED)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", default="1,2", help="worker counts, comma-separated")
    parser.add_argument("--concurrency", type=int, default=64, help="per worker")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--server", choices=["auto", "nginx", "python"], default="auto")
    parser.add_argument("--work-dir", type=Path, default=HERE / ".work")
    parser.add_argument("--crawl-cmd", default=f"{sys.executable} -m crawler")
    return parser.parse_args(argv)


def commandstats(client: redis.Redis) -> dict[str, tuple[int, int]]:
    """Return command → (calls, usec) from ``INFO commandstats``."""
    info = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): (v["calls"], v["usec"]) for name, v in info.items()}


def delta(
    before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]
) -> dict[str, tuple[int, int]]:
    """Return the per-command (calls, usec) between two snapshots."""
    return {
        name: (calls - before.get(name, (0, 0))[0], usec - before.get(name, (0, 0))[1])
        for name, (calls, usec) in after.items()
        if calls != before.get(name, (0, 0))[0]
    }


def run_workers(
    args: argparse.Namespace, base: str, count: int, crawl_id: str, workdir: Path
) -> float:
    """Start ``count`` workers of one crawl together; return the wall time to the last exit."""
    cmd = shlex.split(args.crawl_cmd)
    common = [
        base, "--state", args.redis, "--crawl-id", crawl_id, "-q",
        "--concurrency", str(args.concurrency), "--per-host-concurrency", str(args.concurrency),
    ]  # fmt: skip
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            [*cmd, *common, "-o", str(workdir / f"worker-{i}.jsonl")],
            stdout=subprocess.DEVNULL,
            stderr=(workdir / f"worker-{i}.err").open("wb"),
        )
        for i in range(count)
    ]
    codes = [proc.wait(TIMEOUT_S) for proc in procs]
    elapsed = time.perf_counter() - start
    if any(codes):
        raise SystemExit(f"a worker failed: exit codes {codes}, see {workdir}")
    return elapsed


def exported_urls(args: argparse.Namespace, crawl_id: str, workdir: Path) -> list[str]:
    """Run ``crawl export`` and return the URLs of its successful records."""
    output = workdir / "all.jsonl"
    cmd = [*shlex.split(args.crawl_cmd), "export", "--state", args.redis, "--crawl-id", crawl_id]
    subprocess.run([*cmd, "-o", str(output)], check=True, stderr=subprocess.DEVNULL)
    records = [json.loads(line) for line in output.read_text().splitlines()]
    return [r["url"] for r in records if isinstance(r.get("status"), int) and r["status"] < 300]


def purge(args: argparse.Namespace, crawl_id: str) -> None:
    """Delete the crawl's keys."""
    cmd = [*shlex.split(args.crawl_cmd), "purge", "--state", args.redis, "--crawl-id", crawl_id]
    subprocess.run(cmd, check=True, stderr=subprocess.DEVNULL)


def one_run(args: argparse.Namespace, base: str, expected: set[str], runs: Runs, n: int) -> None:
    """Crawl the site once with ``runs.workers`` workers and add the figures to ``runs``."""
    crawl_id = f"bench-{runs.workers}w-{n}-{time.time_ns()}"
    workdir = args.work_dir / "workers" / crawl_id
    workdir.mkdir(parents=True)
    client = redis.Redis.from_url(args.redis)
    before = commandstats(client)
    seconds = run_workers(args, base, runs.workers, crawl_id, workdir)
    used = delta(before, commandstats(client))
    verdict = report.check(exported_urls(args, crawl_id, workdir), expected, base)
    purge(args, crawl_id)
    pages = verdict.pages
    runs.exact &= verdict.exact
    runs.rates.append(pages / seconds)
    runs.commands.append(sum(c for c, _ in used.values()) / pages)
    runs.scripts.append(used.get("evalsha", (0, 0))[0] / pages)
    runs.redis_usec.append(sum(u for _, u in used.values()) / pages)
    top = sorted(used.items(), key=lambda item: -item[1][0])[:6]
    print(
        f"  {runs.workers} worker(s): {seconds:6.2f}s {pages / seconds:6.0f} pages/s"
        f"  {'exact' if verdict.exact else 'MISMATCH'}; per page: {runs.commands[-1]:.1f} commands,"
        f" {runs.scripts[-1]:.2f} EVALSHA, {runs.redis_usec[-1]:.0f} us Redis CPU;"
        f" top: {', '.join(f'{name} {calls / pages:.1f}' for name, (calls, _) in top)}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the summary."""
    args = parse_args(argv)
    counts = [int(n) for n in args.workers.split(",")]
    manifest = sitegen.cached(args.work_dir, args.pages, args.links, args.seed)
    expected = sitegen.read_manifest(manifest)
    all_runs = [Runs(n) for n in counts]
    with server.serve(manifest.parent, args.server) as srv:
        print(f"server: {srv.kind} at {srv.url}; site: {args.pages} pages", flush=True)
        for n in range(args.rounds):
            print(f"round {n + 1}/{args.rounds}", flush=True)
            for runs in all_runs:
                one_run(args, srv.url, expected, runs, n)
    print()
    first = statistics.median(all_runs[0].rates)
    columns = (
        "workers", "pages/s median (min-max)", "speed-up", "Redis commands/page",
        "EVALSHA/page", "Redis CPU us/page", "check",
    )  # fmt: skip
    print("| " + " | ".join(columns) + " |")
    print("|---|---|---|---|---|---|---|")
    for runs in all_runs:
        median = statistics.median(runs.rates)
        print(
            f"| {runs.workers} | {median:.0f} ({min(runs.rates):.0f}-{max(runs.rates):.0f}) "
            f"| {median / first:.2f}x | {statistics.median(runs.commands):.1f} "
            f"| {statistics.median(runs.scripts):.2f} | {statistics.median(runs.redis_usec):.0f} "
            f"| {'exact' if runs.exact else 'MISMATCH'} |"
        )
    return 0 if all(r.exact for r in all_runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
