"""Several processes, each with several threads, migrating one new file at the same moment.

Every worker opens its own connection and calls ``migrate``; all must succeed,
and between them each version must be applied exactly once.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from nexus_core import open_replica
from nexus_core.db.connection import connect
from nexus_core.db.migrations import (
    CHECKSUM_TABLE,
    get_current_version,
    get_migration_history,
    load_migrations,
)
from nexus_core.db.verify import verify_database
from nexus_core.errors import SyncError

ROOT = Path(__file__).resolve().parent.parent
PROCESSES = 4
THREADS = 3

WORKER = """
import json, sys, threading, time
from pathlib import Path
from nexus_core.db.connection import connect
from nexus_core.db.migrations import load_migrations, migrate

db, directory, go, threads = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
migrations = load_migrations(directory)
applied, errors = [], []
print("ready", flush=True)
while not go.exists():
    time.sleep(0.001)
barrier = threading.Barrier(threads)

def work():
    barrier.wait()
    try:
        conn = connect(db)
        try:
            applied.append(migrate(conn, migrations).applied)
        finally:
            conn.close()
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {exc}")

workers = [threading.Thread(target=work) for _ in range(threads)]
for worker in workers:
    worker.start()
for worker in workers:
    worker.join()
print(json.dumps({"applied": applied, "errors": errors}), flush=True)
"""

SLOW_SET = {
    "001_notes.sql": "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);",
    "002_fill.sql": """
        WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20000)
        INSERT INTO notes (id, body) SELECT x, 'note ' || x FROM c;
    """,
    "003_length.sql": """
        ALTER TABLE notes ADD COLUMN length INTEGER NOT NULL DEFAULT 0;
        UPDATE notes SET length = length(body);
    """,
    "004_index.sql": "CREATE INDEX idx_notes_length ON notes(length);",
}


def run_workers(db: Path, directory: Path, go: Path) -> list[dict[str, Any]]:
    """Start every process, let them all reach the starting line, then release them."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(db), str(directory), str(go), str(THREADS)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(PROCESSES)
    ]
    reports = []
    try:
        for process in processes:
            assert process.stdout is not None
            assert process.stdout.readline() == "ready\n"
        go.touch()
        for process in processes:
            out, err = process.communicate(timeout=120)
            assert process.returncode == 0, err
            reports.append(json.loads(out))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.communicate()
    return reports


def project_migrations(tmp_path: Path) -> Path:
    return ROOT / "migrations"


def slow_migrations(tmp_path: Path) -> Path:
    directory = tmp_path / "m"
    directory.mkdir()
    for name, sql in SLOW_SET.items():
        (directory / name).write_text(sql, encoding="utf-8")
    return directory


@pytest.mark.slow
@pytest.mark.parametrize("make_set", [project_migrations, slow_migrations], ids=["app", "slow"])
def test_processes_and_threads_migrating_one_new_file(tmp_path: Path, make_set: Any) -> None:
    directory: Path = make_set(tmp_path)
    migrations = load_migrations(directory)
    versions = [m.version for m in migrations]
    db = tmp_path / "shared.db"
    assert not db.exists()
    reports = run_workers(db, directory, tmp_path / "go")

    assert [r["errors"] for r in reports] == [[]] * PROCESSES
    per_worker = [applied for report in reports for applied in report["applied"]]
    assert len(per_worker) == PROCESSES * THREADS
    assert sorted(v for applied in per_worker for v in applied) == versions
    assert all(applied == sorted(applied) for applied in per_worker)

    conn = connect(db, create=False)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert get_current_version(conn) == versions[-1]
        assert [v for v, _, _ in get_migration_history(conn)] == versions
        recorded = conn.execute(f"SELECT version FROM {CHECKSUM_TABLE} ORDER BY version")
        assert [v for (v,) in recorded] == versions
        assert verify_database(conn, migrations) == []
    finally:
        conn.close()


def locked_for_another_process(db: Path) -> bool:
    """Whether another process is refused the write lock right now."""
    probe = (
        "import sqlite3, sys\n"
        "try:\n"
        "    sqlite3.connect(sys.argv[1], timeout=0, isolation_level=None)"
        ".execute('BEGIN IMMEDIATE')\n"
        "except sqlite3.OperationalError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(db)], capture_output=True, text=True, timeout=30
    )
    return "locked" in done.stdout


def test_a_second_connection_in_one_process_keeps_the_first_ones_lock(tmp_path: Path) -> None:
    """Closing any descriptor of a file drops the process's POSIX locks on it (SQLite's too).

    ``connect`` must therefore never open and close the file itself: another
    thread's write lock would silently vanish and two writers could interleave.
    """
    db = tmp_path / "locks.db"
    holder = connect(db, wal=False)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("CREATE TABLE t (x)")
    assert locked_for_another_process(db)
    second = connect(db, wal=False, create=False)
    assert locked_for_another_process(db)
    second.close()
    assert locked_for_another_process(db)
    with db.open("rb"):
        pass  # what a plain header check does: the lock is gone afterwards
    assert not locked_for_another_process(db)
    holder.execute("ROLLBACK")
    holder.close()


def test_a_write_refused_the_lock_says_so(tmp_path: Path) -> None:
    """Another connection holding the write lock past the busy timeout: the error
    names the step that failed, and the write can be tried again."""
    replica = open_replica(tmp_path / "a.db", peer_id="a")
    replica.conn.execute("PRAGMA busy_timeout = 0")
    holder = sqlite3.connect(tmp_path / "a.db", timeout=0, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    locked = r"^could not start a write transaction: database is locked"
    with pytest.raises(SyncError, match=locked):
        replica.insert("lists", {"name": "Groceries"})
    with pytest.raises(SyncError, match=locked), replica.transaction():
        pass
    with pytest.raises(SyncError, match=locked):
        replica.receive(replica.export_changes())
    holder.execute("ROLLBACK")
    holder.close()
    row = replica.insert("lists", {"name": "Groceries"})
    assert [r["name"] for r in replica.rows("lists") if r["list_id"] == row] == ["Groceries"]
    replica.close()
