"""Replica basics on real SQLite files: capture, transactions, generic tables, delta sync."""

from __future__ import annotations

import math
import sqlite3
import uuid
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from folders import migrations_folder

from nexus_core import Replica, initialize_database, open_replica, sync
from nexus_core.db.connection import connect
from nexus_core.db.migrations import load_migrations
from nexus_core.errors import NexusError, SyncError
from nexus_core.wire import Op, PeerInfo, Value, decode_message, encode_message

GENERIC_SCHEMA = """
CREATE TABLE notes (
    id    INTEGER PRIMARY KEY,
    body  TEXT NOT NULL,
    score REAL,
    data  BLOB,
    n     INTEGER CHECK (n IS NULL OR n >= 0)
);
CREATE TABLE tags (name TEXT PRIMARY KEY, color TEXT NOT NULL DEFAULT 'red', weight NUMERIC);
CREATE TABLE kv (k TEXT PRIMARY KEY, v) WITHOUT ROWID;
CREATE TABLE pairs (a INTEGER, b INTEGER, note TEXT, PRIMARY KEY (a, b));
CREATE TABLE events (msg TEXT);
"""


@pytest.fixture
def generic_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "generic_migrations"
    directory.mkdir()
    (directory / "001_generic.sql").write_text(GENERIC_SCHEMA, encoding="utf-8")
    return directory


def open_generic(tmp_path: Path, generic_dir: Path, name: str) -> Replica:
    return open_replica(tmp_path / f"{name}.db", migrations=generic_dir, peer_id=name)


def held_before_sync(path: Path, folder: Path, *statements: str) -> None:
    """A database the app wrote through the seed API before sync was turned on."""
    conn = initialize_database(path, folder)
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()


def oplog_count(replica: Replica) -> int:
    return len(replica.ops())


def new_task(replica: Replica, **values: Value) -> str:
    lid = replica.insert("lists", {"name": "Home"})
    row = replica.insert("tasks", {"list_id": lid, "content": "Buy milk", **values})
    assert isinstance(row, str)
    return row


# --- capture -----------------------------------------------------------------------


def test_insert_captures_one_op_per_column(tmp_path: Path) -> None:
    a = open_replica(tmp_path / "a.db", peer_id="a")
    lid = a.insert("lists", {"name": "Home"})
    ops = a.ops()
    columns = {c.name for c in a.schema.tables["lists"].columns}
    assert {op.column_name for op in ops} == columns
    assert all(op.kind == "set" and op.row_id == lid and op.origin == "a" for op in ops)
    assert ops[0].column_name == "list_id"  # the key first, so a receiver can create the row
    row = a.rows("lists")[0]
    assert {op.column_name: op.new_value for op in ops} == row
    assert a.version_vector() == {"a": ops[-1].hlc}


def test_update_and_delete_capture_ops(tmp_path: Path) -> None:
    a = open_replica(tmp_path / "a.db", peer_id="a")
    task = new_task(a)
    before = a.ops()
    a.update("tasks", task, {"priority": 5, "content": "Buy oat milk"})
    changed = a.ops(since=before[-1].hlc)
    assert [(op.column_name, op.new_value) for op in changed] == [
        ("priority", 5),
        ("content", "Buy oat milk"),
    ]
    a.delete("tasks", task)
    deleted = a.ops(since=changed[-1].hlc)
    assert [(op.kind, op.row_id, op.column_name) for op in deleted] == [("delete", task, None)]
    assert a.rows("tasks") == []


def test_failing_insert_leaves_neither_row_nor_op(tmp_path: Path, generic_dir: Path) -> None:
    a = open_generic(tmp_path, generic_dir, "a")
    with pytest.raises(SyncError):
        a.insert("notes", {"body": "x", "n": -1})  # CHECK constraint
    with pytest.raises(SyncError):
        a.insert("notes", {"body": None})  # NOT NULL
    with pytest.raises(SyncError):
        a.insert("notes", {"body": "x", "nope": 1})  # unknown column
    with pytest.raises(SyncError):
        a.insert("notes", {"body": 5})  # wrong type for TEXT
    assert a.rows("notes") == []
    assert oplog_count(a) == 0
    assert a.version_vector() == {}


def test_failing_update_and_delete_leave_no_op(tmp_path: Path, generic_dir: Path) -> None:
    a = open_generic(tmp_path, generic_dir, "a")
    row = a.insert("notes", {"body": "x", "n": 1})
    count = oplog_count(a)
    with pytest.raises(SyncError):
        a.update("notes", row, {"n": -5})
    with pytest.raises(SyncError):
        a.update("notes", row, {"id": 99})
    with pytest.raises(SyncError):
        a.update("notes", 12345, {"n": 2})
    with pytest.raises(SyncError):
        a.delete("notes", 12345)
    assert a.rows("notes")[0]["n"] == 1
    assert oplog_count(a) == count


def test_insert_many_is_one_transaction(tmp_path: Path, generic_dir: Path) -> None:
    a = open_generic(tmp_path, generic_dir, "a")
    ids = a.insert_many("notes", [{"body": "one"}, {"body": "two"}])
    assert {r["id"]: r["body"] for r in a.rows("notes")} == dict(
        zip(ids, ["one", "two"], strict=True)
    )
    count = oplog_count(a)
    with pytest.raises(SyncError):
        a.insert_many("notes", [{"body": "three"}, {"body": "four", "n": -1}])
    assert len(a.rows("notes")) == 2
    assert oplog_count(a) == count


def test_transaction_groups_writes(tmp_path: Path, generic_dir: Path) -> None:
    a = open_generic(tmp_path, generic_dir, "a")
    with a.transaction():
        row = a.insert("notes", {"body": "x"})
        a.update("notes", row, {"n": 3})
        a.insert("tags", {"name": "urgent"})
    assert len(a.rows("notes")) == 1 and len(a.rows("tags")) == 1
    count = oplog_count(a)
    with pytest.raises(RuntimeError), a.transaction():
        a.insert("notes", {"body": "y"})
        a.delete("tags", "urgent")
        raise RuntimeError("the app changed its mind")
    assert len(a.rows("notes")) == 1 and len(a.rows("tags")) == 1
    assert oplog_count(a) == count


def test_failed_write_caught_inside_a_transaction_leaves_nothing(
    tmp_path: Path, generic_dir: Path
) -> None:
    a = open_generic(tmp_path, generic_dir, "a")
    with a.transaction():
        a.insert("notes", {"id": 1, "body": "kept"})
        with pytest.raises(SyncError):
            a.insert_many("notes", [{"id": 2, "body": "half"}, {"id": 3, "body": "x", "n": -1}])
    assert [r["id"] for r in a.rows("notes")] == [1]
    assert {op.row_id for op in a.ops()} == {1}


def test_receive_refused_inside_a_local_transaction(tmp_path: Path) -> None:
    a = open_replica(tmp_path / "a.db", peer_id="a")
    b = open_replica(tmp_path / "b.db", peer_id="b")
    new_task(b)
    with a.transaction(), pytest.raises(SyncError):
        a.receive(b.export_changes())


def test_replica_keeps_its_peer_id(tmp_path: Path) -> None:
    a = open_replica(tmp_path / "a.db", peer_id="a")
    new_task(a)
    a.close()
    again = open_replica(tmp_path / "a.db")
    assert again.peer_id == "a"
    with pytest.raises(SyncError):
        open_replica(tmp_path / "a.db", peer_id="other")
    before = again.ops()[-1].hlc
    new_task(again)
    assert again.ops()[-1].hlc > before  # the clock resumes after its stored history


# --- generic tables ------------------------------------------------------------------


