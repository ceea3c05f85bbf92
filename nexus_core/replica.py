"""A replica: an app database that captures its writes as ops and merges others'.

>>> a = open_replica(":memory:", target_version=1)      # an old client
>>> b = open_replica(":memory:")                        # the latest
>>> lid = b.insert("lists", {"name": "Home"})
>>> _ = a.receive(b.export_changes())
>>> [row["name"] for row in a.rows("lists")]
['Home']
"""

from __future__ import annotations

import json
import logging
import random
import sqlite3
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from operator import itemgetter
from pathlib import Path
from typing import Any, cast

from nexus_core.db.connection import connect
from nexus_core.db.migrations import (
    Migration,
    MigrationResult,
    check_applied,
    get_current_version,
    migrate,
    migration_list,
    nondeterministic,
    utc_now,
)
from nexus_core.db.schema import ForeignKey, Schema, snapshot
from nexus_core.errors import NexusError, SyncError, WireError
from nexus_core.hlc import DEFAULT_MAX_DRIFT_MS, HybridClock, Timestamp, check_peer_id
from nexus_core.merge import (
    Merger,
    RolledBack,
    TableModel,
    find_column,
    find_model,
    holds,
    in_range,
    range_check,
    rows_hold,
    stored_value,
    table_models,
    value_problem,
)
from nexus_core.oplog import (
    CHUNK,
    Change,
    OpLog,
    RowState,
    dumps,
    ensure_bookkeeping,
)
from nexus_core.receive import ReceiveResult, receive_ops, replay_parked
from nexus_core.wire import (
    CAPABILITIES,
    Changes,
    Op,
    PeerInfo,
    Value,
    decode_message,
    encode_value,
    encode_wire_ops,
    quote_identifier,
    row_id_problem,
)

log = logging.getLogger("nexus_core.sync")

LARGE_VERSION_GAP = 3
_CHECKED_TOGETHER = 16  # rows of an insert from which a column-by-column check pays
# Rows a message may have refused by a trigger's RAISE(ROLLBACK), each costing one
# more try of the whole message; past that, the message fails (it did before).
MAX_VETOED = 100
REPLAYED_AT = "parked_replayed_at_version"  # meta key: the schema version of the last replay
SPELLING = "replicated_names"  # meta key: the table and column names row states are kept under


