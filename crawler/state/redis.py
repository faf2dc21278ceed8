"""The shared state backend: one crawl's frontier in Redis, used by many workers at once.

Keys live under ``<namespace>:{<crawl_id>}:`` (the braces are a Redis Cluster hash tag:
one crawl lives on one shard, so its Lua scripts may touch all of its keys):

==============  =======  ==========================================================
``seen``        SET      8-byte fingerprints of every canonical key admitted or claimed
``pending``     LIST     compact JSON ``[url, depth, parent]``, leased from the front
``leases``      ZSET     leased member → deadline (server seconds)
``owners``      HASH     leased member → worker token (an ack of a lost lease fails)
``records``     LIST     the output records (JSON lines), pushed by the ack itself
``meta``        HASH     ``identity``, ``seeded``, ``done``
``workers``     ZSET     worker token → heartbeat deadline
``seeders``     ZSET     token of a worker still seeding → heartbeat deadline
``hosts``       HASH     host[:port] → pending count
``hosts_done``  HASH     host[:port] → done count
``errors``      HASH     error class → count
``scope``       SET      the seeds' hosts, so a worker without seeds has the same scope
``polite``      HASH     ``origin|next`` start time, ``origin|delay``, ``origin|backoff``
``slots:ORIGIN``  ZSET   a request in flight to the origin → deadline (politeness)
``wanted:ORIGIN`` STRING  exists (with a TTL) while a worker waits for a slot there
==============  =======  ==========================================================

Every multi-key update is one Lua script (``crawler.state.redis_lua``). Lease deadlines
use the Redis server's clock, the one clock all machines share (a ``clock`` may be given
for tests). Changes that may let a waiting worker go on (work added or released, the
last lease acked, seeding finished) are published on the channel ``<prefix>events``.

Memory per URL: 8 bytes in ``seen`` (plus the set's overhead, about 30 bytes), and while
it waits, its JSON in ``pending`` (URL, depth and parent).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from crawler.errors import StateError, StateMismatchError
from crawler.models import Request
from crawler.state import StateCounts
from crawler.state.redis_lua import SCRIPTS, script
from crawler.urls import canonicalize, fingerprint

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Sequence

    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub
    from redis.commands.core import AsyncScript

MISSING_EXTRA: Final = "the Redis state needs the redis extra: pip install 'crawler[redis]'"

CHUNK: Final = 500
"""Requests per script call: Lua's ``unpack`` takes a few thousand values at most."""

DEFAULT_NAMESPACE: Final = "crawler"

MAX_CONNECTIONS: Final = 32
"""Connections a worker opens at most (one is its event subscription); more callers wait
for a free one. Each call is one short round trip, so a few connections serve hundreds of
consumers, and hundreds of workers stay far below Redis's 10,000 clients."""


_KEY_NAMES: Final = (
    "seen", "pending", "leases", "owners", "records", "meta", "workers", "seeders", "hosts",
    "hosts_done", "errors", "scope", "polite",
)  # fmt: skip


class RedisKeys:
    """The key names of one crawl (see the module docstring)."""

    def __init__(self, crawl_id: str, namespace: str = DEFAULT_NAMESPACE) -> None:
        if not crawl_id or any(c in crawl_id for c in "{}*?[]\\"):
            raise StateError(f"invalid crawl id {crawl_id!r}: empty, or with {{}}*?[]\\")
        self.prefix = prefix = f"{namespace}:{{{crawl_id}}}:"
        self.seen = prefix + "seen"
        self.pending = prefix + "pending"
        self.leases = prefix + "leases"
        self.owners = prefix + "owners"
        self.records = prefix + "records"
        self.meta = prefix + "meta"
        self.workers = prefix + "workers"
        self.seeders = prefix + "seeders"
        self.hosts = prefix + "hosts"
        self.hosts_done = prefix + "hosts_done"
        self.errors = prefix + "errors"
        self.scope = prefix + "scope"
        self.polite = prefix + "polite"
        self.slots_prefix = prefix + "slots:"
        self.channel = prefix + "events"
        """The pub/sub channel of the crawl's wake-up events (not a key)."""

    def slots(self, origin: str) -> str:
        """Return the key of the politeness slots (ZSET holder → deadline) of ``origin``."""
        return self.slots_prefix + origin

    def wanted(self, origin: str) -> str:
        """Return the key that exists while a worker waits for a slot of ``origin``."""
        return self.prefix + "wanted:" + origin

    def fixed(self) -> list[str]:
        """Return every key name of the crawl except the per-host politeness keys."""
        return [self.prefix + name for name in _KEY_NAMES]


