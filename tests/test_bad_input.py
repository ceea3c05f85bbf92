"""Bad input the harness used to ignore or report confusingly: each is exit 2 with one line.

- a migration numbered 000 (it was skipped, then 001 failed on what 000 creates);
- an ``--expected`` row naming a version the migrations do not have (never checked);
- an output path (``--json``, ``--junit``) that is an existing directory (the error
  named the internal temporary file).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from harness.cli import main as compat_main
from harness.errors import HarnessError
from harness.files import write_json
from nexus_core.cli import main as nexus_main
from nexus_core.db.migrations import load_migrations
from nexus_core.errors import MigrationSetError

ROOT = Path(__file__).resolve().parent.parent
INDEX_ONLY = ROOT / "fixtures" / "histories" / "index_only" / "migrations"
SMALL = ("--examples", "2", "--jobs", "1", "--no-relay")


def assert_refused(result: Result, *fragments: str) -> str:
    """Exit 2, one ``Error: ...`` line on stderr holding ``fragments``, no traceback."""
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Default outputs (reports/replays) must not land in the repository."""
    monkeypatch.chdir(tmp_path)


# --- a migration numbered 000 ----------------------------------------------------------


def numbered_from_zero(tmp_path: Path, zero_name: str = "000_a.sql") -> Path:
    directory = tmp_path / "migrations"
    directory.mkdir()
    (directory / zero_name).write_text("CREATE TABLE a (a_id INTEGER PRIMARY KEY);\n")
    (directory / "001_b.sql").write_text(
        "CREATE TABLE b (b_id INTEGER PRIMARY KEY);\nINSERT INTO a (a_id) VALUES (1);\n"
    )
    return directory


@pytest.mark.parametrize("zero_name", ["000_a.sql", "0000_a.sql", "000_a.down.sql"])
def test_the_loader_refuses_a_migration_numbered_000(tmp_path: Path, zero_name: str) -> None:
    directory = numbered_from_zero(tmp_path, zero_name)
    with pytest.raises(MigrationSetError, match="migration numbers start at 001") as caught:
        load_migrations(directory)
    assert zero_name in str(caught.value)


def test_nexus_compat_refuses_a_migration_numbered_000(tmp_path: Path) -> None:
    directory = numbered_from_zero(tmp_path)
    result = CliRunner().invoke(compat_main, ["lint", "--migrations", str(directory)])
    message = assert_refused(result, "000_a.sql", "migration numbers start at 001")
    assert "no such table" not in message


def test_nexus_migrate_refuses_a_migration_numbered_000_and_writes_nothing(
    tmp_path: Path,
) -> None:
    directory = numbered_from_zero(tmp_path)
    db = tmp_path / "app.db"
    result = CliRunner().invoke(nexus_main, ["migrate", str(db), "--migrations", str(directory)])
    assert_refused(result, "000_a.sql", "migration numbers start at 001")
    assert not db.exists()


@pytest.mark.parametrize(
    ("files", "hint"),
    [
        (
            ["20240301090000_create_tools.sql", "20240302090000_add_loans.sql"],
            "20240301090000 looks like a timestamp",
        ),
        (["0000_brief_vanisher.sql", "0001_next.sql"], "0000_x.sql as 001_x.sql"),
        (["20240501120000_init/migration.sql"], "found 20240501120000_init/migration.sql"),
        (
            ["2024-05-01-120000_init/down.sql", "2024-05-01-120000_init/up.sql"],
            "found 2024-05-01-120000_init/up.sql and more in folders",
        ),
        (["V1__init.sql", "V2__add_loans.sql"], "Flyway's V1__name.sql"),
        (["001_init.sql", "U1__init.sql"], "a Flyway undo file"),
        (["000001_init.up.sql", "000001_init.down.sql"], "golang-migrate's and sqlx's"),
    ],
    ids=["rails", "drizzle", "prisma", "diesel", "flyway", "flyway-undo", "golang-migrate"],
)
def test_a_migration_tools_own_layout_is_named_with_what_to_do(
    tmp_path: Path, files: list[str], hint: str
) -> None:
    """ "gap in migration numbering, 001 is missing" for Rails' timestamped files, "no
    migration files" for Prisma's folders: right, but no help (review BAG-4)."""
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("CREATE TABLE t (id INTEGER PRIMARY KEY);", encoding="utf-8")
    with pytest.raises(MigrationSetError, match="001_") as caught:
        load_migrations(tmp_path)
    assert hint in str(caught.value)


