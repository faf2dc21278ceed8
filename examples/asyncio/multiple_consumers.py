"""One producer, several consumers working in parallel on one bounded ``asyncio.Queue``.

Run from the repository root::

    python examples/asyncio/multiple_consumers.py [--items 20] [--maxsize 3] [--consumers 3]
        [--stop cancel]

``examples/threaded/multiple_consumers.py`` teaches the same lesson with threads; diff the two.

Output: a ``produced item-N`` line for each item put on the queue, a ``consumer-K consumed
item-N`` line for each item taken off it, then one ``summary key=value ...`` line with the totals.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter
from dataclasses import dataclass, field

# Simulated work per item, in seconds: it makes the consumers the slow side, so the queue fills
# up and the backpressure shows in the output.
WORK_SECONDS = 0.01
# With --stop sentinel the producer always ends with sentinels, so waiting this many seconds
# for an item means it died without sending them: give up instead of hanging forever.
GET_TIMEOUT_SECONDS = 5.0
# "No more items". None cannot be confused with an item, which is always a string.
SENTINEL = None


@dataclass
class Tally:
    """Counts shared by the tasks. One thread runs them all, so no lock is needed."""

    produced: int = 0
    consumed: int = 0
    failed: int = 0
    producer_errors: int = 0
    max_ahead: int = 0  # the most items produced but not yet consumed, at any moment
    per_consumer: Counter[str] = field(default_factory=Counter)


def make_item(number: int) -> str:
    """Read input ``number``; every sixth is "corrupt", so the producer has an error to survive."""
    if number % 6 == 0:
        raise ValueError(f"input {number} is corrupt")
    return f"item-{number}"


async def process(item: str) -> None:
    """Do the work; every seventh item "fails", so the consumer has an error to survive."""
    await asyncio.sleep(WORK_SECONDS)
    if int(item.removeprefix("item-")) % 7 == 0:
        raise RuntimeError(f"cannot process {item}")


async def producer(q: asyncio.Queue[str | None], count: int, sentinels: int, tally: Tally) -> None:
    """Put items 1..count on the queue, then ``sentinels`` sentinels (one per consumer, or 0)."""
    try:
        for number in range(1, count + 1):
            try:
                item = make_item(number)
            except ValueError as exc:
                # Exception in the producer: skip the bad input, keep producing the rest.
                tally.producer_errors += 1
                print(f"[producer] skipped input {number}: {exc}")
                continue
            # Backpressure: put() waits while the queue holds maxsize items, so a fast
            # producer waits for the consumers instead of filling memory.
            await q.put(item)
            tally.produced += 1
            ahead = tally.produced - tally.consumed
            tally.max_ahead = max(tally.max_ahead, ahead)
            print(f"[producer] produced {item} (queue {q.qsize()}/{q.maxsize}, {ahead} ahead)")
    finally:
        # Completion: one sentinel per consumer, because each consumer stops at the first
        # sentinel it takes. In a finally, so that even a crashing producer releases them.
        for _ in range(sentinels):
            await q.put(SENTINEL)


async def consume_one(name: str, item: str, tally: Tally) -> None:
    """Process one item and report it; a failure is reported, not raised."""
    outcome = "ok"
    try:
        await process(item)
    except RuntimeError as exc:
        # Exception in the consumer: one bad item must not stop the ones behind it.
        outcome = f"failed: {exc}"
    tally.consumed += 1
    tally.failed += outcome != "ok"
    tally.per_consumer[name] += 1
    print(f"[{name}] consumed {item} ({outcome})")


async def consumer(name: str, q: asyncio.Queue[str | None], tally: Tally) -> None:
    """Take items until a sentinel arrives or the task is cancelled. Several share one queue."""
    while True:
        try:
            # Timeout: without one, a producer that died silently would hang us forever.
            # (With --stop cancel, this is where the cancellation arrives.)
            item = await asyncio.wait_for(q.get(), timeout=GET_TIMEOUT_SECONDS)
        except TimeoutError:
            print(f"[{name}] gave up: nothing arrived for {GET_TIMEOUT_SECONDS} s")
            return
        try:
            if item is SENTINEL:
                print(f"[{name}] got a sentinel, stopping")
                return
            await consume_one(name, item, tally)
        finally:
            # task_done() for every get(), the sentinels included, in a finally so that an
            # exception still counts the item; otherwise q.join() would wait forever.
            q.task_done()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20, help="inputs to produce (default 20)")
    parser.add_argument("--maxsize", type=int, default=3, help="queue bound (default 3)")
    parser.add_argument("--consumers", type=int, default=3, help="consumer tasks (default 3)")
    parser.add_argument(
        "--stop",
        choices=["sentinel", "cancel"],
        default="sentinel",
        help="how the consumers learn they are done (default sentinel)",
    )
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> Tally:
    # A bounded queue: at most maxsize items wait in it (maxsize=0 would mean unbounded).
    q: asyncio.Queue[str | None] = asyncio.Queue(maxsize=args.maxsize)
    tally = Tally()
    sentinels = args.consumers if args.stop == "sentinel" else 0
    # TaskGroup: leaving the block waits for every task, and an unexpected exception in one
    # cancels the others instead of leaving them running unseen.
    async with asyncio.TaskGroup() as group:
        # Load balancing: every consumer takes the next item as soon as it is free, so a
        # slow item holds up one consumer, not the whole line.
        consumer_tasks = [
            group.create_task(consumer(f"consumer-{i}", q, tally), name=f"consumer-{i}")
            for i in range(1, args.consumers + 1)
        ]
        producer_task = group.create_task(
            producer(q, args.items, sentinels, tally), name="producer"
        )

        # join(): first wait until the producer has put everything (join() called earlier
        # could return at once, on a queue that happens to be empty), then until every item
        # has been marked task_done().
        await producer_task
        await q.join()
        if args.stop == "cancel":
            # Cancellation, the alternative to sentinels: the queue has joined, so every
            # item is done and each consumer is idle in get(); cancelling them loses nothing.
            for task in consumer_tasks:
                task.cancel()
    return tally


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tally = asyncio.run(run(args))
    # The bound: maxsize items can wait in the queue, and each consumer holds at most one more.
    bound = args.maxsize + args.consumers
    shares = ",".join(f"{name}:{n}" for name, n in sorted(tally.per_consumer.items()))
    print(f"load balancing: items per consumer {shares}")
    print(f"backpressure: the producer ran at most {tally.max_ahead} items ahead (bound {bound})")
    print(
        f"summary produced={tally.produced} consumed={tally.consumed} failed={tally.failed} "
        f"producer_errors={tally.producer_errors} consumers={args.consumers} "
        f"maxsize={args.maxsize} max_ahead={tally.max_ahead} bound={bound}"
    )
    # Exit status 1 if an item was lost or consumed twice. The bound is for the reader (and
    # the tests) to check; maxsize=0, an unbounded queue, has none.
    return 0 if tally.consumed == tally.produced else 1


if __name__ == "__main__":
    sys.exit(main())
