"""The ``nexus-compat`` CLI: build, lint, matrix, report, replay; every refusal is exit 2.

Runs through click's CliRunner (plus a few real subprocesses) on tiny histories
from ``fixtures/histories`` with ``--examples 3 --jobs 1 --no-relay`` so the
whole module stays fast.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import jsonschema
import pytest
from click.testing import CliRunner, Result
from folders import migrations_folder

from harness.cli import _Reporter, main
from nexus_core import get_current_version
from nexus_core.db.schema import is_internal_table, snapshot

ROOT = Path(__file__).resolve().parent.parent
HISTORIES = ROOT / "fixtures" / "histories"
SAFE = HISTORIES / "add_nullable_column" / "migrations"
BREAKING = HISTORIES / "drop_not_null_column" / "migrations"
WRONG_DOCUMENT = HISTORIES / "wrong_document"
SCHEMA = ROOT / "docs" / "compatibility.schema.json"
SMALL = ("--examples", "3", "--jobs", "1", "--no-relay")
CELL_KEYS = {
    "local",
    "peer",
    "expected",
    "observed",
    "ok",
    "examples",
    "ops_sent",
    "ops_applied",
    "ops_skipped_unknown",
    "ops_rejected",
    "heals_on_upgrade",
    "reasons",
}
TESTED_COMMANDS = ("build", "lint", "matrix", "report", "replay")  # bench is tested elsewhere


def invoke(*args: str | int | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def assert_refused(result: Result, *fragments: str) -> None:
    """Exit 2, exactly one ``Error: ...`` line on stderr naming ``fragments``, no traceback."""
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)
    for fragment in fragments:
        assert fragment in lines[0]


def compat_script() -> str:
    """The installed ``nexus-compat`` console script next to this interpreter."""
    beside = Path(sys.executable).parent / "nexus-compat"
    found = str(beside) if beside.exists() else shutil.which("nexus-compat")
    assert found, "the nexus-compat console script is not installed"
    return found


def run_script(
    *args: str | Path, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [compat_script(), *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=None if env is None else {**os.environ, **env},
    )


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Run every command from a scratch directory: default outputs must not land in the repo."""
    monkeypatch.chdir(tmp_path)
    yield tmp_path


def copy_history(source: Path, destination: Path) -> Path:
    shutil.copytree(source, destination)
    return destination


# --- bad migration directories -------------------------------------------------------------


def gap_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "gap"
    directory.mkdir()
    shutil.copy(SAFE / "001_initial_garden.sql", directory)
    shutil.copy(SAFE / "002_plant_sunlight.sql", directory / "003_plant_sunlight.sql")
    return directory


def duplicate_dir(tmp_path: Path) -> Path:
    directory = copy_history(SAFE, tmp_path / "duplicate")
    shutil.copy(SAFE / "002_plant_sunlight.sql", directory / "002_plant_water.sql")
    return directory


def failing_sql_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "failing"
    directory.mkdir()
    shutil.copy(SAFE / "001_initial_garden.sql", directory)
    (directory / "002_shed_tools.sql").write_text(
        "-- Description: Tools in the shed\nALTER TABLE sheds ADD COLUMN tool TEXT;\n",
        encoding="utf-8",
    )
    return directory


def missing_dir(tmp_path: Path) -> Path:
    return tmp_path / "no-such-migrations"


BAD_DIRS = {
    "gap": (gap_dir, "gap in migration numbering"),
    "duplicate": (duplicate_dir, "duplicate migration number 002"),
    "failing-sql": (failing_sql_dir, "no such table: sheds"),
    "missing": (missing_dir, "not found"),
}


def _bad_dir_cases() -> Iterator[Any]:
    for command in ("lint", "matrix", "report", "build"):
        for case in BAD_DIRS:
            yield pytest.param(command, case, id=f"{command}-{case}")


@pytest.mark.parametrize(("command", "case"), list(_bad_dir_cases()))
def test_bad_migrations_dir_is_refused(command: str, case: str, tmp_path: Path) -> None:
    make, fragment = BAD_DIRS[case]
    directory = make(tmp_path)
    out_db = tmp_path / "out.db"
    out_dir = tmp_path / "report-out"
    commands: dict[str, list[str | Path]] = {
        "lint": ["lint", "--json", tmp_path / "lint.json"],
        "matrix": ["matrix", *SMALL, "--json", tmp_path / "matrix.json"],
        "report": ["report", *SMALL, "--out", out_dir],
        "build": ["build", "2", out_db],
    }
    result = invoke(*commands[command], "--migrations", directory)
    assert_refused(result, fragment)
    assert not out_db.exists()
    assert not out_dir.exists() or not any(out_dir.glob("compatibility.*"))
    assert not (tmp_path / "lint.json").exists()
    assert not (tmp_path / "matrix.json").exists()


def test_bad_migrations_dir_is_refused_by_the_real_script(tmp_path: Path) -> None:
    completed = run_script("lint", "--migrations", gap_dir(tmp_path), cwd=tmp_path)
    assert completed.returncode == 2
    assert completed.stdout == ""
    lines = completed.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ")
    assert "gap in migration numbering, 002 is missing" in lines[0]


# --- build ---------------------------------------------------------------------------------


def app_tables(path: Path) -> dict[str, int]:
    """Row counts of every replicated app table in the database at ``path``."""
    conn = sqlite3.connect(path)
    try:
        schema = snapshot(conn)
        return {
            name: conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
            for name in schema.replicated_tables
        }
    finally:
        conn.close()


def version_of(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return get_current_version(conn)
    finally:
        conn.close()


@pytest.mark.parametrize("version", [1, 2])
def test_build_writes_a_database_at_that_version(version: int, tmp_path: Path) -> None:
    out_db = tmp_path / "garden.db"
    result = invoke("build", version, out_db, "--migrations", SAFE)
    assert result.exit_code == 0, result.output
    assert f"built v{version}" in result.stdout
    assert version_of(out_db) == version
    conn = sqlite3.connect(out_db)
    try:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(plants)")}
    finally:
        conn.close()
    assert ("sunlight" in columns) is (version == 2)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("garden")) == [
        "garden.db"
    ]


