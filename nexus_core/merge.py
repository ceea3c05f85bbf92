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
- A value the receiver's table refuses (a CHECK, a UNIQUE) refuses that op
  alone: the row keeps its other columns.

Every identifier that reaches SQL here has been checked against the receiver's
schema and is quoted.
"""

from __future__ import annotations

import functools
import math
import re
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from operator import itemgetter
from typing import Any

from nexus_core.db.migrations import without_literals
from nexus_core.db.schema import (
    Column,
    Schema,
    Table,
    find_named,
    is_internal_table,
    on_defaults,
)
from nexus_core.errors import SyncError
from nexus_core.hlc import Timestamp
from nexus_core.oplog import OpLog, RowState, encode_cols
from nexus_core.wire import (
    INT64,
    MAX_ROW_ID_TEXT,
    MAX_TEXT,
    Op,
    Value,
    decode_value,
    is_plain_name,
    quote_identifier,
)


class Verdict(Enum):
    APPLY = "apply"
    UNKNOWN_TABLE = "unknown table"
    UNKNOWN_COLUMN = "unknown column"
    REFUSE = "refuse"  # a well-formed op whose value this schema cannot hold (kept)
    REJECT = "reject"  # a malformed or forbidden op (dropped)


_ACCEPTS: dict[str, tuple[type, ...]] = {
    "INTEGER": (int,),
    "REAL": (int, float),
    "NUMERIC": (int, float, str),
    "TEXT": (str,),
    "BLOB": (int, float, str, bytes),
}
_NEEDS = {"INTEGER": "an integer", "REAL": "a number", "NUMERIC": "a number", "TEXT": "text"}


def value_problem(column: Column, value: Value) -> str | None:
    """Why ``column`` cannot hold ``value`` (declared type, NOT NULL), or None.

    Strict on purpose: an INTEGER column gets an int, a TEXT column a str, a REAL
    column a number. NUMERIC (DATE, DATETIME, BOOLEAN, DECIMAL...) also takes
    text, as apps keep ISO dates there. A column also takes the type its own
    default stores (see :func:`default_type`). What one replica writes, every
    replica of that version accepts unchanged.
    """
    kind = type(value)
    if value is None:
        if column.notnull or column.pk:
            return f"{column.name} ({column.type or 'untyped'}) is NOT NULL but the value is NULL"
        return None
    affinity = column.affinity
    if kind in _ACCEPTS[affinity] or kind is default_type(column.type, column.default):
        # SQLite cannot bind such an int, stores NaN as NULL, and an infinity
        # could never be exported as JSON.
        if kind is int and not INT64[0] <= value <= INT64[1]:  # type: ignore[operator]
            return f"{column.name}: integer out of SQLite's 64-bit range"
        if kind is float and not math.isfinite(value):  # type: ignore[arg-type]
            return f"{column.name} cannot hold a non-finite number"
        if kind in (str, bytes) and len(value) > MAX_TEXT:  # type: ignore[arg-type]
            return f"{column.name}: longer than sync carries ({MAX_TEXT} characters or bytes)"
        return None
    where = f"{column.name} ({column.type or 'untyped'})"
    if kind is bool:
        return f"{where} cannot hold a boolean"
    return f"{where} needs {_NEEDS.get(affinity, 'a scalar')}, got {kind.__name__}"


@functools.lru_cache(maxsize=1024)
def default_type(declared: str, default: str | None) -> type | None:
    """The type of the value a column's default stores, found by storing it.

    Usually one the column's type takes anyway; but an ``INTEGER`` column
    ``DEFAULT CURRENT_TIMESTAMP`` stores text. A replica that lets the default
    fill the column sends that text, and a peer at the same version must take
    it, or the two would keep different values (each its own default).
    """
    if default is None:
        return None
    try:
        (value,) = on_defaults([Column("c", declared, False, default, 0)], '"c"')
    except sqlite3.Error:
        return None  # a default SQLite cannot store alone
    return type(value) if value is not None else None


# One value of each type a value can have after checking (wire or local):
# whether a column holds a value depends on its type alone, once integers are
# in SQLite's range and numbers are finite.
_PROBES: dict[type, Value] = {str: "", bytes: b"", int: 0, float: 0.5, type(None): None}


def held_types(column: Column) -> frozenset[type]:
    """The types ``column`` holds every in-range, finite value of (see ``value_problem``)."""
    return frozenset(
        kind for kind, probe in _PROBES.items() if value_problem(column, probe) is None
    )


_INT64_RANGE = range(INT64[0], INT64[1] + 1)


def range_check(
    ints: Sequence[str], floats: Sequence[str], sized: Sequence[str] = ()
) -> Callable[[Any], bool]:
    """A check that a mapping's ``ints`` are in SQLite's range, its ``floats``
    finite and its ``sized`` (text, blobs) no longer than the wire carries.

    What :func:`in_range` checks, for known columns, in C (``range`` membership,
    ``math.isfinite`` and ``len`` mapped over the values): local writes run it per row.
    """
    get_ints, get_floats, get_sized = _getter(ints), _getter(floats), _getter(sized)
    inside = _INT64_RANGE.__contains__

    def check(values: Any) -> bool:
        return (
            all(map(inside, get_ints(values)))
            and all(map(math.isfinite, get_floats(values)))
            and (not sized or max(map(len, get_sized(values))) <= MAX_TEXT)
        )

    return check


_SIZED = frozenset((str, bytes))


def rows_hold(model: TableModel, rows: Sequence[Any]) -> bool:
    """Whether a batch of local writes holds as given, checked column by column.

    True when every row is a plain dict giving the same columns, spelled as the
    table spells them, the key among them; every value is of a type its column
    holds (see ``held_types``) and in range (see ``in_range``); every key is one
    the wire carries (see ``row_id_problem``). Mostly in C (``map`` over a
    column's values). False says only that the rows need checking one by one,
    which names what is wrong, if anything is.
    """
    if not rows or set(map(type, rows)) != {dict} or len(set(map(len, rows))) != 1:
        return False
    first = rows[0]
    if model.key not in first:
        return False
    for name in first:
        kinds = model.held_types.get(name)
        if kinds is None:
            return False  # respelled, generated or unknown: the careful check says which
        try:
            values = list(map(itemgetter(name), rows))
        except KeyError:
            return False
        found = set(map(type, values))
        if not found <= kinds:
            return False  # booleans too: they are stored as 0 and 1
        if name == model.key and not (
            found == {int} or (found <= _SIZED and max(map(len, values)) <= MAX_ROW_ID_TEXT)
        ):
            return False  # (text and bytes mixed: the key's limit all the same, review BAI-1)
        if len(found) > 1:
            if not all(map(in_range, values)):
                return False
        elif int in found:
            if not all(map(_INT64_RANGE.__contains__, values)):
                return False
        elif float in found:
            if not all(map(math.isfinite, values)):
                return False
        elif found <= _SIZED and max(map(len, values)) > MAX_TEXT:
            return False
    return True


def _getter(columns: Sequence[str]) -> Callable[[Any], tuple[Any, ...]]:
    """A function giving the values of ``columns`` from a mapping, always as a tuple."""
    if len(columns) > 1:
        return itemgetter(*columns)
    if columns:
        column = columns[0]
        return lambda values: (values[column],)
    return lambda values: ()


def in_range(value: Value) -> bool:
    """An integer in SQLite's 64-bit range, a finite number, or text or a blob the
    wire carries (at most ``MAX_TEXT``); None: True."""
    kind = type(value)
    if kind is int:
        return bool(INT64[0] <= value <= INT64[1])  # type: ignore[operator]
    if kind is float:
        return math.isfinite(value)  # type: ignore[arg-type]
    return kind not in (str, bytes) or len(value) <= MAX_TEXT  # type: ignore[arg-type]


def stored_value(column: Column, value: Value) -> Value:
    """``value`` as SQLite stores it in ``column`` (a checked value).

    REAL affinity turns integers into floats; NUMERIC and INTEGER turn a float
    into an integer when SQLite does (see :func:`becomes_integer`). The
    captured op carries what a read would return.
    """
    affinity = column.affinity
    if affinity == "REAL" and type(value) is int:
        return float(value)
    if affinity in ("NUMERIC", "INTEGER") and type(value) is float and becomes_integer(value):
        return int(value)
    return value


def becomes_integer(value: float) -> bool:
    """Whether a NUMERIC or INTEGER column stores the float ``value`` as an integer.

    SQLite's rule (``sqlite3VdbeIntegerAffinity``): the float converts to a
    64-bit integer and back unchanged, and that integer is neither the
    smallest nor the largest 64-bit integer. So -2.0**63 stays a float (its
    integer is the smallest), as does 2.0**63 (out of range); the nearest
    floats inside, -2.0**63 + 1024 and 2.0**63 - 1024, become integers.
    """
    return value.is_integer() and INT64[0] < value < INT64[1]


@dataclass
class TableModel:
    """A replicated table with its checked, quoted SQL prepared once.

    A table with conflict clauses of its own is written ``OR ABORT``: such a
    clause (``UNIQUE ON CONFLICT REPLACE`` deletes the other row, ``IGNORE``
    drops the write, ``NOT NULL ON CONFLICT REPLACE`` puts the default in)
    would change rows outside the oplog, and replicas would drift apart
    unseen. Other tables are written without an ``OR``, which aborts on a
    conflict just the same: an outer ``OR`` would also override the ``OR
    IGNORE`` of the table's triggers (SQLite's rule), failing writes the app
    makes work (a trigger counting tags into a local table, say).
    """

    table: Table
    key: str
    columns: dict[str, Column]
    required: frozenset[str]
    update_sql: dict[str, str] = field(default_factory=dict)
    insert_cache: dict[tuple[str, ...], str] = field(default_factory=dict)
    update_cache: dict[tuple[str, ...], str] = field(default_factory=dict)
    coerced: frozenset[str] = frozenset()
    numeric: frozenset[str] = frozenset()
    abort: str = ""  # " OR ABORT" when the table has conflict clauses of its own
    held_types: dict[str, frozenset[type]] = field(default_factory=dict)
    # (columns, value types) of local writes seen to hold, and how to check
    # the range of their numbers, which is still done per write.
    held_writes: dict[tuple[tuple[str, ...], tuple[type, ...]], Callable[[Any], bool]] = field(
        default_factory=dict
    )

    @classmethod
    def of(cls, table: Table) -> TableModel:
        key = table.row_key
        if key is None:
            raise ValueError(f"{table.name} has no single-column primary key")
        columns = {c.name: c for c in table.columns}
        required = frozenset(c.name for c in table.columns if c.required)
        coerced = frozenset(c.name for c in table.columns if c.affinity in ("REAL", "NUMERIC"))
        numeric = frozenset(c.name for c in table.columns if c.affinity == "NUMERIC")
        model = cls(table, key, columns, required, coerced=coerced, numeric=numeric)
        # ON CONFLICT ABORT is what SQLite does anyway: no outer OR needed for it.
        conflict = r"(?i)\bON\s+CONFLICT\s+(?:REPLACE|IGNORE|FAIL|ROLLBACK)\b"
        if re.search(conflict, without_literals(table.sql)):
            model.abort = " OR ABORT"
        model.held_types = {name: held_types(column) for name, column in columns.items()}
        for column in columns:
            model.update_sql[column] = (
                f"UPDATE{model.abort} {model.quoted} SET {quote_identifier(column)} = ?"
                f" WHERE {model.quoted_key} = ?"
            )
        return model

    def insert_sql(self, names: tuple[str, ...]) -> str:
        """INSERT of these columns that leaves an existing row alone (cached per shape)."""
        sql = self.insert_cache.get(names)
        if sql is None:
            sql = self.insert_cache[names] = (
                f"INSERT{self.abort} INTO {self.quoted} ({', '.join(map(quote_identifier, names))})"
                f" VALUES ({', '.join('?' * len(names))})"
                f" ON CONFLICT ({self.quoted_key}) DO NOTHING"
            )
        return sql

    def update_many_sql(self, names: tuple[str, ...]) -> str:
        """UPDATE of these columns of one row (cached per shape)."""
        sql = self.update_cache.get(names)
        if sql is None:
            assignments = ", ".join(f"{quote_identifier(c)} = ?" for c in names)
            sql = self.update_cache[names] = (
                f"UPDATE{self.abort} {self.quoted} SET {assignments} WHERE {self.quoted_key} = ?"
            )
        return sql

    @property
    def quoted(self) -> str:
        return quote_identifier(self.table.name)

    @property
    def quoted_key(self) -> str:
        return quote_identifier(self.key)

    @property
    def key_first(self) -> list[str]:
        """The columns, the key first: the order an insert's change records them in."""
        return [self.key, *(c for c in self.columns if c != self.key)]


