"""The shared state backend: one crawl's frontier in Redis, used by many workers at once.

Keys live under ``<namespace>:{<crawl_id>}:`` (the braces are a Redis Cluster hash tag:
one crawl lives on one shard, so its Lua scripts may touch all of its keys):

==============  =======  ==========================================================
``seen``        SET      8-byte fingerprints of every canonical key admitted or claimed
``pending``     LIST     compact JSON ``[url, depth, parent]``, leased from the front
``leases``      ZSET     leased member → deadline (server seconds)
``owners``      HASH     leased member → worker token (an ack of a lost lease fails)
``records``     LIST     the output records (JSON lines), pushed by the ack itself
``meta``        HASH     ``identity``, ``seeded``, ``done``, ``finished`` (the generation)
``workers``     ZSET     worker token → heartbeat deadline
``seeders``     ZSET     token of a worker still seeding → heartbeat deadline
``hosts``       HASH     host[:port] → pending count
``hosts_done``  HASH     host[:port] → done count
``errors``      HASH     error class → count
``scope``       SET      the seeds' hosts, so a worker without seeds has the same scope
``polite``      HASH     ``origin|next`` start time, ``origin|delay``, ``origin|backoff``
``claims``      HASH     redirect target fingerprint → the claiming request's fingerprint
``snapshots``   HASH     done member → what the next generation compares with (``Snapshot``)
``slots:ORIGIN``  ZSET   a request in flight to the origin → deadline (politeness)
``wanted:ORIGIN`` STRING  exists (with a TTL) while a worker waits for a slot there
==============  =======  ==========================================================

Every multi-key update is one Lua script (``crawler.shared.lua``), run through the
worker's ``RedisConnection``. Lease deadlines use the Redis server's clock, the one clock
all machines share (a ``clock`` may be given for tests). Wake-ups: ``crawler.shared.events``.

Memory per URL: 8 bytes in ``seen`` (and the set's ~30 bytes), and its JSON while pending.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from crawler.errors import StateMismatchError
from crawler.models import Snapshot
from crawler.shared.client import (
    CHUNK,
    DEFAULT_NAMESPACE,
    RedisConnection,
    as_bytes,
    as_text,
    decode_request,
    encode_request,
    fingerprint_bytes,
    reply,
)
from crawler.shared.events import EventSubscription
from crawler.shared.outage import DEFAULT_OUTAGE_SECONDS
from crawler.state import StateCounts, StateLifecycle

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Sequence

    from redis.asyncio import Redis

    from crawler.models import Request
    from crawler.shared.client import RedisKeys
    from crawler.shared.gate import SlotRelease


@dataclass(frozen=True, slots=True)
class Progress:
    """What decides whether a shared crawl is complete.

    Attributes:
        seeded: Some seeding run has finished.
        seeders: Workers still seeding (alive).
        pending: Requests waiting.
        leased: Requests leased by any worker (expired ones included).
        done: Requests acked.
        next_deadline: Seconds until the earliest lease deadline, ``None`` without leases.
        workers: Workers alive (heartbeat not expired).
        bound: The crawl's identity is there: ``False`` once its keys are gone (a Redis
            that restarted without persistence, or ``crawl purge``).
    """

    seeded: bool
    seeders: int
    pending: int
    leased: int
    done: int
    next_deadline: float | None
    workers: int
    bound: bool = True


class RedisState(StateLifecycle):
    """The state of one crawl in Redis, shared by every worker that opens it.

    Args:
        url: The server, e.g. ``redis://127.0.0.1:6379/0``; a ``prefix`` query parameter
            (``redis://127.0.0.1:6379/0?prefix=staging``) replaces ``namespace``.
        crawl_id: The crawl's name; it namespaces every key.
        namespace: The first part of every key.
        worker_id: This worker's token (default: host, pid, random); a worker restarted
            with the same id takes its old leases over (``leased()``).
        max_pages: Hand out at most this many requests across all workers.
        clock: Seconds, for tests; ``None`` uses the Redis server's clock.
        outage_seconds: How long a call waits for Redis to answer again.
    """

    durable = True

    def __init__(
        self,
        url: str,
        crawl_id: str,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        worker_id: str | None = None,
        max_pages: int | None = None,
        clock: Callable[[], float] | None = None,
        outage_seconds: float = DEFAULT_OUTAGE_SECONDS,
    ) -> None:
        self.connection = RedisConnection(
            url,
            crawl_id,
            namespace=namespace,
            worker_id=worker_id,
            clock=clock,
            outage_seconds=outage_seconds,
        )
        self._max_pages = -1 if max_pages is None else max_pages
        self._events = EventSubscription(self.connection)
        self._held: set[bytes] = set()  # members leased to this process and not yet let go

    @property
    def url(self) -> str:
        """The server's URL (without the ``prefix`` parameter)."""
        return self.connection.url

    @property
    def crawl_id(self) -> str:
        """The crawl's name."""
        return self.connection.crawl_id

    @property
    def worker_id(self) -> str:
        """This worker's token."""
        return self.connection.worker_id

    @property
    def keys(self) -> RedisKeys:
        """The crawl's key names."""
        return self.connection.keys

    @property
    def client(self) -> Redis:
        """The open client (``RuntimeError`` when not open)."""
        return self.connection.client

    async def open(self) -> None:
        """Connect and check that the server answers.

        Raises:
            StateError: No Redis answers at ``url``.
        """
        await self.connection.open()

    async def close(self) -> None:
        """Leave the crawl's worker list and disconnect; leases still held are kept."""
        if not self.connection.is_open:
            return
        try:
            await self._events.close()
            with contextlib.suppress(Exception):  # leaving early is a courtesy: the heartbeat ends
                await reply(self.client.zrem(self.keys.workers, self.worker_id))
        finally:
            await self.connection.close()

    async def bind(self, identity: str, *, force: bool = False) -> bool:
        """Tie the crawl id to one crawl; another crawl's identity is refused unless ``force``."""
        outcome = int(
            await self.connection.run_script("bind", [self.keys.meta], [identity, int(force)])
        )
        if outcome < 0:
            raise StateMismatchError(
                f"crawl id {self.crawl_id!r} belongs to another crawl (other seeds or scope "
                "options): use another --crawl-id, purge it, or pass --force"
            )
        return outcome > 0

    async def add(self, requests: Sequence[Request]) -> list[Request]:
        """Admit the requests whose key was never seen, across all workers; return those."""
        admitted: list[Request] = []
        for start in range(0, len(requests), CHUNK):
            chunk = requests[start : start + CHUNK]
            args: list[bytes | str] = [self.keys.channel]
            for request in chunk:
                args += (fingerprint_bytes(request.key), encode_request(request))
            keys = [self.keys.seen, self.keys.pending, self.keys.hosts]
            positions = await self.connection.run_script("add", keys, args)
            admitted += (chunk[int(n) - 1] for n in positions)
        return admitted

    async def claim(self, key: str, *, owner: str | None = None) -> bool:
        """Mark ``key`` seen without queueing it; ``True`` if new or ``owner``'s already."""
        holder = b"" if owner is None else fingerprint_bytes(owner)
        args = [fingerprint_bytes(key), holder]
        keys = [self.keys.seen, self.keys.claims]
        return bool(await self.connection.run_script("claim", keys, args))

    async def lease(self, limit: int, *, lease_seconds: float) -> list[Request]:
        """Return expired leases to pending, then claim up to ``limit`` requests."""
        keys = [self.keys.pending, self.keys.leases, self.keys.owners, self.keys.meta]
        args = [
            self.connection.clock_arg(),
            lease_seconds,
            min(limit, CHUNK),
            self.worker_id,
            self._max_pages,
        ]
        keys += [self.keys.hosts, self.keys.snapshots]
        members, snapshots = await self.connection.run_script("lease", keys, args)
        self._held.update(as_bytes(m) for m in members)
        return [_with_snapshot(m, s) for m, s in zip(members, snapshots, strict=True)]

    async def renew(self, requests: Sequence[Request], *, lease_seconds: float) -> None:
        """Push the deadlines of the leases this worker still owns ``lease_seconds`` ahead."""
        for start in range(0, len(requests), CHUNK):
            members = [encode_request(r) for r in requests[start : start + CHUNK]]
            args = [self.connection.clock_arg(), lease_seconds, self.worker_id, *members]
            await self.connection.run_script("renew", [self.keys.leases, self.keys.owners], args)

    async def ack(
        self,
        request: Request,
        *,
        records: Sequence[bytes] = (),
        error: str | None = None,
        snapshot: Snapshot | None = None,
    ) -> bool:
        """Mark a leased request done and store its ``records`` (JSON lines) in one step.

        Args:
            request: A request this worker leased.
            records: Output lines stored with the ack, for ``crawl export``.
            error: The record's error class, counted per class.
            snapshot: What to keep of it for the next generation (``begin_generation``).

        Returns:
            ``False`` (nothing stored) if the lease was lost or the request was done already.
        """
        keys = [self.keys.leases, self.keys.owners, self.keys.meta, self.keys.records]
        keys += [self.keys.hosts_done, self.keys.errors, self.keys.snapshots]
        kept = snapshot.to_json() if snapshot is not None else ""
        args = [self.keys.channel, encode_request(request), self.worker_id, error or "", kept]
        acked = bool(await self.connection.run_script("ack", keys, [*args, *records]))
        self._held.discard(encode_request(request))
        return acked

    async def complete(
        self,
        request: Request,
        *,
        found: Sequence[Request] = (),
        records: Sequence[bytes] = (),
        error: str | None = None,
        slot: SlotRelease | None = None,
        snapshot: Snapshot | None = None,
    ) -> tuple[bool, list[Request]]:
        """Finish a page in one round trip: add its links, ack it with its records, free its slot.

        Args:
            request: A request this worker leased.
            found: The links found on its page (admitted if never seen, as ``add``).
            records: Its output lines, stored with the ack (as ``ack``).
            error: Its error class, counted per class.
            slot: Its politeness slot, freed whatever the ack's outcome.
            snapshot: What to keep of it for the next generation (as ``ack``).

        Returns:
            Whether it was acked (``False``: the lease was lost), and the links admitted.
        """
        if len(found) > CHUNK:
            admitted = await self.add(found)
            acked, _ = await self.complete(
                request, records=records, error=error, slot=slot, snapshot=snapshot
            )
            return acked, admitted
        keys, args = self._complete_arguments(request, found, records, error, slot)
        args[11] = snapshot.to_json() if snapshot is not None else ""
        acked, *positions = await self.connection.run_script("complete", keys, args)
        self._held.discard(encode_request(request))
        return bool(acked), [found[int(n) - 1] for n in positions]

    def _complete_arguments(
        self,
        request: Request,
        found: Sequence[Request],
        records: Sequence[bytes],
        error: str | None,
        slot: SlotRelease | None,
    ) -> tuple[list[str], list[object]]:
        k = self.keys
        origin = slot.origin if slot else ""
        keys = [k.seen, k.pending, k.hosts, k.leases, k.owners, k.meta, k.records]
        keys += [k.hosts_done, k.errors, k.slots(origin), k.polite, k.wanted(origin)]
        keys += [k.snapshots]
        args: list[object] = [k.channel, encode_request(request), self.worker_id, error or ""]
        args += [len(found), len(records), slot.member if slot else "", origin]
        args += [_status(slot), slot.max_delay if slot else 0, slot.min_backoff if slot else 0]
        args += [""]  # the snapshot, set by ``complete``
        for link in found:
            args += (fingerprint_bytes(link.key), encode_request(link))
        return keys, [*args, *records]

    async def release(self, requests: Sequence[Request]) -> None:
        """Return the leases this worker owns to the front of pending."""
        if not requests:
            return
        await self._release([encode_request(r) for r in requests])

    async def _release(self, members: list[bytes]) -> int:
        keys = [self.keys.pending, self.keys.leases, self.keys.owners, self.keys.hosts]
        args = [self.keys.channel, self.worker_id, *members]
        released = int(await self.connection.run_script("release", keys, args))
        self._held.difference_update(members)
        return released

    async def release_orphans(self) -> int:
        """Give back (and count) leases Redis says are ours that we never got: their lease
        call ran, but its answer was lost in an outage; no one else could fetch them."""
        owners = await self.connection.call(lambda c: c.hgetall(self.keys.owners))
        token = self.worker_id.encode()
        orphans = [as_bytes(m) for m, o in owners.items() if o == token]
        orphans = [m for m in orphans if m not in self._held]
        if not orphans:
            return 0
        log.info("giving back %d leases whose lease answer was lost", len(orphans))
        return await self._release(orphans)

    async def begin_generation(self) -> bool:
        """Start the next generation if the last completed (one script: of many workers
        started with ``--recrawl``, the first starts it and the others join it)."""
        k = self.keys
        keys = [k.meta, k.snapshots, k.pending, k.hosts, k.hosts_done, k.errors, k.records]
        return int(await self.connection.run_script("begin_generation", keys, [k.channel])) >= 0

    async def finish_generation(self) -> None:
        """Mark the current generation complete (any worker that saw it complete)."""
        await self.connection.call(lambda c: c.hset(self.keys.meta, "finished", "1"))

    async def leased(self) -> list[Request]:
        """Return the requests leased by this worker id (on a restart: its old leases)."""
        owners = await self.connection.call(lambda c: c.hgetall(self.keys.owners))
        token = self.worker_id.encode()
        mine = [as_bytes(m) for m, owner in owners.items() if owner == token]
        self._held.update(mine)
        if not mine:
            return []
        kept = await self.connection.call(lambda c: c.hmget(self.keys.snapshots, mine))
        return [_with_snapshot(m, s) for m, s in zip(mine, kept, strict=True)]

    async def counts(self) -> StateCounts:
        """Return the crawl's counts, across all workers."""
        pending, leased, done, seen = await self.connection.outage.call(self._counts)
        return StateCounts(int(pending), int(leased), int(done or 0), int(seen))

    async def _counts(self) -> list[Any]:
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.llen(self.keys.pending)
            pipe.zcard(self.keys.leases)
            pipe.hget(self.keys.meta, "done")
            pipe.scard(self.keys.seen)
            return list(await pipe.execute())

    async def heartbeat(self, lease_seconds: float) -> None:
        """Mark this worker (and its seeding, if any) alive for ``lease_seconds``."""
        keys = [self.keys.workers, self.keys.seeders]
        await self.connection.run_script(
            "heartbeat", keys, [self.connection.clock_arg(), lease_seconds, self.worker_id]
        )

    async def seeding(self, *, started: bool, lease_seconds: float) -> None:
        """Note that this worker starts seeding, or has finished (the crawl is then seeded)."""
        args = [
            self.keys.channel,
            self.connection.clock_arg(),
            lease_seconds,
            self.worker_id,
            int(started),
        ]
        await self.connection.run_script("seeding", [self.keys.seeders, self.keys.meta], args)

    async def progress(self) -> Progress:
        """Return what decides completion (dead workers and seeders are forgotten first, and
        the leases of a dead worker go back to pending)."""
        k = self.keys
        keys = [k.pending, k.leases, k.meta, k.seeders, k.workers, k.owners, k.hosts]
        args = [self.connection.clock_arg(), k.channel]
        values = await self.connection.run_script("progress", keys, args)
        seeded, seeders, pending, leased, done, wait, workers, bound = values
        return Progress(
            seeded=seeded == b"1",
            seeders=int(seeders),
            pending=int(pending),
            leased=int(leased),
            done=int(done),
            next_deadline=float(wait) if wait else None,
            workers=int(workers),
            bound=bool(bound),
        )

    async def share_scope_hosts(self, hosts: Sequence[str]) -> None:
        """Share seed hosts, so that workers started without seeds have the same scope."""
        if hosts:
            await self.connection.call(lambda c: c.sadd(self.keys.scope, *hosts))

    async def scope_hosts(self) -> set[str]:
        """Return the seed hosts every worker of the crawl shares."""
        hosts = await self.connection.call(lambda c: c.smembers(self.keys.scope))
        return {as_text(h) for h in hosts}

    async def watch(self) -> None:
        """Subscribe to the crawl's events; call before the first ``progress`` check."""
        await self._events.watch()

    def events(self) -> AsyncIterator[str]:
        """Yield the crawl's events forever (``crawler.shared.events``); ``watch()`` first."""
        return self._events.events()


def _status(slot: SlotRelease | None) -> int | str:
    return "" if slot is None or slot.status is None else slot.status


def _with_snapshot(member: bytes, snapshot: bytes | str | None) -> Request:
    """Return the request of a pending member with its kept snapshot, if any."""
    request = decode_request(member)
    if not snapshot:
        return request
    return replace(request, previous=Snapshot.from_json(as_text(snapshot)))
