"""Lint migrations: what each one does to clients still running the version before.

For each migration N the schemas at N-1 and N are built in real SQLite (v0 is
the empty schema), snapshotted and diffed (:mod:`harness.schemadiff`); every
change gets a rule id, a severity and a message naming the clients it hurts.
A migration's verdict is its most severe finding (``safe`` without findings).

The one question behind every severity: does the migration break sync
between clients of different versions? A receiver refuses any incoming value
its own schema cannot hold (a CHECK, NOT NULL, UNIQUE, a trigger's RAISE, its
column's affinity), so a constraint breaks sync in BOTH directions of change:
a tighter one at vN refuses what older clients write, and a looser one lets vN
clients write what older clients, still enforcing the old rule, refuse.

Severities:

- ``safe``: nothing sync can see: add-index, drop-index, change-index,
  add-view, drop-view, change-view, add-virtual, drop-virtual, change-virtual
  (virtual tables such as FTS indexes, and their shadow tables, are each
  replica's own), add-trigger, drop-trigger, change-trigger (a trigger that
  neither RAISEs nor writes a replicated table), type-renamed (a declared
  type changed within one affinity, ``VARCHAR(50)`` -> ``VARCHAR(255)`` or
  ``INT`` -> ``INTEGER``: SQLite stores both alike and the engine checks
  values by affinity, never by length) and
  collation-changed (a column's COLLATE changed where no key, UNIQUE or CHECK
  compares with it: only local sorting and lookups differ).
- data-rewrite (breaking) comes from the migration's SQL, not the schemas: an
  UPDATE or DELETE on a replicated table that existed before, or an INSERT of
  literal rows into one, rewrites each replica's own rows at upgrade time,
  outside the oplog, so peers diverge. So does rename-column for columns that
  swap names (their ``RENAME COLUMN`` statements followed through the
  migration): the schemas before and after look alike.
- trigger-writes-replicated (breaking): a trigger added, changed or dropped
  that writes a replicated table. Its writes bypass the oplog, and versions
  with and without it diverge.
- add-column-fails (breaking): ``ALTER TABLE ... ADD COLUMN`` with a default
  SQLite takes only while the table is empty (any expression that is not a
  literal: ``DEFAULT (json_array())``, ``CURRENT_TIMESTAMP``), or ``NOT NULL``
  with no default (beside add-not-null-without-default); the schemas,
  built empty, cannot show it, and every replica holding rows fails to upgrade.
- nondeterministic-default (breaking): a column added (by a rebuild) with a
  default each replica computes for itself (``CURRENT_TIMESTAMP``,
  ``random()``): the rows a replica holds when it upgrades get their own values.
- generated-column-changed (breaking): a generated column became a stored one;
  older clients compute it, newer ones keep what ops say. (Generated columns
  themselves are computed on each replica and never replicated.)
- strict-changed (safe): a table became STRICT (or stopped being) but has no
  BLOB column; sync already holds INTEGER, REAL and TEXT columns to their type.
  With a BLOB column it is constraint-tightened (or -loosened).
- ``additive``: add-table, add-column (nullable or defaulted),
  foreign-key-dropped, foreign-key-added, default-changed and not-replicable.
  foreign-key-dropped is additive because the sync engine never enforces
  foreign keys (``PRAGMA foreign_keys`` stays off when it applies ops), so
  older clients refuse nothing newer ones write for lack of the parent row.
  default-changed is additive because a default only fills
  local inserts that omit the column; replicated ops carry explicit values, so
  peers converge, yet rows created on either side start differently, which
  sync does carry. not-replicable is additive because no client ever sends
  ops for such a table, so no pair of versions disagrees about it; its rows
  simply stay where they were written, which the finding says loudly. (When a
  table *loses* its single-column key, primary-key-change already makes the
  migration breaking.)
- ``breaking``: drop-column, drop-table, rename-column, rename-table,
  add-not-null-without-default, not-null-added, type-change (the declared
  type's affinity differs), primary-key-change, constraint-tightened and
  constraint-loosened. Removing the default of a NOT NULL column is reported
  as add-not-null-without-default too when an older version has the table
  without that column: those clients never send it.

  constraint-tightened: a CHECK added on existing columns, or changed (the old
  CHECK replaced by another is ONE finding, since each side may refuse what the
  other's allows), a UNIQUE added,
  a trigger that can ``RAISE(ABORT|FAIL|ROLLBACK)`` added or changed on a
  replicated table, and a changed collation on a column that is the primary
  key, is covered by a UNIQUE constraint or index, or is read by a CHECK.
  The collation case breaks either way: BINARY -> NOCASE makes values older
  clients hold as distinct ('Alice', 'alice') duplicates here, NOCASE ->
  BINARY lets vN clients write values older clients refuse as duplicates (and
  a CHECK compares under the column's collation, so what it accepts moves).

  constraint-loosened: a CHECK dropped, NOT NULL dropped, a UNIQUE dropped, or
  a RAISE trigger dropped (or changed so it no longer raises): vN clients may
  write NULLs, out-of-range values or duplicates that older clients, still
  enforcing the rule, refuse, so those edits never reach them. Dropping a
  foreign key is the exception above (foreign-key-dropped, additive).

>>> from nexus_core.db.migrations import load_migrations
>>> [r.verdict for r in lint_migrations(load_migrations())][:2]
['additive', 'additive']
"""

from __future__ import annotations

import functools
import re
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from contextlib import closing
from dataclasses import dataclass, replace
from typing import Any, Literal

from rich.markup import escape
from rich.table import Table as RichTable

from harness.checkeval import compare_checks, same_rows_accepted
from harness.checks import allowed
from harness.errors import HarnessError
from harness.schemadiff import (
    Change,
    UniqueKey,
    collation_of,
    columns_named,
    diff_schemas,
    raises,
    stored_default,
    trigger_table,
    triggers_on,
    unique_constraints,
    unique_key,
    unique_keys,
)
from nexus_core.db.connection import memory
from nexus_core.db.migrations import (
    Migration,
    migrate,
    without_literals,
)
from nexus_core.db.schema import (
    Column,
    Schema,
    Table,
    find_named,
    is_internal_table,
    null_default,
    on_defaults,
    snapshot,
    sql_key,
    sql_tokens,
    stored_alike,
    trigger_key,
    type_affinity,
)
from nexus_core.db.verify import expected_schema_conn
from nexus_core.errors import NexusError
from nexus_core.merge import default_type, held_types
from nexus_core.wire import quote_identifier

Severity = Literal["safe", "additive", "breaking"]
SEVERITY_RANK: dict[str, int] = {"safe": 0, "additive": 1, "breaking": 2}

RULES: dict[str, Severity] = {
    "add-index": "safe",
    "drop-index": "safe",
    "change-index": "safe",
    "add-view": "safe",
    "drop-view": "safe",
    "change-view": "safe",
    "add-virtual": "safe",
    "drop-virtual": "safe",
    "change-virtual": "safe",
    "add-trigger": "safe",
    "drop-trigger": "safe",
    "change-trigger": "safe",
    "type-renamed": "safe",
    "collation-changed": "safe",
    "add-table": "additive",
    "add-column": "additive",
    "foreign-key-dropped": "additive",
    "foreign-key-added": "additive",
    "data-rewrite": "breaking",
    "trigger-writes-replicated": "breaking",
    "nondeterministic-default": "breaking",
    "add-column-fails": "breaking",
    "generated-column-changed": "breaking",
    "strict-changed": "safe",
    "change-generated": "safe",
    "add-generated-column": "safe",
    "default-changed": "additive",
    "not-replicable": "additive",
    "replication-stopped": "breaking",
    "drop-column": "breaking",
    "drop-table": "breaking",
    "rename-column": "breaking",
    "rename-table": "breaking",
    "add-not-null-without-default": "breaking",
    "not-null-added": "breaking",
    "type-change": "breaking",
    "primary-key-change": "breaking",
    "constraint-tightened": "breaking",
    "constraint-loosened": "breaking",
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
    "add-column-unreplicated": "{t}.{c} added; before v{n}, {t} is not replicated ({why}), so"
    " {old} clients send no ops on it",
    "add-column-stopped": "{t}.{c} added, but from v{n} on {t} is not replicated ({why}):"
    " nothing on it syncs there (see replication-stopped)",
    "add-not-null-without-default": "v{n} clients cannot insert rows created by {old} clients:"
    " {t}.{c} is NOT NULL without a default and {old} clients never send it",
    "default-dropped": "v{n} clients cannot insert rows created by {old} clients: {t}.{c} lost"
    " its default while NOT NULL, and {old} clients never send it",
    "drop-column": "{old} clients still write {t}.{c}, which v{n} no longer has: their edits are"
    " parked, never shown",
    "now-generated": "{t}.{c} is computed at v{n} (a generated column), so v{n} clients send"
    " no ops on it: {old} clients never get its values for v{n} clients' rows, and the edits"
    " {old} clients still write there are parked at v{n}, never shown",
    "drop-required": "; and {old} clients cannot insert rows created at v{n}: {t}.{c} is NOT NULL"
    " without a default there and v{n} never sends it",
    "rename-column": "{t}.{was} became {t}.{c}: {old} clients write {was}, v{n} clients write {c},"
    " so each side parks the other's edits to it",
    "rename-required": "; and neither side can insert the other's new rows: it is NOT NULL"
    " without a default",
    "type-change": "{t}.{c} changed type {d} (affinity {a} -> {b}): {old} and v{n} clients each"
    " refuse values the other writes that their own column cannot hold, and the same edit is"
    " stored as different types on each side",
    "type-boolean": "{t}.{c} declared type {d}: 0 and 1, what clients write in a boolean"
    " column, are stored alike under both",
    "type-renamed": "{t}.{c} declared type {d} (both {a} affinity): SQLite stores both alike;"
    " sync cannot see the difference",
    "not-null-added": "{t}.{c} is now NOT NULL: v{n} clients reject the NULLs {old} clients"
    " still write there",
    "not-null-dropped": "v{n} clients may write NULL in {t}.{c}; {old} clients refuse such ops"
    " (NOT NULL there), so those edits never reach them",
    "default-type-lost": "{t}.{c}: a row {old} clients create without it carries their default"
    " {d}, a {what} value v{n} clients refuse (a column holds the type of value its default"
    " stores: INTEGER DEFAULT CURRENT_TIMESTAMP holds text), so those rows never arrive whole",
    "default-type-gained": "{t}.{c}: a row v{n} clients create without it carries the default"
    " {d}, a {what} value {old} clients refuse (a column holds the type of value its default"
    " stores: INTEGER DEFAULT CURRENT_TIMESTAMP holds text), so those rows never reach them whole",
    "default-changed": "{t}.{c} default {d}: rows created without a value start differently at"
    " {old} and v{n}; ops carry explicit values, so peers still converge",
    "primary-key-change": "{t} primary key {d}: the oplog's row_id means different things at"
    " {old} and v{n}, so their ops address different rows",
    "primary-key-replicated": "{t} primary key {d}: {t} is replicated from v{n} on, and was not"
    " ({why}): rows each client held before upgrading were never sent, and keys each client"
    " gave them on its own (a rebuild numbering rows 1, 2, ...) name different rows on"
    " different clients, so an edit of one client's row lands on another's",
    "constraint-tightened": "{t} {what}: v{n} clients reject values or rows {old} clients may"
    " still write, so those edits never arrive",
    "check-changed": "{t} CHECK ({was}) became CHECK ({d}): v{n} clients refuse values {old}"
    " clients may still write and {old} clients refuse values v{n} clients may write, so"
    " those edits never arrive",
    "check-narrowed": "{t} CHECK ({was}) became CHECK ({d}), which accepts less: v{n} clients"
    " refuse values {old} clients may still write, so those edits never arrive",
    "check-widened": "{t} CHECK ({was}) became CHECK ({d}), which accepts more: v{n} clients"
    " may write values {old} clients refuse (their CHECK is still the narrower one), so those"
    " edits never reach them",
    "check-dropped": "v{n} clients may write values in {t} that CHECK ({d}) refuses; {old}"
    " clients refuse such ops (the CHECK is still there), so those edits never reach them",
    "unique-changed": "{t} UNIQUE ({was}) became UNIQUE ({now}): values one side holds as"
    " distinct the other refuses as duplicates, so those rows never arrive there",
    "unique-dropped": "v{n} clients may write rows in {t} repeating ({d}); {old} clients refuse"
    " the second such row (UNIQUE there), so it never reaches them",
    "foreign-key-dropped": "{t} dropped the foreign key {c} -> {d}: the sync engine does not"
    " enforce foreign keys, so {old} clients accept whatever v{n} clients write there",
    "strict-added": "{t} is now STRICT: v{n} clients refuse anything but blobs in its BLOB"
    " columns, which {old} clients may still fill with text or numbers",
    "strict-dropped": "{t} is no longer STRICT: v{n} clients may write text or numbers in its"
    " BLOB columns, which {old} clients refuse",
    "generated-guarded": "{t}.{c} is computed another way at v{n} ({d}) and {guard} compares"
    " it: each version refuses rows the other accepts, so those edits never arrive",
    "generated-added": "{t}.{c} added as a generated column: each replica computes it from"
    " its own row, and sync never sends it",
    "generated-local": "{t}.{c} is computed another way at v{n} ({d}): each replica computes"
    " it from synced columns, and no UNIQUE, CHECK or RAISE compares it",
    "strict-default": "{t} became STRICT and cannot store {c}'s default {d} ({why}): every"
    " row created without {c} fails at v{n}, those {old} clients create too",
    "strict-any": "{t}.{c} is declared ANY and {t} changed STRICT mode: a plain table stores"
    " number-like text there as a number ('0012' as 12), a STRICT one keeps it as given, so"
    " {old} and v{n} clients hold the same edit as different values",
    "strict-same": "{t} changed STRICT mode: sync already holds its typed columns to their"
    " declared type, so {old} and v{n} clients accept the same values",
    "generated-now-stored": "{t}.{c} was a generated column and is now stored: {old} clients"
    " compute it from other columns while v{n} clients keep what ops say, so the same row"
    " shows different values on the two",
    "data-rewrite": "the migration writes rows of {t} itself ({what}): a replica that"
    " upgrades changes its own rows while its peers keep theirs, and no op carries the"
    " change, so {old} and v{n} clients diverge on them",
    "rebuild-fill": "the rebuild of {t} fills {what} with something other than the old value"
    " (an expression, a constant, another column): a replica"
    " that upgrades changes its own rows, while rows {old} clients send later arrive as they"
    " wrote them (or with the default), and no op carries the change, so the two diverge",
    "default-backfill": "{t}.{c} default {d} while {old} clients lack the column: rows they"
    " create get the new default at v{n} peers but the value an earlier migration filled in"
    " once they upgrade, and no op carries it, so the two diverge on those rows",
    "foreign-key-added": "{t}.{c} now REFERENCES {d}: the sync engine does not enforce foreign"
    " keys (a child may arrive before its parent), so {old} and v{n} clients still accept"
    " each other's rows",
    "collation-key": "{t}.{c} is now {what} COLLATE {b} (was {a}): {effect}",
    "collation-coarser": "values {old} clients hold as distinct{pair} are refused at v{n} as"
    " duplicates, so those edits never arrive",
    "collation-finer": "v{n} clients may write values distinct at v{n} but equal under {a}{pair},"
    " which {old} clients refuse as duplicates, so those edits never reach them",
    "collation-other": "values one side holds as distinct the other refuses as duplicates"
    " ({old} clients compare under {a}, v{n} under {b}), so those edits never arrive",
    "collation-check": "{t}.{c} is now COLLATE {b} (was {a}) and {guard} compares with it: it"
    " accepts different values at {old} and v{n}, and each side refuses what only the"
    " other accepts, so those edits never arrive",
    "collation-changed": "{t}.{c} collation {d}: no key, UNIQUE or CHECK compares with it, so"
    " only local sorting and lookups differ; sync cannot see it",
    "fts-unfilled": "full-text index {d} over {t} is made without filling it"
    " (INSERT INTO {d}({d}) VALUES ('rebuild')): the rows {t} held before are not in it,"
    " so trigger {trigger} fails to remove them from it ('database disk image is"
    " malformed') and every update or delete of such a row fails at v{n}, edits"
    " arriving by sync too",
    "index-fails": "index {d} on {t} reads {c} as JSON: v{n} clients refuse ops whose {c} is"
    " text that is not JSON (SQLite fails the index), which {old} clients may write",
    "json-fails": "{what} on {t} reads {c} as JSON: at v{n} SQLite fails (on write; on read"
    " for a virtual column; at upgrade for a stored one) where {c} holds text that is not"
    " JSON, which {old} clients may write",
    "trigger-raises": "trigger {name} on {t} {what} and can RAISE({raise_}): v{n} clients refuse"
    " writes {old} clients may still make, so those edits never arrive",
    "trigger-raises-on-insert": "trigger {name} on {t} {what} and can RAISE({raise_}) on"
    " INSERT: v{n} clients refuse rows {old} clients may still create. A received row it"
    " refuses goes in without the values it objects to, and those arrive as updates, which"
    " it does not check: v{n} ends up holding rows it forbids (or, where the row cannot go in"
    " without them, NOT NULL, the row never arrives)",
    "trigger-reads-others": "trigger {name} on {t} {what} and can RAISE({raise_}) by {others}:"
    " whether a replica takes a write of {t} depends on what it holds, or the time, when that"
    " write arrives, so replicas that receive writes in another order, or later, disagree",
    "lookup-changed": "trigger {name} on {t} can RAISE by what {d} holds, and v{n} changes"
    " that (its rows, or how its columns compare): v{n} and {old} clients refuse different"
    " writes of {t}, so some edits never arrive",
    "trigger-dangling": "trigger {name} on {t} names {d}, which v{n} does not have (a table"
    " renamed away and dropped makes SQLite rewrite the triggers that named it): every write"
    " that fires it fails with 'no such table' at v{n}, rows arriving by sync too",
    "trigger-local-refuses": "trigger {name} on {t} {what} and its insert into a local table"
    " can fail the write that fires it ({why}): v{n} clients refuse rows {old} clients"
    " may write, received ones too",
    "trigger-unraised": "trigger {name} on {t}, which could RAISE({raise_}), {what}: v{n} clients"
    " may write what {old} clients' trigger still refuses, so those edits never reach them",
    "trigger": "trigger {name} on {t} {what}: it writes no replicated table, so sync never sees it",
    "replication-stopped": "{t} is no longer replicated at v{n} ({what}): v{n} clients neither"
    " send nor apply its ops, so {old} clients' edits of it are parked for good",
    "not-replicable": "{t} {what}: the oplog never replicates it, so rows v{n} clients write"
    " there stay on the client that wrote them",
    "trigger-writes": "trigger {name} on {t} {what} and {verb} replicated table(s) {writes}:"
    " a trigger's writes bypass the oplog and it also fires when a replica applies a peer's"
    " ops, so copies of those rows diverge, between {old} and v{n} clients (which run"
    " different triggers) and even between replicas of one version",
    "add-column-fails-null": "ALTER TABLE {t} ADD COLUMN {c} NOT NULL without a default fails"
    " on every replica whose {t} holds a row (SQLite: {why}): those clients cannot upgrade to"
    " v{n}; give the column a default, or add it by rebuilding {t}",
    "add-column-fails": "ALTER TABLE {t} ADD COLUMN {c} with the default {d} fails on every"
    " replica whose {t} holds a row (SQLite: {why}): those clients cannot upgrade to v{n}; give"
    " the column a constant default, or add it by rebuilding {t}",
    "nondeterministic-default": "{t}.{c} is added with the default {d}, which each replica"
    " computes for itself when it upgrades: the rows it already holds get different values on"
    " every replica, and no op carries them, so {old} and v{n} clients diverge",
    "swapped-tables": "the migration renames tables among themselves ({what}) and ends with"
    " the same table names: each replica that upgrades moves their rows outside the oplog,"
    " and {old} clients' ops now land in the other table at v{n}",
    "swapped-names": "the migration renames columns of {t} ({what}) and ends with the same"
    " column names: the values move between columns on each replica that upgrades, outside"
    " the oplog, and {old} clients' ops now land in other columns at v{n}",
}

