"""A library app checks its own migrations with the nexus-compat plugin."""

from harness.plugin import Cell, Lint
from harness.versions import MigrationSet


def test_matrix(nexus_cell: Cell) -> None:
    result = nexus_cell.check()
    assert result.examples > 0
    assert result.observed in ("full", "partial")
    if nexus_cell.local < nexus_cell.peer:
        assert result.heals_on_upgrade is True


def test_latest_version(nexus_migration_set: MigrationSet) -> None:
    assert nexus_migration_set.latest == 2


def test_migration_lint(nexus_lint: Lint) -> None:
    nexus_lint.check()
