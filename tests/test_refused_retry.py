"""Ops refused for their value are retried at the end of every receive.

Two replicas that each wrote ``(room, seq) = ('r', 1)`` refuse each other's
row (a UNIQUE clash). Once the app resolves the clash on one side, the next
sync brings both replicas to the same rows, without ``replay_parked()``; the
retry reads only the ops parked as refused (a partial index), never the ops an
old replica parked as unknown, and a retried op still refused is neither
counted nor logged again.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from folders import migrations_folder

from nexus_core import Replica, open_replica, sync
from nexus_core.oplog import REFUSED_PARKED_SQL
from nexus_core.wire import encode_message

MESSAGES = """CREATE TABLE messages (
    id TEXT PRIMARY KEY, room TEXT NOT NULL, seq INTEGER NOT NULL, body TEXT,
    UNIQUE (room, seq)
);"""
EDITED = "ALTER TABLE messages ADD COLUMN edited INTEGER;"


@pytest.fixture
def migrations(tmp_path: Path) -> Path:
    return migrations_folder(tmp_path, MESSAGES, EDITED)


@pytest.fixture
def replicas(tmp_path: Path, migrations: Path) -> Iterator[Callable[..., Replica]]:
    opened: list[Replica] = []

    def open_one(name: str, target_version: int | None = None) -> Replica:
        replica = open_replica(
            tmp_path / f"{name}.db",
            migrations=migrations,
            peer_id=name,
            target_version=target_version,
        )
        opened.append(replica)
        return replica

    yield open_one
    for replica in opened:
        replica.close()


def clash(a: Replica, b: Replica) -> tuple[str, str]:
    """Each replica writes ('r', 1); syncing refuses each one's row at the other."""
    m1 = a.insert("messages", {"room": "r", "seq": 1, "body": "from a"})
    m2 = b.insert("messages", {"room": "r", "seq": 1, "body": "from b"})
    first = sync(a, b)
    assert first.rejected == 4  # room and seq of the other's row, at each side
    assert m2 not in {row["id"] for row in a.rows("messages")}
    assert m1 not in {row["id"] for row in b.rows("messages")}
    assert isinstance(m1, str) and isinstance(m2, str)
    return m1, m2


def refusal_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]


def test_a_unique_clash_heals_once_the_writer_resolves_it(
    replicas: Callable[..., Replica],
) -> None:
    a, b = replicas("a"), replicas("b")
    m1, m2 = clash(a, b)

    a.update("messages", m1, {"seq": 2})  # the app resolves the clash
    assert sync(a, b).replayed == 4  # both sides place the two ops they had refused
    sync(a, b)

    assert a.rows("messages") == b.rows("messages")
    assert {(row["id"], row["seq"]) for row in a.rows("messages")} == {(m1, 2), (m2, 1)}
    assert a.oplog.parked_ops() == [] and b.oplog.parked_ops() == []
    for replica in (a, b):
        assert replica.stats["rejected"] == 2, "refused once, counted once"
        assert replica.stats["replayed"] == 2


def test_a_unique_clash_heals_once_the_other_side_deletes_its_row(
    replicas: Callable[..., Replica],
) -> None:
    a, b = replicas("a"), replicas("b")
    m1, m2 = clash(a, b)

    b.delete("messages", m2)
    sync(a, b)

    assert a.rows("messages") == b.rows("messages")
    assert [(row["id"], row["seq"]) for row in a.rows("messages")] == [(m1, 1)]
    assert a.oplog.parked_ops() == [] and b.oplog.parked_ops() == []


def test_an_op_freed_by_another_retried_op_is_placed_in_the_same_receive(
    replicas: Callable[..., Replica],
) -> None:
    """Two refused ops where the later one must be placed first: retried until settled.

    At b, c's row waits for (r, 1), which e's move of row 1 frees, and that move
    waits for (r, 2), which a frees. One pass in clock order placed the move and
    left c's row refused until the table was written again.
    """
    a, b, c, e = (replicas(name) for name in "abce")
    r2 = c.insert("messages", {"room": "r", "seq": 1, "body": "c, offline"})
    r1 = a.insert("messages", {"room": "r", "seq": 1, "body": "a"})
    sync(a, e)
    r3 = a.insert("messages", {"room": "r", "seq": 2, "body": "a again"})
    sync(a, b)
    e.update("messages", r1, {"seq": 2})  # e never saw r3
    sync(c, b)  # c's row refused at b: r1 holds (r, 1)
    sync(e, b)  # r1's move refused at b: r3 holds (r, 2)
    a.update("messages", r3, {"seq": 3})
    sync(a, b)  # r3 moves, r1 moves, and then c's row fits

    seqs = {row["id"]: row["seq"] for row in b.rows("messages")}
    assert seqs == {r1: 2, r2: 1, r3: 3}
    assert b.oplog.parked_ops() == []