def test_every_single_column_key_table_replicates(tmp_path: Path, generic_dir: Path) -> None:
    a = open_generic(tmp_path, generic_dir, "a")
    b = open_generic(tmp_path, generic_dir, "b")
    note = a.insert("notes", {"body": "hello", "score": 1.5, "data": b"\x00\x01", "n": 4})
    assert isinstance(note, int)
    a.insert("tags", {"name": "home", "weight": 2})
    b.insert("tags", {"name": "work", "color": "blue", "weight": 1.25})
    b.insert("kv", {"k": "blob", "v": b"\xff"})
    b.insert("kv", {"k": "int", "v": 7})
    result = sync(a, b)
    assert result.rejected == 0 and result.skipped_unknown == 0
    for table in ("notes", "tags", "kv"):
        assert a.rows(table) == b.rows(table), table
    assert a.rows("notes") == [
        {"id": note, "body": "hello", "score": 1.5, "data": b"\x00\x01", "n": 4}
    ]
    assert a.rows("tags") == [
        {"name": "home", "color": "red", "weight": 2},
        {"name": "work", "color": "blue", "weight": 1.25},
    ]
    b.update("notes", note, {"body": "changed", "data": None})
    a.delete("kv", "int")
    sync(a, b)
    assert a.rows("notes")[0]["body"] == "changed" and a.rows("notes")[0]["data"] is None
    assert [r["k"] for r in b.rows("kv")] == ["blob"]
    for table in ("notes", "tags", "kv"):
        assert a.rows(table) == b.rows(table), table


def test_table_without_single_column_key_is_reported_and_refused(
    tmp_path: Path, generic_dir: Path
) -> None:
    a = open_generic(tmp_path, generic_dir, "a")
    b = open_generic(tmp_path, generic_dir, "b")
    assert a.unreplicated_tables == ["events", "pairs"]
    assert set(a.models) == {"notes", "tags", "kv"}
    for table, values in (("pairs", {"a": 1, "b": 2}), ("events", {"msg": "x"})):
        with pytest.raises(SyncError, match="single-column primary key"):
            a.insert(table, values)
        with pytest.raises(SyncError):
            a.rows(table)
    with pytest.raises(SyncError, match="no table"):
        a.insert("nothing_here", {"x": 1})
    # an op naming such a table is never applied: kept, like one for a table
    # this version lacks, so a relay forwards it and a later version may place it
    op = Op("0018bcfe56800-0000-a", "a", 1, "set", "pairs", 1, "note", "x")
    result = b.receive(encode_message(a.peer_info, [op], {}))
    assert (result.rejected, result.applied, result.skipped_unknown) == (0, 0, 1)
    assert b.conn.execute("SELECT COUNT(*) FROM pairs").fetchone()[0] == 0
    assert [parked.table_name for parked in b.oplog.parked_ops()] == ["pairs"]


def test_rows_shape(tmp_path: Path) -> None:
    a = open_replica(tmp_path / "a.db", target_version=3, peer_id="a")
    lid = a.insert("lists", {"list_id": "L1", "name": "Home"})
    a.insert("tasks", {"task_id": "t2", "list_id": lid, "content": "b"})
    a.insert("tasks", {"task_id": "t1", "list_id": lid, "content": "a", "due_date": "2030-01-01"})
    rows = a.rows("tasks")
    assert [r["task_id"] for r in rows] == ["t1", "t2"]
    expected_columns = [c.name for c in a.schema.tables["tasks"].columns]
    assert all(list(r) == expected_columns for r in rows)
    assert "priority" in expected_columns and "tags" in expected_columns
    assert rows[0]["priority"] == 0 and rows[0]["tags"] == "[]" and rows[1]["due_date"] is None
    with pytest.raises(SyncError):
        a.rows("comments")  # v4's table does not exist at v3


def test_ops_since(tmp_path: Path) -> None:
    a = open_replica(tmp_path / "a.db", peer_id="a")
    task = new_task(a)
    everything = a.ops()
    assert [op.hlc for op in everything] == sorted(op.hlc for op in everything)
    middle = everything[len(everything) // 2].hlc
    assert a.ops(since=middle) == [op for op in everything if op.hlc > middle]
    assert a.ops(since=everything[-1].hlc) == []
    a.update("tasks", task, {"content": "z"})
    assert [op.new_value for op in a.ops(since=everything[-1].hlc)] == ["z"]


# --- sync ----------------------------------------------------------------------------


def test_delta_sync_sends_only_what_is_new(tmp_path: Path) -> None:
    a = open_replica(tmp_path / "a.db", peer_id="a")
    b = open_replica(tmp_path / "b.db", peer_id="b")
    tasks = [new_task(a) for _ in range(5)]
    new_task(b)
    first = sync(a, b)
    assert first.sent == len(a.ops()) == len(b.ops())
    sent_before = a.stats["sent"] + b.stats["sent"]
    again = sync(a, b)
    assert again.sent == 0
    assert a.stats["sent"] + b.stats["sent"] == sent_before
    for index, task in enumerate(tasks):
        a.update("tasks", task, {"priority": index})
    third = sync(a, b)
    assert third.sent == 5 and third.applied == 5
    assert a.stats["sent"] + b.stats["sent"] == sent_before + 5
    assert a.rows("tasks") == b.rows("tasks")


def test_export_since_a_version_vector(tmp_path: Path) -> None:
    a = open_replica(tmp_path / "a.db", peer_id="a")
    new_task(a)
    vector = a.version_vector()
    task = new_task(a)
    sent = decode_message(a.export_changes(vector)).ops
    assert {op.row_id for op in sent if op.table_name == "tasks"} == {task}
    assert all(op.hlc > vector["a"] for op in sent)
    assert len(decode_message(a.export_changes()).ops) == len(a.ops())


@pytest.mark.parametrize("since", ["001a215fac197-0000-a", ["a"], {"a": 1}])
def test_export_since_anything_but_a_vector_is_a_nexus_error(tmp_path: Path, since: Any) -> None:
    a = open_replica(tmp_path / "a.db", peer_id="a")
    with pytest.raises(NexusError, match=r"takes a version vector \(\{origin: clock\}\)"):
        a.export_changes(since)


@pytest.mark.parametrize(
    ("since", "peer", "said"),
    [
        ({"a": "not a clock"}, None, "not a clock value"),
        ({"bad origin": "001a215fac197-0000-a"}, None, "invalid peer id"),
        (None, "not a peer id", "invalid peer id"),
    ],
)
def test_export_since_a_malformed_vector_or_peer_is_a_nexus_error(
    tmp_path: Path, since: Any, peer: str | None, said: str
) -> None:
    """A malformed clock compares as any text does: it would leave ops out unsaid."""
    a = open_replica(tmp_path / "a.db", peer_id="a")
    with pytest.raises(NexusError, match=said):
        a.export_changes(since, peer=peer)


def test_arguments_of_the_wrong_kind_are_nexus_errors(tmp_path: Path, generic_dir: Path) -> None:
    a = open_generic(tmp_path, generic_dir, "a")
    with pytest.raises(NexusError, match="takes a mapping of column to value, not list"):
        a.insert("tags", [("name", "x")])  # type: ignore[arg-type]
    row = a.insert("tags", {"name": "x"})
    with pytest.raises(NexusError, match="takes a mapping of column to value, not tuple"):
        a.update("tags", row, ("color", "blue"))  # type: ignore[arg-type]
    with pytest.raises(NexusError, match="takes a mapping of column to value, not str"):
        a.insert_many("tags", {"name": "y"})  # type: ignore[arg-type]
    for target in ("1", 1.0, True, -1):
        with pytest.raises(NexusError, match="upgrade\\(\\) takes a version number"):
            a.upgrade(target)  # type: ignore[arg-type]
    assert a.rows("tags") == [{"name": "x", "color": "red", "weight": None}]


@pytest.mark.parametrize("delete_side", ["a", "b"])
@pytest.mark.parametrize("deliver_delete_first", [True, False])
def test_delete_wins_over_concurrent_update(
    tmp_path: Path, delete_side: str, deliver_delete_first: bool
) -> None:
    a = open_replica(tmp_path / "a.db", peer_id="a")
    b = open_replica(tmp_path / "b.db", peer_id="b")
    task = new_task(a)
    sync(a, b)
    deleter, updater = (a, b) if delete_side == "a" else (b, a)
    deleter.delete("tasks", task)
    updater.update("tasks", task, {"content": "edited later", "priority": 9})  # a later clock
    if deliver_delete_first:
        updater.receive(deleter.export_changes(peer=updater.peer_id))
        deleter.receive(updater.export_changes(peer=deleter.peer_id))
    else:
        deleter.receive(updater.export_changes(peer=deleter.peer_id))
        updater.receive(deleter.export_changes(peer=updater.peer_id))
    sync(a, b)
    assert a.rows("tasks") == b.rows("tasks") == []
    with pytest.raises(SyncError):
        updater.update("tasks", task, {"content": "again"})
    with pytest.raises(SyncError, match="never reused"):
        updater.insert("tasks", {"task_id": task, "list_id": "x", "content": "back"})


def test_later_update_wins_per_column(tmp_path: Path) -> None:
    a = open_replica(tmp_path / "a.db", peer_id="a")
    b = open_replica(tmp_path / "b.db", peer_id="b")
    task = new_task(a)
    sync(a, b)
    a.update("tasks", task, {"content": "from a", "priority": 1})
    b.update("tasks", task, {"content": "from b"})  # b's clock is later for content only
    sync(a, b)
    assert a.rows("tasks") == b.rows("tasks")
    row = a.rows("tasks")[0]
    assert (row["content"], row["priority"]) == ("from b", 1)


def pending_count(replica: Replica) -> int:
    return len(replica.pending_rows())


def test_required_column_arriving_later(tmp_path: Path) -> None:
    a = open_replica(tmp_path / "a.db", peer_id="a")
    b = open_replica(tmp_path / "b.db", peer_id="b")
    task = new_task(a)
    ops = decode_message(a.export_changes()).ops
    late = [op for op in ops if op.table_name == "tasks" and op.column_name == "content"]
    early = [op for op in ops if op not in late]
    first = b.receive(encode_message(a.peer_info, early, {}))
    assert first.applied == len(early) and first.rejected == 0
    assert b.rows("tasks") == []
    assert pending_count(b) == 1
    second = b.receive(encode_message(a.peer_info, late, {}))
    assert second.applied == 1
    assert b.rows("tasks") == a.rows("tasks")
    assert b.rows("tasks")[0]["task_id"] == task
    assert pending_count(b) == 0


def test_pending_row_deleted_before_it_completes(tmp_path: Path) -> None:
    a = open_replica(tmp_path / "a.db", peer_id="a")
    b = open_replica(tmp_path / "b.db", peer_id="b")
    c = open_replica(tmp_path / "c.db", peer_id="c")
    task = new_task(a)
    created = decode_message(a.export_changes()).ops
    a.delete("tasks", task)
    deleted = a.ops(since=created[-1].hlc)
    late = [op for op in created if op.column_name == "content"]
    c.receive(encode_message(a.peer_info, [op for op in created if op not in late], {}))
    assert pending_count(c) == 1
    c.receive(encode_message(a.peer_info, deleted, {}))
    c.receive(encode_message(a.peer_info, late, {}))
    assert c.rows("tasks") == [] and pending_count(c) == 0
    sync(a, b)
    assert b.rows("tasks") == []


def test_sync_with_itself_is_refused(tmp_path: Path) -> None:
    a = open_replica(tmp_path / "a.db", peer_id="a")
    with pytest.raises(SyncError):
        sync(a, a)


def test_no_sqlite_error_escapes_local_writes(tmp_path: Path, generic_dir: Path) -> None:
    a = open_generic(tmp_path, generic_dir, "a")
    a.insert("tags", {"name": "x"})
    try:
        a.insert("tags", {"name": "x"})  # duplicate key
    except SyncError:
        pass
    except sqlite3.Error as exc:  # pragma: no cover - the failure this test exists for
        pytest.fail(f"bare sqlite3 error escaped: {exc!r}")
    else:
        pytest.fail("a duplicate key was accepted")


def test_a_numeric_key_given_as_text_captures_its_defaults(tmp_path: Path) -> None:
    """SQLite stores '12' in a NUMERIC key as 12; the defaults it filled in are still sent."""
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "001_t.sql").write_text(
        "-- Description: a NUMERIC key\n"
        "CREATE TABLE t (id NUMERIC PRIMARY KEY, d TEXT DEFAULT 'dflt', x TEXT);\n"
    )
    a = open_replica(tmp_path / "a.db", migrations=folder, peer_id="a")
    b = open_replica(tmp_path / "b.db", migrations=folder, peer_id="b")
    try:
        assert a.insert_many("t", [{"id": "12", "x": "q"}, {"id": "abc"}]) == ["12", "abc"]
        sent = {
            (op.row_id, op.column_name): op.new_value
            for op in decode_message(a.export_changes()).ops
        }
        assert sent[("12", "d")] == "dflt" and sent[("abc", "d")] == "dflt"
        sync(a, b)
        assert b.rows("t") == a.rows("t")
        assert {row["id"]: row["d"] for row in b.rows("t")} == {12: "dflt", "abc": "dflt"}
    finally:
        a.close()
        b.close()