_LOCAL_KINDS = ("index", "view", "virtual")
_LOCAL_RULES = {"added": "add", "dropped": "drop", "changed": "change"}
_WHAT = {
    "check-added": "gained CHECK ({d})",
    "unique-added": "gained UNIQUE ({d})",
    "foreign-key-added": "column {c} now REFERENCES {d}",
}
# Collations under which some distinct BINARY values compare equal, with such a pair.
_EXAMPLE_PAIRS = {"NOCASE": "('Alice', 'alice')", "RTRIM": "('Alice', 'Alice ')"}
# A default each replica computes differently: the clock, randomness, connection state.
_NONDETERMINISTIC = re.compile(
    r"(?i)\b(?:current_timestamp|current_time|current_date)\b"
    r"|\b(?:random|randomblob|changes|total_changes|last_insert_rowid)\s*\("
    r"|\b(?:date|time|datetime|julianday|unixepoch)"
    r"\s*\(\s*\)"
)
# 'now' reads the clock; 'localtime' and 'utc' read the device's time zone.
_NOW = re.compile(
    r"(?i)\b(?:date|time|datetime|julianday|unixepoch|strftime)\s*\([^)]*'(?:now|localtime|utc)'"
)
# strftime with a format alone reads the clock too ('now' is its default time).
_STRFTIME_NOW = re.compile(r"(?i)\bstrftime\s*\(\s*'(?:[^']|'')*'\s*\)")
# A name as SQL writes it (bare or quoted), and one maybe qualified by its schema.
_NAME = r"(\"[^\"]+\"|`[^`]+`|\[[^\]]+\]|\w+)"
_QUALIFIED = rf"(?:(?:main|temp|\"main\"|\"temp\"|\[main\]|`main`)\s*\.\s*)?{_NAME}"
_TRIGGER_INSERT = re.compile(
    rf"(?is)^\s*INSERT\s+(?:OR\s+(IGNORE|REPLACE)\s+|OR\s+\w+\s+)?INTO\s+{_QUALIFIED}"
    r"\s*(\([^)]*\))?"
)
_WRITES = re.compile(
    # Not an upsert's ``DO UPDATE SET``: SET is a keyword, never an unquoted table name.
    r"(?i)\b(?:INSERT(?:\s+OR\s+\w+)?\s+INTO|REPLACE\s+INTO|UPDATE(?:\s+OR\s+\w+)?(?!\s+SET\b)"
    r"|DELETE\s+FROM)"
    rf"\s+{_QUALIFIED}"
)


def _nondeterministic(default: str) -> bool:
    """Whether a column default is computed anew by each replica (clock, randomness)."""
    return bool(
        _NONDETERMINISTIC.search(without_literals(default))
        or _NOW.search(default)
        or _STRFTIME_NOW.search(default)
    )


def _trigger_parts(sql: str) -> tuple[str, str]:
    """A trigger's head (up to its first BEGIN: events, table, WHEN) and body, with
    string literals blanked (so a word inside one is not SQL)."""
    text = without_literals(sql)
    begin = re.search(r"(?i)\bBEGIN\b", text)
    return (text, "") if begin is None else (text[: begin.start()], text[begin.end() :])


def _written_tables(sql: str) -> set[str]:
    """Tables a trigger's body (after its first BEGIN) inserts into, updates or deletes from."""
    return {_name(m.group(1)) for m in _WRITES.finditer(_trigger_parts(sql)[1])}


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


def _on_defaults(expression: str, columns: Sequence[Column]) -> tuple[bool, Any]:
    """(known, value) of ``expression`` over a row holding only these columns'
    defaults, stored as SQLite stores them (``BOOLEAN DEFAULT '0'`` holds 0).
    Not known when SQLite cannot evaluate it alone (it names another column)."""
    try:
        (value,) = on_defaults(columns, f"({expression})")
    except sqlite3.Error:
        return False, None
    return True, value


def _left_out(where: str | None, column: Column) -> bool:
    """Whether a partial index's ``where`` is false for a row holding ``column``'s
    default (other columns it names make the answer unknown: no)."""
    if not where:
        return False
    known, value = _on_defaults(where, [column])
    return known and not value


def _defaults_pass(check: str, columns: Sequence[Column | None]) -> bool:
    """Whether a row holding these columns' defaults passes ``check`` (yes when
    SQLite cannot tell)."""
    given = [c for c in columns if c is not None]
    if not given:
        return True
    known, value = _on_defaults(check, given)
    return not known or value is None or bool(value)


def _when(sql: str) -> str | None:
    """A trigger's WHEN condition, in canonical form (None without one)."""
    return sql_key(_when_text(sql))


def _as_written(sql: str) -> tuple[str | None, str]:
    """A trigger's WHEN condition (None without one) and its body, as written: split
    at its first WHEN and first BEGIN, read by tokens (a word in a string is no
    keyword). :func:`_trigger_parts` blanks the literals instead."""
    when = None
    for offset, token in sql_tokens(sql):
        word = token.upper()
        if word == "BEGIN":
            return (sql[when:offset] if when is not None else None), sql[offset:]
        if word == "WHEN" and when is None:
            when = offset + len(token)
    return None, ""


def _when_text(sql: str) -> str | None:
    """A trigger's WHEN condition as written (None without one)."""
    return _as_written(sql)[0]


def _raising_statements(sql: str) -> list[str]:
    """The statements of a trigger's body that RAISE, as written."""
    return [s for s in _as_written(sql)[1].split(";") if re.search(r"(?i)\bRAISE\s*\(", s)]


def _raise_conditions(sql: str) -> str:
    """What decides whether a trigger RAISEs, as written: its WHEN and the body's
    statements that RAISE (``SELECT RAISE(ABORT, '...') WHERE ...``)."""
    return " AND ".join([_when_text(sql) or "", *_raising_statements(sql)])


def _raises_on_defaults(table: Table, sql: str) -> bool:
    """Whether a trigger RAISEs for a row of nothing but ``table``'s defaults
    (``WHEN length(NEW.currency) <> 3`` and ``DEFAULT ''``): the rows older clients
    write get those defaults for the columns they lack, and are refused. Its WHEN
    and the WHERE of a ``SELECT RAISE(...) WHERE ...`` in its body both count."""
    wheres = [re.search(r"(?is)\bWHERE\b(.*)$", s) for s in _raising_statements(sql)]
    body = " OR ".join(f"({w.group(1)})" if w else "1" for w in wheres) or "0"
    condition = f"({_when_text(sql) or '1'}) AND ({body})"
    condition = re.sub(r"(?i)\bNEW\s*\.\s*", "", condition)
    try:
        (holds,) = on_defaults(table.columns, f"({condition})")
    except sqlite3.Error:
        return False
    return bool(holds)


def _fires_on_insert_only(sql: str) -> bool:
    """Whether a trigger fires on INSERT alone (not on UPDATE or DELETE)."""
    return bool(re.search(r"(?i)\bINSERT\s+ON\b", _trigger_parts(sql)[0]))


def _strict_refuses_default(table: str, column: Column) -> str | None:
    """Why a STRICT table cannot store ``column``'s default (``INTEGER DEFAULT
    CURRENT_TIMESTAMP``: text), or None."""
    if column.default is None:
        return None
    try:
        on_defaults([column], "1", table=table, strict=True)
    except sqlite3.Error as exc:
        return str(exc)
    return None


def _not_null_guard(column: str) -> re.Pattern[str]:
    """``NEW.column IS NOT NULL`` (the column quoted or not), or SQLite's postfix
    spellings of it: ``NEW.column NOT NULL``, ``NEW.column NOTNULL``."""
    name = re.escape(column)
    return re.compile(
        rf'(?i)\bNEW\s*\.\s*(?:{name}|"{name}"|`{name}`|\[{name}\])'
        r"\s+(?:IS\s+NOT\s+NULL|NOT\s+NULL|NOTNULL)\b"
    )