def test_an_op_still_refused_on_retry_is_not_counted_or_logged_again(
    replicas: Callable[..., Replica], caplog: pytest.LogCaptureFixture
) -> None:
    a, b = replicas("a"), replicas("b")
    with caplog.at_level(logging.WARNING, logger="nexus_core.sync"):
        m1, _ = clash(a, b)
    assert refusal_warnings(caplog)
    caplog.clear()

    with caplog.at_level(logging.WARNING, logger="nexus_core.sync"):
        for n in range(3):  # unrelated traffic: every receive retries the clash
            b.insert("messages", {"room": "other", "seq": n})
            a.insert("messages", {"room": "another", "seq": n})
            again = sync(a, b)
            assert again.rejected == 0
    assert refusal_warnings(caplog) == []
    for replica in (a, b):
        assert replica.stats["rejected"] == 2
        assert len(replica.oplog.parked_ops()) == 2, "still refused: still parked"
        assert len(replica.rows("messages")) == 7  # its own clashing row and 6 others

    a.update("messages", m1, {"seq": 2})
    sync(a, b)
    assert a.rows("messages") == b.rows("messages")
    assert len(a.rows("messages")) == 8
    assert a.stats["rejected"] == b.stats["rejected"] == 2


def test_an_op_refused_earlier_in_the_same_message_counts_as_applied(
    replicas: Callable[..., Replica], caplog: pytest.LogCaptureFixture
) -> None:
    """In one message, a new row takes a value that a later change of that message frees."""
    a, b, c = replicas("a"), replicas("b"), replicas("c")
    held = b.insert("messages", {"room": "r", "seq": 1, "body": "held by b"})
    sync(a, b)
    newcomer = c.insert("messages", {"room": "r", "seq": 1, "body": "from c"})
    a.update("messages", held, {"seq": 5})  # written after c's row: later in c's message
    sync(a, c)
    assert len(c.rows("messages")) == 2

    with caplog.at_level(logging.WARNING, logger="nexus_core.sync"):
        result = b.receive(c.export_changes(peer=b.peer_id))
    assert result.rejected == 0 and result.replayed == 0
    assert result.applied == 6  # c's row (its 5 columns) and the update of seq
    assert refusal_warnings(caplog) == []
    assert b.rows("messages") == c.rows("messages")
    assert {row["id"] for row in b.rows("messages")} == {held, newcomer}
    assert b.stats["rejected"] == 0 and b.oplog.parked_ops() == []


def vm_steps(replica: Replica, message: str) -> int:
    """SQLite VM instructions a receive of ``message`` runs (a cost that ignores timing)."""
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    replica.conn.set_progress_handler(count, 1)
    try:
        replica.receive(message)
    finally:
        replica.conn.set_progress_handler(None, 1)
    return steps


def traced(replica: Replica, message: str) -> list[str]:
    statements: list[str] = []
    replica.conn.set_trace_callback(statements.append)
    try:
        replica.receive(message)
    finally:
        replica.conn.set_trace_callback(None)
    return statements


