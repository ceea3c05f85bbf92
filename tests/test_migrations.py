"""The migration runner on real files: the set's validation, refusals, hooks, backups."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from nexus_core import (
    apply_migrations,
    get_current_version,
    get_migration_history,
    initialize_database,
    open_replica,
)
from nexus_core.cli import main
from nexus_core.db.connection import connect
from nexus_core.db.dump import canonical_schema_dump, data_dump
from nexus_core.db.migrations import (
    CHECKSUM_TABLE,
    MigrationHooks,
    backup_name,
    load_migrations,
    migrate,
)
from nexus_core.db.verify import verify_database
from nexus_core.errors import MigrationError, MigrationSetError, NexusError

PROJECT_MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
SEED_SCHEMA_VERSION_DDL = """CREATE TABLE schema_version (
    version INTEGER PRIMARY KEY,
    applied_at TEXT NOT NULL,
    description TEXT NOT NULL
);"""


def write_migrations(directory: Path, files: dict[str, str | bytes]) -> Path:
    """Write ``{file name: SQL}`` into ``directory`` and return it."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        target = directory / name
        if isinstance(text, bytes):
            target.write_bytes(text)
        else:
            target.write_text(text, encoding="utf-8")
    return directory


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build(path: Path, migrations_dir: Path = PROJECT_MIGRATIONS, target: int | None = None) -> None:
    with connect(path) as conn:
        migrate(conn, load_migrations(migrations_dir), target=target)
    conn.close()


# --- the set's validation -------------------------------------------------------------

LOADER_CASES: dict[str, tuple[dict[str, str | bytes], list[str]]] = {
    "gap": ({"001_a.sql": "SELECT 1;", "003_c.sql": "SELECT 1;"}, ["002", "003_c.sql"]),
    "duplicate": (
        {"001_a.sql": "SELECT 1;", "001_b.sql": "SELECT 1;"},
        ["001_b.sql", "001_a.sql"],
    ),
    "stray name": ({"001_a.sql": "SELECT 1;", "notes.sql": "SELECT 1;"}, ["notes.sql"]),
    "two digits": ({"001_a.sql": "SELECT 1;", "02_b.sql": "SELECT 1;"}, ["02_b.sql"]),
    "non-utf8": ({"001_a.sql": "SELECT 1;", "002_b.sql": b"SELECT '\xff\xfe';"}, ["002_b.sql"]),
    "down without up": (
        {"001_a.sql": "SELECT 1;", "002_b.down.sql": "SELECT 1;"},
        ["002_b.down.sql"],
    ),
}


@pytest.mark.parametrize("case", sorted(LOADER_CASES))
def test_loader_refuses_a_broken_set_naming_the_file(tmp_path: Path, case: str) -> None:
    files, named = LOADER_CASES[case]
    directory = write_migrations(tmp_path / "m", files)
    with pytest.raises(MigrationSetError) as error:
        load_migrations(directory)
    for text in named:
        assert text in str(error.value)


def test_loader_refuses_an_unreadable_file_naming_it(tmp_path: Path) -> None:
    directory = write_migrations(tmp_path / "m", {"001_a.sql": "SELECT 1;"})
    (directory / "002_b.sql").mkdir()  # unreadable as a file even for root
    with pytest.raises(MigrationSetError, match=r"002_b\.sql"):
        load_migrations(directory)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads anything")
def test_loader_refuses_a_file_without_read_permission(tmp_path: Path) -> None:
    directory = write_migrations(tmp_path / "m", {"001_a.sql": "SELECT 1;", "002_b.sql": "x"})
    (directory / "002_b.sql").chmod(0)
    try:
        with pytest.raises(MigrationSetError, match=r"002_b\.sql"):
            load_migrations(directory)
    finally:
        (directory / "002_b.sql").chmod(0o644)


def test_loader_refuses_a_missing_or_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(MigrationSetError, match="not found"):
        load_migrations(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MigrationSetError, match="no migration files"):
        load_migrations(tmp_path / "empty")
    (tmp_path / "001_init.sql").write_text("CREATE TABLE t (id);", encoding="utf-8")
    with pytest.raises(MigrationSetError, match="is a file, not a migrations directory"):
        load_migrations(tmp_path / "001_init.sql")


