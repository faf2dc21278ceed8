"""One producer, several consumers working in parallel on one bounded ``queue.Queue``, with threads.

Run from the repository root::

    python examples/threaded/multiple_consumers.py [--items 20] [--maxsize 3] [--consumers 3]

``examples/asyncio/multiple_consumers.py`` teaches the same lesson with asyncio; diff the two.

Output: a ``produced item-N`` line for each item put on the queue, a ``consumer-K consumed
item-N`` line for each item taken off it, then one ``summary key=value ...`` line with the totals.
"""

from __future__ import annotations

import argparse
import queue
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

# Simulated work per item, in seconds: it makes the consumers the slow side, so the queue fills
# up and the backpressure shows in the output.
WORK_SECONDS = 0.01
# The producer always ends with sentinels, so waiting this many seconds for an item means it
# died without sending them: give up instead of hanging forever.
GET_TIMEOUT_SECONDS = 5.0
# "No more items". None cannot be confused with an item, which is always a string.
SENTINEL = None


@dataclass
class Tally:
    """Counts shared by the threads; read and change them only while holding ``lock``."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    produced: int = 0
    consumed: int = 0
    failed: int = 0
    producer_errors: int = 0
    max_ahead: int = 0  # the most items produced but not yet consumed, at any moment
    per_consumer: Counter[str] = field(default_factory=Counter)


_print_lock = threading.Lock()


def say(line: str) -> None:
    """Print one line; the lock keeps lines of different threads from interleaving."""
    with _print_lock:
        print(line, flush=True)


def make_item(number: int) -> str:
    """Read input ``number``; every sixth is "corrupt", so the producer has an error to survive."""
    if number % 6 == 0:
        raise ValueError(f"input {number} is corrupt")
    return f"item-{number}"


def process(item: str) -> None:
    """Do the work; every seventh item "fails", so the consumer has an error to survive."""
    time.sleep(WORK_SECONDS)
    if int(item.removeprefix("item-")) % 7 == 0:
        raise RuntimeError(f"cannot process {item}")


def producer(q: queue.Queue[str | None], count: int, consumers: int, tally: Tally) -> None:
    """Put items 1..count on the queue, then one sentinel per consumer."""
    try:
        for number in range(1, count + 1):
            try:
                item = make_item(number)
            except ValueError as exc:
                # Exception in the producer: skip the bad input, keep producing the rest.
                with tally.lock:
                    tally.producer_errors += 1
                say(f"[producer] skipped input {number}: {exc}")
                continue
            # Backpressure: put() blocks while the queue holds maxsize items, so a fast
            # producer waits for the consumers instead of filling memory.
            q.put(item)
            with tally.lock:
                tally.produced += 1
                ahead = tally.produced - tally.consumed
                tally.max_ahead = max(tally.max_ahead, ahead)
            say(f"[producer] produced {item} (queue {q.qsize()}/{q.maxsize}, {ahead} ahead)")
    finally:
        # Completion: one sentinel per consumer, because each consumer stops at the first
        # sentinel it takes. In a finally, so that even a crashing producer releases them.
        for _ in range(consumers):
            q.put(SENTINEL)


def consume_one(name: str, item: str, tally: Tally) -> None:
    """Process one item and report it; a failure is reported, not raised."""
    outcome = "ok"
    try:
        process(item)
    except RuntimeError as exc:
        # Exception in the consumer: one bad item must not stop the ones behind it.
        outcome = f"failed: {exc}"
    with tally.lock:
        tally.consumed += 1
        tally.failed += outcome != "ok"
        tally.per_consumer[name] += 1
    say(f"[{name}] consumed {item} ({outcome})")


def consumer(name: str, q: queue.Queue[str | None], tally: Tally) -> None:
    """Take items until a sentinel arrives. Several of these share one queue."""
    while True:
        try:
            # Timeout: without one, a producer that died silently would hang us forever.
            item = q.get(timeout=GET_TIMEOUT_SECONDS)
        except queue.Empty:
            say(f"[{name}] gave up: nothing arrived for {GET_TIMEOUT_SECONDS} s")
            return
        try:
            if item is SENTINEL:
                say(f"[{name}] got a sentinel, stopping")
                return
            consume_one(name, item, tally)
        finally:
            # task_done() for every get(), the sentinels included, in a finally so that an
            # exception still counts the item; otherwise q.join() would wait forever.
            q.task_done()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20, help="inputs to produce (default 20)")
    parser.add_argument("--maxsize", type=int, default=3, help="queue bound (default 3)")
    parser.add_argument("--consumers", type=int, default=3, help="consumer threads (default 3)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # A bounded queue: at most maxsize items wait in it (maxsize=0 would mean unbounded).
    q: queue.Queue[str | None] = queue.Queue(maxsize=args.maxsize)
    tally = Tally()
    # Load balancing: every consumer takes the next item as soon as it is free, so a slow
    # item holds up one consumer, not the whole line.
    consumer_threads = [
        threading.Thread(target=consumer, args=(f"consumer-{i}", q, tally), name=f"consumer-{i}")
        for i in range(1, args.consumers + 1)
    ]
    producer_thread = threading.Thread(
        target=producer, args=(q, args.items, args.consumers, tally), name="producer"
    )
    for thread in [*consumer_threads, producer_thread]:
        thread.start()

    # join(): first wait until the producer has put everything (join() called earlier could
    # return at once, on a queue that happens to be empty), then until every item has been
    # marked task_done().
    producer_thread.join()
    q.join()
    for thread in consumer_threads:
        thread.join()

    # The bound: maxsize items can wait in the queue, and each consumer holds at most one more.
    bound = args.maxsize + args.consumers
    shares = ",".join(f"{name}:{n}" for name, n in sorted(tally.per_consumer.items()))
    say(f"load balancing: items per consumer {shares}")
    say(f"backpressure: the producer ran at most {tally.max_ahead} items ahead (bound {bound})")
    say(
        f"summary produced={tally.produced} consumed={tally.consumed} failed={tally.failed} "
        f"producer_errors={tally.producer_errors} consumers={args.consumers} "
        f"maxsize={args.maxsize} max_ahead={tally.max_ahead} bound={bound}"
    )
    # Exit status 1 if an item was lost or consumed twice. The bound is for the reader (and
    # the tests) to check; maxsize=0, an unbounded queue, has none.
    return 0 if tally.consumed == tally.produced else 1


if __name__ == "__main__":
    sys.exit(main())