def test_the_retry_reads_only_refused_ops_never_those_parked_as_unknown(
    replicas: Callable[..., Replica],
) -> None:
    old, new = replicas("old", target_version=1), replicas("new")

    # Nothing written since the last retry: a receive does not even look.
    new.insert("messages", {"room": "warmup", "seq": 0, "edited": 1})
    sync(old, new)
    statements = traced(old, new.export_changes(peer=old.peer_id))
    assert [s for s in statements if "_nexus_parked" in s] == []
    assert not [s for s in statements if "messages" in s or "_nexus_rows" in s]
    # A local write to a table makes the next receive look at that table's alone.
    old.insert("messages", {"room": "local", "seq": 0})
    statements = traced(old, new.export_changes(peer=old.peer_id))
    assert [s for s in statements if "_nexus_parked" in s] == [
        REFUSED_PARKED_SQL.replace(
            " GROUP BY", " AND lower(c.table_name) IN ('messages') GROUP BY", 1
        )
    ]

    # Only the partial index is read: no scan of the parked ops, and the
    # changes are looked up, never scanned.
    plan = [row[3] for row in old.conn.execute(f"EXPLAIN QUERY PLAN {REFUSED_PARKED_SQL}")]
    assert any("_nexus_parked_refused" in step for step in plan), plan
    assert any(step.startswith("SEARCH c ") for step in plan), plan
    assert not any(step in ("SCAN p", "SCAN c") for step in plan), plan

    m1, _ = clash(old, new)
    quiet = new.export_changes(peer=old.peer_id)
    few_unknown = vm_steps(old, quiet)
    new.insert_many("messages", [{"room": "bulk", "seq": n, "edited": 1} for n in range(1000)])
    sync(old, new)
    assert len(old.oplog.parked_ops()) > 1000  # edited, unknown at v1, parked per row
    many_unknown = vm_steps(old, new.export_changes(peer=old.peer_id))
    assert many_unknown - few_unknown < 200, (few_unknown, many_unknown)

    old.update("messages", m1, {"seq": 2})
    sync(old, new)
    assert old.rows("messages") == [
        {k: v for k, v in row.items() if k != "edited"} for row in new.rows("messages")
    ]
    assert old.stats["rejected"] == 2


def test_a_replica_opened_on_an_existing_file_gets_the_partial_index(
    tmp_path: Path, migrations: Path
) -> None:
    path = tmp_path / "existing.db"
    open_replica(path, migrations=migrations, peer_id="x").close()
    conn = sqlite3.connect(path)
    conn.execute("DROP INDEX _nexus_parked_refused")  # as a file written before it existed
    conn.commit()
    conn.close()
    with open_replica(path, migrations=migrations, peer_id="x") as replica:
        names = {row[0] for row in replica.conn.execute("SELECT name FROM sqlite_master")}
    assert "_nexus_parked_refused" in names


def test_a_write_to_another_table_a_trigger_reads_frees_a_refused_op(tmp_path: Path) -> None:
    """A trigger that checks another table: the op it refused waits for that table's row."""
    folder = migrations_folder(
        tmp_path,
        "CREATE TABLE lists (id TEXT PRIMARY KEY, name TEXT);"
        "CREATE TABLE tasks (id TEXT PRIMARY KEY, list_id TEXT NOT NULL);"
        "CREATE TRIGGER known_list BEFORE INSERT ON tasks"
        " WHEN NOT EXISTS (SELECT 1 FROM lists WHERE id = NEW.list_id)"
        " BEGIN SELECT RAISE(ABORT, 'no such list'); END;",
    )
    a = open_replica(tmp_path / "a.db", migrations=folder, peer_id="a")
    b = open_replica(tmp_path / "b.db", migrations=folder, peer_id="b")
    a.insert("lists", {"id": "l1", "name": "home"})
    a.insert("tasks", {"id": "t1", "list_id": "l1"})
    ops = a.ops()
    task_ops = [op for op in ops if op.table_name == "tasks"]
    list_ops = [op for op in ops if op.table_name == "lists"]
    assert b.receive(encode_message(a.peer_info, task_ops, {})).rejected == 1
    b.receive(encode_message(a.peer_info, list_ops, {}))  # touches lists only
    assert b.rows("tasks") == [{"id": "t1", "list_id": "l1"}]
    assert b.oplog.parked_ops() == []


@contextmanager
def old_and_new(tmp_path: Path, first: str, second: str) -> Iterator[tuple[Replica, Replica]]:
    """A replica at v1 and one at v2 of the migrations ``first`` and ``second``."""
    folder = migrations_folder(tmp_path, first, second)
    old = open_replica(tmp_path / "old.db", migrations=folder, target_version=1, peer_id="o")
    new = open_replica(tmp_path / "new.db", migrations=folder, peer_id="n")
    try:
        yield old, new
    finally:
        old.close()
        new.close()


