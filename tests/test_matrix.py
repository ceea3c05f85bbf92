"""The compatibility matrix of our own migrations: one test per ordered pair of versions.

``pytest -k matrix`` runs them all, ``pytest -k "v1-v2"`` one cell. Cells and
their ids come from the harness's pytest plugin (the ``nexus_cell`` fixture); each
migration's lint is one more test (``nexus_lint``, ids ``lint-vN``).
"""

from __future__ import annotations

from harness.plugin import Cell, Lint


def test_matrix_cell(nexus_cell: Cell) -> None:
    result = nexus_cell.check()
    assert result.examples > 0
    assert result.observed in ("full", "partial")
    if nexus_cell.local < nexus_cell.peer:
        assert result.heals_on_upgrade is True


def test_migration_lint(nexus_lint: Lint) -> None:
    """Each of our own migrations is additive or safe (the plugin's ``nexus_lint``)."""
    assert nexus_lint.check().verdict in ("additive", "safe")
