"""The schemas at every version, built in real SQLite, and the rows of local
(never replicated) tables they hold: a migration that changes rows of a lookup
table that replicated CHECKs or triggers read changes what clients accept
(changed_lookups).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from typing import Any

from harness.errors import HarnessError
from harness.lint.findings import MESSAGES, Finding, versions_before
from harness.lint.prepared_writes import FailingWrites, failing_writes
from harness.lint.sqltext import _SOURCES, _name
from harness.schemadiff import collation_of, raises, trigger_table
from nexus_core.db.migrations import Migration, migrate, without_literals
from nexus_core.db.schema import Schema, find_named, is_internal_table, snapshot
from nexus_core.db.verify import expected_schema_conn
from nexus_core.errors import NexusError
from nexus_core.wire import quote_identifier

Contents = dict[str, tuple[Any, ...]]


"""What each local table or view a trigger names holds at one version (lower-case names)."""


def _snapshots(
    migrations: Sequence[Migration],
) -> tuple[list[Schema], list[Contents], list[FailingWrites]]:
    """The schema at every version 0..latest, built once, step by step, in memory,
    what the local tables and views its triggers name hold (:func:`_local_contents`)
    and the writes SQLite cannot prepare there (:func:`failing_writes`)."""
    conn: sqlite3.Connection = expected_schema_conn(migrations, 0)
    try:
        schemas = [snapshot(conn)]
        contents = [_local_contents(conn, schemas[0])]
        failing = [failing_writes(conn, schemas[0])]
        for migration in migrations:
            migrate(conn, migrations, target=migration.version)
            schemas.append(snapshot(conn))
            contents.append(_local_contents(conn, schemas[-1]))
            failing.append(failing_writes(conn, schemas[-1]))
        return schemas, contents, failing
    except NexusError as exc:
        raise HarnessError(f"cannot build the schemas to lint: {exc}") from exc
    finally:
        conn.close()


def _local_contents(conn: sqlite3.Connection, schema: Schema) -> Contents:
    """The rows (and, for a table, the columns' affinity and collation) of each local
    table and view a trigger names: the seed data a guard compares writes with.

    Only what migrations put there: the lint's databases hold nothing else."""
    named = {
        _name(m.group(1)).lower()
        for sql in schema.triggers.values()
        for m in _SOURCES.finditer(without_literals(sql))
    }
    local = {
        name: table
        for name, table in schema.tables.items()
        if name not in schema.replicated_tables and not is_internal_table(name)
    }
    found: Contents = {}
    for name in sorted({*local, *schema.views}):
        if name.lower() not in named:
            continue
        try:
            cursor = conn.execute(f"SELECT * FROM {quote_identifier(name)}")
            rows = cursor.fetchall()
        except sqlite3.Error:
            continue  # a view over something gone: the schema says so elsewhere
        table = local.get(name)
        compared = (
            {c.name.lower(): (c.affinity, collation_of(c)) for c in table.columns} if table else {}
        )
        columns = tuple(
            (d[0].lower(), *compared.get(d[0].lower(), ("", ""))) for d in cursor.description
        )
        found[name.lower()] = (columns, tuple(rows))
    return found


def _as_read(held: tuple[Any, ...], words: AbstractSet[str]) -> tuple[Any, ...]:
    """A local table's or view's contents as a trigger naming ``words`` sees them: the
    columns it names (all when it names none), how they compare, and their rows."""
    columns, rows = held
    kept = [i for i, c in enumerate(columns) if c[0] in words] or list(range(len(columns)))
    return (
        tuple(columns[i] for i in kept),
        sorted({repr(tuple(row[i] for i in kept)) for row in rows}),
    )


def changed_lookups(
    migration: Migration,
    before: Schema,
    after: Schema,
    held: tuple[Contents, Contents],
) -> list[Finding]:
    """A RAISE trigger both versions have on a table both replicate, comparing writes
    with a local table or view (units a row may name, a size limit) that the
    migration changes: rows, or how its columns compare (a collation).

    Each version then refuses other values: older clients' rows naming a unit v{n}
    dropped are refused there for good; v{n}'s rows naming a new one, by them.
    """
    was, now = held
    findings = []
    for name, sql in sorted(after.triggers.items()):
        if name not in before.triggers or not raises(sql):
            continue
        table = find_named(after.replicated_tables, trigger_table(sql))
        if table is None or table.name not in before.replicated_tables:
            continue
        text = without_literals(sql)
        read = {_name(m.group(1)).lower() for m in _SOURCES.finditer(text)}
        words = {w.lower() for w in re.findall(r"\w+", text)}
        changed = sorted(
            n
            for n in read & (was.keys() | now.keys())
            if n not in was or n not in now or _as_read(was[n], words) != _as_read(now[n], words)
        )
        if not changed:
            continue
        message = MESSAGES["lookup-changed"].format(
            name=name,
            t=table.name,
            d=", ".join(changed),
            n=migration.version,
            old=versions_before(migration.version),
        )
        findings.append(Finding("constraint-tightened", table.name, None, message, "breaking"))
    return findings
