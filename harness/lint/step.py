"""One step of the lint (version N-1 to N): the schemas it compares and how a
finding is recorded, shared by the rule classes built on it.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from harness.lint.findings import RULES, Finding, _clients
from harness.lint.sqltext import _instead_of_writes
from harness.schemadiff import Change
from nexus_core.db.schema import Schema


class _Step:
    """The schemas of one step (N-1 -> N) and the findings recorded so far."""

    def __init__(self, schemas: Sequence[Schema], version: int) -> None:
        self.schemas = schemas
        self.version = version
        self.before = schemas[version - 1]
        self.after = schemas[version]
        self.findings: list[Finding] = []

    def add(self, rule: str, change: Change, text: str, old: str = "", **extra: str) -> None:
        """Record ``rule`` for ``change`` with the message ``text`` filled in."""
        fields = {"t": change.table, "c": change.column or "", "d": change.detail}
        fields.update(was=change.detail, n=str(self.version), old=old)
        fields.update(extra)
        message = text.format(**fields)
        self.findings.append(Finding(rule, change.table, change.column, message, RULES[rule]))

    def old(self, table: str, column: str | None = None) -> str:
        return _clients(self.schemas, self.version, table, column)

    @functools.cached_property
    def instead(self) -> dict[str, set[str]]:
        """The tables the triggers on each table or view write (:func:`_instead_of_writes`)."""
        return _instead_of_writes((), self.before, self.after)

    @functools.cached_property
    def replicated_names(self) -> dict[str, str]:
        """Tables either version replicates, by lower-case name."""
        names = (*self.after.replicated_tables, *self.before.replicated_tables)
        return {name.lower(): name for name in names}