def test_row_state_clocks_merge_across_their_two_stored_forms(
    tmp_path: Path, generic_dir: Path
) -> None:
    """A row written at once stores one clock for its columns; later writes merge into it."""
    replica = open_generic(tmp_path, generic_dir, "a")
    shared = replica.oplog.shared_clocks.json
    with replica.transaction():
        replica.oplog.stamp_rows("tags", [("x", shared(("color", "weight"), "c1"))])
    assert replica.conn.execute("SELECT clocks FROM _nexus_rows").fetchone()[0][0] == "["
    assert replica.oplog.row_state("tags", "x").clocks == {"color": "c1", "weight": "c1"}
    with replica.transaction():  # compact over compact, then the object form over compact
        replica.oplog.stamp_rows("tags", [("x", shared(("weight",), "c2"))])
        assert replica.oplog.row_state("tags", "x").clocks == {"color": "c1", "weight": "c2"}
        replica.oplog.stamp_rows("tags", [("x", '{"color": "c3"}')])
    assert replica.oplog.row_state("tags", "x").clocks == {"color": "c3", "weight": "c2"}
    assert shared((), "c4") == "{}"
    replica.close()


@pytest.mark.parametrize(
    ("column", "fine", "bad"),
    [
        ("n", 5, 2**63),
        ("n", 0, -(2**63) - 1),
        ("score", 1.5, float("inf")),
        ("score", 0.5, math.nan),
    ],
)
def test_local_writes_check_numbers_after_their_shape_is_known(
    tmp_path: Path, generic_dir: Path, column: str, fine: Value, bad: Value
) -> None:
    """Once a write's columns and types are seen to hold, each number is still checked."""
    a = open_generic(tmp_path, generic_dir, "a")
    a.insert_many("notes", [{"body": "x", column: fine}, {"body": "y", column: fine}])
    with pytest.raises(SyncError, match="invalid value"):
        a.insert("notes", {"body": "z", column: bad})
    with pytest.raises(SyncError, match="invalid value"):
        a.insert_many("notes", [{"body": "z", column: fine}, {"body": "w", column: bad}])
    assert len(a.rows("notes")) == 2
    a.close()


@pytest.mark.parametrize(
    ("schema", "key", "fine"),
    [
        ("CREATE TABLE m (k REAL PRIMARY KEY, v TEXT);", 1.5, 2),
        ("CREATE TABLE m (k PRIMARY KEY, v TEXT);", 2.5, 2),
        ("CREATE TABLE m (k TEXT PRIMARY KEY, v TEXT);", "x" * 1025, "x" * 1024),
    ],
)
def test_a_key_no_peer_could_receive_is_refused_locally(
    tmp_path: Path, schema: str, key: Value, fine: Value
) -> None:
    """The wire names rows by integers, text or blobs: anything else would block sync for good."""
    folder = migrations_folder(tmp_path, schema)
    a = open_replica(tmp_path / "a.db", migrations=folder, peer_id="a")
    b = open_replica(tmp_path / "b.db", migrations=folder, peer_id="b")
    with pytest.raises(SyncError, match=r"invalid value for m\.k: row ids"):
        a.insert("m", {"k": key, "v": "x"})
    for write in (lambda: a.update("m", key, {"v": "y"}), lambda: a.delete("m", key)):
        with pytest.raises(SyncError, match="row ids"):
            write()
    made = a.insert("m", {"v": "generated key"})  # a key the engine makes is always sendable
    a.insert("m", {"k": fine, "v": "given key"})
    sync(a, b)
    assert sorted(row["v"] for row in b.rows("m")) == ["generated key", "given key"]
    assert type(made) is (
        int if "k REAL" in schema else str
    )  # a number where text would turn into one
    a.close()
    b.close()