def test_a_row_whose_key_a_unique_expression_refuses_is_counted_and_kept(tmp_path: Path) -> None:
    """v2 adds UNIQUE (lower(name)) on the key: v1's 'alice' after 'Alice' is refused loudly."""
    with old_and_new(
        tmp_path,
        "CREATE TABLE users (name TEXT PRIMARY KEY, email TEXT);",
        "CREATE UNIQUE INDEX u ON users (lower(name));",
    ) as (old, new):
        old.insert("users", {"name": "Alice"})
        old.insert("users", {"name": "alice"})
        sync(old, new)
        assert [row["name"] for row in new.rows("users")] == ["Alice"]
        assert new.stats["rejected"] == 1  # was 0: the row waited, pending, without a word
        assert [op.row_id for op in new.oplog.parked_ops()] == ["alice"]


def test_a_value_an_index_expression_fails_on_is_one_refused_op(tmp_path: Path) -> None:
    """v2 indexes ``json_extract(exif, ...)``: a v1 client's text that is not JSON fails
    that expression. The op is refused on its own; the rest of the message applies."""
    with old_and_new(
        tmp_path,
        "CREATE TABLE photos (id TEXT PRIMARY KEY, title TEXT, exif TEXT);",
        "CREATE INDEX photos_camera ON photos (json_extract(exif, '$.Model'));",
    ) as (old, new):
        old.insert("photos", {"id": "p1", "title": "beach", "exif": '{"Model": "X100"}'})
        old.insert("photos", {"id": "p2", "title": "dunes", "exif": "not json"})
        sync(old, new)
        assert new.stats["rejected"] == 1
        rows = {row["id"]: row for row in new.rows("photos")}
        assert rows["p1"]["exif"] == '{"Model": "X100"}'
        assert rows["p2"] == {"id": "p2", "title": "dunes", "exif": None}


def test_a_value_a_pending_row_kept_is_refused_and_kept_when_the_row_goes_in(
    tmp_path: Path,
) -> None:
    """Row R waits at b (its NOT NULL label clashed). When the label fits, R's code
    clashes with a row b wrote meanwhile: that op is refused and kept, not lost."""
    folder = migrations_folder(
        tmp_path,
        "CREATE TABLE badges (badge_id TEXT PRIMARY KEY NOT NULL,"
        " label TEXT NOT NULL UNIQUE, code TEXT UNIQUE);",
    )
    a = open_replica(tmp_path / "a.db", migrations=folder, peer_id="a")
    b = open_replica(tmp_path / "b.db", migrations=folder, peer_id="b")
    try:
        b.insert("badges", {"badge_id": "r1", "label": "A"})
        a.insert("badges", {"badge_id": "R", "label": "A", "code": "Z"})
        sync(a, b)  # each refuses the other's label: R pending at b
        assert b.pending_rows() == [("badges", "R")]
        b.insert("badges", {"badge_id": "r9", "label": "Q", "code": "Z"})
        b.update("badges", "r1", {"label": "B"})  # frees "A": R goes in, without its code
        sync(a, b)
        assert {r["badge_id"]: r["code"] for r in b.rows("badges")}["R"] is None
        assert [(op.row_id, op.column_name) for op in b.oplog.parked_ops()] == [("R", "code")]

        b.update("badges", "r9", {"code": "Y"})  # frees "Z": the kept op is placed
        sync(a, b)
        assert a.rows("badges") == b.rows("badges")
        assert {r["badge_id"]: r["code"] for r in b.rows("badges")}["R"] == "Z"
    finally:
        a.close()
        b.close()


def test_a_value_a_pending_row_kept_is_kept_when_an_upgrade_lets_the_row_in(
    tmp_path: Path,
) -> None:
    """v2 requires a label v1 never sends, so a v1 row waits at v2; v3 gives the label a
    default, and the row goes in at upgrade, but its code clashes: kept, not lost."""
    rebuild = (
        "CREATE TABLE b2 (badge_id TEXT PRIMARY KEY NOT NULL, code TEXT UNIQUE, {label});"
        " INSERT INTO b2 (badge_id, code, label) SELECT badge_id, code, '?' FROM badges;"
        " DROP TABLE badges; ALTER TABLE b2 RENAME TO badges;"
    )
    folder = migrations_folder(
        tmp_path,
        "CREATE TABLE badges (badge_id TEXT PRIMARY KEY NOT NULL, code TEXT UNIQUE);",
        rebuild.format(label="label TEXT NOT NULL"),
        rebuild.format(label="label TEXT NOT NULL DEFAULT ''").replace("'?'", "label"),
    )
    a = open_replica(tmp_path / "a.db", migrations=folder, peer_id="a", target_version=1)
    b = open_replica(tmp_path / "b.db", migrations=folder, peer_id="b", target_version=2)
    try:
        a.insert("badges", {"badge_id": "R", "code": "Z"})
        sync(a, b)
        assert b.pending_rows() == [("badges", "R")]
        b.insert("badges", {"badge_id": "r9", "label": "q", "code": "Z"})
        b.upgrade()
        assert {r["badge_id"]: r["code"] for r in b.rows("badges")} == {"R": None, "r9": "Z"}
        assert [(op.row_id, op.column_name) for op in b.oplog.parked_ops()] == [("R", "code")]

        b.update("badges", "r9", {"code": "Y"})
        sync(a, b)
        assert {r["badge_id"]: r["code"] for r in b.rows("badges")} == {"R": "Z", "r9": "Y"}
    finally:
        a.close()
        b.close()


