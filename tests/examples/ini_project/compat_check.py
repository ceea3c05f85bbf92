"""The migrations directory comes from the ini key nexus_migrations."""

from harness.plugin import Cell
from harness.versions import MigrationSet


def test_migration_set(nexus_migration_set: MigrationSet) -> None:
    assert nexus_migration_set.directory.parts[-2:] == ("db", "migrations")


def test_matrix(nexus_cell: Cell) -> None:
    nexus_cell.check()