def _new_column(before: Table, after: Table, column: str, where: str | None = None) -> bool:
    """Whether ``column`` of ``after`` holds nothing older clients write: it is new
    in the step, with no default but NULL (or one a partial UNIQUE's ``where``
    leaves out), and, if generated, computed from such columns only."""
    lower = column.lower()
    if before.column(column) is not None or lower in {g.lower() for g in before.generated}:
        return False
    declared = after.column(column)
    if declared is not None and not null_default(declared.default):
        # Every row older clients send gets that one value: they collide, unless
        # the index leaves that value out (``WHERE phone <> ''``).
        return _left_out(where, declared)
    expression = next((sql for name, sql in after.computed if name.lower() == lower), None)
    if expression is None:
        return lower not in {g.lower() for g in after.generated}
    return not columns_named(before.column_names, expression)


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

    def run(self) -> list[Finding]:
        changes = diff_schemas(self.before, self.after)
        added = {(c.table, c.column) for c in changes if c.kind == "column-added"}
        # A CHECK or foreign key on a column new in this step binds no older client.
        checks = [
            c
            for c in changes
            if (
                c.kind == "check-dropped"
                or (c.kind == "check-added" and not self.on_new_columns(c, added))
            )
            and not self.local_table(c)
        ]
        self.checks(checks)
        for change in changes:
            kind, _, what = change.kind.rpartition("-")
            if change.kind in ("check-added", "check-dropped") or self.local_table(change):
                continue
            if kind == "index" and self.unique_index(change.detail):
                continue  # a UNIQUE index is a constraint: unique-added/-dropped say what it does
            if kind == "index" and what != "dropped" and self.index_fails(change):
                continue
            if kind in _LOCAL_KINDS:
                on = f" on {change.table}" if kind == "index" else ""
                rule = f"{_LOCAL_RULES[what]}-{kind}"
                shown = "virtual table" if kind == "virtual" else kind
                self.add(rule, change, MESSAGES["local"], kind=shown, what=what, on=on)
            elif kind == "trigger":
                self.trigger(change, what)
            elif change.kind == "foreign-key-added" and (change.table, change.column) not in added:
                rule = "foreign-key-added"
                self.add(rule, change, MESSAGES[rule], self.old(change.table, change.column))
            elif change.kind == "unique-added" and (
                self.only_new_columns(change) or self.implied_unique(change)
            ):
                continue  # nothing older clients write can collide there
            elif change.kind == "unique-added":
                what = _WHAT[change.kind].format(c=change.column or "", d=change.detail)
                rule = "constraint-tightened"
                self.add(rule, change, MESSAGES[rule], self.old(change.table), what=what)
            elif change.kind == "unique-changed":
                was, now = change.detail.split(" -> ")
                rule, text = "constraint-tightened", MESSAGES["unique-changed"]
                self.add(rule, change, text, self.old(change.table), was=was, now=now)
            elif change.kind == "unique-dropped":
                text = MESSAGES["unique-dropped"]
                self.add("constraint-loosened", change, text, self.old(change.table))
            elif change.kind == "foreign-key-dropped":
                rule = "foreign-key-dropped"
                self.add(rule, change, MESSAGES[rule], self.old(change.table, change.column))
            elif change.kind != "foreign-key-added":
                self.column_or_table(change)
        self.not_replicable(changes)
        self.json_reads_elsewhere()
        self.travelling_defaults()
        self.changed_targets()
        return sorted(
            self.findings,
            key=lambda f: (-SEVERITY_RANK[f.severity], f.table, f.column or "", f.rule, f.message),
        )

    def changed_targets(self) -> None:
        """A trigger both versions have, on a table both replicate, inserting into a
        local table the migration changes so that the insert fails on other rows
        (a UNIQUE made NOCASE, a CHECK added): the write that fires it is refused
        by one version and taken by the other."""
        for name, sql in sorted(self.after.triggers.items()):
            if trigger_key(self.before.triggers.get(name)) != trigger_key(sql):
                continue  # new, changed or gone: the trigger rules say what it does
            on = find_named(self.after.replicated_tables, trigger_table(sql))
            if on is None or on.name not in self.before.replicated_tables:
                continue
            targets = {
                _name(m.group(2)).lower()
                for statement in _trigger_parts(sql)[1].split(";")
                if (m := _TRIGGER_INSERT.match(statement))
            }
            moved = sorted(
                t
                for t in targets
                if _refusal_profile(self.before, t) != _refusal_profile(self.after, t)
            )
            change = Change(on.name, None, "trigger-changed", name)
            refusals = self.local_refusals(change, sql) if moved else []
            if refusals:  # what only v{n} refuses
                was = self.local_refusals(change, self.before.triggers[name], self.before)
                refusals = [r for r in refusals if r not in was]
            if refusals:
                what = f"is as it was, but v{self.version} changes {', '.join(moved)}"
                text, why = MESSAGES["trigger-local-refuses"], "; ".join(refusals)
                fields = {"name": name, "what": what, "why": why}
                self.add("constraint-tightened", change, text, self.old(on.name), **fields)

    def travelling_defaults(self) -> None:
        """A default whose value one version's column does not hold.

        A local insert captures every column, defaults included, so a default
        travels as a value. A column also holds the type of value its own
        default stores (``INTEGER DEFAULT CURRENT_TIMESTAMP`` holds text); once
        the default, or the type (``BOOLEAN DEFAULT 'f'`` made ``INTEGER``),
        changes, the other version may refuse it. A type change says so itself."""
        typed = {
            (f.table, (f.column or "").lower()) for f in self.findings if f.rule == "type-change"
        }
        for name, table in self.after.replicated_tables.items():
            before = self.before.replicated_tables.get(name)
            if before is None:
                continue
            for now in table.columns:
                was = before.column(now.name)
                if was is None or now.pk or (name, now.name.lower()) in typed:
                    continue
                lost = default_type(was.type, was.default)
                gained = default_type(now.type, now.default)
                old = self.old(name, now.name)
                if lost is not None and lost not in held_types(now):
                    change = Change(name, now.name, "default-changed", str(was.default))
                    what = _TYPE_WORDS.get(lost, lost.__name__)
                    self.add(
                        "constraint-tightened",
                        change,
                        MESSAGES["default-type-lost"],
                        old,
                        what=what,
                    )
                elif gained is not None and gained not in held_types(was):
                    change = Change(name, now.name, "default-changed", str(now.default))
                    what = _TYPE_WORDS.get(gained, gained.__name__)
                    text = MESSAGES["default-type-gained"]
                    self.add("constraint-loosened", change, text, old, what=what)

    def only_new_columns(self, change: Change) -> bool:
        """Whether a UNIQUE added covers only columns new in this step (or a new table)."""
        before = self.before.tables.get(change.table)
        if before is None:
            return True
        key = self.unique_of(change)
        after = self.after.tables[change.table]
        index = next(
            (
                index
                for index in self.after.indexes.values()
                if index.table == change.table
                and index.unique
                and unique_key(index, self.after) == key
            ),
            None,
        )
        where = index.where if index is not None else None
        return key is not None and all(_new_column(before, after, c, where) for c in key[0])

    def on_new_columns(self, change: Change, added: set[tuple[str, str | None]]) -> bool:
        """Whether a CHECK added reads only columns new in this step: older clients
        never write them, and their rows arrive with NULL or the default there."""
        table = self.after.tables.get(change.table)
        if table is None:
            return (change.table, change.column) in added
        used = columns_named(table.column_names, change.detail)
        if (change.table, change.column) not in added and not (
            used and all((change.table, c) in added for c in used)
        ):
            return False
        # Their rows get the defaults there: a CHECK those fail refuses every one.
        return _defaults_pass(change.detail, [table.column(c) for c in used])

    def generated_changed(self, change: Change) -> None:
        """A generated column computed another way: local, unless a UNIQUE, a CHECK or a
        RAISE trigger compares it, when each version refuses rows the other accepts."""
        t, c = change.table, change.column or ""
        guards = [
            f"UNIQUE ({', '.join(cols)})"
            for cols, _, _ in unique_keys(self.after, t)
            if c.lower() in {col.lower() for col in cols}
        ]
        guards += self.compared_by(t, c, (self.after,))
        if guards:
            text = MESSAGES["generated-guarded"]
            self.add("constraint-tightened", change, text, self.old(t), guard=" and ".join(guards))
        else:
            self.add("change-generated", change, MESSAGES["generated-local"], self.old(t))

    def compared_by(self, t: str, c: str, schemas: Sequence[Schema]) -> list[str]:
        """What compares column ``c`` of table ``t`` besides a key or UNIQUE on it, so
        that each version may refuse what the other accepts: a CHECK, a partial
        UNIQUE's condition, a trigger that can RAISE (string literals aside)."""
        mentions = re.compile(rf"(?i)\b{re.escape(c)}\b")
        found = []
        if any(mentions.search(without_literals(check)) for check in self.after.tables[t].checks):
            found.append("a CHECK")
        for schema in schemas:
            for index in schema.indexes.values():
                where = without_literals(index.where or "")
                if index.table == t and index.unique and mentions.search(where):
                    found.append(f"the condition of UNIQUE index {index.name}")
            for name, sql in triggers_on(schema, t).items():
                if raises(sql) and mentions.search(without_literals(sql)):
                    found.append(f"trigger {name} (it can RAISE)")
        return list(dict.fromkeys(found))

    def unique_of(self, change: Change) -> UniqueKey | None:
        """The UNIQUE a unique-added change names (by how the schema spells it)."""
        found = unique_constraints(self.after, change.table).items()
        return next((key for key, text in found if text == change.detail), None)

    def implied_unique(self, change: Change) -> bool:
        """Whether a UNIQUE added holds wherever a key or UNIQUE of both versions already
        does: its columns include the primary key, or all of a plain UNIQUE's
        (``(id, org_id)`` when ``id`` is the key): no two rows can collide on it."""
        key = self.unique_of(change)
        before, after = self.before.tables.get(change.table), self.after.tables.get(change.table)
        if key is None or before is None or after is None:
            return False
        columns, _, compared = key
        if compared:
            return False  # an expression of a column may collide where the column does not
        covered = {c.lower() for c in columns}
        held = [tuple(after.primary_key)] if after.primary_key == before.primary_key else []
        shared = unique_keys(self.before, change.table) & unique_keys(self.after, change.table)
        held += [cols for cols, where, how in shared if not where and not how]
        return any(key and {c.lower() for c in key} <= covered for key in held)

    def index_fails(self, change: Change) -> bool:
        """Report an index whose expression fails on values older clients may write
        (``json_extract`` of text that is not JSON): SQLite refuses such writes."""
        index = self.after.indexes.get(change.detail)
        table, before = self.after.tables.get(change.table), self.before.tables.get(change.table)
        if index is None or table is None or before is None:
            return False
        risky = self.not_json(change.table, _json_reads(index.compared + (index.where or "")))
        if not risky:
            return False
        where = Change(change.table, risky[0], change.kind, change.detail)
        text = MESSAGES["index-fails"]
        self.add("constraint-tightened", where, text, self.old(change.table, risky[0]))
        return True

    def not_json(self, t: str, read: AbstractSet[str]) -> list[str]:
        """Old columns of ``t`` in ``read`` that older clients may fill with text that is
        not JSON (neither declared JSON nor checked with a JSON function)."""
        table, before = self.after.tables.get(t), self.before.tables.get(t)
        if table is None or before is None:
            return []
        return sorted(
            c.name
            for c in before.columns
            if c.name.lower() in read
            and not ("JSON" in c.type.upper() and _json_default(c))  # declared JSON: documents
            and not _holds_json(table, c.name)
            and not _holds_json(before, c.name)
        )

    def json_reads_elsewhere(self) -> None:
        """A trigger or a generated column new in the step reading an old column as JSON:
        SQLite fails the write (``malformed JSON``) where older clients wrote other text,
        and a stored generated column fails the migration itself on such rows."""
        for name, sql in self.after.triggers.items():
            if self.before.triggers.get(name) == sql:
                continue
            on = find_named(self.before.tables, trigger_table(sql))
            t = on.name if on is not None else ""
            read = _json_reads(without_literals(sql))
            if _fires_on_insert_only(sql):
                # A received row goes in with its required columns alone when its full
                # insert fails, the rest by UPDATE: only those reach an INSERT trigger.
                model = self.after.tables.get(t)
                read &= {c.name.lower() for c in model.columns if c.required} if model else set()
            risky = self.not_json(t, read)
            if risky and t in self.before.replicated_tables:
                change = Change(t, risky[0], "trigger-added", name)
                self.add(
                    "constraint-tightened",
                    change,
                    MESSAGES["json-fails"],
                    self.old(t),
                    what=f"trigger {name}",
                )
        for t, table in self.after.tables.items():
            before = self.before.tables.get(t)
            if before is None or t not in self.before.replicated_tables:
                continue
            for column, expression in set(table.computed) - set(before.computed):
                risky = self.not_json(t, _json_reads(expression))
                if risky:
                    change = Change(t, risky[0], "generated-added", column)
                    self.add(
                        "constraint-tightened",
                        change,
                        MESSAGES["json-fails"],
                        self.old(t),
                        what=f"generated column {column}",
                    )

    def unique_index(self, name: str) -> bool:
        """Whether index ``name`` is UNIQUE on either side (then it is a constraint, not local)."""
        return any(
            unique_key(index, schema) in unique_keys(schema, index.table)
            for schema in (self.before, self.after)
            if (index := schema.indexes.get(name)) is not None and index.unique
        )

    def local_table(self, change: Change) -> bool:
        """A change to a table no version here replicates: sync never sees it.

        (Its creation is still reported, as not-replicable.)
        """
        if change.kind.startswith(("index-", "trigger-")):
            return False  # triggers and indexes have their own rules
        names = {change.table, change.detail} if change.kind == "table-renamed" else {change.table}
        tables = [
            schema.tables[name]
            for schema in (self.before, self.after)
            for name in names
            if name in schema.tables
        ]
        return bool(tables) and all(t.unreplicated_reason is not None for t in tables)

    def checks(self, changes: list[Change]) -> None:
        """CHECKs added and dropped; both on the same table and column is ONE changed CHECK."""
        groups: dict[tuple[str, str | None], dict[str, list[str]]] = {}
        for change in self.respelled_checks_aside(changes):
            group = groups.setdefault((change.table, change.column), {})
            group.setdefault(change.kind, []).append(change.detail)
        for (table, column), group in sorted(
            groups.items(), key=lambda g: (g[0][0], g[0][1] or "")
        ):
            was = " AND ".join(group.get("check-dropped", []))
            now = " AND ".join(group.get("check-added", []))
            old = self.old(table)
            if was and now:
                change = Change(table, column, "check-changed", now)
                held = self.after.table(table)
                found = held and compare_checks(held, group["check-dropped"], group["check-added"])
                if found == (False, True):  # wider: only older clients refuse
                    self.add("constraint-loosened", change, MESSAGES["check-widened"], old, was=was)
                    continue
                text = MESSAGES["check-narrowed" if found == (True, False) else "check-changed"]
                self.add("constraint-tightened", change, text, old, was=was)
            elif now:
                change = Change(table, column, "check-added", now)
                what = _WHAT["check-added"].format(d=now)
                rule = "constraint-tightened"
                self.add(rule, change, MESSAGES[rule], old, what=what)
            elif not self.gone_with_its_columns(table, was):
                change = Change(table, column, "check-dropped", was)
                self.add("constraint-loosened", change, MESSAGES["check-dropped"], old)

    def respelled_checks_aside(self, changes: list[Change]) -> list[Change]:
        """The CHECK changes but a table's CHECKs written again another way: SQLite
        refuses exactly the same rows with the new ones (``checkeval``)."""
        tables: dict[str, dict[str, list[str]]] = {}
        for change in changes:
            tables.setdefault(change.table, {}).setdefault(change.kind, []).append(change.detail)
        respelled = {
            name
            for name, kinds in tables.items()
            if (table := self.after.table(name)) is not None
            and same_rows_accepted(
                table, kinds.get("check-dropped", []), kinds.get("check-added", [])
            )
        }
        return [change for change in changes if change.table not in respelled]

    def gone_with_its_columns(self, table: str, check: str) -> bool:
        """Whether a dropped CHECK only read columns the migration dropped too (the
        drop-column finding says all there is: nobody writes them any more)."""
        before, after = self.before.table(table), self.after.table(table)
        if before is None or after is None:
            return False
        words = {w.lower() for w in re.findall(r"\w+", without_literals(check))}
        read = {c.name.lower() for c in before.columns if c.name.lower() in words}
        kept = {c.name.lower() for c in after.columns}
        return bool(read) and not read & kept

    def trigger(self, change: Change, what: str) -> None:
        """A RAISE on a table both versions replicate refuses writes; anything else is local."""
        name = change.detail
        was = self.before.triggers.get(name, "")
        now = self.after.triggers.get(name, "")
        # ``ON Appointments`` is table appointments: SQLite keeps the name as written.
        on = find_named({**self.after.tables, **self.before.tables}, change.table)
        change = replace(change, table=on.name if on is not None else change.table)
        replicated = (
            change.table in self.before.replicated_tables
            and change.table in self.after.replicated_tables
        )
        fields = {"name": name, "what": what}
        raised, unraised = raises(now), raises(was)
        if (
            replicated
            and raised
            and what in ("added", "changed")
            and (_fires_on_insert_only(now) or self.checked_on_insert(change.table, now))
            and self.on_new_only(change, now)
            and not self.reads_other_tables(change, now)
            and not self.reads_clock(now)
            and not _raises_on_defaults(self.after.tables[change.table], now)
        ):
            # It only compares columns older clients never write, as rows go in (like
            # a CHECK). Not on UPDATE: their parked values replay as updates.
            raised = None
        if replicated and raised and what in ("added", "changed"):
            text = MESSAGES[
                "trigger-raises-on-insert" if _fires_on_insert_only(now) else "trigger-raises"
            ]
            self.add(
                "constraint-tightened",
                change,
                text,
                self.old(change.table),
                raise_=raised,
                **fields,
            )
        elif (
            raised
            and what in ("added", "changed")
            and change.table in self.after.replicated_tables
            and (others := self.reads_other_tables(change, now) + self.reads_clock(now))
        ):
            # On a table new to sync: no older client is concerned, yet whether a
            # replica takes a row depends on what it holds then, or when it arrives.
            text = MESSAGES["trigger-reads-others"]
            self.add(
                "constraint-tightened",
                change,
                text,
                raise_=raised,
                others=", ".join(others),
                **fields,
            )
        elif replicated and unraised and (what == "dropped" or not raised):
            what = "is gone" if what == "dropped" else "no longer raises"
            text = MESSAGES["trigger-unraised"]
            fields["what"] = what
            self.add(
                "constraint-loosened",
                change,
                text,
                self.old(change.table),
                raise_=unraised,
                **fields,
            )
        else:
            tables = {
                name.lower()
                for name in (*self.after.replicated_tables, *self.before.replicated_tables)
            }
            written = _written_tables(now or was)
            writes = sorted(t for t in written if t.lower() in tables)
            # A write to a view (or a local table) whose own triggers write replicated ones.
            for target in sorted(t for t in written if t.lower() not in tables):
                reached = _through_view(target, self.instead, self.replicated_names)
                writes += [t for t in reached if t not in writes]
            if any(change.table in schema.views for schema in (self.before, self.after)):
                # INSTEAD OF a write to a view: sync writes tables, never views, so
                # the trigger fires only for the app's own SQL, which no op records
                # either way.
                writes = []
            verb = "wrote" if what == "dropped" else "writes"
            if writes:
                text = MESSAGES["trigger-writes"]
                self.add(
                    "trigger-writes-replicated",
                    change,
                    text,
                    versions_before(self.version),
                    verb=verb,
                    writes=", ".join(writes),
                    **fields,
                )
                return
            refusals = self.local_refusals(change, now) if what != "dropped" else []
            if refusals:
                text, why = MESSAGES["trigger-local-refuses"], "; ".join(refusals)
                self.add(
                    "constraint-tightened", change, text, self.old(change.table), why=why, **fields
                )
                return
            self.add(f"{_LOCAL_RULES[what]}-trigger", change, MESSAGES["trigger"], **fields)

    def local_refusals(self, change: Change, sql: str, schema: Schema | None = None) -> list[str]:
        """How a trigger's INSERT into a local table can fail the write that fires it.

        A NOT NULL column it leaves out fails every time; a UNIQUE (or key) over
        the columns it fills from the row is a UNIQUE on the replicated table in
        disguise (a slot per venue and kick-off): older clients write rows this
        version refuses. ``OR IGNORE``, ``OR REPLACE`` and ``ON CONFLICT`` handle it.
        """
        schema = schema or self.after
        if change.table not in self.after.replicated_tables:
            return []
        found = []
        head, body = _trigger_parts(sql)
        deletes: dict[str, str] = {}  # what the trigger deletes from a table before inserting
        for statement in body.split(";"):
            deleting = re.match(rf"(?is)^\s*DELETE\s+FROM\s+{_QUALIFIED}(.*)$", statement)
            if deleting:
                deletes[_name(deleting.group(1)).lower()] = deleting.group(2)
            insert = _TRIGGER_INSERT.match(statement)
            if insert is None or insert.group(1) or re.search(r"(?i)\bON\s+CONFLICT\b", statement):
                continue
            target = find_named(schema.tables, _name(insert.group(2)))
            if target is None or target.name in schema.replicated_tables:
                continue  # replicated targets have their own rule
            listed = insert.group(3)
            filled = (
                {_name(c.strip()).lower() for c in listed.strip("()").split(",")}
                if listed
                else {c.lower() for c in target.column_names}
            )
            for column in target.columns:
                if column.required and column.name.lower() not in filled:
                    found.append(f"it leaves {target.name}.{column.name} (NOT NULL) out")
            found += self.nulls_into(change, target, statement[insert.end() :], listed, head)
            if change.table not in self.before.replicated_tables:
                continue  # no older client writes the table: each version refuses alike
            checked = [c for c in target.checks if columns_named(sorted(filled), c)]
            if checked:
                found.append(f"{target.name} has CHECK ({checked[0]})")
            guards = [
                name
                for name, guard in triggers_on(schema, target.name).items()
                if raises(guard) and _fires_on_insert_only(guard)
            ]
            if guards:
                found.append(f"trigger {guards[0]} on {target.name} can RAISE")
            keys = [tuple(target.primary_key)] if target.primary_key else []
            keys += [cols for cols, _, _ in unique_keys(schema, target.name)]
            # NOT EXISTS, or a delete first by the key's columns, keeps the insert off a key.
            guarded = re.search(r"(?i)\bNOT\s+EXISTS\b", statement)
            cleared = deletes.get(target.name.lower())
            for key in [] if guarded else keys:
                if cleared is not None and columns_named(list(key), cleared) == list(key):
                    continue
                if key and all(c.lower() in filled for c in key):
                    compared = [f"{c}{_collated(target, c)}" for c in key]
                    found.append(f"{target.name} holds ({', '.join(compared)}) UNIQUE")
                    break
        return found

    def nulls_into(
        self, change: Change, target: Table, rest: str, listed: str | None, when: str
    ) -> list[str]:
        """``NEW.x`` inserted into a NOT NULL column, where x of the trigger's table may be
        NULL (unless ``when``, the trigger's head, says ``NEW.x IS NOT NULL``)."""
        values = re.match(r"(?is)\s*VALUES\s*\((.*)\)\s*$", rest)
        table = self.after.tables[change.table]
        if values is None:
            return []
        names = (
            [_name(c.strip()) for c in listed.strip("()").split(",")]
            if listed
            else target.column_names
        )
        found = []
        items = _select_items(values.group(1))
        for name, item in zip(names, items, strict=False):
            into, ref = target.column(name), re.fullmatch(rf"(?i)NEW\s*\.\s*{_NAME}", item)
            source = table.column(_name(ref.group(1))) if ref else None
            if into is None or not into.notnull or source is None or source.notnull or source.pk:
                continue
            if not _not_null_guard(source.name).search(when):  # the WHEN leaves NULL out
                found.append(f"NEW.{source.name} may be NULL, {target.name}.{name} is NOT NULL")
        return found

    def checked_on_insert(self, table: str, sql: str) -> bool:
        """Whether another trigger on ``table`` refuses on INSERT what this one refuses
        (the same WHEN): every value a newer client wrote passed it, so the older
        clients' parked copies of those values, replayed as updates, pass it too."""
        when = _when(sql)
        return bool(when) and any(
            _fires_on_insert_only(other) and raises(other) and _when(other) == when
            for other in triggers_on(self.after, table).values()
        )

    def on_new_only(self, change: Change, sql: str) -> bool:
        """Whether a trigger compares only columns of its table new in this step."""
        before, after = self.before.tables[change.table], self.after.tables[change.table]
        used = columns_named(after.column_names, sql)
        return bool(used) and all(before.column(c) is None for c in used)

    def reads_other_tables(self, change: Change, sql: str) -> list[str]:
        """The replicated tables other than its own a trigger on a replicated table
        reads, directly or through views.

        A ``NOT EXISTS`` guard waiting for a parent too: a replica that holds the
        parent's delete when the row arrives refuses it for good, while one that got
        the row first keeps it. (Its own table, or a row's old values, are what a
        UNIQUE or a lock compares too: writes made at once on one version, not a
        migration, decide there.)"""
        if change.table not in self.after.replicated_tables:
            return []
        read = {_name(m.group(1)).lower() for m in _SOURCES.finditer(without_literals(sql))}
        views = {name.lower(): view for name, view in self.after.views.items()}
        seen: set[str] = set()
        while read & views.keys() - seen:  # what the views it reads read, in turn
            for view in read & views.keys() - seen:
                seen.add(view)
                text = without_literals(views[view])
                read |= {_name(m.group(1)).lower() for m in _SOURCES.finditer(text)}
        return sorted(
            name
            for name in self.after.replicated_tables
            if name.lower() in read and name.lower() != change.table.lower()
        )

    @staticmethod
    def reads_clock(sql: str) -> list[str]:
        """``["the clock"]`` when a trigger decides by the time whether to RAISE
        (``datetime('now')`` in its WHEN, or in the statement that raises): a write
        in time where it is made is late where it arrives later, from a device that
        was offline, and refused there for good. (Stamping a log is no decision.)"""
        return ["the clock"] if _nondeterministic(_raise_conditions(sql)) else []

    def collation(self, change: Change) -> None:
        """A changed COLLATE: breaking where a key, UNIQUE or CHECK compares with the column."""
        t, c = change.table, change.column or ""
        was, now = (p.strip() for p in change.detail.split("->"))
        table = self.after.tables[t]
        column = table.column(c)
        constrained = []
        if column is not None and column.pk:
            constrained.append("PRIMARY KEY")
        if any(c in cols for s in (self.before, self.after) for cols, _, _ in unique_keys(s, t)):
            constrained.append("UNIQUE")
        guards = self.compared_by(t, c, (self.before, self.after))
        checked = bool(guards)
        fields = {"a": was, "b": now, "guard": guards[0] if guards else ""}
        old = self.old(t, c)
        if not constrained:
            rule = "constraint-tightened" if checked else "collation-changed"
            text = MESSAGES["collation-check" if checked else "collation-changed"]
            self.add(rule, change, text, old, **fields)
            return
        if was == "BINARY" and now in _EXAMPLE_PAIRS:
            effect, pair = "collation-coarser", _EXAMPLE_PAIRS[now]
        elif now == "BINARY" and was in _EXAMPLE_PAIRS:
            effect, pair = "collation-finer", _EXAMPLE_PAIRS[was]
        else:
            effect, pair = "collation-other", ""
        text = MESSAGES["collation-key"].replace("{effect}", MESSAGES[effect])
        what = " and ".join(constrained)
        pair = f" {pair}" if pair else ""
        self.add("constraint-tightened", change, text, old, what=what, pair=pair, **fields)

    def column_or_table(self, change: Change) -> None:
        t, c, kind = change.table, change.column or "", change.kind
        simple = {
            "table-dropped": ("drop-table", self.old(t)),
            "notnull-added": ("not-null-added", self.old(t, c)),
            "primary-key-changed": ("primary-key-change", self.old(t)),
        }
        held = find_named(self.before.tables, t)
        was_local = held.unreplicated_reason if held is not None else None
        if kind == "primary-key-changed" and was_local:
            text = MESSAGES["primary-key-replicated"]
            self.add("primary-key-change", change, text, self.old(t), why=was_local)
        elif kind in simple:
            rule, old = simple[kind]
            self.add(rule, change, MESSAGES[rule], old)
        elif kind == "table-added":
            n = self.version
            self.add(
                "add-table",
                change,
                MESSAGES["add-table" if n > 1 else "add-table-first"],
                versions_before(n),
            )
        elif kind == "table-renamed":
            self.add("rename-table", change, MESSAGES["rename-table"], self.old(change.detail))
        elif kind == "column-added":
            column = self.after.tables[t].column(c)
            if column is not None and column.required:
                rule = "add-not-null-without-default"
                self.add(rule, change, MESSAGES[rule], self.old(t))
            elif column is not None and column.default and _nondeterministic(column.default):
                rule = "nondeterministic-default"
                moved = Change(t, c, kind, column.default)
                self.add(rule, moved, MESSAGES[rule], self.old(t))
            else:
                default = column.default if column else None
                fill = "NULL" if default is None else f"the default {default}"
                stopped = self.after.tables[t].unreplicated_reason
                text = MESSAGES["add-column-unreplicated" if was_local else "add-column"]
                if stopped and not was_local:
                    text = MESSAGES["add-column-stopped"]
                reason = was_local or stopped or ""
                self.add("add-column", change, text, self.old(t), fill=fill, why=reason)
        elif kind == "column-dropped":
            column = self.before.tables[t].column(c)
            now_generated = {g.lower() for g in self.after.tables[t].generated}
            text = MESSAGES["now-generated" if c.lower() in now_generated else "drop-column"]
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
            if was != now and stored_alike(was, now, change.detail):  # BOOLEAN <-> INTEGER
                self.add("type-renamed", change, MESSAGES["type-boolean"], self.old(t, c))
                return
            rule = "type-change" if was != now else "type-renamed"
            self.add(rule, change, MESSAGES[rule], self.old(t, c), a=was, b=now)
        elif kind == "collation-changed":
            self.collation(change)
        elif kind == "generated-changed":
            self.generated_changed(change)
        elif kind == "generated-added":
            self.add("add-generated-column", change, MESSAGES[kind], self.old(t))
        elif kind == "generated-now-stored":
            self.add("generated-column-changed", change, MESSAGES[kind], self.old(t))
        elif kind in ("strict-added", "strict-dropped"):
            # The engine already holds INTEGER, REAL and TEXT columns to their
            # declared type; STRICT only adds a check on BLOB columns (STRICT takes
            # nothing but blobs there, a non-STRICT BLOB column takes any value).
            table = self.after.tables[t] if kind == "strict-added" else self.before.tables[t]
            refusing = False
            for column in table.columns if kind == "strict-added" else ():
                why = _strict_refuses_default(t, column)
                if why is not None:
                    moved = Change(t, column.name, kind, column.default or "")
                    text = MESSAGES["strict-default"]
                    self.add("constraint-tightened", moved, text, self.old(t), why=why)
                    refusing = True
            for column in table.columns:
                if column.type.upper() == "ANY" and not column.pk:
                    # ANY is NUMERIC in a plain table ('0012' stored as 12) and keeps
                    # values as given in a STRICT one.
                    moved = Change(t, column.name, kind, change.detail)
                    self.add("type-change", moved, MESSAGES["strict-any"], self.old(t, column.name))
            if any(column.type.upper() == "BLOB" for column in table.columns):
                rule = "constraint-tightened" if kind == "strict-added" else "constraint-loosened"
                self.add(rule, change, MESSAGES[kind], self.old(t))
            elif not refusing:
                self.add("strict-changed", change, MESSAGES["strict-same"], self.old(t))
        elif kind == "notnull-dropped":
            self.add("constraint-loosened", change, MESSAGES["not-null-dropped"], self.old(t, c))
        elif kind == "default-changed":
            self.default_changed(change)
        else:  # pragma: no cover - diff_schemas only emits the kinds above
            raise AssertionError(f"unhandled schema change {kind}")

    def default_changed(self, change: Change) -> None:
        t, c, n = change.table, change.column or "", self.version
        column = self.after.tables[t].column(c)
        lacking = [v for v in range(1, n) if _has(self.schemas[v], t, None)]
        lacking = [v for v in lacking if not _has(self.schemas[v], t, c)]
        old = ", ".join(f"v{v}" for v in lacking)
        if column is not None and lacking and not column.required:
            # Those clients' rows: one default at newer peers, another once they upgrade.
            self.add("data-rewrite", change, MESSAGES["default-backfill"], old)
            return
        self.add("default-changed", change, MESSAGES["default-changed"], self.old(t, c))
        if column is not None and lacking:
            rule = "add-not-null-without-default"
            self.add(rule, change, MESSAGES["default-dropped"], old)

    def not_replicable(self, changes: list[Change]) -> None:
        for change in changes:
            table = self.after.table(change.table)
            if table is None or table.unreplicated_reason is None:
                continue
            if change.kind == "table-added":
                what = table.unreplicated_reason
            elif change.kind == "primary-key-changed" and self.before.table(change.table):
                what = "lost its single-column primary key"
            else:
                continue
            self.add("not-replicable", change, MESSAGES["not-replicable"], what=what)
        for name, table in self.after.tables.items():
            reason = table.unreplicated_reason
            if reason is None or name not in self.before.replicated_tables:
                continue
            if any(c.kind == "primary-key-changed" and c.table == name for c in changes):
                continue  # said as primary-key-change (and not-replicable) already
            change = Change(name, None, "replication-stopped", reason)
            text = MESSAGES["replication-stopped"]
            self.add("replication-stopped", change, text, self.old(name), what=reason)