class Replica:
    """One peer's database. Build it with :func:`open_replica`."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        migrations: Sequence[Migration],
        *,
        peer_id: str | None = None,
        max_clock_drift_ms: int = DEFAULT_MAX_DRIFT_MS,
        now_ms: Callable[[], int] | None = None,
    ) -> None:
        """``now_ms`` replaces the wall clock (tests and the harness use a stepping one)."""
        self.conn = conn
        self.migrations = list(migrations)
        self.oplog = OpLog(conn)
        self._depth = 0
        self._names_checked = False  # row states known to be under the schema's names
        self._replay_checked = False
        # Whole new rows of a message are inserted in bulk (nexus_core.fastlane);
        # off, every op takes the careful path (the tests compare the two).
        self.fast_lane = True
        # Rows (table in lower case, row id) whose ops a trigger's RAISE(ROLLBACK)
        # refused in an earlier try of the message being received: refused and
        # parked on the next try, not written.
        self.vetoed: frozenset[tuple[str, Value]] = frozenset()
        # Tables written since refused ops were last retried (None: not retried
        # yet since opening, so all of them); see receive._retry_refused.
        self.retry_tables: set[str] | None = None
        self._gaps_warned: set[tuple[str, int, int]] = set()
        # The rows the migrations insert, per table and key, at version _seeds_at.
        self._seeds: dict[str, dict[Any, tuple[Any, ...]]] = {}
        self._seeds_at = -1
        self.stats: dict[str, int] = dict.fromkeys(
            ("applied", "skipped_unknown", "rejected", "duplicates", "replayed", "sent"), 0
        )
        if peer_id is not None:
            check_peer_id(peer_id)  # before anything is stored
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
        self._data_version = int(conn.execute("PRAGMA data_version").fetchone()[0])
        self._rows_written = conn.total_changes  # by this connection, whoever wrote them
        self.clock = HybridClock(
            stored,
            max_drift_ms=max_clock_drift_ms,
            last=Timestamp.parse(latest) if latest else None,
            **({"now_ms": now_ms} if now_ms is not None else {}),
        )
        self._load_schema()
        with self._receiving("row states could not be put under the schema's names"):
            self._names_kept()
        # Migrated since parked ops were last replayed (by open_replica, `nexus
        # migrate` or anything else that ran the migrations): replay them now,
        # as upgrade() does, or what they carry would wait for the next upgrade.
        if self._replay_owed():
            try:
                self.replay_parked()
            except SyncError as exc:  # the database stays usable; the next open tries again
                log.warning("parked ops not replayed on open: %s", exc)

    # -- schema --------------------------------------------------------------
    def _catch_up(self) -> int:
        """Inside a receive's transaction: reload the schema if another connection
        migrated the file, put row states under its names, and replay parked ops
        a version change owes. Returns how many parked ops it could then place.

        A replica kept open while ``nexus migrate`` (or another process) moved
        its file on would otherwise merge by its old schema and park what the
        file now has.
        """
        self._reload_if_moved()
        self._names_kept()
        if self._replay_checked:
            return 0
        self._replay_checked = True
        if not self._replay_owed():
            return 0
        replayed, refused = self._replay()
        self.stats["rejected"] += refused
        return replayed

    def _current(self, *, write: bool) -> None:
        """Before a local write or read outside a transaction: take up the schema
        another connection migrated the file to (``nexus migrate`` beside the open
        app). A write also puts row states under its names first (a transaction of
        its own); a read takes no lock, and parked ops wait for the next receive.
        """
        if self._depth or self.conn.in_transaction:
            return
        self._reload_if_moved()
        if write and not self._names_checked:
            with self._receiving("row states could not be put under the schema's names"):
                self._names_kept()

    def _reload_if_moved(self) -> None:
        """Read the schema again if it changed since it was read (SQLite's cookie)."""
        if self._cookie() != self._schema_cookie:
            self._load_schema()

    def _replay_owed(self) -> bool:
        """Whether parked ops wait for a replay at this version (it moved since the last)."""
        return self.oplog.has_parked() and self.oplog.meta(REPLAYED_AT) != str(self.schema_version)

    def _replay(self) -> tuple[int, int]:
        """Replay parked ops (inside a write transaction), noting the version it was done at."""
        replayed, refused = replay_parked(self)
        self.oplog.set_meta(REPLAYED_AT, str(self.schema_version))
        return replayed, refused

    def _cookie(self) -> int:
        """SQLite's schema cookie: it changes whenever the schema does."""
        return int(self.conn.execute("PRAGMA schema_version").fetchone()[0])

    def _load_schema(self) -> None:
        """Read the schema; row states are put under its names by :meth:`_names_kept`."""
        self._schema_cookie = self._cookie()
        self.schema: Schema = snapshot(self.conn)
        self.models: dict[str, TableModel] = table_models(self.schema)
        self.schema_version = get_current_version(self.conn)
        self.merger = Merger(self.conn, self.oplog, self.models)
        self._names_checked = False
        self._replay_checked = False  # whether a replay this version owes was looked for

    def _names_kept(self) -> None:
        """Inside a write transaction: keep row states under the names as the schema
        now spells them (:meth:`OpLog.respell`), when those names may have changed.

        A migration may change only the case of a replicated table or column
        (SQLite, and sync, see the same one): row states left under the old
        spelling are not found, and an older op would win over a newer write,
        or undo a delete. The names last put right are recorded (sorted, so two
        files alike record alike); only other names make it look again, and
        then only at the tables whose spelling moved.
        """
        if self._names_checked:
            return
        names = {name: list(self.models[name].columns) for name in sorted(self.models)}
        text = dumps(names)
        recorded = self.oplog.meta(SPELLING)
        if recorded != text:
            self.oplog.respell(names, None if recorded is None else json.loads(recorded))
            self.oplog.set_meta(SPELLING, text)
        self._names_checked = True

    @property
    def peer_id(self) -> str:
        return self.clock.peer

    @property
    def peer_info(self) -> PeerInfo:
        """This replica as its peers see it: its version as of its last read, write or
        receive (docs/SYNC.md; another connection may have migrated the file since)."""
        return PeerInfo(self.peer_id, self.schema_version, CAPABILITIES)

    @property
    def unreplicated_tables(self) -> list[str]:
        """App tables without a single-column primary key: never synced."""
        return self.schema.unreplicated_tables

    def _model(self, table: str, *, write: bool = True) -> TableModel:
        """The table's model, named in any case (as SQLite names it): callers keep their
        bookkeeping under ``model.table.name``, the schema's own spelling."""
        self._current(write=write)
        model = find_model(self.models, table)
        if model is None:
            found = self.schema.tables.get(table)
            if found is not None:
                raise SyncError(f"table {table} {found.unreplicated_reason}: not replicated")
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
        if outer:
            self._begin()
        else:
            self._still_open()
            self.conn.execute(f"SAVEPOINT {savepoint}")
        self._depth += 1
        try:
            if outer:
                # Holding the write lock: the schema cannot move under the block now.
                self._reload_if_moved()
                self._names_kept()
            # In a nested block too: another Replica on this connection may have
            # written since (inside its own block, after this one's transaction was
            # ended under it: review BAO R1).
            self._observe_other_writers(other_connections=outer)
            yield self
        except BaseException:
            self._depth -= 1
            if outer:
                self._names_checked = False  # what the block's transaction did is undone
            if self.conn.in_transaction:
                if outer:
                    self.conn.execute("ROLLBACK")
                else:
                    self.conn.execute(f"ROLLBACK TO {savepoint}")
                    self.conn.execute(f"RELEASE {savepoint}")
            raise
        self._depth -= 1
        if outer and not self.conn.in_transaction:
            self._names_checked = False
        self._still_open()
        self.conn.execute("COMMIT" if outer else f"RELEASE {savepoint}")
        self._rows_written = self.conn.total_changes

    def _still_open(self) -> None:
        """Inside a block: a trigger's ``RAISE(ROLLBACK)`` ended SQLite's
        transaction, undoing every write of the block. Writes after it would
        commit one by one; the block fails as a whole instead."""
        if not self.conn.in_transaction:
            raise SyncError(
                "a trigger's RAISE(ROLLBACK) ended the transaction: every write of the"
                " transaction() block was undone"
            )

    def _begin(self) -> None:
        """Take the write lock; another connection holding it past the busy
        timeout is a SyncError that says so (nothing was done yet)."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise SyncError(f"could not start a write transaction: {exc}") from exc

    def _observe_other_writers(self, *, other_connections: bool) -> None:
        """Move the clock past what another connection stored in the file (``nexus
        sync`` run beside an open app, say), so a local edit made after seeing a
        merged one wins over it, as it does on every other replica. Also past what
        was written through this connection since this replica's last block (another
        ``Replica`` on it: SQLite's data version only counts other connections), so
        two never issue one clock (reviews BAN F1, BAO R1). ``other_connections``: read
        SQLite's data version too (a nested block's transaction holds the write lock
        already: another connection cannot have written since it began)."""
        version = (
            int(self.conn.execute("PRAGMA data_version").fetchone()[0])
            if other_connections
            else self._data_version
        )
        written = self.conn.total_changes
        if version == self._data_version and written == self._rows_written:
            return
        self._data_version = version
        self._rows_written = written
        latest = self.oplog.latest_clock()
        if latest:
            self.clock.observe(Timestamp.parse(latest))

    # -- local writes --------------------------------------------------------
    def _checked(self, model: TableModel, values: Mapping[str, Value]) -> dict[str, Value]:
        """The values of a local write, checked like incoming ops (booleans become 0/1).

        Rows written in bulk mostly share their columns and value types: once a
        combination is seen to hold, only its numbers' ranges are checked.
        """
        if not isinstance(values, Mapping):
            raise SyncError(
                f"a write to {model.table.name} takes a mapping of column to value,"
                f" not {type(values).__name__}"
            )
        signature = (tuple(values), tuple(map(type, values.values())))
        numbers_fit = model.held_writes.get(signature)
        if numbers_fit is not None and numbers_fit(values):
            return dict(values)
        checked: dict[str, Value] = {}
        for given, value in values.items():
            name = find_column(model, given)  # as SQLite, in any case; kept as the table spells it
            if name is None:
                where = f"{model.table.name}.{given}"
                if given.lower() in {g.lower() for g in model.table.generated}:
                    raise SyncError(f"column {where} is generated: SQLite computes it")
                raise SyncError(f"no column {where} at v{self.schema_version}")
            if name in checked:
                raise SyncError(f"column {model.table.name}.{name} given twice")
            if type(value) is bool:
                value = int(value)
            if not holds(model, name, value):
                problem = value_problem(model.columns[name], value)
                raise SyncError(f"invalid value: {model.table.name}.{problem}")
            checked[name] = value
        # Not when booleans were changed or names respelled: not the values given.
        if bool not in signature[1] and list(checked) == list(values):
            model.held_writes[signature] = range_check(
                [c for c, v in checked.items() if type(v) is int],
                [c for c, v in checked.items() if type(v) is float],
                [c for c, v in checked.items() if type(v) in (str, bytes)],
            )
        return checked

    def _new_key(self, model: TableModel) -> Value:
        """A fresh row id: an integer where the key's affinity would turn text into a number."""
        key = model.columns[model.key]
        if key.affinity in ("INTEGER", "REAL", "NUMERIC"):
            return random.SystemRandom().randrange(1, 2**53)
        if key.type.upper() == "BLOB":  # a STRICT table refuses text there (review BAD-8)
            return uuid.uuid4().bytes
        return uuid.uuid4().hex

    @staticmethod
    def _check_row_id(model: TableModel, row_id: Value) -> None:
        """Refuse a key no peer could receive (the wire names rows by it)."""
        problem = row_id_problem(row_id)
        if problem is None and not holds(model, model.key, row_id):
            # '1' for an INTEGER key finds the row here, but every peer refuses the op
            # (review BAC-10).
            problem = value_problem(model.columns[model.key], row_id)
        if problem is not None:
            raise SyncError(f"invalid value for {model.table.name}.{model.key}: {problem}")

    def _change(self, kind: str, table: str, row_id: Value, cols: dict[str, Any]) -> Change:
        return Change(
            self.peer_id, self.clock.tick_text(), self.schema_version, kind, table, row_id, cols
        )

    def _record_local(self, table: str, changes: Sequence[Change]) -> None:
        self.oplog.add_changes(changes)
        clocks = self.oplog.shared_clocks.json
        self._stamp(
            table,
            ((c.row_id, clocks(tuple(c.cols), c.hlc)) for c in changes if c.kind == "set"),
            changes[-1].hlc,
        )

    def _stamp(self, table: str, rows: Iterable[tuple[Value, str]], latest: str) -> None:
        """After local changes are stored: their rows' clocks (row id, clocks as JSON),
        this replica's place in its version vector, and the table noted as written."""
        self._written(table)
        self.oplog.stamp_rows(table, rows)
        self.oplog.advance_vector({self.peer_id: latest})

    def _written(self, table: str) -> None:
        """Note a local write to ``table``: it may free what a refused op waits for."""
        if self.retry_tables is not None:
            self.retry_tables.add(table)

    def _read_back(
        self, model: TableModel, keys: Sequence[Value], columns: Sequence[str]
    ) -> dict[Any, tuple[Any, ...]]:
        """Stored values of ``columns`` (defaults SQLite filled in) for many rows.

        By the key as given: a NUMERIC key given as ``'12'`` is stored as 12,
        and the join (where the column's affinity applies) still finds it.
        (The ops keep naming the row ``'12'``; see docs/SYNC.md, known limits.)
        """
        names = ", ".join(f"t.{quote_identifier(c)}" for c in columns)
        found: dict[Any, tuple[Any, ...]] = {}
        for start in range(0, len(keys), CHUNK):
            chunk = keys[start : start + CHUNK]
            rows = self.conn.execute(
                f"SELECT v.column1, {names} FROM (VALUES {', '.join(['(?)'] * len(chunk))}) AS v"
                f" JOIN {model.quoted} AS t ON t.{model.quoted_key} = v.column1",
                chunk,
            )
            for row in rows:
                stored = row[1:]
                if not all(map(in_range, stored)):  # '1e400' or DEFAULT 1e999: infinity
                    pairs = zip(columns, stored, strict=True)
                    column, value = next((c, v) for c, v in pairs if not in_range(v))
                    raise SyncError(
                        f"invalid value for {model.table.name}.{column}: SQLite stored {value!r},"
                        " which sync cannot carry"
                    )
                found[row[0]] = stored
        return found

    def insert(self, table: str, values: Mapping[str, Value]) -> Value:
        """Insert a row, capturing every column it holds; returns its row id."""
        return self.insert_many(table, [values])[0]

    def insert_many(self, table: str, rows: Iterable[Mapping[str, Value]]) -> list[Value]:
        """Insert rows (and their ops) in one transaction; returns their row ids.

        Each row becomes one change carrying every column it holds, defaults
        included, so a peer of the same version ends up with identical data.
        """
        model = self._model(table)
        table = model.table.name
        if not isinstance(rows, list | tuple):
            rows = list(rows)  # (a generator or a dict's values did before: review BAI-6)
        prepared = self._checked_rows(model, rows)
        if not prepared:
            return []
        keys = [row[model.key] for row in prepared]
        with self._writing(), self.transaction():
            deleted = (
                self.oplog.deleted_among(table, keys) if self.oplog.has_tombstones(table) else []
            )
            if deleted:
                raise SyncError(f"{table} row {deleted[0]!r} was deleted; row ids are never reused")
            shapes: dict[tuple[str, ...], list[dict[str, Value]]] = {}
            if len(set(map(tuple, prepared))) == 1:  # (in C: no Python call per row)
                shapes[tuple(prepared[0])] = prepared
            else:
                for row in prepared:
                    shapes.setdefault(tuple(row), []).append(row)
            for names, group in shapes.items():
                self.conn.executemany(
                    f"INSERT{model.abort} INTO {model.quoted}"
                    f" ({', '.join(map(quote_identifier, names))})"
                    f" VALUES ({', '.join('?' * len(names))})",
                    map(itemgetter(*names), group)
                    if len(names) > 1
                    else [[row[names[0]]] for row in group],
                )
            order = model.key_first
            # Read back what SQLite decided: defaults of omitted columns, and text a
            # NUMERIC column may have turned into a number.
            every_row_sets = set(order).intersection(*shapes)
            unknown = [
                c
                for c in order
                if c != model.key  # the row id stays as given: ops name the row by it
                and (
                    c not in every_row_sets
                    or (c in model.numeric and any(type(row[c]) is str for row in prepared))
                )
            ]
            filled = self._read_back(model, keys, unknown) if unknown else {}
            # Columns whose values may need turning into what a read returns.
            special = [
                c
                for c in order
                if c in model.coerced or bytes in model.held_types[c] or c in unknown
            ]  # (a default read back may be a blob in any column)
            whole = not unknown and every_row_sets == set(order)
            in_order = itemgetter(*order) if len(order) > 1 else None
            # Rows giving every column in the table's order, none to turn into what a
            # read returns: each checked row (the caller's, or a copy) is its change's
            # columns already (``special`` would turn the row id too: REAL 2 -> 2.0).
            as_given = whole and not special and list(shapes) == [tuple(order)]
            changes: list[dict[str, Any]] = []
            if as_given:
                changes = prepared
            else:
                for row in prepared:
                    if unknown:
                        row = row | dict(zip(unknown, filled.get(row[model.key], ()), strict=False))
                    if whole and in_order is not None:  # every row sets every column
                        cols = dict(zip(order, in_order(row), strict=True))
                    else:
                        cols = {column: row.get(column) for column in order}
                    for column in special:
                        value = stored_value(model.columns[column], cols[column])
                        cols[column] = encode_value(value) if type(value) is bytes else value
                    changes.append(cols)
            self._record_new_rows(table, tuple(order), keys, changes)
        return keys

    def _checked_rows(
        self, model: TableModel, rows: Sequence[Mapping[str, Value]]
    ) -> list[dict[str, Value]]:
        """The rows of an insert, checked, each with a key (made where none is given):
        the caller's own dicts where they pass as a batch, else checked copies.

        A batch giving the same columns in every row is checked column by column
        (``rows_hold``); anything else, or anything that check does not pass,
        row by row, which names the problem.
        """
        if len(rows) >= _CHECKED_TOGETHER and rows_hold(model, rows):
            # Plain dicts (rows_hold says so), read and encoded before this call returns,
            # never changed: no copies (20,000 rows were 20,000 more objects to collect).
            return cast("list[dict[str, Value]]", list(rows))
        prepared: list[dict[str, Value]] = []
        for values in rows:
            row = self._checked(model, values)
            if row.get(model.key) is None:
                row[model.key] = self._new_key(model)
                self._checked(model, {model.key: row[model.key]})
            self._check_row_id(model, row[model.key])
            prepared.append(row)
        return prepared

    def _record_new_rows(
        self,
        table: str,
        columns: tuple[str, ...],
        keys: Sequence[Value],
        cols: Sequence[dict[str, Any]],
    ) -> None:
        """Record local inserts, each row one change setting ``columns``:
        ``_record_local`` without a :class:`Change` per row, stored as batches where
        it can be (:meth:`OpLog.add_inserts`).

        The rows' first states are plain inserts, most rows having none yet; a row
        that has one (waiting for a column; callers refuse deleted rows) gets them
        merged as ``_stamp`` merges.
        """
        hlcs = self.clock.tick_texts(len(keys))
        self.oplog.add_inserts(self.peer_id, self.schema_version, table, hlcs, keys, cols)
        clocks = self.oplog.shared_clocks.all(columns, hlcs)
        try:
            self.oplog.add_row_states(table, zip(keys, clocks, strict=True))
        except sqlite3.IntegrityError:  # a row has a state already
            self.oplog.stamp_rows(table, zip(keys, clocks, strict=True))
        self._written(table)
        self.oplog.advance_vector({self.peer_id: hlcs[-1]})

    def adopt_rows(self) -> dict[str, int]:
        """Capture the rows sync has no record of, so that peers receive them.

        Rows a replicated table held before this file was first opened as a replica
        (written through the seed API, by a release without sync, by another tool)
        are in no oplog: peers never get them. Each such row becomes a local insert
        of every column, as :meth:`insert` records one; so does one this replica
        only updated since (an update sends its columns alone, which a peer holds
        as a partial row). Checked like a local write, all in one transaction: a
        value sync cannot carry adopts nothing and names the row. Left alone: rows
        sync knows otherwise (inserted here or anywhere, written by a peer,
        deleted, pending), so a second call adopts nothing. Of a row the
        migrations themselves insert, only the columns this device changed are
        adopted (every replica holds the row: its other columns sent again with a
        new clock would undo another device's edits). Returns the count per table.

        A row is one row to sync by its key alone: devices that each adopt rows of
        their own under keys another may use too (1, 2, 3... from AUTOINCREMENT)
        merge unrelated rows. Adopt on the one device that holds the data (a
        WARNING names tables whose adopted keys look sequential).

        >>> replica.adopt_rows()  # doctest: +SKIP
        {'shows': 120, 'episodes': 3400}
        """
        adopted: dict[str, int] = {}
        with self._writing(), self.transaction():
            # Rows a change of another replica touched: never this replica's own.
            foreign = set(
                self.conn.execute(
                    "SELECT DISTINCT lower(table_name), row_id FROM _nexus_changes"
                    " WHERE origin <> ?",  # (batches hold this replica's own changes alone)
                    (self.peer_id,),
                )
            )
            for name in sorted(self.models):
                model = self.models[name]
                table = model.table.name
                order = model.key_first
                names = ", ".join(map(quote_identifier, order))
                rows = self.conn.execute(f"SELECT {names} FROM {model.quoted}").fetchall()
                known = self.oplog.row_states(table, [row[0] for row in rows])
                seeded = self._seeded_rows(table)
                whole: list[tuple[Value, dict[str, Any]]] = []
                partial: list[tuple[Value, dict[str, Any]]] = []
                for row in rows:
                    state = known.get(row[0])
                    seed = seeded.get(row[0])
                    if state is not None and (state.deleted or state.pending is not None):
                        continue
                    if (
                        state is not None
                        and seed is None
                        and ((table.lower(), row[0]) in foreign or not self._own_only(state, model))
                    ):
                        continue  # known to sync otherwise: inserted here or by a peer
                    sent = state.clocks if state is not None else {}
                    if seed is None:  # the device's own row: all of it
                        columns = [c for c in order if c not in sent or c == model.key]
                    else:  # a migration's row: what this device changed, that no write
                        # carried (a peer's edit of a column puts its clock there too),
                        # not a column each build fills for itself (CURRENT_TIMESTAMP:
                        # review BAF F1)
                        columns = [
                            c
                            for c, mine, was in zip(order, row, seed, strict=True)
                            if mine != was and c not in sent and not _per_build(model, c)
                        ]
                    if not columns:
                        continue
                    values = dict(zip(order, row, strict=True))
                    try:
                        self._check_row_id(model, row[0])
                        self._checked(model, {c: values[c] for c in columns})
                    except SyncError as exc:
                        raise SyncError(f"{table} row {row[0]!r} cannot be adopted: {exc}") from exc
                    cols = self._carried({c: values[c] for c in columns})
                    (whole if seed is None and not sent else partial).append((row[0], cols))
                if whole:
                    keys = [key for key, _ in whole]
                    self._record_new_rows(table, tuple(order), keys, [c for _, c in whole])
                    _warn_if_keys_are_shared(table, keys)
                if partial:
                    self._record_local(
                        table, [self._change("set", table, key, cols) for key, cols in partial]
                    )
                if whole or partial:
                    adopted[table] = len(whole) + len(partial)
        return adopted

    def _own_only(self, state: RowState, model: TableModel) -> bool:
        """Whether sync knows a row (not deleted or pending: the caller looks) only by
        this replica's own updates: no insert anywhere (an insert stamps the key
        column), every clock this replica's (the caller also looks for a peer's
        change of it)."""
        if model.key in state.clocks:
            return False
        return bool(state.clocks) and all(
            Timestamp.parse(clock).peer == self.peer_id for clock in state.clocks.values()
        )

    def _seeded_rows(self, table: str) -> dict[Any, tuple[Any, ...]]:
        """The rows the migrations themselves insert into ``table`` by key (the key
        first, then the other columns), from a fresh build at this version, once per
        version."""
        version = self.schema_version
        if self._seeds_at != version:
            self._seeds = {}
            fresh = connect(":memory:", wal=False)
            try:
                migrate(fresh, self.migrations, target=version, check_foreign_keys=False)
                for model in self.models.values():
                    columns = ", ".join(map(quote_identifier, model.key_first))
                    try:
                        found = fresh.execute(f"SELECT {columns} FROM {model.quoted}").fetchall()
                    except sqlite3.Error:
                        continue  # a table the app made itself: no migration seeds it
                    self._seeds[model.table.name] = {row[0]: row for row in found}
            except NexusError:
                pass  # migrations that do not build here: nothing is taken as a seed
            finally:
                fresh.close()
            self._seeds_at = version
        return self._seeds.get(table, {})

    @staticmethod
    def _carried(values: Mapping[str, Any]) -> dict[str, Any]:
        """Stored values as a change carries them (blobs wire-encoded)."""
        return {c: encode_value(v) if type(v) is bytes else v for c, v in values.items()}

    def update(self, table: str, row_id: Value, values: Mapping[str, Value]) -> None:
        """Change columns of one row; one change, an op per column."""
        model = self._model(table)
        table = model.table.name
        self._check_row_id(model, row_id)
        if not values:
            return
        values = self._checked(model, values)
        if model.key in values:
            raise SyncError(f"{table}.{model.key} is the row id and cannot change")
        with self._writing(), self.transaction():
            self._update_row(model, row_id, values)

    def _update_row(self, model: TableModel, row_id: Value, values: dict[str, Value]) -> None:
        """Inside a write transaction: one change of checked ``values``."""
        table = model.table.name
        cursor = self.conn.execute(model.update_many_sql(tuple(values)), [*values.values(), row_id])
        if not cursor.rowcount:
            raise SyncError(f"no {table} row {row_id!r} to update")
        texts = [c for c, v in values.items() if c in model.numeric and type(v) is str]
        if texts:
            stored = self._read_back(model, [row_id], texts)[row_id]
            values = values | dict(zip(texts, stored, strict=True))
        cols = {c: encode_value(stored_value(model.columns[c], v)) for c, v in values.items()}
        self._record_local(table, [self._change("set", table, row_id, cols)])

    def delete(self, table: str, row_id: Value) -> None:
        """Delete a row; its tombstone travels as a delete op.

        The ``ON DELETE CASCADE`` and ``SET NULL`` actions of replicated tables'
        foreign keys are carried out here, as writes of their own (a delete or
        an update of each row they reach), so every peer gets them as ops:
        SQLite's own enforcement stays off, since sync may deliver a child
        before its parent.
        """
        model = self._model(table)
        self._check_row_id(model, row_id)
        with self._writing(), self.transaction():
            self._delete_row(model, row_id)

    def _delete_row(self, model: TableModel, row_id: Value) -> None:
        """Inside a write transaction: delete the row, then what its foreign keys'
        actions reach, breadth first (a chain of any length, cycles once)."""
        work: deque[tuple[TableModel, Value]] = deque([(model, row_id)])
        done: set[tuple[str, Value]] = set()
        keys_onto: dict[str, list[tuple[TableModel, ForeignKey]]] = {}  # by table, once
        while work:
            model, row_id = work.popleft()
            table = model.table.name
            if (table.lower(), row_id) in done:
                continue
            done.add((table.lower(), row_id))
            if table not in keys_onto:
                keys_onto[table] = self._referencing(table)
            referencing = keys_onto[table]
            held: dict[str, Value] = {"": row_id, model.key.lower(): row_id}
            names = sorted({(fk.other_column or "").lower() for _, fk in referencing} - set(held))
            if names:  # keys naming another (UNIQUE) column: its value before the delete
                names = [n for n in names if model.table.column(n)]
                found = self._read_back(model, [row_id], names).get(row_id, ())
                held.update(zip(names, found, strict=False))
            cursor = self.conn.execute(
                f"DELETE FROM {model.quoted} WHERE {model.quoted_key} = ?", (row_id,)
            )
            if not cursor.rowcount:
                kept = self.conn.execute(
                    f"SELECT 1 FROM {model.quoted} WHERE {model.quoted_key} = ?", (row_id,)
                ).fetchone()
                if kept:
                    raise SyncError(f"a trigger kept {table} row {row_id!r} (RAISE(IGNORE))")
                if len(done) > 1:  # a trigger of the cascade deleted it already
                    continue
                raise SyncError(f"no {table} row {row_id!r} to delete")
            change = self._change("delete", table, row_id, {})
            self.oplog.tombstone(table, row_id, change.hlc)
            self._record_local(table, [change])
            for child, fk in referencing:
                value = held.get((fk.other_column or "").lower())
                if value is None:
                    continue
                for child_id in self._children(child, fk.column, value):
                    if fk.on_delete == "CASCADE":
                        work.append((child, child_id))
                    elif (child.table.name.lower(), child_id) not in done:
                        column = find_column(child, fk.column) or fk.column
                        self._update_row(child, child_id, self._checked(child, {column: None}))

    def _children(self, child: TableModel, column: str, value: Value) -> list[Value]:
        """Row ids of ``child`` whose ``column`` holds ``value``, as the oplog names
        them: the row state's name where SQLite stored the key otherwise (``'0042'``
        in a NUMERIC key is 42, an integer in a REAL key a float)."""
        # ``+c.key``: compared as stored, no affinity, so the row-state index serves
        # (an integer key stored as a REAL still equals its integer name).
        found = self.conn.execute(
            f"SELECT c.{child.quoted_key}, s.row_id FROM {child.quoted} AS c"
            " LEFT JOIN _nexus_rows AS s ON s.table_name = ? AND s.row_id = +c."
            f"{child.quoted_key} AND s.deleted IS NULL"
            f" WHERE c.{quote_identifier(column)} = ? ORDER BY 1",
            (child.table.name, value),
        ).fetchall()
        named: list[Value] = []
        for stored, name in found:
            if name is None:  # stored otherwise ('0042' as 42): match under the key's affinity
                row = self.conn.execute(
                    f"SELECT s.row_id FROM _nexus_rows AS s JOIN {child.quoted} AS c"
                    f" ON c.{child.quoted_key} = s.row_id WHERE s.table_name = ?"
                    f" AND s.deleted IS NULL AND c.{child.quoted_key} = ? ORDER BY 1 LIMIT 1",
                    (child.table.name, stored),
                ).fetchone()
                name = row[0] if row else stored
            if type(name) is float and name.is_integer() and abs(name) < 2**63:
                name = int(name)  # (no row state: written outside the engine)
            if row_id_problem(name) is None:
                named.append(name)
        return named

    def _referencing(self, table: str) -> list[tuple[TableModel, ForeignKey]]:
        """Replicated tables' foreign keys onto ``table`` that act when a row of it
        goes (``ON DELETE CASCADE`` or ``SET NULL``), in table order."""
        lowered = table.lower()
        return [
            (child, fk)
            for _, child in sorted(self.models.items())
            for fk in child.table.foreign_keys
            if fk.other_table.lower() == lowered and fk.on_delete in ("CASCADE", "SET NULL")
        ]

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
        model = self._model(table, write=False)
        table = model.table.name
        try:
            cursor = self.conn.execute(f"SELECT * FROM {model.quoted} ORDER BY {model.quoted_key}")
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor]
        except sqlite3.Error as exc:  # a generated column failing on a value it reads
            raise SyncError(f"cannot read {table}: {exc}") from exc

    def ops(self, since: str | None = None) -> list[Op]:
        """The oplog, oldest first, optionally only ops after clock ``since``."""
        if since is not None:
            if not isinstance(since, str):
                raise SyncError(f"ops(since=...) takes a clock, not {type(since).__name__}")
            Timestamp.parse(since)  # a ClockError (a SyncError) names what is wrong
        return [op for change in self.oplog.changes_after(since) for op in change.ops()]

    def pending_rows(self) -> list[tuple[str, Value]]:
        """Rows held back until a required (NOT NULL, no default) column arrives."""
        return self.oplog.pending_rows()

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
            since = self.oplog.peer_vector(check_peer_id(peer))
        if since is not None and not (
            isinstance(since, Mapping)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in since.items())
        ):
            raise SyncError(
                "export_changes(since=...) takes a version vector ({origin: clock}),"
                f" such as replica.version_vector(), not {type(since).__name__}"
            )
        for origin, clock in (since or {}).items():
            check_peer_id(origin)
            Timestamp.parse(clock)  # a malformed clock would compare as any text does
        changes = self.oplog.changes_since(since)
        ops = [op for change in changes for op in change.wire_ops()]
        self.stats["sent"] += len(ops)
        return encode_wire_ops(self.peer_info, ops, self.version_vector())

    def receive(self, text: str | bytes) -> ReceiveResult:
        """Check and merge one message. A message that fails as a whole changes nothing."""
        message = decode_message(text)
        changes: Changes | None = message.changes
        vetoed: set[tuple[str, Value]] = set()
        while True:
            self.vetoed = frozenset(vetoed)
            try:
                with self._receiving("message could not be merged"):
                    replayed = self._catch_up()
                    result = self._receive(
                        message.peer, message.ops, message.version_vector, changes
                    )
                    result.replayed += replayed
                break
            except RolledBack as exc:
                # A trigger's RAISE(ROLLBACK) undid the whole message: try it again
                # with that row's ops refused and parked (found by the careful path,
                # which writes a row at a time, when the fast lane cannot say which).
                row = ("", None) if exc.row is None else (exc.row[0].lower(), exc.row[1])
                if row in vetoed or len(vetoed) >= MAX_VETOED:
                    raise
                vetoed.add(row)
                changes = None  # (consumed by the try: grouped again)
            finally:
                self.vetoed = frozenset()
        for key in ("applied", "skipped_unknown", "rejected", "duplicates", "replayed"):
            self.stats[key] += getattr(result, key)
        return result

    @contextmanager
    def _receiving(self, failure: str) -> Iterator[None]:
        """One write transaction for merging ops; any failure undoes all of it.

        An error from SQLite or the values leaves as a SyncError (``failure: ...``).
        """
        if self._depth:
            raise SyncError("receive() cannot run inside a local write transaction")
        self._begin()
        try:
            yield
            self.conn.execute("COMMIT")
        except BaseException as exc:
            # What _catch_up did is undone: look again next time.
            self._names_checked = self._replay_checked = False
            if self.conn.in_transaction:  # a trigger's RAISE(ROLLBACK) may have ended it
                self.conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error | ValueError | TypeError | OverflowError):
                raise SyncError(f"{failure}: {exc}") from exc
            raise

    def _receive(
        self,
        peer: PeerInfo,
        ops: Sequence[Op],
        vector: Mapping[str, str],
        changes: Changes | None = None,
    ) -> ReceiveResult:
        if peer.peer_id == self.peer_id:
            # This replica's own message sent back, or a copy of its file: refused whole.
            raise WireError(f"message claims to come from this replica ({self.peer_id})")
        self.oplog.record_peer(peer, vector, utc_now())
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
        return receive_ops(self, peer, ops, vector, changes)

    # -- upgrades ------------------------------------------------------------
    def upgrade(self, target_version: int | None = None) -> MigrationResult:
        """Apply pending migrations, then replay the parked ops that now fit."""
        if self._depth:
            raise SyncError("upgrade() cannot run inside a local write transaction")
        if target_version is not None and (type(target_version) is not int or target_version < 0):
            raise SyncError(f"upgrade() takes a version number, not {target_version!r:.40}")
        if target_version is not None and target_version < self.schema_version:
            raise SyncError(f"upgrade() only goes up: at v{self.schema_version}")
        try:
            result = migrate(
                self.conn, self.migrations, target=target_version, check_foreign_keys=False
            )
        except NexusError:
            # Each migration commits on its own: those before the failing one stay
            # applied, and this replica works at the version the file is now at.
            self._load_schema()
            self.replay_parked()  # (its transaction keeps the names first)
            raise
        self._load_schema()
        self.replay_parked()
        return result

    def replay_parked(self) -> int:
        """Merge parked ops whose table and column this schema now has."""
        with self._receiving("parked ops could not be replayed"):
            self._names_kept()
            replayed, refused = self._replay()
        self.stats["replayed"] += replayed
        self.stats["rejected"] += refused
        return replayed

    def close(self) -> None:
        """Close the file; any later use of this replica is a SyncError (closing again is not)."""
        if isinstance(self.conn, _Closed):
            return
        self.conn.close()
        self.conn = self.oplog.conn = _Closed()  # type: ignore[assignment]

    def __enter__(self) -> Replica:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Closed:
    """The connection of a closed replica: using it is a SyncError, not sqlite3's own."""

    def __getattr__(self, name: str) -> Any:
        raise SyncError("this replica is closed")


