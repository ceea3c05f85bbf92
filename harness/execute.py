"""Running generated traffic (see :mod:`harness.strategies`) against real replicas."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.strategies import references
from nexus_core.errors import SyncError
from nexus_core.receive import ReceiveResult
from nexus_core.replica import Replica
from nexus_core.sync import sync
from nexus_core.wire import Value, decode_value


@dataclass
class Execution:
    """What running a list of steps did: every message each replica received."""

    written: int = 0
    discarded: int = 0
    tables_written: set[str] = field(default_factory=set)
    received: dict[str, list[ReceiveResult]] = field(default_factory=dict)
    # Row ids each replica inserted, per table: what its ``own_refs`` point at.
    minted: dict[tuple[str, str], list[Value]] = field(default_factory=dict)

    def record(self, receiver: Replica, result: ReceiveResult) -> None:
        self.received.setdefault(receiver.peer_id, []).append(result)

    def totals(self, replica: Replica) -> dict[str, int]:
        """Ops sent to ``replica`` and what it did with them."""
        results = self.received.get(replica.peer_id, [])
        return {
            "ops_sent": sum(r.received for r in results),
            "ops_applied": sum(r.applied for r in results),
            "ops_skipped_unknown": sum(r.skipped_unknown for r in results),
            "ops_rejected": sum(r.rejected for r in results),
        }

    def reasons(self, replica: Replica) -> list[str]:
        found: list[str] = []
        for result in self.received.get(replica.peer_id, []):
            found.extend(r for r in result.reasons if r not in found)
        return found


def _keys(replica: Replica, table: str) -> list[Value]:
    model = replica.models[table]
    sql = f"SELECT {model.quoted_key} FROM {model.quoted} ORDER BY {model.quoted_key}"
    return [row[0] for row in replica.conn.execute(sql)]


def _values(replica: Replica, step: Mapping[str, Any], execution: Execution) -> dict[str, Value]:
    table = replica.schema.tables[step["table"]]
    values = {name: decode_value(raw, f"step value {name}") for name, raw in step["values"].items()}
    targets = references(table, replica.schema)
    own = set(step.get("own_refs", ()))
    for column, pick in step.get("refs", {}).items():
        keys = _keys(replica, targets[column]) if column in targets else []
        if column in own:  # only rows this replica made (see strategies.own_references)
            minted = set(execution.minted.get((step["replica"], targets[column]), ()))
            keys = [k for k in keys if k in minted]
        if keys:
            values[column] = keys[pick % len(keys)]
    return values


def sync_pair(a: Replica, b: Replica, execution: Execution) -> list[ReceiveResult]:
    """Sync through the real wire, recording what each side received (A's results back)."""
    result = sync(a, b)
    by_peer = {a.peer_id: a, b.peer_id: b}
    at_a = []
    for label, received in result.messages:
        receiver = by_peer[label.rsplit(" -> ", 1)[1]]
        execution.record(receiver, received)
        if receiver is a:
            at_a.append(received)
    return at_a


def edit_after_upgrade(a: Replica, b: Replica, execution: Execution) -> list[str]:
    """After A's upgrade to B's version: B writes every row both hold again (the values
    it has), syncs, then deletes them and syncs; A, at B's version now, must take all.

    A row A held from before its upgrade may still fail there where a fresh one does
    not: a full-text index the migration never filled fails to remove it, a counter
    it never backfilled goes below its CHECK. Each such write A refuses is a problem.
    """
    problems = []
    for what in ("rewrite", "delete"):
        for table in sorted(set(a.models) & set(b.models)):
            model = b.models[table]
            held = set(_keys(a, table))
            for row in b.rows(table):
                if row[model.key] not in held:
                    continue
                # Every column a write can set (rows() also lists generated ones).
                values = {c: v for c, v in row.items() if c != model.key and c in model.columns}
                try:
                    if what == "rewrite":
                        b.update(table, row[model.key], values)
                    else:
                        b.delete(table, row[model.key])
                except SyncError:
                    execution.discarded += 1  # B's own schema refuses it: not A's doing
        results = sync_pair(a, b, execution)
        refused = sum(r.rejected for r in results)
        if refused:
            reasons = list(dict.fromkeys(reason for r in results for reason in r.reasons))
            problems.append(
                f"after upgrade to v{b.schema_version}: A refused {refused} of B's {what}s"
                f" of rows both held, though both are at v{b.schema_version} now:"
                f" {'; '.join(reasons[:3])}"
            )
            break
    return problems


def run_step(
    replicas: Mapping[str, Replica], step: Mapping[str, Any], execution: Execution
) -> None:
    """One step. A local write the local schema refuses is dropped as invalid traffic."""
    if step["op"] == "sync":
        first, second = (replicas[name] for name in sorted(replicas))
        sync_pair(first, second, execution)
        return
    replica = replicas[step["replica"]]
    table = step["table"]
    if table not in replica.models:  # a replayed step, after the table was renamed away
        execution.discarded += 1
        return
    try:
        # (A BLOB key travels in the step as {"$b64": ...}, as BLOB values do.)
        key = decode_value(step["key"], "step key") if "key" in step else None
        if step["op"] == "insert":
            values = _values(replica, step, execution)
            values[replica.models[table].key] = key
            replica.insert(table, values)
            execution.minted.setdefault((step["replica"], table), []).append(key)
        else:
            keys = _keys(replica, table)
            if "key" in step:  # a row named by its key (a replica's own)
                keys = [k for k in keys if k == key]
            if not keys:
                execution.discarded += 1
                return
            row_id = keys[step.get("row", 0) % len(keys)]
            if step["op"] == "update":
                replica.update(table, row_id, _values(replica, step, execution))
            else:
                replica.delete(table, row_id)
    except SyncError:
        execution.discarded += 1
        return
    execution.written += 1
    execution.tables_written.add(table)


def run_traffic(
    replicas: Mapping[str, Replica],
    steps: Sequence[Mapping[str, Any]],
    execution: Execution | None = None,
) -> Execution:
    """Run every step, then sync until quiescent (recording into ``execution``)."""
    execution = execution if execution is not None else Execution()
    for step in steps:
        run_step(replicas, step, execution)
    run_step(replicas, {"op": "sync"}, execution)
    return execution