def test_full_text_index_is_local_and_loose_keys_are_not_replicated(tmp_path: Path) -> None:
    """An FTS table and its shadow tables are each replica's own; a NOCASE key is refused."""
    folder = migrations_folder(
        tmp_path,
        "CREATE TABLE recipes (recipe_id TEXT PRIMARY KEY, title TEXT NOT NULL);"
        "CREATE VIRTUAL TABLE recipes_fts USING fts5(title, content='recipes',"
        " content_rowid='rowid');"
        "CREATE TRIGGER recipes_ai AFTER INSERT ON recipes BEGIN"
        " INSERT INTO recipes_fts(rowid, title) VALUES (new.rowid, new.title); END;"
        "CREATE TABLE handles (handle TEXT PRIMARY KEY COLLATE NOCASE, bio TEXT);",
    )
    a = open_replica(tmp_path / "a.db", migrations=folder, peer_id="a")
    b = open_replica(tmp_path / "b.db", migrations=folder, peer_id="b")
    assert set(a.models) == {"recipes"}
    assert a.unreplicated_tables == ["handles"]
    with pytest.raises(SyncError, match="COLLATE NOCASE"):
        a.insert("handles", {"handle": "Alice", "bio": "x"})
    a.insert("recipes", {"recipe_id": "r1", "title": "lemon tart"})
    sync(a, b)
    search = "SELECT title FROM recipes_fts WHERE recipes_fts MATCH 'lemon'"
    assert b.conn.execute(search).fetchall() == [("lemon tart",)]
    hostile = Op("001a214e38e20-0000-z", "z", 1, "set", "recipes_fts_data", 1, "block", "x")
    outcome = b.receive(encode_message(PeerInfo("z", 1), [hostile], {}))
    # Kept for a later version that may have such a table, never written here.
    assert (outcome.rejected, outcome.skipped_unknown, len(b.oplog.parked_ops())) == (0, 1, 1)
    b.replay_parked()
    assert b.oplog.parked_ops() != []
    assert b.conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert b.conn.execute(search).fetchall() == [("lemon tart",)]
    a.close()
    b.close()


def test_a_peer_restored_from_a_backup_is_sent_what_it_lost(tmp_path: Path) -> None:
    a = open_replica(tmp_path / "a.db", peer_id="a")
    b = open_replica(tmp_path / "b.db", peer_id="b")
    new_task(a)
    sync(a, b)
    b.close()
    backup = (tmp_path / "b.db").read_bytes()
    b = open_replica(tmp_path / "b.db", peer_id="b")
    later = new_task(a)
    sync(a, b)
    assert later in {row["task_id"] for row in b.rows("tasks")}
    b.close()
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"b.db{suffix}").unlink(missing_ok=True)
    (tmp_path / "b.db").write_bytes(backup)  # b comes back from its backup
    b = open_replica(tmp_path / "b.db", peer_id="b")
    assert later not in {row["task_id"] for row in b.rows("tasks")}
    sync(a, b)  # a sends by what b claimed last; b's answer shows it lost some
    assert a.rows("tasks") == b.rows("tasks")
    assert later in {row["task_id"] for row in b.rows("tasks")}


MIGRATIONS = load_migrations()


def test_an_edit_after_a_merge_by_another_connection_wins(tmp_path: Path) -> None:
    """The app keeps A open while `nexus sync` (another connection) merges B's edit
    made on a clock a minute fast; A's next edit, made after it, must win everywhere."""
    clock = {"a": 1_800_000_000_000, "b": 1_800_000_060_000}  # b runs a minute ahead
    open_replica(tmp_path / "a.db", peer_id="a").close()
    open_replica(tmp_path / "b.db", peer_id="b").close()
    a = Replica(connect(tmp_path / "a.db"), MIGRATIONS, now_ms=lambda: clock["a"])
    b = Replica(connect(tmp_path / "b.db"), MIGRATIONS, now_ms=lambda: clock["b"])
    task = new_task(a)
    sync(a, b)
    b.update("tasks", task, {"content": "edited on B"})
    background = Replica(connect(tmp_path / "a.db"), MIGRATIONS, now_ms=lambda: clock["a"])
    sync(background, b)
    background.close()
    clock["a"] += 500
    a.update("tasks", task, {"content": "edited on A, after seeing B's edit"})
    sync(a, b)
    assert a.rows("tasks") == b.rows("tasks")
    assert b.rows("tasks")[0]["content"] == "edited on A, after seeing B's edit"


def test_ops_on_a_table_that_is_a_search_index_here_wait_for_the_upgrade(tmp_path: Path) -> None:
    """v1 ships an FTS table; v2 drops it and makes a replicated table of that name."""
    folder = migrations_folder(
        tmp_path,
        "CREATE TABLE games (game_id TEXT PRIMARY KEY, white TEXT);"
        "CREATE VIRTUAL TABLE openings USING fts5(eco, name);"
        "INSERT INTO openings (eco, name) VALUES ('C60', 'Ruy Lopez');",
        "DROP TABLE openings;"
        "CREATE TABLE openings (opening_id TEXT PRIMARY KEY, eco TEXT NOT NULL, name TEXT);",
    )
    old = open_replica(tmp_path / "old.db", migrations=folder, target_version=1, peer_id="old")
    new = open_replica(tmp_path / "new.db", migrations=folder, peer_id="new")
    new.insert("openings", {"opening_id": "d06", "eco": "D06", "name": "Queen's Gambit"})
    result = sync(old, new)
    assert (result.rejected, old.stats["skipped_unknown"]) == (0, 3)
    assert old.conn.execute("SELECT count(*) FROM openings").fetchone() == (1,)  # its own row
    old.upgrade()
    assert old.rows("openings") == new.rows("openings")
    old.close()
    new.close()


# --- misuse: a SyncError that says what is wrong, never sqlite3's own ----------------


def test_a_closed_replica_says_so(tmp_path: Path, generic_dir: Path) -> None:
    replica = open_generic(tmp_path, generic_dir, "a")
    message = replica.export_changes()
    replica.close()
    replica.close()  # closing again is fine (a with-block after an explicit close)
    for use in (
        lambda: replica.rows("notes"),
        lambda: replica.insert("notes", {"body": "x"}),
        lambda: replica.receive(message),
        lambda: replica.export_changes(),
        lambda: replica.upgrade(),
    ):
        with pytest.raises(SyncError, match="this replica is closed"):
            use()


def test_an_invalid_peer_id_is_refused_before_anything_is_written(
    tmp_path: Path, generic_dir: Path
) -> None:
    path = tmp_path / "phone.db"
    with pytest.raises(SyncError, match="invalid peer id 'bad id'"):
        open_replica(path, migrations=generic_dir, peer_id="bad id")
    with open_replica(path, migrations=generic_dir, peer_id="good") as replica:
        assert replica.peer_id == "good"


def test_ops_since_takes_a_clock_only(tmp_path: Path, generic_dir: Path) -> None:
    with open_generic(tmp_path, generic_dir, "a") as replica:
        replica.insert("notes", {"body": "x"})
        clock = replica.ops()[-1].hlc
        assert replica.ops(clock) == []
        for since in ("yesterday", clock.upper(), 5):
            with pytest.raises(SyncError):
                replica.ops(since)  # type: ignore[arg-type]


def test_local_writes_name_columns_in_any_case_as_sqlite_does(
    tmp_path: Path, generic_dir: Path
) -> None:
    with (
        open_generic(tmp_path, generic_dir, "a") as a,
        open_generic(tmp_path, generic_dir, "b") as b,
    ):
        row = a.insert("NOTES", {"BODY": "x", "Score": 1.5})
        a.update("notes", row, {"N": 3})
        with pytest.raises(SyncError, match="given twice"):
            a.update("notes", row, {"n": 4, "N": 5})
        with pytest.raises(SyncError, match="row id and cannot change"):
            a.update("notes", row, {"ID": 99})
        sync(a, b)
        assert b.rows("notes") == a.rows("notes")
        assert [(r["id"], r["body"], r["score"], r["n"]) for r in b.rows("notes")] == [
            (row, "x", 1.5, 3)
        ]
        assert {op.column_name for op in a.ops()} <= {"id", "body", "score", "data", "n"}


