"""``ALTER TABLE ... ADD COLUMN`` statements SQLite accepts only on an empty table
(failing_added_columns): the schemas, built empty, cannot show it.
"""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing

from harness.lint.findings import MESSAGES, Finding
from harness.lint.sqltext import _ADD_COLUMN, _QUALIFIED, _name
from nexus_core.db.connection import memory
from nexus_core.db.migrations import Migration
from nexus_core.db.schema import Column, Schema, find_named, null_default


def _refused_on_rows(column: Column) -> str | None:
    """Why SQLite refuses ``ADD COLUMN`` of ``column`` to a table holding rows, or None.

    It takes only a constant default there (a literal, maybe signed or cast):
    ``DEFAULT (json_array())`` or ``DEFAULT CURRENT_TIMESTAMP`` pass on an
    empty table, which is all a schema snapshot has, and fail on any other.
    Tried on a scratch table with one row, so SQLite itself decides."""
    if null_default(column.default):
        return "Cannot add a NOT NULL column with default value NULL" if column.notnull else None
    with closing(memory()) as conn:
        conn.execute("CREATE TABLE t (x)")
        conn.execute("INSERT INTO t VALUES (1)")
        try:
            conn.execute(f"ALTER TABLE t ADD COLUMN c {column.type} DEFAULT ({column.default})")
        except sqlite3.Error as exc:
            return str(exc) if "non-constant" in str(exc) else None
    return None


def failing_added_columns(migration: Migration, before: Schema, after: Schema) -> list[Finding]:
    """``ALTER TABLE ... ADD COLUMN`` of a table that existed, with a default SQLite
    takes only while the table is empty: the upgrade fails where it holds rows."""
    findings = []
    emptied: set[str] = set()  # tables the step dropped or emptied first: no rows there
    for code in migration.code:
        gone = re.match(
            rf"(?is)^\s*(?:DROP\s+TABLE(?:\s+IF\s+EXISTS)?|DELETE\s+FROM)\s+{_QUALIFIED}\s*$", code
        )
        if gone:
            emptied.add(_name(gone.group(1)).lower())
        match = _ADD_COLUMN.match(code)
        if not match or _name(match.group(1)).lower() in emptied:
            continue
        old, table = find_named(before.tables, _name(match.group(1))), None
        if old is not None:
            table = find_named(after.tables, old.name)
        column = table.column(_name(match.group(2))) if table is not None else None
        why = _refused_on_rows(column) if column is not None else None
        if table is None or column is None or why is None:
            continue
        text = MESSAGES[
            "add-column-fails-null" if null_default(column.default) else "add-column-fails"
        ]
        message = text.format(
            t=table.name, c=column.name, d=column.default, why=why, n=migration.version
        )
        findings.append(Finding("add-column-fails", table.name, column.name, message, "breaking"))
    return findings