def test_description_comes_from_the_comment_or_the_file_name(tmp_path: Path) -> None:
    directory = write_migrations(
        tmp_path / "m",
        {
            "001_create_notes.sql": "-- Description:   Notes for everyone  \nCREATE TABLE n (id);",
            "002_add_note-colour.sql": "ALTER TABLE n ADD COLUMN colour TEXT;",
        },
    )
    assert [m.description for m in load_migrations(directory)] == [
        "Notes for everyone",
        "Add note colour",
    ]
    conn = initialize_database(tmp_path / "n.db", directory)
    assert [d for _, _, d in get_migration_history(conn)] == [
        "Notes for everyone",
        "Add note colour",
    ]
    conn.close()


# --- applying ------------------------------------------------------------------------


def test_migrating_twice_changes_nothing_the_second_time(tmp_path: Path) -> None:
    db = tmp_path / "nexus.db"
    conn = connect(db)
    first = migrate(conn, load_migrations())
    history = get_migration_history(conn)
    schema = canonical_schema_dump(conn)
    second = migrate(conn, load_migrations())
    assert first.applied == [1, 2, 3, 4, 5]
    assert first.summary() == "v0 -> v5, 5 applied"
    assert second.applied == []
    assert second.summary() == "v5, up to date"
    assert get_migration_history(conn) == history
    assert canonical_schema_dump(conn) == schema
    conn.close()


def test_a_newer_database_is_refused_and_left_untouched(tmp_path: Path) -> None:
    db = tmp_path / "nexus.db"
    build(db)
    three = write_migrations(tmp_path / "old", {})
    for path in sorted(PROJECT_MIGRATIONS.glob("00[123]_*.sql")):
        shutil.copy(path, three / path.name)
    before = sha(db)
    newer = r"v5, newer than the latest known migration v3 \(in .+\): .+ migrations folder"
    with pytest.raises(MigrationError, match=newer):
        initialize_database(db, three)
    assert sha(db) == before
    assert not (tmp_path / "nexus.db-wal").exists()


def test_an_edited_applied_migration_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    directory = write_migrations(
        tmp_path / "m",
        {
            "001_notes.sql": "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);",
            "002_colour.sql": "ALTER TABLE notes ADD COLUMN colour TEXT;",
        },
    )
    db = tmp_path / "n.db"
    build(db, directory, target=1)
    (directory / "001_notes.sql").write_text(
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);", encoding="utf-8"
    )
    before = sha(db)
    with pytest.raises(MigrationError, match=r"001_notes\.sql.*edited"):
        initialize_database(db, directory)
    assert sha(db) == before
    with connect(db, create=False) as conn:
        assert get_current_version(conn) == 1
    conn.close()


def test_a_database_made_by_another_client_with_the_seed_schema_migrates(tmp_path: Path) -> None:
    db = tmp_path / "other-client.db"
    other = sqlite3.connect(db)  # default journal mode, no checksums: another client
    other.executescript(SEED_SCHEMA_VERSION_DDL)
    other.executescript((PROJECT_MIGRATIONS / "001_initial_schema.sql").read_text())
    other.execute(
        "INSERT INTO schema_version VALUES (1, '2024-10-21 09:00:00',"
        " 'Initial schema with all core tables')"
    )
    other.execute("INSERT INTO lists (list_id, name) VALUES ('l1', 'Inbox')")
    other.commit()
    other.close()

    conn = initialize_database(db)
    history = get_migration_history(conn)
    assert get_current_version(conn) == 5
    assert history[0] == (1, "2024-10-21 09:00:00", "Initial schema with all core tables")
    assert [v for v, _, _ in history] == [1, 2, 3, 4, 5]
    assert verify_database(conn, load_migrations()) == []
    assert conn.execute(f"SELECT COUNT(*) FROM {CHECKSUM_TABLE}").fetchone()[0] == 5
    assert conn.execute("SELECT name FROM lists").fetchall() == [("Inbox",)]
    conn.close()


