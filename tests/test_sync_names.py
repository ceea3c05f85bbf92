"""Names are matched the way SQLite matches them: case-insensitively."""

from __future__ import annotations

from pathlib import Path

from nexus_core import open_replica, sync
from nexus_core.db.connection import connect
from nexus_core.db.migrations import load_migrations
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