Contents = dict[str, tuple[Any, ...]]
"""What each local table or view a trigger names holds at one version (lower-case names)."""


def _snapshots(migrations: Sequence[Migration]) -> tuple[list[Schema], list[Contents]]:
    """The schema at every version 0..latest, built once, step by step, in memory, and
    what the local tables and views its triggers name hold (:func:`_local_contents`)."""
    conn: sqlite3.Connection = expected_schema_conn(migrations, 0)
    try:
        schemas = [snapshot(conn)]
        contents = [_local_contents(conn, schemas[0])]
        for migration in migrations:
            migrate(conn, migrations, target=migration.version)
            schemas.append(snapshot(conn))
            contents.append(_local_contents(conn, schemas[-1]))
        return schemas, contents
    except NexusError as exc:
        raise HarnessError(f"cannot build the schemas to lint: {exc}") from exc
    finally:
        conn.close()


def _collated(table: Table, name: str) -> str:
    """`` COLLATE X`` when ``table`` compares its column ``name`` other than BINARY."""
    column = table.column(name)
    collation = collation_of(column) if column is not None else "BINARY"
    return "" if collation == "BINARY" else f" COLLATE {collation}"


def _refusal_profile(schema: Schema, name: str) -> tuple[Any, ...] | None:
    """What decides which inserts a local table refuses: its required columns,
    CHECKs, keys and UNIQUEs (with their columns' collations) and RAISE triggers."""
    table = find_named(schema.tables, name)
    if table is None:
        return None
    collations = {c.name.lower(): collation_of(c) for c in table.columns}
    keys = [tuple(table.primary_key), *(cols for cols, _, _ in unique_keys(schema, table.name))]
    return (
        sorted(c.name.lower() for c in table.columns if c.required),
        sorted(sql_key(check) or "" for check in table.checks),
        sorted([(c.lower(), collations.get(c.lower(), "")) for c in key] for key in keys if key),
        sorted(
            trigger_key(guard) or ""
            for guard in triggers_on(schema, table.name).values()
            if raises(guard)
        ),
    )


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


