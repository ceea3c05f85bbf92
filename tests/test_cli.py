"""The ``nexus`` CLI: every command, every refusal (exit 2, one line, file untouched)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from nexus_core.cli import main
from nexus_core.db.connection import connect
from nexus_core.db.migrations import load_migrations, migrate

ROOT = Path(__file__).resolve().parent.parent
PROJECT_MIGRATIONS = ROOT / "migrations"


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_refused(result: Result, *fragments: str) -> None:
    """Exit 2, exactly one ``Error: ...`` line on stderr naming ``fragments``, no traceback."""
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)
    for fragment in fragments:
        assert fragment in lines[0]


def build(path: Path, migrations_dir: Path = PROJECT_MIGRATIONS, target: int | None = None) -> None:
    conn = connect(path)
    migrate(conn, load_migrations(migrations_dir), target=target)
    conn.close()


def copy_migrations(tmp_path: Path, up_to: int, name: str = "m") -> Path:
    directory = tmp_path / name
    directory.mkdir()
    for path in sorted(PROJECT_MIGRATIONS.glob("*.sql")):
        if int(path.name[:3]) <= up_to:
            shutil.copy(path, directory / path.name)
    return directory


# --- what each command does --------------------------------------------------------------


def test_migrate_creates_a_new_database_and_prints_the_summary(tmp_path: Path) -> None:
    db = tmp_path / "nexus.db"
    result = run("migrate", db)
    assert result.exit_code == 0, result.output
    assert result.stdout == "v0 -> v5, 5 applied\n"
    assert run("migrate", db).stdout == "v5, up to date\n"


def test_migrate_to_a_version_up_and_down(tmp_path: Path) -> None:
    db = tmp_path / "nexus.db"
    assert run("migrate", db, "--to", "2").stdout == "v0 -> v2, 2 applied\n"
    assert run("migrate", db, "--to", "4").stdout == "v2 -> v4, 2 applied\n"
    assert run("migrate", db, "--to", "1").stdout == "v4 -> v1, 3 reverted\n"
    assert run("version", db).stdout == "1\n"


def test_migrate_with_backup_prints_the_backup_path(tmp_path: Path) -> None:
    db = tmp_path / "nexus.db"
    build(db, target=3)
    result = run("migrate", db, "--backup")
    assert result.exit_code == 0, result.output
    summary, backup_line = result.stdout.splitlines()
    assert summary == "v3 -> v5, 2 applied"
    assert backup_line.startswith(f"backup: {tmp_path / 'nexus.db.backup-v3-'}")
    backup = Path(backup_line.removeprefix("backup: "))
    assert run("version", backup).stdout == "3\n"


def test_backup_of_a_database_the_command_creates_is_not_made(tmp_path: Path) -> None:
    """Nothing to back up; and a failing run removes the new file, leaving no backup."""
    assert run("migrate", tmp_path / "new.db", "--backup", "--to", "1").stdout == (
        "v0 -> v1, 1 applied\n"
    )
    (tmp_path / "bad").mkdir()
    failing = _with_failing_sql(tmp_path / "bad")
    assert run("migrate", tmp_path / "bad.db", "--migrations", failing, "--backup").exit_code == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad", "new.db"]


def test_migrate_with_another_migrations_directory(tmp_path: Path) -> None:
    directory = tmp_path / "m"
    directory.mkdir()
    (directory / "001_notes.sql").write_text("CREATE TABLE notes (id INTEGER PRIMARY KEY);")
    db = tmp_path / "notes.db"
    assert run("migrate", db, "--migrations", directory).stdout == "v0 -> v1, 1 applied\n"
    assert run("verify", db, "--migrations", directory).stdout == "ok: schema matches v1\n"


def test_version_prints_the_number_alone(tmp_path: Path) -> None:
    db = tmp_path / "nexus.db"
    build(db, target=4)
    result = run("version", db)
    assert result.exit_code == 0
    assert result.stdout == "4\n"
    empty = tmp_path / "empty.db"
    empty.touch()
    assert run("version", empty).stdout == "0\n"


def test_history_prints_a_table_and_json(tmp_path: Path) -> None:
    db = tmp_path / "nexus.db"
    build(db, target=2)
    table = run("history", db)
    assert table.exit_code == 0
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["version", "applied_at", "description"]
    assert lines[1].split()[0] == "1"
    assert lines[1].endswith("Initial schema with lists and tasks")
    assert lines[2].endswith("Add task priority for ordering")
    assert len(lines) == 3
    rows = json.loads(run("history", db, "--json").stdout)
    assert [sorted(r) for r in rows] == [["applied_at", "description", "version"]] * 2
    assert [(r["version"], r["description"]) for r in rows] == [
        (1, "Initial schema with lists and tasks"),
        (2, "Add task priority for ordering"),
    ]
    assert all(r["applied_at"].endswith("Z") for r in rows)


def test_history_of_an_empty_database(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    assert run("history", empty, "--json").stdout.strip() == "[]"
    assert run("history", empty).stdout == "no migrations applied\n"


def edited(db: Path, *statements: str) -> None:
    """``db`` changed behind the runner's back."""
    conn = sqlite3.connect(db)
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()


