"""The lint on every history in fixtures/histories, checked against its README."""

from __future__ import annotations

import re

import pytest
from histories import FOLDERS, HISTORIES, ROWS

from harness.lint import MigrationLint, lint_migrations
from nexus_core.db.migrations import load_migrations
from nexus_core.db.schema import snapshot
from nexus_core.db.verify import expected_schema_conn

# Breaking histories whose README lists no broken cell: only the lint sees the damage.
LINT_ONLY = {
    "drop_table",
    "rename_table",
    "generated_to_plain_nocopy_brk",
    "bugtracker_subquery_rewrite_brk",
    "playlist_oneshot_trigger_brk",
    "inventory_units_lookup_brk",
}
# Tables without a primary key, on purpose.
UNREPLICATED = {"iot_safe": ["readings"], "inventory_units_lookup_brk": ["units"]}


@pytest.fixture(scope="module")
def linted() -> dict[str, list[MigrationLint]]:
    return {
        name: lint_migrations(load_migrations(HISTORIES / name / "migrations")) for name in FOLDERS
    }


def test_readme_lists_every_folder_and_nothing_else() -> None:
    assert sorted(ROWS) == FOLDERS
    assert {row.kind for row in ROWS.values()} == {"breaking", "safe", "wrong-document"}


@pytest.mark.parametrize("name", FOLDERS)
def test_history_matches_its_readme_row(name: str, linted: dict[str, list[MigrationLint]]) -> None:
    results, row = linted[name], ROWS[name]
    assert {r.version: r.verdict for r in results} == row.verdicts
    for version, rules in row.rules.items():
        fired = {f.rule for f in results[version - 1].findings}
        assert rules <= fired, f"{name} v{version}: expected {rules}, lint found {fired}"
    versions = len(results)
    for local, peer in row.broken:
        assert 1 <= local <= versions and 1 <= peer <= versions  # (a diagonal may break too)
    if row.kind == "breaking":
        assert bool(row.broken) != (name in LINT_ONLY), f"{name}: broken cells vs LINT_ONLY"


@pytest.mark.parametrize("name", FOLDERS)
def test_breaking_and_safe_verdicts(name: str, linted: dict[str, list[MigrationLint]]) -> None:
    results, row = linted[name], ROWS[name]
    breaking = [r.version for r in results if r.verdict == "breaking"]
    if row.kind == "breaking":
        version = row.breaking_version
        assert version is not None and breaking == [version], "exactly one breaking step"
        fired = {f.rule for f in results[version - 1].findings if f.severity == "breaking"}
        assert fired & row.rules[version], f"{name}: no README rule at v{version} is breaking"
    else:
        assert breaking == [], [f for r in results for f in r.findings]


@pytest.mark.parametrize("name", FOLDERS)
def test_every_table_is_replicated(name: str) -> None:
    migrations = load_migrations(HISTORIES / name / "migrations")
    for migration in migrations:
        assert migration.sql.lstrip().startswith("--") and "-- Description:" in migration.sql
        conn = expected_schema_conn(migrations, migration.version)
        try:
            schema = snapshot(conn)
        finally:
            conn.close()
        assert schema.unreplicated_tables == UNREPLICATED.get(name, [])
        for table in schema.replicated_tables.values():
            key = table.column(table.row_key or "")
            assert key is not None and key.affinity in ("TEXT", "INTEGER")


def test_wrong_document_lists_all_pairs_and_a_false_full_claim() -> None:
    text = (HISTORIES / "wrong_document" / "expected.md").read_text(encoding="utf-8")
    assert "| Client A | Client B | Sync Status | Notes |" in text
    pairs = dict(
        ((int(a), int(b)), status)
        for a, b, status in re.findall(r"^\| v(\d+) \| v(\d+) \| ([^|]+) \|", text, re.MULTILINE)
    )
    assert sorted(pairs) == [(1, 1), (1, 2), (2, 1), (2, 2)]
    assert "Full sync" in pairs[(1, 2)]