def versions_before(n: int) -> str:
    """The clients older than version ``n``, as messages name them: ``v1`` or ``v1-v{n-1}``."""
    return f"v{n - 1}" if n == 2 else f"v1-v{n - 1}"


_REWRITE = re.compile(
    r"(?is)^\s*(?:WITH\b(.*?\))\s*)?"
    r"(UPDATE(?:\s+OR\s+\w+)?|DELETE\s+FROM|(?:INSERT(?:\s+OR\s+\w+)?|REPLACE)\s+INTO)"
    rf"\s+{_QUALIFIED}(.*)$"
)
_CTE = re.compile(
    rf"(?is)(?:^|,)\s*(?:RECURSIVE\s+)?{_NAME}\s*(?:\([^)]*\))?\s*AS\s*(?:NOT\s+)?(?:MATERIALIZED\s+)?\("
)
_SOURCES = re.compile(rf"(?is)\b(?:FROM|JOIN)\s+{_QUALIFIED}")
_RENAME_TABLE = re.compile(rf"(?is)^\s*ALTER\s+TABLE\s+{_QUALIFIED}\s+RENAME\s+TO\s+{_NAME}\s*$")
_RENAME_COLUMN = re.compile(
    rf"(?is)^\s*ALTER\s+TABLE\s+{_QUALIFIED}\s+RENAME\s+(?:COLUMN\s+)?{_NAME}\s+TO\s+{_NAME}\s*$"
)
# Table-valued functions a SELECT may read rows from: not tables, so not a copy.
_FUNCTIONS = frozenset({"json_each", "json_tree", "generate_series"})
_TYPE_WORDS = {str: "text", int: "integer", float: "real", bytes: "blob"}


def _name(token: str) -> str:
    return token[1:-1] if token[:1] in '"`[' else token


def _view_sources(codes: Sequence[str], before: Schema, after: Schema) -> dict[str, set[str]]:
    """The tables each view reads, by view name (lower case): the schemas' views and
    those the migration makes (and may drop again)."""
    texts = {name.lower(): sql for schema in (before, after) for name, sql in schema.views.items()}
    for code in codes:
        made = _CREATE_VIEW.match(code)
        if made:
            texts[_name(made.group(1)).lower()] = code
    return {
        view: {_name(m.group(1)).lower() for m in _SOURCES.finditer(sql)}
        for view, sql in texts.items()
    }


def _derived_into(
    match: re.Match[str],
    later: Sequence[str],
    replicated: Mapping[str, str],
    after: Schema,
    views: Mapping[str, set[str]],
) -> str | None:
    """The replicated table an ``INSERT ... SELECT`` into a table new in the migration
    fills with rows derived from tables that existed before (a split or a merge of
    replicated tables, or a device's own local table), if any.

    Each replica derives them from the rows it holds at upgrade; rows older
    clients send later are never derived, and no op carries the derived ones.
    A rebuild (the copy ends up under its source's name) is a copy, not this.
    """
    if match.group(2).split()[0].upper() not in ("INSERT", "REPLACE"):
        return None
    final = _final_name(_name(match.group(3)), later)
    body = f"{match.group(1) or ''} {match.group(4)}"
    named = {_name(m.group(1)).lower() for m in _SOURCES.finditer(body)}
    named |= {table for view in named for table in views.get(view, set())}  # through views
    sources = named & set(replicated)
    target = find_named(after.replicated_tables, final)
    if target is None or not sources or final.lower() in sources:
        return None
    return target.name


def _seeded_apart(
    match: re.Match[str], statement: str, later: Sequence[str], after: Schema
) -> str | None:
    """The replicated table an ``INSERT`` fills with rows each replica computes
    differently (``randomblob()`` ids, ``CURRENT_TIMESTAMP``, or such a column
    default the insert leaves to the table), if any.

    Rows the same on every device are harmless: each replica holds the same
    ones. These differ from device to device, and no op ever carries them.
    """
    if match.group(2).split()[0].upper() not in ("INSERT", "REPLACE"):
        return None
    table = find_named(after.replicated_tables, _final_name(_name(match.group(3)), later))
    if table is None:
        return None
    listed = re.match(r"\s*\(([^)]*)\)", match.group(4))
    named = {_name(c.strip()).lower() for c in listed.group(1).split(",")} if listed else None
    left = [
        c
        for c in table.columns
        if named is not None and c.name.lower() not in named and c.default is not None
    ]
    if _nondeterministic(statement) or any(_nondeterministic(c.default or "") for c in left):
        return table.name
    return None


def _creates(kind: str, rest: str = "") -> re.Pattern[str]:
    """``CREATE [TEMP] <kind> [IF NOT EXISTS] name`` (the name is group 1), then ``rest``."""
    return re.compile(
        rf"(?is)^\s*CREATE\s+(?:TEMP\s+|TEMPORARY\s+)?{kind}\s+(?:IF\s+NOT\s+EXISTS\s+)?"
        rf"{_QUALIFIED}{rest}"
    )


_CREATE_TABLE = _creates("TABLE")
_COPY_AS = _creates("TABLE", r"\s+AS\s+(.*)$")
_CREATE_TRIGGER = _creates("TRIGGER")
_CREATE_VIEW = _creates("VIEW")
_DROP_TABLE = re.compile(rf"(?is)^\s*DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?{_QUALIFIED}\s*$")
_DROP_COLUMN = re.compile(
    rf"(?is)^\s*ALTER\s+TABLE\s+{_QUALIFIED}\s+DROP\s+(?:COLUMN\s+)?{_NAME}\s*$"
)


def _instead_of_writes(
    statements: Sequence[str], before: Schema, after: Schema
) -> dict[str, set[str]]:
    """Per table or view (lower case), the tables its triggers write: those of the
    schemas and those the migration makes."""
    found: dict[str, set[str]] = {}
    texts = [*before.triggers.values(), *after.triggers.values()]
    texts += [code for code in statements if _CREATE_TRIGGER.match(code)]
    for sql in texts:
        found.setdefault(trigger_table(sql).lower(), set()).update(
            t.lower() for t in _written_tables(sql)
        )
    return found


def _through_view(
    target: str, instead: Mapping[str, set[str]], replicated: Mapping[str, str]
) -> list[str]:
    """The replicated tables a write to ``target`` reaches through triggers, following
    a trigger that writes another view (empty when ``target`` has no triggers)."""
    reached: set[str] = set()
    seen: set[str] = set()
    todo = [target.lower()]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for table in instead.get(name, set()):
            if table in replicated:
                reached.add(replicated[table])
            else:
                todo.append(table)
    return sorted(reached)


def _follow_copies(code: str, replicated: Mapping[str, str], copies: dict[str, str]) -> None:
    """Note tables that hold a replicated table's old rows: renamed away from it
    (``ALTER TABLE t RENAME TO t_old``) or filled from it (``CREATE TABLE x AS
    SELECT``, ``INSERT INTO backup SELECT``)."""
    renamed = _RENAME_TABLE.match(code)
    if renamed:
        old = _name(renamed.group(1)).lower()
        source = replicated.get(old) or copies.get(old)
        if source is not None:
            copies[_name(renamed.group(2)).lower()] = source
        return
    target = _staged_target(code)
    if target is not None and target not in replicated:
        read = [_name(m.group(1)).lower() for m in _SOURCES.finditer(code)]
        source = next(
            (replicated.get(t) or copies.get(t) for t in read if t in replicated or t in copies),
            None,
        )
        if source is not None:
            copies[target] = source


def _final_name(table: str, later: Sequence[str]) -> str:
    """``table``'s name after the renames of ``later`` statements."""
    for code in later:
        renamed = _RENAME_TABLE.match(code)
        if renamed and _name(renamed.group(1)).lower() == table.lower():
            table = _name(renamed.group(2))
    return table


def _wiped(code: str, replicated: Mapping[str, str], after: Schema) -> tuple[str, str] | None:
    """A replicated table dropped (or renamed away) and made again, or a column
    dropped and added again: (the table, what) when the migration may empty each
    replica's own.

    A dropped table is emptied only if its rows are not copied back into it;
    the caller asks :func:`_copied_back` once the whole migration is read.
    """
    dropped = _DROP_TABLE.match(code) or _RENAME_TABLE.match(code)
    if dropped:
        name = _name(dropped.group(1)).lower()
        again = find_named(after.replicated_tables, name) is not None
        if name in replicated and again:  # (renamed away: its rows leave with it)
            verb = "DROP TABLE" if dropped.re is _DROP_TABLE else "RENAME TABLE away"
            return replicated[name], f"{verb}, made again empty"
        return None
    column = _DROP_COLUMN.match(code)
    if column:
        name = _name(column.group(1)).lower()
        table = find_named(after.replicated_tables, name)
        kept = {c.name.lower() for c in table.columns} if table is not None else set()
        if name in replicated and _name(column.group(2)).lower() in kept:
            return replicated[name], f"DROP COLUMN {_name(column.group(2))}, added again empty"
    return None


def _copied_back(
    table: str,
    codes: Sequence[str],
    copies: Mapping[str, AbstractSet[str]],
    views: Mapping[str, set[str]],
) -> bool:
    """Whether the migration fills ``table`` (under its final name) with its own old
    rows: an ``INSERT ... SELECT`` from it, or from a copy of it (``CREATE TABLE x
    AS SELECT``, an ``INSERT`` into a backup table, a rename away), perhaps through
    a view; or such a copy renamed to it.

    (A table read only into an archive that stays aside, then made again, is emptied.)
    """
    name = table.lower()
    holders = {name} | {
        held for held, sources in copies.items() if name in {s.lower() for s in sources}
    }
    for index, code in enumerate(codes):
        renamed = _RENAME_TABLE.match(code)
        if renamed and _name(renamed.group(1)).lower() in holders:
            if _name(renamed.group(2)).lower() == name:
                return True
            holders.add(_name(renamed.group(2)).lower())
            continue
        match = _REWRITE.match(code)
        if not match or match.group(2).split()[0].upper() not in ("INSERT", "REPLACE"):
            continue
        body = f"{match.group(1) or ''} {match.group(4)}"
        read = {_name(m.group(1)).lower() for m in _SOURCES.finditer(body)}
        read |= {source for view in read for source in views.get(view, set())}
        if read & holders:
            if _final_name(_name(match.group(3)), codes[index + 1 :]).lower() == name:
                return True
            holders.add(_name(match.group(3)).lower())  # a copy set aside (a backup table)
    return False


def data_rewrites(
    migration: Migration,
    before: Schema,
    after: Schema,
    clients: Callable[[str], str],
) -> list[Finding]:
    """UPDATE, DELETE and seeding INSERT statements on replicated tables that existed before.

    A schema diff cannot see them, yet they change each replica's own rows at
    upgrade time, outside the oplog. An INSERT creates rows no op carries,
    unless it copies them from a table the migration made (a rebuild's
    ``INSERT ... SELECT ... FROM`` its old copy), which is not a rewrite.
    """
    replicated = {name.lower(): name for name in before.replicated_tables}
    found: dict[str, list[str]] = {}
    codes = [without_literals(strings_as_names(code)) for code in migration.code]
    views = _view_sources(codes, before, after)
    existing = {t.lower(): t for t in before.tables}
    kept_triggers = {trigger_key(sql) for sql in after.triggers.values()}
    copies: dict[str, str] = {}  # a table holding a replicated table's rows -> that table
    every_copy: dict[str, set[str]] = {}  # the same, every table a name has held rows of
    edited: dict[str, list[tuple[str, str]]] = {}  # such a copy -> (table, edit) made to it
    instead = _instead_of_writes(migration.code, before, after)
    copies_back, _ = _copies_back(migration.code, before, after)
    created: set[str] = set()  # tables (re)created so far in the migration
    wipes: list[tuple[str, str]] = []  # (table, what) a DROP may empty
    for index, code in enumerate(codes):
        made = _CREATE_TABLE.match(code)
        if made:
            created.add(_name(made.group(1)).lower())
        trigger = _CREATE_TRIGGER.match(code)
        if trigger and trigger_key(migration.code[index]) not in kept_triggers:
            # Made for the migration and gone after it (or another trigger by that name
            # made later): what it writes, into a table that ends up replicated, it
            # writes now.
            for written in sorted(_written_tables(code)):
                table = _final_name(written, codes[index + 1 :])
                if table.lower() in replicated:
                    what = "rows written by a trigger the migration makes and drops"
                    found.setdefault(replicated[table.lower()], []).append(what)
        wiped = _wiped(code, replicated, after)
        if wiped is not None:
            wipes.append(wiped)
        _follow_copies(code, replicated, copies)
        for held, source in copies.items():  # (a name may hold two tables' rows in turn)
            every_copy.setdefault(held, set()).add(source)
        match = _REWRITE.match(code)
        if match and match.group(2).split()[0].upper() in ("INSERT", "REPLACE"):
            final = _final_name(_name(match.group(3)), codes[index + 1 :]).lower()
            if final in replicated:  # rows copied back: edits made to them on the way count
                for source in {_name(m.group(1)).lower() for m in _SOURCES.finditer(code)}:
                    for table, what in edited.pop(source, []):
                        if table.lower() == replicated[final].lower():  # (not another's rows)
                            found.setdefault(table, []).append(what)
        if match and _name(match.group(3)).lower() not in replicated:
            verb = match.group(2).split()[0].upper()
            final = _final_name(_name(match.group(3)), codes[index + 1 :])
            if verb in ("UPDATE", "DELETE") and final.lower() in replicated:
                # The rebuilt copy, edited before it takes the old table's place.
                found.setdefault(replicated[final.lower()], []).append(f"{verb} of its new copy")
                continue
            through = _through_view(_name(match.group(3)), instead, replicated)
            if through:
                # A write to a view: its INSTEAD OF triggers write the tables.
                for table in through:
                    what = f"{verb} through the view {_name(match.group(3))}"
                    found.setdefault(table, []).append(what)
                continue
            copy_of = copies.get(_name(match.group(3)).lower())
            if verb in ("UPDATE", "DELETE") and copy_of is not None:
                # Its old rows, renamed away or copied aside, edited: a rewrite once
                # they are copied back (a scratch copy left alone is not one).
                what = f"{verb} of its rows in {_name(match.group(3))}"
                edited.setdefault(_name(match.group(3)).lower(), []).append((copy_of, what))
                continue
            derived = _derived_into(match, codes[index + 1 :], existing, after, views)
            if derived is not None:
                found.setdefault(derived, []).append("INSERT of rows derived from others")
                continue
            seeded = _seeded_apart(match, migration.code[index], codes[index + 1 :], after)
            if seeded is not None and seeded.lower() not in replicated:
                what = "seed rows made from randomness or the clock, different on each device"
                found.setdefault(seeded, []).append(what)
            continue
        if not match:
            continue
        verb = match.group(2).split()[0].upper()
        if verb in ("INSERT", "REPLACE"):
            rest = re.sub(r"^\s*\([^)]*\)", "", match.group(4))  # the column list
            ctes = {_name(m.group(1)).lower() for m in _CTE.finditer(match.group(1) or "")}
            body = f"{match.group(1) or ''} {rest}"
            sources = {_name(m.group(1)).lower() for m in _SOURCES.finditer(body)}
            copied_from = sources - ctes - _FUNCTIONS - {t.lower() for t in before.tables}
            recreated = _name(match.group(3)).lower() in created
            if recreated and copied_from and not re.match(r"(?i)\s*(?:VALUES|DEFAULT)\b", rest):
                continue  # the table made again, filled from its old copy: a rebuild
            verb = "INSERT"
        if verb.startswith("UPDATE") and _changes_no_row(migration.code[index], before, after):
            continue  # (``ADD COLUMN ... DEFAULT 1`` then ``= 1``; ``SET title = title``)
        if verb.startswith("UPDATE") and index in copies_back:
            continue  # (a column made again in place, its values copied back whole)
        found.setdefault(replicated[_name(match.group(3)).lower()], []).append(verb)
    for table, what in wipes:
        if what.startswith("DROP COLUMN") or not _copied_back(table, codes, every_copy, views):
            found.setdefault(table, []).append(what)
    n = migration.version
    return [
        _rewrite(table, " and ".join(dict.fromkeys(verbs)), clients, n)
        for table, verbs in sorted(found.items())
    ]


