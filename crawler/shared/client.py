"""The connection of one worker to one crawl in Redis: the client, the key names, the scripts.

Keys live under ``<namespace>:{<crawl_id>}:`` (the braces are a Redis Cluster hash tag:
one crawl lives on one shard, so its Lua scripts may touch all of its keys); the table
of keys is in ``crawler.shared.state``. The state backend, the host gate and the admin
operations all talk to Redis through one ``RedisConnection``.

This and the other modules of ``crawler.shared`` are the only code that imports
``redis``, and only when a connection opens: without the ``redis`` extra the rest of
the crawler imports and runs, and a ``redis://`` state is the one-line ``MISSING_EXTRA``.
"""

from __future__ import annotations

import inspect
import json
import os
import secrets
import socket
from typing import TYPE_CHECKING, Any, Final, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from crawler.errors import StateError
from crawler.models import Request
from crawler.shared.lua import SCRIPTS, script
from crawler.shared.outage import DEFAULT_OUTAGE_SECONDS, Outage
from crawler.urls import canonicalize, fingerprint

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from redis.asyncio import Redis
    from redis.commands.core import AsyncScript

T = TypeVar("T")

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
    "hosts_done", "errors", "scope", "polite", "claims", "snapshots",
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
        self.claims = prefix + "claims"
        self.snapshots = prefix + "snapshots"
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


def split_namespace(url: str, namespace: str) -> tuple[str, str]:
    """Return ``url`` without its ``prefix`` query parameter, and the namespace it names."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefixes = [value for name, value in query if name == "prefix"]
    if not prefixes:
        return url, namespace
    if not prefixes[-1] or any(c in prefixes[-1] for c in ":{}*?[]\\ "):
        # a namespace with ':' or braces could reach into another crawl's keys (purge!)
        raise StateError(f"invalid prefix {prefixes[-1]!r}: empty, or with :{{}}*?[]\\ or spaces")
    rest = urlencode([(name, value) for name, value in query if name != "prefix"])
    return urlunsplit(parts._replace(query=rest)), prefixes[-1]


def default_worker_id() -> str:
    """Return a token unique to this process: host name, pid and a random suffix."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


def connect(url: str) -> Redis:
    """Return an asyncio Redis client for ``url`` (not connected until first used).

    Raises:
        StateError: The ``redis`` package is missing (the message names the extra), or
            ``url`` is not a Redis URL redis-py can read.
    """
    try:
        from redis.asyncio import BlockingConnectionPool, Redis
    except ImportError:
        raise StateError(MISSING_EXTRA) from None
    try:
        pool = BlockingConnectionPool.from_url(url, max_connections=MAX_CONNECTIONS, timeout=None)
    except ValueError as exc:
        raise StateError(f"invalid Redis URL {url!r}: {exc}") from None
    return Redis.from_pool(pool)


async def reply(value: Awaitable[T] | T) -> T:
    """Return a command's reply: redis-py 7's stubs type every command as sync-or-async."""
    return await value if inspect.isawaitable(value) else value


def glob_escape(text: str) -> str:
    """Return ``text`` with Redis glob characters escaped, for ``SCAN MATCH``."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def as_text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def as_bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


class RedisConnection:
    """One worker's open connection to one crawl: client, keys, scripts and clock.

    Args:
        url: The server, e.g. ``redis://127.0.0.1:6379/0``; a ``prefix`` query parameter
            (``redis://127.0.0.1:6379/0?prefix=staging``) replaces ``namespace``.
        crawl_id: The crawl's name; it namespaces every key.
        namespace: The first part of every key.
        worker_id: This worker's token (default: host, pid, random).
        clock: Seconds, for tests; ``None`` uses the Redis server's clock.
        outage_seconds: How long a call waits for Redis to answer again (``Outage``).
    """

    def __init__(
        self,
        url: str,
        crawl_id: str,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        worker_id: str | None = None,
        clock: Callable[[], float] | None = None,
        outage_seconds: float = DEFAULT_OUTAGE_SECONDS,
    ) -> None:
        self.url, namespace = split_namespace(url, namespace)
        self.outage = Outage(self.url, outage_seconds)
        self.crawl_id = crawl_id
        self.keys = RedisKeys(crawl_id, namespace)
        self.worker_id = worker_id or default_worker_id()
        self._clock = clock
        self._client: Redis | None = None
        self._scripts: dict[str, AsyncScript] = {}

    @property
    def client(self) -> Redis:
        """The open client.

        Raises:
            RuntimeError: The connection is not open.
        """
        if self._client is None:
            raise RuntimeError("the Redis state is not open")
        return self._client

    @property
    def is_open(self) -> bool:
        """Whether ``open`` succeeded and ``close`` was not called since."""
        return self._client is not None

    async def open(self) -> None:
        """Connect and check that the server answers.

        Raises:
            StateError: No Redis answers at ``url``, or the ``redis`` extra is missing.
        """
        if self._client is not None:
            raise RuntimeError("the state is already open")
        client = connect(self.url)
        try:
            await reply(client.ping())
        except Exception as exc:
            await client.aclose()
            raise StateError(f"cannot reach Redis at {self.url}: {exc}") from None
        self._client = client
        self._scripts = {name: client.register_script(script(name)) for name in SCRIPTS}

    async def close(self) -> None:
        """Disconnect (once; later calls do nothing)."""
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    def clock_arg(self) -> str:
        """Return the ``now`` argument of the scripts: ``""`` for the server's clock."""
        return "" if self._clock is None else repr(self._clock())

    async def now(self) -> float:
        """Return the time leases are measured in: the server's clock (or the test clock)."""
        return float(await self.run_script("now", [], [self.clock_arg()]))

    async def run_script(self, name: str, keys: Sequence[str], args: Sequence[object]) -> Any:
        """Run the Lua script called ``name`` (``crawler.shared.lua``), waiting out an outage."""
        run = self._scripts[name]
        return await self.outage.call(lambda: run(keys=keys, args=args, client=self.client))  # type: ignore[arg-type]

    async def call(self, command: Callable[[Redis], Awaitable[T] | T]) -> T:
        """Return the reply of ``command(client)``, waiting out an outage (``Outage``)."""
        return await self.outage.call(lambda: reply(command(self.client)))


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
