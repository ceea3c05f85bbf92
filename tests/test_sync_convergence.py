"""Convergence: random writes on 2 to 4 replicas, random sync topologies, one LWW model.

The model knows nothing about the engine's bookkeeping: from a set of ops it
predicts every row (the op with the greatest clock string wins each column; a
delete removes the row for good). After every step each replica must hold
exactly what the model predicts from the ops it holds, and after a full sync
all replicas hold the same data: the model's prediction from every op written.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from nexus_core import Replica, open_replica, sync
from nexus_core.db.schema import Column
from nexus_core.errors import SyncError
from nexus_core.wire import Op, Value

PROJECT_MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
SMALL_SCHEMA = """
CREATE TABLE items (
    id    INTEGER PRIMARY KEY,
    label TEXT NOT NULL,
    qty   INTEGER NOT NULL DEFAULT 0,
    price REAL,
    extra
);
CREATE TABLE people (
    handle TEXT PRIMARY KEY NOT NULL,
    name   TEXT,
    age    INTEGER,
    score  NUMERIC,
    photo  BLOB
);
"""

Rows = dict[str, dict[Value, dict[str, Value]]]


def predict(ops: Iterable[Op]) -> Rows:
    """Every row the ops leave: per column the greatest clock wins, a delete is final."""
    ops = list(ops)
    deleted = {(op.table_name, op.row_id) for op in ops if op.kind == "delete"}
    cells: dict[tuple[str, Value], dict[str, tuple[str, Value]]] = {}
    for op in ops:
        if op.kind != "set" or (op.table_name, op.row_id) in deleted:
            continue
        assert op.column_name is not None
        row = cells.setdefault((op.table_name, op.row_id), {})
        held = row.get(op.column_name)
        if held is None or op.hlc > held[0]:
            row[op.column_name] = (op.hlc, op.new_value)
    result: Rows = {}
    for (table, row_id), row in cells.items():
        result.setdefault(table, {})[row_id] = {name: value for name, (_, value) in row.items()}
    return result


def _ids(ops: Iterable[Op]) -> set[tuple[str, str | None]]:
    return {(op.hlc, op.column_name) for op in ops}


def values_for(column: Column) -> st.SearchStrategy[Value]:
    """Values the column's declared type accepts (NULL too where allowed)."""
    by_affinity: dict[str, st.SearchStrategy[Value]] = {
        "INTEGER": st.integers(-(2**63), 2**63 - 1),
        "TEXT": st.text(max_size=12),
        "REAL": st.floats(allow_nan=False, allow_infinity=False),
        "NUMERIC": st.one_of(st.integers(-(10**6), 10**6), st.floats(-1e6, 1e6)),
        "BLOB": st.one_of(
            st.binary(max_size=8), st.integers(-(2**63), 2**63 - 1), st.text(max_size=5)
        ),
    }
    strategy = by_affinity[column.affinity]
    return strategy if column.notnull else st.one_of(st.none(), strategy)


def keys_for(column: Column) -> st.SearchStrategy[Value]:
    """A small pool of keys, so replicas sometimes insert the same row concurrently."""
    if column.affinity == "INTEGER":
        return st.integers(1, 12)
    return st.text("abc", min_size=1, max_size=2)


