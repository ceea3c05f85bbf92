"""``nexus sync A.db B.db`` and ``nexus ops DB``: reproduce any case by hand."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from nexus_core import open_replica
from nexus_core.cli import main


def _files(tmp_path: Path) -> tuple[Path, Path]:
    old, new = tmp_path / "old.db", tmp_path / "new.db"
    a = open_replica(old, target_version=1, peer_id="old-client")
    b = open_replica(new, peer_id="new-client")
    lid = b.insert("lists", {"name": "Home"})
    b.insert("tasks", {"task_id": "t1", "list_id": lid, "content": "Buy eggs", "priority": 5})
    a.insert("lists", {"name": "Work"})
    a.close()
    b.close()
    return old, new


def test_sync_moves_both_ways_and_upgrades_neither(tmp_path: Path) -> None:
    old, new = _files(tmp_path)
    result = CliRunner().invoke(main, ["sync", str(old), str(new)])
    assert result.exit_code == 0, result.output
    assert "old.db (v1) -> " in result.output and "new.db (v5) -> " in result.output
    assert "2 skipped (unknown)" in result.output
    assert "unknown column in oplog" in result.stderr
    with open_replica(old, upgrade=False) as a, open_replica(new, upgrade=False) as b:
        assert a.schema_version == 1 and b.schema_version == 5
        assert {r["name"] for r in a.rows("lists")} == {r["name"] for r in b.rows("lists")}
        assert [r["content"] for r in a.rows("tasks")] == ["Buy eggs"]
    again = CliRunner().invoke(main, ["sync", str(old), str(new)])
    assert "0 applied, 0 skipped, 0 refused" in again.output


def test_ops_lists_the_oplog_and_marks_parked_ops(tmp_path: Path) -> None:
    old, new = _files(tmp_path)
    CliRunner().invoke(main, ["sync", str(old), str(new)])
    result = CliRunner().invoke(main, ["ops", str(old)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(".priority = 5" in line and "parked: unknown column" in line for line in lines)
    assert any(".name = 'Work'" in line for line in lines)
    as_json = CliRunner().invoke(main, ["ops", str(old), "--json"])
    ops = [json.loads(line) for line in as_json.output.splitlines()]
    assert {"hlc", "origin", "table_name", "row_id", "column_name", "new_value"} <= set(ops[0])
    last = ops[-1]["hlc"]
    since = CliRunner().invoke(main, ["ops", str(old), "--since", last])
    assert since.output == ""


def test_sync_and_ops_refuse_bad_input_in_one_line(tmp_path: Path) -> None:
    old, _ = _files(tmp_path)
    missing = tmp_path / "missing.db"
    for args in (["sync", str(old), str(missing)], ["ops", str(missing)]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 2
        assert result.stderr.strip().count("\n") == 0 and "Error:" in result.stderr
        assert "Traceback" not in result.output
    assert not missing.exists()
    for since in ("yesterday", "0018BCFE56800-0003-X"):
        result = CliRunner().invoke(main, ["ops", str(old), "--since", since])
        assert result.exit_code == 2 and "not a clock value" in result.stderr
    not_sqlite = tmp_path / "notes.txt"
    not_sqlite.write_text("hello, this is not a database at all, not even close to one")
    assert CliRunner().invoke(main, ["ops", str(not_sqlite)]).exit_code == 2


def test_sync_names_the_tables_it_leaves_behind(tmp_path: Path) -> None:
    """A table without a single-column key is reported, not silently left out."""
    migrations = tmp_path / "m"
    migrations.mkdir()
    (migrations / "001_shop.sql").write_text(
        "CREATE TABLE items (id TEXT PRIMARY KEY, name TEXT);\n"
        "CREATE TABLE item_tags (item_id TEXT, tag TEXT, PRIMARY KEY (item_id, tag));"
    )
    files = [tmp_path / "a.db", tmp_path / "b.db"]
    for path in files:
        open_replica(path, migrations=migrations).close()
    result = CliRunner().invoke(main, ["sync", *map(str, files), "--migrations", str(migrations)])
    assert result.exit_code == 0, result.output
    for path in files:
        assert f"not replicated in {path}: item_tags (has no single-column primary key)" in (
            result.output
        )