def _rewrite(
    table: str, what: str, clients: Callable[[str], str], n: int, message: str = "data-rewrite"
) -> Finding:
    """A data-rewrite finding on ``table``: ``what`` the migration does to its rows."""
    text = MESSAGES[message].format(t=table, what=what, old=clients(table), n=n)
    return Finding("data-rewrite", table, None, text, RULES["data-rewrite"])


_INSERT_SELECT = re.compile(
    r"(?is)^\s*(WITH\b.*?\)\s*)?(?:INSERT(?:\s+OR\s+\w+)?|REPLACE)\s+INTO\s+"
    rf"{_QUALIFIED}\s*(\([^)]*\))?\s*SELECT\s+(.*)$"
)
_COLUMN_REF = re.compile(rf"(?is)^(?:{_NAME}\s*\.\s*)?{_NAME}$|^\*$|^{_NAME}\s*\.\s*\*$")
_CAST = re.compile(
    rf"(?is)^CAST\s*\(\s*(?:{_NAME}\s*\.\s*)?{_NAME}\s+AS\s+([^()]*(?:\([^()]*\))?\s*)\)$"
)
_ALIAS = re.compile(rf"(?is)^(.*?)\s+(?:AS\s+)?{_NAME}$")


def _select_items(text: str) -> list[str]:
    """The comma-separated items of a SELECT list, up to its own FROM (literals kept)."""
    items: list[str] = []
    depth = start = 0
    for offset, token in sql_tokens(text):
        if token == "(":
            depth += 1
        elif token == ")":
            depth -= 1
        elif depth == 0 and token == ",":
            items.append(text[start:offset].strip())
            start = offset + 1
        elif depth == 0 and token.upper() == "FROM":
            text = text[:offset]
            break
    items.append(text[start:].strip())
    if len(items) == 1 and re.fullmatch(rf"(?s){_NAME}\s*\.\s*\*", items[0]):
        items = ["*"]  # ``t.*``, all a SELECT of one table lists, is ``*``
    return [
        re.sub(r"(?is)^(?:DISTINCT|ALL)\s+", "", item, count=1) if n == 0 else item
        for n, item in enumerate(items)
    ]


# Affinities whose CAST changes no value such a column holds (see merge.value_problem:
# INTEGER holds integers, REAL numbers, TEXT text). CAST AS NUMERIC reads a date's
# year as a number; CAST AS BLOB turns text into bytes.
_NO_OP_CASTS: dict[str, type] = {"INTEGER": int, "REAL": float, "TEXT": str}


def _same_as_copy(
    item: str, column: Column | None, existed: frozenset[str], kept: frozenset[str]
) -> bool:
    """Whether a rebuild's SELECT item gives a row the value sync would give it too.

    A column the old table had must be copied from itself (or cast where the
    cast changes nothing the column holds): anything else, its default
    included, rewrites values older clients still hold. A column new in the
    step may take a column the table no longer has (a rename) or its own
    default, what rows from older clients get anyway; a copy of a column the
    table keeps is a backfill older clients never send.
    """
    aliased = _ALIAS.match(item)
    inner = aliased.group(1).strip() if aliased else ""
    text = inner if inner and (_ref(inner) or _CAST.match(inner)) else item
    old = column is not None and column.name.lower() in existed
    own = column.name.lower() if column else ""
    taken = _ref(text)
    if taken is not None:
        return taken in ("*", own) or (not old and taken not in kept)
    cast = _CAST.match(text)
    if cast and column is not None:
        source = _name(cast.group(2)).lower()
        same = source == own or (not old and source not in kept)
        affinity = type_affinity(cast.group(3))
        # (An INTEGER column DEFAULT CURRENT_TIMESTAMP holds text, which the cast rewrites.)
        stored = default_type(column.type, column.default)
        return (
            same
            and affinity == column.affinity
            and affinity in _NO_OP_CASTS
            and stored in (None, _NO_OP_CASTS[affinity])
        )
    if column is None or old:
        return False
    # The column's own default, spelled as it is or otherwise (``False`` for ``0``).
    return stored_default(replace(column, default=text)) == stored_default(column)


# A JSON function that fails on text that is not JSON, and the column it reads.
_JSON_CALL = re.compile(
    # Not those that take any value: json_array('x') and json_object('k', 'x') are fine.
    # json() itself fails on text that is not JSON too.
    r"(?i)\bjson(?:_(?!valid\b|quote\b|array\b|object\b|group_array\b|group_object\b)\w+)?\s*\("
    # through functions that pass the column on: json_extract(COALESCE(custom, '{}'), ...)
    r"(?:\s*(?!json_(?:valid|array|object|quote)\b)\w+\s*\()*"
    r'\s*(?:(?:NEW|OLD)\s*\.\s*)?("[^"]+"|`[^`]+`|\[[^\]]+\]|\w+\b)(?!\s*\()'
)
_JSON_VALID = re.compile(
    r'(?i)\bjson_valid\s*\(\s*(?:(?:NEW|OLD)\s*\.\s*)?("[^"]+"|`[^`]+`|\[[^\]]+\]|\w+)'
)
# The same through SQLite's JSON operators: ``meta ->> '$.tier'``.
_JSON_ARROW = re.compile(r'("[^"]+"|`[^`]+`|\[[^\]]+\]|\w+)\s*->>?')


def _json_default(column: Column) -> bool:
    """Whether ``column``'s default, if any, is JSON (``DEFAULT ''`` is not)."""
    if column.default is None or null_default(column.default):
        return True
    try:
        (valid,) = on_defaults([column], f"json_valid({quote_identifier(column.name)})")
    except sqlite3.Error:
        return False
    return bool(valid)


# Text that is not JSON, which a JSON function fails on ("malformed JSON").
_NOT_JSON = ("", "x", "not json", "{")


def _holds_json(table: Table, column: str) -> bool:
    """Whether the table's CHECKs refuse every text in ``column`` that is not JSON,
    tried by SQLite on a row holding such text there and NULL elsewhere
    (``CHECK (json_valid(doc) OR doc = '')`` lets ``''`` through)."""
    if not allowed(column, table.checks).json:
        return False
    names = ", ".join(quote_identifier(name) for name in table.column_names)
    checks = "".join(f", CHECK ({check})" for check in table.checks)
    try:
        with closing(memory()) as conn:
            conn.execute(f"CREATE TABLE probe ({names}{checks})")
            for text in _NOT_JSON:
                try:
                    conn.execute(
                        f"INSERT INTO probe ({quote_identifier(column)}) VALUES (?)", (text,)
                    )
                except sqlite3.IntegrityError:
                    continue
                return False
    except sqlite3.Error:
        return True  # (a CHECK SQLite cannot try alone: as its words say)
    return True


def _json_reads(sql: str) -> set[str]:
    """The columns an expression reads as JSON (lower case): it fails on other text.

    Not those it checks with ``json_valid`` first (``CASE WHEN json_valid(info)
    THEN json_extract(info, '$.isbn') END``)."""
    found = {_name(m.group(1)).lower() for m in _JSON_CALL.finditer(sql)}
    found |= {_name(m.group(1)).lower() for m in _JSON_ARROW.finditer(sql)}
    return found - {_name(m.group(1)).lower() for m in _JSON_VALID.finditer(sql)}


_LITERAL_WORDS = frozenset({"null", "true", "false", "current_time", "current_date"})


def _ref(text: str) -> str | None:
    """The column a SELECT item names (lower case; ``*`` for a star), or None."""
    found = _COLUMN_REF.match(text)
    if found is None:
        return None
    named = next((g for g in reversed(found.groups()) if g), "*")
    name = _name(named).lower()
    if named[:1] in '"`[':
        return name  # quoted: a column, even one named "true"
    if name in _LITERAL_WORDS or name == "current_timestamp" or name[:1].isdigit():
        return None
    return name


_UPDATE_SET = re.compile(rf"(?is)^\s*UPDATE(?:\s+OR\s+\w+)?\s+{_QUALIFIED}\s+SET\s+(.*)$")


def _assignments(text: str) -> tuple[list[str], str | None]:
    """The ``column = value`` terms of an UPDATE (the text after SET), and the
    clause that ends them (``WHERE``, ``FROM``, ...), if any."""
    assignments: list[str] = []
    depth = start = 0
    for offset, token in sql_tokens(text):
        depth += (token == "(") - (token == ")")
        if depth == 0 and token == ",":
            assignments.append(text[start:offset])
            start = offset + 1
        elif depth == 0 and token.upper() in ("WHERE", "FROM", "RETURNING", "ORDER", "LIMIT"):
            assignments.append(text[start:offset])
            return assignments, token.upper()
    assignments.append(text[start:])
    return assignments, None


def _copies_back(codes: Sequence[str], before: Schema, after: Schema) -> tuple[set[int], set[str]]:
    """Columns made again in place: ``RENAME COLUMN note TO note_old``, ``ADD
    COLUMN note``, ``UPDATE t SET note = note_old`` (every row, nothing else),
    ``DROP COLUMN note_old``. The column keeps every value (a new type is the
    schema diff's to judge), so neither that UPDATE (its index in ``codes``) nor
    the rename (``table.column`` in lower case) moved anything. Not on a table
    with triggers, which the UPDATE fires."""
    renamed: dict[tuple[str, str], str] = {}  # (table, column) -> its name now
    added: set[tuple[str, str]] = set()
    copies: dict[int, set[tuple[str, str]]] = {}  # UPDATE -> (table, column) copied back
    dropped: set[tuple[str, str]] = set()  # (table, staging column) dropped after its copy
    for index, code in enumerate(codes):
        if match := _RENAME_COLUMN.match(code):
            table, old, new = (_name(match.group(i)).lower() for i in (1, 2, 3))
            renamed[table, old] = new
        elif match := _ADD_COLUMN.match(code):
            table, column = _name(match.group(1)).lower(), _name(match.group(2)).lower()
            if (table, column) in renamed:
                added.add((table, column))
        elif match := _DROP_COLUMN.match(code):
            dropped.add((_name(match.group(1)).lower(), _name(match.group(2)).lower()))
        elif match := _UPDATE_SET.match(code):
            table = _name(match.group(1)).lower()
            assignments, clause = _assignments(match.group(2))
            sets = [
                (_name(named.strip()).lower(), _name(value.strip()).lower())
                for named, _, value in (a.partition("=") for a in assignments)
            ]
            copied = {
                (table, column)
                for column, value in sets
                if (table, column) in added and renamed.get((table, column)) == value
            }
            if clause is None and len(copied) == len(sets):
                copies[index] = copied
    updates: set[int] = set()
    columns: set[str] = set()
    for index, copied in copies.items():
        table = next(iter(copied))[0]
        if _triggers_matter(before, table) or _triggers_matter(after, table):
            continue
        if all((t, renamed[t, c]) in dropped for t, c in copied):
            updates.add(index)
            columns.update(f"{t}.{c}" for t, c in copied)
    return updates, columns


def _triggers_matter(schema: Schema, table: str) -> bool:
    """Whether an UPDATE of ``table`` fires a trigger sync could see: one that can
    RAISE, or writes a replicated table, a view or a table this schema lacks (an
    ``updated_at`` stamp). One writing only local tables (a full-text index kept
    by triggers, an audit log) changes nothing any peer holds."""
    local = {name.lower() for name in schema.tables if name not in schema.replicated_tables}
    for sql in triggers_on(schema, table).values():
        written = [name for name in _written_tables(sql) if not schema.local_table(name)]
        if raises(sql) or any(name.lower() not in local for name in written):
            return True
    return False


def _changes_no_row(code: str, before: Schema, after: Schema) -> bool:
    """Whether an UPDATE leaves every row as it was: it sets only columns new in the
    migration, each to its own default written as literals (the value every row holds
    already, and the one peers give rows that older clients send without the column),
    or sets each column it names to itself (``SET title = title``). Not where the
    table's triggers matter: an UPDATE fires them (an ``updated_at`` stamp)."""
    match = _UPDATE_SET.match(code)
    if match is None:
        return False
    old, new = (
        find_named(before.tables, _name(match.group(1))),
        find_named(after.tables, _name(match.group(1))),
    )
    if old is None or new is None:
        return False
    if _triggers_matter(before, old.name) or _triggers_matter(after, new.name):
        return False  # (an UPDATE trigger writes or refuses even what changes nothing)
    pairs = [assignment.partition("=") for assignment in _assignments(match.group(2))[0]]
    return _self_assigned(pairs) or _sets_new_defaults(pairs, old, new)


def _self_assigned(pairs: Sequence[tuple[str, str, str]]) -> bool:
    """Whether each ``column = value`` assignment sets a column to itself."""
    return all(
        sign
        and _name(named.strip()).lower() == _name(value.strip()).lower()
        and re.fullmatch(r"[\w\"`\[\]]+", value.strip()) is not None
        for named, sign, value in pairs
    )


def _sets_new_defaults(pairs: Sequence[tuple[str, str, str]], old: Table, new: Table) -> bool:
    """Whether each assignment sets a column new in the migration to its own default
    written as literals."""
    for named, _, value in pairs:
        column = new.column(_name(named.strip()))
        if column is None or old.column(column.name) is not None or column.default is None:
            return False
        if not _literals_only(value):  # (CURRENT_TIMESTAMP: each row, each device its own)
            return False
        if stored_default(replace(column, default=value.strip())) != stored_default(column):
            return False
    return True


