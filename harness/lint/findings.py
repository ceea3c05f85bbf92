"""What the lint reports: its rules and their severities, the message of each, and
the finding and per-migration verdict types every rule module builds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from nexus_core.db.schema import Schema, find_named

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
    "foreign-key-action-changed": "additive",
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
    "came-back": " (the column is added again at v{n}, with another type than {old} clients"
    " still have: the versions between lacked it)",
    "came-back-constraint": " (the column is added again at v{n}, stricter than {old} clients'"
    " own: the versions between lacked it)",
    "came-back-check": " (the column is added again at v{n}, with another CHECK than {old}"
    " clients' own: the versions between lacked it)",
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
    " change, so {old} and v{n} clients diverge on them; instead, make the change from the"
    " app after the upgrade through the replica's writes (insert, update, delete), which sync"
    " carries, or compute such values where they are read (a generated column, a view)",
    "rebuild-fill": "the rebuild of {t} fills {what} with something other than the old value"
    " (an expression, a constant, another column): a replica"
    " that upgrades changes its own rows, while rows {old} clients send later arrive as they"
    " wrote them (or with the default), and no op carries the change, so the two diverge",
    "default-backfill": "{t}.{c} default {d} while {old} clients lack the column: rows they"
    " create get the new default at v{n} peers but the value an earlier migration filled in"
    " once they upgrade, and no op carries it, so the two diverge on those rows",
    "foreign-key-action-changed": "{t}.{c} REFERENCES {d} (ON DELETE): a delete carries out the"
    " action"
    " of the client that deletes, as ops, and a received delete cascades nothing, so until"
    " every client is at v{n}, deleting the referenced row {effect}",
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
    "fts-stale-on-update": "full-text index {d} over {t} is kept by no trigger on every"
    " UPDATE (none fires on UPDATE, or it names only some indexed columns in UPDATE OF):"
    " an edit leaves the index holding the row's old values,"
    " and trigger {trigger} then fails to remove the row ('database disk image is"
    " malformed'), so it can never be deleted; sync applies a peer's edit as an UPDATE"
    " whatever the app itself does, so at v{n} deletes fail, deletes arriving by sync too;"
    " add an AFTER UPDATE trigger that removes the old values and inserts the new",
    "writes-fail": "SQLite cannot prepare {what} of {t} at v{n} ({why}): a trigger on {t}"
    " is broken, so every such write fails on v{n} clients, ops arriving by sync too, and"
    " their copies diverge from their peers'; fix the trigger in this migration",
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
    # The same in the first migration: no older client exists (it said "v1-v0", review BU F8).
    "trigger-writes-first": "trigger {name} on {t} {what} and {verb} replicated table(s) {writes}:"
    " a trigger's writes bypass the oplog and it also fires when a replica applies a peer's"
    " ops, so copies of those rows diverge between replicas of v{n}",
    "add-column-fails-null": "ALTER TABLE {t} ADD COLUMN {c} NOT NULL without a default fails"
    " on every replica whose {t} holds a row (SQLite: {why}): those clients cannot upgrade to"
    " v{n}; give the column a default",
    "add-column-fails": "ALTER TABLE {t} ADD COLUMN {c} with the default {d} fails on every"
    " replica whose {t} holds a row (SQLite: {why}): those clients cannot upgrade to v{n}; give"
    " the column a constant default",
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


@dataclass(frozen=True)
class Finding:
    """One classified change: a rule id, where, what it does to which clients."""

    rule: str
    table: str
    column: str | None
    message: str
    severity: Severity
    # Where the break holds between replicas of one version too (a trigger writing
    # replicated rows): the versions whose clients run it. None for other breaks.
    within_versions: tuple[int, ...] | None = None


@dataclass(frozen=True)
class MigrationLint:
    """The findings of one migration and the verdict they add up to."""

    version: int
    description: str
    verdict: Severity
    findings: list[Finding]


def _has(schema: Schema, table: str, column: str | None) -> bool:
    found = find_named(schema.tables, table)  # (SQLite's names are case-blind: review BAR R5)
    return found is not None and (column is None or found.column(column) is not None)


def _clients(schemas: Sequence[Schema], version: int, table: str, column: str | None) -> str:
    """``v2`` or ``v1-v2``: the older versions that have ``table`` (and ``column``), all of
    them (``v1 and v3`` where v2 lacked it, review BY F7); ``v{N-1}`` where none has."""
    having = [v for v in range(1, version) if _has(schemas[v], table, column)]
    return version_list(having) if having else f"v{version - 1}"


def version_list(versions: Sequence[int]) -> str:
    """Versions as messages name them, runs joined: ``v2``, ``v1-v3``, ``v1 and v3``,
    ``v1-v2, v4 and v6-v7``."""
    runs: list[list[int]] = []
    for version in sorted(set(versions)):
        if runs and runs[-1][1] == version - 1:
            runs[-1][1] = version
        else:
            runs.append([version, version])
    named = [f"v{a}" if a == b else f"v{a}-v{b}" for a, b in runs]
    return named[0] if len(named) == 1 else f"{', '.join(named[:-1])} and {named[-1]}"


def versions_before(n: int) -> str:
    """The clients older than version ``n``, as messages name them: ``v1`` or ``v1-v{n-1}``."""
    return f"v{n - 1}" if n == 2 else f"v1-v{n - 1}"


def _rewrite(
    table: str, what: str, clients: Callable[[str], str], n: int, message: str = "data-rewrite"
) -> Finding:
    """A data-rewrite finding on ``table``: ``what`` the migration does to its rows."""
    text = MESSAGES[message].format(t=table, what=what, old=clients(table), n=n)
    return Finding("data-rewrite", table, None, text, RULES["data-rewrite"])