def test_verify_passes_on_a_fresh_build_and_lists_each_difference(tmp_path: Path) -> None:
    db = tmp_path / "nexus.db"
    build(db)
    ok = run("verify", db)
    assert (ok.exit_code, ok.stdout) == (0, "ok: schema matches v5\n")
    edited(db, "ALTER TABLE tasks ADD COLUMN colour TEXT", "DROP INDEX idx_tasks_open_due")
    drifted = run("verify", db)
    assert drifted.exit_code == 1
    assert "column tasks.colour is not expected" in drifted.stdout
    assert "index idx_tasks_open_due is missing" in drifted.stdout
    assert "Traceback" not in drifted.output


def test_verify_fails_where_schema_version_lost_a_row(tmp_path: Path) -> None:
    """The schema alone matched, so rows deleted from schema_version went unseen (BV-7)."""
    db = tmp_path / "nexus.db"
    build(db)
    edited(db, "DELETE FROM schema_version WHERE version = 3")
    result = run("verify", db)
    assert result.exit_code == 1
    assert "not what v5 must be (1 difference(s))" in result.stdout
    assert "schema_version has no row for v3 (it records v1, v2, v4, v5)" in result.stdout


# --- refusals: exit 2, one line, nothing written ---------------------------------------------


@pytest.mark.parametrize("command", ["version", "history", "verify"])
def test_reading_commands_never_create_a_missing_file(tmp_path: Path, command: str) -> None:
    db = tmp_path / "missing.db"
    assert_refused(run(command, db), "missing.db", "no such database file")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["migrate", "version", "history", "verify"])
def test_a_file_that_is_not_sqlite_is_refused_untouched(tmp_path: Path, command: str) -> None:
    db = tmp_path / "notes.txt"
    db.write_text("shopping list: milk, eggs\n" * 50)
    before = sha(db)
    assert_refused(run(command, db), "notes.txt", "not an SQLite database")
    assert sha(db) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize("command", ["migrate", "verify"])
def test_a_database_newer_than_the_migrations_is_refused_untouched(
    tmp_path: Path, command: str
) -> None:
    db = tmp_path / "nexus.db"
    build(db)
    before = sha(db)
    older = copy_migrations(tmp_path, up_to=3)
    assert_refused(run(command, db, "--migrations", older), "v5", "newer")
    assert sha(db) == before


@pytest.mark.parametrize("command", ["migrate", "verify"])
def test_an_edited_applied_migration_is_refused_untouched(tmp_path: Path, command: str) -> None:
    directory = copy_migrations(tmp_path, up_to=5)
    db = tmp_path / "nexus.db"
    build(db, directory, target=3)
    edited = directory / "002_add_task_priority.sql"
    edited.write_text(edited.read_text() + "\n-- tweaked after release\n")
    before = sha(db)
    assert_refused(run(command, db, "--migrations", directory), "002_add_task_priority.sql")
    assert sha(db) == before


def _gap(directory: Path) -> str:
    (directory / "003_add_task_tags.sql").unlink()
    return "003"


def _duplicate(directory: Path) -> str:
    (directory / "002_again.sql").write_text("SELECT 1;")
    return "002_again.sql"


def _unreadable(directory: Path) -> str:
    (directory / "006_latest.sql").write_bytes(b"-- \xff\xfe not UTF-8\nSELECT 1;")
    return "006_latest.sql"


BROKEN_SETS: dict[str, Callable[[Path], str]] = {
    "gap": _gap,
    "duplicate": _duplicate,
    "unreadable": _unreadable,
}


@pytest.mark.parametrize("command", ["migrate", "verify"])
@pytest.mark.parametrize("breakage", sorted(BROKEN_SETS))
def test_a_broken_migration_set_is_refused_untouched(
    tmp_path: Path, command: str, breakage: str
) -> None:
    directory = copy_migrations(tmp_path, up_to=5)
    db = tmp_path / "nexus.db"
    build(db, directory, target=1)
    named = BROKEN_SETS[breakage](directory)
    before = sha(db)
    assert_refused(run(command, db, "--migrations", directory), named)
    assert sha(db) == before


def test_migrate_with_a_broken_set_never_creates_the_file(tmp_path: Path) -> None:
    directory = copy_migrations(tmp_path, up_to=5)
    _gap(directory)
    db = tmp_path / "new.db"
    assert_refused(run("migrate", db, "--migrations", directory), "003")
    assert not db.exists()


def _with_failing_sql(tmp_path: Path) -> Path:
    directory = copy_migrations(tmp_path, up_to=1)
    (directory / "002_broken.sql").write_text(
        "ALTER TABLE tasks ADD COLUMN colour TEXT;\nUPDATE no_such_table SET x = 1;\n"
    )
    return directory


def test_failing_sql_is_refused_and_the_file_left_untouched(tmp_path: Path) -> None:
    directory = _with_failing_sql(tmp_path)
    db = tmp_path / "nexus.db"
    build(db, directory, target=1)
    before = sha(db)
    assert_refused(run("migrate", db, "--migrations", directory), "002_broken.sql", "no_such_table")
    assert sha(db) == before
    assert run("version", db).stdout == "1\n"


