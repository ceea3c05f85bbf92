"""Names are matched the way SQLite matches them: case-insensitively."""

from __future__ import annotations

from pathlib import Path

import pytest

from nexus_core import open_replica, sync
from nexus_core.db.connection import connect
from nexus_core.db.migrations import load_migrations, migrate
from nexus_core.replica import Replica


def _migrations(tmp_path: Path) -> Path:
    directory = tmp_path / "migrations"
    directory.mkdir()
    (directory / "001_notes.sql").write_text(
        "CREATE TABLE Notes (note_id TEXT PRIMARY KEY NOT NULL, seenAt TEXT, body TEXT NOT NULL);",
        encoding="utf-8",
    )
    (directory / "002_rename.sql").write_text(
        "ALTER TABLE Notes RENAME COLUMN seenAt TO seenat;", encoding="utf-8"
    )
    return directory


def test_a_column_renamed_only_in_case_still_syncs(tmp_path: Path) -> None:
    migrations = _migrations(tmp_path)
    old = open_replica(tmp_path / "old.db", migrations=migrations, target_version=1)
    new = open_replica(tmp_path / "new.db", migrations=migrations)
    old.insert("Notes", {"note_id": "n1", "seenAt": "2026-01-01", "body": "fox"})
    new.insert("Notes", {"note_id": "n2", "seenat": "2026-02-02", "body": "owl"})
    result = sync(old, new)
    assert result.rejected == 0 and result.skipped_unknown == 0
    assert [r["seenAt"] for r in old.rows("Notes")] == ["2026-01-01", "2026-02-02"]
    assert [r["seenat"] for r in new.rows("Notes")] == ["2026-01-01", "2026-02-02"]
    # The ops travel as written: the old client's spelling reaches the new one intact.
    assert {op.column_name for op in new.ops() if op.origin == old.peer_id} >= {"seenAt"}
    old.close()
    new.close()


class _Wall:
    """A wall clock the test moves by hand."""

    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


def _opened(path: Path, migrations: Path, wall: _Wall, version: int | None = 1) -> Replica:
    """A replica at ``version`` whose clock reads ``wall``."""
    open_replica(path, migrations=migrations, target_version=version).close()
    return Replica(connect(path), load_migrations(migrations), now_ms=wall)


def _recased(tmp_path: Path, first: str, recase: str) -> Path:
    directory = tmp_path / "recased"
    directory.mkdir()
    (directory / "001_first.sql").write_text(first, encoding="utf-8")
    (directory / "002_recase.sql").write_text(recase, encoding="utf-8")
    return directory


def test_a_column_recased_through_a_temporary_name_keeps_its_clocks(tmp_path: Path) -> None:
    migrations = _recased(
        tmp_path,
        "CREATE TABLE notes (id TEXT PRIMARY KEY NOT NULL, noteTitle TEXT);",
        "ALTER TABLE notes RENAME COLUMN noteTitle TO t_tmp;"
        " ALTER TABLE notes RENAME COLUMN t_tmp TO notetitle;",
    )
    wall_a, wall_b = _Wall(1_000_000), _Wall(1_000_000)
    a = _opened(tmp_path / "a.db", migrations, wall_a)
    b = _opened(tmp_path / "b.db", migrations, wall_b)
    row = a.insert("notes", {"noteTitle": "first"})
    sync(a, b)
    wall_b.ms += 10
    b.update("notes", row, {"noteTitle": "older edit"})
    wall_a.ms += 20
    a.update("notes", row, {"noteTitle": "newer edit"})
    a.upgrade()  # noteTitle is now notetitle: a's clock for it must follow
    sync(a, b)
    assert a.rows("notes")[0]["notetitle"] == "newer edit"
    assert b.rows("notes")[0]["noteTitle"] == "newer edit"
    a.close()
    b.close()


