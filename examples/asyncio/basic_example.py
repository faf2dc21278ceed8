"""One producer, one consumer and a bounded ``asyncio.Queue`` between them, with asyncio.

Run from the repository root::

    python examples/asyncio/basic_example.py [--items 10] [--maxsize 3] [--stop cancel]

``examples/threaded/basic_example.py`` teaches the same lesson with threads; diff the two.

Output: a ``produced item-N`` line for each item put on the queue, a ``consumed item-N`` line for
each item taken off it, then one ``summary key=value ...`` line with the totals.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass

# Simulated work per item, in seconds: it makes the consumer the slow side, so the queue fills
# up and the backpressure shows in the output.
WORK_SECONDS = 0.01
# With --stop sentinel the producer always ends with a sentinel, so waiting this many seconds
# for an item means it died without sending one: give up instead of hanging forever.
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


async def producer(
    q: asyncio.Queue[str | None], count: int, tally: Tally, *, send_sentinel: bool
) -> None:
    """Put items 1..count on the queue, then (if asked) the sentinel."""
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
            # producer waits for the consumer instead of filling memory.
            await q.put(item)
            tally.produced += 1
            ahead = tally.produced - tally.consumed
            tally.max_ahead = max(tally.max_ahead, ahead)
            print(f"[producer] produced {item} (queue {q.qsize()}/{q.maxsize}, {ahead} ahead)")
    finally:
        if send_sentinel:
            # Completion: the sentinel says "no more items". In a finally, so that even a
            # crashing producer releases the consumer.
            await q.put(SENTINEL)


async def consume_one(item: str, tally: Tally) -> None:
    """Process one item and report it; a failure is reported, not raised."""
    outcome = "ok"
    try:
        await process(item)
    except RuntimeError as exc:
        # Exception in the consumer: one bad item must not stop the ones behind it.
        outcome = f"failed: {exc}"
    tally.consumed += 1
    tally.failed += outcome != "ok"
    print(f"[consumer] consumed {item} ({outcome})")


async def consumer(q: asyncio.Queue[str | None], tally: Tally) -> None:
    """Take items until the sentinel arrives or the task is cancelled."""
    while True:
        try:
            # Timeout: without one, a producer that died silently would hang us forever.
            # (With --stop cancel, this is where the cancellation arrives.)
            item = await asyncio.wait_for(q.get(), timeout=GET_TIMEOUT_SECONDS)
        except TimeoutError:
            print(f"[consumer] gave up: nothing arrived for {GET_TIMEOUT_SECONDS} s")
            return
        try:
            if item is SENTINEL:
                print("[consumer] got the sentinel, stopping")
                return
            await consume_one(item, tally)
        finally:
            # task_done() for every get(), the sentinel included, in a finally so that an
            # exception still counts the item; otherwise q.join() would wait forever.
            q.task_done()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10, help="inputs to produce (default 10)")
    parser.add_argument("--maxsize", type=int, default=3, help="queue bound (default 3)")
    parser.add_argument(
        "--stop",
        choices=["sentinel", "cancel"],
        default="sentinel",
        help="how the consumer learns it is done (default sentinel)",
    )
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> Tally:
    # A bounded queue: at most maxsize items wait in it (maxsize=0 would mean unbounded).
    q: asyncio.Queue[str | None] = asyncio.Queue(maxsize=args.maxsize)
    tally = Tally()
    consumer_task = asyncio.create_task(consumer(q, tally), name="consumer")
    producer_task = asyncio.create_task(
        producer(q, args.items, tally, send_sentinel=args.stop == "sentinel"), name="producer"
    )

    # join(): first wait until the producer has put everything (join() called earlier could
    # return at once, on a queue that happens to be empty), then until every item has been
    # marked task_done().
    await producer_task
    await q.join()
    if args.stop == "cancel":
        # Cancellation, the alternative to a sentinel: the queue has joined, so every item
        # is done and the consumer is idle in get(); cancelling it loses nothing.
        consumer_task.cancel()
    # gather() waits for the consumer to end; return_exceptions=True hands back the
    # CancelledError of a cancelled consumer instead of raising it here.
    await asyncio.gather(consumer_task, return_exceptions=True)
    return tally


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tally = asyncio.run(run(args))
    # The bound: maxsize items can wait in the queue, and the consumer holds at most one more.
    bound = args.maxsize + 1
    print(f"backpressure: the producer ran at most {tally.max_ahead} items ahead (bound {bound})")
    print(
        f"summary produced={tally.produced} consumed={tally.consumed} failed={tally.failed} "
        f"producer_errors={tally.producer_errors} consumers=1 maxsize={args.maxsize} "
        f"max_ahead={tally.max_ahead} bound={bound}"
    )
    # Exit status 1 if an item was lost or consumed twice. The bound is for the reader (and
    # the tests) to check; maxsize=0, an unbounded queue, has none.
    return 0 if tally.consumed == tally.produced else 1


if __name__ == "__main__":
    sys.exit(main())
