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
- its clock is well formed, and no clock in the message is too far ahead.

A table's rows go in together, in message order, inside a savepoint: when
SQLite refuses one (a CHECK, a UNIQUE, a row written outside the engine), all
of them are rolled back and go to the careful path, which finds the op at
fault. Rows that all go in never compete for a UNIQUE value, so inserting
them in bulk cannot change which of them wins one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from itertools import groupby
from typing import TYPE_CHECKING

from nexus_core.hlc import Timestamp, is_clock
from nexus_core.merge import TableModel, holds
from nexus_core.oplog import Change
from nexus_core.wire import Op, Value, quote_identifier

if TYPE_CHECKING:
    from nexus_core.replica import Replica


_Row = tuple[Change, list[Op], tuple[str, ...]]


@dataclass
class _Table:
    """The new rows of one table, in message order, with the columns each sets."""

    model: TableModel
    rows: list[_Row] = field(default_factory=list)

    def runs(self) -> Iterator[tuple[tuple[str, ...], list[_Row]]]:
        """Consecutive rows that set the same columns (one INSERT statement each)."""
        for columns, run in groupby(self.rows, key=lambda row: row[2]):
            yield columns, list(run)

    def insert_sql(self, columns: tuple[str, ...]) -> str:
        """A plain INSERT: a row already in the table is an error, not a no-op."""
        names = ", ".join(map(quote_identifier, (*columns, self.model.key)))
        marks = ", ".join("?" * (len(columns) + 1))
        return f"INSERT INTO {self.model.quoted} ({names}) VALUES ({marks})"


def _eligible(model: TableModel, ops: list[Op]) -> tuple[str, ...] | None:
    """The change's columns if it can take the fast lane, else None.

    Values get the careful path's check (``value_problem``, through ``holds``).
    """
    first = ops[0]
    row_id, table, version = first.row_id, first.table_name, first.schema_version
    columns = model.columns
    names: list[str] = []
    for op in ops:
        name = op.column_name
        if (
            name not in columns
            or op.kind != "set"
            or op.row_id != row_id
            or op.table_name != table
            or op.schema_version != version
            or not holds(model, name, op.new_value)
        ):
            return None
        names.append(name)
    shape = tuple(names)
    if len(set(shape)) != len(shape) or not model.required <= {*shape, model.key}:
        return None
    if model.key in shape and ops[shape.index(model.key)].new_value != row_id:
        return None  # a key op must carry its own row id
    if not holds(model, model.key, row_id):
        return None
    return shape


def take_new_rows(
    replica: Replica,
    changes: dict[tuple[str, str], list[Op]],
    held: Mapping[str, str],
) -> list[tuple[Change, list[Op]]]:
    """Insert the changes that create new rows; they leave ``changes``, and are returned.

    A table takes the fast lane whole or not at all: its rows go in together,
    in message order, or every change of it stays for the careful path. Which
    of two rows colliding on a UNIQUE gets its value depends on the order
    they are merged in, so the fast lane never reorders anything.
    """
    tables: dict[str, _Table] = {}
    spoiled: set[str] = set()
    rows: set[tuple[str, Value]] = set()
    latest = ""
    for (origin, hlc), ops in changes.items():
        first = ops[0]
        name = first.table_name.lower()
        row = (name, first.row_id)
        if name in spoiled:
            continue
        model = replica.models.get(first.table_name)
        columns = None
        if model is not None and row not in rows and hlc > held.get(origin, ""):
            columns = _eligible(model, ops) if is_clock(hlc, origin) else None
        rows.add(row)
        if model is None or columns is None:
            spoiled.add(name)
            tables.pop(name, None)
            continue
        change = Change(origin, hlc, first.schema_version, "set", first.table_name, first.row_id)
        tables.setdefault(name, _Table(model)).rows.append((change, ops, columns))
        latest = max(latest, hlc)
    if not tables or replica.clock.check(Timestamp.parse(latest)):
        return []  # some clock is too far ahead: the careful path refuses just those
    taken: list[tuple[Change, list[Op]]] = []
    for table in tables.values():
        row_ids = [change.row_id for change, _, _ in table.rows]
        if replica.oplog.rows_with_state(table.model.table.name, row_ids):
            continue
        if not _insert_all(replica.conn, table):
            continue
        # The careful path's row state: every column but the key at the change's clock.
        key = table.model.key
        clocks = replica.oplog.shared_clocks.json
        replica.conn.executemany(
            "INSERT INTO _nexus_rows (table_name, row_id, clocks) VALUES (?, ?, ?)",
            [
                (c.table_name, c.row_id, clocks(tuple(n for n in cols if n != key), c.hlc))
                for c, _, cols in table.rows
            ],
        )
        for change, ops, _ in table.rows:
            del changes[(change.origin, change.hlc)]
            taken.append((change, ops))
    return taken


def _insert_all(conn: sqlite3.Connection, table: _Table) -> bool:
    """Insert every row of ``table``, in order, or none of them (False)."""
    conn.execute("SAVEPOINT nexus_fast_lane")
    try:
        for columns, run in table.runs():
            conn.executemany(
                table.insert_sql(columns),
                [[*[op.new_value for op in ops], change.row_id] for change, ops, _ in run],
            )
    except sqlite3.Error:
        conn.execute("ROLLBACK TO nexus_fast_lane")
        conn.execute("RELEASE nexus_fast_lane")
        return False
    conn.execute("RELEASE nexus_fast_lane")
    return True