def test_a_table_recased_through_a_temporary_name_keeps_its_tombstones(tmp_path: Path) -> None:
    migrations = _recased(
        tmp_path,
        "CREATE TABLE Cards (id TEXT PRIMARY KEY NOT NULL, title TEXT NOT NULL);",
        "ALTER TABLE Cards RENAME TO cards_tmp; ALTER TABLE cards_tmp RENAME TO cards;",
    )
    wall_a, wall_b = _Wall(1_000_000), _Wall(1_000_000)
    a = _opened(tmp_path / "a.db", migrations, wall_a)
    b = _opened(tmp_path / "b.db", migrations, wall_b)
    card = a.insert("Cards", {"title": "spec"})
    sync(a, b)
    wall_b.ms += 10
    b.update("Cards", card, {"title": "spec v2"})
    wall_a.ms += 20
    a.delete("Cards", card)
    a.upgrade()  # Cards is now cards: the tombstone must follow
    sync(a, b)
    assert a.rows("cards") == [] and b.rows("Cards") == []
    # Opened again, nothing moves twice.
    a.close()
    a = _opened(tmp_path / "a.db", migrations, wall_a, None)
    sync(a, b)
    assert a.rows("cards") == [] and a.oplog.tombstoned("cards", card)
    a.close()
    b.close()


CARDS = (
    "CREATE TABLE Cards (id TEXT PRIMARY KEY NOT NULL, title TEXT NOT NULL);",
    "ALTER TABLE Cards RENAME TO cards_tmp; ALTER TABLE cards_tmp RENAME TO cards;",
)


def _state_tables(path: Path) -> list[tuple[str, str]]:
    conn = connect(path)
    try:
        return conn.execute("SELECT table_name, row_id FROM _nexus_rows ORDER BY 1, 2").fetchall()
    finally:
        conn.close()


def test_a_file_migrated_before_any_spelling_was_recorded_is_put_right(tmp_path: Path) -> None:
    """A file from an engine that recorded no spelling, migrated by another tool: what
    the file holds decides."""
    migrations = _recased(tmp_path, *CARDS)
    wall = _Wall(1_000_000)
    a = _opened(tmp_path / "a.db", migrations, wall)
    card = a.insert("Cards", {"title": "spec"})
    a.delete("Cards", card)
    a.close()
    conn = connect(tmp_path / "a.db")
    conn.execute("DELETE FROM _nexus_meta WHERE key = 'replicated_names'")
    conn.commit()
    migrate(conn, load_migrations(migrations))  # what `nexus migrate` does
    conn.close()
    assert _state_tables(tmp_path / "a.db") == [("Cards", card)]
    a = _opened(tmp_path / "a.db", migrations, wall, None)
    assert _state_tables(tmp_path / "a.db") == [("cards", card)]
    assert a.oplog.tombstoned("cards", card)
    a.close()


def test_row_states_under_both_spellings_become_one(tmp_path: Path) -> None:
    migrations = _recased(tmp_path, *CARDS)
    wall = _Wall(1_000_000)
    a = _opened(tmp_path / "a.db", migrations, wall)
    card = a.insert("Cards", {"title": "spec"})
    a.close()
    conn = connect(tmp_path / "a.db")
    migrate(conn, load_migrations(migrations))
    # A state written under the new spelling before the old one was moved (a receive
    # that failed and rolled the move back, say): a later clock for title, a tombstone.
    conn.execute(
        "INSERT INTO _nexus_rows (table_name, row_id, clocks, deleted)"
        " VALUES ('cards', ?, '{\"title\": \"zzzz\"}', 'zzzz')",
        (card,),
    )
    conn.execute("DELETE FROM _nexus_meta WHERE key = 'replicated_names'")
    conn.commit()
    conn.close()
    a = _opened(tmp_path / "a.db", migrations, wall, None)
    assert _state_tables(tmp_path / "a.db") == [("cards", card)]
    state = a.oplog.row_state("cards", card)
    assert state.clocks["title"] == "zzzz" and state.deleted == "zzzz"
    a.close()


