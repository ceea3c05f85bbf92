"""Opening SQLite files: existence and format checks, pragmas, one error type."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from nexus_core.errors import DatabaseError

SQLITE_HEADER = b"SQLite format 3\x00"
BUSY_TIMEOUT_MS = 30_000


def check_sqlite_file(path: Path) -> None:
    """Raise :class:`DatabaseError` unless ``path`` is an SQLite file (or empty)."""
    if not path.exists():
        raise DatabaseError(f"{path}: no such database file")
    if path.is_dir():
        raise DatabaseError(f"{path}: is a directory, not a database file")
    try:
        with path.open("rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise DatabaseError(f"{path}: cannot read ({exc.strerror})") from exc
    if header and header != SQLITE_HEADER:
        raise DatabaseError(f"{path}: not an SQLite database")


def connect(
    path: str | Path, *, create: bool = True, wal: bool = True, scratch: bool = False
) -> sqlite3.Connection:
    """Open ``path`` in autocommit mode with a busy timeout.

    With ``create=False`` a missing file is an error instead of a new database.
    ``scratch=True`` is for throw-away test databases: no WAL, no fsync.
    Transactions are always explicit (``BEGIN IMMEDIATE``) in this library.
    """
    target = Path(path)
    if str(path) != ":memory:" and (target.exists() or not create):
        check_sqlite_file(target)
    try:
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if scratch:
            conn.execute("PRAGMA journal_mode = MEMORY")
            conn.execute("PRAGMA synchronous = OFF")
        else:
            if wal and str(path) != ":memory:":
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.DatabaseError as exc:
        raise DatabaseError(f"{path}: cannot open as SQLite ({exc})") from exc
    return conn
