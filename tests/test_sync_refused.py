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
from nexus_core.replica import Replica

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


def test_receivers_whose_tables_order_the_columns_differently_refuse_the_same_op(
    tmp_path: Path,
) -> None:
    """Two concurrent writes collide on UNIQUE (concert_id, seat); the second is tried
    column by column, the first write passes, the second is refused. A v2 receiver
    whose rebuilt table lists seat before concert_id must refuse the same op as a v1
    one: tried in each receiver's own column order, each refused another op and the
    two kept different values for good (review BQ-3)."""
    folder = migrations_folder(
        tmp_path,
        "CREATE TABLE seats (id INTEGER PRIMARY KEY, concert_id INTEGER NOT NULL,"
        " seat TEXT NOT NULL); CREATE UNIQUE INDEX one_holder ON seats (concert_id, seat);",
        "CREATE TABLE seats_new (id INTEGER PRIMARY KEY, seat TEXT NOT NULL,"
        " concert_id INTEGER NOT NULL, note TEXT);"
        " INSERT INTO seats_new (id, seat, concert_id) SELECT id, seat, concert_id FROM seats;"
        " DROP TABLE seats; ALTER TABLE seats_new RENAME TO seats;"
        " CREATE UNIQUE INDEX one_holder ON seats (concert_id, seat);",
    )

    def replica(name: str, version: int) -> Replica:
        path = tmp_path / f"{name}.db"
        return open_replica(path, migrations=folder, target_version=version, peer_id=name)

    p, q, old, new = replica("p", 1), replica("q", 1), replica("old", 1), replica("new", 2)
    p.insert("seats", {"id": 1, "concert_id": 1, "seat": "A1"})
    p.insert("seats", {"id": 2, "concert_id": 2, "seat": "B2"})
    sync(p, q)
    p.update("seats", 1, {"seat": "X"})
    q.update("seats", 2, {"concert_id": 1, "seat": "X"})  # concurrently: the same seat
    for receiver in (old, new):
        sync(receiver, p)
        sync(receiver, q)
    sync(old, new)
    seats = [(r["id"], r["concert_id"], r["seat"]) for r in old.rows("seats")]
    assert seats == [(r["id"], r["concert_id"], r["seat"]) for r in new.rows("seats")]
    for receiver in (old, new):
        assert [op.column_name for op in receiver.oplog.parked_ops()] == ["seat"]
    for replica_ in (p, q, old, new):
        replica_.close()