def test_build_defaults_to_our_own_migrations(tmp_path: Path) -> None:
    result = invoke("build", 3, tmp_path / "tasks.db")
    assert result.exit_code == 0, result.output
    assert version_of(tmp_path / "tasks.db") == 3


@pytest.mark.parametrize(
    "migrations",
    [
        ROOT / "migrations",
        *sorted(p / "migrations" for p in HISTORIES.iterdir() if (p / "migrations").is_dir()),
    ],
    ids=lambda path: path.parent.name if path.name == "migrations" else str(path),
)
def test_build_with_data_fills_every_replicated_table(migrations: Path, tmp_path: Path) -> None:
    """Every fixture history too: time stamps kept as Unix seconds, JSON by a CHECK,
    a unit a trigger checks against a list (the row's defaults then)."""
    latest = max(int(p.name[:3]) for p in migrations.glob("[0-9]*.sql") if ".down." not in p.name)
    out_db = tmp_path / "filled.db"
    result = invoke("build", latest, out_db, "--migrations", migrations, "--with-data")
    assert result.exit_code == 0, result.output
    counts = app_tables(out_db)
    assert counts, "the schema has replicated tables"
    assert all(not is_internal_table(name) for name in counts)
    assert all(count > 0 for count in counts.values()), counts
    assert version_of(out_db) == latest
    assert not out_db.with_name(out_db.name + ".partial").exists()


def test_build_with_data_is_repeatable_for_a_seed(tmp_path: Path) -> None:
    def rows(name: str) -> list[tuple[Any, ...]]:
        path = tmp_path / name
        assert invoke("build", 2, path, "--migrations", SAFE, "--with-data").exit_code == 0
        conn = sqlite3.connect(path)
        try:
            return conn.execute(
                "SELECT name, planted_on, sunlight FROM plants ORDER BY 1"
            ).fetchall()
        finally:
            conn.close()

    assert rows("one.db") == rows("two.db")


def test_build_refuses_to_overwrite(tmp_path: Path) -> None:
    out_db = tmp_path / "mine.db"
    conn = sqlite3.connect(out_db)
    conn.execute("CREATE TABLE precious (id INTEGER PRIMARY KEY, note TEXT)")
    conn.execute("INSERT INTO precious (note) VALUES ('keep me')")
    conn.commit()
    conn.close()
    before = sha(out_db)
    assert_refused(invoke("build", 1, out_db, "--migrations", SAFE), "mine.db", "already exists")
    assert_refused(invoke("build", 2, out_db, "--migrations", SAFE, "--with-data"), "mine.db")
    assert sha(out_db) == before


def test_build_refuses_an_unknown_version(tmp_path: Path) -> None:
    out_db = tmp_path / "future.db"
    assert_refused(invoke("build", 9, out_db, "--migrations", SAFE), "no version 9", "1..2")
    assert_refused(invoke("build", 0, out_db, "--migrations", SAFE), "no version 0")
    assert list(tmp_path.iterdir()) == []


def test_build_leaves_no_file_when_a_migration_fails(tmp_path: Path) -> None:
    directory = failing_sql_dir(tmp_path)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    assert_refused(invoke("build", 2, out_dir / "shed.db", "--migrations", directory))
    assert list(out_dir.iterdir()) == []


# --- lint ----------------------------------------------------------------------------------


@pytest.mark.parametrize("migrations", [None, SAFE], ids=["ours", "add_nullable_column"])
def test_lint_passes_safe_histories(migrations: Path | None, tmp_path: Path) -> None:
    args: list[str | Path] = ["lint", "--json", tmp_path / "lint.json"]
    if migrations is not None:
        args += ["--migrations", migrations]
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    payload = load_json(tmp_path / "lint.json")
    assert set(payload) == {"ok", "lint"}
    assert payload["ok"] is True
    assert payload["lint"], "one entry per migration"
    assert {entry["verdict"] for entry in payload["lint"]} <= {"safe", "additive"}
    versions = [entry["version"] for entry in payload["lint"]]
    assert versions == list(range(1, len(versions) + 1))


def test_lint_flags_a_breaking_history(tmp_path: Path) -> None:
    result = invoke("lint", "--migrations", BREAKING, "--json", tmp_path / "lint.json")
    assert result.exit_code == 1, result.output
    assert "drop-column" in result.stdout
    payload = load_json(tmp_path / "lint.json")
    assert payload["ok"] is False
    assert [(e["version"], e["verdict"]) for e in payload["lint"]] == [
        (1, "additive"),
        (2, "breaking"),
        (3, "safe"),
    ]
    [finding] = [f for f in payload["lint"][1]["findings"] if f["rule"] == "drop-column"]
    assert {"rule", "table", "column", "message"} <= set(finding)
    assert (finding["table"], finding["column"]) == ("recipes", "source_url")
    assert "v1" in finding["message"]
    assert {f["rule"] for f in payload["lint"][2]["findings"]} == {"add-index"}
    # One closing line names the breaking ones (a long history's table is hundreds of lines).
    assert result.stdout.rstrip().splitlines()[-1] == (
        "3 migration(s): 1 safe, 1 additive, 1 breaking; breaking: v2"
    )


def test_lint_summary_names_tables_that_never_sync(tmp_path: Path) -> None:
    """Not-replicable is additive, so lint passes: the closing line still says which
    tables never sync (review BZ-Q1: a tag link table with a two-column key)."""
    folder = migrations_folder(
        tmp_path,
        "CREATE TABLE notes (id TEXT PRIMARY KEY, body TEXT);"
        " CREATE TABLE note_tags (note_id TEXT, tag TEXT, PRIMARY KEY (note_id, tag));",
    )
    result = invoke("lint", "--migrations", folder)
    assert result.exit_code == 0
    assert result.stdout.rstrip().splitlines()[-1] == (
        "1 migration(s): 1 additive; never synced (see not-replicable): note_tags"
    )
    # Given a key later (or dropped), the table syncs at the latest version: not named
    # (review BAB E1).
    (folder / "002_keyed.sql").write_text(
        "DROP TABLE note_tags; CREATE TABLE note_tags (id TEXT PRIMARY KEY, note_id TEXT);",
        encoding="utf-8",
    )
    keyed = invoke("lint", "--migrations", folder)
    assert "never synced" not in keyed.stdout


