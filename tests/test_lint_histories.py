"""The lint on every history in fixtures/histories, checked against its README."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.lint import MigrationLint, lint_migrations
from nexus_core.db.migrations import load_migrations
from nexus_core.db.schema import snapshot
from nexus_core.db.verify import expected_schema_conn

HISTORIES = Path(__file__).resolve().parent.parent / "fixtures" / "histories"
FOLDERS = sorted(p.name for p in HISTORIES.iterdir() if p.is_dir())

# The brief's breaking sets: the version that breaks and the rule that must say so.
BREAKING = {
    "drop_not_null_column": (2, "drop-column"),
    "rename_column": (2, "rename-column"),
    "add_not_null_without_default": (2, "add-not-null-without-default"),
    "type_change": (2, "type-change"),
    "tighten_check": (2, "constraint-tightened"),
    "drop_table": (2, "drop-table"),
    "rename_table": (2, "rename-table"),
    "forum_nocase_unique": (2, "constraint-tightened"),
    "newsletter_drop_notnull": (2, "constraint-loosened"),
    "generated_to_plain_nocopy_brk": (2, "generated-column-changed"),
    "composite_unique_brk": (2, "constraint-tightened"),
    "strict_conversion_brk": (2, "constraint-tightened"),
}
# Breaking histories whose README lists no broken cell: only the lint sees the damage.
LINT_ONLY = {"drop_table", "rename_table", "generated_to_plain_nocopy_brk"}
UNREPLICATED = {"iot_safe": ["readings"]}  # a table without a primary key, on purpose
SAFE = {
    "add_nullable_column",
    "add_defaulted_column",
    "new_table",
    "index_only",
    "multi_step_safe",
    "constraints_safe",
    "chess_safe",
    "rsvp_expr_unique_safe",
    "iot_safe",
    "pk_not_null_safe",
    "ticketing_rebuild_safe",
    "wrong_document",
}


@dataclass(frozen=True)
class Row:
    name: str
    domain: str
    kind: str
    verdicts: dict[int, str]
    rules: dict[int, set[str]]
    broken: list[tuple[int, int]]


def _by_version(text: str, separator: str) -> dict[int, str]:
    """``"v1 a, v2 b"`` (separator ``,``) -> ``{1: "a", 2: "b"}``."""
    found = {}
    for part in text.split(separator):
        match = re.fullmatch(r"\s*v(\d+) (.+?)\s*", part)
        assert match, f"README: cannot read {part!r} in {text!r}"
        found[int(match.group(1))] = match.group(2)
    return found


def _cells(text: str) -> list[tuple[int, int]]:
    if text.startswith("none"):
        return []
    return [(int(a), int(b)) for a, b in re.findall(r"\((\d+),\s*(\d+)\)", text)]


def readme_rows() -> dict[str, Row]:
    """The README's table of histories, one :class:`Row` per history."""
    rows: dict[str, Row] = {}
    lines = (HISTORIES / "README.md").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| History |"))
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        assert len(cells) == 6, f"README: a row of the histories table has {len(cells)} cells"
        name, domain, kind, verdicts, rules, broken = cells
        assert name not in rows, f"README lists {name} twice"
        rules_by_version = {
            v: {r.strip() for r in text.split(",")} for v, text in _by_version(rules, ";").items()
        }
        rows[name] = Row(
            name, domain, kind, _by_version(verdicts, ","), rules_by_version, _cells(broken)
        )
    return rows


ROWS = readme_rows()


@pytest.fixture(scope="module")
def linted() -> dict[str, list[MigrationLint]]:
    return {
        name: lint_migrations(load_migrations(HISTORIES / name / "migrations")) for name in FOLDERS
    }


def test_readme_lists_every_folder_and_nothing_else() -> None:
    assert sorted(ROWS) == FOLDERS
    assert set(BREAKING) | SAFE == set(FOLDERS)


@pytest.mark.parametrize("name", FOLDERS)
def test_history_matches_its_readme_row(name: str, linted: dict[str, list[MigrationLint]]) -> None:
    results, row = linted[name], ROWS[name]
    assert {r.version: r.verdict for r in results} == row.verdicts
    for version, rules in row.rules.items():
        fired = {f.rule for f in results[version - 1].findings}
        assert rules <= fired, f"{name} v{version}: expected {rules}, lint found {fired}"
    versions = len(results)
    for local, peer in row.broken:
        assert 1 <= local <= versions and 1 <= peer <= versions and local != peer
    if row.kind == "breaking":
        assert bool(row.broken) != (name in LINT_ONLY), f"{name}: broken cells vs LINT_ONLY"


@pytest.mark.parametrize("name", FOLDERS)
def test_breaking_and_safe_verdicts(name: str, linted: dict[str, list[MigrationLint]]) -> None:
    results = linted[name]
    breaking = [r.version for r in results if r.verdict == "breaking"]
    if name in BREAKING:
        version, rule = BREAKING[name]
        assert breaking == [version], "exactly one breaking step"
        assert ROWS[name].kind == "breaking"
        assert rule in {f.rule for f in results[version - 1].findings if f.severity == "breaking"}
    else:
        assert breaking == [], [f for r in results for f in r.findings]
        assert ROWS[name].kind in ("safe", "wrong-document")


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