CASCADES = """
CREATE TABLE owners (id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL, email TEXT UNIQUE);
CREATE TABLE pets (id TEXT PRIMARY KEY NOT NULL, name TEXT,
                   owner_id TEXT REFERENCES owners (id) ON DELETE CASCADE);
CREATE TABLE visits (id INTEGER PRIMARY KEY, pet_id TEXT REFERENCES pets ON DELETE CASCADE);
CREATE TABLE mails (id INTEGER PRIMARY KEY, body TEXT,
                    owner_email TEXT REFERENCES owners (email) ON DELETE SET NULL);
CREATE TABLE notes (id INTEGER PRIMARY KEY, owner_id TEXT REFERENCES owners (id));
CREATE TABLE nodes (id INTEGER PRIMARY KEY, parent INTEGER REFERENCES nodes ON DELETE CASCADE);
"""


def test_a_local_delete_carries_out_on_delete_actions_as_ops(tmp_path: Path) -> None:
    """SQLite's foreign keys stay off (a child may arrive before its parent), so the
    engine does what ON DELETE CASCADE and SET NULL say, as writes peers receive."""
    folder = migrations_folder(tmp_path, CASCADES)
    a = open_replica(tmp_path / "a.db", migrations=folder, peer_id="a")
    b = open_replica(tmp_path / "b.db", migrations=folder, peer_id="b")
    owner = a.insert("owners", {"name": "Ann", "email": "ann@example.com"})
    kept = a.insert("owners", {"name": "Bo", "email": "bo@example.com"})
    pet = a.insert("pets", {"name": "Rex", "owner_id": owner})
    other = a.insert("pets", {"name": "Tom", "owner_id": kept})
    a.insert("visits", {"id": 1, "pet_id": pet})
    a.insert("visits", {"id": 2, "pet_id": other})
    a.insert("mails", {"id": 1, "body": "hi", "owner_email": "ann@example.com"})
    a.insert("notes", {"id": 1, "owner_id": owner})  # no action: left as it is
    a.insert_many("nodes", [{"id": 1}, {"id": 2, "parent": 1}, {"id": 3, "parent": 2}])
    a.update("nodes", 1, {"parent": 3})  # a cycle ends too
    a.insert("nodes", {"id": 4})
    sync(a, b)
    b.delete("owners", owner)
    b.delete("nodes", 2)
    assert [p["id"] for p in b.rows("pets")] == [other]
    assert [v["id"] for v in b.rows("visits")] == [2]
    assert b.rows("mails") == [{"id": 1, "body": "hi", "owner_email": None}]
    assert b.rows("notes") == [{"id": 1, "owner_id": owner}]
    assert [n["id"] for n in b.rows("nodes")] == [4]
    deleted = {(op.table_name, op.row_id) for op in b.ops() if op.kind == "delete"}
    assert deleted == {("owners", owner), ("pets", pet), ("visits", 1)} | {
        ("nodes", n) for n in (1, 2, 3)
    }
    sync(a, b)
    for table in ("owners", "pets", "visits", "mails", "notes", "nodes"):
        assert a.rows(table) == b.rows(table), table
    a.close()
    b.close()


def test_a_cascade_that_cannot_be_carried_out_leaves_everything(tmp_path: Path) -> None:
    folder = migrations_folder(
        tmp_path,
        "CREATE TABLE owners (id INTEGER PRIMARY KEY);"
        " CREATE TABLE pets (id INTEGER PRIMARY KEY, owner_id INTEGER NOT NULL"
        " REFERENCES owners ON DELETE SET NULL);",
    )
    a = open_replica(tmp_path / "a.db", migrations=folder, peer_id="a")
    a.insert("owners", {"id": 1})
    a.insert("pets", {"id": 7, "owner_id": 1})
    before = len(a.ops())
    with pytest.raises(SyncError, match=r"pets\.owner_id"):
        a.delete("owners", 1)
    assert a.rows("owners") == [{"id": 1}]
    assert a.rows("pets") == [{"id": 7, "owner_id": 1}]
    assert len(a.ops()) == before
    a.close()


def test_a_cascade_names_rows_as_the_oplog_does(tmp_path: Path) -> None:
    """SQLite stores an integer in a REAL key as a float and '0042' in a NUMERIC key
    as 42; the cascade's ops must name those rows as every other op does, or the
    message cannot be sent (a float row id) or names another row."""
    folder = migrations_folder(
        tmp_path,
        "CREATE TABLE rooms (id INTEGER PRIMARY KEY, name TEXT);"
        " CREATE TABLE bookings (id REAL PRIMARY KEY,"
        " room_id INTEGER REFERENCES rooms ON DELETE CASCADE);"
        " CREATE TABLE products (sku NUMERIC PRIMARY KEY,"
        " room_id INTEGER REFERENCES rooms ON DELETE CASCADE);",
    )
    a = open_replica(tmp_path / "a.db", migrations=folder, peer_id="a")
    b = open_replica(tmp_path / "b.db", migrations=folder, peer_id="b")
    a.insert("rooms", {"id": 1, "name": "red"})
    booking = a.insert("bookings", {"room_id": 1})
    a.insert("products", {"sku": "0042", "room_id": 1})
    a.insert("products", {"sku": 7})
    a.delete("products", 7)
    a.insert("products", {"sku": "007", "room_id": 1})  # stored as 7, as the deleted row was
    sync(a, b)
    b.update("products", "0042", {"room_id": 1})  # concurrent with the delete below
    a.delete("rooms", 1)
    deleted = {(op.table_name, op.row_id) for op in a.ops() if op.kind == "delete"}
    assert deleted == {("rooms", 1), ("bookings", booking), ("products", "0042")} | {
        ("products", 7),
        ("products", "007"),
    }
    sync(a, b)
    for table in ("rooms", "bookings", "products"):
        assert a.rows(table) == b.rows(table) == [], table
    a.close()
    b.close()


def test_a_cascade_down_a_long_chain_needs_no_recursion(tmp_path: Path) -> None:
    folder = migrations_folder(
        tmp_path,
        "CREATE TABLE steps (id INTEGER PRIMARY KEY,"
        " after INTEGER REFERENCES steps ON DELETE CASCADE);",
    )
    a = open_replica(tmp_path / "a.db", migrations=folder, peer_id="a")
    a.insert_many("steps", [{"id": 0}, *({"id": n, "after": n - 1} for n in range(1, 1500))])
    a.delete("steps", 0)
    assert a.rows("steps") == []
    a.close()


def test_a_trigger_that_keeps_a_child_or_ends_the_transaction_fails_the_delete(
    tmp_path: Path,
) -> None:
    folder = migrations_folder(
        tmp_path,
        "CREATE TABLE owners (id INTEGER PRIMARY KEY);"
        " CREATE TABLE pets (id INTEGER PRIMARY KEY, kind TEXT,"
        " owner_id INTEGER REFERENCES owners ON DELETE CASCADE);"
        " CREATE TRIGGER keep BEFORE DELETE ON pets WHEN old.kind = 'kept'"
        " BEGIN SELECT RAISE(IGNORE); END;"
        " CREATE TRIGGER lock BEFORE DELETE ON pets WHEN old.kind = 'locked'"
        " BEGIN SELECT RAISE(ROLLBACK, 'pet is locked'); END;",
    )
    a = open_replica(tmp_path / "a.db", migrations=folder, peer_id="a")
    a.insert_many("owners", [{"id": 1}, {"id": 2}])
    a.insert_many("pets", [{"id": 1, "kind": "kept", "owner_id": 1}])
    a.insert("pets", {"id": 2, "kind": "locked", "owner_id": 2})
    with pytest.raises(SyncError, match=r"a trigger kept pets row 1 \(RAISE\(IGNORE\)\)"):
        a.delete("owners", 1)
    # RAISE(ROLLBACK) undoes the whole block: later writes in it must not commit alone.
    ended = r"RAISE\(ROLLBACK\) ended the transaction"
    with pytest.raises(SyncError, match=ended), a.transaction():
        a.insert("owners", {"id": 3})
        with pytest.raises(SyncError, match="pet is locked"):
            a.delete("owners", 2)
        a.insert("owners", {"id": 4})
    assert [o["id"] for o in a.rows("owners")] == [1, 2]
    assert [p["id"] for p in a.rows("pets")] == [1, 2]
    a.insert("owners", {"id": 5})  # the replica goes on
    assert [o["id"] for o in a.rows("owners")] == [1, 2, 5]
    a.close()