def test_a_failure_after_applied_migrations_says_where_the_database_is(tmp_path: Path) -> None:
    directory = copy_migrations(tmp_path, up_to=2)
    (directory / "003_broken.sql").write_text("UPDATE no_such_table SET x = 1;\n")
    db = tmp_path / "nexus.db"
    build(db, directory, target=1)
    result = run("migrate", db, "--migrations", directory)
    assert_refused(result, "003_broken.sql", "no_such_table")
    assert "the database is now at v2: the migrations before it were applied; it was at v1" in (
        result.stderr
    )
    assert run("version", db).stdout == "2\n"


def test_a_failing_down_file_is_named_and_the_versions_left_said_reverted(tmp_path: Path) -> None:
    directory = tmp_path / "migrations"
    directory.mkdir()
    for name, text in {
        "001_t.sql": "CREATE TABLE t (id INTEGER PRIMARY KEY, n TEXT);",
        "001_t.down.sql": "DROP TABLE t;",
        "002_ix.sql": "CREATE INDEX ix_n ON t (n);",
        "002_ix.down.sql": "DROP INDEX ix_nn;",
        "003_u.sql": "ALTER TABLE t ADD COLUMN u TEXT;",
        "003_u.down.sql": "ALTER TABLE t DROP COLUMN u;",
    }.items():
        (directory / name).write_text(text, encoding="utf-8")
    db = tmp_path / "nexus.db"
    build(db, directory)
    result = run("migrate", db, "--migrations", directory, "--to", "0")
    assert_refused(result, "002_ix.down.sql (v2): no such index: ix_nn")
    assert "now at v2: the migrations before it were reverted; it was at v3" in result.stderr
    assert run("version", db).stdout == "2\n"


def test_failing_sql_on_a_new_file_leaves_no_file(tmp_path: Path) -> None:
    directory = _with_failing_sql(tmp_path)
    db = tmp_path / "new.db"
    assert_refused(run("migrate", db, "--migrations", directory), "002_broken.sql")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_a_target_out_of_range_is_refused_untouched(tmp_path: Path) -> None:
    db = tmp_path / "nexus.db"
    build(db, target=2)
    before = sha(db)
    assert_refused(run("migrate", db, "--to", "9"), "v9")
    assert_refused(run("migrate", db, "--to", "-1"), "v-1")
    assert sha(db) == before


def test_a_refused_migration_keeps_another_clients_journal_mode(tmp_path: Path) -> None:
    db = tmp_path / "other.db"
    other = sqlite3.connect(db)  # rollback-journal mode, as another client made it
    other.executescript((PROJECT_MIGRATIONS / "001_initial_schema.sql").read_text())
    other.executescript(
        "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL,"
        " description TEXT NOT NULL);"
        "INSERT INTO schema_version VALUES (9, '2030-01-01 00:00:00', 'From the future');"
    )
    other.close()
    before = sha(db)
    assert_refused(run("migrate", db), "v9")
    assert_refused(run("verify", db), "v9")
    assert sha(db) == before


# --- help, and the real console script ----------------------------------------------------------


def test_every_command_has_help_text() -> None:
    assert main.help
    assert set(main.commands) >= {"migrate", "version", "history", "verify"}
    for name, command in main.commands.items():
        assert command.help and command.help.strip(), f"{name} has no help text"
        assert command.get_short_help_str().strip()
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"{name} {param.opts} has no help text"
        result = run(name, "--help")
        assert result.exit_code == 0
        assert "Usage:" in result.stdout
    version = run("--version")
    assert version.exit_code == 0 and re.fullmatch(r"nexus, version \S+\n", version.stdout)


def _console_script() -> list[str]:
    found = shutil.which("nexus")
    return [found] if found else [sys.executable, "-m", "nexus_core.cli"]


def test_the_console_script_in_a_real_subprocess(tmp_path: Path) -> None:
    db = tmp_path / "nexus.db"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def nexus(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*_console_script(), *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=60,
        )

    migrated = nexus("migrate", str(db), "--to", "3")
    assert (migrated.returncode, migrated.stdout) == (0, "v0 -> v3, 3 applied\n")
    version = nexus("version", str(db))
    assert (version.returncode, version.stdout) == (0, "3\n")
    missing = nexus("history", str(tmp_path / "missing.db"))
    assert missing.returncode == 2
    assert missing.stderr.splitlines() == [
        f"Error: {tmp_path / 'missing.db'}: no such database file"
    ]
    assert not (tmp_path / "missing.db").exists()


def test_a_reader_that_goes_away_is_no_error(tmp_path: Path) -> None:
    """`nexus history DB | head -0`: exit 141 as a shell reports SIGPIPE, nothing on stderr
    (it was "Error: file: Broken pipe", exit 2)."""
    db = tmp_path / "nexus.db"
    build(db)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line
    with os.fdopen(write, "wb") as closed:
        done = subprocess.run(
            [*_console_script(), "history", str(db)],
            stdout=closed,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            timeout=60,
        )
    assert (done.returncode, done.stderr) == (141, "")
