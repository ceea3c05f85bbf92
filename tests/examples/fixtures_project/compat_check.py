"""The plugin's building blocks: databases and replica pairs at any version."""

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from harness import HarnessError
from harness.versions import MigrationSet
from nexus_core import Replica, get_current_version, sync


def test_migration_set(nexus_migration_set: MigrationSet) -> None:
    assert nexus_migration_set.versions == [1, 2]
    assert nexus_migration_set.directory.name == "migrations"


@pytest.mark.parametrize("version", [1, 2])
def test_db_at_version(db_at_version: Callable[[int], Path], version: int) -> None:
    path = db_at_version(version)
    conn = sqlite3.connect(path)
    try:
        assert get_current_version(conn) == version
        columns = {row[1] for row in conn.execute("PRAGMA table_info(books)")}
    finally:
        conn.close()
    assert ("isbn" in columns) is (version == 2)


def test_db_at_version_gives_fresh_files(db_at_version: Callable[[int], Path]) -> None:
    first, second = db_at_version(1), db_at_version(1)
    assert first != second
    assert first.exists() and second.exists()


def test_db_at_version_refuses_unknown_version(db_at_version: Callable[[int], Path]) -> None:
    with pytest.raises(HarnessError, match="no version 7"):
        db_at_version(7)


def test_replica_pair(replica_pair: Callable[[int, int], tuple[Replica, Replica]]) -> None:
    old, new = replica_pair(1, 2)
    assert (old.peer_info.schema_version, new.peer_info.schema_version) == (1, 2)
    book = new.insert("books", {"title": "Dune", "pages": 412, "isbn": "978-0441013593"})
    sync(old, new)
    [row] = old.rows("books")
    assert row["book_id"] == book
    assert row["title"] == "Dune"
    assert "isbn" not in row
    assert old.stats["skipped_unknown"] >= 1
    old.upgrade()
    sync(old, new)
    assert old.rows("books") == new.rows("books")
