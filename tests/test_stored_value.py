"""``stored_value`` agrees with what SQLite really stores, at the 64-bit edges too.

A float in a NUMERIC or INTEGER column becomes an integer only when SQLite
turns it into one: integral, and inside (not at) the 64-bit integer range.
-2.0**63 is integral and converts to the smallest integer, but SQLite keeps it
a float; the writer's op must say so, or its peers store another type.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from nexus_core import open_replica, sync
from nexus_core.db.schema import Column, snapshot
from nexus_core.errors import NexusError
from nexus_core.merge import stored_value

DECLARED = ("NUMERIC", "INTEGER", "REAL", "DECIMAL(10, 2)", "BOOLEAN", "INT", "DOUBLE", "")
EDGES = (2.0**63, 2.0**53, 2.0**52, 2.0**51, 2.0**31, 1.0, 0.0)


@pytest.fixture(scope="module")
def table(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[sqlite3.Connection, dict[str, Column]]]:
    """A real SQLite table with a column per declared type, and those columns as read."""
    conn = sqlite3.connect(tmp_path_factory.mktemp("stored") / "types.db")
    columns = ", ".join(f"c{i} {declared}" for i, declared in enumerate(DECLARED))
    conn.execute(f"CREATE TABLE t (id INTEGER PRIMARY KEY, {columns})")
    found = {c.name: c for c in snapshot(conn).tables["t"].columns if c.name != "id"}
    yield conn, found
    conn.close()


def as_sqlite_stores(
    conn: sqlite3.Connection, columns: dict[str, Column], value: float | int
) -> dict[str, tuple[str, object]]:
    conn.execute("DELETE FROM t")
    names = list(columns)
    conn.execute(
        f"INSERT INTO t (id, {', '.join(names)}) VALUES (1, {', '.join('?' * len(names))})",
        [value] * len(names),
    )
    row = conn.execute(f"SELECT {', '.join(f'typeof({n}), {n}' for n in names)} FROM t").fetchone()
    return {name: (row[2 * i], row[2 * i + 1]) for i, name in enumerate(names)}


def python_type(value: object) -> str:
    return {int: "integer", float: "real"}[type(value)]


def ulps_from(edge: float, steps: int) -> float:
    value = edge
    for _ in range(abs(steps)):
        value = math.nextafter(value, math.inf if steps > 0 else -math.inf)
    return value


near_edges = st.builds(
    ulps_from, st.sampled_from(EDGES + tuple(-e for e in EDGES)), st.integers(-4, 4)
)
floats = st.one_of(near_edges, st.floats(allow_nan=False, allow_infinity=False))
ints = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.sampled_from([2**63 - 1, -(2**63), 2**53 + 1, -(2**53) - 1, 2**63 - 512, 2**63 - 513]),
)


@given(value=st.one_of(floats, ints))
@example(value=-(2.0**63))
@example(value=2.0**63)
@example(value=2.0**63 - 1024)
@example(value=-(2.0**63) + 1024)
@example(value=2.0**53 + 2)
@example(value=float(2**53 + 1))
@example(value=-0.0)
@example(value=2**63 - 1)
def test_stored_value_is_what_sqlite_stores(
    table: tuple[sqlite3.Connection, dict[str, Column]], value: float | int
) -> None:
    conn, columns = table
    stored = as_sqlite_stores(conn, columns, value)
    for name, column in columns.items():
        predicted = stored_value(column, value)
        kind, held = stored[name]
        assert (python_type(predicted), predicted) == (kind, held), (column.type, value)


@pytest.mark.parametrize("declared", ["NUMERIC", "DECIMAL(20, 0)"])
def test_writer_and_peer_store_the_same_type(tmp_path: Path, declared: str) -> None:
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    (migrations / "001_init.sql").write_text(
        f"CREATE TABLE entries (id INTEGER PRIMARY KEY, amount {declared});", encoding="utf-8"
    )
    amounts = [-(2.0**63), 2.0**63, 2.0**63 - 1024, -(2.0**63) + 1024, 2.0**53, 0.5, -0.0]
    query = "SELECT id, quote(amount), typeof(amount) FROM entries ORDER BY id"
    with (
        open_replica(tmp_path / "a.db", migrations=migrations, peer_id="a") as a,
        open_replica(tmp_path / "b.db", migrations=migrations, peer_id="b") as b,
    ):
        a.insert_many("entries", [{"id": n, "amount": v} for n, v in enumerate(amounts)])
        for n, amount in enumerate(amounts, start=100):  # the same values by update
            a.insert("entries", {"id": n, "amount": 0})
            a.update("entries", n, {"amount": amount})
        sync(a, b)
        written = a.conn.execute(query).fetchall()
        assert [row[1:] for row in written[: len(amounts)]] == [
            row[1:] for row in written[len(amounts) :]
        ]
        assert written[0][2] == "real", "-2.0**63 stays a float"
        assert b.conn.execute(query).fetchall() == written
        assert a.rows("entries") == b.rows("entries")


def test_a_value_a_default_stores_reaches_peers_of_that_version(tmp_path: Path) -> None:
    """An INTEGER column defaulting to CURRENT_TIMESTAMP (or 'walk-in') stores text.

    The writer sends that text; a peer refusing it would fill its own default, a
    different time, and the two would never agree.
    """
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "001_visits.sql").write_text(
        "CREATE TABLE visits (visit_id TEXT PRIMARY KEY NOT NULL, patient TEXT NOT NULL,"
        " logged_at INTEGER NOT NULL DEFAULT CURRENT_TIMESTAMP,"
        " kind INTEGER DEFAULT 'walk-in', seats INTEGER DEFAULT 2);",
        encoding="utf-8",
    )
    a = open_replica(tmp_path / "a.db", migrations=folder, peer_id="a")
    b = open_replica(tmp_path / "b.db", migrations=folder, peer_id="b")
    a.insert("visits", {"patient": "Ann"})
    assert sync(a, b).rejected == 0
    assert a.rows("visits") == b.rows("visits")
    assert isinstance(b.rows("visits")[0]["logged_at"], str)
    # A column whose type and default both store integers still refuses text.
    with pytest.raises(NexusError, match="needs an integer"):
        a.insert("visits", {"patient": "Bo", "seats": "two"})
    a.close()
    b.close()


def test_an_any_column_of_a_strict_table_keeps_every_value_as_given(tmp_path: Path) -> None:
    """``ANY`` is NUMERIC in a plain table but has no affinity in a STRICT one:
    1.0 stays a REAL, '0012' stays text and a blob is taken. The writer must send
    what it stored, or a peer of the same version stores another type for good."""
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "001_kv.sql").write_text(
        "CREATE TABLE kv (k TEXT PRIMARY KEY NOT NULL, v ANY) STRICT;"
        " CREATE TABLE loose (k TEXT PRIMARY KEY NOT NULL, v ANY);",
        encoding="utf-8",
    )
    values = [1.0, -0.0, 2.5, 7, "0012", "text", b"\x00\x01", None]
    query = "SELECT k, quote(v), typeof(v) FROM {} ORDER BY k"
    with (
        open_replica(tmp_path / "a.db", migrations=folder, peer_id="a") as a,
        open_replica(tmp_path / "b.db", migrations=folder, peer_id="b") as b,
    ):
        a.insert_many("kv", [{"k": f"i{n}", "v": v} for n, v in enumerate(values)])
        for n, v in enumerate(values):  # the same values by update
            a.insert("kv", {"k": f"u{n}", "v": "x"})
            a.update("kv", f"u{n}", {"v": v})
        for n, v in enumerate(values[:5]):  # numbers only: a plain ANY is NUMERIC
            a.insert("loose", {"k": f"i{n}", "v": v})
        assert sync(a, b).rejected == 0
        strict = a.conn.execute(query.format("kv")).fetchall()
        kinds = [row[2] for row in strict if row[0].startswith("i")]
        assert kinds == ["real", "real", "real", "integer", "text", "text", "blob", "null"]
        assert [row[1:] for row in strict if row[0].startswith("u")] == [
            row[1:] for row in strict if row[0].startswith("i")
        ]
        assert b.conn.execute(query.format("kv")).fetchall() == strict
        loose = a.conn.execute(query.format("loose")).fetchall()
        assert [row[2] for row in loose] == ["integer", "integer", "real", "integer", "integer"]
        assert b.conn.execute(query.format("loose")).fetchall() == loose
        assert a.rows("kv") == b.rows("kv")
