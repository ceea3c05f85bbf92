"""The judge pairs tables and columns as sync does: ignoring case, in any order."""

from __future__ import annotations

from pathlib import Path

from folders import migrations_folder

from harness.judge import compare_rows
from harness.matrix import MatrixConfig, run_matrix
from nexus_core import open_replica

STATIONS = """CREATE TABLE stations (
    code TEXT PRIMARY KEY NOT NULL, Label TEXT NOT NULL, elevation REAL
) WITHOUT ROWID;"""


def cells(folder: Path) -> dict[tuple[int, int], str]:
    config = MatrixConfig(migrations=folder, examples=8, jobs=1, relay=False)
    return {(c.local, c.peer): c.observed for c in run_matrix(config).cells}


def test_a_case_only_rename_syncs_in_full(tmp_path: Path) -> None:
    folder = migrations_folder(
        tmp_path, STATIONS, "ALTER TABLE stations RENAME COLUMN Label TO label;"
    )
    assert set(cells(folder).values()) == {"full"}


def test_a_rebuild_that_only_reorders_columns_syncs_in_full(tmp_path: Path) -> None:
    rebuild = """CREATE TABLE s2 (
        elevation REAL, code TEXT PRIMARY KEY NOT NULL, Label TEXT NOT NULL
    );
    INSERT INTO s2 (elevation, code, Label) SELECT elevation, code, Label FROM stations;
    DROP TABLE stations;
    ALTER TABLE s2 RENAME TO stations;"""
    assert set(cells(migrations_folder(tmp_path, STATIONS, rebuild)).values()) == {"full"}


def test_a_case_only_renamed_column_is_still_compared(tmp_path: Path) -> None:
    """Paired by exact name, Label and label were not compared at all."""
    folder = migrations_folder(
        tmp_path, STATIONS, "ALTER TABLE stations RENAME COLUMN Label TO label;"
    )
    a = open_replica(tmp_path / "a.db", migrations=folder, target_version=1, peer_id="a")
    b = open_replica(tmp_path / "b.db", migrations=folder, peer_id="b")
    a.insert("stations", {"code": "OSL", "Label": "Oslo"})
    b.insert("stations", {"code": "OSL", "label": "Bergen"})  # same row, written apart
    a.conn.execute("UPDATE stations SET Label = 'Oslo' WHERE code = 'OSL'")  # as if diverged
    b.conn.execute("UPDATE stations SET label = 'Bergen' WHERE code = 'OSL'")
    assert any("diverged" in problem for problem in compare_rows(a, b, both_ways=True))


def test_ops_for_a_table_not_replicated_yet_are_parked_with_a_warning_not_broken(
    tmp_path: Path,
) -> None:
    """v1's sets have a composite key (not replicated); v2 gives them an id. v1 warns
    'table not replicated here ... skipped and parked': the judge must see that warning."""
    v1 = """CREATE TABLE sets (workout TEXT NOT NULL, n INTEGER NOT NULL, reps INTEGER,
        PRIMARY KEY (workout, n));"""
    v2 = """CREATE TABLE sets_new (id TEXT PRIMARY KEY, workout TEXT NOT NULL,
        n INTEGER NOT NULL, reps INTEGER);
    INSERT INTO sets_new SELECT workout || ':' || n, workout, n, reps FROM sets;
    DROP TABLE sets;
    ALTER TABLE sets_new RENAME TO sets;"""
    found = cells(migrations_folder(tmp_path, v1, v2))
    assert found[1, 2] == "partial" and "broken" not in found.values()


def test_a_row_held_back_by_a_refusal_says_so_not_a_missing_column(tmp_path: Path) -> None:
    """Every value arrived; SQLite refused the row they make (a UNIQUE clash)."""
    folder = migrations_folder(
        tmp_path,
        "CREATE TABLE badges (badge_id TEXT PRIMARY KEY NOT NULL, label TEXT NOT NULL UNIQUE);",
    )
    a = open_replica(tmp_path / "a.db", migrations=folder, peer_id="a")
    b = open_replica(tmp_path / "b.db", migrations=folder, peer_id="b")
    a.insert("badges", {"badge_id": "r1", "label": "gold"})
    b.insert("badges", {"badge_id": "r2", "label": "gold"})
    a.receive(b.export_changes())
    [problem] = compare_rows(a, b, both_ways=False)
    assert "row 'r2'" in problem and "refuses the row its values make" in problem
    assert "requires" not in problem
    a.close()
    b.close()
