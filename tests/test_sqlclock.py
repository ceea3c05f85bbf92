"""Migrations the harness runs read a clock and randomness of their build's own.

A seed row stamped with ``CURRENT_TIMESTAMP`` gives each device its own value
when it upgrades: a real break, which the matrix saw only when a template build
and an upgrade fell in different seconds (reviews BAG-2, BAH-7). Pinned, every
build differs from every other and the same seed gives the same report.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from folders import migrations_folder

from harness.matrix import MatrixConfig, run_matrix
from harness.sqlclock import pinned

NOW_FORMS = (
    "current_timestamp, current_date, current_time, date('now'), date(), time('now', '+1 hour'),"
    " datetime('now'), julianday('now'), unixepoch(), strftime('%s', 'now'), strftime('%Y'),"
    " random(), randomblob(3)"
)


def _read(conn: sqlite3.Connection) -> tuple[object, ...]:
    return tuple(conn.execute(f"SELECT {NOW_FORMS}").fetchone())


def test_a_pinned_build_reads_its_own_clock_and_stream() -> None:
    conn = sqlite3.connect(":memory:")
    with pinned(conn, 3):
        first = _read(conn)
    with pinned(conn, 3):
        again = _read(conn)
    with pinned(conn, 4):
        other = _read(conn)
    assert first == again
    assert first[:3] == ("2026-01-01 00:00:03", "2026-01-01", "00:00:03")
    assert first[5] == "01:00:03" and first[8] == 1767225603
    assert (first[0], first[11], first[12]) != (other[0], other[11], other[12])
    assert other[0] == "2026-01-01 00:00:04"
    # Outside a block, SQLite's own: the wall clock, and other random values each time.
    assert _read(conn)[0] not in (first[0], other[0])
    assert _read(conn)[11] != _read(conn)[11]
    assert conn.execute("SELECT datetime('2020-01-01', '+1 day')").fetchone()[0] == (
        "2020-01-02 00:00:00"
    )
    conn.close()


def test_a_pinned_block_serves_defaults_indexes_and_checks() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute(
        "CREATE TABLE t (a TEXT CHECK (a IS NULL OR date(a) IS NOT NULL),"
        " b TEXT DEFAULT CURRENT_TIMESTAMP, c BLOB DEFAULT (randomblob(4)))"
    )
    with pinned(conn, 7):
        conn.execute("CREATE INDEX t_day ON t (date(a))")
        conn.execute("INSERT INTO t (a) VALUES ('2024-05-01 10:00:00')")
    conn.execute("INSERT INTO t (a) VALUES ('2024-05-02')")
    rows = conn.execute("SELECT b, length(c) FROM t ORDER BY a").fetchall()
    assert rows[0] == ("2026-01-01 00:00:07", 4) and rows[1][0] != rows[0][0]
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()


SEEDED = (
    "CREATE TABLE services (id INTEGER PRIMARY KEY, name TEXT NOT NULL);",
    "CREATE TABLE kinds (id INTEGER PRIMARY KEY, name TEXT NOT NULL,"
    " created_at TEXT DEFAULT CURRENT_TIMESTAMP);"
    " INSERT INTO kinds (id, name) VALUES (1, 'oil'), (2, 'tyres');",
)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_seed_rows_stamped_at_upgrade_break_the_cell_every_run(tmp_path: Path, seed: int) -> None:
    """It read partial on two seeds in three (the upgrade fell in the template's second)."""
    folder = migrations_folder(tmp_path, *SEEDED)
    config = MatrixConfig(
        migrations=folder, examples=3, seed=seed, jobs=1, relay=False, replay_dir=tmp_path / "r"
    )
    cells = {(c.local, c.peer): c for c in run_matrix(config).cells}
    assert cells[(1, 2)].observed == "broken", cells[(1, 2)].reasons
    assert any("kinds.created_at" in reason for reason in cells[(1, 2)].reasons)
    assert cells[(2, 2)].observed == "full"
