"""A weather app whose v2 drops a column v1 still requires."""

from harness.plugin import Cell, Lint


def test_matrix(nexus_cell: Cell) -> None:
    nexus_cell.check()


def test_migration_lint(nexus_lint: Lint) -> None:
    nexus_lint.check()