# --- matrix --------------------------------------------------------------------------------


def matrix_json(tmp_path: Path, name: str, *extra: str | Path) -> dict[str, Any]:
    out = tmp_path / f"{name}.json"
    result = invoke("matrix", "--migrations", SAFE, *SMALL, "--json", out, *extra)
    assert result.exit_code == 0, result.output
    payload: dict[str, Any] = load_json(out)
    return payload


def test_matrix_passes_a_safe_history(tmp_path: Path) -> None:
    out = tmp_path / "matrix.json"
    result = invoke("matrix", "--migrations", SAFE, *SMALL, "--json", out)
    assert result.exit_code == 0, result.output
    assert "documented matrix: default policy" in result.stdout
    assert "✗" not in result.stdout
    payload = load_json(out)
    assert {"ok", "versions", "cells"} <= set(payload)
    assert payload["ok"] is True
    assert payload["versions"] == [1, 2]
    cells = {(c["local"], c["peer"]): c for c in payload["cells"]}
    assert set(cells) == {(1, 1), (1, 2), (2, 1), (2, 2)}
    for cell in cells.values():
        assert set(cell) >= CELL_KEYS
        assert cell["ok"] is True
        assert cell["reasons"] == []
        assert cell["examples"] >= 3
        assert cell["ops_rejected"] == 0
        assert cell["ops_applied"] + cell["ops_skipped_unknown"] <= cell["ops_sent"]
    assert (cells[1, 1]["expected"], cells[1, 1]["observed"]) == ("full", "full")
    assert (cells[1, 2]["expected"], cells[1, 2]["observed"]) == ("compatible", "partial")
    assert cells[1, 2]["heals_on_upgrade"] is True
    assert not (tmp_path / "reports").exists(), "no replay for a passing matrix"


def test_matrix_same_seed_same_cells_other_seed_other_counts(tmp_path: Path) -> None:
    first = matrix_json(tmp_path, "first", "--seed", "11")
    second = matrix_json(tmp_path, "second", "--seed", "11")
    assert first["cells"] == second["cells"]

    def counts(payload: dict[str, Any]) -> list[tuple[int, ...]]:
        keys = ("examples", "ops_sent", "ops_applied", "ops_skipped_unknown", "ops_rejected")
        return [tuple(c[k] for k in keys) for c in payload["cells"]]

    others = [counts(matrix_json(tmp_path, f"seed{s}", "--seed", str(s))) for s in (12, 13)]
    # The seed reaches the traffic: other seeds draw other examples, hence other counts.
    assert any(other != counts(first) for other in others)


def test_matrix_fails_a_breaking_history_and_the_replay_reproduces_it(tmp_path: Path) -> None:
    out = tmp_path / "matrix.json"
    replays = tmp_path / "replays"
    args = ("matrix", "--migrations", BREAKING, *SMALL, "--json", out, "--replay-dir", replays)
    result = invoke(*args)
    assert result.exit_code == 1, result.output
    stdout = result.stdout
    assert "cell v1-v2: expected compatible, observed broken" in stdout
    assert "cell v1-v3: expected compatible, observed broken" in stdout
    assert "v1 requires source_url" in stdout
    assert "minimal example:" in stdout
    # The change behind the column a reason names, as the report and the plugin say (BP-4).
    assert "breaking between v1 and v2 (lint): v2 drop-column (recipes.source_url)" in stdout

    payload = load_json(out)
    assert payload["ok"] is False
    cells = {(c["local"], c["peer"]): c for c in payload["cells"]}
    broken = {key for key, cell in cells.items() if cell["observed"] == "broken"}
    assert broken == {(1, 2), (1, 3)}
    assert all(cell["ok"] is (key not in broken) for key, cell in cells.items())
    cell = cells[1, 2]
    assert cell["reasons"] and any("source_url" in reason for reason in cell["reasons"])
    replay_file = Path(cell["replay_file"])
    assert replay_file.parent == replays and replay_file.is_file()
    assert f"replay: nexus-compat replay {replay_file}" in stdout

    saved = load_json(replay_file)
    assert (saved["local"], saved["peer"], saved["observed"]) == (1, 2, "broken")
    # The traffic's fixed opening is cut away: a row inserted at v2 is the whole break.
    assert [(s["op"], s["replica"]) for s in saved["steps"]] == [("insert", "b")]
    replayed = invoke("replay", replay_file)
    assert replayed.exit_code == 1, replayed.output
    assert replayed.stdout.startswith("cell v1-v2: broken")
    assert "source_url" in replayed.stdout
    header, *shown = invoke("replay", "--steps", replay_file).stdout.splitlines()
    assert header == "replica a: v1 (local, judged), replica b: v2 (peer)"
    steps = saved["steps"]
    assert [json.loads(line.split(". ", 1)[1]) for line in shown[: len(steps)]] == steps
    assert shown[len(steps)].startswith("cell v1-v2: broken")

    # The same file through the installed script, from another directory.
    completed = run_script("replay", replay_file, cwd=tmp_path / "replays")
    assert completed.returncode == 1, completed.stderr
    assert "cell v1-v2: broken" in completed.stdout
    assert "Traceback" not in completed.stderr


def test_matrix_fails_a_cell_documented_wrongly(tmp_path: Path) -> None:
    out = tmp_path / "matrix.json"
    result = invoke(
        "matrix",
        "--migrations",
        WRONG_DOCUMENT / "migrations",
        "--expected",
        WRONG_DOCUMENT / "expected.md",
        *SMALL,
        "--json",
        out,
    )
    assert result.exit_code == 1, result.output
    assert "cell v1-v2: expected full, observed partial" in result.stdout
    cells = {(c["local"], c["peer"]): c for c in load_json(out)["cells"]}
    assert cells[1, 2]["ok"] is False
    assert cells[1, 2]["reasons"]
    assert all(cells[key]["ok"] for key in cells if key != (1, 2))