def rebuilt_values(
    migration: Migration,
    before: Schema,
    after: Schema,
    clients: Callable[[str], str],
) -> list[Finding]:
    """A rebuild's ``INSERT ... SELECT`` that fills a replicated table's columns with
    expressions (a constant, ``COALESCE``, ``lower()``) instead of copies.

    A replica that upgrades changes its own rows; rows older clients send
    later arrive as they wrote them (or with the default), and no op carries
    the change, so the two diverge. Copies, casts to the column's own
    affinity and the column's own default are what sync gives them anyway.
    """
    replicated = {name.lower(): name for name in before.replicated_tables}
    statements = migration.code
    found: dict[str, list[str]] = {}
    filtered: set[str] = set()
    indirect: dict[str, str] = {}  # tables copied through a subquery, join or view
    views = set(_view_sources(statements, before, after))
    # A staging table filled once: (its column, what of the old rows fills it), read
    # where it is copied on. Staging copies are judged as the last copy is.
    staged: dict[tuple[str, str], list[tuple[str, str]]] = {}  # by (staging, table fed)
    fills, seeded = _staging_fills(statements, replicated, after)
    for fed in seeded.values():
        indirect.setdefault(fed, "rows the migration writes into its staging copy")
    made_as: dict[str, list[str]] = {}  # a staging table made by a SELECT: its columns
    read = {i: _staged_copy(statements, i) for i in fills}
    # A copy that keeps no row (``WHERE 0``) only makes the staging table's shape.
    live = {
        i: fill
        for i, fill in read.items()
        if fill is not None and _rows_kept(fill.select) is not False
    }
    for index, fed in sorted(fills.items()):
        fill = read[index]
        if fill is None:
            continue
        if not fill.columns and fill.target in made_as:  # an INSERT by position
            fill = replace(fill, columns=made_as[fill.target])
        old_table = before.tables[fed]
        if index not in live:  # it only makes the table: its columns, for INSERTs by position
            star = fill.columns == ["*"] and _reads_old_rows(fill.select, fed, statements[:index])
            made_as[fill.target] = list(old_table.column_names) if star else fill.columns
            if not any(fills[i] == fed and f.target == fill.target for i, f in live.items()):
                filtered.add(fed)  # nothing fills it after: the rows are gone
            continue
        alone = sum(fills[i] == fed and f.target == fill.target for i, f in live.items()) == 1
        if (alone and _filters(fill.select)) or fill.dedupes(old_table.row_key):
            filtered.add(fed)  # (filled in parts, the parts may make the whole)
        source = _copy_source(fill.select, views, fill.defined, old_table.row_key)
        ours = _old_names(fed, statements[:index]) | {f.target for f in live.values()}
        if source is None and _read_tables(fill.select) - ours - fill.defined:
            source = "rows of another table"  # merged into the staging copy
        if source is not None:
            indirect.setdefault(fed, source)
        named_as, items = fill.columns, _through_staging(fill.items, fill.select, staged, fed)
        if items == ["*"] and _reads_old_rows(fill.select, fed, statements[:index]):
            items = [quote_identifier(c) for c in old_table.column_names]  # by position
            named_as = list(old_table.column_names) if named_as == ["*"] else named_as
        items = fill.stored(named_as, items, old_table)
        if fill.made:
            made_as[fill.target] = list(named_as)
        if alone and len(items) == len(named_as) and all(named_as):
            if fill.declared is not None:  # read on in the declared order; left out: NULL
                terms = {c.lower(): term for c, term in zip(named_as, items, strict=True)}
                named_as = [c for c, _ in fill.declared.columns]
                items = [terms.get(c.lower(), "NULL") for c in named_as]
            staged[fill.target, fed] = list(zip(named_as, items, strict=True))
            continue
        table = find_named(after.tables, fed)
        assert table is not None  # (fills are of tables replicated after)
        existed = frozenset(c.name.lower() for c in old_table.columns)
        kept = existed & {c.name.lower() for c in table.columns}
        filled = [
            column.name
            for item, named in zip(items, named_as, strict=False)
            if (column := table.column(named)) is not None
            and not _same_as_copy(item, column, existed, kept)
        ]
        found.setdefault(fed, []).extend(c for c in filled if c not in found.get(fed, []))
    for index, code in enumerate(statements):
        match = _INSERT_SELECT.match(code)
        if not match:
            continue
        final = _final_name(_name(match.group(2)), statements[index + 1 :])
        name = replicated.get(final.lower())
        found_table = find_named(after.replicated_tables, name or "")
        if name is None or found_table is None:
            continue
        table = found_table  # (perhaps renamed in case only: ``Visits`` made ``visits``)
        listed = match.group(3)
        columns = (
            [_name(c.strip()) for c in listed.strip("() \n\t").split(",")]
            if listed
            else table.column_names
        )
        old_table = before.tables[name]
        existed = frozenset(c.name.lower() for c in old_table.columns)
        kept = existed & {c.name.lower() for c in table.columns}
        if _filters(match.group(4)):
            filtered.add(name)
        # A name the WITH defines reads like a table but is a query of its own.
        ctes = re.sub(r"(?is)^\s*WITH\s+", "", match.group(1) or "")
        queries = {_name(m.group(1)).lower() for m in _CTE.finditer(ctes)}
        source = _copy_source(match.group(4), views, queries, old_table.row_key)
        if source is not None:
            indirect.setdefault(name, source)
        items = _select_items(match.group(4))
        through = _through_staging(items, match.group(4), staged, name)
        if through != items:
            items = through
        elif items == ["*"] and source is None and not old_table.generated:
            # By position: a new table declaring the columns in another order swaps them.
            items = [quote_identifier(c) for c in old_table.column_names]
        if len(items) != len(columns):
            continue
        filled = [
            column
            for column, item in zip(columns, items, strict=True)
            if not _same_as_copy(item, table.column(column), existed, kept)
        ]
        if listed:  # old columns left out of the copy get their default
            named = {c.lower() for c in columns}
            filled += [
                c.name
                for c in table.columns
                if c.name.lower() in existed and c.name.lower() not in named
            ]
        found.setdefault(name, []).extend(c for c in filled if c not in found.get(name, []))
    n = migration.version
    findings = [
        _rewrite(name, ", ".join(filled), clients, n, "rebuild-fill")
        for name, filled in sorted(found.items())
        if filled
    ]
    findings += [
        _rewrite(name, f"a rebuild copy that reads {source}, not the old table alone", clients, n)
        for name, source in sorted(indirect.items())
        if not found.get(name)  # (else already said: it fills columns with expressions)
    ]
    findings += [
        _rewrite(name, "a rebuild copy that leaves rows out (WHERE, LIMIT)", clients, n)
        for name in sorted(filtered)
    ]
    return findings


_SELECT_BODY = re.compile(r"(?is)^\s*(WITH\b.*?\)\s*)?SELECT\s+(.*)$")


def _staged_target(code: str) -> str | None:
    """The table an ``INSERT ... SELECT`` or a ``CREATE TABLE ... AS SELECT`` fills
    (lower case), or None."""
    insert, made = _INSERT_SELECT.match(code), _COPY_AS.match(code)
    if insert is not None:
        return _name(insert.group(2)).lower()
    if made is not None and _SELECT_BODY.match(made.group(2)):
        return _name(made.group(1)).lower()
    return None


def _staging_fills(
    statements: Sequence[str], replicated: Mapping[str, str], after: Schema
) -> tuple[dict[int, str], dict[int, str]]:
    """The statements (by index) that fill a staging table whose rows the migration
    then copies, perhaps through others, into a replicated table: {index: that table};
    and those that write rows into such a table (``VALUES``, ``DEFAULT VALUES``).

    A rebuild may carry its rows through a staging copy (``CREATE TABLE keep AS
    SELECT ... FROM visits_old``, then ``INSERT INTO visits SELECT * FROM keep``):
    what the copy into ``keep`` leaves out or changes, the rebuilt table loses
    too. Read backwards, so a staging name made again counts from where it is
    made (an earlier table by that name is another one).
    """
    feeds: dict[str, str] = {}  # a staging table (lower case) -> the table it feeds
    fills: dict[int, str] = {}
    seeded: dict[int, str] = {}  # rows written into a staging table, not copied
    for index in range(len(statements) - 1, -1, -1):
        code = statements[index]
        target = _staged_target(code)
        if target is not None:
            final = _final_name(target, statements[index + 1 :]).lower()
            name = replicated.get(final) or feeds.get(target)
            if name is not None and find_named(after.replicated_tables, name) is not None:
                if final not in replicated:  # (a copy into the table itself is a rebuild's)
                    fills[index] = name
                for read in _read_tables(code) - {target} - replicated.keys():
                    feeds[read] = name  # (the nearest copy on reads it)
        written = _REWRITE.match(code)
        verb = written.group(2).split()[0].upper() if written is not None else ""
        into = _name(written.group(3)).lower() if written is not None else ""
        if target is None and verb in ("INSERT", "REPLACE") and into in feeds:
            seeded[index] = feeds[into]  # VALUES, DEFAULT VALUES
        made = _CREATE_TABLE.match(code)
        if made is not None:
            feeds.pop(_name(made.group(1)).lower(), None)
    return fills, seeded


# Affinities that store a value another of them holds alike, or back (3 in a REAL
# column is 3.0, back in an INTEGER one 3): a staging column of one keeps the others'.
_NUMERIC = frozenset({"INTEGER", "NUMERIC", "REAL"})


@dataclass(frozen=True)
class _Declared:
    """A table as a ``CREATE TABLE`` of the migration declares it."""

    columns: list[tuple[str, str]]  # (name, declared type), in order
    unique: list[frozenset[str]]  # the columns (lower case) of each UNIQUE and PRIMARY KEY
    resolves: bool  # a conflict clause of its own (UNIQUE ON CONFLICT IGNORE)


@dataclass(frozen=True)
class _Fill:
    """A statement filling a staging table (:func:`_staging_fills`) from a SELECT."""

    target: str  # the staging table, lower case
    columns: list[str]  # the names its SELECT items take there ("*" for a star)
    items: list[str]  # the items, an alias's own expression for a CREATE TABLE ... AS
    select: str  # the SELECT after its keyword
    defined: set[str]  # the names its WITH defines
    declared: _Declared | None  # the table as declared, for an INSERT
    conflict: bool  # OR IGNORE, OR REPLACE: rows a UNIQUE there refuses are left out
    made: bool  # a CREATE TABLE ... AS (not an INSERT)

    def stored(self, columns: Sequence[str], items: Sequence[str], old: Table) -> list[str]:
        """``items`` as the declared columns store them: a column of ``old`` copied
        into one of another affinity is converted (``'007'`` into INTEGER is 7)."""
        if self.declared is None:
            return list(items)
        types = {name.lower(): declared for name, declared in self.declared.columns}
        out = []
        for column, item in zip(columns, items, strict=False):
            declared = types.get(column.lower(), "")
            inner = _unaliased(item)
            copied = old.column(_ref(inner) or "")
            affinity = type_affinity(declared)
            numeric = {affinity, copied.affinity} <= _NUMERIC if copied is not None else False
            if copied is None or numeric or affinity in ("BLOB", copied.affinity):  # as it is
                out.append(item)
            else:
                out.append(f"CAST({inner} AS {declared})")
        return out

    def dedupes(self, row_key: str | None) -> bool:
        """Whether a UNIQUE of the declared table drops rows (OR IGNORE, OR REPLACE)
        the old table keeps apart: any but one on the column the old key fills."""
        if self.declared is None or not (self.conflict or self.declared.resolves):
            return False
        columns = self.columns if self.columns != ["*"] else []
        columns = columns or [name for name, _ in self.declared.columns]
        keyed = {
            column.lower()
            for column, item in zip(columns, self.items, strict=False)
            if row_key is not None and _ref(item) == row_key.lower()
        }
        return any(unique != keyed for unique in self.declared.unique)


_CONFLICT = re.compile(
    r"(?is)^\s*(?:WITH\b.*?\)\s*)?(?:INSERT\s+OR\s+(?:IGNORE|REPLACE)|REPLACE)\b"
)


_UPSERT = re.compile(r"(?is)\bON\s+CONFLICT\b[^;]*\bDO\b")


def _staged_copy(statements: Sequence[str], index: int) -> _Fill | None:
    """The fill of a staging table ``statements[index]`` makes. A ``CREATE TABLE
    ... AS`` names an item by its alias or column; an ``INSERT`` by its column
    list, else by the columns the migration declared the table with."""
    code = statements[index]
    insert, made = _INSERT_SELECT.match(code), _COPY_AS.match(code)
    if insert is not None:
        target, ctes, select = _name(insert.group(2)), insert.group(1), insert.group(4)
    elif made is not None and (body := _SELECT_BODY.match(made.group(2))) is not None:
        target, ctes, select = _name(made.group(1)), body.group(1), body.group(2)
    else:
        return None
    defined = {
        _name(m.group(1)).lower()
        for m in _CTE.finditer(re.sub(r"(?is)^\s*WITH\s+", "", ctes or ""))
    }
    items = _select_items(select)
    declared = _declared(target, statements[:index]) if insert is not None else None
    if insert is not None and insert.group(3):
        columns = [_name(c.strip()) for c in insert.group(3).strip("() \n\t").split(",")]
    elif insert is not None:
        columns = [name for name, _ in declared.columns] if declared is not None else []
    else:
        columns, inner = [], []
        for item in items:
            aliased = _ALIAS.match(item)
            if aliased is not None and _ref(item) is None:
                columns.append(_name(aliased.group(2)))
                inner.append(aliased.group(1).strip())
            else:
                columns.append(_ref(item) or "")
                inner.append(item)
        items = inner
    conflict = _CONFLICT.match(code) is not None or _UPSERT.search(code) is not None
    return _Fill(
        target.lower(), columns, items, select, defined, declared, conflict, insert is None
    )


def _through_staging(
    items: list[str],
    select: str,
    staged: Mapping[tuple[str, str], Sequence[tuple[str, str]]],
    fed: str,
) -> list[str]:
    """A SELECT's ``items`` with the columns of the staging table it reads alone
    replaced by what of ``fed``'s old rows filled them (see :func:`rebuilt_values`)."""
    read = _read_tables(select)
    held = staged.get((next(iter(read)), fed)) if len(read) == 1 else None
    if held is None:
        return items
    if items == ["*"]:
        return [term for _, term in held]
    terms = {column.lower(): term for column, term in held}
    return [terms.get(_ref(_unaliased(item)) or "", item) for item in items]


def _unaliased(item: str) -> str:
    """A SELECT item naming a column under an alias (``pet AS p``) as the column."""
    aliased = _ALIAS.match(item)
    return aliased.group(1).strip() if aliased and _ref(aliased.group(1)) else item


def _reads_old_rows(select: str, table: str, earlier: Sequence[str]) -> bool:
    """Whether a SELECT reads ``table`` alone, under its name or one an ``earlier``
    statement renamed it to (``visits_old``)."""
    read = _read_tables(select)
    return len(read) == 1 and read <= _old_names(table, earlier)


def _read_tables(select: str) -> set[str]:
    """The tables (lower case) a SELECT reads FROM or JOINs."""
    return {_name(m.group(1)).lower() for m in _SOURCES.finditer(select)}


def _old_names(table: str, earlier: Sequence[str]) -> set[str]:
    """``table`` (lower case) and the names ``earlier`` statements renamed it to."""
    names = {table.lower()}
    for code in earlier:
        renamed = _RENAME_TABLE.match(code)
        if renamed and _name(renamed.group(1)).lower() in names:
            names.add(_name(renamed.group(2)).lower())
    return names


def _declared(table: str, earlier: Sequence[str]) -> _Declared | None:
    """The last ``CREATE TABLE table (...)`` among ``earlier`` statements, as SQLite
    makes it alone (None when there is none, or it is made from a SELECT)."""
    for code in reversed(earlier):
        made = _CREATE_TABLE.match(code)
        if made is None or _name(made.group(1)).lower() != table.lower():
            continue
        if _COPY_AS.match(code):
            return None
        name = quote_identifier(_name(made.group(1)))
        try:
            with closing(memory()) as conn:
                conn.execute(code)
                info = conn.execute(f"PRAGMA table_info({name})").fetchall()
                unique = (
                    [frozenset(str(row[1]).lower() for row in info if row[5])]
                    if any(row[5] for row in info)
                    else []
                )
                for index in conn.execute(f"PRAGMA index_list({name})").fetchall():
                    if index[2]:
                        named = conn.execute(f"PRAGMA index_info({quote_identifier(index[1])})")
                        unique.append(frozenset(str(row[2]).lower() for row in named))
        except sqlite3.Error:
            return None
        resolves = re.search(r"(?i)\bON\s+CONFLICT\s+(?:IGNORE|REPLACE)\b", code) is not None
        columns = [(str(row[1]), str(row[2])) for row in info]
        return _Declared(columns, list(dict.fromkeys(unique)), resolves)
    return None


