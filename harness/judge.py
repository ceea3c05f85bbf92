"""Judging a cell at A's replica: ``full``, ``partial`` or ``broken``, with reasons.

The definitions are the contract's:

- ``full``: same replicated schema, identical data, nothing skipped or rejected.
- ``partial``: every row B holds in a table A has is at A, every shared column
  agrees, the only ops A skipped name tables or columns A lacks (each one
  parked, logged and counted) and nothing was rejected.
- ``broken``: anything else.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from harness.execute import Execution
from nexus_core.db.schema import Schema, stored_alike
from nexus_core.merge import Verdict, classify
from nexus_core.replica import Replica
from nexus_core.wire import Op

STATUS_ORDER = {"full": 0, "partial": 1, "broken": 2}
MAX_REASONS = 12


@dataclass
class Observation:
    """One example's verdict at A."""

    status: str
    reasons: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    heals_on_upgrade: bool | None = None
    tables_written: set[str] = field(default_factory=set)


def type_differences(a: Schema, b: Schema) -> list[str]:
    """Columns both schemas replicate whose types sync sees differently (see
    :func:`~nexus_core.db.schema.stored_alike`), as ``table.column (A's type, B's type)``."""
    found = []
    tables_b = {name.lower(): table for name, table in b.replicated_tables.items()}
    for name, table in sorted(a.replicated_tables.items()):
        other = tables_b.get(name.lower())
        if other is None:
            continue
        columns_b = {column.name.lower(): column for column in other.columns}
        for column in table.columns:
            theirs = columns_b.get(column.name.lower())
            if theirs is not None and not stored_alike(
                column.affinity, theirs.affinity, f"{column.type} {theirs.type}"
            ):
                found.append(
                    f"{name}.{column.name} ({column.type or 'untyped'}, {theirs.type or 'untyped'})"
                )
    return found


def replicated_names(schema: Schema) -> set[str]:
    """Each replicated table, and ``table.column`` for each of its columns, case-blind."""
    names: set[str] = set()
    for name, table in schema.replicated_tables.items():
        names.add(f"table {name.lower()}")
        names.update(f"{name.lower()}.{column.lower()}" for column in table.column_names)
    return names


def same_replicated_schema(a: Schema, b: Schema) -> bool:
    """Whether sync sees one schema in both: the same replicated tables and columns
    (names compared ignoring case, as sync pairs them) of types it sees alike."""
    return replicated_names(a) == replicated_names(b) and not type_differences(a, b)


def shared_columns(a: Replica, b: Replica) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """Tables both replicate, as (name at A, name at B, [(column at A, at B)]),
    paired ignoring case as sync pairs them."""
    tables_a = {name.lower(): name for name in a.models}
    found = []
    for table_b in sorted(b.models):
        table_a = tables_a.get(table_b.lower())
        if table_a is None:
            continue
        columns_a = {c.lower(): c for c in a.models[table_a].columns}
        pairs = [
            (columns_a[c.lower()], c) for c in b.models[table_b].columns if c.lower() in columns_a
        ]
        found.append((table_a, table_b, pairs))
    return found


def _rows(replica: Replica, table: str, columns: list[str]) -> dict[Any, dict[str, Any]]:
    key = replica.models[table].key
    return {row[key]: {c: row[c] for c in columns} for row in replica.rows(table)}


def _pending_note(a: Replica, table: str, row_id: Any) -> str:
    if (table, row_id) not in set(a.pending_rows()):
        return ""
    model = a.models[table]
    have = set(a.oplog.pending_values(table, row_id)) | {model.key}
    missing = sorted(model.required - have)
    refused = any(change.row_id == row_id for change, _ in a.oplog.refused_parked([table]))
    if refused or not missing:  # values arrived, and SQLite refused the row they make
        return (
            f" (held back: v{a.schema_version} refuses the row its values make:"
            " a UNIQUE, CHECK or trigger; its ops are kept and retried)"
        )
    return (
        f" (held back: v{a.schema_version} requires {', '.join(missing)},"
        " and no value it accepts arrived)"
    )


def _unrecorded_note(replica: Replica, side: str, table: str, row_id: Any) -> str:
    """Why a row never travelled, when sync has no record of it at all: no write
    through the replica made it, so a migration (or an upgrade's rewrite) did."""
    if replica.oplog.row_state(table, row_id).known:
        return ""
    return f" ({side} made it outside the oplog, by a migration or a trigger: no op carries it)"


def compare_rows(
    a: Replica, b: Replica, *, both_ways: bool, gone: Collection[tuple[str, Any]] = ()
) -> list[str]:
    """Rows B holds that A lacks or holds differently, on the columns both have.

    ``gone``: (table in lower case, row id) of rows A held until its upgrade removed them.
    """
    problems: list[str] = []
    va, vb = f"A (v{a.schema_version})", f"B (v{b.schema_version})"
    for table_a, table, pairs in shared_columns(a, b):
        at_a = _rows(a, table_a, [column_a for column_a, _ in pairs])
        at_b = _rows(b, table, [column for _, column in pairs])
        for row_id, row in at_b.items():
            if row_id not in at_a:
                if (table_a.lower(), row_id) in gone:
                    note = (
                        f" (A's upgrade to v{a.schema_version} removed it: a migration that"
                        " deletes or re-keys rows, which no op carries)"
                    )
                else:
                    note = _pending_note(a, table_a, row_id) or _unrecorded_note(
                        b, "B", table, row_id
                    )
                problems.append(f"{table} row {row_id!r} held by {vb} never reached {va}{note}")
                continue
            for column_a, column in pairs:
                if at_a[row_id][column_a] != row[column]:
                    problems.append(
                        f"{table}.{column} of row {row_id!r} diverged:"
                        f" {va} has {at_a[row_id][column_a]!r}, {vb} has {row[column]!r}"
                    )
        if both_ways:
            problems.extend(
                f"{table} row {row_id!r} held by {va} never reached {vb}"
                + _unrecorded_note(a, "A", table_a, row_id)
                for row_id in at_a  # (in A's order: a set difference's order is the hash seed's)
                if row_id not in at_b
            )
    return problems