@pytest.mark.parametrize("in_block", [False, True], ids=["plain", "transaction-block"])
def test_a_replica_open_while_another_connection_migrates_writes_by_the_new_schema(
    tmp_path: Path, in_block: bool
) -> None:
    migrations = _recased(tmp_path, *CARDS)
    wall = _Wall(1_000_000)
    app = _opened(tmp_path / "a.db", migrations, wall)
    card = app.insert("Cards", {"title": "spec"})
    other = _opened(tmp_path / "a.db", migrations, wall)
    other.upgrade()  # `nexus migrate` beside the open app
    other.close()
    # The app still names it as it did: SQLite's names are case-blind.
    if in_block:
        with app.transaction():
            app.delete("Cards", card)
    else:
        app.delete("Cards", card)
    assert app.schema_version == 2
    assert _state_tables(tmp_path / "a.db") == [("cards", card)]
    assert app.oplog.tombstoned("cards", card)
    app.close()


def test_a_read_after_another_connection_migrated_takes_no_write_lock(tmp_path: Path) -> None:
    migrations = _recased(tmp_path, *CARDS)
    wall = _Wall(1_000_000)
    app = _opened(tmp_path / "a.db", migrations, wall)
    app.insert("Cards", {"title": "spec"})
    other = _opened(tmp_path / "a.db", migrations, wall)
    other.upgrade()
    other.conn.execute("BEGIN IMMEDIATE")  # someone else is writing, for a while
    try:
        assert [r["title"] for r in app.rows("cards")] == ["spec"]  # at once, by v2's names
    finally:
        other.conn.execute("ROLLBACK")
        other.close()
    app.close()


def test_a_parked_op_that_cannot_be_replayed_leaves_reads_and_writes_working(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "m"
    directory.mkdir()
    (directory / "001_cards.sql").write_text(
        "CREATE TABLE cards (id TEXT PRIMARY KEY NOT NULL, title TEXT);", encoding="utf-8"
    )
    (directory / "002_notes.sql").write_text(
        "CREATE TABLE notes (id TEXT PRIMARY KEY NOT NULL, body TEXT);"
        " CREATE TRIGGER notes_size BEFORE INSERT ON notes WHEN length(NEW.body) > 10"
        " BEGIN SELECT RAISE(ROLLBACK, 'note too long'); END;",
        encoding="utf-8",
    )
    writer = open_replica(tmp_path / "w.db", migrations=directory)
    writer.conn.execute("DROP TRIGGER notes_size")  # another build of the app lets it through
    writer.insert("notes", {"id": "n1", "body": "a note longer than ten"})
    old = open_replica(tmp_path / "old.db", migrations=directory, target_version=1)
    old.insert("cards", {"id": "c1", "title": "spec"})
    sync(old, writer)  # old parks the note
    old.close()
    app = open_replica(tmp_path / "old.db", migrations=directory)  # its replay fails: logged
    assert [r["id"] for r in app.rows("cards")] == ["c1"]
    app.insert("cards", {"id": "c2", "title": "x"})
    app.update("cards", "c1", {"title": "y"})
    assert [r["title"] for r in app.rows("cards")] == ["y", "x"]
    app.close()
    writer.close()


def test_two_spellings_of_one_column_keep_the_later_clock(tmp_path: Path) -> None:
    migrations = _recased(tmp_path, *CARDS)
    wall = _Wall(1_000_000)
    a = _opened(tmp_path / "a.db", migrations, wall)
    card = a.insert("Cards", {"title": "spec"})
    a.conn.execute(
        "UPDATE _nexus_rows SET clocks = ? WHERE row_id = ?",
        ('{"title": "0000000000003", "Title": "0000000000002"}', card),
    )
    a.conn.execute("DELETE FROM _nexus_meta WHERE key = 'replicated_names'")
    a.conn.commit()
    a.close()
    a = _opened(tmp_path / "a.db", migrations, wall, None)
    assert a.oplog.row_state("cards", card).clocks == {"title": "0000000000003"}
    a.close()
