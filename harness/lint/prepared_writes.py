"""Writes a migration leaves SQLite unable to prepare (unpreparable_writes).

A trigger can be created broken: ``VALUES('delete', old.command, ...)`` one value
short of its columns (atuin's history index, review BU F3), a column or table it
names that a rebuild removed. SQLite accepts the CREATE TRIGGER and fails every
statement that would fire it, when it prepares it: every delete (or update, or
insert) of that table then fails at the new version, received ones too. The
lint's databases are real, so SQLite itself is asked: each replicated table's
insert, update and delete are prepared (``EXPLAIN``: compiled with their
triggers, never run).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Set as AbstractSet

from harness.lint.findings import MESSAGES, Finding
from nexus_core.db.migrations import Migration
from nexus_core.db.schema import Schema
from nexus_core.wire import quote_identifier

FailingWrites = dict[str, dict[str, str]]
"""Per replicated table, the writes SQLite cannot prepare ("delete": its error)."""


def failing_writes(conn: sqlite3.Connection, schema: Schema) -> FailingWrites:
    """What :data:`FailingWrites` holds for the database ``conn`` at ``schema``."""
    found: FailingWrites = {}
    for name, table in sorted(schema.replicated_tables.items()):
        quoted = quote_identifier(name)
        columns = [quote_identifier(column.name) for column in table.columns]
        statements = {
            "insert": f"INSERT INTO {quoted} ({', '.join(columns)})"
            f" VALUES ({', '.join('NULL' for _ in columns)})",
            "update": f"UPDATE {quoted} SET {', '.join(f'{c} = {c}' for c in columns)} WHERE 0",
            "delete": f"DELETE FROM {quoted} WHERE 0",
        }
        for kind, sql in statements.items():
            try:
                conn.execute(f"EXPLAIN {sql}").fetchall()
            except sqlite3.Error as exc:
                if "no such function" not in str(exc):  # one the app registers (app_now())
                    found.setdefault(name, {})[kind] = str(exc)
    return found


def unpreparable_writes(
    migration: Migration,
    before: FailingWrites,
    after: FailingWrites,
    reported: AbstractSet[str] = frozenset(),
) -> list[Finding]:
    """A finding per replicated table whose writes fail to prepare from this
    migration on (not those failing alike before, nor tables in ``reported``,
    whose trigger another finding already names)."""
    findings = []
    for table, failing in sorted(after.items()):
        was = before.get(table, {})
        new = {kind: error for kind, error in failing.items() if was.get(kind) != error}
        if not new or table.lower() in reported:
            continue
        kinds = [kind for kind in ("insert", "update", "delete") if kind in new]
        message = MESSAGES["writes-fail"].format(
            t=table,
            what=", ".join(f"{kind}s" for kind in kinds),
            why=new[kinds[0]],
            n=migration.version,
        )
        findings.append(Finding("constraint-tightened", table, None, message, "breaking"))
    return findings
