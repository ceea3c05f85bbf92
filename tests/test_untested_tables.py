"""A table no generated row can enter is reported, not silently counted as in sync."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from harness.checks import allowed
from harness.cli import main
from harness.matrix import MatrixConfig, run_matrix
from harness.patterns import Pattern

SCHEMA = """
CREATE TABLE codes (code_id TEXT PRIMARY KEY NOT NULL,
                    code TEXT NOT NULL CHECK (instr(code, '-') = 4));
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
    assert cell.untested_tables == ["codes"]  # instr() is beyond the hints; sensors got rows
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


def test_the_report_warns_of_untested_tables_too(tmp_path: Path) -> None:
    """Only the matrix command said so: the report read "Result: OK" (review BAA H7)."""
    out = tmp_path / "report"
    args = ["report", "--migrations", str(_migrations(tmp_path)), "--examples", "5"]
    result = CliRunner().invoke(main, [*args, "--jobs", "1", "--no-relay", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "warning: no generated row was accepted by codes" in result.stderr
    warning = "no generated row was accepted by codes in some cells"
    assert f"- Warning: {warning}" in (out / "compatibility.md").read_text(encoding="utf-8")
    assert warning in (out / "compatibility.html").read_text(encoding="utf-8")


def test_check_hints() -> None:
    assert allowed("kind", ["kind IN('temp','co2')"]).choices == ("temp", "co2")
    assert allowed("level", ["level BETWEEN 1 AND 3"]).low == 1
    hint = allowed("n", ["n >= 0 AND n < 10"])
    assert (hint.low, hint.high) == (0, 9)
    assert not allowed("other", ["kind IN('temp')"]).known
    assert not allowed("kind", ["subkind IN('x')"]).known
    assert allowed("e", ["e LIKE '%@%'"]).pattern == Pattern("%@%", glob=False)
    assert allowed("e", ["e GLOB 'a''b*'"]).pattern == Pattern("a'b*", glob=True)
    assert not allowed("e", ["e NOT LIKE '%@%'"]).known
    assert not allowed("e", ["NOT (e LIKE '% %')"]).known
    assert not allowed("e", ["e LIKE '%!%%' ESCAPE '!'"]).known


SHAPED = """
CREATE TABLE members (member_id TEXT PRIMARY KEY NOT NULL,
                      email TEXT NOT NULL CHECK (email LIKE '%_@_%.__%'),
                      code TEXT NOT NULL CHECK (length(code) = 4 AND code GLOB '[A-Z][A-Z][0-9]?'),
                      tag TEXT CHECK (tag GLOB 'tag-*'));
"""


def test_like_and_glob_checks_let_their_tables_get_rows(tmp_path: Path) -> None:
    """Text is built from the pattern (the replica's token where it takes any run)."""
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "001_init.sql").write_text(SHAPED, encoding="utf-8")
    config = MatrixConfig(migrations=folder, examples=10, jobs=1, relay=False)
    [cell] = run_matrix(config).cells
    assert (cell.observed, cell.untested_tables) == ("full", [])


def test_a_unique_added_over_a_like_or_glob_column_is_caught(tmp_path: Path) -> None:
    """Before, no row entered such a table, and the break went unseen (cells full)."""
    for check in ("email LIKE '%_@_%'", "email GLOB '[A-Z][A-Z][0-9][0-9]'"):
        folder = tmp_path / check[6:10] / "migrations"
        folder.mkdir(parents=True)
        (folder / "001_init.sql").write_text(
            f"CREATE TABLE members (id TEXT PRIMARY KEY, email TEXT NOT NULL CHECK ({check}));",
            encoding="utf-8",
        )
        (folder / "002_unique.sql").write_text(
            "CREATE UNIQUE INDEX ux_members_email ON members (email);", encoding="utf-8"
        )
        config = MatrixConfig(migrations=folder, examples=12, seed=1, jobs=1, relay=False)
        broken = {(c.local, c.peer) for c in run_matrix(config).cells if c.observed == "broken"}
        assert broken == {(1, 2), (2, 1)}, check


def test_a_negated_comparison_is_read_as_the_bound_it_is() -> None:
    """``NOT (qty < 0)`` is qty >= 0 (it read as qty <= -1, so the hints drew only
    values the CHECK refuses); bounds that contradict (an OR read as an AND) are no hint."""
    negated = allowed("qty", ["NOT (qty < 0)"])
    assert (negated.low, negated.high) == (0, None)
    assert (allowed("qty", ["NOT(qty <= 5)"]).low, allowed("qty", ["qty > 0"]).low) == (6, 1)
    either = allowed("qty", ["qty < 0 OR qty > 9"])
    assert (either.low, either.high, either.known) == (None, None, False)