def test_tables_with_mobile_platform_collations_open_and_sync(tmp_path: Path) -> None:
    """Room writes COLLATE LOCALIZED or UNICODE, GRDB COLLATE swift...Compare; both
    register them on their own connections. Stand-ins keep such schemas usable."""
    folder = migrations_folder(
        tmp_path,
        "CREATE TABLE `groups` (`id` INTEGER PRIMARY KEY NOT NULL,"
        " `title` TEXT NOT NULL COLLATE LOCALIZED, `code` TEXT COLLATE UNICODE);"
        ' CREATE TABLE "author" ("id" TEXT PRIMARY KEY NOT NULL,'
        ' "name" TEXT NOT NULL UNIQUE COLLATE swiftLocalizedCaseInsensitiveCompare);',
    )
    a = open_replica(tmp_path / "a.db", migrations=folder, peer_id="a")
    b = open_replica(tmp_path / "b.db", migrations=folder, peer_id="b")
    a.insert("groups", {"id": 1, "title": "Zoë", "code": "x"})
    a.insert("author", {"id": "a1", "name": "Émile"})
    with pytest.raises(SyncError, match="UNIQUE"):
        a.insert("author", {"id": "a2", "name": "émile"})  # equal, ignoring case
    sync(a, b)
    assert a.rows("groups") == b.rows("groups") and a.rows("author") == b.rows("author")
    a.close()
    b.close()


def test_a_key_under_a_case_blind_platform_collation_is_not_replicated(tmp_path: Path) -> None:
    """As under NOCASE: 'Alice' and 'alice' would be one row of two row ids."""
    folder = migrations_folder(
        tmp_path,
        'CREATE TABLE "author" ("name" TEXT PRIMARY KEY COLLATE swiftCaseInsensitiveCompare);',
    )
    a = open_replica(tmp_path / "a.db", migrations=folder, peer_id="a")
    assert a.unreplicated_tables == ["author"]
    with pytest.raises(SyncError, match="COLLATE SWIFTCASEINSENSITIVECOMPARE"):
        a.insert("author", {"name": "Alice"})
    a.close()


def test_an_op_a_rollback_trigger_refuses_is_refused_alone(tmp_path: Path) -> None:
    """RAISE(ROLLBACK) ends the whole transaction: the message is tried again with
    that row's ops refused and parked, so the rest of it still arrives, and the
    refused op applies once the guard lets it pass."""
    folder = migrations_folder(
        tmp_path,
        "CREATE TABLE accounts (acct_id TEXT PRIMARY KEY NOT NULL, owner TEXT NOT NULL,"
        " balance INTEGER NOT NULL DEFAULT 0, locked INTEGER NOT NULL DEFAULT 0);"
        " CREATE TRIGGER guard BEFORE UPDATE OF balance ON accounts WHEN OLD.locked = 1"
        " BEGIN SELECT RAISE(ROLLBACK, 'account locked'); END;",
    )
    a = open_replica(tmp_path / "a.db", migrations=folder, peer_id="a")
    b = open_replica(tmp_path / "b.db", migrations=folder, peer_id="b")
    account = a.insert("accounts", {"owner": "ann", "balance": 10})
    sync(a, b)
    b.update("accounts", account, {"locked": 1})
    a.update("accounts", account, {"balance": 20})
    other = a.insert("accounts", {"owner": "bo"})
    result = b.receive(a.export_changes())
    assert result.rejected == 1
    assert {r["acct_id"] for r in b.rows("accounts")} == {account, other}
    assert [r["balance"] for r in b.rows("accounts") if r["acct_id"] == account] == [10]
    reasons = [why for _, columns in b.oplog.parked() for why in columns.values()]
    assert any("RAISE(ROLLBACK)" in why for why in reasons)
    sync(a, b)  # both ways, again: the refused op stays parked, nothing raises
    b.update("accounts", account, {"locked": 0})
    sync(a, b)
    assert a.rows("accounts") == b.rows("accounts")
    assert [r["balance"] for r in b.rows("accounts") if r["acct_id"] == account] == [20]
    a.close()
    b.close()


def test_new_rows_a_rollback_trigger_refuses_leave_the_others_in(tmp_path: Path) -> None:
    """New rows go in through the fast lane, which cannot say which row a trigger
    rolled back: the careful path finds it on the next try."""
    folder = migrations_folder(tmp_path, "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT);")
    guard = migrations_folder(
        tmp_path / "guarded",
        "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT);"
        " CREATE TRIGGER no_eve BEFORE INSERT ON people WHEN NEW.name = 'eve'"
        " BEGIN SELECT RAISE(ROLLBACK, 'not eve'); END;",
    )
    a = open_replica(tmp_path / "a.db", migrations=folder, peer_id="a")
    b = open_replica(tmp_path / "b.db", migrations=guard, peer_id="b")
    a.insert_many(
        "people", [{"id": n, "name": name} for n, name in enumerate(["ann", "eve", "bo"])]
    )
    result = b.receive(a.export_changes())
    assert (result.rejected, sorted(r["name"] for r in b.rows("people"))) == (2, ["ann", "bo"])
    a.close()
    b.close()


def test_a_write_to_a_generated_column_says_it_is_generated(tmp_path: Path) -> None:
    """rows() lists it, so "no column room.price" read as a missing column (review BJ F6)."""
    folder = migrations_folder(
        tmp_path,
        "CREATE TABLE room (id TEXT PRIMARY KEY, cents INTEGER,"
        " price REAL GENERATED ALWAYS AS (cents / 100.0) STORED);",
    )
    a = open_replica(tmp_path / "a.db", migrations=folder, peer_id="a")
    a.insert("room", {"id": "r1", "cents": 250})
    assert a.rows("room") == [{"id": "r1", "cents": 250, "price": 2.5}]
    with pytest.raises(SyncError, match=r"^column room\.PRICE is generated: SQLite computes it$"):
        a.update("room", "r1", {"PRICE": 3.0})
    with pytest.raises(SyncError, match=r"^no column room\.nope at v1$"):
        a.update("room", "r1", {"nope": 3.0})


@pytest.mark.parametrize("fast_lane", [True, False])
def test_names_that_are_sql_keywords_sync_both_ways(tmp_path: Path, fast_lane: bool) -> None:
    """Every table and column name the engine writes is quoted: a table "order" with
    columns "group" and "select" inserts, updates and deletes through sync (review BM F5:
    the UPDATE statements' quoting could go and no test noticed)."""
    folder = migrations_folder(
        tmp_path,
        'CREATE TABLE "order" ("key" TEXT PRIMARY KEY, "group" TEXT, "select" INTEGER);',
    )
    a = open_replica(tmp_path / "a.db", migrations=folder, peer_id="a")
    b = open_replica(tmp_path / "b.db", migrations=folder, peer_id="b")
    b.fast_lane = fast_lane
    a.insert("order", {"key": "k1", "group": "g", "select": 1})
    a.insert("order", {"key": "k2", "group": "h", "select": 2})
    sync(a, b)
    a.update("order", "k1", {"group": "g2", "select": 10})
    b.update("order", "k2", {"select": 20})
    a.delete("order", "k2")
    sync(a, b)
    assert a.rows("order") == b.rows("order") == [{"key": "k1", "group": "g2", "select": 10}]
    a.close()
    b.close()


def test_a_refused_column_of_a_keyword_named_table_leaves_the_others_applied(
    tmp_path: Path,
) -> None:
    """A write v2's CHECK refuses in part is applied column by column (its own UPDATE
    per column, quoted too): "group" lands, "select" is refused."""
    table = 'CREATE TABLE "order" ("key" TEXT PRIMARY KEY, "group" TEXT, "select" INTEGER{});'
    folder = migrations_folder(
        tmp_path,
        table.format(""),
        table.format(' CHECK ("select" >= 0)').replace('"order"', "o2", 1)
        + ' INSERT INTO o2 SELECT * FROM "order"; DROP TABLE "order";'
        ' ALTER TABLE o2 RENAME TO "order";',
    )
    old = open_replica(tmp_path / "a.db", migrations=folder, target_version=1, peer_id="a")
    new = open_replica(tmp_path / "b.db", migrations=folder, peer_id="b")
    old.insert("order", {"key": "k1", "group": "g", "select": 1})
    sync(old, new)
    old.update("order", "k1", {"group": "g2", "select": -1})
    sync(old, new)
    assert new.rows("order") == [{"key": "k1", "group": "g2", "select": 1}]
    assert new.stats["rejected"] == 1
    old.close()
    new.close()


