"""A value one schema refuses is kept, forwarded and retried: nothing is lost.

A relay at v1 (qty INTEGER) between two v2 peers (qty TEXT) refuses "lots" for
itself, counts and logs it, but passes it on untouched, and applies it once
an upgrade makes the column able to hold it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from folders import migrations_folder

from nexus_core import open_replica, sync

V1 = """CREATE TABLE items (item_id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL, qty INTEGER);"""
V2 = """CREATE TABLE items_new (item_id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL, qty TEXT);
INSERT INTO items_new SELECT item_id, name, CAST(qty AS TEXT) FROM items;
DROP TABLE items;
ALTER TABLE items_new RENAME TO items;"""


@pytest.fixture
def migrations(tmp_path: Path) -> Path:
    return migrations_folder(tmp_path, V1, V2)


def test_a_refused_value_is_forwarded_and_applied_after_upgrade(
    tmp_path: Path, migrations: Path, caplog: pytest.LogCaptureFixture
) -> None:
    writer = open_replica(tmp_path / "w.db", migrations=migrations, peer_id="writer")
    relay = open_replica(
        tmp_path / "r.db", migrations=migrations, target_version=1, peer_id="relay"
    )
    reader = open_replica(tmp_path / "x.db", migrations=migrations, peer_id="reader")
    writer.insert("items", {"item_id": "i1", "name": "nails", "qty": "lots"})
    with caplog.at_level(logging.WARNING, logger="nexus_core.sync"):
        first = sync(writer, relay)
    assert first.rejected == 1
    assert any("needs an integer" in r.getMessage() for r in caplog.records)
    assert relay.rows("items") == [{"item_id": "i1", "name": "nails", "qty": None}]

    again = sync(writer, relay)
    assert again.rejected == 0, "a kept op is held: it is not sent, refused and counted again"

    sync(relay, reader)
    assert reader.rows("items") == writer.rows("items")

    relay.upgrade()
    assert relay.rows("items") == writer.rows("items")
    assert relay.oplog.parked_ops() == []
    for replica in (writer, relay, reader):
        replica.close()


def test_a_guard_on_inserts_alone_lets_received_values_in_as_updates(tmp_path: Path) -> None:
    """What SYNC.md's limits say of a trigger that checks only INSERTs: a received row
    it refuses goes in without the value, which then arrives as an update it does not
    check, so replicas converge; a guard on a required column refuses the row."""
    guard = (
        "CREATE TRIGGER pages_guard BEFORE INSERT ON filings WHEN NEW.pages < 0"
        " BEGIN SELECT RAISE(ABORT, 'pages must be >= 0'); END;"
    )
    folder = migrations_folder(
        tmp_path,
        "CREATE TABLE filings (id INTEGER PRIMARY KEY, case_no TEXT NOT NULL, pages INTEGER);",
        guard
        + guard.replace("pages_guard", "case_guard").replace("NEW.pages < 0", "NEW.case_no = ''"),
    )
    old = open_replica(tmp_path / "a.db", migrations=folder, target_version=1)
    new = open_replica(tmp_path / "b.db", migrations=folder)
    old.insert("filings", {"id": 1, "case_no": "C-9", "pages": -3})
    old.insert("filings", {"id": 2, "case_no": "", "pages": 4})
    sync(old, new)
    assert new.rows("filings") == [{"id": 1, "case_no": "C-9", "pages": -3}]
    assert new.stats["rejected"] == 1  # row 2: its required case_no is refused
    old.close()
    new.close()


@pytest.mark.parametrize("order", [("concert_id", "seat"), ("seat", "concert_id")])
def test_which_op_a_unique_refuses_does_not_follow_the_writers_column_order(
    tmp_path: Path, order: tuple[str, str]
) -> None:
    """An update of both columns of a UNIQUE (concert_id, seat) that collides is tried
    column by column: the first write passes, the second is refused. Tried in the order
    the writer's dict gave them, the refused op changed with it (and a replay, read from
    sorted JSON, named another column than the report); in the table's order it is
    always seat."""
    folder = migrations_folder(
        tmp_path,
        "CREATE TABLE seats (id INTEGER PRIMARY KEY, concert_id INTEGER, seat TEXT);",
        "CREATE UNIQUE INDEX one_holder ON seats (concert_id, seat);",
    )
    old = open_replica(tmp_path / "old.db", migrations=folder, target_version=1)
    new = open_replica(tmp_path / "new.db", migrations=folder)
    old.insert("seats", {"id": 1, "concert_id": 1, "seat": "A1"})
    old.insert("seats", {"id": 2, "concert_id": 2, "seat": "B2"})
    sync(old, new)
    wanted = {"concert_id": 1, "seat": "A1"}
    old.update("seats", 2, {column: wanted[column] for column in order})
    assert sync(old, new).rejected == 1
    assert [op.column_name for op in new.oplog.parked_ops()] == ["seat"]
    assert new.rows("seats")[1] == {"id": 2, "concert_id": 1, "seat": "B2"}
    old.close()
    new.close()