@pytest.mark.parametrize(
    ("marker", "down", "refused"),
    [
        ("-- +goose Down", "DROP TABLE t;", True),
        ("-- migrate:down", "ALTER TABLE t RENAME COLUMN n TO name;", True),
        ("-- +goose Down", "-- nothing to undo", False),
        ("-- migrate:down is done by hand, see the docs", "ALTER TABLE t ADD c TEXT;", False),
    ],
)
def test_a_file_holding_its_down_part_too_is_refused(
    tmp_path: Path, marker: str, down: str, refused: bool
) -> None:
    """goose and dbmate keep a migration's down part in its file: copied as NNN_name.sql,
    it ran whole, undoing the migration as it made it (review BAI-7)."""
    (tmp_path / "001_init.sql").write_text(
        f"-- +goose Up\nCREATE TABLE t (id INTEGER PRIMARY KEY, n TEXT);\n{marker}\n{down}\n",
        encoding="utf-8",
    )
    if refused:
        with pytest.raises(MigrationSetError, match="holds its down part too"):
            load_migrations(tmp_path)
    else:
        assert len(load_migrations(tmp_path)) == 1


# --- an --expected row naming a version that does not exist -------------------------------


def expected_file(tmp_path: Path, extra_row: str) -> Path:
    path = tmp_path / "compat.md"
    path.write_text(
        "| Client A | Client B | Sync Status | Notes |\n"
        "|---|---|---|---|\n"
        "| v1 | v1 | ✅ Full sync | |\n"
        "| v1 | v2 | ✅ Full sync | |\n"
        "| v2 | v1 | ✅ Full sync | |\n"
        "| v2 | v2 | ✅ Full sync | |\n"
        f"{extra_row}\n",
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize("command", ["matrix", "report"])
@pytest.mark.parametrize(
    ("row", "named"),
    [("| v1 | v9 | ⚠️ Partial sync | typo |", "v9"), ("| v7 | v2 | ❌ No sync | |", "v7")],
)
def test_an_expected_row_naming_an_unknown_version_is_bad_input(
    tmp_path: Path, command: str, row: str, named: str
) -> None:
    expected = expected_file(tmp_path, row)
    out = tmp_path / "out"
    args = [command, "--migrations", str(INDEX_ONLY), "--expected", str(expected), *SMALL]
    if command == "report":
        args += ["--out", str(out)]
    result = CliRunner().invoke(compat_main, args)
    assert_refused(result, "compat.md:7", named, "v1, v2")
    assert not out.exists()


# --- an output path that is a directory ----------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["lint", "--migrations", str(INDEX_ONLY), "--json", "{dir}"],
        ["matrix", "--migrations", str(INDEX_ONLY), *SMALL, "--json", "{dir}"],
        ["bench", "--rows", "100", "--no-matrix", "--json", "{dir}"],
        ["report", "--migrations", str(INDEX_ONLY), *SMALL, "--out", "{out}", "--junit", "{dir}"],
    ],
    ids=["lint", "matrix", "bench", "report-junit"],
)
def test_an_output_file_that_is_a_directory_is_bad_input(tmp_path: Path, args: list[str]) -> None:
    directory = tmp_path / "existing"
    directory.mkdir()
    out = tmp_path / "out"
    argv = [a.format(dir=directory, out=out) for a in args]
    result = CliRunner().invoke(compat_main, argv)
    message = assert_refused(result, f"{directory}: is a directory")
    assert ".tmp" not in message
    assert list(directory.iterdir()) == []
    assert not list(tmp_path.glob(".existing.*"))
    assert not out.exists()