# --- report --------------------------------------------------------------------------------


def test_report_writes_every_format_and_validates(tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    junit = tmp_path / "junit" / "junit.xml"
    result = invoke("report", "--migrations", SAFE, *SMALL, "--out", out_dir, "--junit", junit)
    assert result.exit_code == 0, result.output
    for name in ("compatibility.md", "compatibility.json", "compatibility.html"):
        assert (out_dir / name).is_file(), name
        assert f"wrote {out_dir / name}" in result.stdout
    assert "every cell as documented; lint: nothing breaking" in result.stdout

    report = load_json(out_dir / "compatibility.json")
    jsonschema.Draft202012Validator(load_json(SCHEMA)).validate(report)
    assert report["ok"] is True
    assert report["versions"] == [1, 2]
    assert [e["verdict"] for e in report["lint"]] == ["additive", "additive"]
    assert all(set(cell) >= CELL_KEYS for cell in report["cells"])
    assert "v1" in (out_dir / "compatibility.md").read_text(encoding="utf-8")
    assert "<html" in (out_dir / "compatibility.html").read_text(encoding="utf-8").lower()

    suites = ET.parse(junit).getroot()
    assert suites.get("failures") == "0"
    names = {case.get("name") for case in suites.iter("testcase")}
    assert {"v1-v1", "v1-v2", "v2-v1", "v2-v2"} <= names


def test_report_of_a_wrongly_documented_history_fails(tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    junit = out_dir / "junit.xml"
    result = invoke(
        "report",
        "--migrations",
        WRONG_DOCUMENT / "migrations",
        "--expected",
        WRONG_DOCUMENT / "expected.md",
        *SMALL,
        "--out",
        out_dir,
        "--junit",
        junit,
    )
    assert result.exit_code == 1, result.output
    assert "1 cell(s) not as documented" in result.stdout
    report = load_json(out_dir / "compatibility.json")
    jsonschema.Draft202012Validator(load_json(SCHEMA)).validate(report)
    assert report["ok"] is False
    suites = ET.parse(junit).getroot()
    assert suites.get("failures") == "1"
    failed = [c.get("name") for c in suites.iter("testcase") if c.find("failure") is not None]
    assert failed == ["v1-v2"]


# --- bad --expected files and replay files -------------------------------------------------


def _garbage_text(path: Path) -> Path:
    path.write_text("# notes\n\nno table here {{ at all\n", encoding="utf-8")
    return path


def _binary(path: Path) -> Path:
    path.write_bytes(b"\xff\xfe\x00\x81 not text")
    return path


def _directory(path: Path) -> Path:
    path.mkdir()
    return path


def _missing(path: Path) -> Path:
    return path


def _bad_status(path: Path) -> Path:
    path.write_text(
        "| Client A | Client B | Sync Status | Notes |\n"
        "|---|---|---|---|\n"
        "| v1 | v2 | 🙂 Mostly fine | ? |\n",
        encoding="utf-8",
    )
    return path


BAD_EXPECTED = {
    "garbage-text": _garbage_text,
    "binary": _binary,
    "directory": _directory,
    "missing": _missing,
    "unknown-status": _bad_status,
}


@pytest.mark.parametrize("command", ["matrix", "report"])
@pytest.mark.parametrize("case", sorted(BAD_EXPECTED))
def test_bad_expected_file_is_refused(command: str, case: str, tmp_path: Path) -> None:
    expected = BAD_EXPECTED[case](tmp_path / "expected.md")
    out_dir = tmp_path / "out"
    extra: list[str | Path] = (
        ["--out", out_dir] if command == "report" else ["--json", tmp_path / "m.json"]
    )
    result = invoke(command, "--migrations", SAFE, "--expected", expected, *SMALL, *extra)
    assert_refused(result, "expected.md")
    assert not out_dir.exists()
    assert not (tmp_path / "m.json").exists()


@pytest.mark.parametrize(
    "content",
    ["not json at all", "{}", '{"local": 1, "peer": 2}', "[1, 2, 3]", '{"local": "x"}'],
    ids=["text", "empty-object", "no-steps", "list", "bad-version"],
)
def test_replay_refuses_a_file_that_is_not_a_replay(content: str, tmp_path: Path) -> None:
    path = tmp_path / "replay.json"
    path.write_text(content, encoding="utf-8")
    assert_refused(invoke("replay", path), "replay.json", "not a replay file")


def test_replay_refuses_a_missing_file_and_an_unknown_version(tmp_path: Path) -> None:
    assert_refused(invoke("replay", tmp_path / "gone.json"), "gone.json")
    path = tmp_path / "future.json"
    path.write_text(json.dumps({"local": 1, "peer": 7, "steps": []}), encoding="utf-8")
    assert_refused(invoke("replay", path, "--migrations", SAFE), "no version 7")


@pytest.mark.parametrize(
    "steps",
    [[1], [{"op": "drop"}], [{"op": "insert", "replica": "c", "table": "t"}], [{"op": "update"}]],
)
def test_replay_refuses_malformed_steps(steps: list[Any], tmp_path: Path) -> None:
    """Not a crash of the engine judged as a broken cell: bad input, exit 2."""
    path = tmp_path / "replay.json"
    path.write_text(json.dumps({"local": 1, "peer": 2, "steps": steps}), encoding="utf-8")
    assert_refused(invoke("replay", path, "--migrations", SAFE), "replay.json", "step 1")


def test_replay_says_where_the_migrations_went_or_that_they_changed(tmp_path: Path) -> None:
    """A replay saved on CI names a folder a laptop lacks; edited migrations replay with a
    warning."""
    path = tmp_path / "replay.json"
    saved = {"local": 1, "peer": 2, "steps": [], "migrations": str(tmp_path / "ci" / "migs")}
    path.write_text(json.dumps(saved), encoding="utf-8")
    assert_refused(invoke("replay", path), "replay.json", "--migrations DIR")
    saved |= {"migrations": str(SAFE), "migrations_checksum": "0" * 64}
    path.write_text(json.dumps(saved), encoding="utf-8")
    result = invoke("replay", path)
    assert result.exit_code == 0, result.output
    assert "changed since" in result.stderr


def test_replay_of_a_passing_example_exits_zero(tmp_path: Path) -> None:
    path = tmp_path / "replay.json"
    path.write_text(json.dumps({"local": 1, "peer": 2, "steps": []}), encoding="utf-8")
    result = invoke("replay", path, "--migrations", SAFE)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("cell v1-v2: ")
    assert "broken" not in result.stdout


# --- help ----------------------------------------------------------------------------------


def test_every_command_has_help_text() -> None:
    assert main.help and main.help.strip()
    assert set(TESTED_COMMANDS) <= set(main.commands)
    for name in TESTED_COMMANDS:
        command = main.commands[name]
        assert command.help and command.help.strip(), name
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help and param.help.strip(), f"{name} {param.opts}"
        result = invoke(name, "--help")
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith("Usage: ")
    top = invoke("--help")
    assert top.exit_code == 0
    version = invoke("--version")
    assert version.exit_code == 0 and re.fullmatch(r"nexus-compat, version \S+\n", version.stdout)
    for name in TESTED_COMMANDS:
        assert name in top.stdout


def test_the_console_script_runs(tmp_path: Path) -> None:
    completed = run_script("--help", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert "Exit codes" in completed.stdout
    completed = run_script("lint", "--migrations", SAFE, cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert "add-column" in completed.stdout
    assert os.listdir(tmp_path) == []


def test_report_fails_on_a_breaking_migration_even_when_every_cell_is_as_documented(
    tmp_path: Path,
) -> None:
    """drop_table syncs partially (as the default policy allows) but lint calls it breaking."""
    drop_table = HISTORIES / "drop_table" / "migrations"
    result = invoke("report", "--migrations", drop_table, *SMALL, "--out", tmp_path / "out")
    assert result.exit_code == 1, result.output
    report = json.loads((tmp_path / "out" / "compatibility.json").read_text())
    assert report["matrix_ok"] is True and report["lint_ok"] is False and report["ok"] is False
    assert "every cell as documented; lint: breaking migration(s)" in result.output


NO_SYNC = "❌ No sync"


def _document(path: Path, statuses: dict[tuple[int, int], str]) -> Path:
    """A documented matrix at ``path``: one row per (local, peer) of ``statuses``."""
    rows = [f"| v{a} | v{b} | {status} | |" for (a, b), status in statuses.items()]
    head = ["| Client A | Client B | Sync Status | Notes |", "|---|---|---|---|"]
    path.write_text("\n".join([*head, *rows]), encoding="utf-8")
    return path


def _documented(tmp_path: Path, statuses: dict[tuple[int, int], str]) -> Path:
    """BREAKING's documented matrix: ``statuses`` where given, v2-v1 and v3-v1
    partial, the rest full."""
    statuses = {(2, 1): "⚠️ Partial sync", (3, 1): "⚠️ Partial sync", **statuses}
    every = {(a, b): statuses.get((a, b), "✅ Full sync") for a in (1, 2, 3) for b in (1, 2, 3)}
    return _document(tmp_path / "compat.md", every)


def _failed_cell(
    tmp_path: Path, history: Path, documented: Path, pair: tuple[int, int]
) -> dict[str, Any]:
    """The JSON of cell ``pair`` of a matrix run against ``documented`` that fails."""
    out = tmp_path / "m.json"
    args = ("matrix", "--migrations", history, *SMALL, "--expected", documented, "--json", out)
    assert invoke(*args).exit_code == 1
    found: dict[str, Any] = next(
        c for c in load_json(out)["cells"] if (c["local"], c["peer"]) == pair
    )
    return found


def test_report_accepts_a_break_the_documented_matrix_says_is_no_sync(tmp_path: Path) -> None:
    """A breaking migration already released cannot be undone: with the cells
    across it documented ``No sync`` (and observed so), the report passes."""
    documented = _documented(tmp_path, {(1, 2): NO_SYNC, (1, 3): NO_SYNC})
    out_dir, junit = tmp_path / "out", tmp_path / "junit.xml"
    args = ("report", "--migrations", BREAKING, *SMALL, "--out", out_dir, "--junit", junit)
    result = invoke(*args, "--expected", documented)
    assert result.exit_code == 0, result.output
    report = json.loads((out_dir / "compatibility.json").read_text())
    assert report["lint_documented_breaks"] == [2]
    assert report["lint_ok"] is True and report["ok"] is True
    assert "lint: breaking v2 accepted by the documented matrix" in result.output
    assert "Lint: 1 breaking migration (v2), v2 accepted by the documented matrix" in (
        out_dir / "compatibility.md"
    ).read_text(encoding="utf-8")
    assert ET.parse(junit).getroot().get("failures") == "0"
    assert invoke("report", "--migrations", BREAKING, *SMALL, "--out", out_dir).exit_code == 1


def test_a_released_break_the_matrix_sees_as_partial_is_accepted_by_a_line(
    tmp_path: Path,
) -> None:
    """A dropped table reads partial (each side parks what it lacks): a No sync row for
    it fails that cell, so a released drop could never pass the report (reviews BU F9,
    BAD-10). ``Accepted breaks: v2`` in the document accepts it."""
    history = HISTORIES / "drop_table" / "migrations"
    statuses = {
        (a, b): "✅ Full sync" if a == b else "⚠️ Partial sync" for a in (1, 2) for b in (1, 2)
    }
    documented = _document(tmp_path / "compat.md", statuses)
    out_dir = tmp_path / "out"
    args = ("report", "--migrations", history, *SMALL, "--out", out_dir, "--expected", documented)
    refused = invoke(*args)
    assert refused.exit_code == 1
    report = json.loads((out_dir / "compatibility.json").read_text())
    assert "`Accepted breaks: v2`" in report["lint_how_to_accept"]["2"]
    text = documented.read_text(encoding="utf-8")
    documented.write_text(f"{text}\n\n- **Accepted breaks:** v2 (receipts dropped in 1.4)\n")
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    report = json.loads((out_dir / "compatibility.json").read_text())
    assert report["lint_documented_breaks"] == [2] and report["ok"] is True
    assert all(cell["ok"] for cell in report["cells"])


def test_a_cell_seen_broken_warns_that_no_sync_accepts_the_break(tmp_path: Path) -> None:
    """Documenting the pair No sync, the obvious fix, also accepts the migration's lint:
    the failed cell says so (review BAK-4)."""
    cell = _failed_cell(tmp_path, BREAKING, _documented(tmp_path, {}), (1, 2))
    assert cell["observed"] == "broken"
    assert any("documenting this pair No sync accepts the break" in r for r in cell["reasons"])


def test_a_relay_failure_an_accepted_break_explains_is_accepted(tmp_path: Path) -> None:
    """A released trigger writing replicated rows fails "v2 via v1" for good; no document
    could accept it, short of --no-relay for every check (review BAK-3)."""
    history = migrations_folder(
        tmp_path,
        "CREATE TABLE lockers (id INTEGER PRIMARY KEY, label TEXT NOT NULL,"
        " uses INTEGER NOT NULL DEFAULT 0);"
        " CREATE TABLE visits (id INTEGER PRIMARY KEY, locker_id INTEGER"
        " REFERENCES lockers(id), at TEXT);"
        " CREATE TRIGGER visits_count AFTER INSERT ON visits BEGIN"
        " UPDATE lockers SET uses = uses + 1 WHERE id = NEW.locker_id; END;",
        "ALTER TABLE visits ADD COLUMN note TEXT;",
    )
    run = ("report", "--migrations", history, "--examples", "10", "--jobs", "1")
    first = tmp_path / "first"
    invoke(*run, "--out", first)
    observed = json.loads((first / "compatibility.json").read_text())
    assert [r["ok"] for r in observed["relay"]] == [False], observed["relay"]
    label = {"full": "✅ Full sync", "partial": "⚠️ Partial sync", "broken": NO_SYNC}
    statuses = {(c["local"], c["peer"]): label[c["observed"]] for c in observed["cells"]}
    documented = _document(tmp_path / "compat.md", statuses)
    refused = invoke(*run, "--out", tmp_path / "o", "--expected", documented)
    assert refused.exit_code == 1
    text = documented.read_text(encoding="utf-8")
    documented.write_text(f"{text}\n\nAccepted breaks: v1 (the counter trigger, 1.0)\n")
    result = invoke(*run, "--out", tmp_path / "o", "--expected", documented)
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "o" / "compatibility.json").read_text())
    [relay] = report["relay"]
    assert relay["ok"] and relay["accepted_breaks"] == [1]
    assert relay["reasons"][0] == "accepted: the documented matrix accepts v1"
    # The matrix command reads the document alike (review BAL-5).
    matrix = ("matrix", "--migrations", history, "--examples", "10", "--jobs", "1")
    assert invoke(*matrix, "--expected", documented).exit_code == 0


def test_an_accepted_break_takes_nothing_a_break_not_listed_may_explain(tmp_path: Path) -> None:
    """A cell across v2 (listed) and v3 (breaking, not listed) is not taken for v2's sake."""
    history = tmp_path / "migrations"
    shutil.copytree(HISTORIES / "drop_table" / "migrations", history)
    (history / "003_drop_category.sql").write_text(
        "ALTER TABLE expenses DROP COLUMN category;", encoding="utf-8"
    )
    statuses = {(a, b): "⚠️ Partial sync" for a in (1, 2, 3) for b in (1, 2, 3) if a != b}
    statuses |= {(v, v): "✅ Full sync" for v in (1, 2, 3)} | {(1, 3): NO_SYNC}
    documented = _document(tmp_path / "compat.md", statuses)
    documented.write_text(documented.read_text(encoding="utf-8") + "\nAccepted breaks: v2\n")
    out = tmp_path / "m.json"
    run = ("matrix", "--migrations", history, *SMALL, "--expected", documented, "--json", out)
    assert invoke(*run).exit_code == 1
    cell = next(c for c in load_json(out)["cells"] if (c["local"], c["peer"]) == (1, 3))
    assert cell["observed"] == "partial" and not cell["ok"]


def test_a_no_sync_row_across_an_accepted_break_takes_partial_too(tmp_path: Path) -> None:
    """A break that shows in some runs and not others (a clock-stamped seed) flipped the
    gate whichever way the pair was documented (review BAL-4): across a listed break, a
    No sync row also takes partial."""
    history = HISTORIES / "drop_table" / "migrations"
    statuses = {(1, 1): "✅ Full sync", (2, 2): "✅ Full sync", (1, 2): NO_SYNC}
    documented = _document(tmp_path / "compat.md", {**statuses, (2, 1): "⚠️ Partial sync"})
    run = ("matrix", "--migrations", history, *SMALL, "--expected", documented)
    out = tmp_path / "m.json"
    assert invoke(*run).exit_code == 1  # No sync, observed partial, no break listed
    documented.write_text(documented.read_text(encoding="utf-8") + "\nAccepted breaks: v2\n")
    assert invoke(*run, "--json", out).exit_code == 0
    cell = next(c for c in load_json(out)["cells"] if (c["local"], c["peer"]) == (1, 2))
    assert cell["observed"] == "partial" and cell["ok"]
    assert cell["reasons"] == ["accepted: documented No sync across the accepted break v2"]


def test_a_documented_break_not_reached_does_not_only_advise_editing_the_document(
    tmp_path: Path,
) -> None:
    """(2,1) documented No sync but observed partial: the advice to document it as
    Partial is joined by the other reading, a break the run did not reach."""
    documented = _documented(tmp_path, {(1, 2): NO_SYNC, (1, 3): NO_SYNC, (2, 1): NO_SYNC})
    cell = _failed_cell(tmp_path, BREAKING, documented, (2, 1))
    assert cell["observed"] == "partial"
    assert any("raise --examples rather than edit the document" in r for r in cell["reasons"])


def test_a_replay_dir_that_cannot_be_written_is_refused_before_any_cell(tmp_path: Path) -> None:
    taken = tmp_path / "taken"
    taken.write_text("a file, not a folder", encoding="utf-8")
    json_file = tmp_path / "m.json"
    result = invoke(
        "matrix", "--migrations", SAFE, *SMALL, "--json", json_file, "--replay-dir", taken
    )
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == f"Error: {taken}: cannot be written, it is not a directory"
    assert "cell v1-v1" not in result.output and not json_file.exists()


def test_a_matrix_run_leaves_nothing_in_the_current_folder(tmp_path: Path) -> None:
    """Hypothesis's cache goes to the user's cache folder, not ./.hypothesis."""
    work, cache = tmp_path / "project", tmp_path / "cache"
    work.mkdir()
    environment = {"XDG_CACHE_HOME": str(cache)}
    environment.pop("HYPOTHESIS_STORAGE_DIRECTORY", None)
    args = ("matrix", "--migrations", SAFE, *SMALL, "--replay-dir", tmp_path / "replays")
    completed = run_script(*args, cwd=work, env=environment)
    assert completed.returncode == 0, completed.stderr
    assert os.listdir(work) == []
    assert (cache / "nexus-compat" / "hypothesis").is_dir()


def test_the_default_replay_dir_is_needed_only_for_a_failing_cell(tmp_path: Path) -> None:
    """Run from a checkout where reports/ cannot be made (here: a file): a green
    matrix writes no replay, so it must not fail on the default folder."""
    (tmp_path / "reports").write_text("not a folder", encoding="utf-8")
    result = invoke("matrix", "--migrations", SAFE, *SMALL)
    assert result.exit_code == 0, result.output


def test_a_replay_whose_steps_no_longer_run_says_so_and_fails(tmp_path: Path) -> None:
    """Migrations edited after the replay was saved (the table renamed): its steps do
    nothing, so passing would prove nothing (it said partial, exit 0, or a crash)."""
    replays = tmp_path / "replays"
    args = ("matrix", "--migrations", BREAKING, *SMALL, "--replay-dir", replays)
    assert invoke(*args).exit_code == 1
    edited = tmp_path / "edited"
    shutil.copytree(BREAKING, edited)
    step = edited / "002_drop_source_url.sql"
    step.write_text(
        step.read_text(encoding="utf-8") + "ALTER TABLE recipes RENAME TO dishes;\n",
        encoding="utf-8",
    )
    result = invoke("replay", replays / "replay-v1-v2.json", "--migrations", edited)
    assert result.exit_code == 1, result.output
    assert "crash" not in result.stdout
    assert "step(s) could not run against these migrations" in result.stdout
    # Against the migrations it was saved with, a step that does nothing is no news
    # (an update of a row that is not there: it did nothing then either).
    saved = load_json(replays / "replay-v1-v2.json")
    saved["steps"] = [
        {"op": "update", "replica": "a", "table": "recipes", "key": "x", "values": {}}
    ]
    saved["observed"] = "full"
    (replays / "noop.json").write_text(json.dumps(saved), encoding="utf-8")
    quiet = invoke("replay", replays / "noop.json")
    assert "could not run" not in quiet.stdout, quiet.output


def test_a_broken_cell_still_counts_where_its_replay_cannot_be_written(tmp_path: Path) -> None:
    """A read-only checkout (here reports/ is a file): the cell is reported broken
    (exit 1, the grid printed), its replay is not written, and the reason says so."""
    (tmp_path / "reports").write_text("not a folder", encoding="utf-8")
    result = invoke("matrix", "--migrations", BREAKING, *SMALL, "--json", tmp_path / "m.json")
    assert result.exit_code == 1, result.output
    assert "cell v1-v2: expected compatible, observed broken" in result.stdout
    cell = next(c for c in load_json(tmp_path / "m.json")["cells"] if c["observed"] == "broken")
    assert "replay_file" not in cell or not cell["replay_file"]
    assert any(r.startswith("no replay file written: reports/replays: ") for r in cell["reasons"])


def test_a_command_run_in_process_leaves_hypothesis_where_it_was(tmp_path: Path) -> None:
    """The cache folder is the command's own: the caller's tests keep ./.hypothesis."""
    from hypothesis.configuration import storage_directory

    before = storage_directory("examples", intent_to_write=False).path
    assert invoke("matrix", "--migrations", SAFE, *SMALL).exit_code == 0
    assert storage_directory("examples", intent_to_write=False).path == before


def test_the_report_line_names_failed_relay_checks() -> None:
    """Relay checks are in no document: when only they fail, the line must not read as
    all well beside an exit code of 1."""
    from harness.cli import report_summary

    report = {
        "cells": [{"ok": True}],
        "relay": [{"ok": True}, {"ok": False}],
        "lint_ok": True,
        "lint_documented_breaks": [2],
    }
    assert report_summary(report) == (
        "every cell as documented; 1 relay check(s) failed;"
        " lint: breaking v2 accepted by the documented matrix"
    )


@pytest.mark.parametrize(
    ("which", "cells", "relays"),
    [
        ("latest", [(1, 3), (2, 3), (3, 1), (3, 2), (3, 3)], [(1, 3), (2, 3)]),
        ("adjacent", [(1, 1), (1, 2), (2, 1), (2, 2), (2, 3), (3, 2), (3, 3)], [(1, 2), (2, 3)]),
    ],
)
def test_pairs_limits_the_cells_and_relays_a_long_history_runs(
    which: str, cells: list[tuple[int, int]], relays: list[tuple[int, int]], tmp_path: Path
) -> None:
    """40 versions are 1,600 cells and 780 relay checks; --pairs takes fewer (review BK)."""
    out = tmp_path / "m.json"
    args = ("--examples", "2", "--jobs", "1")
    result = invoke("matrix", "--migrations", BREAKING, *args, "--pairs", which, "--json", out)
    data = json.loads(out.read_text(encoding="utf-8"))
    assert [(c["local"], c["peer"]) for c in data["cells"]] == cells
    assert [(r["relay"], r["peer"]) for r in data["relay"]] == relays
    assert data["pairs"] == which
    assert f"pairs checked: {which} ({len(cells)} of 9 cells;" in result.output
    assert "·" in result.output  # the pairs left out, in the grid
    assert result.exit_code == (1 if (1, 2) in cells or (1, 3) in cells else 0)


def test_pairs_refuses_an_unknown_choice() -> None:
    result = invoke("matrix", "--migrations", SAFE, *SMALL, "--pairs", "newest")
    assert result.exit_code == 2
    assert "'newest' is not one of 'all', 'latest', 'adjacent'" in result.output


def test_a_long_history_prints_a_grid_of_one_letter_per_cell(tmp_path: Path) -> None:
    """Past eight versions the words were cut to "par…" and the headers to "v…" (BK-5)."""
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "001_t.sql").write_text("CREATE TABLE t (id TEXT PRIMARY KEY, a TEXT);")
    for n in range(2, 10):
        (folder / f"{n:03d}_c.sql").write_text(f"ALTER TABLE t ADD COLUMN c{n} TEXT;")
    result = invoke("matrix", "--migrations", folder, *SMALL, "--pairs", "latest")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(
        line.split() == ["│v9", "│P", "│P", "│P", "│P", "│P", "│P", "│P", "│P", "│F", "│"]
        for line in lines
    ), result.output
    assert "F full, P partial, B broken;" in " ".join(result.output.split())  # (wrapped)


def test_report_with_pairs_accepts_a_break_documented_on_a_pair_it_did_not_run(
    tmp_path: Path,
) -> None:
    """Breaks at v2 and v3, every pair documented No sync: --pairs latest runs no cell
    across v2 alone, yet the document accepts v2 (review BN-1: it said NOT OK)."""
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "001_init.sql").write_text(
        "CREATE TABLE members (id TEXT PRIMARY KEY, email TEXT);"
        " CREATE TABLE boats (id TEXT PRIMARY KEY, hull TEXT);"
    )
    (folder / "002_email.sql").write_text("CREATE UNIQUE INDEX e ON members (email);")
    (folder / "003_hull.sql").write_text("CREATE UNIQUE INDEX h ON boats (hull);")
    expected = _document(
        tmp_path / "expected.md",
        {(a, b): "✅ Full sync" if a == b else NO_SYNC for a in (1, 2, 3) for b in (1, 2, 3)},
    )
    out = tmp_path / "out"
    args = ("--examples", "5", "--jobs", "1", "--no-relay", "--pairs", "latest")
    result = invoke("report", "--migrations", folder, "--expected", expected, *args, "--out", out)
    assert result.exit_code == 0, result.output
    report = load_json(out / "compatibility.json")
    assert report["lint_documented_breaks"] == [2, 3]
    assert [(c["local"], c["peer"]) for c in report["cells"]] == [
        (1, 3),
        (2, 3),
        (3, 1),
        (3, 2),
        (3, 3),
    ]