def check_parking(a: Replica, b: Replica, log: list[logging.LogRecord]) -> list[str]:
    """Every op of B's that A cannot place is parked at A and was logged."""
    problems: list[str] = []

    def unknown_here(op: Op) -> bool:
        verdict = classify(op, a.schema, a.models)[0]
        return verdict in (Verdict.UNKNOWN_TABLE, Verdict.UNKNOWN_COLUMN)

    parked_ops = a.oplog.parked_ops()
    parked = {(op.hlc, op.column_name) for op in parked_ops}
    unplaceable = [op for op in b.ops() if unknown_here(op)]
    lost = [op for op in unplaceable if (op.hlc, op.column_name) not in parked]
    if lost:
        first = lost[0]
        problems.append(
            f"{len(lost)} op(s) naming what v{a.schema_version} lacks were not kept,"
            f" e.g. {first.table_name}.{first.column_name}"
        )
    unknown_parked = [op for op in parked_ops if unknown_here(op)]
    if unknown_parked:
        source = f"from peer {b.peer_id}"
        warned = [
            r
            for r in log
            if r.levelno >= logging.WARNING
            and source in r.getMessage()
            and "skipped and parked" in r.getMessage()
        ]
        if not warned:
            problems.append(f"v{a.schema_version} skipped ops without logging a warning")
    return problems


def stopped_tables(a: Replica, b: Replica) -> list[str]:
    """Tables the older B replicates that A holds but no longer replicates: B's rows
    there never reach A, which skips their ops though it has the table (partial sync
    skips only what A lacks). Where A is the older one, its upgrade replicates them
    and replays what it parked: the heal check judges that."""
    if a.schema_version <= b.schema_version:
        return []
    problems = []
    theirs = {name.lower() for name in b.models}
    for name, table in sorted(a.schema.tables.items()):
        why = table.unreplicated_reason
        if why is not None and name.lower() in theirs:
            problems.append(
                f"v{a.schema_version} holds {name} but no longer replicates it ({why}), where"
                f" v{b.schema_version} does: B's rows there never reach A"
            )
    return problems


def _refusals(reasons: list[str]) -> list[str]:
    """The first three refusals, without the engine's own "refused: " (the reason says it)."""
    return [reason.removeprefix("refused: ") for reason in reasons[:3]]


def judge(
    a: Replica, b: Replica, execution: Execution, log: list[logging.LogRecord]
) -> Observation:
    """The status of one example, judged at A."""
    counts = {**execution.totals(a), "discarded_steps": execution.discarded}
    reasons: list[str] = []
    if counts["ops_rejected"]:
        refused = "; ".join(_refusals(execution.reasons(a)))
        reasons.append(
            f"v{a.schema_version} refused {counts['ops_rejected']} op(s) from"
            f" v{b.schema_version}: {refused}"
        )
    same_schema = same_replicated_schema(a.schema, b.schema)
    missing = compare_rows(a, b, both_ways=same_schema)
    reasons += missing
    refused_by_b = execution.totals(b)["ops_rejected"]
    if missing and refused_by_b:
        reasons.append(
            f"B (v{b.schema_version}) refused {refused_by_b} op(s) from A:"
            f" {'; '.join(_refusals(execution.reasons(b)))}"
        )
    reasons += check_parking(a, b, log)
    reasons += stopped_tables(a, b)
    if reasons:
        return Observation("broken", reasons[:MAX_REASONS], counts)
    if same_schema and not counts["ops_skipped_unknown"]:
        return Observation("full", [], counts)
    return Observation("partial", [], counts)


def held_rows(replica: Replica) -> set[tuple[str, Any]]:
    """(table in lower case, row id) of every row of every replicated table (the keys
    alone: this runs twice per upgrade of every example)."""
    return {
        (table.lower(), key)
        for table, model in replica.models.items()
        for (key,) in replica.conn.execute(f"SELECT {model.quoted_key} FROM {model.quoted}")
    }


def judge_heal(a: Replica, b: Replica, gone: Collection[tuple[str, Any]] = ()) -> list[str]:
    """After A's upgrade to B's version and one more sync: A holds everything B has.
    ``gone``: the rows A's upgrade itself deleted (see :func:`compare_rows`)."""
    problems = compare_rows(a, b, both_ways=False, gone=gone)
    if not same_replicated_schema(a.schema, b.schema):
        problems.insert(0, f"after upgrade v{a.schema_version} still differs from B's schema")
    return [f"after upgrade: {p}" for p in problems]