def holds(model: TableModel, column: str, value: Value) -> bool:
    """Whether ``column`` of ``model`` can hold ``value``: ``value_problem`` is None, quickly."""
    return type(value) in model.held_types[column] and in_range(value)


def find_model(models: Mapping[str, TableModel], table: str) -> TableModel | None:
    """The model of ``table``, matched as SQLite matches names (case-insensitively)."""
    return find_named(models, table)


def find_column(model: TableModel, column: str) -> str | None:
    """``column``'s name as this table spells it, matched case-insensitively."""
    if column in model.columns:
        return column
    lowered = column.lower()
    return next((name for name in model.columns if name.lower() == lowered), None)


def canonical(op: Op, models: Mapping[str, TableModel]) -> Op:
    """``op`` with its table and column spelled as this schema spells them."""
    exact = models.get(op.table_name)
    if exact is not None and (op.column_name is None or op.column_name in exact.columns):
        return op
    model = find_model(models, op.table_name)
    if model is None:
        return op
    column = op.column_name if op.column_name is None else find_column(model, op.column_name)
    if (model.table.name, column) == (op.table_name, op.column_name):
        return op
    return op.renamed(model.table.name, column)


def table_models(schema: Schema) -> dict[str, TableModel]:
    return {name: TableModel.of(table) for name, table in schema.replicated_tables.items()}