def test_checksums_are_adopted_for_a_current_database_from_another_client(
    tmp_path: Path,
) -> None:
    """A client that never tracked checksums, already at the latest version: opening it
    records them, so a later edit of an applied file is caught."""
    migrations_dir = tmp_path / "migrations"
    shutil.copytree(PROJECT_MIGRATIONS, migrations_dir)
    db = tmp_path / "other-client.db"
    other = sqlite3.connect(db)
    other.executescript(SEED_SCHEMA_VERSION_DDL)
    for number, migration in enumerate(load_migrations(migrations_dir), start=1):
        other.executescript(migration.sql)
        other.execute(
            "INSERT INTO schema_version VALUES (?, '2024-10-21', ?)",
            (number, migration.description),
        )
    other.commit()
    other.close()

    initialize_database(db, migrations_dir).close()
    edited = migrations_dir / "003_add_task_tags.sql"
    edited.write_text(edited.read_text() + "\n-- edited after release\n")
    with pytest.raises(MigrationError, match=r"003_add_task_tags\.sql"):
        initialize_database(db, migrations_dir)


def test_down_then_up_round_trips_schema_and_data(tmp_path: Path) -> None:
    db = tmp_path / "nexus.db"
    conn = connect(db)
    migrate(conn, load_migrations())
    conn.execute("INSERT INTO lists (list_id, name) VALUES ('l1', 'Inbox')")
    conn.execute("INSERT INTO tasks (task_id, list_id, content) VALUES ('t1', 'l1', 'Buy milk')")
    schema = canonical_schema_dump(conn)
    down = migrate(conn, load_migrations(), target=1)
    assert down.reverted == [5, 4, 3, 2]
    assert down.summary() == "v5 -> v1, 4 reverted"
    assert "priority" not in canonical_schema_dump(conn)
    up = migrate(conn, load_migrations())
    assert up.applied == [2, 3, 4, 5]
    assert canonical_schema_dump(conn) == schema
    assert "'Buy milk', 0, NULL" in data_dump(conn)
    assert verify_database(conn, load_migrations()) == []
    conn.close()


def test_going_down_without_a_down_file_is_refused_before_anything_changes(
    tmp_path: Path,
) -> None:
    directory = write_migrations(
        tmp_path / "m",
        {
            "001_notes.sql": "CREATE TABLE notes (id INTEGER PRIMARY KEY);",
            "001_notes.down.sql": "DROP TABLE notes;",
            "002_tags.sql": "CREATE TABLE tags (id INTEGER PRIMARY KEY);",
            "003_pins.sql": "CREATE TABLE pins (id INTEGER PRIMARY KEY);",
            "003_pins.down.sql": "DROP TABLE pins;",
        },
    )
    db = tmp_path / "n.db"
    build(db, directory)
    before = sha(db)
    conn = connect(db)
    with pytest.raises(MigrationError, match=r"no \.down\.sql for 002_tags\.sql"):
        migrate(conn, load_migrations(directory), target=1)
    assert get_current_version(conn) == 3
    conn.close()
    assert sha(db) == before


# --- hooks, backups, foreign keys ------------------------------------------------------


def _notes_set(tmp_path: Path) -> Path:
    return write_migrations(
        tmp_path / "m",
        {
            "001_notes.sql": "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);",
            "002_words.sql": "CREATE TABLE words (note_id INTEGER PRIMARY KEY, n INTEGER);",
        },
    )


def test_hooks_run_inside_the_migration_transaction(tmp_path: Path) -> None:
    directory = _notes_set(tmp_path)
    conn = connect(tmp_path / "n.db")
    migrate(conn, load_migrations(directory), target=1)
    conn.execute("INSERT INTO notes (body) VALUES ('a b c'), ('d')")
    seen: list[tuple[str, bool, int]] = []

    def pre(c: sqlite3.Connection) -> None:
        seen.append(("pre", c.in_transaction, get_current_version(c)))

    def post(c: sqlite3.Connection) -> None:
        seen.append(("post", c.in_transaction, get_current_version(c)))
        c.execute(
            "INSERT INTO words SELECT id, length(body) - length(replace(body, ' ', '')) + 1"
            " FROM notes"
        )

    migrate(conn, load_migrations(directory), hooks={2: MigrationHooks(pre=pre, post=post)})
    assert seen == [("pre", True, 1), ("post", True, 1)]
    assert conn.execute("SELECT note_id, n FROM words ORDER BY note_id").fetchall() == [
        (1, 3),
        (2, 1),
    ]
    conn.close()


