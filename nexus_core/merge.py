"""Applying ops to the app's tables: receiver checks, last writer wins, tombstones.

Merge rules, per (table, row, column):

- The op with the greatest clock wins. Clock strings end in the peer id, so two
  ops never tie; equal wall time and counter fall to the greater peer id.
- A delete is a row tombstone and is final: it wins over every update, earlier
  or later, concurrent or not, and a deleted row id is never brought back.
  That makes the result independent of the order ops arrive in.
- A row is inserted once every column it needs (NOT NULL without default) has a
  value; until then its ops are kept and the row is *pending*. Columns the
  sender never wrote take this replica's defaults.

Every identifier that reaches SQL here has been checked against the receiver's
schema and is quoted.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

from nexus_core.db.schema import Column, Schema, Table, is_internal_table
from nexus_core.oplog import OpLog
from nexus_core.wire import INT64, Op, Value, is_plain_name, quote_identifier


class Verdict(Enum):
    APPLY = "apply"
    UNKNOWN_TABLE = "unknown table"
    UNKNOWN_COLUMN = "unknown column"
    REJECT = "reject"


def value_problem(column: Column, value: Value) -> str | None:
    """Why ``column`` cannot hold ``value`` (declared type, NOT NULL), or None."""
    where = f"{column.name} ({column.type or 'untyped'})"
    if value is None:
        if column.notnull or column.pk:
            return f"{where} is NOT NULL but the value is NULL"
        return None
    if isinstance(value, bool):
        return f"{where} cannot hold a boolean"
    # Local writes reach here unchecked by the wire: SQLite cannot bind such an
    # int, stores NaN as NULL, and an infinity could never be exported as JSON.
    if isinstance(value, int) and not INT64[0] <= value <= INT64[1]:
        return f"{where}: integer out of SQLite's 64-bit range"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{where} cannot hold a non-finite number"
    affinity = column.affinity
    if affinity == "INTEGER" and not isinstance(value, int):
        return f"{where} needs an integer, got {type(value).__name__}"
    if affinity in ("REAL", "NUMERIC") and not isinstance(value, int | float):
        return f"{where} needs a number, got {type(value).__name__}"
    if affinity == "TEXT" and not isinstance(value, str):
        return f"{where} needs text, got {type(value).__name__}"
    return None


@dataclass
class TableModel:
    """A replicated table with its checked, quoted SQL prepared once."""

    table: Table
    key: str
    columns: dict[str, Column]
    required: frozenset[str]
    update_sql: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, table: Table) -> TableModel:
        key = table.row_key
        if key is None:
            raise ValueError(f"{table.name} has no single-column primary key")
        columns = {c.name: c for c in table.columns}
        required = frozenset(c.name for c in table.columns if c.required)
        model = cls(table, key, columns, required)
        for column in columns:
            model.update_sql[column] = (
                f"UPDATE {model.quoted} SET {quote_identifier(column)} = ?"
                f" WHERE {model.quoted_key} = ?"
            )
        return model

    @property
    def quoted(self) -> str:
        return quote_identifier(self.table.name)

    @property
    def quoted_key(self) -> str:
        return quote_identifier(self.key)

    @property
    def is_rowid_alias(self) -> bool:
        return self.columns[self.key].affinity == "INTEGER" and not self.table.without_rowid


def table_models(schema: Schema) -> dict[str, TableModel]:
    return {name: TableModel.of(table) for name, table in schema.replicated_tables.items()}


def classify(op: Op, schema: Schema, models: Mapping[str, TableModel]) -> tuple[Verdict, str]:
    """What a receiver with ``schema`` does with ``op``, and why. Writes nothing."""
    if not is_plain_name(op.table_name):
        return Verdict.REJECT, f"table name {op.table_name!r:.60} is not a plain identifier"
    if is_internal_table(op.table_name):
        return Verdict.REJECT, f"{op.table_name} is internal and never written through the oplog"
    if op.column_name is not None and not is_plain_name(op.column_name):
        return Verdict.REJECT, f"column name {op.column_name!r:.60} is not a plain identifier"
    model = models.get(op.table_name)
    if model is None:
        if op.table_name in schema.tables:
            return Verdict.REJECT, f"{op.table_name} has no single-column primary key here"
        return Verdict.UNKNOWN_TABLE, f"unknown table in oplog: {op.table_name}"
    if op.kind == "delete":
        if op.column_name is not None:
            return Verdict.REJECT, "a delete op must not name a column"
    elif op.column_name not in model.columns:
        return Verdict.UNKNOWN_COLUMN, f"unknown column in oplog: {op.table_name}.{op.column_name}"
    key_problem = value_problem(model.columns[model.key], op.row_id)
    if key_problem:
        return Verdict.REJECT, f"row_id of {op.table_name}: {key_problem}"
    if op.kind == "set":
        assert op.column_name is not None
        problem = value_problem(model.columns[op.column_name], op.new_value)
        if problem:
            return Verdict.REJECT, f"value for {op.table_name}.{problem}"
        if op.column_name == model.key and op.new_value != op.row_id:
            return Verdict.REJECT, f"{op.table_name}: a key op must carry its own row id"
    return Verdict.APPLY, ""


class Merger:
    """Writes winning values into the app's tables.

    :meth:`apply` writes the app table first and the bookkeeping after, so an
    ``sqlite3.IntegrityError`` (a CHECK or UNIQUE the value breaks) leaves
    nothing behind: SQLite aborts just the failing statement.
    """

    def __init__(
        self, conn: sqlite3.Connection, oplog: OpLog, models: dict[str, TableModel]
    ) -> None:
        self.conn = conn
        self.oplog = oplog
        self.models = models

    def apply(self, op: Op) -> None:
        """Merge a checked op (stored by the caller afterwards)."""
        model = self.models[op.table_name]
        if op.kind == "delete":
            self._delete(model, op)
            return
        column = op.column_name
        assert column is not None
        if self.oplog.tombstoned(op.table_name, op.row_id):
            return
        current = self.oplog.cell_clock(op.table_name, op.row_id, column)
        if current is not None and current >= op.hlc:
            return
        if column != model.key:
            cursor = self.conn.execute(model.update_sql[column], (op.new_value, op.row_id))
            if not cursor.rowcount:
                self.materialize(model, op.row_id, {column: op.new_value})
        elif not self._exists(model, op.row_id):
            self.materialize(model, op.row_id, {})
        self.oplog.set_cell_clock(op.table_name, op.row_id, column, op.hlc)

    def _exists(self, model: TableModel, row_id: Value) -> bool:
        sql = f"SELECT 1 FROM {model.quoted} WHERE {model.quoted_key} = ?"
        return self.conn.execute(sql, (row_id,)).fetchone() is not None

    def materialize(self, model: TableModel, row_id: Value, extra: Mapping[str, Value]) -> bool:
        """Insert a row from its winning cells; False (row pending) while one is missing."""
        values = {
            column: value
            for column, value in self.oplog.winning_values(model.table.name, row_id).items()
            if column in model.columns
        }
        values.update(extra)
        values[model.key] = row_id
        if not model.required <= values.keys():
            self.oplog.set_pending(model.table.name, row_id, True)
            return False
        names = list(values)
        sql = (
            f"INSERT INTO {model.quoted} ({', '.join(quote_identifier(n) for n in names)})"
            f" VALUES ({', '.join('?' * len(names))})"
        )
        self.conn.execute(sql, [values[n] for n in names])
        self.oplog.set_pending(model.table.name, row_id, False)
        return True

    def _delete(self, model: TableModel, op: Op) -> None:
        if self.oplog.tombstoned(op.table_name, op.row_id):
            return
        self.conn.execute(f"DELETE FROM {model.quoted} WHERE {model.quoted_key} = ?", (op.row_id,))
        self.oplog.add_tombstone(op.table_name, op.row_id, op.hlc)
        self.oplog.set_pending(op.table_name, op.row_id, False)

    def retry_pending(self) -> int:
        """Insert pending rows whose values are now complete; returns how many."""
        inserted = 0
        for table, row_id in self.oplog.pending_rows():
            model = self.models.get(table)
            if model is None or self.oplog.tombstoned(table, row_id):
                continue
            if self._exists(model, row_id):
                self.oplog.set_pending(table, row_id, False)
                continue
            try:
                inserted += self.materialize(model, row_id, {})
            except sqlite3.IntegrityError:
                continue  # stays pending; the cell values break a constraint here
        return inserted
