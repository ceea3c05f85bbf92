"""The engine's bookkeeping tables and every query on them.

The engine creates these tables itself when it opens a replica, so a
migrations directory only ever describes the app's tables. The oplog is stored
a *change* at a time: one local write of one row gets one clock, and its
column ops share it. On the wire every op still travels on its own.

- ``_nexus_changes``: every change this replica holds (but those in batches, below),
  applied or parked, with
  its columns' values as JSON; unique by (origin, clock), so "what does a peer
  lack" is a range scan per origin, never a history scan.
- ``_nexus_batches``: the changes of a batch of local inserts (``insert_many``,
  ``adopt_rows``), up to ``BATCH_ROWS`` to a row: their clocks, row ids and
  columns as three JSON arrays. One stored row instead of hundreds is most of
  what a batch insert's oplog costs. Only a replica's own writes are batched,
  so one origin's batches never overlap (its clock issues each batch after
  every clock it holds); readers of changes read both tables, and a batched
  change that has to change (columns arriving later, parked) is moved back
  out to ``_nexus_changes`` first.
- ``_nexus_rows``: per replicated row, the winning clock of each column, the
  tombstone (a delete is final) and, while the row cannot be inserted yet
  (a NOT NULL column has not arrived), the values gathered so far.
- ``_nexus_vector``: the latest clock held per origin (this replica's version vector).
- ``_nexus_parked``: ops naming a table or column this schema lacks, kept for
  replay (column ``''`` stands for the whole change), and ops whose value this
  schema refused (reason ``refused: ...``), kept and retried.
- ``_nexus_peers``: each peer's PeerInfo and the version vector it last told us.
- ``_nexus_meta``: this replica's peer id.
"""

from __future__ import annotations

import json
import sqlite3
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from heapq import merge
from itertools import repeat
from typing import Any

import msgspec

from nexus_core.wire import Op, PeerInfo, Value, decode_value, encode_value

VALUE_REFUSAL = "refused: "  # how the reason of an op parked for its value begins
# Literal SQL (not a parameter), so the planner can match it to the partial index.
_VALUE_REFUSED = f"reason GLOB '{VALUE_REFUSAL}*'"