def test_a_trigger_stamping_its_own_row_lets_peer_edits_apply(tmp_path: Path) -> None:
    """SQLite's default, recursive triggers off, is kept on the app's connection: the
    schema reader (sqlite-utils) turned them on, and the common AFTER UPDATE trigger
    that stamps its own row then recursed until SQLite refused every update."""
    table = f"memo_{uuid.uuid4().hex[:8]}"  # a schema no earlier test read: none is cached
    folder = migrations_folder(
        tmp_path,
        f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, content TEXT NOT NULL DEFAULT '',"
        " edits INTEGER NOT NULL DEFAULT 0);"
        f" CREATE TRIGGER {table}_touch AFTER UPDATE ON {table} FOR EACH ROW BEGIN"
        f" UPDATE {table} SET edits = edits + 1 WHERE rowid = old.rowid; END;",
    )
    a = open_replica(tmp_path / "a.db", migrations=folder, peer_id="a")
    b = open_replica(tmp_path / "b.db", migrations=folder, peer_id="b")
    assert a.conn.execute("PRAGMA recursive_triggers").fetchone() == (0,)
    row = a.insert(table, {"content": "hello"})
    sync(a, b)
    b.update(table, row, {"content": "edited at b"})
    sync(a, b)
    assert a.stats["rejected"] == b.stats["rejected"] == 0
    assert [r["content"] for r in a.rows(table)] == ["edited at b"]
    assert [r["edits"] for r in a.rows(table)] == [1]  # the trigger ran once, as in SQLite


def test_rows_written_before_the_first_open_are_adopted_and_reach_peers(tmp_path: Path) -> None:
    """An app that turns sync on over data it already holds (review BV-1): those rows
    are in no oplog until adopt_rows() captures them; then a peer gets every column."""
    folder = migrations_folder(
        tmp_path,
        "CREATE TABLE shows (id TEXT PRIMARY KEY, title TEXT NOT NULL,"
        " created_at TEXT DEFAULT CURRENT_TIMESTAMP, rating INTEGER DEFAULT 3, art BLOB);"
        " CREATE TABLE episodes (id TEXT PRIMARY KEY, show_id TEXT REFERENCES shows(id),"
        " title TEXT);",
    )
    held_before_sync(
        tmp_path / "phone.db",
        folder,
        "INSERT INTO shows (id, title, created_at, art)"
        " VALUES ('s1', 'Old show', '2020-01-01', x'00ff')",
        "INSERT INTO episodes VALUES ('e1', 's1', 'Pilot')",
    )
    phone = open_replica(tmp_path / "phone.db", migrations=folder, peer_id="phone")
    laptop = open_replica(tmp_path / "laptop.db", migrations=folder, peer_id="laptop")
    sync(phone, laptop)
    assert laptop.rows("shows") == []  # nothing in the oplog yet
    assert phone.adopt_rows() == {"episodes": 1, "shows": 1}
    assert phone.adopt_rows() == {}  # known now: a second call adopts nothing
    phone.update("shows", "s1", {"rating": 5})
    sync(phone, laptop)
    for table in ("shows", "episodes"):
        assert laptop.rows(table) == phone.rows(table)
    assert laptop.rows("shows")[0]["created_at"] == "2020-01-01"
    assert laptop.stats["rejected"] == 0 and laptop.pending_rows() == []


def test_a_row_sync_cannot_carry_adopts_nothing(tmp_path: Path) -> None:
    folder = migrations_folder(
        tmp_path, "CREATE TABLE readings (id INTEGER PRIMARY KEY, celsius REAL);"
    )
    # (A REAL column holds text too.)
    held_before_sync(
        tmp_path / "a.db", folder, "INSERT INTO readings VALUES (1, 20.5), (2, 'warm')"
    )
    replica = open_replica(tmp_path / "a.db", migrations=folder, peer_id="a")
    with pytest.raises(SyncError, match=r"readings row 2 cannot be adopted: .*celsius"):
        replica.adopt_rows()
    assert replica.ops() == []  # row 1 was not adopted alone


def test_a_bad_or_foreign_peer_id_is_refused_before_the_file_changes(tmp_path: Path) -> None:
    """SYNC.md: the id is checked before anything is written (review BV-2: the file
    was migrated first, and a new path was left holding a whole database)."""
    folder = migrations_folder(
        tmp_path,
        "CREATE TABLE notes (id TEXT PRIMARY KEY, body TEXT);",
        "ALTER TABLE notes ADD COLUMN pinned INTEGER;",
    )
    open_replica(tmp_path / "a.db", migrations=folder, target_version=1, peer_id="a").close()
    for peer, error in (("not valid!", "peer id"), ("b", "belongs to peer a, not b")):
        with pytest.raises(SyncError, match=error):
            open_replica(tmp_path / "a.db", migrations=folder, peer_id=peer)
        with closing(sqlite3.connect(tmp_path / "a.db")) as conn:
            assert conn.execute("SELECT max(version) FROM schema_version").fetchone() == (1,)
    with pytest.raises(SyncError, match="peer id"):
        open_replica(tmp_path / "new.db", migrations=folder, peer_id="not valid!")
    assert not (tmp_path / "new.db").exists()


def test_a_row_updated_before_it_was_adopted_is_adopted_whole(tmp_path: Path) -> None:
    """Written before sync, updated before adopt_rows() (review BW-2): the update sends
    its column alone, which a peer holds as a partial row; adoption then sends the
    whole row, since sync knows it only by this replica's own update."""
    folder = migrations_folder(
        tmp_path, "CREATE TABLE shows (id TEXT PRIMARY KEY, title TEXT NOT NULL, rating INTEGER);"
    )
    held_before_sync(
        tmp_path / "phone.db",
        folder,
        "INSERT INTO shows VALUES ('s1', 'Old show', 3)",
    )
    phone = open_replica(tmp_path / "phone.db", migrations=folder, peer_id="my-phone")
    laptop = open_replica(tmp_path / "laptop.db", migrations=folder, peer_id="phone")
    phone.update("shows", "s1", {"rating": 5})
    assert [op.column_name for op in phone.ops()] == ["rating"]
    assert phone.adopt_rows() == {"shows": 1}
    assert phone.adopt_rows() == {}
    sync(phone, laptop)
    assert laptop.rows("shows") == [{"id": "s1", "title": "Old show", "rating": 5}]
    assert laptop.pending_rows() == []
    # A row a peer wrote to is the peer's too, whatever its id looks like ("phone" is
    # a suffix of "my-phone": review BAB A1): never adopted.
    laptop.update("shows", "s1", {"title": "Renamed"})
    assert laptop.adopt_rows() == {}


def test_a_migrations_row_is_adopted_only_once_changed(tmp_path: Path) -> None:
    """A seed row edited before sync, or a new row that took a seed's key, is the
    device's own data: adopted (review BAC-1: matched by key alone, they never synced).
    A seed row as the migration inserted it is on every replica already: left alone."""
    folder = migrations_folder(
        tmp_path,
        "CREATE TABLE lists (id INTEGER PRIMARY KEY, name TEXT);"
        " INSERT INTO lists VALUES (1, 'Inbox'), (2, 'Home'), (3, 'Work');",
    )
    held_before_sync(
        tmp_path / "a.db",
        folder,
        "UPDATE lists SET name = 'Inbox!' WHERE id = 1",
        "DELETE FROM lists WHERE id = 2",
        "INSERT INTO lists VALUES (2, 'Shopping')",
    )
    a = open_replica(tmp_path / "a.db", migrations=folder, peer_id="a")
    b = open_replica(tmp_path / "b.db", migrations=folder, peer_id="b")
    assert a.adopt_rows() == {"lists": 2}
    sync(a, b)
    assert b.rows("lists") == a.rows("lists")
    assert [r["name"] for r in b.rows("lists")] == ["Inbox!", "Shopping", "Work"]