def classify_target(
    table: str, column: str | None, kind: str, schema: Schema, models: Mapping[str, TableModel]
) -> tuple[Verdict, str]:
    """The part of :func:`classify` that depends only on the names an op carries."""
    if not is_plain_name(table):
        return Verdict.REJECT, f"table name {table!r:.60} is not a plain identifier"
    if is_internal_table(table):
        return Verdict.REJECT, f"{table} is internal and never written through the oplog"
    if column is not None and not is_plain_name(column):
        return Verdict.REJECT, f"column name {column!r:.60} is not a plain identifier"
    model = find_model(models, table)
    if model is None:
        for name, found in schema.tables.items():
            if name.lower() == table.lower():  # kept like an unknown table: a later
                # version may replicate it, and relays forward it meanwhile
                reason = found.unreplicated_reason
                return Verdict.UNKNOWN_TABLE, f"{NOT_REPLICATED}{table} ({reason})"
        if schema.local_table(table):  # kept, never written here: a later version may
            # make a replicated table of that name (an FTS index turned user data, or a
            # table named like one of its shadow tables, openings_config)
            reason = "each replica's own: a virtual table or its storage"
            return Verdict.UNKNOWN_TABLE, f"{NOT_REPLICATED}{table} ({reason})"
        return Verdict.UNKNOWN_TABLE, f"unknown table in oplog: {table}"
    if kind == "delete":
        if column is not None:
            return Verdict.REJECT, "a delete op must not name a column"
    elif column is None or find_column(model, column) is None:
        return Verdict.UNKNOWN_COLUMN, f"unknown column in oplog: {table}.{column}"
    return Verdict.APPLY, ""