BOOKKEEPING_DDL = (
    "CREATE TABLE IF NOT EXISTS _nexus_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS _nexus_changes (
        seq INTEGER PRIMARY KEY,
        origin TEXT NOT NULL,
        hlc TEXT NOT NULL,
        origin_version INTEGER NOT NULL,
        kind TEXT NOT NULL,
        table_name TEXT NOT NULL,
        row_id BLOB NOT NULL,
        cols TEXT NOT NULL,
        UNIQUE (origin, hlc)
    )""",
    """CREATE TABLE IF NOT EXISTS _nexus_batches (
        origin TEXT NOT NULL,
        first TEXT NOT NULL,
        last TEXT NOT NULL,
        origin_version INTEGER NOT NULL,
        table_name TEXT NOT NULL,
        hlcs TEXT NOT NULL,
        row_ids TEXT NOT NULL,
        cols TEXT NOT NULL,
        UNIQUE (origin, last)
    )""",
    """CREATE TABLE IF NOT EXISTS _nexus_rows (
        table_name TEXT NOT NULL,
        row_id BLOB NOT NULL,
        clocks TEXT NOT NULL,
        deleted TEXT,
        pending TEXT,
        PRIMARY KEY (table_name, row_id)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS _nexus_vector (
        origin TEXT PRIMARY KEY, hlc TEXT NOT NULL
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS _nexus_parked (
        origin TEXT NOT NULL, hlc TEXT NOT NULL, column_name TEXT NOT NULL,
        reason TEXT NOT NULL,
        PRIMARY KEY (origin, hlc, column_name)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS _nexus_peers (
        peer_id TEXT PRIMARY KEY,
        schema_version INTEGER NOT NULL,
        capabilities TEXT NOT NULL,
        version_vector TEXT NOT NULL,
        last_seen TEXT NOT NULL
    )""",
    # Tombstones by table: an insert of many rows looks for deleted ones only in a
    # table that has any. Deletes alone write to it.
    "CREATE INDEX IF NOT EXISTS _nexus_rows_deleted"
    " ON _nexus_rows (table_name) WHERE deleted IS NOT NULL",
    # Ops refused for their value are retried at the end of every receive: this
    # finds them without reading the ops parked as unknown (an old replica may
    # hold very many).
    "CREATE INDEX IF NOT EXISTS _nexus_parked_refused"
    f" ON _nexus_parked (origin, hlc, column_name, reason) WHERE {_VALUE_REFUSED}",
)
WHOLE_CHANGE = ""
_CHANGE_COLUMNS = "origin, hlc, origin_version, kind, table_name, row_id, cols"
CHUNK = 400  # ids bound in one IN (...) query
BATCH_ROWS = 256  # changes of a batch insert stored in one _nexus_batches row
BATCH_BYTES = 1 << 25  # a batch's columns as JSON, at most (32 MiB)
_BATCH_COLUMNS = "origin, origin_version, table_name, hlcs, row_ids, cols"
_BATCHED_KEYS = frozenset((int, str))  # row ids a batch holds (JSON keeps them as they are)
_PARKED_CHANGES = (
    "SELECT c.origin, c.hlc, c.origin_version, c.kind, c.table_name, c.row_id, c.cols,"
    " json_group_object(p.column_name, p.reason)"
)
# CROSS JOIN keeps _nexus_parked the outer loop: SQLite would otherwise scan
# every change held and look each one up in the (small) partial index.


def refused_parked_sql(tables: int | None = None) -> str:
    """The query for ops parked as refused (only on ``tables`` tables, bound as parameters)."""
    only = "" if tables is None else f" AND lower(c.table_name) IN ({', '.join('?' * tables)})"
    return (
        f"{_PARKED_CHANGES} FROM _nexus_parked p"
        " CROSS JOIN _nexus_changes c ON c.origin = p.origin AND c.hlc = p.hlc"
        f" WHERE p.{_VALUE_REFUSED}{only} GROUP BY p.origin, p.hlc ORDER BY c.hlc"
    )


REFUSED_PARKED_SQL = refused_parked_sql()


def ensure_bookkeeping(conn: sqlite3.Connection) -> None:
    """Create the engine's tables (idempotent)."""
    for statement in BOOKKEEPING_DDL:
        conn.execute(statement)


_ENCODER = msgspec.json.Encoder()


def dumps(value: Any) -> str:
    """Compact JSON of checked values (one encoder for every call: this runs per row)."""
    return _ENCODER.encode(value).decode()


def dumps_all(values: Iterable[Any]) -> Iterator[str]:
    """:func:`dumps` of each of ``values``, without a Python call per value."""
    return map(bytes.decode, map(_ENCODER.encode, values))


class SharedClocks:
    """Row-state clocks of a row written at once, in their compact form.

    Every column of such a row shares one clock, so it is stored once:
    ``["<clock>", "col", ...]`` instead of ``{"col": "<clock>", ...}`` (a
    third of the bytes; :func:`read_clocks` reads both forms). Built by
    joining a cached per-column-list template around the clock: a checked
    clock (hex digits, dashes and a peer id) has nothing to escape.
    """

    def __init__(self) -> None:
        self._templates: dict[tuple[str, ...], tuple[str, str]] = {}

    def json(self, columns: tuple[str, ...], hlc: str) -> str:
        before, after = self._template(columns)
        return before + hlc + after if columns else "{}"

    def all(self, columns: tuple[str, ...], hlcs: Sequence[str]) -> list[str]:
        """:meth:`json` of each clock of ``hlcs``, for rows that all set ``columns``."""
        if not columns:
            return ["{}"] * len(hlcs)
        before, after = self._template(columns)
        return [before + hlc + after for hlc in hlcs]

    def _template(self, columns: tuple[str, ...]) -> tuple[str, str]:
        template = self._templates.get(columns)
        if template is None:
            template = self._templates[columns] = (
                ('["', '",' + dumps(list(columns))[1:]) if columns else ("{}", "")
            )
        return template


def read_clocks(text: str) -> dict[str, str]:
    """A row state's clocks by column, from either stored form (see :class:`SharedClocks`)."""
    clocks = json.loads(text)
    if type(clocks) is list:
        return {column: clocks[0] for column in clocks[1:]}
    return clocks  # type: ignore[no-any-return]


def _respelled(values: Mapping[str, Any], spelled: Mapping[str, str]) -> dict[str, Any]:
    """``values`` by column, each column spelled as ``spelled`` has it (by lower case)."""
    return {spelled.get(column.lower(), column): value for column, value in values.items()}


def _respelled_clocks(clocks: Mapping[str, str], spelled: Mapping[str, str]) -> dict[str, str]:
    """Clocks by column, each column spelled as ``spelled`` has it; two spellings of
    one column keep the later clock."""
    found: dict[str, str] = {}
    for column, clock in clocks.items():
        name = spelled.get(column.lower(), column)
        found[name] = max(clock, found.get(name, clock))
    return found


def _moved_columns(was: Sequence[str], now: Sequence[str]) -> bool:
    """Whether a column of ``was`` is in ``now`` spelled otherwise (case only)."""
    spelled = {column.lower(): column for column in now}
    return any(spelled.get(column.lower(), column) != column for column in was)


def _expanded(clocks: str) -> str:
    """SQL for the clocks JSON ``clocks`` names, as an object whatever its form."""
    return (
        f"CASE WHEN json_type({clocks}) = 'array' THEN"
        f" (SELECT json_group_object(value, json_extract({clocks}, '$[0]'))"
        f" FROM json_each({clocks}) WHERE key > 0) ELSE {clocks} END"
    )


@dataclass
class Change:
    """One write of one row by one peer: its ops share ``hlc``.

    ``cols`` maps column names to wire-encoded values (a delete has none).
    """

    origin: str
    hlc: str
    origin_version: int
    kind: str
    table_name: str
    row_id: Value
    cols: dict[str, Any] = field(default_factory=dict)

    def ops(self, columns: Iterable[str] | None = None) -> list[Op]:
        """The change as ops (only ``columns`` of it, when given)."""
        if self.kind == "delete":
            return [self.op(None)]
        wanted = self.cols if columns is None else [c for c in columns if c in self.cols]
        return [self.op(column) for column in wanted]

    def op(self, column: str | None) -> Op:
        value = None if column is None else decode_value(self.cols[column], column)
        return Op(
            self.hlc,
            self.origin,
            self.origin_version,
            self.kind,
            self.table_name,
            self.row_id,
            column,
            value,
        )

    def wire_ops(self) -> list[dict[str, Any]]:
        """The change as wire op objects (values are stored wire-encoded already)."""
        base = {
            "hlc": self.hlc,
            "origin": self.origin,
            "schema_version": self.origin_version,
            "kind": self.kind,
            "table_name": self.table_name,
            "row_id": encode_value(self.row_id),
        }
        if self.kind == "delete":
            return [{**base, "column_name": None, "new_value": None}]
        return [{**base, "column_name": c, "new_value": v} for c, v in self.cols.items()]

    def row(self) -> tuple[Any, ...]:
        return (
            self.origin,
            self.hlc,
            self.origin_version,
            self.kind,
            self.table_name,
            self.row_id,
            dumps(self.cols),
        )


def _change(row: Sequence[Any]) -> Change:
    return Change(row[0], row[1], row[2], row[3], row[4], row[5], json.loads(row[6]))


def _batched(row: Sequence[Any], after: str = "") -> list[Change]:
    """The changes of a ``_nexus_batches`` row (:data:`_BATCH_COLUMNS`) newer than ``after``."""
    origin, version, table, *arrays = row
    hlcs, row_ids, cols = map(msgspec.json.decode, arrays)
    start = bisect_right(hlcs, after) if after else 0
    return [
        Change(origin, hlc, version, "set", table, row_id, values)
        for hlc, row_id, values in zip(hlcs[start:], row_ids[start:], cols[start:], strict=True)
    ]


def batchable(row_ids: Sequence[Value]) -> bool:
    """Whether changes naming ``row_ids`` can be stored as a batch (two or more, keys
    that JSON keeps as they are: integers and text)."""
    return len(row_ids) > 1 and set(map(type, row_ids)) <= _BATCHED_KEYS


@dataclass
class RowState:
    """What the engine knows of one replicated row."""

    clocks: dict[str, str] = field(default_factory=dict)
    deleted: str | None = None
    pending: dict[str, Any] | None = None
    known: bool = False


class OpLog:
    """Queries on the bookkeeping tables of one replica connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.shared_clocks = SharedClocks()
        # The batch last read, by (rowid, origin, first, last): a message sending a
        # replica its own inserts back looks its changes up one by one (review BAR R2).
        self._batch: tuple[tuple[Any, ...], list[Change], list[str]] | None = None

    # -- meta ---------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM _nexus_meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute(
            "INSERT INTO _nexus_meta (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # -- changes -------------------------------------------------------------
    def add_changes(self, changes: Iterable[Change]) -> None:
        self.add_change_rows(change.row() for change in changes)

    def add_change_rows(self, rows: Iterable[tuple[Any, ...]]) -> None:
        """Store changes given as :meth:`Change.row` tuples."""
        self.conn.executemany(
            f"INSERT INTO _nexus_changes ({_CHANGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)", rows
        )

    def add_inserts(
        self,
        origin: str,
        origin_version: int,
        table: str,
        hlcs: Sequence[str],
        row_ids: Sequence[Value],
        cols: Sequence[Mapping[str, Any]],
    ) -> None:
        """Store local inserts, one change per row setting ``cols`` (``hlcs`` ascending
        and after every clock held from ``origin``): ``BATCH_ROWS`` changes to a stored
        row where the row ids are :func:`batchable`. Changes whose columns would make a
        stored row longer than ``BATCH_BYTES``, or half the connection's length limit,
        are stored one a row (reviews BAN F2, BAO R2: SQLite refuses a longer value;
        an app may lower the limit)."""

        def one_a_row(part: slice) -> None:
            self.add_change_rows(
                zip(
                    repeat(origin),
                    hlcs[part],
                    repeat(origin_version),
                    repeat("set"),
                    repeat(table),
                    row_ids[part],
                    dumps_all(cols[part]),
                    strict=False,
                )
            )

        if not batchable(row_ids):
            one_a_row(slice(None))
            return
        most = min(BATCH_BYTES, self.conn.getlimit(sqlite3.SQLITE_LIMIT_LENGTH) // 2)
        batches = []
        for start in range(0, len(hlcs), BATCH_ROWS):
            end = min(start + BATCH_ROWS, len(hlcs))
            values = _ENCODER.encode(cols[start:end])
            if len(values) > most:
                one_a_row(slice(start, end))
                continue
            batches.append(
                (
                    hlcs[start],
                    hlcs[end - 1],
                    origin,
                    origin_version,
                    table,
                    dumps(hlcs[start:end]),
                    dumps(row_ids[start:end]),
                    values.decode(),
                )
            )
        self.conn.executemany(
            f"INSERT INTO _nexus_batches (first, last, {_BATCH_COLUMNS})"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            batches,
        )

    def _batched_at(self, origin: str, hlc: str) -> tuple[int, list[Change], int] | None:
        """The batch holding change (origin, hlc), if one does: its rowid, its changes
        and where the change is among them."""
        row = self.conn.execute(
            "SELECT rowid, first, last FROM _nexus_batches"
            " WHERE origin = ? AND last >= ? ORDER BY last LIMIT 1",
            (origin, hlc),
        ).fetchone()
        if row is None or row[1] > hlc:  # (an origin's batches never overlap)
            return None
        key = (*row, origin)
        if self._batch is None or self._batch[0] != key:
            data = self.conn.execute(
                f"SELECT {_BATCH_COLUMNS} FROM _nexus_batches WHERE rowid = ?", (row[0],)
            ).fetchone()
            changes = _batched(data)
            self._batch = (key, changes, [change.hlc for change in changes])
        _, changes, hlcs = self._batch
        at = bisect_left(hlcs, hlc)
        return (int(row[0]), changes, at) if at < len(hlcs) and hlcs[at] == hlc else None

    def _batched_change(self, origin: str, hlc: str) -> Change | None:
        found = self._batched_at(origin, hlc)
        if found is None:
            return None
        change = found[1][found[2]]
        return replace(change, cols=dict(change.cols))  # (the cached batch stays as read)

    def _unbatch(self, origin: str, hlc: str) -> None:
        """Move the batch holding change (origin, hlc), if one does, to ``_nexus_changes``,
        where a change can be extended and parked ops find it."""
        found = self._batched_at(origin, hlc)
        if found is not None:
            self.add_changes(found[1])
            self.conn.execute("DELETE FROM _nexus_batches WHERE rowid = ?", (found[0],))
            self._batch = None

    def extend_change(self, origin: str, hlc: str, cols: Mapping[str, Any]) -> None:
        """Add columns that arrived later to a change already held.

        Merged here, not by ``json_patch``: to it a null means "remove the key",
        and a column set to NULL must stay in the change (it is forwarded).
        """
        held = "SELECT cols FROM _nexus_changes WHERE origin = ? AND hlc = ?"
        row = self.conn.execute(held, (origin, hlc)).fetchone()
        if row is None:
            self._unbatch(origin, hlc)  # (a replica's own change sent back with more)
            row = self.conn.execute(held, (origin, hlc)).fetchone()
        if row is None:
            return
        merged = json.loads(row[0]) | dict(cols)
        self.conn.execute(
            "UPDATE _nexus_changes SET cols = ? WHERE origin = ? AND hlc = ?",
            (dumps(merged), origin, hlc),
        )

    def change(self, origin: str, hlc: str) -> Change | None:
        row = self.conn.execute(
            f"SELECT {_CHANGE_COLUMNS} FROM _nexus_changes WHERE origin = ? AND hlc = ?",
            (origin, hlc),
        ).fetchone()
        return self._batched_change(origin, hlc) if row is None else _change(row)

    def changes_since(self, since: Mapping[str, str] | None) -> list[Change]:
        """Every change newer than ``since`` per origin (all of an origin it lacks)."""
        found: list[Change] = []
        for origin, latest in self.version_vector().items():
            floor = (since or {}).get(origin, "")
            if floor >= latest:
                continue
            rows = self.conn.execute(
                f"SELECT {_CHANGE_COLUMNS} FROM _nexus_changes WHERE origin = ? AND hlc > ?"
                " ORDER BY hlc",
                (origin, floor),
            )
            found.extend(_change(row) for row in rows)
            for row in self.conn.execute(
                f"SELECT {_BATCH_COLUMNS} FROM _nexus_batches WHERE origin = ? AND last > ?",
                (origin, floor),
            ):
                found += _batched(row, floor)
        found.sort(key=lambda change: change.hlc)
        return found

    def changes_after(self, since_clock: str | None = None) -> Iterator[Change]:
        """Every change with a clock after ``since_clock``, oldest first."""
        after = since_clock or ""
        rows = self.conn.execute(
            f"SELECT {_CHANGE_COLUMNS} FROM _nexus_changes WHERE hlc > ? ORDER BY hlc", (after,)
        )
        batched = [
            change
            for row in self.conn.execute(
                f"SELECT {_BATCH_COLUMNS} FROM _nexus_batches WHERE last > ?", (after,)
            )
            for change in _batched(row, after)
        ]
        changes = (_change(row) for row in rows)
        if not batched:
            return changes
        batched.sort(key=lambda change: change.hlc)
        return merge(changes, batched, key=lambda change: change.hlc)

    def latest_clock(self) -> str | None:
        row = self.conn.execute("SELECT MAX(hlc) FROM _nexus_vector").fetchone()
        return None if row is None or row[0] is None else str(row[0])

    def count(self) -> int:
        """How many ops the oplog holds (a change counts one op per column)."""
        row = self.conn.execute(
            "SELECT COALESCE(SUM(CASE kind WHEN 'delete' THEN 1"
            " ELSE (SELECT COUNT(*) FROM json_each(cols)) END), 0) FROM _nexus_changes"
        ).fetchone()
        batched = self.conn.execute(
            "SELECT COALESCE(SUM((SELECT COUNT(*)"
            " FROM json_each(b.cols) AS e, json_each(e.value))), 0) FROM _nexus_batches AS b"
        ).fetchone()
        return int(row[0]) + int(batched[0])

    # -- version vector ------------------------------------------------------
    def version_vector(self) -> dict[str, str]:
        return dict(self.conn.execute("SELECT origin, hlc FROM _nexus_vector ORDER BY origin"))

    def advance_vector(self, latest: Mapping[str, str]) -> None:
        self.conn.executemany(
            "INSERT INTO _nexus_vector (origin, hlc) VALUES (?, ?)"
            " ON CONFLICT (origin) DO UPDATE SET hlc = MAX(hlc, excluded.hlc)",
            latest.items(),
        )

    # -- row states ------------------------------------------------------------
    def _state_rows(
        self, columns: str, table: str, row_ids: Sequence[Value]
    ) -> Iterator[tuple[Any, ...]]:
        """``columns`` of the row states of ``row_ids`` in ``table``, a chunk at a time."""
        unique = list(dict.fromkeys(row_ids))
        for start in range(0, len(unique), CHUNK):
            chunk = unique[start : start + CHUNK]
            yield from self.conn.execute(
                f"SELECT {columns} FROM _nexus_rows"
                f" WHERE table_name = ? AND row_id IN ({','.join('?' * len(chunk))})",
                (table, *chunk),
            )

    def row_states(self, table: str, row_ids: Sequence[Value]) -> dict[Any, RowState]:
        """The states of many rows of one table, by row id (missing ones left out)."""
        return {
            row_id: RowState(
                read_clocks(clocks), deleted, None if pending is None else json.loads(pending), True
            )
            for row_id, clocks, deleted, pending in self._state_rows(
                "row_id, clocks, deleted, pending", table, row_ids
            )
        }

    def respell(
        self,
        names: Mapping[str, Sequence[str]],
        recorded: Mapping[str, Sequence[str]] | None,
    ) -> None:
        """Keep row states under ``names`` ({table: columns}) as the schema spells them.

        Row states are keyed by the names as this replica's schema spells them;
        a migration may change only their case (``Cards`` -> ``cards``, through a
        temporary name), which SQLite and sync see as the same table or column.
        ``recorded`` is what they were last put under: only tables whose spelling,
        or a column's, moved since are read. Without it (a file from an older
        engine) every table the row states name is. A row with states under two
        spellings (one written before the other was moved) gets one: each
        column's later clock, the earlier tombstone, pending values only while
        neither side has the row in the table.
        """
        tables = {name.lower(): name for name in names}
        if recorded is None:
            stored = [
                str(t) for (t,) in self.conn.execute("SELECT DISTINCT table_name FROM _nexus_rows")
            ]
        else:
            stored = [
                old
                for old, columns in recorded.items()
                if (new := tables.get(old.lower())) is not None
                and (old != new or _moved_columns(columns, names[new]))
            ]
        for old in stored:
            new = tables.get(old.lower())
            if new is not None:
                self._respell_table(old, new, {c.lower(): c for c in names[new]})

    def _respell_table(self, stored: str, new: str, spelled: Mapping[str, str]) -> None:
        """:meth:`respell` for the row states kept under ``stored``, now ``new``."""
        changed = []
        for row_id, text, deleted, pending in self.conn.execute(
            "SELECT row_id, clocks, deleted, pending FROM _nexus_rows WHERE table_name = ?",
            (stored,),
        ).fetchall():
            clocks = read_clocks(text)
            respelled = _respelled_clocks(clocks, spelled)
            if stored != new or respelled.keys() != clocks.keys() or pending is not None:
                kept = None if pending is None else _respelled(json.loads(pending), spelled)
                changed.append((row_id, RowState(respelled, deleted, kept, True)))
        if not changed:
            return
        held = self.row_states(new, [row_id for row_id, _ in changed]) if stored != new else {}
        if stored != new:
            self.conn.execute("DELETE FROM _nexus_rows WHERE table_name = ?", (stored,))
        merged = []
        for row_id, state in changed:
            other = held.get(row_id)
            if other is not None:  # written under the new spelling meanwhile
                clocks = _respelled_clocks(other.clocks, spelled)
                for column, clock in state.clocks.items():
                    clocks[column] = max(clock, clocks.get(column, clock))
                deleted = min((d for d in (state.deleted, other.deleted) if d), default=None)
                kept = (
                    {**state.pending, **_respelled(other.pending, spelled)}
                    if state.pending is not None and other.pending is not None and not deleted
                    else None
                )
                state = RowState(clocks, deleted, kept, True)
            merged.append((new, row_id, state))
        self.save_row_states(merged)

    def row_state(self, table: str, row_id: Value) -> RowState:
        return self.row_states(table, [row_id]).get(row_id, RowState())

    def save_row_states(self, rows: Iterable[tuple[str, Value, RowState]]) -> None:
        self.conn.executemany(
            "INSERT OR REPLACE INTO _nexus_rows (table_name, row_id, clocks, deleted, pending)"
            " VALUES (?, ?, ?, ?, ?)",
            (
                (
                    table,
                    row_id,
                    dumps(state.clocks),
                    state.deleted,
                    None if state.pending is None else dumps(state.pending),
                )
                for table, row_id, state in rows
            ),
        )

    def add_row_states(self, table: str, rows: Iterable[tuple[Value, str]]) -> None:
        """Store the first state of rows that have none: a row that has one is an error."""
        self.conn.executemany(
            "INSERT INTO _nexus_rows (table_name, row_id, clocks) VALUES (?, ?, ?)",
            ((table, row_id, clocks) for row_id, clocks in rows),
        )

    def stamp_rows(self, table: str, rows: Iterable[tuple[Value, str]]) -> None:
        """Record local writes (clocks as JSON): the newest clocks, so they simply overwrite."""
        self.conn.executemany(
            "INSERT INTO _nexus_rows (table_name, row_id, clocks) VALUES (?, ?, ?)"
            " ON CONFLICT DO UPDATE SET"
            f" clocks = json_patch({_expanded('clocks')}, {_expanded('excluded.clocks')}),"
            " pending = NULL",
            map((table,).__add__, rows),
        )

    def tombstone(self, table: str, row_id: Value, hlc: str) -> None:
        self.conn.execute(
            "INSERT INTO _nexus_rows (table_name, row_id, clocks, deleted) VALUES (?, ?, '{}', ?)"
            " ON CONFLICT DO UPDATE SET deleted = COALESCE(deleted, excluded.deleted),"
            " pending = NULL",
            (table, row_id, hlc),
        )

    def tombstoned(self, table: str, row_id: Value) -> bool:
        return self.row_state(table, row_id).deleted is not None

    def has_tombstones(self, table: str) -> bool:
        """Whether any row of ``table`` (as row states name it) was deleted."""
        return (
            self.conn.execute(
                "SELECT 1 FROM _nexus_rows INDEXED BY _nexus_rows_deleted"
                " WHERE table_name = ? AND deleted IS NOT NULL LIMIT 1",
                (table,),
            ).fetchone()
            is not None
        )

    def deleted_among(self, table: str, row_ids: Sequence[Value]) -> list[Value]:
        states = self.row_states(table, row_ids)
        return [r for r in row_ids if r in states and states[r].deleted is not None]

    def pending_rows(self) -> list[tuple[str, Value]]:
        """Rows whose required columns have not all arrived, so are not inserted yet."""
        return [
            (str(t), r)
            for t, r in self.conn.execute(
                "SELECT table_name, row_id FROM _nexus_rows WHERE pending IS NOT NULL"
            )
        ]

    def pending_values(self, table: str, row_id: Value) -> dict[str, Value]:
        pending = self.row_state(table, row_id).pending or {}
        return {column: decode_value(raw, column) for column, raw in pending.items()}

    # -- parked ops ----------------------------------------------------------
    def park(self, entries: Iterable[tuple[str, str, str, str]]) -> None:
        """Park (origin, hlc, column or WHOLE_CHANGE, reason) entries (the latest reason wins)."""
        entries = list(entries)
        origins = {entry[0] for entry in entries}
        batched = {
            origin
            for origin in origins
            if self.conn.execute(
                "SELECT 1 FROM _nexus_batches WHERE origin = ? LIMIT 1", (origin,)
            ).fetchone()
        }
        for origin, hlc in {entry[:2] for entry in entries if entry[0] in batched}:
            self._unbatch(origin, hlc)  # (a replica's own change sent back to it)
        self.conn.executemany(
            "INSERT OR REPLACE INTO _nexus_parked (origin, hlc, column_name, reason)"
            " VALUES (?, ?, ?, ?)",
            entries,
        )

    def unpark(self, entries: Iterable[tuple[str, str, str]]) -> None:
        self.conn.executemany(
            "DELETE FROM _nexus_parked WHERE origin = ? AND hlc = ? AND column_name = ?",
            entries,
        )

    def parked(self) -> list[tuple[Change, dict[str, str]]]:
        """Changes with parked ops, oldest first, with {parked column: reason}.

        The column ``WHOLE_CHANGE`` stands for every op of the change.
        """
        rows = self.conn.execute(
            f"{_PARKED_CHANGES}"
            " FROM _nexus_parked p JOIN _nexus_changes c ON c.origin = p.origin AND c.hlc = p.hlc"
            " GROUP BY c.seq ORDER BY c.hlc"
        )
        return [(_change(row), json.loads(row[7])) for row in rows]

    def refused_parked(
        self, tables: Iterable[str] | None = None
    ) -> list[tuple[Change, dict[str, str]]]:
        """Like :meth:`parked`, only the ops parked because their value was refused
        (only those on ``tables``, compared case-blind, when given).

        Reads the partial index ``_nexus_parked_refused``: its cost grows with
        the refused ops alone, never with the ops parked as unknown.
        """
        if tables is None:
            rows = self.conn.execute(REFUSED_PARKED_SQL)
        else:
            names = sorted({name.lower() for name in tables})
            if not names:
                return []
            rows = self.conn.execute(refused_parked_sql(len(names)), names)
        return [(_change(row), json.loads(row[7])) for row in rows]

    def parked_ops(self) -> list[Op]:
        """Every parked op (unknown to this schema, or refused and kept for later)."""
        found = []
        for change, columns in self.parked():
            found += change.ops(None if WHOLE_CHANGE in columns else columns)
        return found

    def has_parked(self) -> bool:
        return self.conn.execute("SELECT 1 FROM _nexus_parked LIMIT 1").fetchone() is not None

    def parked_count(self) -> int:
        return len(self.parked_ops())

    # -- peers ---------------------------------------------------------------
    def record_peer(self, peer: PeerInfo, vector: Mapping[str, str], seen_at: str) -> None:
        self.conn.execute(
            "INSERT INTO _nexus_peers"
            " (peer_id, schema_version, capabilities, version_vector, last_seen)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (peer_id) DO UPDATE SET"
            " schema_version = excluded.schema_version, capabilities = excluded.capabilities,"
            " version_vector = excluded.version_vector, last_seen = excluded.last_seen",
            (
                peer.peer_id,
                peer.schema_version,
                dumps(list(peer.capabilities)),
                json.dumps(dict(vector), sort_keys=True),
                seen_at,
            ),
        )

    def peer_vector(self, peer_id: str) -> dict[str, str] | None:
        row = self.conn.execute(
            "SELECT version_vector FROM _nexus_peers WHERE peer_id = ?", (peer_id,)
        ).fetchone()
        return None if row is None else dict(json.loads(row[0]))


def encode_cols(values: Mapping[str, Value]) -> dict[str, Any]:
    return {column: encode_value(value) for column, value in values.items()}