def test_a_failing_post_hook_rolls_the_migration_back(tmp_path: Path) -> None:
    directory = _notes_set(tmp_path)
    db = tmp_path / "n.db"
    conn = connect(db)
    migrate(conn, load_migrations(directory), target=1)

    def post(c: sqlite3.Connection) -> None:
        c.execute("INSERT INTO words VALUES (1, 1)")
        raise RuntimeError("data migration failed")

    with pytest.raises(RuntimeError, match="data migration failed"):
        migrate(conn, load_migrations(directory), hooks={2: MigrationHooks(post=post)})
    assert get_current_version(conn) == 1
    assert not conn.in_transaction
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "words" not in tables
    assert migrate(conn, load_migrations(directory)).applied == [2]
    conn.close()


def test_backup_is_a_valid_copy_named_after_the_old_version(tmp_path: Path) -> None:
    db = tmp_path / "nexus.db"
    conn = connect(db)
    migrate(conn, load_migrations(), target=3)
    conn.execute("INSERT INTO lists (list_id, name) VALUES ('l1', 'Inbox')")
    data_at_v3 = data_dump(conn)
    result = migrate(conn, load_migrations(), backup_path=lambda v: backup_name(db, v))
    conn.close()
    assert result.backup is not None
    assert result.backup.parent == tmp_path
    assert re.fullmatch(r"nexus\.db\.backup-v3-\d{8}T\d{12}Z", result.backup.name)
    copy = connect(result.backup, create=False, wal=False)
    assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert get_current_version(copy) == 3
    assert data_dump(copy) == data_at_v3
    copy.close()


def test_a_backup_never_overwrites_a_file(tmp_path: Path) -> None:
    db, kept = tmp_path / "nexus.db", tmp_path / "earlier.backup"
    kept.write_text("an earlier backup", encoding="utf-8")
    conn = connect(db)
    migrate(conn, load_migrations(), target=1)
    with pytest.raises(
        MigrationError, match=r"earlier\.backup already exists; nothing was migrated"
    ):
        migrate(conn, load_migrations(), backup_path=lambda v: kept)
    assert get_current_version(conn) == 1
    conn.close()
    assert kept.read_text(encoding="utf-8") == "an earlier backup"


def test_no_backup_when_there_is_nothing_to_do(tmp_path: Path) -> None:
    db = tmp_path / "nexus.db"
    build(db)
    with connect(db) as conn:
        result = migrate(conn, load_migrations(), backup_path=lambda v: backup_name(db, v))
    conn.close()
    assert result.backup is None
    assert sorted(p.name for p in tmp_path.iterdir() if "backup" in p.name) == []


def _family_set(tmp_path: Path, third: str) -> Path:
    return write_migrations(
        tmp_path / "m",
        {
            "001_family.sql": """
                CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT);
                CREATE TABLE child (id INTEGER PRIMARY KEY,
                                    parent_id INTEGER NOT NULL REFERENCES parent(id));
            """,
            # The documented 12-step rebuild: new table, copy, drop, rename.
            "002_rebuild_parent.sql": """
                CREATE TABLE parent_new (id INTEGER PRIMARY KEY, name TEXT NOT NULL DEFAULT '');
                INSERT INTO parent_new (id, name) SELECT id, COALESCE(name, '') FROM parent;
                DROP TABLE parent;
                ALTER TABLE parent_new RENAME TO parent;
            """,
            "003_third.sql": third,
        },
    )


def test_a_table_rebuild_works_with_foreign_keys_on(tmp_path: Path) -> None:
    directory = _family_set(tmp_path, "SELECT 1;")
    conn = connect(tmp_path / "f.db")
    conn.execute("PRAGMA foreign_keys = ON")
    migrate(conn, load_migrations(directory), target=1)
    conn.execute("INSERT INTO parent VALUES (1, NULL)")
    conn.execute("INSERT INTO child VALUES (10, 1)")
    migrate(conn, load_migrations(directory), target=2)
    assert conn.execute("PRAGMA foreign_keys").fetchone() == (1,)
    assert conn.execute("SELECT * FROM parent").fetchall() == [(1, "")]
    assert conn.execute("SELECT * FROM child").fetchall() == [(10, 1)]
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    conn.close()