@pytest.mark.parametrize("force_color", [False, True])
def test_a_long_historys_grid_is_printed_whole_into_a_log(
    tmp_path: Path, force_color: bool
) -> None:
    """Out of a terminal the grid was cut at 140 characters (80 with FORCE_COLOR): past
    about 36 versions the newest versions' columns were missing, and under --pairs latest
    rows v1-v39 read as all "not run" (review BR-2, BS-4)."""
    from folders import migrations_folder

    steps = ["CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);"]
    steps += [f"ALTER TABLE notes ADD COLUMN c{n} TEXT;" for n in range(2, 41)]
    folder = migrations_folder(tmp_path, *steps)
    args = ["matrix", "--migrations", folder, "--pairs", "latest", "--examples", "1"]
    args += ["--jobs", "1", "--no-relay", "--replay-dir", tmp_path / "replays"]
    if force_color:  # a real pipe, as a CI log is
        env = {**os.environ, "FORCE_COLOR": "1", "NO_COLOR": ""}
        env.pop("NO_COLOR")
        done = subprocess.run(
            [sys.executable, "-m", "harness.cli", *map(str, args)],
            capture_output=True, text=True, env=env,
        )  # fmt: skip
        code, stdout = done.returncode, re.sub(r"\x1b\[[0-9;]*m", "", done.stdout)
    else:
        result = invoke(*args)
        code, stdout = result.exit_code, result.stdout
    assert code == 0, stdout
    header = next(line for line in stdout.splitlines() if "A \\ B" in line)
    assert "v40" in header
    row = next(line for line in stdout.splitlines() if line.startswith("│v1 "))
    assert row.rstrip(" │").endswith("P")  # v1 against v40: partial, and shown


