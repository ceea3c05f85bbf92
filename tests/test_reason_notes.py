"""A row missing after an upgrade says whether a migration deleted or made it.

"row X held by B never reached A" sent developers to debug sync when A's own
upgrade had deleted the row, or B's migrations had made it where no op
carries it (review BAH-6).
"""

from __future__ import annotations

from pathlib import Path

from folders import migrations_folder

from harness.matrix import MatrixConfig, run_matrix

BOARDINGS = "CREATE TABLE boardings (id INTEGER PRIMARY KEY, dog TEXT NOT NULL);"


def _reasons(tmp_path: Path, *files: str) -> dict[tuple[int, int], list[str]]:
    folder = migrations_folder(tmp_path, *files)
    config = MatrixConfig(
        migrations=folder, examples=3, seed=1, jobs=1, relay=False, replay_dir=tmp_path / "r"
    )
    return {(c.local, c.peer): c.reasons for c in run_matrix(config).cells}


def test_a_row_the_upgrade_deleted_is_named_so(tmp_path: Path) -> None:
    reasons = _reasons(tmp_path, BOARDINGS, "DELETE FROM boardings;")
    said = [r for r in reasons[(1, 2)] if "never reached A (v2)" in r]
    assert said and all("A's upgrade to v2 removed it" in r for r in said), reasons[(1, 2)]


def test_a_row_a_migration_made_is_named_so(tmp_path: Path) -> None:
    seed = "CREATE TABLE kinds (id INTEGER PRIMARY KEY, name TEXT);"
    seed += " INSERT INTO kinds (id, name) VALUES (abs(random()) % 1000 + 1, 'walk');"
    reasons = _reasons(tmp_path, BOARDINGS, seed)
    said = [r for r in reasons[(1, 2)] if "kinds row" in r and "never reached A" in r]
    assert said and all("B made it outside the oplog" in r for r in said), reasons[(1, 2)]