def test_a_migration_leaving_a_foreign_key_violation_is_refused(tmp_path: Path) -> None:
    directory = _family_set(tmp_path, "INSERT INTO child VALUES (11, 999);")
    conn = connect(tmp_path / "f.db")
    conn.execute("PRAGMA foreign_keys = ON")
    migrate(conn, load_migrations(directory), target=2)
    with pytest.raises(MigrationError, match=r"003_third\.sql.*foreign key violation"):
        migrate(conn, load_migrations(directory))
    assert get_current_version(conn) == 2
    assert conn.execute("SELECT COUNT(*) FROM child WHERE id = 11").fetchone() == (0,)
    assert conn.execute("PRAGMA foreign_keys").fetchone() == (1,)
    conn.close()


def test_failing_sql_rolls_back_that_migration_only(tmp_path: Path) -> None:
    directory = write_migrations(
        tmp_path / "m",
        {
            "001_notes.sql": "CREATE TABLE notes (id INTEGER PRIMARY KEY);",
            "002_broken.sql": "CREATE TABLE tags (id INTEGER PRIMARY KEY);\nSELEC oops;",
        },
    )
    conn = connect(tmp_path / "n.db")
    with pytest.raises(MigrationError, match=r"002_broken\.sql \(v2\).*syntax error"):
        migrate(conn, load_migrations(directory))
    assert get_current_version(conn) == 1
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "tags" not in tables
    conn.close()


