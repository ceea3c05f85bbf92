"""Sync across schema versions: skipped unknown columns and tables, relays, healing."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from folders import migrations_folder

from nexus_core import Replica, open_replica, sync
from nexus_core.db.connection import connect
from nexus_core.db.migrations import apply_migrations
from nexus_core.errors import NexusError, SyncError
from nexus_core.wire import Op, Value

LOGGER = "nexus_core.sync"


def replica(tmp_path: Path, name: str, version: int | None = None) -> Replica:
    return open_replica(tmp_path / f"{name}.db", target_version=version, peer_id=name)


def new_task(r: Replica, **values: Value) -> str:
    lid = r.insert("lists", {"name": "Home"})
    task = r.insert("tasks", {"list_id": lid, "content": "Buy milk", **values})
    assert isinstance(task, str)
    return task


def shared(rows: list[dict[str, object]], columns: set[str]) -> list[dict[str, object]]:
    return [{k: v for k, v in row.items() if k in columns} for row in rows]


def columns(r: Replica, table: str) -> set[str]:
    return set(r.models[table].columns)


def warnings_containing(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == LOGGER
        and record.levelno == logging.WARNING
        and text in record.getMessage()
    ]


def parked(r: Replica) -> int:
    return r.oplog.parked_count()


def test_v1_skips_v2_priority_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    old, new = replica(tmp_path, "old", 1), replica(tmp_path, "new", 2)
    task = new_task(new, priority=5)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        result = sync(old, new)
    assert result.skipped_unknown == 1 and result.rejected == 0
    assert old.stats["skipped_unknown"] == 1 and old.stats["rejected"] == 0
    assert new.stats["skipped_unknown"] == 0
    found = warnings_containing(caplog, "unknown column in oplog")
    assert len(found) == 1 and "tasks.priority" in found[0]
    assert "priority" not in old.rows("tasks")[0]
    common = columns(old, "tasks")
    assert shared(old.rows("tasks"), common) == shared(new.rows("tasks"), common)
    assert old.rows("tasks")[0]["task_id"] == task
    assert parked(old) == 1
    # a second sync does not skip (or warn about) the same op again
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert sync(old, new).skipped_unknown == 0
    assert warnings_containing(caplog, "unknown column in oplog") == []


def test_v2_gives_a_v1_task_priority_zero(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    old, new = replica(tmp_path, "old", 1), replica(tmp_path, "new", 2)
    task = new_task(old)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        result = sync(old, new)
    assert result.skipped_unknown == 0 and result.rejected == 0
    assert caplog.records == []
    row = new.rows("tasks")[0]
    assert row["task_id"] == task and row["priority"] == 0
    assert shared(new.rows("tasks"), columns(old, "tasks")) == old.rows("tasks")


def test_relay_through_an_old_peer_keeps_every_op_field(tmp_path: Path) -> None:
    first, relay = replica(tmp_path, "first", 2), replica(tmp_path, "relay", 1)
    last = replica(tmp_path, "last", 2)
    task = new_task(first, priority=5)
    first.update("tasks", task, {"priority": 6, "content": "Buy more milk"})
    sync(first, relay)
    assert parked(relay) == 2
    result = sync(relay, last)  # last never talks to first
    assert result.skipped_unknown == 0 and result.rejected == 0
    assert last.rows("tasks") == first.rows("tasks")
    assert last.rows("tasks")[0]["priority"] == 6
    origin_ops: list[Op] = first.ops()
    assert last.ops() == origin_ops
    assert relay.ops() == origin_ops  # the relay held them exactly as received
    assert all(op.schema_version == 2 for op in last.ops())


def test_upgrade_heals_a_v1_replica(tmp_path: Path) -> None:
    old, new = replica(tmp_path, "old", 1), replica(tmp_path, "new", 2)
    task = new_task(new, priority=7)
    new_task(old)
    sync(old, new)
    assert parked(old) == 1
    result = old.upgrade(2)
    assert result.applied == [2]
    assert old.peer_info.schema_version == 2
    assert old.stats["replayed"] == 1
    assert parked(old) == 0
    assert old.rows("tasks") == new.rows("tasks")
    assert {r["task_id"]: r["priority"] for r in old.rows("tasks")}[task] == 7
    assert sync(old, new).sent == 0  # nothing was lost or is owed


@pytest.mark.parametrize("how", ["reopened", "migrated apart"])
def test_reopening_at_a_newer_version_heals_like_upgrade(tmp_path: Path, how: str) -> None:
    """An app restarting on a new release migrates on open: parked ops are replayed then."""
    old, new = replica(tmp_path, "old", 1), replica(tmp_path, "new", 2)
    task = new_task(new, priority=7)
    sync(old, new)
    assert parked(old) == 1
    old.close()
    if how == "migrated apart":  # `nexus migrate` or the runner, then a plain open
        conn = connect(tmp_path / "old.db")
        apply_migrations(conn)
        conn.close()
        old = open_replica(tmp_path / "old.db", upgrade=False)
    else:
        old = replica(tmp_path, "old")
    assert old.schema_version > 1
    assert parked(old) == 0 and old.stats["replayed"] == 1
    assert {r["task_id"]: r["priority"] for r in old.rows("tasks")}[task] == 7
    old.close()
    again = replica(tmp_path, "old")  # replayed once: the next open does nothing
    assert again.stats["replayed"] == 0
    assert shared(again.rows("tasks"), columns(new, "tasks")) == new.rows("tasks")


def test_upgrade_heals_when_the_old_peer_edited_the_row_meanwhile(tmp_path: Path) -> None:
    old, new = replica(tmp_path, "old", 1), replica(tmp_path, "new", 2)
    task = new_task(new, priority=3)
    sync(old, new)
    old.update("tasks", task, {"content": "edited on v1"})
    new.update("tasks", task, {"priority": 4})
    sync(old, new)
    old.upgrade()
    sync(old, new)
    assert new.schema_version == 2 and old.schema_version == 5
    common = columns(new, "tasks")
    assert shared(old.rows("tasks"), common) == new.rows("tasks")
    row = old.rows("tasks")[0]
    assert (row["content"], row["priority"]) == ("edited on v1", 4)


def test_unknown_table_is_parked_then_replayed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    old, new = replica(tmp_path, "old", 3), replica(tmp_path, "new", 4)
    task = new_task(new)
    comment = new.insert("comments", {"task_id": task, "author": "ann", "body": "soon"})
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        result = sync(old, new)
    comment_columns = len(new.models["comments"].columns)
    assert result.skipped_unknown == comment_columns and result.rejected == 0
    assert old.stats["skipped_unknown"] == comment_columns
    found = warnings_containing(caplog, "unknown table in oplog")
    assert len(found) == 1 and "comments" in found[0]
    assert "comments" not in old.schema.tables
    assert parked(old) == comment_columns
    assert old.rows("tasks") == new.rows("tasks")
    old.upgrade(4)
    assert old.rows("comments") == new.rows("comments")
    assert old.rows("comments")[0]["comment_id"] == comment
    assert parked(old) == 0


def test_large_version_gap_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    old, new = replica(tmp_path, "old", 1), replica(tmp_path, "new", 5)
    new_task(new)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        sync(old, new)
    found = warnings_containing(caplog, "Large version gap: consider full resync")
    assert found  # logged by both sides, once per peer and pair of versions
    assert len(found) == 2


@pytest.mark.parametrize(("left", "right"), [(1, 4), (2, 5), (3, 5), (5, 5)])
def test_gap_of_three_or_less_does_not_warn(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, left: int, right: int
) -> None:
    a, b = replica(tmp_path, "a", left), replica(tmp_path, "b", right)
    new_task(a)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        sync(a, b)
    assert warnings_containing(caplog, "Large version gap") == []


def test_v1_heals_from_v5_after_a_large_gap(tmp_path: Path) -> None:
    old, new = replica(tmp_path, "old", 1), replica(tmp_path, "new", 5)
    task = new_task(new, priority=2, tags='["home"]')
    new.insert("comments", {"task_id": task, "body": "hello"})
    new_task(old)
    sync(old, new)
    old.upgrade()
    sync(old, new)
    for table in ("lists", "tasks", "comments"):
        assert old.rows(table) == new.rows(table), table
    assert parked(old) == 0


@pytest.mark.parametrize("new_edits_first", [True, False])
def test_old_peer_deletes_a_row_whose_new_columns_it_never_saw(
    tmp_path: Path, new_edits_first: bool
) -> None:
    old, new = replica(tmp_path, "old", 1), replica(tmp_path, "new", 2)
    task = new_task(new, priority=5)
    sync(old, new)
    if new_edits_first:
        new.update("tasks", task, {"priority": 9})  # concurrent with the delete
    old.delete("tasks", task)
    sync(old, new)
    assert old.rows("tasks") == new.rows("tasks") == []
    old.upgrade()  # replaying the parked priority must not bring the row back
    assert old.rows("tasks") == []
    sync(old, new)
    assert old.rows("tasks") == new.rows("tasks") == []
    assert old.stats["rejected"] == new.stats["rejected"] == 0


def test_a_table_replicated_only_from_a_later_version_loses_nothing(tmp_path: Path) -> None:
    """v1 keys tags under NOCASE (not replicated); v2 rebuilds it with a plain key."""
    folder = migrations_folder(
        tmp_path,
        "CREATE TABLE notes (id TEXT PRIMARY KEY, body TEXT);"
        "CREATE TABLE tags (name TEXT PRIMARY KEY COLLATE NOCASE, color TEXT);",
        "CREATE TABLE tags2 (name TEXT PRIMARY KEY, color TEXT);"
        "INSERT INTO tags2 SELECT name, color FROM tags; DROP TABLE tags;"
        " ALTER TABLE tags2 RENAME TO tags;",
    )
    old = open_replica(tmp_path / "old.db", migrations=folder, target_version=1, peer_id="old")
    relay = open_replica(tmp_path / "relay.db", migrations=folder, target_version=1, peer_id="r")
    new = open_replica(tmp_path / "new.db", migrations=folder, peer_id="new")
    fresh = open_replica(tmp_path / "fresh.db", migrations=folder, peer_id="fresh")
    new.insert("tags", {"name": "urgent", "color": "red"})
    new.insert("notes", {"id": "n1", "body": "x"})
    sync(old, new)
    sync(relay, new)
    sync(relay, fresh)  # an old relay forwards what it cannot place
    assert fresh.rows("tags") == new.rows("tags")
    old.upgrade()
    assert old.rows("tags") == new.rows("tags") == [{"name": "urgent", "color": "red"}]


def test_a_replica_kept_open_while_its_file_is_migrated_catches_up(tmp_path: Path) -> None:
    """nexus migrate (another connection) moves the file on: the open replica follows."""
    old, new = replica(tmp_path, "old", 1), replica(tmp_path, "new", 2)
    task = new_task(new, priority=3)
    sync(old, new)
    assert parked(old) == 1
    conn = connect(tmp_path / "old.db")
    apply_migrations(conn)
    conn.close()
    new.update("tasks", task, {"priority": 9})
    sync(old, new)  # merged by the file's schema, not the one old was opened with
    assert old.schema_version > 1 and parked(old) == 0
    assert old.stats["replayed"] == 1
    assert {r["task_id"]: r["priority"] for r in old.rows("tasks")}[task] == 9


def test_a_failed_receive_does_not_lose_the_catch_up(tmp_path: Path) -> None:
    """The replay done on catching up is undone with a failed receive, then done again."""
    old, new = replica(tmp_path, "old", 1), replica(tmp_path, "new", 2)
    task = new_task(new, priority=5)
    sync(old, new)
    conn = connect(tmp_path / "old.db")
    apply_migrations(conn)
    conn.close()
    forged = new.export_changes().replace('"peer_id":"new"', '"peer_id":"old"', 1)
    with pytest.raises(SyncError):
        old.receive(forged)  # claims to come from old itself: refused whole
    sync(old, new)
    assert parked(old) == 0
    assert {r["task_id"]: r["priority"] for r in old.rows("tasks")}[task] == 5


def test_an_upgrade_failing_part_way_leaves_the_replica_at_the_version_reached(
    tmp_path: Path,
) -> None:
    """v2 applies, v3 fails: the open replica works at v2 (its ops replayed), not at v1."""
    folder = migrations_folder(
        tmp_path,
        "CREATE TABLE notes (note_id TEXT PRIMARY KEY, body TEXT);",
        "ALTER TABLE notes ADD COLUMN topic TEXT;",
        "UPDATE notes SET body = no_such_function(body);",
    )
    new = open_replica(tmp_path / "new.db", migrations=folder, peer_id="new", target_version=2)
    old = open_replica(tmp_path / "old.db", migrations=folder, peer_id="old", target_version=1)
    note = new.insert("notes", {"body": "hi", "topic": "work"})
    sync(new, old)
    with pytest.raises(NexusError, match="no_such_function"):
        old.upgrade()
    assert (old.schema_version, old.peer_info.schema_version) == (2, 2)
    assert old.rows("notes") == [{"note_id": note, "body": "hi", "topic": "work"}]
    old.insert("notes", {"body": "mine", "topic": "home"})  # a v2 column, written at v2
    new.close()
    old.close()


def test_an_old_relay_passes_on_an_op_on_what_is_its_key_but_not_theirs(tmp_path: Path) -> None:
    """v2 keys shoot_days by date; at v1, id is the key. A v2 op setting id (a plain
    column there) is refused by the v1 relay, which must keep and forward it: it
    was dropped, and two v2 clients held different ids for good."""
    folder = migrations_folder(
        tmp_path,
        "CREATE TABLE shoot_days (id TEXT PRIMARY KEY NOT NULL, shoot_date TEXT NOT NULL,"
        " call_time TEXT);",
        "CREATE TABLE s2 (shoot_date TEXT PRIMARY KEY NOT NULL, id TEXT, call_time TEXT);"
        " INSERT INTO s2 SELECT shoot_date, id, call_time FROM shoot_days;"
        " DROP TABLE shoot_days; ALTER TABLE s2 RENAME TO shoot_days;",
    )
    writer = open_replica(tmp_path / "w.db", migrations=folder, peer_id="writer")
    relay = open_replica(tmp_path / "r.db", migrations=folder, target_version=1, peer_id="relay")
    reader = open_replica(tmp_path / "x.db", migrations=folder, peer_id="reader")
    writer.insert("shoot_days", {"shoot_date": "2025-03-01", "id": "a-1", "call_time": "06:00"})
    assert sync(writer, relay).rejected == 1  # refused at v1, where id is the key
    sync(relay, reader)
    assert reader.rows("shoot_days") == writer.rows("shoot_days")
    for replica in (writer, relay, reader):
        replica.close()
