"""Opening SQLite files: existence and format checks, pragmas, one error type."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from nexus_core.errors import DatabaseError

MIN_PAGE_SIZE = 512  # a non-empty database file holds at least one whole page
BUSY_TIMEOUT_MS = 30_000


def _by_code_point(a: str, b: str) -> int:
    return (a > b) - (a < b)


def _ignoring_case(a: str, b: str) -> int:
    return _by_code_point(a.casefold(), b.casefold())


# Collations mobile frameworks register on their own connections (Android's
# LOCALIZED and UNICODE, which Room writes for @ColumnInfo(collate = ...); GRDB's
# Swift comparisons): without them SQLite cannot even create such a table, so
# stand-ins keep the history checkable. Equality is what sync and the lint care
# about most (which values a UNIQUE takes as one); locale-aware ordering is not
# reproduced (nor Unicode normalisation: a precomposed and a combining 'é' differ).
PLATFORM_COLLATIONS = {
    "LOCALIZED": _by_code_point,
    "UNICODE": _by_code_point,
    "unicodeCompare": _by_code_point,
    "swiftLocalizedCompare": _by_code_point,
    "swiftCaseInsensitiveCompare": _ignoring_case,
    "swiftLocalizedCaseInsensitiveCompare": _ignoring_case,
    "swiftLocalizedStandardCompare": _ignoring_case,
}


# Those of them under which distinct texts compare equal ('Alice' and 'alice'):
# loose, as NOCASE is (a key compared so would make one row of several row ids).
CASE_BLIND_COLLATIONS = frozenset(
    name.upper() for name, compare in PLATFORM_COLLATIONS.items() if compare is _ignoring_case
)


def platform_collations(conn: sqlite3.Connection) -> sqlite3.Connection:
    """Register the stand-ins of :data:`PLATFORM_COLLATIONS` on ``conn``, then what
    :func:`set_up_connections` added (the app's own SQL functions)."""
    for name, compare in PLATFORM_COLLATIONS.items():
        conn.create_collation(name, compare)
    for set_up in _SET_UPS.values():
        set_up(conn)
    return conn


# What registers the app's own SQL functions (or collations) on a connection, by a
# name of the caller's: run on every connection this module opens.
_SET_UPS: dict[str, Callable[[sqlite3.Connection], object]] = {}


def set_up_connections(name: str, set_up: Callable[[sqlite3.Connection], object]) -> None:
    """Run ``set_up`` on every connection :func:`connect` and :func:`memory` open from
    now on, in this process: how a migration that calls the app's own SQL function
    (``title_sort(name)``, a newer SQLite's ``unhex``) can be built and checked. Another
    ``set_up`` under the same ``name`` replaces it."""
    _SET_UPS[name] = set_up


def computed_anew(sql: str) -> bool:
    """Whether the expression ``sql`` calls one of the app's own SQL functions (see
    :func:`set_up_connections`) registered as not deterministic: as ``random()``, each
    replica computes its own value (review BAS-6). SQLite tells, refusing it in a
    generated column; nothing when no app function is registered."""
    if not _SET_UPS:
        return False
    probe = memory()
    try:
        probe.execute(f"CREATE TABLE probe (x, y AS ({sql}) VIRTUAL)")
    except sqlite3.Error as exc:
        return "non-deterministic" in str(exc)
    finally:
        probe.close()
    return False


def memory() -> sqlite3.Connection:
    """A scratch in-memory database that knows the platform collations."""
    return platform_collations(sqlite3.connect(":memory:"))


def _check_path(path: Path) -> None:
    if not path.exists():
        raise DatabaseError(f"{path}: no such database file")
    if path.is_dir():
        raise DatabaseError(f"{path}: is a directory, not a database file")


def execute_while_locked(conn: sqlite3.Connection, sql: str) -> None:
    """Run a setup statement, retrying while another connection holds the file's lock.

    When several processes open one new file at once, SQLite can report
    "database is locked" for the header read or the switch to WAL without
    calling the busy handler, so the wait happens here, bounded by the same
    busy timeout.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            conn.execute(sql).fetchall()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.005)


def use_wal(conn: sqlite3.Connection, path: str | Path) -> None:
    """Switch the file at ``path`` to WAL (an in-memory database has no journal file)."""
    if str(path) != ":memory:":
        execute_while_locked(conn, "PRAGMA journal_mode = WAL")


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
        _check_path(target)
        if 0 < target.stat().st_size < MIN_PAGE_SIZE:  # SQLite would take some as empty
            raise DatabaseError(f"{path}: not an SQLite database")
    try:
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    except sqlite3.DatabaseError as exc:
        raise DatabaseError(f"{path}: cannot open as SQLite ({exc})") from exc
    platform_collations(conn)
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        # Reading the schema makes SQLite check the header before anything is written.
        execute_while_locked(conn, "SELECT count(*) FROM sqlite_master")
        if scratch:
            conn.execute("PRAGMA journal_mode = MEMORY")
            conn.execute("PRAGMA synchronous = OFF")
        else:
            if wal:
                use_wal(conn, path)
            conn.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.DatabaseError as exc:
        conn.close()
        if "not a database" in str(exc):
            raise DatabaseError(f"{path}: not an SQLite database") from exc
        raise DatabaseError(f"{path}: cannot open as SQLite ({exc})") from exc
    return conn
