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


@pytest.mark.parametrize(
    "statement", ["VACUUM;", "PRAGMA synchronous = NORMAL;", "PRAGMA wal_checkpoint(TRUNCATE);"]
)
def test_a_statement_that_cannot_run_in_a_transaction_says_what_to_do(
    tmp_path: Path, statement: str
) -> None:
    """Real migration files hold them (review BU F5): SQLite's own error alone did not
    say that the runner holds each migration in a transaction."""
    directory = folder(tmp_path, f"ALTER TABLE tasks ADD COLUMN x TEXT;\n{statement}\n")
    conn = sqlite3.connect(tmp_path / "app.db", isolation_level=None)
    migrate(conn, load_migrations(directory), target=1)
    with pytest.raises(
        MigrationError,
        match=r"(?s)002_step.sql \(v2\): .+: "
        r"each migration runs in one transaction of the runner's; run this after",
    ):
        migrate(conn, load_migrations(directory))
    assert get_current_version(conn) == 1
    assert "x" not in {row[1] for row in conn.execute("PRAGMA table_info(tasks)")}


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE TABLE transactions (id INTEGER PRIMARY KEY);"
        " CREATE TABLE transactions (id INTEGER PRIMARY KEY);",
        "PRAGMA table_info(;",
    ],
)
def test_other_errors_naming_a_transaction_get_no_such_hint(tmp_path: Path, statement: str) -> None:
    """Only what fails for the runner's transaction gets its hint (review BW-4)."""
    directory = folder(tmp_path, statement)
    conn = sqlite3.connect(tmp_path / "app.db", isolation_level=None)
    with pytest.raises(MigrationError) as raised:
        migrate(conn, load_migrations(directory))
    assert "runs in one transaction" not in str(raised.value)


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


COLUMNS = (
    "id INTEGER PRIMARY KEY, list_id INTEGER REFERENCES lists(id),"
    " title TEXT NOT NULL DEFAULT '', done INTEGER NOT NULL DEFAULT 0"
)
NEW = f"CREATE TABLE tasks_new ({COLUMNS});"
NEW_PRIO = f"CREATE TABLE tasks_new ({COLUMNS}, prio INTEGER);"
TASKS_PRIO = f"CREATE TABLE tasks ({COLUMNS}, prio INTEGER);"

REWRITES = {
    "temp_scratch_rewrite": """CREATE TEMP TABLE scratch AS SELECT * FROM tasks;
UPDATE scratch SET title = upper(title);
INSERT OR REPLACE INTO tasks SELECT * FROM scratch;
DROP TABLE scratch;""",
    "rebuild_update_new": f"""{NEW}
INSERT INTO tasks_new SELECT id, list_id, title, done FROM tasks;
UPDATE tasks_new SET title = trim(title);
DELETE FROM tasks_new WHERE done = 1;
DROP TABLE tasks;
ALTER TABLE tasks_new RENAME TO tasks;""",
    "rebuild_where_filter": f"""{NEW}
INSERT INTO tasks_new SELECT id, list_id, title, done FROM tasks WHERE done = 0;
DROP TABLE tasks;
ALTER TABLE tasks_new RENAME TO tasks;""",
    "rebuild_omits_column": f"""{NEW}
INSERT INTO tasks_new (id, list_id, title) SELECT id, list_id, title FROM tasks;
DROP TABLE tasks;
ALTER TABLE tasks_new RENAME TO tasks;""",
    "rebuild_join_fill": f"""{NEW}
INSERT INTO tasks_new (id, list_id, title, done) SELECT t.id, t.list_id, l.name, t.done
    FROM tasks t JOIN lists l ON l.id = t.list_id;
DROP TABLE tasks;
ALTER TABLE tasks_new RENAME TO tasks;""",
    "seed_via_staging": """CREATE TEMP TABLE seed (id INTEGER, name TEXT);
INSERT INTO seed VALUES (1, 'Inbox'), (2, 'Someday');
INSERT OR IGNORE INTO lists (id, name) SELECT id, name FROM seed;
DROP TABLE seed;""",
    "seed_via_view": """CREATE VIEW default_lists AS SELECT 1 AS id, 'Inbox' AS name;
INSERT OR IGNORE INTO lists (id, name) SELECT id, name FROM default_lists;""",
}
COPIES = {
    "rebuild_plain": f"""{NEW_PRIO}
INSERT INTO tasks_new (id, list_id, title, done) SELECT id, list_id, title, done FROM tasks;
DROP TABLE tasks;
ALTER TABLE tasks_new RENAME TO tasks;""",
    "rebuild_rename_old_first": f"""ALTER TABLE tasks RENAME TO tasks_old;
{TASKS_PRIO}
INSERT INTO tasks (id, list_id, title, done) SELECT id, list_id, title, done FROM tasks_old;
DROP TABLE tasks_old;""",
    "temp_only": """CREATE TEMP TABLE s AS SELECT id FROM tasks;
UPDATE s SET id = id + 1;
DELETE FROM temp.s;
INSERT INTO s VALUES (1);
DROP TABLE s;""",
    "new_table_seed": """CREATE TABLE tags (id INTEGER PRIMARY KEY, name TEXT);
INSERT INTO tags (id, name) VALUES (1, 'work'), (2, 'home');
UPDATE tags SET name = upper(name);
DELETE FROM tags WHERE id = 2;""",
}


@pytest.mark.parametrize("step", REWRITES.values(), ids=REWRITES.keys())
def test_rows_changed_through_a_copy_or_a_scratch_table_are_a_rewrite(
    tmp_path: Path, step: str
) -> None:
    """Each of these changes replicated rows at upgrade, outside the oplog."""
    [result] = lint_migrations(load_migrations(folder(tmp_path, step)))[1:]
    assert "data-rewrite" in {f.rule for f in result.findings}, result.findings


@pytest.mark.parametrize("step", COPIES.values(), ids=COPIES.keys())
def test_copies_and_scratch_work_are_not(tmp_path: Path, step: str) -> None:
    [result] = lint_migrations(load_migrations(folder(tmp_path, step)))[1:]
    assert "data-rewrite" not in {f.rule for f in result.findings}, result.findings


def test_a_table_or_column_dropped_and_made_again_is_emptied(tmp_path: Path) -> None:
    table = "DROP TABLE lists;\nCREATE TABLE lists (id INTEGER PRIMARY KEY, name TEXT);"
    column = "ALTER TABLE tasks DROP COLUMN title;\nALTER TABLE tasks ADD COLUMN title TEXT;"
    for where, step in (("a", table), ("b", column)):
        [result] = lint_migrations(load_migrations(folder(tmp_path / where, step)))[1:]
        assert result.verdict == "breaking"
        assert any("again empty" in f.message for f in result.findings)


def test_a_trailing_comment_after_add_column_does_not_break_the_table(tmp_path: Path) -> None:
    directory = folder(tmp_path, "ALTER TABLE tasks ADD COLUMN priority INTEGER -- 1 = high")
    conn = sqlite3.connect(tmp_path / "app.db", isolation_level=None)
    migrate(conn, load_migrations(directory))
    conn.execute("INSERT INTO tasks (title, priority) VALUES ('a', 1)")
