"""The fast paths change speed, never results.

- The fast lane of ``receive`` (whole new rows inserted in bulk) must leave a
  replica exactly as the careful path does: same app rows, row states, stored
  changes, parked ops, version vector and counts, for any message.
- The fast wire decoder must decode exactly what the careful decoder does, and
  leave everything else to it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from folders import migrations_folder
from hypothesis import event, given
from hypothesis import strategies as st

from nexus_core import PeerInfo, Replica, open_replica
from nexus_core.errors import SyncError, WireError
from nexus_core.fastlane import take_new_rows
from nexus_core.oplog import read_clocks
from nexus_core.wire import (
    Message,
    Op,
    _careful_decode,
    _fast_decode,
    decode_message,
    encode_message,
    encode_wire_ops,
    group_changes,
)

SCHEMA = """-- Description: tables whose constraints can refuse a bulk insert
CREATE TABLE items (
    item_id TEXT PRIMARY KEY NOT NULL,
    name    TEXT NOT NULL,
    qty     INTEGER NOT NULL DEFAULT 0 CHECK (qty >= 0),
    code    TEXT UNIQUE,
    price   REAL,
    note    TEXT
);
CREATE TABLE tags (
    tag_id INTEGER PRIMARY KEY,
    label  TEXT COLLATE NOCASE UNIQUE
);
"""
BASE_WALL = 1_700_000_000_000
SENDER = PeerInfo("sender", 1)
ORIGINS = ("a", "b", "c")
VALUES: dict[tuple[str, str], st.SearchStrategy[Any]] = {
    ("items", "name"): st.sampled_from(["pen", "ink", None, 3]),
    ("items", "qty"): st.sampled_from([0, 1, 7, -1, "many", None, 2.5]),
    ("items", "code"): st.sampled_from(["A", "B", "a", None]),
    ("items", "price"): st.sampled_from([1.5, 2, None, "cheap"]),
    ("items", "note"): st.sampled_from(["x", "", None, b"\x00\xff"]),
    ("items", "ghost"): st.just("from a newer schema"),
    ("tags", "label"): st.sampled_from(["red", "RED", "blue", None, 4]),
}
KEYS: dict[str, st.SearchStrategy[Any]] = {
    "items": st.sampled_from(["i1", "i2", "i3", "I1", *(f"i{n}" for n in range(4, 16))]),
    "tags": st.sampled_from([1, 2, 3, "4", 5, 6, 7, 8]),
}


@pytest.fixture(scope="module")
def migrations(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return migrations_folder(tmp_path_factory.mktemp("fast-lane"), SCHEMA)


@contextmanager
def replica_pair(migrations: Path, where: Path) -> Iterator[tuple[Replica, Replica]]:
    where.mkdir(parents=True, exist_ok=True)
    fast = open_replica(where / "fast.db", migrations=migrations, peer_id="fast")
    careful = open_replica(where / "careful.db", migrations=migrations, peer_id="careful")
    careful.fast_lane = False
    try:
        yield fast, careful
    finally:
        fast.close()
        careful.close()


VALID: dict[tuple[str, str], st.SearchStrategy[Any]] = {
    ("items", "name"): st.sampled_from(["pen", "ink"]),
    ("items", "qty"): st.sampled_from([0, 1, 7]),
    ("items", "code"): st.one_of(  # rows may collide on it, now and then
        st.integers(0, 10**6).map("c{}".format), st.sampled_from(["A", "a", None])
    ),
    ("items", "price"): st.sampled_from([1.5, 2, None]),
    ("items", "note"): st.sampled_from(["x", None, ""]),
    ("tags", "label"): st.one_of(
        st.integers(0, 10**6).map("l{}".format), st.sampled_from(["red", "RED", None])
    ),
}


@st.composite
def writes(draw: st.DrawFn, count: int, *, bulk: bool = False) -> list[Op]:
    """Row writes by a few origins: new rows, rewrites, deletes, bad values, unknown columns.

    ``bulk``: only new rows with values their columns hold, as in a first sync
    (they may still collide on a UNIQUE, or with rows the receiver holds).
    """
    values = VALID if bulk else VALUES
    ops: list[Op] = []
    counters = dict.fromkeys(ORIGINS, 0)
    for _ in range(draw(st.integers(1, count)) if bulk else count):
        origin = draw(st.sampled_from(ORIGINS))
        counters[origin] += 1
        wall = BASE_WALL + draw(st.integers(0, 5)) + (10 if bulk else 0)
        hlc = f"{wall:013x}-{counters[origin]:04x}-{origin}"
        table = draw(st.sampled_from(["items", "tags"]))
        fresh = f"n{len(ops)}" if table == "items" else 100 + len(ops)
        row_id = fresh if bulk or draw(st.booleans()) else draw(KEYS[table])
        if not bulk and draw(st.integers(0, 9)) == 0:
            ops.append(Op(hlc, origin, 1, "delete", table, row_id, None, None))
            continue
        key = "item_id" if table == "items" else "tag_id"
        names = [c for t, c in values if t == table]
        chosen = draw(st.lists(st.sampled_from(names), unique=True, min_size=1))
        if table == "items" and (bulk or draw(st.booleans())):
            chosen = ["name", *(c for c in chosen if c != "name")]  # a row it can insert
        if draw(st.booleans()):
            ops.append(Op(hlc, origin, 1, "set", table, row_id, key, row_id))
        for column in chosen:
            value = draw(values[table, column])
            ops.append(Op(hlc, origin, 1, "set", table, row_id, column, value))
        if not bulk and draw(st.integers(0, 19)) == 0:
            ops.append(ops[-1])  # a duplicate op
    return ops


UNCOMPARED = {"schema_version", "_nexus_meta", "_nexus_peers", "_nexus_migration_checksums"}


def state(replica: Replica) -> dict[str, list[Any]]:
    """Every table a receive may write, typed (1 is not 1.0), ignoring insertion order."""
    conn = replica.conn
    tables = [
        name
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        if not name.startswith("sqlite_") and name not in UNCOMPARED
    ]
    found: dict[str, list[Any]] = {}
    for table in tables:
        columns = "*"
        if table == "_nexus_changes":  # seq is the order stored, not what is stored
            columns = "origin, hlc, origin_version, kind, table_name, row_id, cols"
        rows = [
            tuple(
                (type(v).__name__, json.loads(v) if isinstance(v, str) and v[:1] == "{" else v)
                for v in row
            )
            for row in conn.execute(f'SELECT {columns} FROM "{table}"')
        ]
        if table == "_nexus_rows":  # clocks in either stored form, by what they say
            rows = [  # (type, value) pairs; an object form was parsed above
                (*row[:2], read_clocks(c if isinstance(c, str) else json.dumps(c)), *row[3:])
                for row in rows
                for c in [row[2][1]]
            ]
        found[table] = sorted(rows, key=repr)
    return found


def without_times(reason: str) -> str:
    """A refusal reason without the wall-clock distance it may quote."""
    return re.sub(r"is -?\d+ ms ahead", "is N ms ahead", reason)


def receive_both(fast: Replica, careful: Replica, ops: list[Op]) -> None:
    text = encode_message(SENDER, ops, {})
    got = fast.receive(text)
    want = careful.receive(text)
    assert (got.applied, got.skipped_unknown, got.rejected, got.duplicates) == (
        want.applied,
        want.skipped_unknown,
        want.rejected,
        want.duplicates,
    )
    assert sorted(map(without_times, got.reasons)) == sorted(map(without_times, want.reasons))
    assert state(fast) == state(careful)


@given(history=writes(6), message=st.one_of(writes(25), writes(12, bulk=True)))
def test_fast_lane_leaves_the_replica_as_the_careful_path_does(
    migrations: Path, tmp_path_factory: pytest.TempPathFactory, history: list[Op], message: list[Op]
) -> None:
    with replica_pair(migrations, tmp_path_factory.mktemp("pair")) as (fast, careful):
        fast.fast_lane = False  # the history reaches both the same way
        receive_both(fast, careful, history)
        fast.fast_lane = True
        receive_both(fast, careful, message)
        event(f"rows inserted in bulk: {min(len(fast.rows('items')), 3)}+")


def new_rows(count: int, *, code: str | None = None) -> list[Op]:
    ops = []
    for i in range(count):
        hlc = f"{BASE_WALL:013x}-{i:04x}-a"
        row = f"r{i}"
        ops += [
            Op(hlc, "a", 1, "set", "items", row, "item_id", row),
            Op(hlc, "a", 1, "set", "items", row, "name", f"item {i}"),
            Op(hlc, "a", 1, "set", "items", row, "code", code or f"c{i}"),
        ]
    return ops


def take(replica: Replica, ops: list[Op]) -> tuple[int, int]:
    """(changes the fast lane took, changes it left) for a message of ``ops``.

    What it took is stored, the version vector included, as ``receive`` would.
    """
    changes = group_changes(ops)
    with replica.transaction():
        taken = take_new_rows(replica, changes, replica.oplog.version_vector())
        replica.oplog.advance_vector(taken.latest)
    return taken.changes, len(changes)


def test_fast_lane_takes_whole_new_rows(migrations: Path, tmp_path: Path) -> None:
    with replica_pair(migrations, tmp_path) as (fast, _):
        assert take(fast, new_rows(40)) == (40, 0)
        assert len(fast.rows("items")) == 40
        assert set(fast.oplog.row_states("items", ["r0", "r39", "r40"])) == {"r0", "r39"}


def test_a_refused_row_sends_its_whole_table_to_the_careful_path(
    migrations: Path, tmp_path: Path
) -> None:
    """Rows that collide on a UNIQUE: none of them stays; the careful path decides."""
    with replica_pair(migrations, tmp_path) as (fast, careful):
        assert take(fast, new_rows(3, code="same")) == (0, 3)
        assert fast.rows("items") == []
        receive_both(fast, careful, new_rows(3, code="same"))
        assert [row["code"] for row in fast.rows("items")].count("same") == 1
        assert len(fast.rows("items")) == 3  # only the colliding values were refused


def test_rows_with_a_state_or_a_second_write_are_left_alone(
    migrations: Path, tmp_path: Path
) -> None:
    with replica_pair(migrations, tmp_path) as (fast, _):
        fast.insert("items", {"item_id": "r0", "name": "local"})
        rewrite = [Op(f"{BASE_WALL:013x}-0000-b", "b", 1, "set", "items", "r1", "note", "again")]
        partial = [Op(f"{BASE_WALL:013x}-0001-b", "b", 1, "set", "items", "r2", "note", "no name")]
        assert take(fast, new_rows(2) + rewrite + partial) == (0, 4)


def test_each_table_takes_the_fast_lane_on_its_own(migrations: Path, tmp_path: Path) -> None:
    tag = Op(f"{BASE_WALL:013x}-0000-b", "b", 1, "delete", "tags", 1, None, None)
    with replica_pair(migrations, tmp_path) as (fast, _):
        assert take(fast, [*new_rows(5), tag]) == (5, 1)
        assert fast.oplog.count() == 15  # the rows' ops are stored with them
        again = fast.receive(encode_message(PeerInfo("b", 1), [*new_rows(5), tag], {}))
        assert again.duplicates == 15
    with replica_pair(migrations, tmp_path / "both") as (fast, careful):
        receive_both(fast, careful, [*new_rows(5), tag])


def test_a_clock_too_far_ahead_keeps_the_message_off_the_fast_lane(
    migrations: Path, tmp_path: Path
) -> None:
    with replica_pair(migrations, tmp_path) as (fast, careful):
        future = f"{BASE_WALL * 2:013x}-0000-z"
        ahead = [Op(future, "z", 1, "set", "items", "far", "name", "from the future")]
        assert take(fast, new_rows(2) + ahead) == (0, 3)
        receive_both(fast, careful, new_rows(2) + ahead)
        assert len(fast.rows("items")) == 2


# -- the wire decoder -------------------------------------------------------------
wire_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=5),
    st.sampled_from(["\ud800", "x\udfff"]),
    st.fixed_dictionaries({"$b64": st.sampled_from(["AAE=", "not base64", "", "////"])}),
    st.lists(st.integers(), max_size=2),
)
op_fields = st.fixed_dictionaries(
    {},
    optional={
        "hlc": st.sampled_from(
            [f"{BASE_WALL:013x}-0000-a", f"{BASE_WALL:013x}-0001-b", "bad clock", 5]
        ),
        "origin": st.sampled_from(["a", "b", "", None, "a b"]),
        "schema_version": st.sampled_from([0, 3, -1, 2**63, True, "3"]),
        "kind": st.sampled_from(["set", "delete", "SET", None]),
        "table_name": st.sampled_from(["items", "x" * 129, "", 7]),
        "column_name": st.sampled_from(["name", None, "y" * 129, 1]),
        "row_id": wire_scalars,
        "new_value": wire_scalars,
        "extra": st.just("ignored"),
    },
)


def careful_or_error(text: str) -> Message | WireError:
    try:
        return _careful_decode(text)
    except WireError as exc:
        return exc


# Well-formed ops, so the fast decoder takes about a quarter of the examples (with the
# fields above alone it took one in 28, and "fast == careful" was barely compared).
good_op_fields = st.fixed_dictionaries(
    {
        "hlc": st.sampled_from([f"{BASE_WALL:013x}-0000-a", f"{BASE_WALL:013x}-0001-a"]),
        "origin": st.just("a"),
        "schema_version": st.sampled_from([1, 3]),
        "kind": st.just("set"),
        "table_name": st.sampled_from(["items", "tags"]),
        "column_name": st.sampled_from(["name", "qty", "note"]),
        "row_id": st.one_of(st.text(max_size=3), st.integers(-5, 5)),
        "new_value": st.one_of(
            st.none(), st.integers(-(2**63), 2**63 - 1), st.floats(-1e9, 1e9), st.text(max_size=4)
        ),
    }
)


@given(
    ops=st.one_of(st.lists(good_op_fields, max_size=4), st.lists(op_fields, max_size=4)),
    mangle=st.sampled_from(["", "", "vector", "peer"]),
)
def test_the_fast_decoder_agrees_with_the_careful_one(
    ops: list[dict[str, Any]], mangle: str
) -> None:
    text = encode_wire_ops(SENDER, ops, {"a": f"{BASE_WALL:013x}-0000-a"})
    if mangle == "vector":
        text = text.replace('"version_vector":{', '"version_vector":{"bad id!":"x",')
    elif mangle == "peer":
        text = text.replace('"schema_version":1,', '"schema_version":-1,', 1)
    fast = _fast_decode(text)
    careful = careful_or_error(text)
    event("fast path" if fast is not None else "careful path")
    if isinstance(careful, WireError):
        assert fast is None
        with pytest.raises(WireError) as raised:
            decode_message(text)
        assert str(raised.value) == str(careful)
    else:
        assert decode_message(text) == careful
        assert fast is None or fast == careful


def test_the_fast_decoder_takes_a_usual_message() -> None:
    blob = Op(f"{BASE_WALL:013x}-0000-b", "b", 1, "set", "items", b"k", "note", b"\x01")
    text = encode_message(SENDER, [*new_rows(3), blob], {})
    decoded = _fast_decode(text)
    assert decoded is not None
    assert decoded == _careful_decode(text)
    assert decoded.ops[-1].row_id == b"k" and decoded.ops[-1].new_value == b"\x01"


# -- cases an adversarial review found (each once made the two paths disagree) ----
def write(table: str, row: Any, origin: str = "a", n: int = 0, **columns: Any) -> list[Op]:
    hlc = f"{BASE_WALL:013x}-{n:04x}-{origin}"
    return [Op(hlc, origin, 1, "set", table, row, column, v) for column, v in columns.items()]


TRIGGERS = """CREATE TABLE a (id TEXT PRIMARY KEY, v TEXT);
CREATE TABLE b (id TEXT PRIMARY KEY, v TEXT);
CREATE TABLE audit (what TEXT);
CREATE TRIGGER ta AFTER INSERT ON a BEGIN INSERT INTO audit VALUES ('a:' || new.id); END;
CREATE TRIGGER tb AFTER INSERT ON b BEGIN INSERT INTO audit VALUES ('b:' || new.id); END;"""
REVIEW_CASES = {
    "table spelled in another case": (
        "CREATE TABLE items (id TEXT PRIMARY KEY, name TEXT);",
        "",
        write("items", "r1", n=1, name="x") + write("ITEMS", "r2", n=2, name="y"),
    ),
    "column that is not a plain name": (
        'CREATE TABLE items (id TEXT PRIMARY KEY, "prénom" TEXT);',
        "",
        write("items", "r1", **{"prénom": "x"}),
    ),
    "table that is not a plain name": (
        'CREATE TABLE "my items" (id TEXT PRIMARY KEY, name TEXT);',
        "",
        write("my items", "r1", name="x"),
    ),
    "key op 1.0 for row 1 in an untyped key": (
        "CREATE TABLE items (id PRIMARY KEY, name TEXT);",
        "",
        write("items", 1, id=1.0, name="x") + write("items", 0, n=1, id=-0.0, name="y"),
    ),
    "key ON CONFLICT IGNORE, row written outside the engine": (
        "CREATE TABLE items (id TEXT PRIMARY KEY ON CONFLICT IGNORE, name TEXT, note TEXT);",
        "INSERT INTO items VALUES ('r1', 'local', 'keep');",
        write("items", "r1", name="remote"),
    ),
    "key ON CONFLICT REPLACE, row written outside the engine": (
        "CREATE TABLE items (id TEXT PRIMARY KEY ON CONFLICT REPLACE, name TEXT, note TEXT);",
        "INSERT INTO items VALUES ('r1', 'local', 'keep');",
        write("items", "r1", name="remote"),
    ),
    "UNIQUE ON CONFLICT REPLACE between new rows": (
        "CREATE TABLE items (id TEXT PRIMARY KEY, code TEXT UNIQUE ON CONFLICT REPLACE);",
        "",
        write("items", "r1", n=1, code="A") + write("items", "r2", n=2, code="A"),
    ),
    "tables whose triggers make their order visible": (
        TRIGGERS,
        "",
        write("b", "x", n=1, v="1") + write("b", "x", n=2, v="2") + write("a", "y", n=3, v="1"),
    ),
    "a trigger writing a table that takes the careful path": (
        TRIGGERS.replace("'a:' || new.id", "'a'")
        + "\nCREATE TRIGGER tab AFTER INSERT ON a BEGIN INSERT INTO b VALUES ('x', 't'); END;",
        "",
        write("b", "x", n=1, v="1")
        + write("b", "z", n=2, v="2")
        + write("b", "z", n=3, v="3")
        + write("a", "y", n=4, v="1"),
    ),
    "a table that falls back, then a later table (second review)": (
        TRIGGERS.replace(
            "id TEXT PRIMARY KEY, v TEXT);\nCREATE TABLE b",
            "id TEXT PRIMARY KEY, v TEXT UNIQUE);\nCREATE TABLE b",
            1,
        ),
        "",
        write("a", "x", n=1, v="K") + write("a", "y", n=2, v="K") + write("b", "z", n=3, v="1"),
    ),
}


@pytest.mark.parametrize("case", REVIEW_CASES)
def test_review_cases_give_the_same_result(tmp_path: Path, case: str) -> None:
    schema, setup, ops = REVIEW_CASES[case]
    folder = migrations_folder(tmp_path, f"-- Description: {case}\n{schema}\n")
    with replica_pair(folder, tmp_path / "replicas") as (fast, careful):
        for replica in (fast, careful):
            if setup:
                replica.conn.executescript(setup)
        receive_both(fast, careful, ops)
        for table in ("audit", "b"):
            if f"CREATE TABLE {table} " in schema:
                sql = f"SELECT * FROM {table} ORDER BY rowid"
                assert list(fast.conn.execute(sql)) == list(careful.conn.execute(sql))


def wire_text(value: str, row_id: str = '"r1"') -> str:
    return (
        '{"format":"nexus-oplog","protocol":1,'
        '"peer":{"peer_id":"s","schema_version":1,"capabilities":[]},"version_vector":{},'
        f'"ops":[{{"hlc":"{BASE_WALL:013x}-0000-a","origin":"a","schema_version":1,'
        f'"kind":"set","table_name":"items","row_id":{row_id},"column_name":"name",'
        f'"new_value":{value}}}]}}'
    )


@pytest.mark.parametrize(
    "text",
    [
        wire_text('{"\\u0024b64":"AAE="}'),
        wire_text('"x"', row_id='{"$\\u0062\\u0036\\u0034":"AAE="}'),
        wire_text('"a\\u0041"').encode().replace(b"a\\u0041", b"a\xff"),
        wire_text('"\ud800"'),
        wire_text('"x"').replace(
            '"capabilities":[]', '"capabilities":[],"x":' + "[" * 1000 + "]" * 1000
        ),
    ],
    ids=[
        "escaped-blob-key",
        "escaped-blob-row-id",
        "invalid-utf8",
        "raw-surrogate",
        "deep-nesting",
    ],
)
def test_review_messages_decode_as_the_careful_decoder_does(text: str | bytes) -> None:
    careful: Message | WireError
    try:
        careful = _careful_decode(text)
    except WireError as exc:
        careful = exc
    if isinstance(careful, WireError):
        with pytest.raises(WireError) as raised:
            decode_message(text)
        assert str(raised.value) == str(careful)
    else:
        assert decode_message(text) == careful


def test_a_trigger_that_rolls_back_refuses_its_row_alone(tmp_path: Path) -> None:
    """RAISE(ROLLBACK) ends the transaction: the message is merged again with that
    row's ops refused (the fast lane cannot say which row; the careful path can),
    and both paths end alike."""
    folder = migrations_folder(
        tmp_path,
        "-- Description: a trigger that rolls back\n"
        "CREATE TABLE a (id TEXT PRIMARY KEY, v TEXT);\n"
        "CREATE TRIGGER t BEFORE INSERT ON a WHEN new.v = 'bad'"
        " BEGIN SELECT RAISE(ROLLBACK, 'no'); END;\n",
    )
    text = encode_message(SENDER, write("a", "x", n=1, v="ok") + write("a", "y", n=2, v="bad"), {})
    with replica_pair(folder, tmp_path / "replicas") as (fast, careful):
        for replica in (fast, careful):
            result = replica.receive(text)
            assert (result.applied, result.rejected) == (1, 1)
            assert [row["id"] for row in replica.rows("a")] == ["x"]
        assert state(fast) == state(careful)


def test_a_blob_default_is_captured_as_a_blob(tmp_path: Path) -> None:
    folder = migrations_folder(
        tmp_path,
        "-- Description: a TEXT column whose default is a blob\n"
        "CREATE TABLE t (id TEXT PRIMARY KEY, s TEXT DEFAULT x'0102', x TEXT);\n",
    )
    replica = open_replica(tmp_path / "r.db", migrations=folder, peer_id="p")
    try:
        replica.insert("t", {"id": "a", "x": "q"})
        assert replica.rows("t")[0]["s"] == b"\x01\x02"
        sent = {op.column_name: op.new_value for op in decode_message(replica.export_changes()).ops}
        assert sent["s"] == b"\x01\x02"
    finally:
        replica.close()


# -- many tables, triggers, an upgrade and forwarding (from the second review) ------
V1 = """-- Description: two tables with triggers, a partial expression UNIQUE, a view
CREATE TABLE a (id TEXT PRIMARY KEY, v TEXT, n NUMERIC, req TEXT NOT NULL, u TEXT UNIQUE);
CREATE TABLE b (id INTEGER PRIMARY KEY, v TEXT, r REAL, k TEXT);
CREATE UNIQUE INDEX bk ON b(lower(k)) WHERE k <> 'dup';
CREATE TABLE audit (what TEXT);
CREATE TRIGGER a_skip BEFORE INSERT ON a WHEN new.v = 'skip' BEGIN SELECT RAISE(IGNORE); END;
CREATE TRIGGER a_abort BEFORE INSERT ON a WHEN new.v = 'abort'
BEGIN SELECT RAISE(ABORT, 'no'); END;
CREATE TRIGGER a_ins AFTER INSERT ON a
BEGIN INSERT INTO audit VALUES ('a:' || new.id || ':' || coalesce(new.v, '-')); END;
CREATE TRIGGER a_del AFTER INSERT ON a WHEN new.v = 'del'
BEGIN DELETE FROM a WHERE id <> new.id AND v = 'x'; END;
CREATE TRIGGER a_upd AFTER INSERT ON a WHEN new.v = 'upd'
BEGIN UPDATE a SET n = coalesce(n, 0) + 1 WHERE id <> new.id; END;
CREATE TRIGGER b_ins AFTER INSERT ON b
BEGIN INSERT INTO audit VALUES ('b:' || new.id || ':' || coalesce(new.v, '-')); END;
CREATE TRIGGER a_upd_b AFTER UPDATE ON a BEGIN INSERT INTO audit VALUES ('upd a:' || new.id); END;
CREATE VIEW va AS SELECT a.id, b.v FROM a JOIN b ON a.v = b.v;
"""
V2 = """-- Description: a new column and a new table with a trigger
ALTER TABLE a ADD COLUMN extra TEXT;
CREATE TABLE c (id TEXT PRIMARY KEY, v TEXT);
CREATE TRIGGER c_ins AFTER INSERT ON c BEGIN INSERT INTO audit VALUES ('c:' || new.id); END;
"""
MANY_KEYS: dict[str, list[Any]] = {
    "a": ["x", "y", "z", "w", "X"],
    "b": [1, 2, 3, 4],
    "c": ["p", "q"],
    "A": ["x", "y"],  # table a, spelled otherwise
    "ghost": ["g"],  # a table no version has
}
MANY_COLUMNS = {
    "a": ["v", "n", "req", "u", "extra"],
    "b": ["v", "r", "k"],
    "c": ["v"],
    "A": ["v", "req"],
    "ghost": ["v"],
}
MANY_VALUES: dict[str, list[Any]] = {
    "v": ["x", "skip", "abort", "del", "upd", None, "k", 3],
    "n": [1, "2", 2.0, "abc", None],
    "req": ["r", None],
    "u": ["U1", "U2", None],
    "extra": ["e", None],
    "r": [1, 1.5, None, "s"],
    "k": ["k", "K", "dup", None],
}


@st.composite
def messages(draw: st.DrawFn) -> list[list[Op]]:
    """One to three messages of writes to every kind of table, from three origins."""
    counter = iter(range(1, 10_000))
    found = []
    for _ in range(draw(st.integers(1, 3))):
        ops: list[Op] = []
        for _ in range(draw(st.integers(1, 7))):
            origin = draw(st.sampled_from(["o1", "o2", "o3"]))
            hlc = f"{BASE_WALL + draw(st.integers(0, 3)):013x}-{next(counter):04x}-{origin}"
            table = draw(st.sampled_from(["a", "a", "b", "b", "c", "A", "ghost"]))
            row = draw(st.sampled_from(MANY_KEYS[table]))
            version = draw(st.sampled_from([1, 2]))
            if draw(st.integers(0, 10)) == 0:
                ops.append(Op(hlc, origin, version, "delete", table, row, None, None))
                continue
            chosen = draw(st.lists(st.sampled_from(MANY_COLUMNS[table]), unique=True))
            if table in ("a", "A") and "req" not in chosen and draw(st.integers(0, 3)):
                chosen.append("req")
            if draw(st.booleans()) or not chosen:
                ops.append(Op(hlc, origin, version, "set", table, row, "id", row))
            for column in chosen:
                value = draw(st.sampled_from(MANY_VALUES.get(column, ["v"])))
                ops.append(Op(hlc, origin, version, "set", table, row, column, value))
        found.append(ops)
    return found


def full_state(replica: Replica) -> dict[str, list[Any]]:
    found = state(replica)
    found["audit order"] = list(replica.conn.execute("SELECT rowid, what FROM audit"))
    return found


def outcome(replica: Replica, text: str) -> tuple[Any, ...]:
    try:
        got = replica.receive(text)
    except SyncError as exc:
        return ("refused", re.sub(r"\d{13}", "", str(exc)))
    reasons = sorted(map(without_times, got.reasons))
    return (got.applied, got.skipped_unknown, got.rejected, got.duplicates, reasons)


@given(sent=messages(), upgrade_at=st.integers(0, 3))
def test_fast_lane_agrees_through_triggers_upgrades_and_forwarding(
    tmp_path_factory: pytest.TempPathFactory, sent: list[list[Op]], upgrade_at: int
) -> None:
    root = tmp_path_factory.mktemp("many")
    folder = migrations_folder(root, V1, V2)
    sender = PeerInfo("sender", 2)

    def pair(where: str, version: int | None) -> tuple[Replica, Replica]:
        fast = open_replica(
            root / f"{where}-fast.db",
            migrations=folder,
            peer_id=f"{where}f",
            target_version=version,
        )
        careful = open_replica(
            root / f"{where}-careful.db",
            migrations=folder,
            peer_id=f"{where}c",
            target_version=version,
        )
        careful.fast_lane = False
        return fast, careful

    fast, careful = pair("r", 1)
    try:
        for number, ops in enumerate(sent):
            if number == upgrade_at:
                fast.upgrade()
                careful.upgrade()
                assert full_state(fast) == full_state(careful), "after the upgrade"
            text = encode_message(sender, ops, {})
            assert outcome(fast, text) == outcome(careful, text), f"message {number}"
            assert full_state(fast) == full_state(careful), f"after message {number}"
        fast.upgrade()
        careful.upgrade()
        assert full_state(fast) == full_state(careful), "after the last upgrade"
        forwarded = [decode_message(r.export_changes()).ops for r in (fast, careful)]
        assert sorted(map(repr, forwarded[0])) == sorted(map(repr, forwarded[1]))
        next_fast, next_careful = pair("next", None)
        try:
            assert outcome(next_fast, fast.export_changes()) == outcome(
                next_careful, careful.export_changes()
            )
            assert full_state(next_fast) == full_state(next_careful), "forwarded"
        finally:
            next_fast.close()
            next_careful.close()
    finally:
        fast.close()
        careful.close()