def test_a_delete_a_trigger_refuses_is_one_refused_op_kept_for_retry(tmp_path: Path) -> None:
    """A delete failing in a trigger failed the whole message, so nothing else from
    that peer arrived; now it is refused alone, kept, and retried."""
    folder = migrations_folder(
        tmp_path,
        "CREATE TABLE docs (doc_id TEXT PRIMARY KEY NOT NULL, title TEXT);"
        " CREATE TABLE holds (doc_id TEXT PRIMARY KEY);"
        " CREATE TRIGGER held BEFORE DELETE ON docs"
        " WHEN EXISTS (SELECT 1 FROM holds WHERE doc_id = OLD.doc_id)"
        " BEGIN SELECT RAISE(ABORT, 'on hold'); END;",
    )
    a = open_replica(tmp_path / "a.db", migrations=folder, peer_id="a")
    b = open_replica(tmp_path / "b.db", migrations=folder, peer_id="b")
    try:
        doc = a.insert("docs", {"title": "lease"})
        sync(a, b)
        a.conn.execute("INSERT INTO holds VALUES (?)", (doc,))  # a device's own hold
        b.delete("docs", doc)
        other = b.insert("docs", {"title": "invoice"})
        result = sync(a, b)
        assert result.rejected == 1
        assert {row["doc_id"] for row in a.rows("docs")} == {doc, other}  # the rest arrived
        assert [op.kind for op in a.oplog.parked_ops()] == ["delete"]
        a.conn.execute("DELETE FROM holds")
        a.update("docs", other, {"title": "paid invoice"})  # a write: the retry runs
        sync(a, b)
        assert a.rows("docs") == b.rows("docs") == [{"doc_id": other, "title": "paid invoice"}]
    finally:
        a.close()
        b.close()


def test_an_edit_an_unfilled_search_index_refuses_is_one_refused_op(tmp_path: Path) -> None:
    """An external-content FTS index that misses a row fails its trigger's 'delete'
    (SQLITE_CORRUPT_VTAB): that edit is refused and kept, the message goes on."""
    folder = migrations_folder(
        tmp_path,
        "CREATE TABLE notes (note_id TEXT PRIMARY KEY NOT NULL, body TEXT);",
        "CREATE VIRTUAL TABLE notes_fts USING fts5(body, content='notes');"
        " CREATE TRIGGER notes_ai AFTER INSERT ON notes BEGIN"
        " INSERT INTO notes_fts(rowid, body) VALUES (new.rowid, new.body); END;"
        " CREATE TRIGGER notes_au AFTER UPDATE ON notes BEGIN"
        " INSERT INTO notes_fts(notes_fts, rowid, body) VALUES ('delete', old.rowid, old.body);"
        " INSERT INTO notes_fts(rowid, body) VALUES (new.rowid, new.body); END;",
    )
    a = open_replica(tmp_path / "a.db", migrations=folder, peer_id="a", target_version=1)
    b = open_replica(tmp_path / "b.db", migrations=folder, peer_id="b")
    try:
        note = a.insert("notes", {"body": "old"})
        sync(a, b)
        a.upgrade()  # the index never gets the note a held
        b.update("notes", note, {"body": "edited"})
        assert sync(a, b).rejected == 1
        assert [op.column_name for op in a.oplog.parked_ops()] == ["body"]
        fresh = b.insert("notes", {"body": "new"})  # before, the edit failed every message
        sync(a, b)
        assert {row["note_id"]: row["body"] for row in a.rows("notes")}[fresh] == "new"
    finally:
        a.close()
        b.close()


