"""A table's own conflict clauses (ON CONFLICT REPLACE, IGNORE) never act through sync.

REPLACE would delete the row in the way and IGNORE would drop a write, both
outside the oplog: replicas would lose rows and drift apart without a word.
The engine writes with OR ABORT, so a clash is an error locally and a refused,
logged and parked op when it arrives.
"""

from __future__ import annotations

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
        with pytest.raises(SyncError):  # never a bare sqlite3 error (the contract)
            a.insert("sellers", row)
    with pytest.raises(SyncError):
        a.update("sellers", "s-1", {"name": None})  # REPLACE would put the default in
    assert ids(a) == {"s-1"}
    assert a.rows("sellers")[0]["name"] == "Ann"
    assert a.ops() == before


def test_a_triggers_own_or_ignore_still_acts_on_tables_without_conflict_clauses(
    tmp_path: Path,
) -> None:
    """An outer ``OR`` overrides the ``OR IGNORE`` inside a trigger (SQLite's rule):
    writing every table ``OR ABORT`` failed the second card in a lane, locally and
    when it arrived, though the app's own SQL works."""
    folder = migrations_folder(
        tmp_path,
        "CREATE TABLE cards (card_id TEXT PRIMARY KEY NOT NULL, lane TEXT);"
        " CREATE TABLE lanes_seen (lane TEXT PRIMARY KEY);"
        " CREATE TRIGGER seen AFTER INSERT ON cards"
        " BEGIN INSERT OR IGNORE INTO lanes_seen VALUES (NEW.lane); END;"
        " CREATE TRIGGER moved AFTER UPDATE OF lane ON cards"
        " BEGIN INSERT OR IGNORE INTO lanes_seen VALUES (NEW.lane); END;",
    )
    a = open_replica(tmp_path / "a.db", migrations=folder, peer_id="a")
    b = open_replica(tmp_path / "b.db", migrations=folder, peer_id="b")
    a.insert("cards", {"card_id": "c1", "lane": "todo"})
    a.insert_many("cards", [{"card_id": "c2", "lane": "todo"}, {"card_id": "c3", "lane": "done"}])
    b.insert("cards", {"card_id": "c4", "lane": "todo"})
    b.update("cards", "c4", {"lane": "done"})
    result = sync(a, b)
    assert result.rejected == 0
    assert a.rows("cards") == b.rows("cards") and len(a.rows("cards")) == 4
    a.fast_lane = False  # the careful path too
    a.update("cards", "c1", {"lane": "done"})
    b.insert("cards", {"card_id": "c5", "lane": "todo"})
    assert sync(a, b).rejected == 0
    assert a.rows("cards") == b.rows("cards")
    a.close()
    b.close()


def test_on_conflict_abort_is_no_reason_to_override_a_triggers_or_ignore(tmp_path: Path) -> None:
    """``NOT NULL ON CONFLICT ABORT`` is SQLite's default behaviour: the table is written
    without an outer OR, so its trigger's OR IGNORE still acts."""
    folder = migrations_folder(
        tmp_path,
        "CREATE TABLE cards (card_id TEXT PRIMARY KEY NOT NULL,"
        " lane TEXT NOT NULL ON CONFLICT ABORT);"
        " CREATE TABLE lanes_seen (lane TEXT PRIMARY KEY);"
        " CREATE TRIGGER seen AFTER INSERT ON cards"
        " BEGIN INSERT OR IGNORE INTO lanes_seen VALUES (NEW.lane); END;",
    )
    a = open_replica(tmp_path / "a.db", migrations=folder, peer_id="a")
    b = open_replica(tmp_path / "b.db", migrations=folder, peer_id="b")
    a.insert_many("cards", [{"card_id": "c1", "lane": "todo"}, {"card_id": "c2", "lane": "todo"}])
    b.insert("cards", {"card_id": "c3", "lane": "todo"})
    assert sync(a, b).rejected == 0
    assert a.rows("cards") == b.rows("cards") and len(a.rows("cards")) == 3
    a.close()
    b.close()
