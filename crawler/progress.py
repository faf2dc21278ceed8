"""Live progress of a running crawl: a rich display on a terminal, else a periodic log line.

Both read ``Crawl.progress()`` (a few counters) on a timer, never per page, so a crawl pays
nothing measurable for them. The display draws on stderr only; records on stdout never pass
through it.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections import deque
from collections.abc import Callable
from datetime import timedelta
from typing import IO, TYPE_CHECKING, Protocol, TypeAlias

from crawler.stats import CrawlProgress
from crawler.summary import human_bytes

if TYPE_CHECKING:
    from types import TracebackType

    from rich.console import Group

log = logging.getLogger(__name__)

REFRESH_SECONDS = 0.25
"""Redraw interval of the live display: smooth to the eye, invisible in a profile."""

RATE_WINDOW_SECONDS = 5.0
"""Pages per second are measured over this window: recent enough to show a slow-down,
long enough not to flicker."""

DEFAULT_LOG_INTERVAL = 10.0
"""Seconds between two progress log lines when there is no terminal to draw on."""


Source: TypeAlias = Callable[[], CrawlProgress]
"""Where a display reads the figures: ``Crawl.progress``."""


class Display(Protocol):
    """Shows progress; ``tick`` is called every ``interval`` seconds while in its context."""

    interval: float

    def tick(self) -> None:
        """Read the figures and show them."""

    def __enter__(self) -> Display: ...

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class RateMeter:
    """Pages per second over the last ``window`` seconds of samples."""

    def __init__(self, window: float = RATE_WINDOW_SECONDS) -> None:
        self._window = window
        self._samples: deque[tuple[float, int]] = deque()

    def update(self, elapsed: float, pages: int) -> float:
        """Add a sample (``pages`` done after ``elapsed`` seconds); return the current rate."""
        samples = self._samples
        samples.append((elapsed, pages))
        while len(samples) > 2 and elapsed - samples[1][0] >= self._window:
            samples.popleft()
        start, done = samples[0]
        if elapsed > start:
            return (pages - done) / (elapsed - start)
        return pages / elapsed if elapsed > 0 else 0.0


def _clock(seconds: float) -> str:
    return str(timedelta(seconds=round(seconds)))


def _budget(progress: CrawlProgress, rate: float) -> str | None:
    limit = progress.max_pages
    if limit is None:
        return None
    share = min(progress.pages / limit, 1.0)
    eta = _clock((limit - progress.pages) / rate) if rate > 0 else "?"
    return f"{share:.0%} of {limit}, ETA {eta}"


def format_line(progress: CrawlProgress, rate: float) -> str:
    """Return the figures of ``progress`` as one plain line (``rate`` in pages per second)."""
    p = progress
    parts = [
        f"{p.pages} pages done",
        f"{p.discovered} discovered",
        f"{rate:.1f} pages/s",
        f"{p.in_flight} in flight",
        f"{p.queued} queued",
        f"{p.errors} errors",
        human_bytes(p.bytes),
        f"elapsed {_clock(p.elapsed)}",
    ]
    budget = _budget(p, rate)
    return ", ".join([*parts, budget] if budget else parts)


class LogDisplay:
    """One ``INFO`` line on the ``crawler.progress`` logger every ``interval`` seconds."""

    def __init__(self, source: Source, interval: float = DEFAULT_LOG_INTERVAL) -> None:
        self.interval = interval
        self._source = source
        self._rate = RateMeter()

    def tick(self) -> None:
        """Log the current figures; JSON logs carry them as ``progress``."""
        progress = self._source()
        rate = self._rate.update(progress.elapsed, progress.pages)
        figures = {**progress.as_dict(), "pages_per_second": round(rate, 1)}
        log.info("progress: %s", format_line(progress, rate), extra={"progress": figures})

    def __enter__(self) -> LogDisplay:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None


def render(progress: CrawlProgress, rate: float) -> Group:
    """Return the live display of ``progress``: a line of figures, and a bar under a budget."""
    # rich is imported only when drawing on a terminal: pipes and CI start faster without it.
    from rich.console import Group
    from rich.progress_bar import ProgressBar
    from rich.table import Table
    from rich.text import Text

    p = progress
    figures = Text.assemble(
        ("crawling ", "bold"),
        (f"{p.pages}", "bold green"), " done · ",
        f"{p.discovered} discovered · ",
        (f"{rate:.1f}", "bold"), " pages/s · ",
        f"{p.in_flight} in flight · {p.queued} queued · ",
        (f"{p.errors} errors", "bold red" if p.errors else ""), " · ",
        f"{human_bytes(p.bytes)} · {_clock(p.elapsed)}",
    )  # fmt: skip
    budget = _budget(p, rate)
    if p.max_pages is None or budget is None:
        return Group(figures)
    bar = Table.grid(padding=(0, 1))
    bar.add_row(
        ProgressBar(total=p.max_pages, completed=min(p.pages, p.max_pages), width=40), budget
    )
    return Group(figures, bar)


class LiveDisplay:
    """A rich live display on a terminal (stderr); log records print above it."""

    interval = REFRESH_SECONDS

    def __init__(self, source: Source, stream: IO[str] | None = None) -> None:
        from rich.console import Console
        from rich.live import Live

        self._source = source
        self._console = Console(file=stream or sys.stderr, stderr=True)
        self._live = Live(
            console=self._console,
            auto_refresh=False,  # refresh() is driven by the crawl's timer, not a thread
            redirect_stdout=False,  # stdout carries the records: never touch it
            redirect_stderr=True,
        )
        self._rate = RateMeter()
        self._swapped: list[tuple[logging.StreamHandler[IO[str]], IO[str]]] = []

    def tick(self) -> None:
        """Redraw the display with the current figures."""
        progress = self._source()
        rate = self._rate.update(progress.elapsed, progress.pages)
        self._live.update(render(progress, rate), refresh=True)

    def __enter__(self) -> LiveDisplay:
        stderr = sys.stderr
        self._live.start()
        self._route_logs(stderr, sys.stderr)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.tick()  # the final figures stay on screen above the summary
        self._live.stop()
        for handler, stream in self._swapped:
            handler.setStream(stream)
        self._swapped.clear()

    def _route_logs(self, stderr: IO[str], proxy: IO[str]) -> None:
        # Handlers made before the display write to the real stderr and would tear it;
        # while it is up they write through rich's proxy, which prints above it.
        if proxy is stderr:
            return
        for handler in logging.getLogger().handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream is stderr:
                self._swapped.append((handler, handler.stream))
                handler.setStream(proxy)


def choose_display(
    source: Source, *, quiet: bool, live: bool, interval: float, records_on_terminal: bool
) -> Display | None:
    """Return how to show progress: nothing (``quiet``), a live display, or log lines.

    The live display needs stderr to be a terminal, ``live`` (no ``--no-progress``), and
    stdout not to be that terminal's record stream (records would tear it).
    """
    if quiet:
        return None
    if live and sys.stderr.isatty() and not records_on_terminal:
        return LiveDisplay(source)
    return LogDisplay(source, interval)


async def refresh(display: Display) -> None:
    """Tick ``display`` every ``display.interval`` seconds, until cancelled."""
    while True:
        await asyncio.sleep(display.interval)  # a timer, not a synchronisation
        display.tick()