KEY_OP_MISMATCH = "a key op must carry its own row id"
NOT_REPLICATED = "table not replicated here: "  # how the reason of such a skipped op begins


def classify_values(
    op: Op, model: TableModel, *, check_key: bool = True, writer_here: bool = False
) -> tuple[Verdict, str]:
    """The part of :func:`classify` that checks the op's row id and value (canonical names).

    A value this schema cannot hold is ``REFUSE`` (another version may hold
    it: the op is kept), as is a key op naming another row, unless its writer
    runs this very schema (``writer_here``: its key is this one, so the op is
    malformed, ``REJECT``).
    """
    if check_key and not holds(model, model.key, op.row_id):
        key_problem = value_problem(model.columns[model.key], op.row_id)
        return Verdict.REFUSE, f"row_id of {op.table_name}: {key_problem}"
    if op.kind == "set":
        assert op.column_name is not None
        if not holds(model, op.column_name, op.new_value):
            problem = value_problem(model.columns[op.column_name], op.new_value)
            return Verdict.REFUSE, f"value for {op.table_name}.{problem}"
        if op.column_name == model.key and op.new_value != op.row_id:
            # Kept like a value this schema cannot hold: at another version the
            # column may not be the key (a table whose key changed), and a relay
            # here must pass the op on to peers there.
            verdict = Verdict.REJECT if writer_here else Verdict.REFUSE
            return verdict, f"{op.table_name}.{op.column_name}: {KEY_OP_MISMATCH}"
    return Verdict.APPLY, ""


