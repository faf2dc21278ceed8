"""Run every example in ``examples/`` as a subprocess and check what it printed.

The classic examples print one ``produced item-...`` line per item put on the queue, one
``consumed item-...`` line per item taken off it and a final ``summary key=value ...`` line.
The checks here compare the multiset of consumed items with the set of produced ones, so an
example that loses or duplicates an item fails.

The backpressure bound asserted is ``max_ahead <= maxsize + consumers``: at any moment at most
``maxsize`` items wait in the queue and each consumer holds at most one more (taken but not yet
counted as consumed). A producer counts an item only after ``put()`` has accepted it, so items a
blocked producer holds do not count.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
FLAVOURS = ["threaded", "asyncio"]
# The budget for one run; the examples take well under a second.
RUN_TIMEOUT_SECONDS = 10
# Inputs the examples treat as broken: the producer skips every sixth, the consumer fails on
# every seventh (see make_item() and process() in each example).
PRODUCER_BAD_EVERY = 6
CONSUMER_BAD_EVERY = 7

ITEM_LINE = r"^\[(?P<who>[\w-]+)\] {verb} (?P<item>item-[\d-]+) \((?P<rest>[^\n]*)\)$"


def run_example(path: str, *args: str) -> str:
    """Run ``examples/<path>`` from the repository root; return its stdout."""
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / path), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""
    return result.stdout


def summary(out: str) -> dict[str, int]:
    lines = [line for line in out.splitlines() if line.startswith("summary ")]
    assert len(lines) == 1, out
    return {key: int(value) for key, value in (f.split("=") for f in lines[0].split()[1:])}


def lines_of(out: str, verb: str) -> list[re.Match[str]]:
    return list(re.finditer(ITEM_LINE.format(verb=verb), out, re.MULTILINE))


def expected_items(items: int, producers: int | None = None) -> list[str]:
    numbers = [n for n in range(1, items + 1) if n % PRODUCER_BAD_EVERY]
    if producers is None:
        return [f"item-{n}" for n in numbers]
    return [f"item-{p}-{n}" for p in range(1, producers + 1) for n in numbers]


def check_run(
    out: str, *, items: int, maxsize: int, consumers: int, producers: int | None = None
) -> dict[str, int]:
    """Assert every produced item was consumed exactly once, the totals and the bound."""
    expected = Counter(expected_items(items, producers))
    produced = Counter(m["item"] for m in lines_of(out, "produced"))
    consumed = Counter(m["item"] for m in lines_of(out, "consumed"))
    assert produced == expected
    assert consumed == expected, f"lost: {expected - consumed}, extra: {consumed - expected}"

    totals = summary(out)
    failed = sum(int(item.rsplit("-", 1)[1]) % CONSUMER_BAD_EVERY == 0 for item in expected)
    bad_inputs = (items // PRODUCER_BAD_EVERY) * (producers or 1)
    assert totals["produced"] == totals["consumed"] == sum(expected.values())
    assert totals["failed"] == failed
    assert totals["producer_errors"] == bad_inputs
    assert totals["maxsize"] == maxsize
    assert totals["consumers"] == consumers

    aheads = [int(re.search(r"(\d+) ahead", m["rest"])[1]) for m in lines_of(out, "produced")]
    assert max(aheads) == totals["max_ahead"]
    assert totals["bound"] == maxsize + consumers
    assert totals["max_ahead"] <= maxsize + consumers
    return totals


CLASSIC_RUNS = [
    # (file, arguments, items, maxsize, consumers, producers)
    ("basic_example.py", [], 10, 3, 1, None),
    ("basic_example.py", ["--items", "50", "--maxsize", "2"], 50, 2, 1, None),
    ("multiple_consumers.py", [], 20, 3, 3, None),
    (
        "multiple_consumers.py",
        ["--items", "60", "--maxsize", "2", "--consumers", "5"],
        60,
        2,
        5,
        None,
    ),
    ("multiple_producers.py", [], 8, 4, 3, 3),
    (
        "multiple_producers.py",
        ["--producers", "4", "--items", "15", "--consumers", "2", "--maxsize", "3"],
        15,
        3,
        2,
        4,
    ),
]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize(
    ("name", "args", "items", "maxsize", "consumers", "producers"), CLASSIC_RUNS
)
def test_classic_example(
    flavour: str,
    name: str,
    args: list[str],
    items: int,
    maxsize: int,
    consumers: int,
    producers: int | None,
) -> None:
    out = run_example(f"{flavour}/{name}", *args)
    check_run(out, items=items, maxsize=maxsize, consumers=consumers, producers=producers)
    stops = len(re.findall(r"^\[consumer(-\d+)?\] got (a|the) sentinel, stopping$", out, re.M))
    assert stops == consumers  # one sentinel per consumer, each taken exactly once


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("name", "items", "consumers", "producers"),
    [
        ("basic_example.py", 10, 1, None),
        ("multiple_consumers.py", 20, 3, None),
        ("multiple_producers.py", 8, 3, 3),
    ],
)
def test_asyncio_example_stopped_by_cancellation(
    name: str, items: int, consumers: int, producers: int | None
) -> None:
    out = run_example(f"asyncio/{name}", "--stop", "cancel")
    maxsize = summary(out)["maxsize"]
    check_run(out, items=items, maxsize=maxsize, consumers=consumers, producers=producers)
    assert "sentinel" not in out


@pytest.mark.timeout(30)
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_backpressure_holds_the_producer_back(flavour: str) -> None:
    out = run_example(
        f"{flavour}/multiple_consumers.py", "--items", "40", "--maxsize", "1", "--consumers", "2"
    )
    totals = check_run(out, items=40, maxsize=1, consumers=2)
    assert totals["max_ahead"] <= 1 + 2
    sizes = [int(re.search(r"queue (\d+)/1,", m["rest"])[1]) for m in lines_of(out, "produced")]
    assert max(sizes) <= 1


@pytest.mark.timeout(30)
def test_without_a_bound_the_producer_runs_ahead() -> None:
    # The contrast that shows the bound comes from maxsize: with an unbounded queue (0) the
    # asyncio producer never has to wait in put(), so it produces everything before the
    # consumer takes its first item. One thread runs both, so this is deterministic.
    out = run_example("asyncio/basic_example.py", "--items", "30", "--maxsize", "0")
    totals = summary(out)
    assert totals["max_ahead"] == totals["produced"] == len(expected_items(30))


def test_the_check_fails_when_an_item_is_lost_or_duplicated() -> None:
    out = run_example("asyncio/basic_example.py")
    check_run(out, items=10, maxsize=3, consumers=1)
    lost = out.replace("[consumer] consumed item-4 (ok)\n", "")
    with pytest.raises(AssertionError, match="lost"):
        check_run(lost, items=10, maxsize=3, consumers=1)
    duplicated = out.replace(
        "[consumer] consumed item-4 (ok)\n", "[consumer] consumed item-4 (ok)\n" * 2
    )
    with pytest.raises(AssertionError, match="extra"):
        check_run(duplicated, items=10, maxsize=3, consumers=1)
