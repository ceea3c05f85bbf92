"""Migration files as people write them: comments, literals, a BOM, TEMP scratch tables."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from harness.lint import lint_migrations
from nexus_core.db.migrations import get_current_version, load_migrations, migrate
from nexus_core.errors import MigrationError

BASE = """-- Description: base
CREATE TABLE lists (id INTEGER PRIMARY KEY, name TEXT NOT NULL DEFAULT '');
CREATE TABLE tasks (id INTEGER PRIMARY KEY, list_id INTEGER, title TEXT NOT NULL DEFAULT '',
                    done INTEGER NOT NULL DEFAULT 0);
"""


def folder(tmp_path: Path, *steps: str | bytes) -> Path:
    directory = tmp_path / "m"
    directory.mkdir(parents=True)
    for number, text in enumerate((BASE, *steps), start=1):
        path = directory / f"{number:03d}_step.sql"
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
    return directory


def verdicts(directory: Path) -> list[str]:
    return [result.verdict for result in lint_migrations(load_migrations(directory))]


def test_a_rollback_inside_a_migration_is_refused_and_not_recorded(tmp_path: Path) -> None:
    directory = folder(tmp_path, "ALTER TABLE tasks ADD COLUMN x TEXT;\nROLLBACK;\n")
    conn = sqlite3.connect(tmp_path / "app.db", isolation_level=None)
    migrate(conn, load_migrations(directory), target=1)
    with pytest.raises(MigrationError, match="ended the runner's transaction"):
        migrate(conn, load_migrations(directory))
    assert get_current_version(conn) == 1
    assert "x" not in {row[1] for row in conn.execute("PRAGMA table_info(tasks)")}


def test_a_comment_naming_schema_version_is_only_a_comment(tmp_path: Path) -> None:
    step = (
        "-- Description: notes; the runner inserts into schema_version itself\n"
        "/* never DELETE FROM schema_version here */\n"
        "ALTER TABLE tasks ADD COLUMN notes TEXT;\n"
    )
    directory = folder(tmp_path, step)
    conn = sqlite3.connect(tmp_path / "app.db", isolation_level=None)
    migrate(conn, load_migrations(directory))
    assert get_current_version(conn) == 2
    assert verdicts(directory)[1] == "additive"


def test_comments_and_literals_do_not_fool_the_lint(tmp_path: Path) -> None:
    raising = """CREATE TRIGGER t_required BEFORE INSERT ON tasks
    BEGIN
      -- don't accept empty titles
      SELECT RAISE(ABORT, 'title required') WHERE NEW.title = '';
    END;"""
    quiet = """CREATE TRIGGER t_log AFTER INSERT ON tasks
    BEGIN
      /* we used to SELECT RAISE(ABORT, 'x') here */ SELECT 1;
    END;"""
    seeded = """CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);
    INSERT INTO notes (id, body) VALUES (1, 'copied from lists -- see the docs');"""
    assert verdicts(folder(tmp_path / "a", raising))[1] == "breaking"
    assert verdicts(folder(tmp_path / "b", quiet))[1] == "safe"
    assert verdicts(folder(tmp_path / "c", seeded))[1] == "additive"


def test_a_byte_order_mark_is_not_part_of_the_migration(tmp_path: Path) -> None:
    step = "-- Description: Archive finished tasks\r\nDELETE FROM tasks WHERE done = 1;\r\n"
    with_bom = folder(tmp_path / "a", "\ufeff".encode() + step.encode())
    without = folder(tmp_path / "b", step)
    [bom_2, plain_2] = (load_migrations(d)[1] for d in (with_bom, without))
    assert bom_2.description == plain_2.description == "Archive finished tasks"
    assert bom_2.checksum == plain_2.checksum  # an editor dropping the BOM changes nothing
    assert verdicts(with_bom)[1] == "breaking"  # the DELETE in its first statement is seen


def test_temp_scratch_tables_end_with_their_migration(tmp_path: Path) -> None:
    scratch = "CREATE TEMP TABLE scratch (id INTEGER);\nINSERT INTO scratch VALUES (1);\n"
    shadow = "CREATE TEMP TABLE tasks (id INTEGER PRIMARY KEY);\n"
    directory = folder(
        tmp_path, scratch, scratch, shadow, "ALTER TABLE tasks ADD COLUMN prio INTEGER;"
    )
    conn = sqlite3.connect(tmp_path / "app.db", isolation_level=None)
    migrate(conn, load_migrations(directory))  # in one run, as a fresh install does
    assert get_current_version(conn) == 5
    assert "prio" in {row[1] for row in conn.execute("PRAGMA main.table_info(tasks)")}
    assert conn.execute("SELECT count(*) FROM sqlite_temp_master").fetchone()[0] == 0
