"""Memory of the crawl state: peak RSS with a million pending URLs, bytes per URL in memory.

``--sqlite`` (the default part): writes a seeds file of N URLs on a local port that accepts
connections and never answers, and runs ``crawl --seeds-file F --state S --concurrency 1``
with a time limit. The one request in flight hangs, so every seed stays pending; the crawl
reads the whole file into the state, and the time limit stops it. Reported: the crawl's
peak RSS (``os.wait4`` on that child) and the state's counts (``--resume-info``).

``--memory``: adds N keys to ``MemoryState`` in this process and reports the bytes per
seen URL (``claim``: the 64-bit fingerprint set) and per pending URL (``add``: the
fingerprint plus the ``Request`` in the deque, URL strings included), by tracemalloc.

Usage: python benchmarks/state_memory.py [--urls 1000000] [--time-limit 120] [--crawl-cmd CMD]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from crawler.models import Request
from crawler.state.memory import MemoryState


def write_seeds(path: Path, port: int, count: int) -> None:
    """Write ``count`` distinct URLs on ``127.0.0.1:port``, one a line."""
    with path.open("w") as seeds:
        for start in range(0, count, 10_000):
            end = min(count, start + 10_000)
            seeds.write("".join(f"http://127.0.0.1:{port}/page/{i}\n" for i in range(start, end)))


def crawl_pending(args: argparse.Namespace) -> None:
    """Run the crawl over ``args.urls`` seeds and report its peak RSS and the state counts."""
    silent = socket.create_server(("127.0.0.1", 0), backlog=64)  # accepts, never answers
    port = silent.getsockname()[1]
    with tempfile.TemporaryDirectory(prefix="state-memory-") as tmp:
        seeds, state = Path(tmp) / "seeds.txt", Path(tmp) / "crawl.db"
        write_seeds(seeds, port, args.urls)
        cmd = [*shlex.split(args.crawl_cmd), "--seeds-file", str(seeds), "--state", str(state)]
        cmd += ["-o", str(Path(tmp) / "out.jsonl"), "--concurrency", "1", "--timeout", "3600"]
        cmd += ["--time-limit", str(args.time_limit)]
        started = time.monotonic()
        child = subprocess.Popen(cmd, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.monotonic() - started
        info = subprocess.run(
            [*shlex.split(args.crawl_cmd), "--state", str(state), "--resume-info"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        size = sum(p.stat().st_size for p in Path(tmp).glob("crawl.db*"))
    silent.close()
    print(f"command: {shlex.join(cmd)}")
    print(f"exit status {os.waitstatus_to_exitcode(status)} after {seconds:.1f} s")
    print(info.stdout.strip())
    print(f"state file: {size / 2**20:.0f} MiB")
    print(f"peak RSS: {usage.ru_maxrss / 1024:.0f} MiB")


async def memory_bytes_per_url(count: int) -> None:
    """Report tracemalloc bytes per URL of ``MemoryState``, seen only and pending."""
    keys = [f"http://127.0.0.1:8000/page/{i}" for i in range(count)]
    for label, method in (("seen (claim)", "claim"), ("pending (add)", "add")):
        state = MemoryState()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        if method == "claim":
            for key in keys:
                await state.claim(key)
        else:
            for start in range(0, count, 1000):
                batch = [Request(url=k, key=k) for k in keys[start : start + 1000]]
                await state.add(batch)
        used = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        print(f"MemoryState {label}: {used / count:.0f} bytes per URL ({count} URLs)")
        del state


def main(argv: list[str] | None = None) -> int:
    """Run the selected measurements."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--urls", type=int, default=1_000_000)
    parser.add_argument("--time-limit", type=float, default=120.0)
    parser.add_argument("--crawl-cmd", default=f"{sys.executable} -m crawler")
    parser.add_argument("--only", choices=["sqlite", "memory"])
    args = parser.parse_args(argv)
    if args.only in (None, "sqlite"):
        crawl_pending(args)
    if args.only in (None, "memory"):
        asyncio.run(memory_bytes_per_url(args.urls))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
