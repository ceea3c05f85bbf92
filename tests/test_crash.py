"""A migrating process killed with SIGKILL at random moments leaves a whole version.

Each iteration starts a subprocess applying a deliberately slow migration set
(100k rows from a recursive CTE, a column backfill, a table rebuild), kills it
at a random moment, and checks that the file is intact, sits at a whole version
whose data is exactly what that version must hold, and that a re-run finishes.
``NEXUS_CRASH_ITERATIONS`` (default 15) and ``NEXUS_CRASH_SEED`` widen the search.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nexus_core.db.connection import connect
from nexus_core.db.migrations import (
    CHECKSUM_TABLE,
    get_current_version,
    get_migration_history,
    load_migrations,
    migrate,
)

ROOT = Path(__file__).resolve().parent.parent
ITERATIONS = int(os.environ.get("NEXUS_CRASH_ITERATIONS", "15"))
SEED = os.environ.get("NEXUS_CRASH_SEED", "nexus")
ROWS = 100_000
KILL_WINDOW_S = 0.3  # the whole set takes about 0.25 s on an idle core

SLOW_SET = {
    "001_items.sql": "CREATE TABLE items (id INTEGER PRIMARY KEY, n INTEGER NOT NULL, label TEXT);",
    "002_fill.sql": f"""
        WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {ROWS})
        INSERT INTO items (id, n, label) SELECT x, x, 'item ' || x FROM c;
    """,
    "003_doubled.sql": """
        ALTER TABLE items ADD COLUMN doubled INTEGER;
        UPDATE items SET doubled = n * 2;
    """,
    "004_rebuild.sql": """
        CREATE TABLE items_new (id INTEGER PRIMARY KEY, n INTEGER NOT NULL, label TEXT,
                                doubled INTEGER NOT NULL);
        INSERT INTO items_new SELECT id, n, label, doubled FROM items;
        DROP TABLE items;
        ALTER TABLE items_new RENAME TO items;
        CREATE INDEX idx_items_doubled ON items(doubled);
    """,
    "005_totals.sql": """
        CREATE TABLE totals (id INTEGER PRIMARY KEY, total INTEGER NOT NULL);
        INSERT INTO totals SELECT 1, SUM(n) FROM items;
    """,
}

MIGRATING_PROCESS = """
import sys
from nexus_core.db.connection import connect
from nexus_core.db.migrations import load_migrations, migrate
migrations = load_migrations(sys.argv[2])
conn = connect(sys.argv[1])
print("ready", flush=True)
migrate(conn, migrations)
print("done", flush=True)
"""


def write_slow_set(directory: Path) -> Path:
    directory.mkdir()
    for name, sql in SLOW_SET.items():
        (directory / name).write_text(sql, encoding="utf-8")
    return directory


def columns(conn: sqlite3.Connection, table: str) -> dict[str, bool]:
    """Column name -> NOT NULL, for ``table``."""
    return {str(r[1]): bool(r[3]) for r in conn.execute(f"PRAGMA table_info({table})")}


def tables(conn: sqlite3.Connection) -> set[str]:
    return {str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def assert_whole_version(conn: sqlite3.Connection) -> int:
    """The version's bookkeeping and the data agree exactly; return the version."""
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    version = get_current_version(conn)
    assert [v for v, _, _ in get_migration_history(conn)] == list(range(1, version + 1))
    if version:
        recorded = [v for (v,) in conn.execute(f"SELECT version FROM {CHECKSUM_TABLE}")]
        assert sorted(recorded) == list(range(1, version + 1))
    present = tables(conn)
    assert ("items" in present) == (version >= 1)
    assert "items_new" not in present
    assert ("totals" in present) == (version >= 5)
    if version >= 1:
        count, low, high, total = conn.execute(
            "SELECT COUNT(*), MIN(n), MAX(n), SUM(n) FROM items"
        ).fetchone()
        expected_rows = ROWS if version >= 2 else 0
        assert count == expected_rows
        if expected_rows:
            assert (low, high, total) == (1, ROWS, ROWS * (ROWS + 1) // 2)
        shape = columns(conn, "items")
        assert ("doubled" in shape) == (version >= 3)
        if version >= 3:
            wrong = conn.execute("SELECT COUNT(*) FROM items WHERE doubled IS NOT n * 2").fetchone()
            assert wrong == (0,)
            assert shape["doubled"] == (version >= 4)
        indexed = conn.execute(
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'idx_items_doubled'"
        ).fetchone()
        assert indexed == ((1,) if version >= 4 else (0,))
    if version >= 5:
        assert conn.execute("SELECT id, total FROM totals").fetchall() == [
            (1, ROWS * (ROWS + 1) // 2)
        ]
    return version


@pytest.mark.slow
@pytest.mark.parametrize("iteration", range(ITERATIONS), ids=lambda i: f"kill{i}")
def test_sigkill_mid_migration_leaves_a_whole_version(tmp_path: Path, iteration: int) -> None:
    rng = random.Random(f"{SEED}-{iteration}")
    directory = write_slow_set(tmp_path / "m")
    db = tmp_path / "crash.db"
    delay = rng.uniform(0, KILL_WINDOW_S)
    process = subprocess.Popen(
        [sys.executable, "-c", MIGRATING_PROCESS, str(db), str(directory)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == "ready\n"
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()

    conn = connect(db, create=False)
    try:
        killed_at = assert_whole_version(conn)
        result = migrate(conn, load_migrations(directory))
        assert result.from_version == killed_at
        assert result.applied == list(range(killed_at + 1, 6))
        assert assert_whole_version(conn) == 5
    finally:
        conn.close()


def test_the_whole_version_check_can_tell_a_torn_state(tmp_path: Path) -> None:
    """The invariant above is not vacuous: a version row without its data fails it."""
    conn = connect(tmp_path / "torn.db")
    migrate(conn, load_migrations(write_slow_set(tmp_path / "m")), target=1)
    assert assert_whole_version(conn) == 1
    conn.execute("INSERT INTO schema_version VALUES (2, 'now', 'fill without rows')")
    with pytest.raises(AssertionError):
        assert_whole_version(conn)
    conn.close()