LOCKERS = (
    "CREATE TABLE lockers (id TEXT PRIMARY KEY NOT NULL, note TEXT,"
    " locked INTEGER NOT NULL DEFAULT 0);"
    " CREATE TRIGGER keep_locked BEFORE DELETE ON lockers WHEN OLD.locked = 1"
    " BEGIN SELECT RAISE({how}); END;"
)


@pytest.mark.parametrize("how", ["ABORT, 'locked'", "IGNORE"])
def test_a_refused_delete_keeps_the_rows_other_ops_and_wins_once_allowed(
    tmp_path: Path, how: str
) -> None:
    """The note edit that came with a refused delete still merges (it was dropped),
    and the delete, kept, wins once the row is unlocked (with IGNORE it was taken
    for done: tombstoned here, the row still there)."""
    folder = migrations_folder(tmp_path, LOCKERS.format(how=how))
    a, b, d = (open_replica(tmp_path / f"{n}.db", migrations=folder, peer_id=n) for n in "abd")
    try:
        locker = a.insert("lockers", {"note": "n0"})
        sync(a, d)
        sync(d, b)
        d.update("lockers", locker, {"locked": 1})
        sync(d, b)  # b: locked
        a.update("lockers", locker, {"note": "n2"})
        a.delete("lockers", locker)
        sync(a, b)  # the edit and the delete in one message: the delete is refused
        assert b.rows("lockers") == [{"id": locker, "note": "n2", "locked": 1}]
        assert [op.kind for op in b.oplog.parked_ops()] == ["delete"]
        d.update("lockers", locker, {"locked": 0})
        sync(d, b)  # unlocked, and a write: the kept delete is retried
        assert b.rows("lockers") == []
        assert b.oplog.parked_ops() == []
    finally:
        for replica in (a, b, d):
            replica.close()


@pytest.mark.parametrize("fast_lane", [True, False])
def test_a_write_a_trigger_ignores_is_refused_not_taken_for_done(
    tmp_path: Path, fast_lane: bool
) -> None:
    """RAISE(IGNORE) skips a write silently: it was recorded as applied, its clock
    the column's winner, so once the trigger let it through it never came back."""
    folder = migrations_folder(
        tmp_path,
        "CREATE TABLE notes (id TEXT PRIMARY KEY NOT NULL, body TEXT);"
        " CREATE TABLE frozen (id TEXT PRIMARY KEY);"
        " CREATE TRIGGER ice_upd BEFORE UPDATE ON notes"
        " WHEN EXISTS (SELECT 1 FROM frozen WHERE id = NEW.id) BEGIN SELECT RAISE(IGNORE); END;"
        " CREATE TRIGGER ice_ins BEFORE INSERT ON notes"
        " WHEN EXISTS (SELECT 1 FROM frozen WHERE id = NEW.id) BEGIN SELECT RAISE(IGNORE); END;",
    )
    a = open_replica(tmp_path / "a.db", migrations=folder, peer_id="a")
    b = open_replica(tmp_path / "b.db", migrations=folder, peer_id="b")
    b.fast_lane = fast_lane
    try:
        old = a.insert("notes", {"body": "n0"})
        sync(a, b)
        b.conn.execute("INSERT INTO frozen VALUES (?), ('fresh')", (old,))
        a.update("notes", old, {"body": "n2"})
        a.insert("notes", {"id": "fresh", "body": "new"})
        result = sync(a, b)
        assert result.rejected == 2
        assert b.rows("notes") == [{"id": old, "body": "n0"}]
        b.conn.execute("DELETE FROM frozen")
        b.insert("notes", {"id": "poke", "body": "x"})  # a write: the kept ops are retried
        sync(a, b)
        assert a.rows("notes") == b.rows("notes")
        bodies = {row["id"]: row["body"] for row in b.rows("notes")}
        assert bodies == {old: "n2", "fresh": "new", "poke": "x"}
    finally:
        a.close()
        b.close()


