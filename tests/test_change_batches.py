"""A batch of local inserts is stored as batches, and reads exactly as one change a row.

``insert_many`` and ``adopt_rows`` store their changes ``BATCH_ROWS`` to a row
of ``_nexus_batches``. Everything that reads changes (delta sync, ``ops``,
duplicate detection by clock, counts, parked ops, adoption) must see the same
changes as with one stored row per change. These tests run the same writes on
two replicas with the same peer id and the same stepping clock, one storing
batches and one not, and hold every reading of them to the same answer.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from folders import migrations_folder
from hypothesis import given
from hypothesis import strategies as st

import nexus_core.oplog as oplog_module
from nexus_core import open_replica
from nexus_core.db.connection import connect
from nexus_core.db.migrations import migration_list
from nexus_core.errors import SyncError
from nexus_core.replica import Replica
from nexus_core.sync import sync

SCHEMA = """CREATE TABLE notes (id TEXT PRIMARY KEY, body TEXT, n INTEGER NOT NULL DEFAULT 0);
CREATE TABLE counts (k INTEGER PRIMARY KEY, v REAL);
CREATE TABLE blobs (k BLOB PRIMARY KEY, v TEXT);
CREATE TABLE tasks (id TEXT PRIMARY KEY, title TEXT NOT NULL, done INTEGER);"""
PEER = "p"
SMALL_BATCH = 3  # so that a few rows already fill several batches


def _clock() -> Callable[[], int]:
    ticks = itertools.count(1_700_000_000_000, 7)
    return lambda: next(ticks)


def _replica(folder: Path, path: Path, peer: str = PEER) -> Replica:
    open_replica(path, migrations=folder, peer_id=peer).close()  # made and migrated
    return Replica(connect(path), migration_list(folder), peer_id=peer, now_ms=_clock())


@contextmanager
def _unbatched() -> Iterator[None]:
    """Every change stored as its own row, as before batches."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(oplog_module, "batchable", lambda row_ids: False)
        yield


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(oplog_module, "BATCH_ROWS", SMALL_BATCH)


def _key(table: str, number: int) -> Any:
    return {
        "notes": f"n{number}",
        "counts": number,
        "blobs": number.to_bytes(2, "big"),
        "tasks": f"t{number}",
    }[table]


def _row(table: str, number: int, value: int) -> dict[str, Any]:
    key = _key(table, number)
    return {
        "notes": {"id": key, "body": f"b{value}", "n": value},
        "counts": {"k": key, "v": value / 2},
        "blobs": {"k": key, "v": str(value)},
        "tasks": {"id": key, "title": f"t{value}", "done": value % 2},
    }[table]


TABLES = ["notes", "counts", "blobs", "tasks"]
steps = st.lists(
    st.one_of(
        st.tuples(
            st.just("many"),
            st.sampled_from(TABLES),
            st.lists(st.integers(0, 30), max_size=10),
            st.integers(0, 9),
        ),
        st.tuples(st.just("one"), st.sampled_from(TABLES), st.integers(0, 30), st.integers(0, 9)),
        st.tuples(
            st.just("update"), st.sampled_from(TABLES), st.integers(0, 30), st.integers(0, 9)
        ),
        st.tuples(
            st.just("delete"), st.sampled_from(TABLES), st.integers(0, 30), st.integers(0, 9)
        ),
        st.tuples(
            st.just("adopt"),
            st.sampled_from(TABLES),
            st.lists(st.integers(31, 60), max_size=8),
            st.integers(0, 9),
        ),
    ),
    max_size=12,
)


def _step(replica: Replica, step: tuple[Any, ...]) -> Any:
    kind, table, what, value = step
    try:
        if kind == "many":
            return replica.insert_many(table, [_row(table, n, value) for n in what])
        if kind == "one":
            return replica.insert(table, _row(table, what, value))
        if kind == "update":
            row = _row(table, what, value)
            key = next(iter(row))
            return replica.update(table, row.pop(key), row)
        if kind == "delete":
            return replica.delete(table, _key(table, what))
        # Rows written outside sync, then adopted.
        for n in what:
            row = _row(table, n, value)
            names = ", ".join(row)
            replica.conn.execute(
                f"INSERT OR IGNORE INTO {table} ({names}) VALUES ({', '.join('?' * len(row))})",
                list(row.values()),
            )
        return replica.adopt_rows()
    except SyncError as exc:
        return ("refused", str(exc))


