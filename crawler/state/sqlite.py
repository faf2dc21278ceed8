"""The durable state backend: one SQLite file in WAL mode, driven off the event loop.

Every SQL statement runs on one dedicated worker thread that owns the only connection,
so the event loop never blocks on the disk. Writes are batched: the thread keeps one
transaction open and commits it when a ``lease`` hands out work (so a lease is durable
before its request is fetched and its record written), when ``COMMIT_INTERVAL`` has
passed since the last commit, and on ``close``. A crash (``kill -9``) loses at most the
acks and found links of the last open transaction: those requests are still leased on
disk, so the next run takes them over and fetches them again.

``synchronous=NORMAL`` with WAL: a commit survives the process dying at any moment; after
a power loss or an OS crash the last commits may be rolled back to an earlier consistent
state (the usual trade-off; fsyncing every commit would cost more than the crawl).

Memory stays flat however many URLs are pending or seen: they live on disk. A bounded
cache of keys known to be in the file (a *positive* cache: a key missing from it is
looked up in SQLite, so it never loses a URL) answers most duplicate links without a trip
to the worker thread.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from crawler.errors import StateCorruptError, StateMismatchError, StateWriteError
from crawler.models import Request, Snapshot
from crawler.state import StateCounts, StateLifecycle
from crawler.state.schema import PENDING, SCHEMA_VERSION, create_schema, read_meta

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

P = ParamSpec("P")
T = TypeVar("T")

# Seconds an open transaction may hold acks and links before it is committed: what a
# crash can lose (and then re-fetch), traded against commits per second.
COMMIT_INTERVAL = 0.5
# Keys kept in the positive cache: about 10 MB of strings; enough for a site's link graph
# to be answered in memory while millions of URLs stay on disk.
SEEN_CACHE_SIZE = 65_536
# SQLite page cache, in KiB (negative means KiB to SQLite): bounded, whatever the frontier.
PAGE_CACHE_KIB = 16 * 1024


class SqliteState(StateLifecycle):
    """Pending requests, leases, done marks and the seen set in one SQLite file."""

    durable = True

    def __init__(self, path: str, *, clock: Callable[[], float] = time.time) -> None:
        self._path = path
        self._clock = clock
        self._executor: ThreadPoolExecutor | None = None
        self._store: _Store | None = None
        self._recent: dict[str, None] = {}

    async def open(self) -> None:
        """Open (or create) the file on the worker thread.

        Raises:
            StateCorruptError: The file is not a readable crawl state.
        """
        if self._executor is not None:
            raise RuntimeError("the state is already open")
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="crawler-sqlite")
        try:
            self._store = await self._call(_Store.open, self._path, self._clock)
        except BaseException:
            self._executor.shutdown(wait=True)
            self._executor = None
            raise

    async def close(self) -> None:
        """Commit and close the file; leases still held stay leased for the next run."""
        if self._executor is None:
            return
        try:
            if self._store is not None:
                await self._call(self._store.close)
        finally:
            self._executor.shutdown(wait=True)
            self._executor = None
            self._store = None

    async def bind(self, identity: str, *, force: bool = False) -> bool:
        """Tie the file to one crawl; a file of another crawl is refused unless ``force``."""
        return await self._call(self._ready().bind, identity, force)

    async def add(self, requests: Sequence[Request]) -> list[Request]:
        """Admit the requests whose key was never seen; return those admitted, in order."""
        fresh = list({r.key: r for r in requests if r.key not in self._recent}.values())
        admitted = await self._call(self._ready().add, fresh) if fresh else []
        self._remember(r.key for r in fresh)
        return admitted

    async def claim(self, key: str, *, owner: str | None = None) -> bool:
        """Mark ``key`` seen without queueing it; ``True`` if new or ``owner``'s already."""
        if key in self._recent and owner is None:
            return False
        new = await self._call(self._ready().claim, key, owner)
        self._remember((key,))
        return new

    async def lease(self, limit: int, *, lease_seconds: float) -> list[Request]:
        """Return expired leases to pending, claim up to ``limit`` requests, and commit."""
        return await self._call(self._ready().lease, limit, lease_seconds)

    async def renew(self, requests: Sequence[Request], *, lease_seconds: float) -> None:
        """Push the deadline of leases still held ``lease_seconds`` ahead."""
        await self._call(self._ready().renew, [r.key for r in requests], lease_seconds)

    async def ack(self, request: Request, *, snapshot: Snapshot | None = None) -> bool:
        """Mark a leased request done, keeping ``snapshot``; ``False`` if the lease was lost."""
        kept = snapshot.to_json() if snapshot is not None else None
        return await self._call(self._ready().ack, request.key, kept)

    async def begin_generation(self) -> bool:
        """Queue every done request again, with its snapshot, if the last generation completed."""
        return await self._call(self._ready().begin_generation)

    async def finish_generation(self) -> None:
        """Mark the current generation complete, durably."""
        await self._call(self._ready().finish_generation)

    async def release(self, requests: Sequence[Request]) -> None:
        """Return leased requests to the front of pending."""
        await self._call(self._ready().release, [r.key for r in requests])

    async def leased(self) -> list[Request]:
        """Return the requests currently leased (on resume: those in flight at a crash)."""
        return await self._call(self._ready().leased)

    async def counts(self) -> StateCounts:
        """Return the current counts."""
        return await self._call(self._ready().counts)

    def _ready(self) -> _Store:
        if self._store is None:
            raise RuntimeError("the state is not open")
        return self._store

    async def _call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        if self._executor is None:
            raise RuntimeError("the state is not open")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, lambda: fn(*args, **kwargs))
        except sqlite3.OperationalError as exc:  # a full disk, an I/O error: not a corrupt file
            raise StateWriteError(f"cannot write state file {self._path!r}: {exc}") from None

    def _remember(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._recent[key] = None
        while len(self._recent) > SEEN_CACHE_SIZE:
            del self._recent[next(iter(self._recent))]


class _Store:
    """The connection and its bookkeeping; every method runs on the worker thread."""

    def __init__(self, db: sqlite3.Connection, path: str, clock: Callable[[], float]) -> None:
        self._db = db
        self._path = path
        self._clock = clock
        self._in_transaction = False
        self._last_commit = time.monotonic()
        front, back = db.execute(
            "SELECT MIN(rank), MAX(rank) FROM requests WHERE state = 0"
        ).fetchone()
        self._front = (front or 0) - 1
        self._back = (back or 0) + 1
        totals = dict(db.execute("SELECT state, COUNT(*) FROM requests GROUP BY state"))
        self._counts = [totals.get(state, 0) for state in range(4)]

    @classmethod
    def open(cls, path: str, clock: Callable[[], float]) -> _Store:
        try:
            db = sqlite3.connect(path, isolation_level=None)
        except sqlite3.Error as exc:
            raise StateCorruptError(f"cannot open state file {path!r}: {exc}") from None
        try:
            _configure(db, path)
            return cls(db, path, clock)
        except sqlite3.OperationalError as exc:
            db.close()
            raise StateWriteError(f"cannot write state file {path!r}: {exc}") from None
        except sqlite3.DatabaseError as exc:
            db.close()
            raise StateCorruptError(f"state file {path!r} is corrupt: {exc}") from None
        except BaseException:
            db.close()
            raise

    def close(self) -> None:
        try:
            self._commit()
        finally:
            self._db.close()

    def bind(self, identity: str, force: bool) -> bool:
        known = read_meta(self._db, "identity")
        if known is not None and known != identity and not force:
            raise StateMismatchError(
                f"state file {self._path!r} belongs to another crawl (other seeds or scope "
                "options); give --force to continue it with these, or another --state file"
            )
        self._write()
        self._db.execute("INSERT OR REPLACE INTO meta VALUES ('identity', ?)", (identity,))
        self._commit()
        return known is not None

    def add(self, requests: list[Request]) -> list[Request]:
        self._write()
        admitted = [r for r in requests if self._insert(r)]
        self._maybe_commit()
        return admitted

    def claim(self, key: str, owner: str | None) -> bool:
        # A claimed row keeps its owner (the redirecting request's key) in ``parent``.
        self._write()
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO requests (key, url, parent, state) VALUES (?, '', ?, 3)",
            (key, owner),
        )
        self._counts[3] += cursor.rowcount
        self._maybe_commit()
        if cursor.rowcount == 1:
            return True
        if owner is None:
            return False
        row = self._db.execute("SELECT state, parent FROM requests WHERE key = ?", (key,))
        return tuple(row.fetchone()) == (3, owner)

    def lease(self, limit: int, lease_seconds: float) -> list[Request]:
        now = self._clock()
        self._write()
        expired = self._db.execute(
            "SELECT key FROM requests WHERE state = 1 AND deadline <= ? ORDER BY deadline", (now,)
        ).fetchall()
        self.release([key for (key,) in expired])
        rows = self._db.execute(
            "SELECT key, url, depth, parent, snapshot FROM requests WHERE state = 0 "
            "ORDER BY rank LIMIT ?",
            (limit,),
        ).fetchall()
        self._db.executemany(
            "UPDATE requests SET state = 1, deadline = ? WHERE key = ?",
            [(now + lease_seconds, row[0]) for row in rows],
        )
        self._move(PENDING, 1, len(rows))
        self._commit()
        return [_request(row) for row in rows]

    def renew(self, keys: list[str], lease_seconds: float) -> None:
        deadline = self._clock() + lease_seconds
        self._write()
        self._db.executemany(
            "UPDATE requests SET deadline = ? WHERE key = ? AND state = 1",
            [(deadline, key) for key in keys],
        )
        self._maybe_commit()

    def ack(self, key: str, snapshot: str | None) -> bool:
        self._write()
        cursor = self._db.execute(
            "UPDATE requests SET state = 2, deadline = NULL, snapshot = COALESCE(?, snapshot) "
            "WHERE key = ? AND state = 1",
            (snapshot, key),
        )
        self._move(1, 2, cursor.rowcount)
        self._maybe_commit()
        return cursor.rowcount == 1

    def begin_generation(self) -> bool:
        if read_meta(self._db, "finished") != "1":
            return False
        self._write()
        # Ranks keep the last generation's order (breadth first), after what is pending.
        cursor = self._db.execute(
            "UPDATE requests SET state = 0, deadline = NULL, rank = rank + ? WHERE state = 2",
            (self._back,),
        )
        self._move(2, PENDING, cursor.rowcount)
        self._db.execute("INSERT OR REPLACE INTO meta VALUES ('finished', '0')")
        (back,) = self._db.execute("SELECT MAX(rank) FROM requests WHERE state = 0").fetchone()
        self._back = (back or 0) + 1
        self._commit()
        return True

    def finish_generation(self) -> None:
        self._write()
        self._db.execute("INSERT OR REPLACE INTO meta VALUES ('finished', '1')")
        self._commit()

    def release(self, keys: list[str]) -> None:
        self._write()
        for key in reversed(keys):
            cursor = self._db.execute(
                "UPDATE requests SET state = 0, rank = ?, deadline = NULL "
                "WHERE key = ? AND state = 1",
                (self._front, key),
            )
            self._front -= cursor.rowcount
            self._move(1, PENDING, cursor.rowcount)
        self._maybe_commit()

    def leased(self) -> list[Request]:
        rows = self._db.execute(
            "SELECT key, url, depth, parent, snapshot FROM requests WHERE state = 1 "
            "ORDER BY deadline"
        )
        return [_request(row) for row in rows]

    def counts(self) -> StateCounts:
        pending, leased, done, claimed = self._counts
        return StateCounts(pending, leased, done, pending + leased + done + claimed)

    def _insert(self, request: Request) -> bool:
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO requests (key, url, depth, parent, state, rank) "
            "VALUES (?, ?, ?, ?, 0, ?)",
            (request.key, request.url, request.depth, request.parent, self._back),
        )
        self._back += cursor.rowcount
        self._counts[PENDING] += cursor.rowcount
        return cursor.rowcount == 1

    def _move(self, source: int, target: int, count: int) -> None:
        self._counts[source] -= count
        self._counts[target] += count

    def _write(self) -> None:
        self._in_transaction = self._db.in_transaction  # a failed write may have rolled back
        if not self._in_transaction:
            self._db.execute("BEGIN IMMEDIATE")
            self._in_transaction = True

    def _maybe_commit(self) -> None:
        if time.monotonic() - self._last_commit >= COMMIT_INTERVAL:
            self._commit()

    def _commit(self) -> None:
        if self._in_transaction:
            try:
                self._db.execute("COMMIT")
            finally:
                # A failed COMMIT (SQLITE_FULL) has rolled the transaction back: say so, or
                # the next one would fail with "cannot commit - no transaction is active".
                self._in_transaction = self._db.in_transaction
        self._last_commit = time.monotonic()


def _configure(db: sqlite3.Connection, path: str) -> None:
    # Check before any write: a file that is not ours is refused untouched.
    (check,) = db.execute("PRAGMA quick_check").fetchone()
    if check != "ok":
        raise StateCorruptError(f"state file {path!r} is corrupt: {check}")
    create_schema(db, path)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute(f"PRAGMA cache_size = -{PAGE_CACHE_KIB}")
    version = read_meta(db, "schema")
    if version != SCHEMA_VERSION:
        raise StateCorruptError(f"state file {path!r} has schema {version!r}, not {SCHEMA_VERSION}")


def _request(row: tuple[str, str, int, str | None, str | None]) -> Request:
    key, url, depth, parent, snapshot = row
    previous = Snapshot.from_json(snapshot) if snapshot is not None else None
    return Request(url=url, key=key, depth=depth, parent=parent, previous=previous)
