"""Names are matched the way SQLite matches them: case-insensitively."""

from __future__ import annotations

from pathlib import Path

from nexus_core import open_replica, sync


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