def test_seeded_rows_edited_on_two_devices_keep_both_edits(tmp_path: Path) -> None:
    """Rows a migration seeds exist on every replica: a first update sends its columns
    only, so two devices' edits of other columns both survive (review BY F2: sending
    the whole row on a first update put the seed value back over the other edit)."""
    folder = migrations_folder(
        tmp_path,
        "CREATE TABLE units (id INTEGER PRIMARY KEY, name TEXT, factor REAL);"
        " INSERT INTO units VALUES (1, 'gram', 1.0);",
    )
    a = open_replica(tmp_path / "a.db", migrations=folder, peer_id="a")
    b = open_replica(tmp_path / "b.db", migrations=folder, peer_id="b")
    b.update("units", 1, {"factor": 0.001})
    a.update("units", 1, {"name": "kilogram"})
    # Not adopted either: sent again with a new clock, the seed would undo b's edit
    # (review BAB A2).
    assert a.adopt_rows() == {}
    sync(a, b)
    expected = [{"id": 1, "name": "kilogram", "factor": 0.001}]
    assert a.rows("units") == b.rows("units") == expected


def test_adopting_sequential_keys_warns_and_a_bad_key_names_its_row(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Two devices adopting rows 1, 2, 3 of their own would merge unrelated rows by key
    (review BW-1): the warning says to adopt on one device. A key sync cannot carry names
    its row (BW-8)."""
    folder = migrations_folder(
        tmp_path,
        "CREATE TABLE todos (id INTEGER PRIMARY KEY AUTOINCREMENT, title TEXT);"
        " CREATE TABLE tags (name NUMERIC PRIMARY KEY, color TEXT);",
    )
    held_before_sync(
        tmp_path / "a.db",
        folder,
        "INSERT INTO todos (title) VALUES ('Call mom'), ('Book flights')",
    )
    replica = open_replica(tmp_path / "a.db", migrations=folder, peer_id="a")
    with caplog.at_level("WARNING", logger="nexus_core.sync"):
        assert replica.adopt_rows() == {"todos": 2}
    assert "adopted 2 row(s) of todos with sequential-looking keys (up to 2)" in caplog.text
    replica.conn.execute("INSERT INTO tags VALUES (1.5, 'red')")
    with pytest.raises(SyncError, match=r"tags row 1\.5 cannot be adopted: invalid value"):
        replica.adopt_rows()


def test_adopting_after_an_upgrade_leaves_known_rows_alone(tmp_path: Path) -> None:
    """A column a later migration adds has no clock on rows written before: those rows
    are known, not adopted (review BAB A3: their new column's default was sent over a
    peer's edit)."""
    folder = migrations_folder(
        tmp_path,
        "CREATE TABLE todos (id TEXT PRIMARY KEY, title TEXT);",
        "ALTER TABLE todos ADD COLUMN priority INTEGER DEFAULT 0;",
    )
    a = open_replica(tmp_path / "a.db", migrations=folder, target_version=1, peer_id="a")
    b = open_replica(tmp_path / "b.db", migrations=folder, peer_id="b")
    row = a.insert("todos", {"title": "Buy milk"})
    sync(a, b)
    b.update("todos", row, {"priority": 5})
    a.upgrade()
    assert a.adopt_rows() == {}
    sync(a, b)
    assert a.rows("todos") == b.rows("todos") == [{"id": row, "title": "Buy milk", "priority": 5}]


def test_a_row_id_of_another_type_than_its_key_is_refused_locally(tmp_path: Path) -> None:
    """'1' finds INTEGER row 1 here, but every peer refuses an op naming it so (review
    BAC-10): refused before anything is written."""
    folder = migrations_folder(tmp_path, "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);")
    a = open_replica(tmp_path / "a.db", migrations=folder, peer_id="a")
    a.insert("notes", {"id": 1, "body": "x"})
    before = len(a.ops())
    for write in (lambda: a.update("notes", "1", {"body": "y"}), lambda: a.delete("notes", "1")):
        with pytest.raises(SyncError, match=r"invalid value for notes\.id"):
            write()
    assert len(a.ops()) == before and a.rows("notes") == [{"id": 1, "body": "x"}]


def test_adopting_a_migrations_rows_sends_only_what_this_device_changed(tmp_path: Path) -> None:
    """Review BAE: a seed row's other columns sent again undid another device's edits
    (E3), a clock default made every seed row differ (E2), and a seed row changed before
    sync then updated was skipped (E1). Adoption sends the columns that differ from the
    migration's row and were not sent yet."""
    folder = migrations_folder(
        tmp_path,
        "CREATE TABLE labels (id INTEGER PRIMARY KEY, name TEXT, colour TEXT,"
        " created_at TEXT DEFAULT CURRENT_TIMESTAMP);"
        " INSERT INTO labels (id, name, colour) VALUES (1, 'Home', 'red'), (2, 'Work', 'blue');",
    )
    held_before_sync(
        tmp_path / "a.db",
        folder,
        "UPDATE labels SET colour = 'green', created_at = 'then' WHERE id = 1",
        "UPDATE labels SET created_at = 'then' WHERE id = 2",
    )
    a = open_replica(tmp_path / "a.db", migrations=folder, peer_id="a")
    b = open_replica(tmp_path / "b.db", migrations=folder, peer_id="b")
    a.update("labels", 1, {"name": "House"})  # E1: updated before adoption
    b.update("labels", 2, {"name": "Office"})  # another device's edit of a seed row
    # created_at: each install's own clock, never the fresh build's (review BAF F1)
    assert a.adopt_rows() == {"labels": 1}
    assert {(op.row_id, op.column_name) for op in a.ops()} == {(1, "name"), (1, "colour")}
    sync(a, b)
    for replica in (a, b):  # (created_at stays each install's own, as before sync)
        assert [(r["name"], r["colour"]) for r in replica.rows("labels")] == [
            ("House", "green"),
            ("Office", "blue"),
        ]


def test_a_peers_row_edited_here_is_not_adopted(tmp_path: Path) -> None:
    """A received insert leaves no clock on the key column; edited here on every other
    column, it looked like this replica's own and was sent again over a third device's
    later edit (review BAE E4)."""
    folder = migrations_folder(tmp_path, "CREATE TABLE notes (id TEXT PRIMARY KEY, body TEXT);")
    a, b, c = (open_replica(tmp_path / f"{n}.db", migrations=folder, peer_id=n) for n in "abc")
    row = b.insert("notes", {"body": "from b"})
    sync(a, b)
    a.update("notes", row, {"body": "edited at a"})
    sync(a, c)
    c.update("notes", row, {"body": "edited at c, later"})
    assert a.adopt_rows() == {}
    sync(a, c)
    assert [r["body"] for r in a.rows("notes")] == ["edited at c, later"]


def test_a_blob_key_given_none_is_sixteen_random_bytes(tmp_path: Path) -> None:
    """A STRICT table refuses text in a BLOB key: the key made for it was a hex UUID
    (review BAD-8)."""
    folder = migrations_folder(
        tmp_path, "CREATE TABLE tags (id BLOB PRIMARY KEY NOT NULL, label TEXT) STRICT;"
    )
    a = open_replica(tmp_path / "a.db", migrations=folder, peer_id="a")
    b = open_replica(tmp_path / "b.db", migrations=folder, peer_id="b")
    key = a.insert("tags", {"label": "x"})
    assert isinstance(key, bytes) and len(key) == 16
    sync(a, b)
    assert b.rows("tags") == [{"id": key, "label": "x"}]


def test_a_migrations_row_changed_before_sync_is_adopted_after_a_sync_too(
    tmp_path: Path,
) -> None:
    """Synced first, adopted after a peer edited the same seed row: the rename never
    left the device (review BAF F2). A peer's edit puts a clock on its own column
    only, so the column this device changed is still adopted."""
    folder = migrations_folder(
        tmp_path,
        "CREATE TABLE labels (id INTEGER PRIMARY KEY, name TEXT, colour TEXT);"
        " INSERT INTO labels VALUES (1, 'Work', 'blue');",
    )
    held_before_sync(
        tmp_path / "phone.db",
        folder,
        "UPDATE labels SET name = 'Job' WHERE id = 1",
    )
    phone = open_replica(tmp_path / "phone.db", migrations=folder, peer_id="phone")
    tablet = open_replica(tmp_path / "tablet.db", migrations=folder, peer_id="tablet")
    tablet.update("labels", 1, {"colour": "green"})
    sync(phone, tablet)
    assert phone.adopt_rows() == {"labels": 1}
    sync(phone, tablet)
    assert (
        phone.rows("labels")
        == tablet.rows("labels")
        == [{"id": 1, "name": "Job", "colour": "green"}]
    )