@dataclass(frozen=True, slots=True)
class SlotRelease:
    """A politeness slot to free in the same step as an ack (see ``RedisHostGate``).

    Attributes:
        member: The slot's member in the origin's ``slots``.
        origin: ``scheme://host[:port]``.
        status: The response status, for the 429 back-off (``None`` without response).
        max_delay: The cap on the back-off, in seconds.
        min_backoff: The first back-off after a 429, in seconds.
    """

    member: str
    origin: str
    status: int | None
    max_delay: float
    min_backoff: float


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
    """

    seeded: bool
    seeders: int
    pending: int
    leased: int
    done: int
    next_deadline: float | None
    workers: int


def encode_request(request: Request) -> bytes:
    """Return the compact JSON of ``request`` (its key is recomputed on decoding)."""
    value = [request.url, request.depth, request.parent]
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def decode_request(member: bytes) -> Request:
    """Return the request ``encode_request`` encoded."""
    url, depth, parent = json.loads(member)
    return Request(url=url, key=canonicalize(url), depth=depth, parent=parent)


def fingerprint_bytes(key: str) -> bytes:
    """Return the 8-byte fingerprint of a canonical key, as stored in ``seen``."""
    return fingerprint(key).to_bytes(8, "big")


def split_namespace(url: str, namespace: str) -> tuple[str, str]:
    """Return ``url`` without its ``prefix`` query parameter, and the namespace it names."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefixes = [value for name, value in query if name == "prefix"]
    if not prefixes:
        return url, namespace
    rest = urlencode([(name, value) for name, value in query if name != "prefix"])
    return urlunsplit(parts._replace(query=rest)), prefixes[-1]