def _per_build(model: TableModel, column: str) -> bool:
    """Whether ``column``'s default differs from one build to another (a migration's
    rows hold their own install's value there, never the fresh build's)."""
    default = model.columns[column].default
    return default is not None and nondeterministic(default)


def _warn_if_keys_are_shared(table: str, keys: Sequence[Value]) -> None:
    """Adopted integer keys that look sequential (all below 2**31): another device
    adopting its own rows would hold others under the same keys (see adopt_rows)."""
    if keys and all(type(key) is int and 0 <= key < 2**31 for key in keys):
        log.warning(
            "adopted %d row(s) of %s with sequential-looking keys (up to %d): a device"
            " that adopts rows of its own under the same keys merges them with these;"
            " adopt on one device only",
            len(keys),
            table,
            max(keys),  # type: ignore[type-var]
        )


def _stored_peer_id(conn: sqlite3.Connection) -> str | None:
    """The peer id a file opened as a replica before holds (None: never opened so)."""
    if not conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_nexus_meta'"
    ).fetchone():
        return None
    row = conn.execute("SELECT value FROM _nexus_meta WHERE key = 'peer_id'").fetchone()
    return None if row is None else str(row[0])


def open_replica(
    path: str | Path,
    *,
    target_version: int | None = None,
    migrations: str | Path | Sequence[Migration] | None = None,
    peer_id: str | None = None,
    max_clock_drift_ms: int = DEFAULT_MAX_DRIFT_MS,
    upgrade: bool = True,
) -> Replica:
    """Open (or create) a replica, migrated up to ``target_version`` (default: latest).

    With ``upgrade=False`` the file must exist and stays at its version (what
    ``nexus sync`` does with two clients' files).
    """
    known = migration_list(migrations)
    if peer_id is not None:
        check_peer_id(peer_id)  # before the file is made or migrated
    conn = connect(path, create=upgrade, wal=upgrade)  # a file only synced keeps its mode
    try:
        stored = _stored_peer_id(conn)
        if peer_id is not None and stored is not None and stored != peer_id:
            raise SyncError(f"this database belongs to peer {stored}, not {peer_id}")
        current = get_current_version(conn)
        if target_version is not None and current > target_version:
            raise SyncError(f"{path} is at v{current}, above the requested v{target_version}")
        if upgrade:
            migrate(conn, known, target=target_version, check_foreign_keys=False)
        else:
            check_applied(conn, known)
            if current == 0 and known:
                raise SyncError(f"{path} is at v0: no migration of this app ever ran on it")
        return Replica(conn, known, peer_id=peer_id, max_clock_drift_ms=max_clock_drift_ms)
    except sqlite3.Error as exc:  # the file busy beyond the timeout, or damaged
        conn.close()
        raise SyncError(f"{path}: cannot open as a replica ({exc})") from exc
    except BaseException:
        conn.close()
        raise
