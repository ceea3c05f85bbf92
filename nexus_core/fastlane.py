"""The fast lane of ``receive``: rows this replica has never seen, inserted in bulk.

Most of a large message (a first sync, a peer catching up) is rows the
receiver does not hold yet, each written once. For such a row the merge rule
has nothing to decide: every column's op wins, and the row is inserted whole.
The fast lane does exactly what the careful path (:mod:`nexus_core.receive`,
:class:`nexus_core.merge.Merger`) would do for it, with one ``executemany``
per column shape instead of a few statements per row.

A table's changes take the fast lane only when every one of them, in the
message, qualifies; otherwise all of them stay for the careful path untouched.
A change qualifies when:

- it is new here (later than what this replica holds from its origin), sets
  columns of a replicated table spelled exactly as here, one op per column,
  and brings every column the row needs;
- every value fits its column (the same check the careful path makes);
- no other change in the message touches the same row, and this replica has
  no state for that row (never written, deleted or pending);
- no clock in the message is too far ahead.

Ops come from ``decode_message``: clocks well formed and their origin's,
integers in range, numbers finite.

A table's rows go in together, in message order, inside a savepoint: when
SQLite refuses one (a CHECK, a UNIQUE, a row written outside the engine), all
of them are rolled back and go to the careful path, which finds the op at
fault; so does every table after it, so that tables are still merged in
order. A trigger's ``RAISE(ROLLBACK)`` fails the whole message. Rows that
all go in never compete for a UNIQUE value, so inserting them in bulk cannot
change which of them wins one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from itertools import chain, groupby, repeat
from operator import attrgetter, itemgetter
from typing import TYPE_CHECKING, Any

from nexus_core.hlc import Timestamp
from nexus_core.merge import (
    TableModel,
    Verdict,
    classify_target,
    ended_by_trigger,
    find_model,
)
from nexus_core.oplog import dumps_all
from nexus_core.wire import Op, Value, encode_value, quote_identifier

if TYPE_CHECKING:
    from nexus_core.replica import Replica


_COLUMN = attrgetter("column_name")
_VALUE = attrgetter("new_value")
_WRITE = attrgetter("kind", "table_name", "row_id", "schema_version")


@dataclass(frozen=True, eq=False)
class _Shape:
    """What one list of column names means for a table, worked out once per message."""

    columns: tuple[str, ...]
    kinds: tuple[frozenset[type], ...]  # per column, the types it holds (merge.held_types)
    key_at: int | None  # where the key's own op is, if the change carries one
    inserted: tuple[str, ...]  # every column but the key: clocked in the row state
    blobs: bool  # whether any of its columns may hold bytes (stored base64-encoded)
    fitting: set[tuple[type, ...]] = field(default_factory=set)  # value types seen to fit


def _shape(replica: Replica, model: TableModel, columns: tuple[str | None, ...]) -> _Shape | None:
    """The shape of a change setting ``columns``, or None when it cannot take the fast lane."""
    names = [c for c in columns if c is not None and c in model.columns]
    if len(names) != len(columns) or len(set(names)) != len(names):
        return None  # a column this table lacks (or a delete), or a column set twice
    for name in names:  # the careful path's checks on names: plain, not internal
        verdict, _ = classify_target(model.table.name, name, "set", replica.schema, replica.models)
        if verdict is not Verdict.APPLY:
            return None
    if not model.required <= {*names, model.key}:
        return None  # the row would be pending
    kinds = tuple(model.held_types[name] for name in names)
    return _Shape(
        tuple(names),
        kinds,
        names.index(model.key) if model.key in names else None,
        tuple(name for name in names if name != model.key),
        any(bytes in kind for kind in kinds),
    )


_Row = tuple[str, str, list[Op], _Shape, list[Value]]  # origin, clock, ops, shape, values


@dataclass
class Taken:
    """What the fast lane stored: changes, ops, and the latest clock per origin."""

    changes: int = 0
    ops: int = 0
    latest: dict[str, str] = field(default_factory=dict)


@dataclass
class _Table:
    """The new rows of one table, in message order, with the columns each sets."""

    replica: Replica
    model: TableModel
    position: int  # where the table's first change is in the message
    rows: list[_Row] = field(default_factory=list)
    shapes: dict[tuple[str | None, ...], _Shape | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.key_types = self.model.held_types[self.model.key]

    def shape(self, ops: list[Op]) -> tuple[_Shape, list[Value]] | None:
        """The change's shape and insert values if it can take the fast lane.

        ``ops`` are decoded ops: their integers are in range and their numbers
        finite, so a value's type decides whether its column holds it (see
        ``merge.held_types``). Per change, the work is done by ``map`` over the
        ops, and value types are checked once per combination of types. The
        values are the ops' in order, then the row id when no op sets the key.
        """
        columns = tuple(map(_COLUMN, ops))
        try:
            shape = self.shapes[columns]
        except KeyError:
            shape = self.shapes[columns] = _shape(self.replica, self.model, columns)
        if shape is None or len(set(map(_WRITE, ops))) != 1:
            return None  # the ops must be one write: one kind, table, row and version
        first = ops[0]
        row_id = first.row_id
        if first.kind != "set" or type(row_id) not in self.key_types:
            return None
        values = list(map(_VALUE, ops))
        types = tuple(map(type, values))
        if types not in shape.fitting:
            if not all(kind in kinds for kind, kinds in zip(types, shape.kinds, strict=True)):
                return None
            shape.fitting.add(types)
        if shape.key_at is None:
            values.append(row_id)
        elif type(values[shape.key_at]) is not type(row_id) or values[shape.key_at] != row_id:
            # A key op must carry its own row id, spelled the same way: the
            # careful path inserts the row id (a key op of 1.0 for row 1 passes
            # its check, as 1.0 == 1), so a key op of another type takes it.
            return None
        return shape, values

    def runs(self) -> Iterator[tuple[_Shape, list[_Row]]]:
        """Consecutive rows that set the same columns (one INSERT statement each)."""
        for shape, run in groupby(self.rows, key=_ROW_SHAPE):
            yield shape, list(run)

    def insert_sql(self, shape: _Shape) -> str:
        """An INSERT for which a row already in the table is an error, not a no-op.

        Written ``OR ABORT`` where the table has conflict clauses of its own
        (``PRIMARY KEY ON CONFLICT REPLACE``, see ``TableModel``): any conflict
        sends the table to the careful path.
        """
        columns = shape.columns if shape.key_at is not None else (*shape.columns, self.model.key)
        names = ", ".join(map(quote_identifier, columns))
        marks = ", ".join("?" * len(columns))
        return f"INSERT{self.model.abort} INTO {self.model.quoted} ({names}) VALUES ({marks})"


_ROW_SHAPE = itemgetter(3)
_ORIGIN, _HLC, _OPS, _VALUES = itemgetter(0), itemgetter(1), itemgetter(2), itemgetter(4)
_FIRST = itemgetter(0)
_ROW_ID, _VERSION, _TABLE = (
    attrgetter("row_id"),
    attrgetter("schema_version"),
    attrgetter("table_name"),
)


def no_clock_ahead(replica: Replica, changes: Mapping[tuple[str, str], object]) -> bool:
    """Whether no clock of ``changes`` (keyed by origin and clock) is too far ahead.

    Clocks sort as text, wall time first: when the latest is fine, all are.
    """
    latest = max((hlc for _, hlc in changes), default=None)
    return latest is None or not replica.clock.check(Timestamp.parse(latest))


def take_new_rows(
    replica: Replica,
    changes: dict[tuple[str, str], list[Op]],
    held: Mapping[str, str],
    *,
    none_ahead: bool | None = None,
) -> Taken:
    """Insert and store the changes that create new rows; they leave ``changes``.

    Each taken change is stored as the careful path would store it: the app
    row, its row state and the change itself (the receiver still advances
    its version vector, with ``Taken.latest``).

    A table takes the fast lane whole or not at all: its rows go in together,
    in message order, or every change of it stays for the careful path. Which
    of two rows colliding on a UNIQUE gets its value depends on the order
    they are merged in, so the fast lane never reorders anything: the careful
    path merges table after table, in the order they first appear, after the
    fast lane, so only tables that appear before every careful one take it
    (a trigger could make the order of tables matter too).

    ``none_ahead``: whether :func:`no_clock_ahead` holds, if the caller knows.
    """
    taken = Taken()
    if not (no_clock_ahead(replica, changes) if none_ahead is None else none_ahead):
        return taken  # the careful path refuses just the clocks too far ahead
    tables: dict[str, _Table] = {}
    spoiled: dict[str, int] = {}  # tables left to the careful path, by first position
    rows: set[tuple[str, Value]] = set()
    for position, ((origin, hlc), ops) in enumerate(changes.items()):
        first = ops[0]
        name = first.table_name.lower()
        row = (name, first.row_id)
        if name in spoiled:
            continue
        model = replica.models.get(first.table_name)  # spelled as here, or careful
        table = tables.get(name)
        if table is None and model is not None:
            table = tables[name] = _Table(replica, model, position)
        found = None
        if model is not None and row not in rows and hlc > held.get(origin, ""):
            found = table.shape(ops) if table is not None else None
        rows.add(row)
        if table is None or found is None:
            if table is not None:
                spoiled[name] = table.position
            elif find_model(replica.models, first.table_name) is not None:
                spoiled[name] = position
            else:  # a table this schema lacks: parked, it writes nothing here
                spoiled[name] = len(changes)
            tables.pop(name, None)
            continue
        table.rows.append((origin, hlc, ops, *found))
    first_careful = min(spoiled.values(), default=len(changes))
    for table in tables.values():
        if table.position >= first_careful:
            continue
        if not _store_table(replica, table):
            break  # this table and every later one go to the careful path, in order
        latest = taken.latest
        for origin, hlc, ops, _, _ in table.rows:
            del changes[(origin, hlc)]
            taken.ops += len(ops)
            if hlc > latest.get(origin, ""):
                latest[origin] = hlc
        taken.changes += len(table.rows)
    return taken


def _store_table(replica: Replica, table: _Table) -> bool:
    """Store every row of ``table`` (row state, app row, change), or none of them (False).

    The row states go in first, as plain inserts: a row this replica already
    has a state for (written, deleted or pending) makes that insert fail, and
    the whole table goes to the careful path, without a lookup beforehand.
    """
    name = table.model.table.name
    firsts = list(map(_FIRST, map(_OPS, table.rows)))
    row_ids = list(map(_ROW_ID, firsts))
    runs = list(table.runs())
    clocks = replica.oplog.shared_clocks.json
    conn = replica.conn
    conn.execute("SAVEPOINT nexus_fast_lane")
    try:
        # The careful path's row state: every column but the key at the change's clock.
        replica.oplog.add_row_states(
            name,
            zip(
                row_ids,
                [clocks(shape.inserted, hlc) for _, hlc, _, shape, _ in table.rows],
                strict=True,
            ),
        )
        # A run that inserted fewer rows than it has: a trigger's RAISE(IGNORE) skipped one.
        failed = any(
            conn.executemany(table.insert_sql(shape), list(map(_VALUES, run))).rowcount != len(run)
            for shape, run in runs
        )
        if not failed:
            replica.oplog.add_change_rows(
                zip(
                    map(_ORIGIN, table.rows),
                    map(_HLC, table.rows),
                    map(_VERSION, firsts),
                    repeat("set"),
                    map(_TABLE, firsts),
                    row_ids,
                    chain.from_iterable(_cols(shape, run) for shape, run in runs),
                )
            )
    except sqlite3.Error as exc:
        ended_by_trigger(conn, exc)
        failed = True
    if failed:
        conn.execute("ROLLBACK TO nexus_fast_lane")
    conn.execute("RELEASE nexus_fast_lane")
    return not failed


def _cols(shape: _Shape, run: list[_Row]) -> Iterator[str]:
    """The stored columns of a run's changes: the ops' values by column, wire-encoded."""
    # zip stops at the columns: not the row id appended to the values.
    cols: Iterator[dict[str, Any]] = map(dict, map(zip, repeat(shape.columns), map(_VALUES, run)))
    if shape.blobs:
        cols = ({c: encode_value(v) for c, v in change.items()} for change in cols)
    return dumps_all(cols)
