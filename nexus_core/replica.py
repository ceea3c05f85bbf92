"""A replica: an app database that captures its writes as ops and merges others'.

>>> a = open_replica(":memory:", target_version=1)      # an old client
>>> b = open_replica(":memory:")                        # the latest
>>> lid = b.insert("lists", {"name": "Home"})
>>> _ = a.receive(b.export_changes())
>>> [row["name"] for row in a.rows("lists")]
['Home']
"""

from __future__ import annotations

import logging
import random
import sqlite3
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nexus_core.db.connection import connect
from nexus_core.db.migrations import (
    Migration,
    MigrationResult,
    get_current_version,
    load_migrations,
    migrate,
)
from nexus_core.db.schema import Schema, snapshot
from nexus_core.errors import NexusError, SyncError
from nexus_core.hlc import DEFAULT_MAX_DRIFT_MS, HybridClock, Timestamp
from nexus_core.merge import Merger, TableModel, Verdict, classify, table_models, value_problem
from nexus_core.oplog import OpLog, ensure_bookkeeping
from nexus_core.wire import (
    CAPABILITIES,
    Op,
    PeerInfo,
    Value,
    decode_message,
    encode_message,
    quote_identifier,
)

log = logging.getLogger("nexus_core.sync")

LARGE_VERSION_GAP = 3


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


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Replica:
    """One peer's database. Build it with :func:`open_replica`."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        migrations: Sequence[Migration],
        *,
        peer_id: str | None = None,
        max_clock_drift_ms: int = DEFAULT_MAX_DRIFT_MS,
    ) -> None:
        self.conn = conn
        self.migrations = list(migrations)
        self.oplog = OpLog(conn)
        self._depth = 0
        self._gaps_warned: set[tuple[str, int, int]] = set()
        self.stats: dict[str, int] = dict.fromkeys(
            ("applied", "skipped_unknown", "rejected", "duplicates", "replayed", "sent"), 0
        )
        conn.execute("BEGIN IMMEDIATE")
        ensure_bookkeeping(conn)
        stored = self.oplog.meta("peer_id")
        if stored is None:
            stored = peer_id or uuid.uuid4().hex
            self.oplog.set_meta("peer_id", stored)
        elif peer_id is not None and peer_id != stored:
            conn.execute("ROLLBACK")
            raise SyncError(f"this database belongs to peer {stored}, not {peer_id}")
        conn.execute("COMMIT")
        latest = self.oplog.latest_clock()
        self.clock = HybridClock(
            stored,
            max_drift_ms=max_clock_drift_ms,
            last=Timestamp.parse(latest) if latest else None,
        )
        self._load_schema()

    # -- schema --------------------------------------------------------------
    def _load_schema(self) -> None:
        self.schema: Schema = snapshot(self.conn)
        self.models: dict[str, TableModel] = table_models(self.schema)
        self.schema_version = get_current_version(self.conn)
        self.merger = Merger(self.conn, self.oplog, self.models)

    @property
    def peer_id(self) -> str:
        return self.clock.peer

    @property
    def peer_info(self) -> PeerInfo:
        return PeerInfo(self.peer_id, self.schema_version, CAPABILITIES)

    @property
    def unreplicated_tables(self) -> list[str]:
        """App tables without a single-column primary key: never synced."""
        return self.schema.unreplicated_tables

    def _model(self, table: str) -> TableModel:
        model = self.models.get(table)
        if model is None:
            if table in self.schema.tables:
                raise SyncError(f"table {table} has no single-column primary key: not replicated")
            raise SyncError(f"no table {table} at schema v{self.schema_version}")
        return model

    # -- transactions --------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[Replica]:
        """Group local writes (and their ops) into one transaction.

        A nested block is a savepoint, so a write that fails inside an outer
        transaction (and is caught there) leaves none of its rows or ops behind.
        """
        outer = self._depth == 0
        savepoint = f"nexus_write_{self._depth}"
        self.conn.execute("BEGIN IMMEDIATE" if outer else f"SAVEPOINT {savepoint}")
        self._depth += 1
        try:
            yield self
        except BaseException:
            self._depth -= 1
            if self.conn.in_transaction:
                if outer:
                    self.conn.execute("ROLLBACK")
                else:
                    self.conn.execute(f"ROLLBACK TO {savepoint}")
                    self.conn.execute(f"RELEASE {savepoint}")
            raise
        self._depth -= 1
        self.conn.execute("COMMIT" if outer else f"RELEASE {savepoint}")

    # -- local writes --------------------------------------------------------
    def _check_values(self, model: TableModel, values: Mapping[str, Value]) -> None:
        for name, value in values.items():
            column = model.columns.get(name)
            if column is None:
                raise SyncError(f"no column {model.table.name}.{name} at v{self.schema_version}")
            problem = value_problem(column, value)
            if problem:
                raise SyncError(f"invalid value for {model.table.name}.{problem}")

    def _new_key(self, model: TableModel) -> Value:
        if model.columns[model.key].affinity == "INTEGER":
            return random.SystemRandom().randrange(1, 2**53)
        return uuid.uuid4().hex

    def _capture(self, model: TableModel, row_id: Value, columns: Sequence[str]) -> None:
        names = ", ".join(quote_identifier(c) for c in columns)
        row = self.conn.execute(
            f"SELECT {names} FROM {model.quoted} WHERE {model.quoted_key} = ?", (row_id,)
        ).fetchone()
        ops = [
            Op(
                str(self.clock.tick()),
                self.peer_id,
                self.schema_version,
                "set",
                model.table.name,
                row_id,
                column,
                value,
            )
            for column, value in zip(columns, row, strict=True)
        ]
        self._record_local(ops)

    def _record_local(self, ops: Sequence[Op]) -> None:
        self.oplog.append_many(ops)
        for op in ops:
            if op.kind == "set":
                assert op.column_name is not None
                self.oplog.set_cell_clock(op.table_name, op.row_id, op.column_name, op.hlc)
        self.oplog.advance_vector({self.peer_id: ops[-1].hlc})

    def insert(self, table: str, values: Mapping[str, Value]) -> Value:
        """Insert a row, capturing every column it holds; returns its row id."""
        return self.insert_many(table, [values])[0]

    def insert_many(self, table: str, rows: Sequence[Mapping[str, Value]]) -> list[Value]:
        """Insert rows in one transaction; returns their row ids."""
        model = self._model(table)
        ids: list[Value] = []
        with self._writing(), self.transaction():
            for values in rows:
                values = dict(values)
                if values.get(model.key) is None:
                    values[model.key] = self._new_key(model)
                self._check_values(model, values)
                row_id = values[model.key]
                if self.oplog.tombstoned(table, row_id):
                    raise SyncError(f"{table} row {row_id!r} was deleted; row ids are never reused")
                names = list(values)
                self.conn.execute(
                    f"INSERT INTO {model.quoted} ({', '.join(map(quote_identifier, names))})"
                    f" VALUES ({', '.join('?' * len(names))})",
                    [values[n] for n in names],
                )
                columns = [model.key, *(c for c in model.columns if c != model.key)]
                self._capture(model, row_id, columns)
                ids.append(row_id)
        return ids

    def update(self, table: str, row_id: Value, values: Mapping[str, Value]) -> None:
        """Change columns of one row, capturing an op per column."""
        model = self._model(table)
        if model.key in values:
            raise SyncError(f"{table}.{model.key} is the row id and cannot change")
        if not values:
            return
        self._check_values(model, values)
        with self._writing(), self.transaction():
            assignments = ", ".join(f"{quote_identifier(c)} = ?" for c in values)
            cursor = self.conn.execute(
                f"UPDATE {model.quoted} SET {assignments} WHERE {model.quoted_key} = ?",
                [*values.values(), row_id],
            )
            if not cursor.rowcount:
                raise SyncError(f"no {table} row {row_id!r} to update")
            self._capture(model, row_id, list(values))

    def delete(self, table: str, row_id: Value) -> None:
        """Delete a row; its tombstone travels as a delete op."""
        model = self._model(table)
        with self._writing(), self.transaction():
            cursor = self.conn.execute(
                f"DELETE FROM {model.quoted} WHERE {model.quoted_key} = ?", (row_id,)
            )
            if not cursor.rowcount:
                raise SyncError(f"no {table} row {row_id!r} to delete")
            op = Op(
                str(self.clock.tick()),
                self.peer_id,
                self.schema_version,
                "delete",
                table,
                row_id,
                None,
            )
            self.oplog.add_tombstone(table, row_id, op.hlc)
            self._record_local([op])

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """Turn SQLite's refusals of a local write into SyncError.

        ``OverflowError`` (a row id beyond 64 bits) and ``ValueError`` (text with
        a lone surrogate) are the sqlite3 module's refusals to bind a parameter.
        """
        try:
            yield
        except sqlite3.Error as exc:
            raise SyncError(f"write refused by the schema: {exc}") from exc
        except (OverflowError, ValueError) as exc:
            raise SyncError(f"write refused: value cannot be stored in SQLite ({exc})") from exc

    # -- reading -------------------------------------------------------------
    def rows(self, table: str) -> list[dict[str, Any]]:
        """Every row of ``table`` with every column this schema has, by row id."""
        model = self._model(table)
        cursor = self.conn.execute(f"SELECT * FROM {model.quoted} ORDER BY {model.quoted_key}")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor]

    def ops(self, since: str | None = None) -> list[Op]:
        """The oplog, oldest first, optionally only ops after clock ``since``."""
        return self.oplog.all_ops(since)

    def version_vector(self) -> dict[str, str]:
        return self.oplog.version_vector()

    # -- the wire --------------------------------------------------------------
    def export_changes(
        self, since: Mapping[str, str] | None = None, *, peer: str | None = None
    ) -> str:
        """One message with every op newer than ``since`` (a version vector).

        With ``peer`` instead, ``since`` is what that peer last said it holds.
        Parked ops travel too, exactly as received, so an old relay forwards a
        newer peer's ops intact.
        """
        if since is None and peer is not None:
            since = self.oplog.peer_vector(peer)
        ops = self.oplog.ops_since(since)
        self.stats["sent"] += len(ops)
        return encode_message(self.peer_info, ops, self.version_vector())

    def receive(self, text: str | bytes) -> ReceiveResult:
        """Check and merge one message. A message that fails as a whole changes nothing."""
        try:
            message = decode_message(text)
            with self._receiving():
                result = self._receive(message.peer, message.ops, message.version_vector)
        except NexusError:
            raise
        except (sqlite3.Error, ValueError, TypeError, OverflowError) as exc:
            raise SyncError(f"message could not be merged: {exc}") from exc
        for key in ("applied", "skipped_unknown", "rejected", "duplicates"):
            self.stats[key] += getattr(result, key)
        return result

    @contextmanager
    def _receiving(self) -> Iterator[None]:
        if self._depth:
            raise SyncError("receive() cannot run inside a local write transaction")
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def _receive(
        self, peer: PeerInfo, ops: Sequence[Op], vector: Mapping[str, str]
    ) -> ReceiveResult:
        result = ReceiveResult(peer, received=len(ops))
        if peer.peer_id == self.peer_id:
            raise SyncError(f"message claims to come from this replica ({self.peer_id})")
        self.oplog.record_peer(peer, vector, _now())
        gap = (peer.peer_id, peer.schema_version, self.schema_version)
        if abs(peer.schema_version - self.schema_version) > LARGE_VERSION_GAP and (
            gap not in self._gaps_warned
        ):
            self._gaps_warned.add(gap)
            log.warning(
                "Large version gap: consider full resync (peer %s at v%d, this replica at v%d)",
                peer.peer_id,
                peer.schema_version,
                self.schema_version,
            )
        held = self.oplog.held([op.hlc for op in ops])
        latest: dict[str, str] = {}
        skipped: Counter[str] = Counter()
        refused: Counter[str] = Counter()
        for op in ops:
            if op.hlc in held:
                result.duplicates += 1
                continue
            verdict, reason = classify(op, self.schema, self.models)
            stamp = Timestamp.parse(op.hlc)
            if verdict is not Verdict.REJECT:
                reason = self.clock.check(stamp) or reason
                verdict = Verdict.REJECT if reason.startswith("clock") else verdict
            if verdict is Verdict.REJECT:
                result.rejected += 1
                refused[reason] += 1
                continue
            if verdict is Verdict.APPLY:
                try:
                    self.merger.apply(op)
                except sqlite3.IntegrityError as exc:
                    result.rejected += 1
                    refused[f"{op.table_name}.{op.column_name}: {exc}"] += 1
                    continue
                result.applied += 1
                self.oplog.append(op)
            else:
                self.oplog.append(op)
                self.oplog.park(op.hlc, reason)
                result.skipped_unknown += 1
                skipped[reason] += 1
            held.add(op.hlc)
            self.clock.observe(stamp)
            if op.hlc > latest.get(op.origin, ""):
                latest[op.origin] = op.hlc
        self.oplog.advance_vector(latest)
        self.merger.retry_pending()
        source = f"from peer {peer.peer_id} (schema v{peer.schema_version})"
        for reason, count in sorted(skipped.items()):
            log.warning("%s %s: %d op(s) skipped and parked for replay", reason, source, count)
        for reason, count in sorted(refused.items()):
            log.warning("op refused %s: %s (%d op(s))", source, reason, count)
            result.reasons.append(reason)
        return result

    # -- upgrades ------------------------------------------------------------
    def upgrade(self, target_version: int | None = None) -> MigrationResult:
        """Apply pending migrations, then replay the parked ops that now fit."""
        if self._depth:
            raise SyncError("upgrade() cannot run inside a local write transaction")
        if target_version is not None and target_version < self.schema_version:
            raise SyncError(f"upgrade() only goes up: at v{self.schema_version}")
        result = migrate(self.conn, self.migrations, target=target_version)
        self._load_schema()
        self.replay_parked()
        return result

    def replay_parked(self) -> int:
        """Merge parked ops whose table and column this schema now has."""
        replayed = 0
        refused: Counter[str] = Counter()
        with self._receiving():
            for op in self.oplog.parked_ops():
                verdict, reason = classify(op, self.schema, self.models)
                if verdict in (Verdict.UNKNOWN_TABLE, Verdict.UNKNOWN_COLUMN):
                    continue
                self.oplog.unpark(op.hlc)
                if verdict is Verdict.REJECT:
                    refused[reason] += 1
                    continue
                try:
                    self.merger.apply(op)
                except sqlite3.IntegrityError as exc:
                    refused[f"{op.table_name}.{op.column_name}: {exc}"] += 1
                    continue
                replayed += 1
            self.merger.retry_pending()
        for reason, count in sorted(refused.items()):
            log.warning("parked op refused on replay: %s (%d op(s))", reason, count)
        self.stats["replayed"] += replayed
        self.stats["rejected"] += sum(refused.values())
        return replayed

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Replica:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_replica(
    path: str | Path,
    *,
    target_version: int | None = None,
    migrations: str | Path | Sequence[Migration] | None = None,
    peer_id: str | None = None,
    max_clock_drift_ms: int = DEFAULT_MAX_DRIFT_MS,
) -> Replica:
    """Open (or create) a replica, migrated up to ``target_version`` (default: latest)."""
    known = (
        load_migrations(migrations)
        if migrations is None or isinstance(migrations, str | Path)
        else list(migrations)
    )
    conn = connect(path)
    try:
        current = get_current_version(conn)
        if target_version is not None and current > target_version:
            raise SyncError(f"{path} is at v{current}, above the requested v{target_version}")
        migrate(conn, known, target=target_version)
        return Replica(conn, known, peer_id=peer_id, max_clock_drift_ms=max_clock_drift_ms)
    except BaseException:
        conn.close()
        raise
