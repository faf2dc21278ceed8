"""The SQLite state file's tables, created once and checked on every open.

``requests`` holds one row per canonical key ever seen, in one of four states:

====  ========  ==========================================================
 0    pending   waiting to be leased, in ``rank`` order (release: front)
 1    leased    claimed until ``deadline`` (clock seconds)
 2    done      acked: its record is in the output
 3    claimed   seen only (a redirect target), never to be fetched
====  ========  ==========================================================

``snapshot`` holds what a done row's ack kept for the next generation (``Snapshot``, JSON).
``meta`` holds the schema version, the identity of the crawl the file belongs to, and
``finished`` (``1`` once the current generation completed: ``--recrawl`` starts the next).
Partial indexes keep ``lease`` and expiry cheap with millions of rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crawler.errors import StateCorruptError

if TYPE_CHECKING:
    import sqlite3

PENDING = 0
SCHEMA_VERSION = "2"

_TABLES = (
    "CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE requests ("
    " key TEXT PRIMARY KEY, url TEXT NOT NULL, depth INTEGER NOT NULL DEFAULT 0,"
    " parent TEXT, state INTEGER NOT NULL, rank INTEGER, deadline REAL, snapshot TEXT)"
    " WITHOUT ROWID",
    "CREATE INDEX pending_rank ON requests (rank) WHERE state = 0",
    "CREATE INDEX leased_deadline ON requests (deadline) WHERE state = 1",
    f"INSERT INTO meta VALUES ('schema', '{SCHEMA_VERSION}')",
)


def create_schema(db: sqlite3.Connection, path: str) -> None:
    """Create the tables in an empty database (or upgrade a version 1 file, which gets the
    ``snapshot`` column); refuse a database of something else.

    Raises:
        StateCorruptError: The database has tables but is not a crawl state.
    """
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if tables >= {"meta", "requests"}:
        if read_meta(db, "schema") == "1":
            db.execute("BEGIN IMMEDIATE")
            db.execute("ALTER TABLE requests ADD COLUMN snapshot TEXT")
            db.execute(f"UPDATE meta SET value = '{SCHEMA_VERSION}' WHERE name = 'schema'")
            db.execute("COMMIT")
        return
    if tables:
        raise StateCorruptError(f"state file {path!r} is not a crawl state file")
    db.execute("BEGIN IMMEDIATE")
    for statement in _TABLES:
        db.execute(statement)
    db.execute("COMMIT")


def read_meta(db: sqlite3.Connection, name: str) -> str | None:
    """Return the ``meta`` value called ``name``, or ``None``."""
    row = db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
    return None if row is None else str(row[0])
