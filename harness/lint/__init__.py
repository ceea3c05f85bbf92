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
  foreign-key-dropped, foreign-key-added, foreign-key-action-changed (replicas
  converge; what a delete does to the children depends on the deleting
  client's version), default-changed and not-replicable.
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
from collections.abc import Sequence

from harness.lint.added_columns import failing_added_columns
from harness.lint.findings import (
    MESSAGES,
    RULES,
    SEVERITY_RANK,
    Finding,
    MigrationLint,
    Severity,
    _clients,
    versions_before,
)
from harness.lint.lookups import Contents, _snapshots, changed_lookups
from harness.lint.output import lint_to_json, render_lint_table
from harness.lint.prepared_writes import unpreparable_writes
from harness.lint.rebuilds import rebuilt_values
from harness.lint.renames import swapped_names
from harness.lint.rewrites import data_rewrites
from harness.lint.schema_rules import _Linter
from harness.lint.search_indexes import search_indexes_stale_on_update, unfilled_search_indexes
from harness.lint.sqltext import _with_first, strings_as_names
from harness.lint.triggers import dangling_triggers
from nexus_core.db.migrations import Migration
from nexus_core.db.schema import without_comments

# Pragmas after which rows may break their table's CHECKs or NOT NULLs.
_UNCHECKED = re.compile(r"(?i)\b(?:ignore_check_constraints|writable_schema)\b")


def lint_migrations(migrations: Sequence[Migration]) -> list[MigrationLint]:
    """Lint every migration against the version before it, oldest first."""
    schemas, contents, failing = _snapshots(migrations)
    results = []
    constraints_hold = True  # until a migration turns their enforcement off (review BAI-4)
    for migration in map(_with_first, migrations):
        constraints_hold = constraints_hold and not _UNCHECKED.search(
            without_comments(migration.sql)
        )
        findings = _Linter(schemas, migration.version).run()
        before, after = schemas[migration.version - 1], schemas[migration.version]
        held = contents[migration.version - 1], contents[migration.version]
        findings += changed_lookups(migration, before, after, held)
        clients = functools.partial(_clients, schemas, migration.version, column=None)
        findings += data_rewrites(
            migration, before, after, clients, constraints_hold=constraints_hold
        )
        findings += swapped_names(migration, before, after)
        findings += rebuilt_values(migration, before, after, clients)
        findings += unfilled_search_indexes(migration, before, after)
        findings += search_indexes_stale_on_update(migration, before, after)
        dangling = dangling_triggers(migration, before, after)
        findings += dangling
        findings += unpreparable_writes(
            migration,
            failing[migration.version - 1],
            failing[migration.version],
            {f.table.lower() for f in dangling},
        )
        findings += failing_added_columns(migration, before, after)
        verdict: Severity = max(
            (f.severity for f in findings), key=SEVERITY_RANK.__getitem__, default="safe"
        )
        results.append(MigrationLint(migration.version, migration.description, verdict, findings))
    return results


__all__ = [
    "MESSAGES",
    "RULES",
    "SEVERITY_RANK",
    "Contents",
    "Finding",
    "MigrationLint",
    "Severity",
    "lint_migrations",
    "lint_to_json",
    "render_lint_table",
    "strings_as_names",
    "versions_before",
]