@pytest.mark.parametrize(
    "option", [["lint", "--json"], ["matrix", *SMALL, "--json"], ["report", *SMALL, "--junit"]]
)
def test_an_output_file_that_is_a_database_is_not_overwritten(
    tmp_path: Path, option: list[str]
) -> None:
    """`--json app.db` by mistake: the database is the user's, not a report's."""
    database = tmp_path / "app.db"
    sqlite3.connect(database).execute("CREATE TABLE t (x)").connection.close()
    before = database.read_bytes()
    command, *rest = option
    args = [command, "--migrations", str(INDEX_ONLY), *rest, str(database)]
    if command == "report":
        args += ["--out", str(tmp_path / "out")]
    result = CliRunner().invoke(compat_main, args)
    assert_refused(result, f"{database}: is an SQLite database, not overwritten")
    assert database.read_bytes() == before


def test_an_output_file_under_a_file_is_bad_input(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    target = blocker / "lint.json"
    result = CliRunner().invoke(
        compat_main, ["lint", "--migrations", str(INDEX_ONLY), "--json", str(target)]
    )
    assert_refused(result, str(target), f"{blocker} is not a directory")


def test_writing_json_onto_a_directory_names_the_directory(tmp_path: Path) -> None:
    directory = tmp_path / "compatibility.json"
    directory.mkdir()
    with pytest.raises(HarnessError, match="is a directory") as caught:
        write_json(directory, {"ok": True})
    assert str(directory) in str(caught.value) and ".tmp" not in str(caught.value)
    assert list(tmp_path.iterdir()) == [directory]


# --- a migration touching the engine's names -------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "CREATE TABLE _nexus_mine (id TEXT PRIMARY KEY);",
        "CREATE TABLE _NEXUS_Peers (peer TEXT PRIMARY KEY, nick TEXT);",
        "CREATE INDEX _nexus_ix ON a (id);",
        "UPDATE _nexus_meta SET value = 'stolen' WHERE key = 'peer_id';",
        "INSERT INTO schema_version VALUES (99, 'x', 'y');",
        "DELETE FROM main.schema_version;",
        "CREATE TRIGGER t AFTER INSERT ON schema_version BEGIN SELECT 1; END;",
    ],
)
def test_a_migration_may_not_touch_the_engines_names(tmp_path: Path, sql: str) -> None:
    """Such a table is silently never replicated, or breaks the engine's own; a
    schema_version row written by hand locks every client out of its database."""
    directory = tmp_path / "migrations"
    directory.mkdir()
    (directory / "001_a.sql").write_text("CREATE TABLE a (id TEXT PRIMARY KEY);\n")
    (directory / "002_b.sql").write_text(sql + "\n")
    runner = CliRunner()
    for command in ("lint", "matrix"):
        args = [command, "--migrations", str(directory)]
        result = runner.invoke(compat_main, args + (list(SMALL) if command == "matrix" else []))
        owner = "belongs to the migration runner" if "schema_version" in sql else "sync engine"
        assert_refused(result, "002_b.sql (v2): ", owner)
    result = runner.invoke(
        nexus_main, ["migrate", str(tmp_path / "app.db"), "--migrations", str(directory)]
    )
    assert_refused(result, owner)


def test_an_upper_case_extension_is_refused_not_ignored(tmp_path: Path) -> None:
    directory = tmp_path / "migrations"
    directory.mkdir()
    (directory / "001_a.sql").write_text("CREATE TABLE a (id TEXT PRIMARY KEY);\n")
    (directory / "002_b.SQL").write_text("ALTER TABLE a ADD COLUMN b TEXT;\n")
    with pytest.raises(MigrationSetError, match=r"002_b\.SQL: write the extension in lower case"):
        load_migrations(directory)


# --- output that cannot be written, checked before the run -----------------------------


def _tiny(tmp_path: Path) -> Path:
    directory = tmp_path / "tiny"
    directory.mkdir()
    (directory / "001_a.sql").write_text("CREATE TABLE a (id TEXT PRIMARY KEY, n INTEGER);\n")
    return directory


