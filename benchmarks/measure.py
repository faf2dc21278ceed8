"""Run one command and measure it: wall time and the peak RSS of that process alone.

``getrusage(RUSAGE_CHILDREN)`` reports the largest RSS of *any* child ever waited for, so after
a big contender every later one would seem as big. ``os.wait4`` on the child's pid returns the
rusage of that child (and its own waited-for descendants) only.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

KIB = 1024


@dataclass(frozen=True, slots=True)
class Measured:
    """One run of one command.

    Attributes:
        seconds: Wall time from spawn to exit.
        peak_rss_mb: The process's maximum resident set size, in MiB.
        exit_code: Its exit status, negative for a signal (as in ``subprocess``).
        timed_out: Whether it was killed for running past the time limit.
    """

    seconds: float
    peak_rss_mb: float
    exit_code: int
    timed_out: bool


def run(argv: list[str], workdir: Path, timeout: float) -> Measured:
    """Run ``argv`` in ``workdir`` with output to files there; kill it after ``timeout`` s."""
    with (workdir / "stdout.txt").open("wb") as out, (workdir / "stderr.txt").open("wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=workdir, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        killer.cancel()
    # Tell Popen the child is reaped, so it neither waits again nor warns on collection.
    proc.returncode = os.waitstatus_to_exitcode(status)
    timed_out = proc.returncode == -9 and elapsed >= timeout
    # Linux reports ru_maxrss in KiB.
    return Measured(elapsed, usage.ru_maxrss / KIB, proc.returncode, timed_out)


def version_of(dist: str) -> str:
    """Return an installed distribution's version, or ``not installed``."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def tool_version(argv: list[str]) -> str:
    """Return the first line a tool prints about its version (nginx prints to stderr)."""
    if shutil.which(argv[0]) is None:
        return "not installed"
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    return (done.stdout or done.stderr).splitlines()[0].strip()


def cpu_model() -> str:
    """Return the CPU model name from /proc/cpuinfo."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        return platform.processor() or "unknown"
    names = [
        line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")
    ]
    return names[0] if names else "unknown"


def machine() -> list[tuple[str, str]]:
    """Describe the machine and the versions that the numbers depend on."""
    return [
        ("cores", str(os.cpu_count())),
        ("cpu", cpu_model()),
        ("load average (1 min) at start", f"{os.getloadavg()[0]:.2f}"),
        ("python", sys.version.split()[0]),
        ("crawler", version_of("crawler")),
        ("aiohttp", version_of("aiohttp")),
        ("lxml", version_of("lxml")),
        ("scrapy", version_of("scrapy")),
        ("wget", tool_version(["wget", "--version"])),
        ("nginx", tool_version(["nginx", "-v"])),
    ]