class ConvergenceMachine(RuleBasedStateMachine):
    """2 to 4 replicas of one migrations set, written to and synced at random."""

    migrations_dir: Path | None = None  # None: the project's own migrations, latest

    rows = Bundle("rows")

    def __init__(self) -> None:
        super().__init__()
        self.workdir = Path(tempfile.mkdtemp(prefix="nexus-convergence-"))
        self.replicas: list[Replica] = []
        # every op any replica wrote, by (clock, column): a write's ops share its clock
        self.written: dict[tuple[str, str | None], Op] = {}

    def teardown(self) -> None:
        try:
            if self.replicas:
                self.full_sync_and_check()
        finally:
            for replica in self.replicas:
                replica.close()
            shutil.rmtree(self.workdir, ignore_errors=True)

    # -- setup ---------------------------------------------------------------------
    @initialize(count=st.integers(2, 4))
    def open_replicas(self, count: int) -> None:
        for index in range(count):
            self.replicas.append(
                open_replica(
                    self.workdir / f"r{index}.db",
                    migrations=self.migrations_dir,
                    peer_id=f"r{index}",
                )
            )

    @property
    def tables(self) -> list[str]:
        return sorted(self.replicas[0].models)

    def _record(self, replica: Replica, before: str | None) -> list[Op]:
        new = [op for op in replica.ops(since=before) if op.origin == replica.peer_id]
        for op in new:
            assert (op.hlc, op.column_name) not in self.written
            self.written[op.hlc, op.column_name] = op
        return new

    def _latest(self, replica: Replica) -> str | None:
        return replica.version_vector().get(replica.peer_id)

    def _has_row(self, replica: Replica, table: str, row_id: Value) -> bool:
        model = replica.models[table]
        sql = f'SELECT 1 FROM "{table}" WHERE "{model.key}" = ?'
        return replica.conn.execute(sql, (row_id,)).fetchone() is not None

    def _tombstoned(self, replica: Replica, table: str, row_id: Value) -> bool:
        return replica.oplog.tombstoned(table, row_id)

    # -- rules ---------------------------------------------------------------------
    @rule(target=rows, data=st.data())
    def insert(self, data: st.DataObject) -> tuple[str, Value]:
        replica = data.draw(st.sampled_from(self.replicas), label="replica")
        table = data.draw(st.sampled_from(self.tables), label="table")
        model = replica.models[table]
        row_id = data.draw(keys_for(model.columns[model.key]), label="row_id")
        values: dict[str, Value] = {model.key: row_id}
        for name, column in model.columns.items():
            if name == model.key:
                continue
            if name in model.required or data.draw(st.booleans(), label=f"give {name}"):
                values[name] = data.draw(values_for(column), label=name)
        before = self._latest(replica)
        if self._has_row(replica, table, row_id) or self._tombstoned(replica, table, row_id):
            with pytest.raises(SyncError):
                replica.insert(table, values)
            assert self._latest(replica) == before
            return table, row_id
        assert replica.insert(table, values) == row_id
        new = self._record(replica, before)
        assert {op.column_name for op in new} == set(model.columns)
        captured = {op.column_name: op.new_value for op in new}
        for name, value in values.items():
            assert captured[name] == value, (name, captured[name], value)
        return table, row_id

    @rule(row=rows, data=st.data())
    def update(self, row: tuple[str, Value], data: st.DataObject) -> None:
        table, row_id = row
        replica = data.draw(st.sampled_from(self.replicas), label="replica")
        model = replica.models[table]
        names = [n for n in model.columns if n != model.key]
        chosen = data.draw(st.lists(st.sampled_from(names), min_size=1, unique=True))
        values = {name: data.draw(values_for(model.columns[name]), label=name) for name in chosen}
        before = self._latest(replica)
        if not self._has_row(replica, table, row_id):
            with pytest.raises(SyncError):
                replica.update(table, row_id, values)
            assert self._latest(replica) == before
            return
        replica.update(table, row_id, values)
        new = self._record(replica, before)
        assert {op.column_name: op.new_value for op in new} == values

    @rule(row=rows, data=st.data())
    def delete(self, row: tuple[str, Value], data: st.DataObject) -> None:
        table, row_id = row
        replica = data.draw(st.sampled_from(self.replicas), label="replica")
        before = self._latest(replica)
        if not self._has_row(replica, table, row_id):
            with pytest.raises(SyncError):
                replica.delete(table, row_id)
            return
        replica.delete(table, row_id)
        new = self._record(replica, before)
        assert [(op.kind, op.row_id) for op in new] == [("delete", row_id)]

    @precondition(lambda self: len(self.replicas) >= 2)
    @rule(data=st.data())
    def sync_pair(self, data: st.DataObject) -> None:
        pairs = list(itertools.permutations(range(len(self.replicas)), 2))
        first, second = data.draw(st.sampled_from(pairs), label="pair")
        a, b = self.replicas[first], self.replicas[second]
        result = sync(a, b)
        assert result.rejected == 0 and result.skipped_unknown == 0
        assert _ids(a.ops()) == _ids(b.ops())
        for table in self.tables:
            assert a.rows(table) == b.rows(table), table

    # -- checks --------------------------------------------------------------------
    def check_replica(self, replica: Replica, expected: Rows) -> None:
        for table in self.tables:
            key = replica.models[table].key
            held = {row[key]: row for row in replica.rows(table)}
            assert held == expected.get(table, {}), (replica.peer_id, table)

    @invariant()
    def each_replica_holds_what_its_ops_predict(self) -> None:
        for replica in self.replicas:
            self.check_replica(replica, predict(replica.ops()))
            assert replica.stats["rejected"] == 0
            assert replica.stats["skipped_unknown"] == 0

    def full_sync_and_check(self) -> None:
        for _ in range(len(self.replicas) + 1):
            moved = 0
            for a, b in itertools.combinations(self.replicas, 2):
                moved += sync(a, b).applied
            if moved == 0:
                break
        else:
            pytest.fail("full sync did not settle")
        expected = predict(self.written.values())
        for replica in self.replicas:
            assert _ids(replica.ops()) == set(self.written)
            self.check_replica(replica, expected)


class SmallSchemaMachine(ConvergenceMachine):
    """An INTEGER-key table and a TEXT-key table with typed and untyped columns."""

    def __init__(self) -> None:
        super().__init__()
        directory = self.workdir / "migrations"
        directory.mkdir()
        (directory / "001_small.sql").write_text(SMALL_SCHEMA, encoding="utf-8")
        self.migrations_dir = directory


class ProjectSchemaMachine(ConvergenceMachine):
    """The project's own migrations at the latest version (lists, tasks, comments)."""


TestSmallSchemaConvergence = SmallSchemaMachine.TestCase
TestSmallSchemaConvergence.settings = settings(stateful_step_count=40)
TestProjectSchemaConvergence = ProjectSchemaMachine.TestCase
TestProjectSchemaConvergence.settings = settings(stateful_step_count=30)


def test_model_prediction_examples() -> None:
    ops = [
        Op("0000000000001-0000-a", "a", 1, "set", "t", 1, "x", "old"),
        Op("0000000000002-0000-b", "b", 1, "set", "t", 1, "x", "new"),
        Op("0000000000001-0001-a", "a", 1, "set", "t", 1, "y", 5),
        Op("0000000000003-0000-a", "a", 1, "set", "t", 2, "x", "gone"),
        Op("0000000000001-0000-c", "c", 1, "delete", "t", 2, None, None),
    ]
    assert predict(ops) == {"t": {1: {"x": "new", "y": 5}}}
    assert predict(reversed(ops)) == predict(ops)