@pytest.mark.parametrize("where", ["json", "junit", "out", "replay-dir"])
def test_an_unwritable_output_fails_before_the_run_and_writes_nothing(
    tmp_path: Path, where: str
) -> None:
    """/proc takes no new files: the run must not start, and nothing is half-written."""
    out = tmp_path / "out"
    unwritable = "/proc/nexus-test/report.json"
    if where == "json":
        args = ["matrix", "--migrations", str(_tiny(tmp_path)), *SMALL, "--json", unwritable]
    elif where == "replay-dir":
        args = ["matrix", "--migrations", str(_tiny(tmp_path)), *SMALL]
        args += ["--replay-dir", "/proc/nexus-test/replays"]
    else:
        target = ["--junit", unwritable] if where == "junit" else []
        out = Path("/proc/nexus-test") if where == "out" else out
        args = ["report", "--migrations", str(_tiny(tmp_path)), *SMALL, "--out", str(out)]
        args += target
    result = CliRunner().invoke(compat_main, args)
    message = assert_refused(result, "/proc/nexus-test/", "cannot be written")
    assert ".tmp" not in message  # the path given, never a temporary file
    assert not (tmp_path / "out").exists()
    assert "cell" not in result.output  # no cell ran


def test_a_report_run_keeps_no_replays_from_an_earlier_run(tmp_path: Path) -> None:
    replays = tmp_path / "out" / "replays"
    replays.mkdir(parents=True)
    (replays / "replay-v1-v3.json").write_text("{}")
    (replays / "notes.txt").write_text("mine")
    args = ["report", "--migrations", str(_tiny(tmp_path)), *SMALL]
    result = CliRunner().invoke(compat_main, [*args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert not (replays / "replay-v1-v3.json").exists()  # a green run ships no old failures
    assert (replays / "notes.txt").read_text() == "mine"  # and deletes nothing else


def test_ctrl_c_is_not_a_failed_check() -> None:
    import click

    from nexus_core.cli import EXIT_INTERRUPTED, NexusGroup

    @click.group(cls=NexusGroup)
    def group() -> None:
        pass

    @group.command()
    def slow() -> None:
        raise KeyboardInterrupt

    result = CliRunner().invoke(group, ["slow"])
    assert result.exit_code == EXIT_INTERRUPTED == 130


@pytest.mark.parametrize(
    "args", [["matrix", "--examples", "0"], ["matrix", "--bogus"], ["lint", "extra"]]
)
def test_a_bad_option_is_one_line_too(args: list[str]) -> None:
    result = CliRunner().invoke(compat_main, args)
    assert_refused(result, "(see --help)")


def test_another_migration_set_is_named_as_such_not_as_an_edit(tmp_path: Path) -> None:
    mine, theirs = tmp_path / "mine", tmp_path / "theirs"
    for folder, text in ((mine, "Chess club members"), (theirs, "Garden beds")):
        folder.mkdir()
        (folder / "001_start.sql").write_text(
            f"-- Description: {text}\nCREATE TABLE t_{folder.name} (id TEXT PRIMARY KEY);\n"
        )
    db = str(tmp_path / "app.db")
    assert CliRunner().invoke(nexus_main, ["migrate", db, "--migrations", str(mine)]).exit_code == 0
    result = CliRunner().invoke(nexus_main, ["verify", db, "--migrations", str(theirs)])
    assert_refused(result, "ran another v1", "Chess club members", "--migrations")


def test_a_replica_never_migrates_down(tmp_path: Path) -> None:
    """Going down drops columns whose values the peers will never send again."""
    from nexus_core import open_replica

    db = tmp_path / "phone.db"
    replica = open_replica(db)
    replica.insert("lists", {"name": "Home"})
    replica.close()
    before = db.read_bytes()
    result = CliRunner().invoke(nexus_main, ["migrate", str(db), "--to", "1"])
    assert_refused(result, "sync replica", "restore a backup")
    assert db.read_bytes() == before


def test_sync_refuses_a_file_no_migration_ran_on(tmp_path: Path) -> None:
    import sqlite3

    from nexus_core import open_replica

    open_replica(tmp_path / "a.db").close()
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE z (id TEXT PRIMARY KEY)")
    before = other.read_bytes()
    result = CliRunner().invoke(nexus_main, ["sync", str(tmp_path / "a.db"), str(other)])
    assert_refused(result, "other.db is at v0")
    assert other.read_bytes() == before


def test_build_into_a_missing_folder_is_refused_not_made(tmp_path: Path) -> None:
    result = CliRunner().invoke(compat_main, ["build", "1", str(tmp_path / "nope" / "x.db")])
    assert_refused(result, "no folder")
    assert not (tmp_path / "nope").exists()