def _bookkeeping(replica: Replica) -> tuple[Any, ...]:
    conn = replica.conn
    return (
        conn.execute("SELECT * FROM _nexus_rows ORDER BY table_name, row_id").fetchall(),
        conn.execute("SELECT * FROM _nexus_vector").fetchall(),
        conn.execute("SELECT * FROM _nexus_parked ORDER BY origin, hlc, column_name").fetchall(),
    )


def _readings(replica: Replica, clocks: list[str]) -> tuple[Any, ...]:
    """Everything read from the changes held, for the clocks given."""
    since = [None, *({PEER: clock} for clock in clocks[::3])]
    return (
        replica.ops(),
        [replica.ops(since=clock) for clock in clocks[::2]],
        [replica.export_changes(vector) for vector in since],
        [replica.oplog.change(PEER, clock) for clock in clocks],
        replica.oplog.change(PEER, "0" * 13 + "-0000-" + PEER),
        replica.oplog.count(),
        replica.oplog.parked_ops(),
        {table: replica.rows(table) for table in TABLES},
        _bookkeeping(replica),
    )


def _echo(replica: Replica, clocks: list[str]) -> str:
    """A peer's message sending this replica's own changes back with a column it lacks."""
    message = json.loads(replica.export_changes())
    wanted = set(clocks[::4])
    ops = [op for op in message["ops"] if op["hlc"] in wanted]
    extra = [{**op, "column_name": "later_column", "new_value": 1} for op in ops]
    message["ops"] = ops + extra
    message["peer"] = {**message["peer"], "peer_id": "q"}
    return json.dumps(message)