def test_a_documented_break_an_older_client_only_skips_is_read_as_partial(
    tmp_path: Path,
) -> None:
    """(1,2) documented No sync across a column v2 requires: v1 skips and parks it, so
    the cell is partial whatever --examples is; it said "raise --examples" (BR-3, BS)."""
    history = HISTORIES / "add_not_null_without_default" / "migrations"
    statuses = {(1, 1): "✅ Full sync", (1, 2): NO_SYNC, (2, 1): NO_SYNC, (2, 2): "✅ Full sync"}
    documented = _document(tmp_path / "compat.md", statuses)
    cell = _failed_cell(tmp_path, history, documented, (1, 2))
    assert cell["observed"] == "partial"
    assert any("v2 requires items.sku, which v1 lacks" in r for r in cell["reasons"])
    assert not any("raise --examples" in r for r in cell["reasons"])


def test_time_left_leaves_out_the_first_cells_wait_for_the_templates() -> None:
    """Review BR-6: the first cell also waits for a database per version; an estimate
    that counted it said 27 s left at the start of a 9.6 s run."""
    reporter = _Reporter(10)
    reporter.started = 0.0
    said = []
    for done, now in enumerate([8.0, 9.0, 10.0, 11.0], start=1):  # 8 s of templates
        reporter.done = done
        said.append(reporter.timing(now))
    assert said[:2] == [" (8 s)", " (9 s)"]  # no estimate from one or two cells
    assert said[2:] == [" (10 s, about 7 s left)", " (11 s, about 6 s left)"]  # 1 s a cell
    reporter.done = 10
    assert reporter.timing(20.0) == ""
