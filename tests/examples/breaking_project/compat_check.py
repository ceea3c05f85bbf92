"""A weather app whose v2 drops a column v1 still requires."""

from harness.plugin import Cell


def test_matrix(nexus_cell: Cell) -> None:
    nexus_cell.check()
