"""Today's migrations against each release's recorded truth in ``fixtures/versions``.

The fixtures were written when each version was released and are never
regenerated here: a failure means a released migration changed.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from nexus_core.db.connection import connect
from nexus_core.db.dump import canonical_schema_dump, data_dump, load_data_dump
from nexus_core.db.migrations import get_current_version, load_migrations, migrate
from nexus_core.errors import DatabaseError

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "versions"
MIGRATIONS = load_migrations(ROOT / "migrations")
LATEST = MIGRATIONS[-1].version
VERSIONS = [m.version for m in MIGRATIONS]


def fixture(version: int, name: str) -> str:
    return (FIXTURES / f"v{version:03d}" / name).read_text(encoding="utf-8")


def fresh(version: int) -> sqlite3.Connection:
    conn = connect(":memory:", wal=False)
    conn.execute("PRAGMA foreign_keys = ON")
    migrate(conn, MIGRATIONS, target=version)
    return conn


def rows(conn: sqlite3.Connection, table: str) -> list[dict[str, object]]:
    cursor = conn.execute(f"SELECT * FROM {table} ORDER BY rowid")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor]


def app_tables(conn: sqlite3.Connection) -> list[str]:
    return [
        name
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
            " AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '\\_nexus\\_%' ESCAPE '\\'"
            " AND name != 'schema_version' ORDER BY name"
        )
    ]


def test_there_is_a_fixture_folder_for_every_version() -> None:
    assert sorted(p.name for p in FIXTURES.iterdir() if p.is_dir()) == [
        f"v{v:03d}" for v in VERSIONS
    ]


@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: f"v{v}")
def test_a_fresh_build_reproduces_the_released_schema(version: int) -> None:
    conn = fresh(version)
    assert canonical_schema_dump(conn) == fixture(version, "schema.sql")
    conn.close()


@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: f"v{v}")
def test_released_data_survives_the_upgrade_to_latest(version: int) -> None:
    conn = fresh(version)
    loaded = load_data_dump(conn, fixture(version, "data.sql"))
    assert loaded >= 5
    tables = app_tables(conn)
    before = {table: rows(conn, table) for table in tables}
    assert all(before[t] for t in ("lists", "tasks"))
    if version >= 4:
        assert before["comments"]

    migrate(conn, MIGRATIONS)
    assert get_current_version(conn) == LATEST
    assert canonical_schema_dump(conn) == fixture(LATEST, "schema.sql")
    for table in tables:
        after = rows(conn, table)
        assert len(after) == len(before[table])
        for old, new in zip(before[table], after, strict=True):
            assert {k: new[k] for k in old} == old  # every old column kept its value
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    conn.close()


@pytest.mark.parametrize("version", VERSIONS[:-1], ids=lambda v: f"v{v}")
def test_upgraded_rows_get_the_new_columns_defaults(version: int) -> None:
    conn = fresh(version)
    load_data_dump(conn, fixture(version, "data.sql"))
    migrate(conn, MIGRATIONS)
    if version < 2:
        assert {r["priority"] for r in rows(conn, "tasks")} == {0}
    if version < 3:
        assert {r["tags"] for r in rows(conn, "tasks")} == {"[]"}
    conn.close()


@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: f"v{v}")
def test_down_then_up_round_trips_to_the_released_schema(version: int) -> None:
    conn = fresh(LATEST)
    migrate(conn, MIGRATIONS, target=version)
    assert canonical_schema_dump(conn) == fixture(version, "schema.sql")
    migrate(conn, MIGRATIONS, target=max(version - 1, 0))
    migrate(conn, MIGRATIONS, target=version)
    load_data_dump(conn, fixture(version, "data.sql"))
    dumped = data_dump(conn)
    migrate(conn, MIGRATIONS)
    assert canonical_schema_dump(conn) == fixture(LATEST, "schema.sql")
    migrate(conn, MIGRATIONS, target=version)
    assert canonical_schema_dump(conn) == fixture(version, "schema.sql")
    assert data_dump(conn) == dumped  # what this version holds survived the way up and down
    conn.close()


def test_a_data_dump_reloads_to_the_same_dump() -> None:
    source = fresh(LATEST)
    load_data_dump(source, fixture(LATEST, "data.sql"))
    text = data_dump(source)
    copy = fresh(LATEST)
    assert load_data_dump(copy, text) == len(text.splitlines())
    assert data_dump(copy) == text
    source.close()
    copy.close()


def test_loading_refuses_anything_but_inserts_and_rolls_back_on_error() -> None:
    conn = fresh(LATEST)
    with pytest.raises(DatabaseError, match="not an INSERT"):
        load_data_dump(
            conn, "INSERT INTO lists (list_id, name) VALUES ('a', 'A');\nDROP TABLE tasks;"
        )
    with pytest.raises(DatabaseError, match="foreign key"):
        load_data_dump(
            conn,
            "INSERT INTO lists (list_id, name) VALUES ('a', 'A');\n"
            "INSERT INTO tasks (task_id, list_id, content) VALUES ('t', 'nowhere', 'x');",
        )
    assert conn.execute("SELECT COUNT(*) FROM lists").fetchone() == (0,)
    conn.close()