@pytest.mark.skipif(shutil.which("sqlite3") is None, reason="no sqlite3 command-line tool")
def test_sqlite3_cli_agrees_with_nexus_version(tmp_path: Path) -> None:
    db = tmp_path / "nexus.db"
    build(db, target=4)
    raw = subprocess.run(
        ["sqlite3", str(db), "SELECT MAX(version) FROM schema_version"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    ours = CliRunner().invoke(main, ["version", str(db)])
    assert ours.exit_code == 0
    assert raw == ours.stdout.strip() == "4"


def test_a_database_made_by_another_client_can_go_down(tmp_path: Path) -> None:
    db = tmp_path / "other-client.db"
    other = sqlite3.connect(db)  # no checksum table: nexus-core never touched it
    other.executescript(SEED_SCHEMA_VERSION_DDL)
    other.executescript((PROJECT_MIGRATIONS / "001_initial_schema.sql").read_text())
    other.execute("INSERT INTO schema_version VALUES (1, '2024-10-21 09:00:00', 'Initial')")
    other.commit()
    other.close()
    conn = connect(db)
    assert migrate(conn, load_migrations(), target=0).reverted == [1]
    assert get_current_version(conn) == 0
    assert canonical_schema_dump(conn).startswith("CREATE TABLE schema_version")
    assert migrate(conn, load_migrations()).applied == [1, 2, 3, 4, 5]
    conn.close()


def test_a_file_wrapped_in_its_own_transaction_still_migrates(tmp_path: Path) -> None:
    """Real projects wrap migrations in BEGIN/COMMIT; the runner's own transaction wins."""
    migrations_dir = write_migrations(
        tmp_path / "m",
        {
            "001_items.sql": (
                "BEGIN TRANSACTION;\nCREATE TABLE items (id TEXT PRIMARY KEY);\nCOMMIT;\n"
            ),
            "002_trigger.sql": (
                "BEGIN;\nALTER TABLE items ADD COLUMN n INTEGER;\n"
                "CREATE TRIGGER items_n AFTER INSERT ON items BEGIN\n"
                "  UPDATE items SET n = 1 WHERE id = NEW.id;\nEND;\nEND TRANSACTION;\n"
            ),
        },
    )
    conn = initialize_database(tmp_path / "db.sqlite", migrations_dir)
    assert get_current_version(conn) == 2
    conn.execute("INSERT INTO items (id) VALUES ('x')")
    assert conn.execute("SELECT n FROM items").fetchone() == (1,)
    conn.close()


# --- databases another tool made, and misuse: a NexusError, never sqlite3's own --------


def foreign_version_table(db: Path, ddl: str, *rows: tuple[object, ...]) -> None:
    other = sqlite3.connect(db)
    other.execute(ddl)
    other.executemany("INSERT INTO schema_version VALUES (?, ?, ?)", rows)
    other.commit()
    other.close()


def test_a_schema_version_holding_text_versions_is_a_clear_error(tmp_path: Path) -> None:
    """Another tool's ``'1.1'`` (Flyway): the library and the CLI say so, no traceback."""
    db = tmp_path / "flyway.db"
    ddl = SEED_SCHEMA_VERSION_DDL.replace("version INTEGER", "version TEXT")
    foreign_version_table(db, ddl, ("1.1", "2024-01-01", "init"))
    conn = sqlite3.connect(db)
    for read in (get_current_version, get_migration_history):
        with pytest.raises(MigrationError, match=r"holds version '1\.1', not a whole number"):
            read(conn)
    conn.close()
    for command in (["version", str(db)], ["history", str(db)], ["migrate", str(db)]):
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 2, (command, result.output)
        assert "Traceback" not in result.output
        assert len(result.stderr.strip().splitlines()) == 1


def test_a_schema_version_of_another_shape_is_a_migration_error(tmp_path: Path) -> None:
    db = tmp_path / "other.db"
    foreign_version_table(db, "CREATE TABLE schema_version (v INTEGER, at TEXT, what TEXT)")
    with pytest.raises(MigrationError, match="no such column: version"):
        initialize_database(db)
    conn = sqlite3.connect(db)
    with pytest.raises(MigrationError, match="no such column: version"):
        get_current_version(conn)
    conn.close()


def test_verify_refuses_a_schema_version_of_another_tool_as_migrate_does(tmp_path: Path) -> None:
    """Flyway 4's table has a version column but none of the others: verify said ok."""
    db = tmp_path / "flyway.db"
    ddl = "CREATE TABLE schema_version (installed_rank INTEGER, version TEXT, script TEXT)"
    foreign_version_table(db, ddl, (1, "1", "V1__init.sql"))
    for command in (["verify", str(db)], ["migrate", str(db)], ["history", str(db)]):
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 2, (command, result.output)
        assert "no such column: applied_at" in result.stderr
        assert "was the database migrated by another tool?" in result.stderr


def test_a_text_version_of_digits_is_read_as_its_number(tmp_path: Path) -> None:
    db = tmp_path / "text.db"
    ddl = SEED_SCHEMA_VERSION_DDL.replace("version INTEGER", "version TEXT")
    foreign_version_table(db, ddl, ("2", "2024-01-01", "b"), ("1", "2024-01-01", "a"))
    conn = sqlite3.connect(db)
    assert get_current_version(conn) == 2
    assert [v for v, _, _ in get_migration_history(conn)] == [1, 2]
    conn.close()


def test_text_versions_are_compared_as_numbers(tmp_path: Path) -> None:
    """'10' is after '9', and the runner's own integer rows after another client's
    text (SQLite's MAX ranks text above numbers and '9' above '10': a migration
    ran again on every open)."""
    db = tmp_path / "text.db"
    untyped = SEED_SCHEMA_VERSION_DDL.replace("version INTEGER PRIMARY KEY", "version")
    foreign_version_table(db, untyped, *[(str(v), "2024-01-01", f"v{v}") for v in range(1, 11)])
    conn = sqlite3.connect(db)
    assert get_current_version(conn) == 10
    conn.execute("INSERT INTO schema_version VALUES (11, '2024-01-02', 'v11')")
    assert get_current_version(conn) == 11
    conn.close()


DOWN_CASES = {
    "a ROLLBACK": (
        "ALTER TABLE notes DROP COLUMN body;\nCREATE TABLE junk (x);\nROLLBACK;\n"
        "CREATE TABLE later (x);",
        "ended the runner's transaction",
    ),
    "a write to schema_version": (
        "ALTER TABLE notes DROP COLUMN body;\nDELETE FROM schema_version WHERE version = 1;",
        "writes schema_version",
    ),
}


@pytest.mark.parametrize("case", sorted(DOWN_CASES), ids=str)
def test_a_down_migration_is_refused_what_an_up_one_is_and_changes_nothing(
    tmp_path: Path, case: str
) -> None:
    down, message = DOWN_CASES[case]
    directory = write_migrations(
        tmp_path / "m",
        {
            "001_notes.sql": "CREATE TABLE notes (id INTEGER PRIMARY KEY);",
            "002_body.sql": "ALTER TABLE notes ADD COLUMN body TEXT;",
            "002_body.down.sql": down,
        },
    )
    db = tmp_path / "n.db"
    build(db, directory)
    before = sha(db)
    result = CliRunner().invoke(
        main, ["migrate", str(db), "--migrations", str(directory), "--to", "1"]
    )
    assert result.exit_code == 2, result.output
    assert "002_body.down.sql (v2)" in result.stderr and message in result.stderr
    assert sha(db) == before


def test_a_failing_initialize_leaves_the_file_exactly_as_it_was(tmp_path: Path) -> None:
    """Not even switched to WAL: that happens once the file is migrated."""
    directory = write_migrations(
        tmp_path / "m",
        {
            "001_notes.sql": "CREATE TABLE notes (id INTEGER PRIMARY KEY);",
            "002_broken.sql": "INSERT INTO nope VALUES (1);",
        },
    )
    db = tmp_path / "n.db"
    with connect(db, wal=False) as conn:
        migrate(conn, load_migrations(directory), target=1)
    conn.close()
    before = sha(db)
    with pytest.raises(MigrationError, match="no such table: nope"):
        initialize_database(db, directory)
    assert sha(db) == before
    (directory / "002_broken.sql").write_text("CREATE TABLE tags (id INTEGER PRIMARY KEY);")
    conn = initialize_database(db, directory)
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    conn.close()


@pytest.mark.parametrize("pending", [True, False], ids=["pending", "up to date"])
def test_a_transaction_the_caller_left_open_is_committed_first(
    tmp_path: Path, pending: bool
) -> None:
    """Python's sqlite3 opens a transaction before an INSERT: migrating commits it,
    whether there is anything to apply or only checksums to record."""
    db = tmp_path / "other.db"
    foreign_version_table(db, SEED_SCHEMA_VERSION_DDL)
    directory = write_migrations(
        tmp_path / "m",
        {
            "001_notes.sql": "CREATE TABLE notes (id INTEGER PRIMARY KEY);",
            "002_tags.sql": "CREATE TABLE tags (id INTEGER PRIMARY KEY);",
        },
    )
    conn = sqlite3.connect(db)
    conn.executescript((directory / "001_notes.sql").read_text())
    conn.execute("INSERT INTO schema_version VALUES (1, '2024-01-01', 'notes')")
    if not pending:
        conn.executescript((directory / "002_tags.sql").read_text())
        conn.execute("INSERT INTO schema_version VALUES (2, '2024-01-01', 'tags')")
    conn.execute("INSERT INTO notes VALUES (7)")
    assert conn.in_transaction
    apply_migrations(conn, directory)
    conn.rollback()
    assert conn.execute("SELECT id FROM notes").fetchall() == [(7,)]
    assert get_current_version(conn) == 2
    conn.close()


def test_a_file_locked_beyond_the_timeout_is_a_nexus_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Waiting to write (a migration pending; a replica's bookkeeping)."""
    monkeypatch.setattr("nexus_core.db.connection.BUSY_TIMEOUT_MS", 100)
    db, replica = tmp_path / "n.db", tmp_path / "replica.db"
    build(db, target=4)
    open_replica(replica).close()  # up to date: only the bookkeeping's write is left
    for path, open_it in ((db, initialize_database), (replica, open_replica)):
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            with pytest.raises(NexusError, match="locked"):
                open_it(path)
        finally:
            holder.execute("ROLLBACK")
            holder.close()


def test_a_migration_s_connection_settings_end_with_it(tmp_path: Path) -> None:
    """PRAGMA legacy_alter_table and ATTACH outlive a rollback: kept, they changed the
    next migration of the same run only, so a fresh install (one run) and a client
    upgraded release by release built different views at one version."""
    other = tmp_path / "other.db"
    folder = write_migrations(
        tmp_path / "migrations",
        {
            "001_a.sql": "CREATE TABLE a (id INTEGER PRIMARY KEY, n TEXT);"
            " CREATE VIEW va AS SELECT id, n FROM a; PRAGMA legacy_alter_table = ON;"
            " PRAGMA case_sensitive_like = ON;"
            f" ATTACH DATABASE '{other}' AS o; CREATE TABLE IF NOT EXISTS o.t (x);"
            " INSERT INTO o.t VALUES (1);",
            "002_b.sql": "ALTER TABLE a RENAME TO a_old;"
            " CREATE TABLE a (id INTEGER PRIMARY KEY, n TEXT, extra TEXT);"
            " INSERT INTO a (id, n) SELECT id, n FROM a_old; DROP TABLE a_old;",
        },
    )
    views = []
    for name, steps in (("fresh", [None]), ("stepwise", [1, None])):
        conn = sqlite3.connect(tmp_path / f"{name}.db", isolation_level=None)
        for target in steps:
            migrate(conn, load_migrations(folder), target=target)
        assert conn.execute("PRAGMA legacy_alter_table").fetchone() == (0,)
        assert conn.execute("SELECT 'a' LIKE 'A'").fetchone() == (1,)  # case-blind again
        assert "o" not in [row[1] for row in conn.execute("PRAGMA database_list")]
        views.append(conn.execute("SELECT sql FROM sqlite_master WHERE type = 'view'").fetchall())
        conn.close()
    assert views[0] == views[1]


def test_a_locked_database_is_not_blamed_on_the_migration(tmp_path: Path) -> None:
    folder = write_migrations(tmp_path / "m", {"001_a.sql": "CREATE TABLE a (id INTEGER);"})
    db = tmp_path / "locked.db"
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    conn = sqlite3.connect(db, timeout=0, isolation_level=None)
    with pytest.raises(MigrationError, match=r"write lock: try again later\)$"):
        migrate(conn, load_migrations(folder))
    holder.execute("ROLLBACK")
    migrate(conn, load_migrations(folder))
    assert get_current_version(conn) == 1
    conn.close()
    holder.close()


def test_a_failure_on_a_database_another_tool_made_says_so(tmp_path: Path) -> None:
    """Tables but no schema_version (a PRAGMA user_version runner): v0 to nexus-core,
    so a failing early migration names that, not only its own symptom."""
    folder = write_migrations(
        tmp_path / "m",
        {
            "001_base.sql": "CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, name TEXT);",
            "002_qty.sql": "ALTER TABLE items ADD COLUMN qty INTEGER;",
        },
    )
    conn = sqlite3.connect(tmp_path / "other.db", isolation_level=None)
    conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, qty INTEGER)")
    conn.execute("PRAGMA user_version = 2")
    with pytest.raises(MigrationError) as caught:
        migrate(conn, load_migrations(folder))
    assert str(caught.value) == (
        "002_qty.sql (v2): duplicate column name: qty (it was at v0 but already held tables"
        " (items, PRAGMA user_version = 2): was it made by another tool? nexus-core numbers"
        " its migrations from an empty database)"
    )
    conn.close()


@pytest.mark.parametrize("answer", [1, None])
def test_a_like_function_of_the_caller_s_survives_the_migrations(
    tmp_path: Path, answer: int | None
) -> None:
    """Restoring case_sensitive_like would replace it (the PRAGMA does): only done
    when a migration changed it, and a like() answering NULL is no error."""
    folder = write_migrations(tmp_path / "m", {"001_a.sql": "CREATE TABLE a (id INTEGER);"})
    conn = sqlite3.connect(tmp_path / "app.db", isolation_level=None)
    conn.create_function("like", 2, lambda pattern, value: answer)
    migrate(conn, load_migrations(folder))
    assert conn.execute("SELECT 'a' LIKE 'b'").fetchone() == (answer,)
    conn.close()