def _copy_source(
    select: str,
    views: AbstractSet[str],
    queries: AbstractSet[str] = frozenset(),
    key: str | None = None,
) -> str | None:
    """What a rebuild's SELECT reads besides one table, named for a message, or None.

    Its items may name columns plainly and still carry other values when it
    reads a subquery (``FROM (SELECT ... CASE ...)``), a join or a view; rows
    merged by ``GROUP BY`` or ``DISTINCT`` are not copies either. Read token by
    token: a quoted ``"Order"`` or ``"limit"`` is a name, not a keyword.
    """
    words = _top_level_words(select)
    upper = [w.upper() for w in words]
    # DISTINCT with the row key, or GROUP BY it, merges nothing: rows are distinct by it.
    items = words[: upper.index("FROM")] if "FROM" in upper else words
    if upper[:1] == ["DISTINCT"] and not _names_key(items, key):
        return "DISTINCT rows"
    if "FROM" not in upper:
        return None
    clause = words[upper.index("FROM") + 1 :]
    ends = [n for n, w in enumerate(clause) if w.upper() in _CLAUSE_ENDS]
    tail = clause[ends[0]].upper() if ends else None
    clause_tail = clause[ends[0] :] if ends else []
    clause = clause[: ends[0]] if ends else clause
    grouped = [n for n, w in enumerate(clause_tail) if w.upper() == "GROUP"]
    if grouped:  # the terms after GROUP BY, up to the next clause
        terms = clause_tail[grouped[0] + 2 :]
        stop = [n for n, w in enumerate(terms) if w.upper() in _CLAUSE_ENDS]
        if not _names_key(terms[: stop[0]] if stop else terms, key):
            return "rows merged by GROUP BY"
    if tail in ("UNION", "EXCEPT", "INTERSECT"):
        return "a compound SELECT"
    if "(" in clause or any(w.upper() == "JOIN" for w in clause):
        return "a subquery or join"
    if "," in clause:
        return "several tables"
    hint = [w.upper() for w in clause]  # a planner hint: NOT INDEXED, INDEXED BY name
    if "INDEXED" in hint:
        clause = clause[: hint.index("INDEXED") - (hint[hint.index("INDEXED") - 1] == "NOT")]
    names = [w for w in clause if w not in (".",) and w.upper() not in ("AS", "MAIN", "TEMP")]
    if not names or len(names) > 2:
        return "several tables"
    table = _name(clause[clause.index(".") + 1] if "." in clause else clause[0])
    if table.lower() in queries:
        return "a WITH query"
    return f"the view {table}" if table.lower() in views else None


def _names_key(words: Sequence[str], key: str | None) -> bool:
    """Whether ``words`` name the row key (``id`` or ``t.id``, or ``*``)."""
    return key is not None and ("*" in words or key.lower() in {_name(w).lower() for w in words})


_CLAUSE_ENDS = frozenset(
    {"WHERE", "GROUP", "ORDER", "LIMIT", "HAVING", "WINDOW", "UNION", "EXCEPT", "INTERSECT"}
)


def _top_level_words(select: str) -> list[str]:
    """A SELECT's tokens (after its keyword), each parenthesised part as one ``(``."""
    words: list[str] = []
    depth = 0
    for _, token in sql_tokens(without_literals(select)):
        if token == "(":
            depth += 1
            if depth == 1:
                words.append("(")
        elif token == ")":
            depth -= 1
        elif depth == 0:
            words.append(token)
    return words


# Where SQLite takes a 'string' for a name (ALTER TABLE 'visits' RENAME TO 'archive').
_STRING_NAME = re.compile(
    r"(?i)\b(TABLE(?:\s+IF\s+(?:NOT\s+)?EXISTS)?|RENAME(?:\s+COLUMN)?|DROP(?:\s+COLUMN)?"
    r"|TO|INTO|FROM|JOIN|UPDATE)(\s+)'((?:[^']|'')*)'"
)


def strings_as_names(code: str) -> str:
    """``code`` with the single-quoted names SQLite accepts after TABLE, TO, INTO,
    FROM, JOIN, UPDATE, RENAME and DROP double-quoted, as identifiers are."""

    def quoted(found: re.Match[str]) -> str:
        name = found.group(3).replace("''", "'").replace('"', '""')
        return f'{found.group(1)}{found.group(2)}"{name}"'

    return _STRING_NAME.sub(quoted, code)


def _rows_kept(select: str) -> bool | None:
    """Whether a SELECT (after its keyword) keeps every row of what it reads (True),
    none (False: ``WHERE 0``, ``LIMIT 0``, the idiom that clones a table empty),
    or some, by its own WHERE or LIMIT (None).

    A WHERE that names no column (``1``, ``true``, ``1 = 1``) is what SQLite
    makes of it (a ``WHERE true`` SQLite needs before an upsert's ``ON
    CONFLICT`` keeps every row). A compound SELECT (``WHERE 0 UNION ALL ...``)
    is judged as one elsewhere: None here."""
    top: list[tuple[int, str]] = []  # the SELECT's own words (offset, upper case)
    depth = 0
    for offset, token in sql_tokens(select):
        depth += (token == "(") - (token == ")")
        if depth == 0:
            top.append((offset, token.upper()))
    words = [word for _, word in top]
    if {"UNION", "EXCEPT", "INTERSECT"} & set(words):
        return None
    for at, word in enumerate(words):
        if word == "ON" and words[at + 1 : at + 2] == ["CONFLICT"]:  # an upsert's, not ours
            select, top = select[: top[at][0]], top[:at]
            break
    where: int | None = None
    for offset, word in top:
        if word not in (*_CLAUSE_ENDS, "ON", ";"):
            continue
        if where is not None:
            kept = _constant_truth(select[where:offset])
            if kept is not True:
                return kept
            where = None
        if word == "WHERE":
            where = offset + len(word)
        elif word == "LIMIT":  # (any WHERE before it kept every row; a negative limit is none)
            if _constant_truth(f"({select[offset + 5 :]}) < 0"):
                return True
            return False if _constant_truth(f"({select[offset + 5 :]}) = 0") else None
    if where is not None:
        return _constant_truth(select[where:])
    return True


_CONSTANT_WORDS = frozenset({"TRUE", "FALSE", "NULL", "AND", "OR", "NOT", "IS", "IN", "BETWEEN"})


def _literals_only(sql: str) -> bool:
    """Whether an expression is made of literals and operators alone (no column,
    function or keyword such as CURRENT_TIMESTAMP)."""
    return all(
        not (token[0].isalpha() or token[0] in '_"`[') or token.upper() in _CONSTANT_WORDS
        for _, token in sql_tokens(sql)
    )


def _constant_truth(condition: str) -> bool | None:
    """What SQLite makes of a condition of literals alone (None when it names anything)."""
    if not _literals_only(condition):
        return None
    try:
        with closing(memory()) as conn:
            (value,) = conn.execute(f"SELECT CASE WHEN ({condition}) THEN 1 ELSE 0 END").fetchone()
    except (sqlite3.Error, sqlite3.Warning, ValueError):
        return None
    return bool(value)


def _filters(select: str) -> bool:
    """Whether a SELECT (after its keyword) leaves rows out by a WHERE or LIMIT of its own."""
    return _rows_kept(select) is not True


def swapped_names(migration: Migration, before: Schema, after: Schema) -> list[Finding]:
    """Columns (or tables) renamed among themselves: the schemas look alike.

    ``ALTER TABLE ... RENAME`` statements are followed through the migration;
    a column of a replicated table renamed away while its name is still there
    afterwards (swapped with another, or added again) moved its values, which
    no schema diff can see. Renames only in case are not renames.
    """
    tables = {name.lower(): name for name in before.replicated_tables}
    _, made_again = _copies_back(migration.code, before, after)
    current: dict[str, str] = {}  # table's current name (lower) -> its name before
    moves: dict[str, dict[str, str]] = {}  # table before -> {column before: now}
    for code in migration.code:
        renamed = _RENAME_TABLE.match(code)
        if renamed:
            table, new = _name(renamed.group(1)), _name(renamed.group(2))
            current[new.lower()] = current.pop(table.lower(), table)
            continue
        match = _RENAME_COLUMN.match(code)
        if not match:
            continue
        table, old, new = (_name(match.group(i)) for i in (1, 2, 3))
        origin = current.setdefault(table.lower(), table)
        columns = moves.setdefault(origin, {})
        was = next((c for c, now in columns.items() if now.lower() == old.lower()), old)
        columns[was] = new
    findings = []
    for origin, columns in sorted(moves.items()):
        name = tables.get(origin.lower())
        if name is None or name not in after.tables:
            continue
        kept = {c.lower() for c in after.tables[name].column_names}
        swapped = {  # renamed away, yet its name is still there: the values moved
            was: now
            for was, now in columns.items()
            if was.lower() != now.lower()
            and was.lower() in kept
            and f"{origin.lower()}.{was.lower()}" not in made_again
        }
        if swapped:
            what = ", ".join(f"{was} -> {now}" for was, now in sorted(swapped.items()))
            n = migration.version
            message = MESSAGES["swapped-names"].format(
                t=name, what=what, old=versions_before(n), n=n
            )
            findings.append(Finding("rename-column", name, None, message, RULES["rename-column"]))
    existed = {name.lower() for name in before.tables}
    swapped_tables = sorted(
        (origin, final)
        for final, origin in current.items()
        if origin.lower() != final and origin.lower() in tables and final in existed
    )
    if swapped_tables:
        what = ", ".join(f"{was} -> {now}" for was, now in swapped_tables)
        n = migration.version
        for origin, _ in swapped_tables:
            name = tables[origin.lower()]
            message = MESSAGES["swapped-tables"].format(what=what, old=versions_before(n), n=n)
            findings.append(Finding("rename-table", name, None, message, RULES["rename-table"]))
    return findings


_EXTERNAL_FTS = re.compile(
    rf"(?is)^\s*CREATE\s+VIRTUAL\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?{_QUALIFIED}"
    r"\s+USING\s+fts[345]\s*\((.*)\)\s*$"
)
_CONTENT_OPTION = re.compile(rf"(?is)(?:^|,)\s*content\s*=\s*('[^']*'|\"\"|{_NAME})\s*(?:,|$)")


def _fills_all(found: re.Match[str] | None, code: str, table: str) -> bool:
    """Whether a statement ``found`` to fill a search index fills it with every row
    of ``table`` (``'rebuild'``, or a SELECT of that table alone, keeping all)."""
    if found is None:
        return False
    if not found.group(0).rstrip().upper().endswith("SELECT"):
        return True  # the 'rebuild' command
    select = code[found.end() :]
    if re.match(r"""(?i)\s*['"]rebuild['"]\s*;?\s*$""", select):
        return True  # the command as a SELECT: INSERT INTO fts(fts) SELECT 'rebuild'
    return _read_tables(select) == {table.lower()} and _rows_kept(select) is True


def unfilled_search_indexes(migration: Migration, before: Schema, after: Schema) -> list[Finding]:
    """An external-content (or contentless) full-text index over a replicated table,
    made without being filled (``INSERT INTO fts(fts) VALUES ('rebuild')``, or for a
    contentless one an ``INSERT ... SELECT``) while triggers keep it.

    The rows the table held before are not in the index; the triggers' ``'delete'``
    of such a row fails (``database disk image is malformed``), so every update or
    delete of an older row fails at the new version, an edit arriving by sync too.
    """
    replicated = {name.lower(): name for name in before.replicated_tables}
    findings = []
    for code in migration.code:
        made = _EXTERNAL_FTS.match(code)
        content = _CONTENT_OPTION.search(made.group(2)) if made else None
        if made is None or content is None:
            continue
        option = content.group(1)
        index = _name(made.group(1))
        table = "" if option in ('""', "''") else _name(option.strip("'")).lower()
        quoted = re.escape(index)
        if not table:  # contentless (``content=''``): the table whose triggers feed it
            table = next(
                (
                    name
                    for name in replicated
                    if any(
                        re.search(rf"(?i)\b{quoted}\b", sql) and "'delete'" in sql.lower()
                        for sql in triggers_on(after, replicated[name]).values()
                    )
                ),
                "",
            )
        if table not in replicated:
            continue
        filled = re.compile(
            rf"(?is)^\s*INSERT\s+INTO\s+(?:main\s*\.\s*)?[\"`\[]?{quoted}\b[\"`\]]?\s*(?:\(.*\)\s*)?"
            r"(?:VALUES\s*\(\s*['\"]rebuild['\"]|SELECT\b)"
        )
        if any(_fills_all(filled.match(other), other, table) for other in migration.code):
            continue
        kept = [
            name
            for name, sql in triggers_on(after, table).items()
            if re.search(rf"(?i)\b{quoted}\b", sql) and "'delete'" in sql.lower()
        ]
        if not kept:
            continue  # nothing deletes from it: a stale index is local, not a failure
        message = MESSAGES["fts-unfilled"].format(
            t=replicated[table], d=index, trigger=kept[0], n=migration.version
        )
        findings.append(
            Finding("constraint-tightened", replicated[table], None, message, "breaking")
        )
    return findings


def _missing_names(schema: Schema) -> dict[str, list[str]]:
    """Per trigger, the tables its body reads or writes that ``schema`` lacks."""
    known = {n.lower() for n in (*schema.tables, *schema.views, *schema.virtual, *schema.shadow)}
    found = {}
    for name, sql in schema.triggers.items():
        body = _trigger_parts(sql)[1]
        named = {_name(m.group(1)).lower() for m in _SOURCES.finditer(body)}
        named |= {_name(m.group(1)).lower() for m in _WRITES.finditer(body)}
        named -= {_name(m.group(1)).lower() for m in _CTE.finditer(body)} | _FUNCTIONS
        missing = sorted(n for n in named if n not in known and not is_internal_table(n))
        if missing:
            found[name] = missing
    return found


_ADD_COLUMN = re.compile(rf"(?is)^\s*ALTER\s+TABLE\s+{_QUALIFIED}\s+ADD\s+(?:COLUMN\s+)?{_NAME}")


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


def dangling_triggers(migration: Migration, before: Schema, after: Schema) -> list[Finding]:
    """A trigger left naming a table the schema no longer has.

    ``ALTER TABLE t RENAME TO t_old`` makes SQLite rewrite other tables'
    triggers to name ``t_old``; once the rebuild drops ``t_old``, every write
    that fires such a trigger fails (``no such table``), received rows too.
    """
    broken_before = _missing_names(before)
    findings = []
    for name, missing in sorted(_missing_names(after).items()):
        if broken_before.get(name) == missing:
            continue
        table = trigger_table(after.triggers[name])
        message = MESSAGES["trigger-dangling"].format(
            name=name, t=table, d=", ".join(missing), n=migration.version
        )
        findings.append(Finding("constraint-tightened", table, None, message, "breaking"))
    return findings


_INNER_WITH = re.compile(
    r"(?is)^(?P<head>\s*(?:INSERT(?:\s+OR\s+\w+)?|REPLACE)\s+INTO\s+"
    rf"{_QUALIFIED}\s*(?:\([^)]*\))?\s*)(?P<with>WITH\b.*?\))\s*(?P<select>SELECT\b.*)$"
)


def _with_moved_first(code: str) -> str:
    """One statement (comments gone) with its inner WITH moved first, found on a
    copy whose string literals are blanked (``') SELECT'`` ends no WITH)."""
    masked = list(code)
    for offset, token in sql_tokens(code):
        if token[0] == "'":
            masked[offset + 1 : offset + len(token) - 1] = "_" * (len(token) - 2)
    found = _INNER_WITH.match("".join(masked))
    if found is None:
        return code
    head, with_, select = (code[found.start(g) : found.end(g)] for g in ("head", "with", "select"))
    return f"{with_} {head}{select}"


def _with_first(migration: Migration) -> Migration:
    """``migration`` with an ``INSERT INTO t (...) WITH ... SELECT`` written as
    ``WITH ... INSERT INTO t (...) SELECT``, the one spelling the rules read
    (SQLite takes both)."""
    statements = [_with_moved_first(code) for code in migration.code]
    if statements == migration.code:
        return migration
    return replace(migration, sql=";\n".join(statements) + ";")


def lint_migrations(migrations: Sequence[Migration]) -> list[MigrationLint]:
    """Lint every migration against the version before it, oldest first."""
    schemas, contents = _snapshots(migrations)
    results = []
    for migration in map(_with_first, migrations):
        findings = _Linter(schemas, migration.version).run()
        before, after = schemas[migration.version - 1], schemas[migration.version]
        held = contents[migration.version - 1], contents[migration.version]
        findings += changed_lookups(migration, before, after, held)
        clients = functools.partial(_clients, schemas, migration.version, column=None)
        findings += data_rewrites(migration, before, after, clients)
        findings += swapped_names(migration, before, after)
        findings += rebuilt_values(migration, before, after, clients)
        findings += unfilled_search_indexes(migration, before, after)
        findings += dangling_triggers(migration, before, after)
        findings += failing_added_columns(migration, before, after)
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
