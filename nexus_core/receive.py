"""What a replica does with incoming ops: check, park, merge, store, count, log.

Used by :meth:`Replica.receive` (a message from a peer) and
:meth:`Replica.replay_parked` (parked ops after an upgrade). Per op, the
receiver table of the contract:

- a table and column this schema has: merged (``applied``);
- a column or table it lacks: kept and parked for replay, logged
  ``unknown column in oplog`` / ``unknown table in oplog`` (``skipped_unknown``);
- an internal table, a non-plain identifier, a value the column cannot hold, a
  clock too far ahead: refused, logged with the reason (``rejected``).

Refused ops are never stored; everything else is, exactly as received, so it
is forwarded to later peers untouched.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nexus_core.fastlane import no_clock_ahead, take_new_rows
from nexus_core.hlc import Timestamp
from nexus_core.merge import Verdict, canonical, classify, classify_target, classify_values
from nexus_core.oplog import WHOLE_CHANGE, Change
from nexus_core.wire import Changes, Op, PeerInfo, Value, encode_value, group_changes

if TYPE_CHECKING:
    from nexus_core.replica import Replica

log = logging.getLogger("nexus_core.sync")

VALUE_REFUSAL = "refused: "


@dataclass
class ReceiveResult:
    """What one ``receive`` did with a message."""

    peer: PeerInfo
    received: int = 0
    applied: int = 0
    skipped_unknown: int = 0
    rejected: int = 0
    duplicates: int = 0
    reasons: list[str] = field(default_factory=list)

    @property
    def new(self) -> int:
        """Ops this replica did not hold before (applied or parked)."""
        return self.applied + self.skipped_unknown


@dataclass
class _Incoming:
    change: Change
    ops: list[Op]
    existing: bool


@dataclass
class _Batch:
    """Ops of one message on their way in, grouped by table and row."""

    groups: dict[str, dict[Value, list[Op]]] = field(default_factory=dict)
    incoming: list[_Incoming] = field(default_factory=list)
    parked: list[tuple[str, str, str, str]] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    received_as: dict[int, Op] = field(default_factory=dict)  # by id of the op as spelled here
    latest: dict[str, str] = field(default_factory=dict)  # the latest clock stored, per origin

    def to_apply(self, table: str, row_id: Value, ops: list[Op]) -> None:
        self.groups.setdefault(table, {}).setdefault(row_id, []).extend(ops)


def _consistent(ops: Sequence[Op]) -> bool:
    """The ops of one write name one row, one kind and one origin version."""
    first = ops[0]
    for op in ops:
        if (
            op.row_id != first.row_id
            or op.table_name != first.table_name
            or op.kind != first.kind
            or op.schema_version != first.schema_version
        ):
            return False
    return True


def receive_ops(
    replica: Replica,
    peer: PeerInfo,
    ops: Sequence[Op],
    vector: Mapping[str, str],
    changes: Changes | None = None,
) -> ReceiveResult:
    """Merge a decoded message into ``replica`` (inside its write transaction).

    ``ops`` come from :func:`~nexus_core.wire.decode_message`: the fast lane relies
    on its checks (integers in range, finite numbers). ``changes``: the ops
    grouped by :func:`~nexus_core.wire.group_changes`, if decoding did it (this
    takes them over: they are consumed).
    """
    result = ReceiveResult(peer, received=len(ops))
    held_vector = replica.oplog.version_vector()
    if changes is None:
        changes = group_changes(ops)
    batch = _Batch()
    none_ahead = no_clock_ahead(replica, changes)
    if replica.fast_lane:
        taken = take_new_rows(replica, changes, held_vector, none_ahead=none_ahead)
        result.applied += taken.ops
        batch.latest = taken.latest
    verdicts: dict[tuple[str, str | None, str], tuple[Verdict, str]] = {}
    for (origin, hlc), change_ops in changes.items():
        first = change_ops[0]
        unique: dict[str | None, Op] = {}
        for op in change_ops:
            unique.setdefault(op.column_name, op)
        result.duplicates += len(change_ops) - len(unique)
        fresh = list(unique.values())
        if not _consistent(fresh):
            _refuse(result, batch, fresh, f"ops sharing clock {hlc} disagree on their row")
            continue
        existing = replica.oplog.change(origin, hlc) if hlc <= held_vector.get(origin, "") else None
        if existing is not None:
            if (existing.kind, existing.table_name, existing.row_id) != (
                first.kind,
                first.table_name,
                first.row_id,
            ):
                _refuse(result, batch, fresh, f"clock {hlc} already names another row")
                continue
            held = set(existing.cols) if existing.kind == "set" else {None}
            result.duplicates += sum(op.column_name in held for op in fresh)
            fresh = [op for op in fresh if op.column_name not in held]
            if not fresh:
                continue
        drift = None if none_ahead else replica.clock.check(Timestamp.parse(hlc))
        if drift:
            _refuse(result, batch, fresh, drift)
            continue
        accepted = []
        to_apply = []
        key_checked = False
        for op in fresh:
            verdict, reason = _verdict(replica, op, verdicts, check_key=not key_checked)
            key_checked = key_checked or verdict is Verdict.APPLY
            if verdict is Verdict.REJECT:
                _refuse(result, batch, [op], reason)
                if reason.startswith(VALUE_REFUSAL):
                    # Its names are fine, only the value does not fit this schema:
                    # keep it (forwarded, retried after an upgrade), never apply it.
                    accepted.append(op)
                    batch.parked.append(_parking(op, reason))
                continue
            accepted.append(op)  # stored as received, so it is forwarded untouched
            if verdict is Verdict.APPLY:
                spelled = canonical(op, replica.models)
                if spelled is not op:
                    batch.received_as[id(spelled)] = op
                to_apply.append(spelled)
            else:
                column = WHOLE_CHANGE if verdict is Verdict.UNKNOWN_TABLE else op.column_name
                batch.parked.append((origin, hlc, column or WHOLE_CHANGE, reason))
                batch.skipped[reason] += 1
                result.skipped_unknown += 1
        if to_apply:
            batch.to_apply(to_apply[0].table_name, first.row_id, to_apply)
            result.applied += len(to_apply)
        if accepted:
            change = Change(
                origin, hlc, first.schema_version, first.kind, first.table_name, first.row_id
            )
            batch.incoming.append(_Incoming(change, accepted, existing is not None))
    _merge(replica, batch, result)
    _store(replica, batch)
    _log(peer, batch, result)
    return result


def _verdict(
    replica: Replica,
    op: Op,
    cache: dict[tuple[str, str | None, str], tuple[Verdict, str]],
    *,
    check_key: bool,
) -> tuple[Verdict, str]:
    """classify() with the names part remembered per (table, column, kind)."""
    key = (op.table_name, op.column_name, op.kind)
    verdict = cache.get(key)
    if verdict is None:
        verdict = cache[key] = classify_target(*key, replica.schema, replica.models)
    if verdict[0] is not Verdict.APPLY:
        return verdict
    model = replica.models.get(op.table_name)
    if model is None or (op.column_name is not None and op.column_name not in model.columns):
        op = canonical(op, replica.models)  # spelled differently here (names are case-blind)
        model = replica.models[op.table_name]
    refusal = classify_values(op, model, check_key=check_key)
    if refusal[0] is Verdict.REJECT:
        return Verdict.REJECT, f"{VALUE_REFUSAL}{refusal[1]}"
    return refusal


def _parking(op: Op, reason: str) -> tuple[str, str, str, str]:
    return (op.origin, op.hlc, op.column_name or WHOLE_CHANGE, reason)


def _refuse(result: ReceiveResult, batch: _Batch, ops: Sequence[Op], reason: str) -> None:
    result.rejected += len(ops)
    batch.refused[reason] += len(ops)


def _merge(replica: Replica, batch: _Batch, result: ReceiveResult) -> None:
    for table, rows in batch.groups.items():
        for op, reason in replica.merger.apply(table, rows):
            result.applied -= 1
            _refuse(result, batch, [op], f"{VALUE_REFUSAL}{reason}")
            received = batch.received_as.get(id(op), op)
            batch.parked.append(_parking(received, f"{VALUE_REFUSAL}{reason}"))


def _store(replica: Replica, batch: _Batch) -> None:
    new: list[Change] = []
    latest = batch.latest
    for item in batch.incoming:
        change = item.change
        cols = {
            op.column_name: encode_value(op.new_value)
            if type(op.new_value) is bytes
            else op.new_value
            for op in item.ops
            if op.column_name
        }
        if item.existing:
            replica.oplog.extend_change(change.origin, change.hlc, cols)
        else:
            change.cols = cols
            new.append(change)
        if change.hlc > latest.get(change.origin, ""):
            latest[change.origin] = change.hlc
    if latest:  # observing the latest clock is observing them all
        replica.clock.observe(Timestamp.parse(max(latest.values())))
    replica.oplog.add_changes(new)
    replica.oplog.park(batch.parked)
    replica.oplog.advance_vector(latest)


def _log(peer: PeerInfo, batch: _Batch, result: ReceiveResult) -> None:
    source = f"from peer {peer.peer_id} (schema v{peer.schema_version})"
    for reason, count in sorted(batch.skipped.items()):
        log.warning("%s %s: %d op(s) skipped and parked for replay", reason, source, count)
    for reason, count in sorted(batch.refused.items()):
        log.warning("op refused %s: %s (%d op(s))", source, reason, count)
        result.reasons.append(reason)


def replay_parked(replica: Replica) -> tuple[int, int]:
    """Merge parked ops the schema can now place; returns (replayed, newly refused).

    Ops that still name what this schema lacks stay parked; so do ops whose
    value this schema refuses (counted once, when first refused).
    """
    batch = _Batch()
    unpark: list[tuple[str, str, str]] = []
    placed: dict[int, tuple[tuple[str, str, str], str]] = {}
    newly_refused = 0
    for change, columns in replica.oplog.parked():
        whole = WHOLE_CHANGE in columns
        ops = change.ops(None if whole else columns)
        if not ops or classify(ops[0], replica.schema, replica.models)[0] is Verdict.UNKNOWN_TABLE:
            continue
        if whole:
            unpark.append((change.origin, change.hlc, WHOLE_CHANGE))
        for op in ops:
            entry = (op.origin, op.hlc, op.column_name or WHOLE_CHANGE)
            was = columns.get(WHOLE_CHANGE if whole else entry[2], "")
            verdict, reason = classify(op, replica.schema, replica.models)
            if verdict is Verdict.REJECT:
                reason = f"{VALUE_REFUSAL}{reason}"
                newly_refused += not was.startswith(VALUE_REFUSAL)
                batch.refused[reason] += 1
            if verdict is not Verdict.APPLY:
                batch.parked.append(_parking(op, reason))
                continue
            op = canonical(op, replica.models)
            batch.to_apply(op.table_name, op.row_id, [op])
            placed[id(op)] = (entry, was)
    for table, rows in batch.groups.items():
        for op, reason in replica.merger.apply(table, rows):
            _, was = placed.pop(id(op))
            reason = f"{VALUE_REFUSAL}{reason}"
            newly_refused += not was.startswith(VALUE_REFUSAL)
            batch.refused[reason] += 1
            batch.parked.append(_parking(op, reason))
    unpark += [entry for entry, _ in placed.values()]
    replica.oplog.unpark(unpark)
    replica.oplog.park(batch.parked)
    replica.merger.retry_pending()
    for reason, count in sorted(batch.refused.items()):
        log.warning("parked op refused on replay: %s (%d op(s))", reason, count)
    return len(placed), newly_refused