def default_worker_id() -> str:
    """Return a token unique to this process: host name, pid and a random suffix."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


def connect(url: str) -> Redis:
    """Return an asyncio Redis client for ``url`` (not connected until first used).

    Raises:
        StateError: The ``redis`` package is missing (the message names the extra).
    """
    try:
        from redis.asyncio import BlockingConnectionPool, Redis
    except ImportError:
        raise StateError(MISSING_EXTRA) from None
    pool = BlockingConnectionPool.from_url(url, max_connections=MAX_CONNECTIONS, timeout=None)
    return Redis.from_pool(pool)


class RedisState:
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
    """

    def __init__(
        self,
        url: str,
        crawl_id: str,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        worker_id: str | None = None,
        max_pages: int | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.url, namespace = split_namespace(url, namespace)
        self.crawl_id = crawl_id
        self.keys = RedisKeys(crawl_id, namespace)
        self.worker_id = worker_id or default_worker_id()
        self._max_pages = -1 if max_pages is None else max_pages
        self._clock = clock
        self._client: Redis | None = None
        self._scripts: dict[str, AsyncScript] = {}
        self._pubsub: PubSub | None = None

    @property
    def client(self) -> Redis:
        """The open client.

        Raises:
            RuntimeError: The state is not open.
        """
        if self._client is None:
            raise RuntimeError("the Redis state is not open")
        return self._client

    async def open(self) -> None:
        """Connect and check that the server answers.

        Raises:
            StateError: No Redis answers at ``url``.
        """
        if self._client is not None:
            raise RuntimeError("the state is already open")
        client = connect(self.url)
        try:
            await client.ping()
        except Exception as exc:
            await client.aclose()
            raise StateError(f"cannot reach Redis at {self.url}: {exc}") from None
        self._client = client
        self._scripts = {name: client.register_script(script(name)) for name in SCRIPTS}

    async def close(self) -> None:
        """Leave the crawl's worker list and disconnect; leases still held are kept."""
        if self._client is None:
            return
        client, self._client = self._client, None
        try:
            if self._pubsub is not None:
                await self._pubsub.aclose()  # type: ignore[no-untyped-call]
            await client.zrem(self.keys.workers, self.worker_id)
        finally:
            self._pubsub = None
            await client.aclose()

    async def bind(self, identity: str, *, force: bool = False) -> bool:
        """Tie the crawl id to one crawl; another crawl's identity is refused unless ``force``."""
        outcome = int(await self.run_script("bind", [self.keys.meta], [identity, int(force)]))
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
            positions = await self.run_script("add", keys, args)
            admitted += (chunk[int(n) - 1] for n in positions)
        return admitted

    async def claim(self, key: str) -> bool:
        """Mark ``key`` seen without queueing it; ``True`` if no worker had seen it."""
        return bool(await self.client.sadd(self.keys.seen, fingerprint_bytes(key)))

    async def lease(self, limit: int, *, lease_seconds: float) -> list[Request]:
        """Return expired leases to pending, then claim up to ``limit`` requests."""
        keys = [self.keys.pending, self.keys.leases, self.keys.owners, self.keys.meta]
        args = [self.clock_arg(), lease_seconds, min(limit, CHUNK), self.worker_id, self._max_pages]
        members = await self.run_script("lease", [*keys, self.keys.hosts], args)
        return [decode_request(m) for m in members]

    async def renew(self, requests: Sequence[Request], *, lease_seconds: float) -> None:
        """Push the deadlines of the leases this worker still owns ``lease_seconds`` ahead."""
        for start in range(0, len(requests), CHUNK):
            members = [encode_request(r) for r in requests[start : start + CHUNK]]
            args = [self.clock_arg(), lease_seconds, self.worker_id, *members]
            await self.run_script("renew", [self.keys.leases, self.keys.owners], args)

    async def ack(
        self, request: Request, *, records: Sequence[bytes] = (), error: str | None = None
    ) -> bool:
        """Mark a leased request done and store its ``records`` (JSON lines) in one step.

        Args:
            request: A request this worker leased.
            records: Output lines stored with the ack, for ``crawl export``.
            error: The record's error class, counted per class.

        Returns:
            ``False`` (nothing stored) if the lease was lost or the request was done already.
        """
        keys = [self.keys.leases, self.keys.owners, self.keys.meta, self.keys.records]
        keys += [self.keys.hosts_done, self.keys.errors]
        args = [self.keys.channel, encode_request(request), self.worker_id, error or "", *records]
        return bool(await self.run_script("ack", keys, args))

    async def complete(
        self,
        request: Request,
        *,
        found: Sequence[Request] = (),
        records: Sequence[bytes] = (),
        error: str | None = None,
        slot: SlotRelease | None = None,
    ) -> tuple[bool, list[Request]]:
        """Finish a page in one round trip: add its links, ack it with its records, free its slot.

        Args:
            request: A request this worker leased.
            found: The links found on its page (admitted if never seen, as ``add``).
            records: Its output lines, stored with the ack (as ``ack``).
            error: Its error class, counted per class.
            slot: Its politeness slot, freed whatever the ack's outcome.

        Returns:
            Whether it was acked (``False``: the lease was lost), and the links admitted.
        """
        if len(found) > CHUNK:
            admitted = await self.add(found)
            acked, _ = await self.complete(request, records=records, error=error, slot=slot)
            return acked, admitted
        keys, args = self._complete_arguments(request, found, records, error, slot)
        acked, *positions = await self.run_script("complete", keys, args)
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
        args: list[object] = [k.channel, encode_request(request), self.worker_id, error or ""]
        args += [len(found), len(records), slot.member if slot else "", origin]
        args += [_status(slot), slot.max_delay if slot else 0, slot.min_backoff if slot else 0]
        for link in found:
            args += (fingerprint_bytes(link.key), encode_request(link))
        return keys, [*args, *records]

    async def release(self, requests: Sequence[Request]) -> None:
        """Return the leases this worker owns to the front of pending."""
        if not requests:
            return
        keys = [self.keys.pending, self.keys.leases, self.keys.owners, self.keys.hosts]
        members = [encode_request(r) for r in requests]
        await self.run_script("release", keys, [self.keys.channel, self.worker_id, *members])

    async def leased(self) -> list[Request]:
        """Return the requests leased by this worker id (on a restart: its old leases)."""
        owners = await self.client.hgetall(self.keys.owners)
        token = self.worker_id.encode()
        return [decode_request(_raw(m)) for m, owner in owners.items() if owner == token]

    async def counts(self) -> StateCounts:
        """Return the crawl's counts, across all workers."""
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.llen(self.keys.pending)
            pipe.zcard(self.keys.leases)
            pipe.hget(self.keys.meta, "done")
            pipe.scard(self.keys.seen)
            pending, leased, done, seen = await pipe.execute()
        return StateCounts(int(pending), int(leased), int(done or 0), int(seen))

    async def heartbeat(self, lease_seconds: float) -> None:
        """Mark this worker (and its seeding, if any) alive for ``lease_seconds``."""
        keys = [self.keys.workers, self.keys.seeders]
        await self.run_script("heartbeat", keys, [self.clock_arg(), lease_seconds, self.worker_id])

    async def seeding(self, *, started: bool, lease_seconds: float) -> None:
        """Note that this worker starts seeding, or has finished (the crawl is then seeded)."""
        args = [self.keys.channel, self.clock_arg(), lease_seconds, self.worker_id, int(started)]
        await self.run_script("seeding", [self.keys.seeders, self.keys.meta], args)

    async def progress(self) -> Progress:
        """Return what decides completion (dead workers and seeders are forgotten first)."""
        keys = [self.keys.pending, self.keys.leases, self.keys.meta, self.keys.seeders]
        values = await self.run_script("progress", [*keys, self.keys.workers], [self.clock_arg()])
        seeded, seeders, pending, leased, done, wait, workers = values
        return Progress(
            seeded=seeded == b"1",
            seeders=int(seeders),
            pending=int(pending),
            leased=int(leased),
            done=int(done),
            next_deadline=float(wait) if wait else None,
            workers=int(workers),
        )

    async def add_scope_hosts(self, hosts: Sequence[str]) -> None:
        """Share seed hosts, so that workers started without seeds have the same scope."""
        if hosts:
            await self.client.sadd(self.keys.scope, *hosts)

    async def scope_hosts(self) -> set[str]:
        """Return the seed hosts every worker of the crawl shares."""
        return {_text(h) for h in await self.client.smembers(self.keys.scope)}

    async def watch(self) -> None:
        """Subscribe to the crawl's events; call before the first ``progress`` check."""
        if self._pubsub is None:
            self._pubsub = self.client.pubsub()
            await self._pubsub.subscribe(self.keys.channel)
            await self._pubsub.get_message(timeout=1.0)  # the subscribe confirmation

    async def events(self) -> AsyncIterator[str]:
        """Yield the crawl's events (``add``, ``idle``, ``seeded``, ``slot ORIGIN``) forever.

        Call ``watch()`` first, before checking what the events announce changes of.
        """
        if self._pubsub is None:
            raise RuntimeError("call watch() first")
        async for message in self._pubsub.listen():
            if message.get("type") == "message":
                yield _text(message["data"])

    async def now(self) -> float:
        """Return the time leases are measured in: the server's clock (or the test clock)."""
        return float(await self.run_script("now", [], [self.clock_arg()]))

    async def live_workers(self) -> dict[str, float]:
        """Return the live workers: id → seconds left on their heartbeat."""
        now = await self.now()
        alive: Any = await self.client.zrangebyscore(
            self.keys.workers, now, "+inf", withscores=True
        )
        return {_text(worker): float(deadline) - now for worker, deadline in alive}

    async def in_flight_by_host(self) -> dict[str, int]:
        """Return how many requests are being fetched per host now, by all workers."""
        now = await self.now()
        counts: dict[str, int] = {}
        async for key in self.client.scan_iter(match=glob_escape(self.keys.slots_prefix) + "*"):
            origin = _text(key).removeprefix(self.keys.slots_prefix)
            held = int(await self.client.zcount(key, now, "+inf"))
            if held:
                host = origin.partition("://")[2]  # host[:port], as the other per-host counts
                counts[host] = counts.get(host, 0) + held
        return counts

    def clock_arg(self) -> str:
        """Return the ``now`` argument of the scripts: ``""`` for the server's clock."""
        return "" if self._clock is None else repr(self._clock())

    async def run_script(self, name: str, keys: Sequence[str], args: Sequence[object]) -> Any:
        """Run the Lua script called ``name`` (``crawler.state.redis_lua``)."""
        return await self._scripts[name](keys=keys, args=args, client=self.client)  # type: ignore[arg-type]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _raw(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def glob_escape(text: str) -> str:
    """Return ``text`` with Redis glob characters escaped, for ``SCAN MATCH``."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def _status(slot: SlotRelease | None) -> int | str:
    return "" if slot is None or slot.status is None else slot.status