def classify(op: Op, schema: Schema, models: Mapping[str, TableModel]) -> tuple[Verdict, str]:
    """What a receiver with ``schema`` does with ``op``, and why. Writes nothing."""
    verdict = classify_target(op.table_name, op.column_name, op.kind, schema, models)
    if verdict[0] is not Verdict.APPLY:
        return verdict
    op = canonical(op, models)
    return classify_values(op, models[op.table_name])


Refusal = tuple[Op, str]


class RolledBack(SyncError):
    """A trigger's ``RAISE(ROLLBACK)`` ended the transaction while ``row``
    (table, row id) was written (None where the write was of many rows)."""

    def __init__(self, message: str, row: tuple[str, Value] | None = None) -> None:
        super().__init__(message)
        self.row = row


def ended_by_trigger(
    conn: sqlite3.Connection, exc: sqlite3.Error, row: tuple[str, Value] | None = None
) -> None:
    """Raise :class:`RolledBack` if the error ended the transaction (a trigger's
    ``RAISE(ROLLBACK)``).

    Without its transaction, every later statement would commit on its own:
    the message fails as a whole instead (``receive`` then tries it again
    with that row's ops refused).
    """
    if not conn.in_transaction:
        raise RolledBack(f"a trigger rolled the transaction back: {exc}", row) from exc


def refusal_only(
    conn: sqlite3.Connection, exc: sqlite3.Error, row: tuple[str, Value] | None = None
) -> None:
    """Re-raise ``exc`` unless SQLite refused the values written, for one op to take.

    A refusal is a constraint (``IntegrityError``: NOT NULL, UNIQUE, CHECK, a
    trigger's RAISE) or an expression of an index, trigger or generated column
    failing on the value (``malformed JSON`` from ``json_extract``: plain
    ``SQLITE_ERROR``), or a virtual table a trigger keeps refusing the write
    (an external-content full-text index missing the row: ``SQLITE_CORRUPT_VTAB``).
    A busy, locked, full or read-only database is not: the message fails as a
    whole. So does a trigger's ``RAISE(ROLLBACK)``.
    """
    ended_by_trigger(conn, exc, row)
    if isinstance(exc, sqlite3.IntegrityError):
        return
    if isinstance(exc, sqlite3.OperationalError) and exc.sqlite_errorcode == sqlite3.SQLITE_ERROR:
        return
    if getattr(exc, "sqlite_errorcode", None) == _SQLITE_CORRUPT_VTAB:
        return
    raise exc


