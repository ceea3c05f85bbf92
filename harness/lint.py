"""Lint migrations: what each one does to clients still running the version before.

For each migration N the schemas at N-1 and N are built in real SQLite (v0 is
the empty schema), snapshotted and diffed (:mod:`harness.schemadiff`); every
change gets a rule id, a severity and a message naming the clients it hurts.
A migration's verdict is its most severe finding (``safe`` without findings).

Severities:

- ``safe``: nothing sync can see: add-index, drop-index, change-index,
  add-view, drop-view, change-view, add-trigger, drop-trigger, change-trigger.
- ``additive``: add-table, add-column (nullable or defaulted),
  constraint-loosened (a CHECK, UNIQUE or foreign key dropped, NOT NULL
  dropped; note the older side still enforces it), default-changed and
  not-replicable. default-changed is additive because a default only fills
  local inserts that omit the column; replicated ops carry explicit values, so
  peers converge, yet rows created on either side start differently, which
  sync does carry. not-replicable is additive because no client ever sends
  ops for such a table, so no pair of versions disagrees about it; its rows
  simply stay where they were written, which the finding says loudly. (When a
  table *loses* its single-column key, primary-key-change already makes the
  migration breaking.)
- ``breaking``: drop-column, drop-table, rename-column, rename-table,
  add-not-null-without-default, not-null-added, type-change (declared type
  differs by affinity or by text), primary-key-change and
  constraint-tightened (a CHECK added or changed on existing columns, a UNIQUE
  added, a foreign key added on an existing column). Removing the default of
  a NOT NULL column is reported as add-not-null-without-default too when an
  older version has the table without that column: those clients never send it.

>>> from nexus_core.db.migrations import load_migrations
>>> [r.verdict for r in lint_migrations(load_migrations())][:2]
['additive', 'additive']
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from rich.markup import escape
from rich.table import Table as RichTable

from harness.errors import HarnessError
from harness.schemadiff import Change, diff_schemas
from nexus_core.db.migrations import Migration, migrate
from nexus_core.db.schema import Schema, snapshot, type_affinity
from nexus_core.db.verify import expected_schema_conn
from nexus_core.errors import NexusError

Severity = Literal["safe", "additive", "breaking"]
SEVERITY_RANK: dict[str, int] = {"safe": 0, "additive": 1, "breaking": 2}

RULES: dict[str, Severity] = {
    "add-index": "safe",
    "drop-index": "safe",
    "change-index": "safe",
    "add-view": "safe",
    "drop-view": "safe",
    "change-view": "safe",
    "add-trigger": "safe",
    "drop-trigger": "safe",
    "change-trigger": "safe",
    "add-table": "additive",
    "add-column": "additive",
    "constraint-loosened": "additive",
    "default-changed": "additive",
    "not-replicable": "additive",
    "drop-column": "breaking",
    "drop-table": "breaking",
    "rename-column": "breaking",
    "rename-table": "breaking",
    "add-not-null-without-default": "breaking",
    "not-null-added": "breaking",
    "type-change": "breaking",
    "primary-key-change": "breaking",
    "constraint-tightened": "breaking",
}

# Messages, formatted with: t table, c column, was old name, d detail, n the new
# version, old the older clients concerned ("v2" or "v1-v2"), and extras.
MESSAGES: dict[str, str] = {
    "local": "{kind} {d}{on} {what}: local to each replica, sync never sees it",
    "add-table-first": "table {t} created by the first migration",
    "add-table": "{old} clients lack table {t}: they skip its ops (partial sync) and park them"
    " until they upgrade to v{n}",
    "drop-table": "{old} clients still write {t}, which v{n} no longer has: their rows are parked"
    " at v{n}, never shown",
    "rename-table": "table {was} became {t}: {old} clients write {was}, v{n} clients write {t}, so"
    " each side parks the other's rows; what {old} clients write is never shown at v{n}",
    "add-column": "{old} clients skip ops on {t}.{c} (partial sync) and park them until they"
    " upgrade; rows they create get {fill} there at v{n}",
    "add-not-null-without-default": "v{n} clients cannot insert rows created by {old} clients:"
    " {t}.{c} is NOT NULL without a default and {old} clients never send it",
    "default-dropped": "v{n} clients cannot insert rows created by {old} clients: {t}.{c} lost"
    " its default while NOT NULL, and {old} clients never send it",
    "drop-column": "{old} clients still write {t}.{c}, which v{n} no longer has: their edits are"
    " parked, never shown",
    "drop-required": "; and {old} clients cannot insert rows created at v{n}: {t}.{c} is NOT NULL"
    " without a default there and v{n} never sends it",
    "rename-column": "{t}.{was} became {t}.{c}: {old} clients write {was}, v{n} clients write {c},"
    " so each side parks the other's edits to it",
    "rename-required": "; and neither side can insert the other's new rows: it is NOT NULL"
    " without a default",
    "type-change": "{t}.{c} changed type {d} (affinity {a} -> {b}): {old} clients reject values"
    " v{n} clients write that their column cannot hold, and the same edit is stored as"
    " different types on each side",
    "type-text": "{t}.{c} declared type {d} (same {a} affinity): SQLite stores values alike, but"
    " {old} and v{n} clients validating by declared type disagree about what the column holds",
    "not-null-added": "{t}.{c} is now NOT NULL: v{n} clients reject the NULLs {old} clients"
    " still write there",
    "not-null-dropped": "{t}.{c} accepts NULL from v{n}: {old} clients still refuse the NULLs v{n}"
    " clients may write",
    "default-changed": "{t}.{c} default {d}: rows created without a value start differently at"
    " {old} and v{n}; ops carry explicit values, so peers still converge",
    "primary-key-change": "{t} primary key {d}: the oplog's row_id means different things at"
    " {old} and v{n}, so their ops address different rows",
    "constraint-tightened": "{t} {what}: v{n} clients reject values or rows {old} clients may"
    " still write, so those edits never arrive",
    "constraint-loosened": "{t} dropped {what}: v{n} clients may write values or rows that {old}"
    " clients still reject",
    "not-replicable": "{t} {what}: the oplog never replicates it, so rows v{n} clients write"
    " there stay on the client that wrote them",
}

_LOCAL_KINDS = ("index", "view", "trigger")
_LOCAL_RULES = {"added": "add", "dropped": "drop", "changed": "change"}
_WHAT = {
    "check-added": "gained CHECK ({d})",
    "unique-added": "gained UNIQUE ({d})",
    "foreign-key-added": "column {c} now REFERENCES {d}",
    "check-dropped": "CHECK ({d})",
    "unique-dropped": "UNIQUE ({d})",
    "foreign-key-dropped": "the foreign key {c} -> {d}",
}


@dataclass(frozen=True)
class Finding:
    """One classified change: a rule id, where, what it does to which clients."""

    rule: str
    table: str
    column: str | None
    message: str
    severity: Severity


@dataclass(frozen=True)
class MigrationLint:
    """The findings of one migration and the verdict they add up to."""

    version: int
    description: str
    verdict: Severity
    findings: list[Finding]


def _has(schema: Schema, table: str, column: str | None) -> bool:
    found = schema.table(table)
    return found is not None and (column is None or found.column(column) is not None)


def _clients(schemas: Sequence[Schema], version: int, table: str, column: str | None) -> str:
    """``v2`` or ``v1-v2``: the older versions that have ``table`` (and ``column``) up to N-1."""
    last = first = version - 1
    while first > 1 and _has(schemas[first - 1], table, column):
        first -= 1
    return f"v{last}" if first == last else f"v{first}-v{last}"


class _Linter:
    """Turns the changes of one step (N-1 -> N) into findings."""

    def __init__(self, schemas: Sequence[Schema], version: int) -> None:
        self.schemas = schemas
        self.version = version
        self.before = schemas[version - 1]
        self.after = schemas[version]
        self.findings: list[Finding] = []

    def add(self, rule: str, change: Change, text: str, old: str = "", **extra: str) -> None:
        """Record ``rule`` for ``change`` with the message ``text`` filled in."""
        fields = {"t": change.table, "c": change.column or "", "d": change.detail}
        fields.update(was=change.detail, n=str(self.version), old=old, **extra)
        message = text.format(**fields)
        self.findings.append(Finding(rule, change.table, change.column, message, RULES[rule]))

    def old(self, table: str, column: str | None = None) -> str:
        return _clients(self.schemas, self.version, table, column)

    def run(self) -> list[Finding]:
        changes = diff_schemas(self.before, self.after)
        added = {(c.table, c.column) for c in changes if c.kind == "column-added"}
        for change in changes:
            kind, _, what = change.kind.rpartition("-")
            if kind in _LOCAL_KINDS:
                on = f" on {change.table}" if kind != "view" else ""
                rule = f"{_LOCAL_RULES[what]}-{kind}"
                self.add(rule, change, MESSAGES["local"], kind=kind, what=what, on=on)
            elif change.kind in _WHAT:
                if change.kind.endswith("-dropped"):
                    self.constraint("constraint-loosened", change)
                elif change.kind == "unique-added" or (change.table, change.column) not in added:
                    # A CHECK or foreign key on a column new in this step binds no older client.
                    self.constraint("constraint-tightened", change)
            else:
                self.column_or_table(change)
        self.not_replicable(changes)
        return sorted(
            self.findings,
            key=lambda f: (-SEVERITY_RANK[f.severity], f.table, f.column or "", f.rule, f.message),
        )

    def constraint(self, rule: str, change: Change) -> None:
        what = _WHAT[change.kind].format(c=change.column or "", d=change.detail)
        self.add(rule, change, MESSAGES[rule], self.old(change.table), what=what)

    def column_or_table(self, change: Change) -> None:
        t, c, kind = change.table, change.column or "", change.kind
        simple = {
            "table-dropped": ("drop-table", self.old(t)),
            "notnull-added": ("not-null-added", self.old(t, c)),
            "primary-key-changed": ("primary-key-change", self.old(t)),
        }
        if kind in simple:
            rule, old = simple[kind]
            self.add(rule, change, MESSAGES[rule], old)
        elif kind == "table-added":
            n = self.version
            old = f"v{n - 1}" if n == 2 else f"v1-v{n - 1}"
            self.add(
                "add-table", change, MESSAGES["add-table" if n > 1 else "add-table-first"], old
            )
        elif kind == "table-renamed":
            self.add("rename-table", change, MESSAGES["rename-table"], self.old(change.detail))
        elif kind == "column-added":
            column = self.after.tables[t].column(c)
            if column is not None and column.required:
                rule = "add-not-null-without-default"
                self.add(rule, change, MESSAGES[rule], self.old(t))
            else:
                default = column.default if column else None
                fill = "NULL" if default is None else f"the default {default}"
                self.add("add-column", change, MESSAGES["add-column"], self.old(t), fill=fill)
        elif kind == "column-dropped":
            column = self.before.tables[t].column(c)
            text = MESSAGES["drop-column"]
            if column is not None and column.required:
                text += MESSAGES["drop-required"]
            self.add("drop-column", change, text, self.old(t, c))
        elif kind == "column-renamed":
            column = self.after.tables[t].column(c)
            text = MESSAGES["rename-column"]
            if column is not None and column.required:
                text += MESSAGES["rename-required"]
            self.add("rename-column", change, text, self.old(t, change.detail))
        elif kind == "type-changed":
            was, now = (
                type_affinity(p.strip().replace("(none)", "")) for p in change.detail.split("->")
            )
            text = MESSAGES["type-change" if was != now else "type-text"]
            self.add("type-change", change, text, self.old(t, c), a=was, b=now)
        elif kind == "notnull-dropped":
            self.add("constraint-loosened", change, MESSAGES["not-null-dropped"], self.old(t, c))
        elif kind == "default-changed":
            self.default_changed(change)
        else:  # pragma: no cover - diff_schemas only emits the kinds above
            raise AssertionError(f"unhandled schema change {kind}")

    def default_changed(self, change: Change) -> None:
        t, c, n = change.table, change.column or "", self.version
        self.add("default-changed", change, MESSAGES["default-changed"], self.old(t, c))
        column = self.after.tables[t].column(c)
        lacking = [v for v in range(1, n) if _has(self.schemas[v], t, None)]
        lacking = [v for v in lacking if not _has(self.schemas[v], t, c)]
        if column is not None and column.required and lacking:
            old = ", ".join(f"v{v}" for v in lacking)
            rule = "add-not-null-without-default"
            self.add(rule, change, MESSAGES["default-dropped"], old)

    def not_replicable(self, changes: list[Change]) -> None:
        for change in changes:
            table = self.after.table(change.table)
            if table is None or table.row_key is not None:
                continue
            if change.kind == "table-added":
                what = "has no single-column primary key"
            elif change.kind == "primary-key-changed" and self.before.table(change.table):
                what = "lost its single-column primary key"
            else:
                continue
            self.add("not-replicable", change, MESSAGES["not-replicable"], what=what)


def _snapshots(migrations: Sequence[Migration]) -> list[Schema]:
    """The schema at every version 0..latest, built once, step by step, in memory."""
    conn: sqlite3.Connection = expected_schema_conn(migrations, 0)
    try:
        schemas = [snapshot(conn)]
        for migration in migrations:
            migrate(conn, migrations, target=migration.version)
            schemas.append(snapshot(conn))
        return schemas
    except NexusError as exc:
        raise HarnessError(f"cannot build the schemas to lint: {exc}") from exc
    finally:
        conn.close()


def lint_migrations(migrations: Sequence[Migration]) -> list[MigrationLint]:
    """Lint every migration against the version before it, oldest first."""
    schemas = _snapshots(migrations)
    results = []
    for migration in migrations:
        findings = _Linter(schemas, migration.version).run()
        verdict: Severity = max(
            (f.severity for f in findings), key=SEVERITY_RANK.__getitem__, default="safe"
        )
        results.append(MigrationLint(migration.version, migration.description, verdict, findings))
    return results


def lint_to_json(results: Sequence[MigrationLint]) -> dict[str, Any]:
    """The contract's ``lint --json`` document: ``{"ok": ..., "lint": [...]}``."""
    return {
        "ok": all(r.verdict != "breaking" for r in results),
        "lint": [
            {
                "version": r.version,
                "description": r.description,
                "verdict": r.verdict,
                "findings": [
                    {
                        "rule": f.rule,
                        "table": f.table,
                        "column": f.column,
                        "message": f.message,
                        "severity": f.severity,
                    }
                    for f in r.findings
                ],
            }
            for r in results
        ],
    }


_VERDICT_STYLE = {"safe": "green", "additive": "yellow", "breaking": "bold red"}


def render_lint_table(results: Sequence[MigrationLint]) -> RichTable:
    """A rich table, one row per finding (one per migration without findings)."""
    table = RichTable(title="Migration lint", show_lines=False)
    for header in ("Version", "Description", "Verdict", "Rule", "Where", "Message"):
        table.add_column(header, overflow="fold")
    for result in results:
        verdict = f"[{_VERDICT_STYLE[result.verdict]}]{result.verdict}[/]"
        if not result.findings:
            table.add_row(
                f"v{result.version}", escape(result.description), verdict, "-", "-", "no change"
            )
        for index, finding in enumerate(result.findings):
            where = f"{finding.table}.{finding.column}" if finding.column else finding.table
            first = index == 0
            table.add_row(
                f"v{result.version}" if first else "",
                escape(result.description) if first else "",
                verdict if first else "",
                f"[{_VERDICT_STYLE[finding.severity]}]{finding.rule}[/]",
                escape(where),
                escape(finding.message),
            )
    return table
