"""A table's own conflict clauses (ON CONFLICT REPLACE, IGNORE) never act through sync.

REPLACE would delete the row in the way and IGNORE would drop a write, both
outside the oplog: replicas would lose rows and drift apart without a word.
The engine writes with OR ABORT, so a clash is an error locally and a refused,
logged and parked op when it arrives.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from folders import migrations_folder

from nexus_core import open_replica, sync
from nexus_core.errors import SyncError

SELLERS = """CREATE TABLE sellers (
    id    TEXT PRIMARY KEY NOT NULL,
    email TEXT NOT NULL UNIQUE ON CONFLICT REPLACE,
    name  TEXT NOT NULL ON CONFLICT REPLACE DEFAULT 'anonymous',
    note  TEXT UNIQUE ON CONFLICT IGNORE
);"""


def ids(replica: object) -> set[str]:
    return {row["id"] for row in replica.rows("sellers")}  # type: ignore[attr-defined]


def test_a_clash_arriving_by_sync_deletes_nothing(tmp_path: Path) -> None:
    folder = migrations_folder(tmp_path, SELLERS)
    a = open_replica(tmp_path / "a.db", migrations=folder, peer_id="a")
    b = open_replica(tmp_path / "b.db", migrations=folder, peer_id="b")
    c = open_replica(tmp_path / "c.db", migrations=folder, peer_id="c")
    a.insert("sellers", {"id": "s-a", "email": "z@x.org", "name": "Ann"})
    b.insert("sellers", {"id": "s-b", "email": "z@x.org", "name": "Bob"})
    sync(a, c)
    result = sync(b, c)
    sync(a, b)
    # Each keeps its own row; the other's is refused (and parked), never swapped in.
    assert ids(a) == {"s-a"} and ids(c) == {"s-a"} and ids(b) == {"s-b"}
    assert result.rejected >= 1
    assert c.oplog.has_parked()


def test_a_local_clash_is_an_error_and_changes_nothing(tmp_path: Path) -> None:
    a = open_replica(tmp_path / "a.db", migrations=migrations_folder(tmp_path, SELLERS))
    a.insert("sellers", {"id": "s-1", "email": "z@x.org", "name": "Ann", "note": "n"})
    before = a.ops()
    for row in (
        {"id": "s-2", "email": "z@x.org", "name": "Bob"},  # REPLACE would delete s-1
        {"id": "s-3", "email": "q@x.org", "name": "Cy", "note": "n"},  # IGNORE would drop it
    ):
        with pytest.raises((SyncError, sqlite3.IntegrityError)):
            a.insert("sellers", row)
    with pytest.raises((SyncError, sqlite3.IntegrityError)):
        a.update("sellers", "s-1", {"name": None})  # REPLACE would put the default in
    assert ids(a) == {"s-1"}
    assert a.rows("sellers")[0]["name"] == "Ann"
    assert a.ops() == before