_SQLITE_CORRUPT_VTAB = 267  # SQLITE_CORRUPT | (1 << 8)


class Merger:
    """Writes winning values into the app's tables, a row at a time.

    Ops arrive grouped by row; each row costs one read of its state, one write
    to the app table (an UPDATE of every winning column, or the INSERT of a
    new row) and one write of its state. A constraint the app table enforces
    sends that row down a slow path that finds the op at fault.
    """

    def __init__(
        self, conn: sqlite3.Connection, oplog: OpLog, models: dict[str, TableModel]
    ) -> None:
        self.conn = conn
        self.oplog = oplog
        self.models = models

    def apply(self, table: str, groups: Mapping[Value, list[Op]]) -> list[Refusal]:
        """Merge checked ops of ``table`` grouped by row id; returns the refused ones."""
        model = self.models[table]
        states = self.oplog.row_states(table, list(groups))
        refused: list[Refusal] = []
        touched: list[tuple[str, Value, RowState]] = []
        for row_id, ops in groups.items():
            state = states.get(row_id) or RowState()
            refused += self._apply_row(model, row_id, ops, state)
            touched.append((table, row_id, state))
        self.oplog.save_row_states(touched)
        return refused

    def retry_pending(self) -> tuple[int, list[Refusal]]:
        """Insert pending rows whose values are now complete: (how many, refused ops).

        A value such a row kept may not fit once it is inserted (another row took
        its UNIQUE value meanwhile): its op is refused, for the caller to park.
        """
        inserted = 0
        refused: list[Refusal] = []
        by_table: dict[str, list[Value]] = {}
        for table, row_id in self.oplog.pending_rows():
            by_table.setdefault(table, []).append(row_id)
        for table, row_ids in by_table.items():
            model = self.models.get(table)
            if model is None:
                continue
            states = self.oplog.row_states(table, row_ids)
            touched = []
            for row_id, state in states.items():
                refused += self._materialize(model, row_id, state, {})
                inserted += state.pending is None
                touched.append((table, row_id, state))
            self.oplog.save_row_states(touched)
        return inserted, refused

    def _apply_row(
        self, model: TableModel, row_id: Value, ops: list[Op], state: RowState
    ) -> list[Refusal]:
        deletes = [op for op in ops if op.kind == "delete"]
        refused: list[Refusal] = []
        if deletes and state.deleted is None:
            why = self._delete(model, row_id)
            if why is None:
                state.deleted = min(op.hlc for op in deletes)
                state.pending = None
                return []
            # A trigger refused it (a RAISE, a CHECK on a table it keeps): the delete
            # is kept and retried like any refused op, and the row's other ops of
            # this message still merge, as they would have arriving on their own.
            refused = [(op, f"{model.table.name} row {row_id!r}: {why}") for op in deletes]
        if state.deleted is not None:
            return []  # a delete is final
        candidates = [op for op in ops if op.column_name != model.key and op.kind != "delete"]
        if deletes and not candidates:
            return refused
        columns: set[str] | None = None
        while True:
            winners = _winners(state, candidates, columns)
            if columns is not None and not winners:
                return refused
            round_refused = self._write(model, row_id, state, winners)
            if not round_refused:
                return refused
            # The next best op of a refused column gets its turn, as if the
            # refused one had never arrived.
            refused += round_refused
            gone = {id(op) for op, _ in round_refused}
            candidates = [op for op in candidates if id(op) not in gone]
            columns = {str(op.column_name) for op, _ in round_refused}

    def _refuse_kept(
        self, model: TableModel, row_id: Value, column: str, value: Value, state: RowState
    ) -> Op:
        """The op that brought a value a pending row kept, now refused: its clock no
        longer counts as applied. The clock names its change, which spells the column
        as its writer did (parked and retried by that name)."""
        hlc = state.clocks.pop(column)
        origin = Timestamp.parse(hlc).peer
        change = self.oplog.change(origin, hlc)
        spelled = (
            next((c for c in change.cols if c.lower() == column.lower()), column)
            if change
            else column
        )
        return Op(hlc, origin, 0, "set", model.table.name, row_id, spelled, value)

    def _delete(self, model: TableModel, row_id: Value) -> str | None:
        """DELETE the row; why not, when a trigger refuses it (``RAISE(IGNORE)`` too)."""
        sql = f"DELETE FROM {model.quoted} WHERE {model.quoted_key} = ?"
        held = f"SELECT 1 FROM {model.quoted} WHERE {model.quoted_key} = ?"
        try:
            cursor = self.conn.execute(sql, (row_id,))
        except sqlite3.Error as exc:
            refusal_only(self.conn, exc, (model.table.name, row_id))
            return str(exc)
        if not cursor.rowcount and self.conn.execute(held, (row_id,)).fetchone():
            return "a trigger ignored the delete (RAISE(IGNORE))"
        return None

    def _write(
        self, model: TableModel, row_id: Value, state: RowState, winners: Mapping[str, Op]
    ) -> list[Refusal]:
        if state.pending is None and (winners or state.known):
            updated, refused = self._update(model, row_id, state, winners)
            if updated:
                return refused
        return self._materialize(model, row_id, state, winners)

    def _update(
        self, model: TableModel, row_id: Value, state: RowState, winners: Mapping[str, Op]
    ) -> tuple[bool, list[Refusal]]:
        """UPDATE the winning columns; (False, []) when the row is not in the table."""
        if not winners:
            return True, []
        columns = tuple(winners)
        try:
            cursor = self.conn.execute(
                model.update_many_sql(columns), [*(op.new_value for op in winners.values()), row_id]
            )
        except sqlite3.Error as exc:
            refusal_only(self.conn, exc, (model.table.name, row_id))
            return True, self._update_one_by_one(model, row_id, state, winners)
        if not cursor.rowcount:
            return False, []
        for column, op in winners.items():
            state.clocks[column] = op.hlc
        return True, []

    def _update_one_by_one(
        self, model: TableModel, row_id: Value, state: RowState, winners: Mapping[str, Op]
    ) -> list[Refusal]:
        refused: list[Refusal] = []
        for column, op in winners.items():  # in the message's order (see _insert_one_by_one)
            try:
                self.conn.execute(model.update_sql[column], (op.new_value, row_id))
            except sqlite3.Error as exc:
                refusal_only(self.conn, exc, (model.table.name, row_id))
                refused.append((op, f"{model.table.name}.{column}: {exc}"))
                continue
            state.clocks[column] = op.hlc
        return refused

    def _materialize(
        self, model: TableModel, row_id: Value, state: RowState, winners: Mapping[str, Op]
    ) -> list[Refusal]:
        """INSERT the row from what has arrived, or keep it pending until it can be."""
        values = {c: decode_value(raw, c) for c, raw in (state.pending or {}).items()}
        values.update((column, op.new_value) for column, op in winners.items())
        values = {c: v for c, v in values.items() if c in model.columns}
        values[model.key] = row_id
        previous = {c: state.clocks.get(c) for c in winners}
        for column, op in winners.items():
            state.clocks[column] = op.hlc
        if not model.required <= values.keys():
            del values[model.key]
            state.pending = encode_cols(values)
            return []
        try:
            if self._insert(model, values):
                state.pending = None
                return []
        except sqlite3.Error as exc:
            refusal_only(self.conn, exc, (model.table.name, row_id))
            refused = self._insert_one_by_one(model, row_id, state, values, winners)
            for op, _ in refused:
                _restore(state, op.column_name, previous)
            return refused
        # The row exists after all (written outside the engine): update it instead.
        state.pending = None
        updated, refused = self._update(model, row_id, state, winners)
        if updated:
            return refused
        # Neither the INSERT nor the UPDATE wrote anything: a trigger's RAISE(IGNORE)
        # skipped them. Refused like any other refusal: kept and retried.
        for column in winners:
            _restore(state, column, previous)
        why = f"{model.table.name} row {row_id!r}: a trigger ignored the write (RAISE(IGNORE))"
        return [(op, why) for op in winners.values()]

    def _insert(self, model: TableModel, values: Mapping[str, Value]) -> bool:
        names = tuple(values)
        return bool(self.conn.execute(model.insert_sql(names), list(values.values())).rowcount)

    def _insert_one_by_one(
        self,
        model: TableModel,
        row_id: Value,
        state: RowState,
        values: Mapping[str, Value],
        winners: Mapping[str, Op],
    ) -> list[Refusal]:
        """A constraint refused the row: insert what it needs, then each other value."""
        # The base in the table's order: a frozenset's order follows the hash seed, and
        # so did the order the refused ops are listed in. The other values are tried one
        # by one in the order they came (the writer's, the same in every message): where
        # the first passes and the second is refused (a UNIQUE over both), every
        # receiver refuses the same op. In its own table's order, a receiver whose table
        # lists the columns in another order (a rebuild) refused the other one, and the
        # two kept different values for good.
        required = [c for c in model.columns if c in model.required]
        base = {c: values[c] for c in (*required, model.key)}
        try:
            self._insert(model, base)
        except sqlite3.Error as exc:
            refusal_only(self.conn, exc, (model.table.name, row_id))
            # The row cannot exist with these values: refuse the ops that brought
            # them and keep everything else waiting, as for a missing column. A
            # value of the base the row kept from an earlier message is refused
            # too (parked, retried once something moves), or nothing would ever
            # try the row again (an upgrade that lets it in, say).
            kept = [c for c in base if c != model.key and c not in winners and c in state.clocks]
            blamed = [op for column, op in winners.items() if column in base]
            blamed += [self._refuse_kept(model, row_id, c, values[c], state) for c in kept]
            state.pending = encode_cols(
                {
                    c: v
                    for c, v in values.items()
                    if c != model.key and not (c in base and (c in winners or c in kept))
                }
            )
            # No op brought a value of the row's base: the key itself is refused
            # (a UNIQUE over an expression of it); refuse every op the row came with.
            return [
                (op, f"{model.table.name} row {row_id!r}: {exc}")
                for op in (blamed or list(winners.values()))
            ]
        state.pending = None
        refused: list[Refusal] = []
        for column, value in values.items():
            if column in base:
                continue
            try:
                self.conn.execute(model.update_sql[column], (value, row_id))
            except sqlite3.Error as exc:
                refusal_only(self.conn, exc, (model.table.name, row_id))
                # A value the row kept while pending is refused like one just arrived:
                # its op is parked for retry and its clock no longer counts as applied.
                op = winners.get(column) or self._refuse_kept(model, row_id, column, value, state)
                refused.append((op, f"{model.table.name}.{column}: {exc}"))
        return refused


def _winners(state: RowState, ops: list[Op], columns: set[str] | None) -> dict[str, Op]:
    """Per column, the op with the greatest clock, if it beats the row's clock."""
    winners: dict[str, Op] = {}
    for op in ops:
        column = str(op.column_name)
        if columns is not None and column not in columns:
            continue
        if op.hlc > state.clocks.get(column, "") and (
            column not in winners or op.hlc > winners[column].hlc
        ):
            winners[column] = op
    return winners


def _restore(state: RowState, column: str | None, previous: Mapping[str, str | None]) -> None:
    """Put back a column's clock after its op was refused."""
    if column is None:
        return
    if previous.get(column) is None:
        state.clocks.pop(column, None)
    else:
        state.clocks[column] = str(previous[column])
