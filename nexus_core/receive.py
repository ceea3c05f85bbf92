"""What a replica does with incoming ops: check, park, merge, store, count, log.

Used by :meth:`Replica.receive` (a message from a peer) and
:meth:`Replica.replay_parked` (parked ops after an upgrade). Per op, the
receiver table of the contract:

- a table and column this schema has: merged (``applied``);
- a column or table it lacks: kept and parked for replay, logged
  ``unknown column in oplog`` / ``unknown table in oplog`` (``skipped_unknown``);
- an internal table, a non-plain identifier, a value the column cannot hold, a
  clock too far ahead: refused, logged with the reason (``rejected``).

Refused ops are never stored, except those refused for their value alone:
those are stored and parked (reason ``refused: ...``) like everything else,
exactly as received, so they are forwarded to later peers untouched. They are
retried at the end of every receive (what stood in their way may have moved)
and after an upgrade.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nexus_core.fastlane import no_clock_ahead, take_new_rows
from nexus_core.hlc import Timestamp
from nexus_core.merge import (
    NOT_REPLICATED,
    Verdict,
    canonical,
    classify,
    classify_target,
    classify_values,
)
from nexus_core.oplog import VALUE_REFUSAL as VALUE_REFUSAL  # re-exported
from nexus_core.oplog import WHOLE_CHANGE, Change
from nexus_core.wire import Changes, Op, PeerInfo, Value, encode_value, group_changes

if TYPE_CHECKING:
    from nexus_core.replica import Replica

log = logging.getLogger("nexus_core.sync")


@dataclass
class ReceiveResult:
    """What one ``receive`` did with a message."""

    peer: PeerInfo
    received: int = 0
    applied: int = 0
    skipped_unknown: int = 0
    rejected: int = 0
    duplicates: int = 0
    replayed: int = 0  # parked ops refused by an earlier receive, applied by this one
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
    # Parked entries of values pending rows kept from earlier messages, refused in this one.
    kept: set[tuple[str, str, str]] = field(default_factory=set)
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


def _same_value(a: object, b: object) -> bool:
    """Equal, and both numbers or of one type: ``5`` and ``5.0`` are one number (an
    encoder may drop the ``.0``), text ``'5'`` or a blob is not."""
    numbers = (int, float)
    if type(a) in numbers and type(b) in numbers:
        return a == b
    return type(a) is type(b) and a == b


def _same(a: Op, b: Op) -> bool:
    """Two copies of one op (a message may repeat an op; it may not change it)."""
    return a is b or (a == b and _same_value(a.new_value, b.new_value))


def _folded(column: str | None) -> str | None:
    """A column name as SQLite compares it (names on the wire are plain ASCII)."""
    return None if column is None else column.lower()


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
    vetoed = replica.vetoed  # rows a RAISE(ROLLBACK) refused in an earlier try of this message
    none_ahead = no_clock_ahead(replica, changes)
    if replica.fast_lane and not vetoed:
        taken = take_new_rows(replica, changes, held_vector, none_ahead=none_ahead)
        result.applied += taken.ops
        batch.latest = taken.latest
    verdicts: dict[tuple[str, str | None, str], tuple[Verdict, str]] = {}
    for (origin, hlc), change_ops in changes.items():
        first = change_ops[0]
        unique: dict[str | None, Op] = {}
        copies_differ = False
        for op in change_ops:
            kept = unique.setdefault(op.column_name, op)
            copies_differ = copies_differ or not _same(kept, op)
        fresh = list(unique.values())
        if copies_differ:
            fresh = list(change_ops)  # every copy refused: none is the real one
        else:
            result.duplicates += len(change_ops) - len(unique)
        if not _consistent(fresh):
            _refuse(result, batch, fresh, f"ops sharing clock {hlc} disagree on their row")
            continue
        if copies_differ or len({_folded(op.column_name) for op in fresh}) != len(fresh):
            # 'email' and 'EMAIL' name one column here: which value wins would depend
            # on the order a replica reads them in (a relay replays parked ops sorted).
            _refuse(result, batch, fresh, f"ops sharing clock {hlc} set one column twice")
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
            held = {_folded(c): v for c, v in existing.cols.items()}
            if existing.kind != "set":
                held = {None: None}
            again = [op for op in fresh if _folded(op.column_name) in held]
            fresh = [op for op in fresh if _folded(op.column_name) not in held]
            # A copy of a held op with another value: whichever copy a replica met
            # first would stay there for good (neither side re-sends a held clock).
            other = [
                op
                for op in again
                if op.column_name is not None
                and not _same_value(held[_folded(op.column_name)], encode_value(op.new_value))
            ]
            result.duplicates += len(again) - len(other)
            if other:
                _refuse(result, batch, other, f"clock {hlc} already holds another value there")
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
        if to_apply and (to_apply[0].table_name.lower(), first.row_id) in vetoed:
            reason = f"{VALUE_REFUSAL}a trigger rolled the transaction back (RAISE(ROLLBACK))"
            _refuse(result, batch, to_apply, reason)
            parked = [_parking(batch.received_as.get(id(op), op), reason) for op in to_apply]
            batch.parked.extend(parked)
            to_apply = []
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
    _retry_refused(replica, batch, result)
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
    here = op.schema_version == replica.schema_version
    checked, reason = classify_values(op, model, check_key=check_key, writer_here=here)
    if checked is Verdict.REFUSE:  # kept and parked (see receive's loop)
        return Verdict.REJECT, f"{VALUE_REFUSAL}{reason}"
    return checked, reason


def _parking(op: Op, reason: str) -> tuple[str, str, str, str]:
    return (op.origin, op.hlc, op.column_name or WHOLE_CHANGE, reason)


def _refuse(result: ReceiveResult, batch: _Batch, ops: Sequence[Op], reason: str) -> None:
    result.rejected += len(ops)
    batch.refused[reason] += len(ops)


def _merge(replica: Replica, batch: _Batch, result: ReceiveResult) -> None:
    for table, rows in batch.groups.items():
        refused = replica.merger.apply(table, rows)
        arrived = {id(op) for ops in rows.values() for op in ops} if refused else set()
        for op, reason in refused:
            if id(op) in arrived:
                result.applied -= 1  # counted applied when it arrived
            else:  # a value a pending row kept from an earlier message, refused now
                batch.kept.add(_parking(op, "")[:3])
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
        # A table this version has but never replicates (a migration tool's record, a
        # keyless table): no upgrade of this replica's own replays them (review BAI-10).
        then = (
            "(kept and forwarded; replayed only if a later version replicates the table)"
            if reason.startswith(NOT_REPLICATED)
            else "for replay"
        )
        log.warning("%s %s: %d op(s) skipped and parked %s", reason, source, count, then)
    for reason, count in sorted(batch.refused.items()):
        log.warning("op refused %s: %s (%d op(s))", source, reason, count)
        result.reasons.append(reason)


_Placed = tuple[tuple[str, str, str], str]  # a parked entry placed, and its old reason


@dataclass
class _Replay:
    """What replaying parked ops did: placed ones (with their old reason), refusals."""

    placed: list[_Placed] = field(default_factory=list)
    newly_refused: int = 0
    refused: Counter[str] = field(default_factory=Counter)


def _replay(replica: Replica, parked: list[tuple[Change, dict[str, str]]]) -> _Replay:
    """Merge the ``parked`` ops (as :meth:`OpLog.parked` lists them) that now fit.

    Placed ops leave the parked list; the others stay, their reason rewritten
    only where it changed. An op refused for its value is refused again
    quietly: ``newly_refused`` counts only ops parked for another reason.
    """
    if replica.vetoed:  # (their trigger would roll this message back again)
        parked = [p for p in parked if (p[0].table_name.lower(), p[0].row_id) not in replica.vetoed]
    batch = _Batch()
    done = _Replay()
    unpark: list[tuple[str, str, str]] = []
    kept: dict[tuple[str, str, str], str] = {}  # parked entries left in place, by reason
    placed: dict[int, tuple[tuple[str, str, str], str]] = {}
    for change, columns in parked:
        whole = WHOLE_CHANGE in columns
        ops = change.ops(None if whole else columns)
        if not ops or classify(ops[0], replica.schema, replica.models)[0] is Verdict.UNKNOWN_TABLE:
            continue
        if whole:
            unpark.append((change.origin, change.hlc, WHOLE_CHANGE))
        for op in ops:
            entry = (op.origin, op.hlc, op.column_name or WHOLE_CHANGE)
            was = columns.get(WHOLE_CHANGE if whole else entry[2], "")
            if not whole:
                kept[entry] = was
            verdict, reason = classify(op, replica.schema, replica.models)
            if verdict in (Verdict.REFUSE, Verdict.REJECT):
                reason = f"{VALUE_REFUSAL}{reason}"
                done.newly_refused += not was.startswith(VALUE_REFUSAL)
                done.refused[reason] += 1
            if verdict is not Verdict.APPLY:
                batch.parked.append(_parking(op, reason))
                continue
            op = canonical(op, replica.models)
            batch.to_apply(op.table_name, op.row_id, [op])
            placed[id(op)] = (entry, was)
    for table, rows in batch.groups.items():
        for op, reason in replica.merger.apply(table, rows):
            # (Not among those replayed: a value the row kept while pending, refused now.)
            _, was = placed.pop(id(op), (None, ""))
            reason = f"{VALUE_REFUSAL}{reason}"
            done.newly_refused += not was.startswith(VALUE_REFUSAL)
            done.refused[reason] += 1
            batch.parked.append(_parking(op, reason))
    done.placed = list(placed.values())
    unpark += [entry for entry, _ in done.placed]
    replica.oplog.unpark(unpark)
    replica.oplog.park(entry for entry in batch.parked if kept.get(entry[:3]) != entry[3])
    return done


def replay_parked(replica: Replica) -> tuple[int, int]:
    """Merge parked ops the schema can now place; returns (replayed, newly refused).

    Ops that still name what this schema lacks stay parked; so do ops whose
    value this schema refuses (counted once, when first refused).
    """
    done = _replay(replica, replica.oplog.parked())
    placed = done.placed + _settle(replica, done, None)
    _, refused = replica.merger.retry_pending()
    reasons = [f"{VALUE_REFUSAL}{reason}" for _, reason in refused]
    replica.oplog.park(_parking(op, why) for (op, _), why in zip(refused, reasons, strict=True))
    done.newly_refused += len(refused)
    done.refused.update(reasons)
    for reason, count in sorted(done.refused.items()):
        log.warning("parked op refused on replay: %s (%d op(s))", reason, count)
    return len(placed), done.newly_refused


def _settle(replica: Replica, done: _Replay, tables: set[str] | None) -> list[_Placed]:
    """Retry the ops still refused (on ``tables``) while the last round placed any.

    One op placed can free another refused earlier in clock order (a row moving
    off the UNIQUE value the other waits for): a single pass would leave that
    one refused until the table is written again, so replicas would disagree.
    Each round places at least one op or ends it, so this ends.
    """
    placed: list[_Placed] = []
    while done.placed:
        parked = replica.oplog.refused_parked(tables)
        if not parked:
            break
        done = _replay(replica, parked)
        placed += done.placed
    return placed


def _retry_refused(replica: Replica, batch: _Batch, result: ReceiveResult) -> None:
    """Retry the parked ops refused for their value, after a message was merged.

    What stood in their way (a UNIQUE value, a CHECK's other column) may have
    changed since, here or at a peer: once it has, they apply, and replicas
    that refused each other's rows converge. Only those ops are read (a
    partial index), and only on tables written since the last retry (by this
    message or locally); one still refused stays parked, neither counted nor
    logged again. One refused earlier in this very receive and
    placed now counts as applied instead.
    """
    # Only where something moved: the tables this message merged into, and those
    # written locally since the last retry (all of them, the first time).
    touched = replica.retry_tables
    replica.retry_tables = set()
    if replica.schema.triggers:  # a trigger may read other tables: any write may free an op
        touched = None
    tables = None if touched is None else {*touched, *batch.groups}
    parked = replica.oplog.refused_parked(tables)
    if not parked:
        return
    fresh = {entry[:3] for entry in batch.parked if entry[3].startswith(VALUE_REFUSAL)}
    fresh -= batch.kept  # counted applied when they arrived, earlier: placed again, replayed
    done = _replay(replica, parked)
    done.placed += _settle(replica, done, tables)
    for entry, was in done.placed:
        if entry in fresh and batch.refused[was]:
            result.applied += 1
            result.rejected -= 1
            batch.refused[was] -= 1
            if not batch.refused[was]:
                del batch.refused[was]
        else:
            result.replayed += 1
    if done.placed:
        log.info("%d parked op(s) refused earlier now applied", len(done.placed))