@given(program=steps)
def test_batches_read_as_one_change_a_row(program: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as scratch, pytest.MonkeyPatch.context() as patch:
        patch.setattr(oplog_module, "BATCH_ROWS", SMALL_BATCH)
        patch.setattr(oplog_module, "BATCH_BYTES", 120)  # some batches stored one a row
        root = Path(scratch)
        folder = migrations_folder(root, SCHEMA)
        batched = _replica(folder, root / "batched.db")
        plain = _replica(folder, root / "plain.db")
        try:
            for step in program:
                seen = _step(batched, step)
                with _unbatched():
                    expected = _step(plain, step)
                assert seen == expected, step
            clocks = sorted({op.hlc for op in plain.ops()})
            assert _readings(batched, clocks) == _readings(plain, clocks)
            # The replica's own changes sent back: duplicates, and ops of a column
            # it lacks parked on them (the batch holding them moves out first).
            if clocks:
                echo = _echo(plain, clocks)
                assert batched.receive(echo) == plain.receive(echo)
                assert _readings(batched, clocks) == _readings(plain, clocks)
            # A peer syncing from each ends up the same.
            peers = []
            for name, source in (("one", batched), ("two", plain)):
                peer = _replica(folder, root / f"{name}.db", peer="r")
                sync(source, peer)
                peers.append(
                    ({t: peer.rows(t) for t in TABLES}, peer.ops(), peer.oplog.parked_ops())
                )
                peer.close()
            assert peers[0] == peers[1]
        finally:
            batched.close()
            plain.close()


def _stored(replica: Replica) -> tuple[int, int]:
    conn = replica.conn
    batches = conn.execute("SELECT COUNT(*) FROM _nexus_batches").fetchone()[0]
    changes = conn.execute("SELECT COUNT(*) FROM _nexus_changes").fetchone()[0]
    return batches, changes


@pytest.mark.usefixtures("small_batches")
def test_an_insert_of_many_rows_is_stored_as_batches(tmp_path: Path) -> None:
    """Else the property above would hold with batches never written."""
    replica = _replica(migrations_folder(tmp_path, SCHEMA), tmp_path / "a.db")
    replica.insert_many("notes", [_row("notes", n, 1) for n in range(10)])
    assert _stored(replica) == (4, 0)  # 3 + 3 + 3 + 1
    replica.insert_many("notes", [_row("notes", 20, 1)])  # one row: one change
    replica.insert_many("blobs", [_row("blobs", n, 1) for n in range(5)])  # blob keys
    assert _stored(replica) == (4, 6)
    assert replica.oplog.count() == 10 * 3 + 3 + 5 * 2
    replica.close()


@pytest.mark.usefixtures("small_batches")
def test_a_batched_change_sent_back_with_a_new_column_moves_out(tmp_path: Path) -> None:
    replica = _replica(migrations_folder(tmp_path, SCHEMA), tmp_path / "a.db")
    replica.insert_many("notes", [_row("notes", n, 1) for n in range(5)])
    clocks = sorted({op.hlc for op in replica.ops()})
    result = replica.receive(_echo(replica, clocks))
    assert result.skipped_unknown == 2  # clocks[0] and clocks[4]
    assert _stored(replica) == (0, 5)  # both batches moved out whole
    assert [op.column_name for op in replica.oplog.parked_ops()] == ["later_column"] * 2
    assert replica.oplog.count() == 5 * 3 + 2
    replica.close()


@pytest.mark.usefixtures("small_batches")
def test_a_deleted_row_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    replica = _replica(migrations_folder(tmp_path, SCHEMA), tmp_path / "a.db")
    replica.insert("notes", _row("notes", 2, 1))
    replica.delete("notes", "n2")
    before = (replica.ops(), _stored(replica), _bookkeeping(replica))
    with pytest.raises(SyncError, match=r"notes row 'n2' was deleted; row ids are never reused"):
        replica.insert_many("notes", [_row("notes", n, 1) for n in range(5)])
    assert (replica.ops(), _stored(replica), _bookkeeping(replica)) == before
    assert replica.rows("notes") == []
    replica.close()


@pytest.mark.usefixtures("small_batches")
def test_a_row_waiting_for_a_column_is_inserted_by_a_batch(tmp_path: Path) -> None:
    """A row held back (its NOT NULL title not arrived) has a state already: the batch's
    clocks go into it and the row is the local insert's, as with one change a row."""
    folder = migrations_folder(tmp_path, SCHEMA)
    writer = _replica(folder, tmp_path / "w.db", peer="w")
    writer.insert("tasks", {"id": "t1", "title": "theirs", "done": 1})
    message = json.loads(writer.export_changes())
    message["ops"] = [op for op in message["ops"] if op["column_name"] != "title"]
    writer.close()
    replica = _replica(folder, tmp_path / "a.db")
    replica.receive(json.dumps(message))
    assert replica.pending_rows() == [("tasks", "t1")]
    replica.insert_many("tasks", [_row("tasks", 1, 4), _row("tasks", 2, 4)])
    assert replica.pending_rows() == []
    assert replica.rows("tasks")[0] == {"id": "t1", "title": "t4", "done": 0}
    local = {op.hlc for op in replica.ops() if op.row_id == "t1" and op.origin == PEER}
    assert set(replica.oplog.row_state("tasks", "t1").clocks.values()) == local
    peer = _replica(folder, tmp_path / "peer.db", peer="r")
    sync(replica, peer)
    assert peer.rows("tasks") == replica.rows("tasks")
    replica.close()
    peer.close()


@pytest.mark.usefixtures("small_batches")
def test_a_deleted_row_is_named_before_other_refusals(tmp_path: Path) -> None:
    folder = migrations_folder(
        tmp_path, "CREATE TABLE tags (id TEXT PRIMARY KEY, name TEXT UNIQUE);"
    )
    replica = _replica(folder, tmp_path / "a.db")
    replica.insert("tags", {"id": "t1", "name": "a"})
    replica.delete("tags", "t1")
    replica.insert("tags", {"id": "t2", "name": "b"})
    with pytest.raises(SyncError, match=r"tags row 't1' was deleted"):  # and 'b' is taken
        replica.insert_many("tags", [{"id": "t1", "name": "b"}, {"id": "t3", "name": "c"}])
    replica.close()


@pytest.mark.usefixtures("small_batches")
def test_a_refused_value_on_a_batched_change_is_parked_on_it(tmp_path: Path) -> None:
    """A column added since the batch, sent back on the batch's clock with a value this
    schema refuses: parked for retry on that change, which leaves its batch first."""
    folder = migrations_folder(
        tmp_path, SCHEMA, "ALTER TABLE notes ADD COLUMN score INTEGER CHECK (score > 0);"
    )
    path = tmp_path / "a.db"
    open_replica(path, migrations=folder, peer_id=PEER, target_version=1).close()
    replica = Replica(connect(path), migration_list(folder), peer_id=PEER, now_ms=_clock())
    replica.insert_many("notes", [_row("notes", n, 1) for n in range(4)])
    replica.close()
    replica = open_replica(path, migrations=folder)  # upgraded to v2
    clock = sorted({op.hlc for op in replica.ops()})[1]
    message = json.loads(replica.export_changes())
    op = next(op for op in message["ops"] if op["hlc"] == clock)
    message["ops"] = [{**op, "column_name": "score", "new_value": -1}]
    message["peer"] = {**message["peer"], "peer_id": "q"}
    replica.receive(json.dumps(message))
    parked = replica.oplog.refused_parked()
    assert [(change.hlc, list(columns)) for change, columns in parked] == [(clock, ["score"])]
    assert _stored(replica)[0] == 1  # the other batch stays
    assert len(replica.ops()) == 4 * 3 + 1
    replica.close()


@pytest.mark.usefixtures("small_batches")
def test_a_file_from_before_batches_opens_and_batches(tmp_path: Path) -> None:
    folder = migrations_folder(tmp_path, SCHEMA)
    path = tmp_path / "old.db"
    replica = _replica(folder, path)
    replica.insert("notes", _row("notes", 1, 1))
    replica.conn.execute("DROP TABLE _nexus_batches")  # as an earlier release left it
    replica.close()
    replica = open_replica(path, migrations=folder)
    replica.insert_many("notes", [_row("notes", n, 2) for n in range(2, 6)])
    assert _stored(replica) == (2, 1)
    assert [row["id"] for row in replica.rows("notes")] == ["n1", "n2", "n3", "n4", "n5"]
    assert len(replica.ops()) == 5 * 3
    replica.close()


@pytest.mark.usefixtures("small_batches")
def test_an_op_parked_on_a_batched_change_finds_it(tmp_path: Path) -> None:
    """Parked ops are joined to their change in ``_nexus_changes``: parking on a batched
    change moves its batch there first, whoever parks it."""
    replica = _replica(migrations_folder(tmp_path, SCHEMA), tmp_path / "a.db")
    replica.insert_many("notes", [_row("notes", n, 1) for n in range(4)])
    clock = sorted({op.hlc for op in replica.ops()})[3]
    with replica.transaction():
        replica.oplog.park([(PEER, clock, "later", "unknown column")])
    assert [(change.row_id, columns) for change, columns in replica.oplog.parked()] == [
        ("n3", {"later": "unknown column"})
    ]
    assert _stored(replica) == (1, 1)
    replica.close()


def _two_on_one_connection(folder: Path, path: Path) -> tuple[sqlite3.Connection, Replica, Replica]:
    """Two replicas (one peer, the wall clock) writing through one connection."""
    open_replica(path, migrations=folder, peer_id=PEER).close()
    conn = connect(path)
    one = Replica(conn, migration_list(folder), peer_id=PEER)
    return conn, one, Replica(conn, migration_list(folder), peer_id=PEER)


def test_two_replicas_on_one_connection_never_share_a_clock(tmp_path: Path) -> None:
    """Another ``Replica`` on the same connection wrote: SQLite's data version does not
    say so, and with the wall clock both would issue the same clocks (review BAN F1)."""
    folder = migrations_folder(tmp_path, SCHEMA)
    conn, one, two = _two_on_one_connection(folder, tmp_path / "a.db")
    for number in range(60):
        one.insert("notes", _row("notes", 1000 + number, 1))
        two.insert_many("notes", [_row("notes", 10 * number + n, 1) for n in range(3)])
        one.insert_many("counts", [_row("counts", 10 * number + n, 1) for n in range(4)])
    ops = one.ops()
    clocks: dict[str, set[Any]] = {}
    for op in ops:
        clocks.setdefault(op.hlc, set()).add((op.table_name, op.row_id))
    assert all(len(rows) == 1 for rows in clocks.values())
    peer = open_replica(tmp_path / "peer.db", migrations=folder, peer_id="r")  # wall clock
    sync(one, peer)
    assert len(peer.rows("notes")) == 60 * 4 and len(peer.rows("counts")) == 60 * 4
    assert peer.stats["rejected"] == 0
    peer.close()
    conn.close()


@pytest.mark.usefixtures("small_batches")
def test_a_batch_too_long_for_one_value_is_stored_one_change_a_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite refuses a value longer than its limit: big rows are not batched (review BAN F2)."""
    monkeypatch.setattr(oplog_module, "BATCH_BYTES", 1000)
    replica = _replica(migrations_folder(tmp_path, SCHEMA), tmp_path / "a.db")
    rows = [{"id": f"n{n}", "body": ("x" * 600 if n in (4, 5) else "y"), "n": n} for n in range(9)]
    replica.insert_many("notes", rows)
    assert _stored(replica) == (2, 3)  # rows 0-2 and 6-8 batched, 3-5 one a row
    assert [op.row_id for op in replica.ops() if op.column_name == "id"] == [
        f"n{n}" for n in range(9)
    ]
    replica.close()


@pytest.mark.usefixtures("small_batches")
def test_a_deleted_row_is_refused_before_the_insert_runs(tmp_path: Path) -> None:
    """Before any trigger fires or any default is read back (review BAN F3, F4)."""
    folder = migrations_folder(
        tmp_path,
        """CREATE TABLE notes (id TEXT PRIMARY KEY, body TEXT, r REAL DEFAULT 1e999);
CREATE TRIGGER no_forbidden AFTER INSERT ON notes WHEN new.body = 'forbidden'
BEGIN SELECT RAISE(ROLLBACK, 'forbidden'); END;""",
    )
    replica = _replica(folder, tmp_path / "a.db")
    replica.insert("notes", {"id": "gone", "body": "x", "r": 1.0})
    replica.delete("notes", "gone")
    with replica.transaction():
        replica.insert("notes", {"id": "keep1", "body": "x", "r": 1.0})
        for rows in (
            [{"id": "gone", "body": "forbidden", "r": 1.0}, {"id": "b", "body": "x", "r": 1.0}],
            [{"id": "gone", "body": "x"}, {"id": "c", "body": "x"}],  # r read back: inf
        ):
            with pytest.raises(SyncError, match="notes row 'gone' was deleted"):
                replica.insert_many("notes", rows)
        replica.insert("notes", {"id": "keep2", "body": "x", "r": 1.0})
    assert [row["id"] for row in replica.rows("notes")] == ["keep1", "keep2"]
    replica.close()


def test_a_replica_whose_block_was_ended_under_it_still_issues_new_clocks(tmp_path: Path) -> None:
    """The app committed ``one``'s transaction under its block; ``two`` then writes in a
    block of its own, and ``one`` inside it: ``one`` observes ``two``'s writes when its
    nested block opens (review BAO R1)."""
    folder = migrations_folder(tmp_path, SCHEMA)
    conn, one, two = _two_on_one_connection(folder, tmp_path / "a.db")
    for number in range(30):
        with pytest.raises(SyncError, match="ended the transaction"), one.transaction():
            one.insert_many("notes", [_row("notes", 10 * number + n, 1) for n in range(3)])
            conn.commit()  # the sqlite3 habit, in the app's own helper
            with two.transaction():
                two.insert_many("counts", [_row("counts", 10 * number + n, 1) for n in range(3)])
                one.insert_many(
                    "counts", [_row("counts", 10 * number + 5 + n, 1) for n in range(2)]
                )
    clocks: dict[str, set[Any]] = {}
    for op in one.ops():
        clocks.setdefault(op.hlc, set()).add((op.table_name, op.row_id))
    assert len(clocks) == 30 * 8 and all(len(rows) == 1 for rows in clocks.values())
    conn.close()


def test_batches_keep_under_a_lowered_length_limit(tmp_path: Path) -> None:
    """An app may lower SQLite's length limit (its hardening advice): batches stay under
    half of it (review BAO R2)."""
    replica = _replica(migrations_folder(tmp_path, SCHEMA), tmp_path / "a.db")
    replica.conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 100_000)
    rows = [{"id": f"n{n}", "body": "x" * 5_000, "n": n} for n in range(256)]
    replica.insert_many("notes", rows)  # 1.3 MB of columns: one change a row
    assert _stored(replica) == (0, 256)
    replica.insert_many("notes", [{"id": f"s{n}", "body": "y", "n": n} for n in range(256)])
    assert _stored(replica) == (1, 256)  # 8 kB: one batch
    rows = [{"id": f"h{n}", "body": "z" * 200, "n": n} for n in range(256)]
    replica.insert_many("notes", rows)  # 60 kB: under the limit, over half of it
    assert _stored(replica) == (1, 512)
    assert len(replica.rows("notes")) == 768 and replica.oplog.count() == 768 * 3
    replica.close()


@pytest.mark.usefixtures("small_batches")
def test_a_batched_change_read_is_the_readers_own(tmp_path: Path) -> None:
    """The last batch read is kept for the next look-up (review BAR R2): what a caller
    does with a change it was given must not change the next answer."""
    replica = _replica(migrations_folder(tmp_path, SCHEMA), tmp_path / "a.db")
    replica.insert_many("notes", [_row("notes", n, 1) for n in range(3)])
    clock = sorted({op.hlc for op in replica.ops()})[1]
    change = replica.oplog.change(PEER, clock)
    assert change is not None
    change.cols["body"] = "changed"
    again = replica.oplog.change(PEER, clock)
    assert again is not None and again.cols["body"] == "b1"
    replica.close()