def test_a_kept_value_is_parked_under_its_writers_spelling(tmp_path: Path) -> None:
    """v1 spells the column Code, v2 code: the kept value was parked as code, which the
    stored change does not hold, so the retry never found it."""
    rebuild = (
        "CREATE TABLE b2 (id TEXT PRIMARY KEY, code TEXT UNIQUE, holder TEXT,"
        " title TEXT NOT NULL); INSERT INTO b2 (id, code, holder, title)"
        " SELECT id, Code, holder, 'untitled' FROM badges; DROP TABLE badges;"
        " ALTER TABLE b2 RENAME TO badges;"
    )
    folder = migrations_folder(
        tmp_path,
        "CREATE TABLE badges (id TEXT PRIMARY KEY, Code TEXT UNIQUE, holder TEXT);",
        rebuild,
    )
    w = open_replica(tmp_path / "w.db", migrations=folder, peer_id="w", target_version=1)
    v = open_replica(tmp_path / "v.db", migrations=folder, peer_id="v")
    try:
        r1 = w.insert("badges", {"Code": "K", "holder": "ann"})
        sync(w, v)  # r1 waits at v for its title
        r2 = v.insert("badges", {"code": "K", "holder": "bob", "title": "t2"})
        w.upgrade()
        w.update("badges", r1, {"title": "t1"})
        sync(w, v)  # r1 goes in at v; its kept code K is refused (r2 holds it)
        assert [op.column_name for op in v.oplog.parked_ops()] == ["Code"]
        v.update("badges", r2, {"code": "K2"})
        sync(w, v)
        assert w.rows("badges") == v.rows("badges")
    finally:
        w.close()
        v.close()


BADGES_V1 = "CREATE TABLE badges (id TEXT PRIMARY KEY, code TEXT UNIQUE, holder TEXT);"
NEEDS_TITLE = (
    "CREATE TABLE b2 (id TEXT PRIMARY KEY, code TEXT UNIQUE, holder TEXT, title TEXT NOT NULL);"
    " INSERT INTO b2 (id, code, holder, title) SELECT id, code, holder, 'untitled' FROM badges;"
    " DROP TABLE badges; ALTER TABLE b2 RENAME TO badges;"
)


def test_a_kept_value_refused_and_placed_in_one_receive_counts_once(tmp_path: Path) -> None:
    """Counted applied when it arrived; refused as its row goes in, placed again in the
    same receive: replayed, not applied a second time (applied > received before)."""
    folder = migrations_folder(tmp_path, BADGES_V1, NEEDS_TITLE)
    w = open_replica(tmp_path / "w.db", migrations=folder, peer_id="w", target_version=1)
    v = open_replica(tmp_path / "v.db", migrations=folder, peer_id="v")
    try:
        r1 = w.insert("badges", {"code": "K", "holder": "ann"})
        sync(w, v)  # r1 waits at v for its title, keeping code K
        r2 = v.insert("badges", {"code": "K", "holder": "bob", "title": "t2"})
        w.upgrade()
        sync(w, v)
        w.update("badges", r1, {"title": "t1"})
        w.update("badges", r2, {"code": "K2"})
        result = v.receive(w.export_changes(peer="v"))
        assert (result.received, result.applied, result.rejected, result.replayed) == (2, 2, 1, 1)
        assert w.rows("badges") == v.rows("badges")
    finally:
        w.close()
        v.close()


def test_a_pending_row_an_upgrade_lets_in_whose_value_is_taken_is_retried(
    tmp_path: Path,
) -> None:
    """Its required code was taken here: nothing was refused or parked, and no
    receive tried the row again once the code was free."""
    v1 = BADGES_V1.replace("code TEXT UNIQUE", "code TEXT NOT NULL UNIQUE")
    v2 = NEEDS_TITLE.replace("code TEXT UNIQUE", "code TEXT NOT NULL UNIQUE")
    v3 = v2.replace("title TEXT NOT NULL", "title TEXT NOT NULL DEFAULT 'untitled'").replace(
        "'untitled' FROM", "title FROM"
    )
    folder = migrations_folder(tmp_path, v1, v2, v3)
    w = open_replica(tmp_path / "w.db", migrations=folder, peer_id="w", target_version=1)
    v = open_replica(tmp_path / "v.db", migrations=folder, peer_id="v", target_version=2)
    try:
        w.insert("badges", {"code": "K", "holder": "ann"})
        sync(w, v)  # pending at v2: no title
        r2 = v.insert("badges", {"code": "K", "holder": "bob", "title": "t2"})
        v.upgrade()  # v3 gives the title a default, but K is r2's
        assert [op.column_name for op in v.oplog.parked_ops()] == ["code"]
        v.update("badges", r2, {"code": "K2"})
        w.upgrade()
        sync(w, v)
        assert w.rows("badges") == v.rows("badges")
        assert v.pending_rows() == []
    finally:
        w.close()
        v.close()
