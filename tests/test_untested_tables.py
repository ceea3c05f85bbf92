"""A table no generated row can enter is reported, not silently counted as in sync."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from harness.checks import allowed
from harness.cli import main
from harness.matrix import MatrixConfig, run_matrix

SCHEMA = """
CREATE TABLE codes (code_id TEXT PRIMARY KEY NOT NULL,
                    code TEXT NOT NULL CHECK (length(code) = 3 AND code GLOB '[A-Z][A-Z][0-9]'));
CREATE TABLE sensors (sensor_id TEXT PRIMARY KEY NOT NULL,
                      kind TEXT NOT NULL CHECK (kind IN ('temp', 'co2')),
                      level INTEGER NOT NULL CHECK (level BETWEEN 1 AND 3));
"""


def _migrations(tmp_path: Path) -> Path:
    directory = tmp_path / "migrations"
    directory.mkdir()
    (directory / "001_init.sql").write_text(SCHEMA, encoding="utf-8")
    return directory


def test_check_hints_let_enum_and_range_tables_get_rows_and_flag_the_rest(tmp_path: Path) -> None:
    config = MatrixConfig(migrations=_migrations(tmp_path), examples=10, jobs=1, relay=False)
    [cell] = run_matrix(config).cells
    assert cell.observed == "full"
    assert cell.untested_tables == ["codes"]  # the GLOB is beyond the hints; sensors got rows
    result = CliRunner().invoke(
        main,
        [
            "matrix",
            "--migrations",
            str(tmp_path / "migrations"),
            "--examples",
            "5",
            "--jobs",
            "1",
            "--no-relay",
        ],
    )
    assert result.exit_code == 0
    assert "no generated row was accepted by codes" in result.stderr


def test_check_hints() -> None:
    assert allowed("kind", ["kind IN('temp','co2')"]).choices == ("temp", "co2")
    assert allowed("level", ["level BETWEEN 1 AND 3"]).low == 1
    hint = allowed("n", ["n >= 0 AND n < 10"])
    assert (hint.low, hint.high) == (0, 9)
    assert not allowed("other", ["kind IN('temp')"]).known
    assert not allowed("kind", ["subkind IN('x')"]).known
