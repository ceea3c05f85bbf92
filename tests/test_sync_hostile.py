"""``receive`` never trusts a message: fuzzing, whole-message refusals, per-op refusals."""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from nexus_core import PeerInfo, Replica, open_replica, sync
from nexus_core.errors import NexusError, WireError
from nexus_core.hlc import Timestamp
from nexus_core.wire import MAX_TEXT, Op, encode_message, quote_identifier

PROJECT_MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
SCORES = """-- Description: a table with a CHECK constraint, for hostile values
CREATE TABLE scores (
    score_id INTEGER PRIMARY KEY,
    points   INTEGER NOT NULL DEFAULT 0 CHECK (points >= 0),
    ratio    REAL,
    label    TEXT
);
"""
LOGGER = "nexus_core.sync"
PER_OP_SENDER = PeerInfo("send", 6)
HOSTILE_TABLES = [
    "tasks; DROP TABLE lists",
    "schema_version",
    "Schema_Version",
    "_nexus_oplog",
    "_NEXUS_CELLS",
    "_nexus_migration_checksums",
    "sqlite_master",
    "sqlite_sequence",
    "SQLITE_SCHEMA",
    "tasks\n",
    "tasks--",
    '"tasks"',
    "",
    "t" * 129,
]
HOSTILE_COLUMNS = [
    "content; DROP TABLE lists",
    "content = 'x' --",
    'content"',
    "content\n",
    "1content",
    "",
    "rowid",
]


@pytest.fixture(scope="module")
def migrations_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("hostile_migrations")
    for path in sorted(PROJECT_MIGRATIONS.glob("*.sql")):
        shutil.copy(path, directory / path.name)
    (directory / "006_scores.sql").write_text(SCORES, encoding="utf-8")
    return directory


@pytest.fixture
def peers(tmp_path: Path, migrations_dir: Path) -> Iterator[tuple[Replica, Replica, str]]:
    """A receiver holding data, a sender at the same schema, and the sender's message."""
    receiver = open_replica(tmp_path / "receiver.db", migrations=migrations_dir, peer_id="recv")
    sender = open_replica(tmp_path / "sender.db", migrations=migrations_dir, peer_id="send")
    lid = receiver.insert("lists", {"list_id": "L1", "name": "Home"})
    receiver.insert("tasks", {"task_id": "T1", "list_id": lid, "content": "Buy milk"})
    receiver.insert("scores", {"score_id": 1, "points": 3, "ratio": 0.5, "label": "one"})
    sender.receive(receiver.export_changes())
    sender.update("tasks", "T1", {"priority": 2, "content": "Buy oat milk"})
    sender.insert("scores", {"score_id": 2, "points": 4})
    sender.insert("tasks", {"task_id": "T2", "list_id": lid, "content": "Call"})
    sender.delete("scores", 1)
    yield receiver, sender, sender.export_changes(peer=receiver.peer_id)
    receiver.close()
    sender.close()


def checksum(replica: Replica, *, skip: tuple[str, ...] = ()) -> str:
    """SHA-256 over every table's rows (``_nexus_*`` and ``sqlite_master`` included).

    Each row is serialised by SQL's ``quote()``, so types count (1 and '1' differ).
    """
    conn = replica.conn
    digest = hashlib.sha256()
    names = [
        row[0]
        for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
    ]
    for name in ["sqlite_master", *names]:
        if name in skip:
            continue
        table = quote_identifier(name)
        cols = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
        row_text = " || char(31) || ".join(f"quote({quote_identifier(c)})" for c in cols)
        count, body = conn.execute(
            f"SELECT count(*), group_concat(r, char(30)) FROM"
            f" (SELECT {row_text} AS r FROM {table} ORDER BY r)"
        ).fetchone()
        digest.update(f"{name}:{count}:{body}\n".encode())
    return digest.hexdigest()


def app_checksum(replica: Replica) -> str:
    """Every table except the peers table, whose last_seen a received message updates."""
    return checksum(replica, skip=("_nexus_peers",))


def app_tables_checksum(replica: Replica) -> str:
    """The app's own tables and the schema: what a refused op must never change."""
    internal = [
        row[0]
        for row in replica.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        if row[0].startswith("_nexus_")
    ]
    return checksum(replica, skip=tuple(internal))


def receive_checked(receiver: Replica, text: str | bytes) -> None:
    """Receive ``text``; only NexusError may escape, and then nothing may change."""
    before = checksum(receiver)
    try:
        result = receiver.receive(text)
    except NexusError as exc:
        event(f"refused whole: {type(exc).__name__}")
        assert checksum(receiver) == before, "a refused message changed the database"
        return
    event("accepted" + (" with per-op refusals" if result.rejected else ""))
    assert result.received == (
        result.applied + result.skipped_unknown + result.rejected + result.duplicates
    )


# --- strategies ---------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
hostile_values = st.one_of(
    json_values,
    st.sampled_from(
        [
            "x" * 100_000,
            2**63 - 1,
            -(2**63),
            1e308,
            -0.0,
            "high",
            {"$b64": "AAEC"},
            {"$b64": "not base64!"},
            "'; DROP TABLE tasks; --",
            "\x00",
        ]
    ),
)


def far_future_clock(origin: str) -> str:
    return str(Timestamp(int(time.time() * 1000) + 10 * 24 * 3600 * 1000, 0, origin))


def mutate(payload: dict[str, Any], data: st.DataObject, receiver_id: str) -> dict[str, Any]:
    """Apply a few random, targeted corruptions to a valid message."""
    payload = copy.deepcopy(payload)
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        ops = payload.get("ops")
        op = data.draw(st.sampled_from(ops), label="op") if isinstance(ops, list) and ops else None
        kind = data.draw(
            st.sampled_from(
                [
                    "drop top",
                    "retype top",
                    "drop op field",
                    "retype op field",
                    "table",
                    "column",
                    "value",
                    "row_id",
                    "future clock",
                    "from receiver",
                    "kind",
                    "version",
                    "duplicate op",
                ]
            ),
            label="mutation",
        )
        if kind == "drop top" and payload:
            payload.pop(data.draw(st.sampled_from(sorted(payload))), None)
        elif kind == "retype top" and payload:
            payload[data.draw(st.sampled_from(sorted(payload)))] = data.draw(json_values)
        elif kind == "from receiver" and isinstance(payload.get("peer"), dict):
            payload["peer"]["peer_id"] = receiver_id
        elif not isinstance(op, dict):
            continue
        elif kind == "drop op field" and op:
            op.pop(data.draw(st.sampled_from(sorted(op))), None)
        elif kind == "retype op field" and op:
            op[data.draw(st.sampled_from(sorted(op)))] = data.draw(json_values)
        elif kind == "table":
            op["table_name"] = data.draw(
                st.sampled_from([*HOSTILE_TABLES, "scores", "lists", "comments"])
            )
        elif kind == "column":
            op["column_name"] = data.draw(
                st.sampled_from([*HOSTILE_COLUMNS, "points", "priority", None])
            )
        elif kind == "value":
            op["new_value"] = data.draw(hostile_values)
        elif kind == "row_id":
            op["row_id"] = data.draw(hostile_values)
        elif kind == "future clock" and isinstance(op.get("origin"), str):
            try:
                op["hlc"] = far_future_clock(op["origin"])
            except NexusError:
                continue
        elif kind == "kind":
            op["kind"] = data.draw(st.sampled_from(["delete", "set", "drop", "DELETE"]))
        elif kind == "version":
            op["schema_version"] = data.draw(st.sampled_from([-1, 0, 99, 2**63, 2**70]))
        elif kind == "duplicate op" and isinstance(ops, list):
            ops.append(copy.deepcopy(op))
    return payload


# --- fuzzing ------------------------------------------------------------------------


@settings(max_examples=min(settings().max_examples, 60))
@given(value=json_values)
def test_random_json_is_refused_whole(peers: tuple[Replica, Replica, str], value: Any) -> None:
    receiver, _, _ = peers
    before = checksum(receiver)
    with pytest.raises(NexusError):
        receiver.receive(json.dumps(value))
    assert checksum(receiver) == before


@settings(max_examples=min(settings().max_examples, 60))
@given(text=st.one_of(st.text(max_size=200), st.binary(max_size=200)))
def test_random_text_never_escapes_as_a_bare_error(
    peers: tuple[Replica, Replica, str], text: str | bytes
) -> None:
    receive_checked(peers[0], text)


@given(data=st.data())
def test_mutated_messages(peers: tuple[Replica, Replica, str], data: st.DataObject) -> None:
    receiver, _, message = peers
    payload = mutate(json.loads(message), data, receiver.peer_id)
    receive_checked(receiver, json.dumps(payload))


def test_valid_message_is_accepted(peers: tuple[Replica, Replica, str]) -> None:
    receiver, sender, message = peers
    result = receiver.receive(message)
    assert result.rejected == 0 and result.skipped_unknown == 0 and result.applied > 0
    for table in ("lists", "tasks", "scores"):
        assert receiver.rows(table) == sender.rows(table)


# --- refused as a whole -------------------------------------------------------------


def whole_refusals(message: str, receiver_id: str) -> dict[str, str]:
    payload = json.loads(message)

    def changed(path: list[Any], value: Any) -> str:
        copied = copy.deepcopy(payload)
        target = copied
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        return json.dumps(copied)

    nan = json.dumps(payload).replace('"Buy oat milk"', "NaN")
    assert "NaN" in nan
    return {
        "from the receiver itself": changed(["peer", "peer_id"], receiver_id),
        "NaN value": nan,
        "int beyond 64 bits": changed(["ops", 1, "new_value"], 2**64),
        "text beyond the limit": changed(["ops", 1, "new_value"], "x" * (MAX_TEXT + 1)),
        "last op is junk": changed(["ops", len(payload["ops"]) - 1], "junk"),
        "last op lacks a row id": changed(["ops", len(payload["ops"]) - 1, "row_id"], None),
        "clock of another origin": changed(["ops", 0, "origin"], "someone_else"),
        "bad version vector": changed(["version_vector"], {"send": "later"}),
        "not an object": "[1, 2, 3]",
        "truncated": message[: len(message) // 2],
        "wrong protocol": changed(["protocol"], 99),
        "lone surrogate": changed(["ops", 1, "new_value"], "\ud800"),
    }


def test_whole_message_refusals_change_nothing(peers: tuple[Replica, Replica, str]) -> None:
    receiver, _, message = peers
    before = checksum(receiver)
    for name, text in whole_refusals(message, receiver.peer_id).items():
        with pytest.raises(NexusError):
            receiver.receive(text)
        assert checksum(receiver) == before, name
    assert receiver.stats["applied"] == receiver.stats["rejected"] == 0


def test_message_from_the_receiver_itself_is_refused_whole(
    peers: tuple[Replica, Replica, str],
) -> None:
    """A WireError, as SYNC.md says of whole-message refusals (it was a plain
    SyncError: review BV-3); nothing changes."""
    receiver, _, _ = peers
    before = checksum(receiver)
    with pytest.raises(WireError, match="this replica"):
        receiver.receive(receiver.export_changes())
    assert checksum(receiver) == before


def test_wire_errors_are_refused_before_the_database(peers: tuple[Replica, Replica, str]) -> None:
    receiver, _, _ = peers
    with pytest.raises(WireError):
        receiver.receive("{")


# --- refused per op -----------------------------------------------------------------


def op(table: str, row_id: Any, column: str | None, value: Any, kind: str = "set") -> Op:
    """An op from peer ``send`` whose clock (two minutes ahead, inside the drift limit)
    beats the receiver's local writes, so only the refusal can stop it."""
    hlc = str(Timestamp(int(time.time() * 1000) + 120_000, 0, "send"))
    return Op(hlc, "send", 6, kind, table, row_id, column, value)


PER_OP = {
    "internal table schema_version": (
        op("schema_version", 1, "description", "pwned"),
        "internal",
    ),
    "internal table oplog": (op("_nexus_oplog", "x", "kind", "set"), "internal"),
    "internal table checksums": (
        op("_nexus_migration_checksums", 1, "checksum", "x"),
        "internal",
    ),
    "sqlite_master": (op("sqlite_master", 1, "sql", "DROP TABLE tasks"), "internal"),
    "delete from an internal table": (op("schema_version", 1, None, None, "delete"), "internal"),
    "SQL in the table name": (
        op("tasks; DROP TABLE lists", "T1", "content", "x"),
        "not a plain identifier",
    ),
    "SQL in the column name": (
        op("tasks", "T1", "content = 'x'; DROP TABLE lists; --", "x"),
        "not a plain identifier",
    ),
    "text for an INTEGER column": (op("tasks", "T1", "priority", "high"), "needs an integer"),
    "float for an INTEGER column": (op("scores", 1, "points", 2.5), "needs an integer"),
    "integer for a TEXT column": (op("tasks", "T1", "content", 5), "needs text"),
    "blob for a TEXT column": (op("tasks", "T1", "content", b"\x00"), "needs text"),
    "text for a REAL column": (op("scores", 1, "ratio", "half"), "needs a number"),
    "NULL for a NOT NULL column": (op("tasks", "T1", "content", None), "NOT NULL"),
    "integer row id for a TEXT key": (op("tasks", 1, "content", "x"), "row_id"),
    "text row id for an INTEGER key": (op("scores", "1", "label", "x"), "row_id"),
    "a delete naming a column": (op("tasks", "T1", "content", None, "delete"), "must not name"),
    "a key op for another row": (op("tasks", "T1", "task_id", "T9"), "own row id"),
    "CHECK violation": (op("scores", 1, "points", -1), "CHECK constraint failed"),
    "clock far in the future": (
        Op(far_future_clock("send"), "send", 6, "set", "tasks", "T1", "content", "future"),
        "ahead",
    ),
}


# Refusals of a value (its table and column are fine here): kept, never applied.
VALUE_REFUSALS = {
    "text for an INTEGER column",
    "float for an INTEGER column",
    "integer for a TEXT column",
    "blob for a TEXT column",
    "text for a REAL column",
    "NULL for a NOT NULL column",
    "integer row id for a TEXT key",
    "text row id for an INTEGER key",
    "CHECK violation",
}  # (a key op for another row from a writer at this version is malformed: dropped; from
# another version, whose key may be another column, it is kept: test_sync_versions)


@pytest.mark.parametrize(("bad", "reason"), PER_OP.values(), ids=PER_OP.keys())
def test_per_op_refusal(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    migrations_dir: Path,
    caplog: pytest.LogCaptureFixture,
    bad: Op,
    reason: str,
) -> None:
    if reason != "ahead":  # clocks are made at collection: two minutes ahead of now, again
        bad = msgspec.structs.replace(bad, hlc=op("x", 1, None, None).hlc)
    receiver = open_replica(tmp_path / "receiver.db", migrations=migrations_dir, peer_id="recv")
    lid = receiver.insert("lists", {"list_id": "L1", "name": "Home"})
    receiver.insert("tasks", {"task_id": "T1", "list_id": lid, "content": "Buy milk"})
    receiver.insert("scores", {"score_id": 1, "points": 3})
    sender = PER_OP_SENDER
    before = app_tables_checksum(receiver)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        result = receiver.receive(encode_message(sender, [bad], {}))
    assert (result.rejected, result.applied, result.skipped_unknown) == (1, 0, 0)
    assert receiver.stats["rejected"] == 1
    warnings = [
        r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING
    ]
    assert any(reason in text for text in warnings), warnings
    assert app_tables_checksum(receiver) == before
    # A value this schema cannot hold is kept (parked, never applied) so it is
    # forwarded and retried after an upgrade; bad names and clocks are dropped.
    kept = [(op.hlc, op.column_name) for op in receiver.oplog.parked_ops()]
    if request.node.callspec.id in VALUE_REFUSALS:
        assert kept == [(bad.hlc, bad.column_name)]
    else:
        assert kept == []
    assert receiver.receive(encode_message(sender, [bad], {})).rejected == int(not kept)
    assert len(receiver.schema.tables) == 4  # lists, tasks, comments, scores: nothing dropped
    receiver.close()


def test_per_op_refusal_keeps_the_good_ops(
    peers: tuple[Replica, Replica, str], caplog: pytest.LogCaptureFixture
) -> None:
    receiver, sender, message = peers
    payload = json.loads(message)
    # Row 2 arrives in this very message with points 4; the refused op is newer
    # and would win, so the receiver must fall back to the good value.
    check_violation = op("scores", 2, "points", -1)
    payload["ops"].insert(0, check_violation.to_json())
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        result = receiver.receive(json.dumps(payload))
    assert result.rejected == 1 and result.applied == len(payload["ops"]) - 1
    for table in ("lists", "tasks", "scores"):
        assert receiver.rows(table) == sender.rows(table)
    assert [r["points"] for r in receiver.rows("scores") if r["score_id"] == 2] == [4]


def test_an_op_on_a_row_deleted_in_the_same_message_is_moot(
    peers: tuple[Replica, Replica, str],
) -> None:
    """A delete is final: a value for that row is kept but never written, whatever it is."""
    receiver, sender, message = peers
    payload = json.loads(message)
    payload["ops"].insert(0, op("scores", 1, "points", -1).to_json())
    result = receiver.receive(json.dumps(payload))
    assert result.rejected == 0
    assert receiver.rows("scores") == sender.rows("scores")


def test_a_change_arriving_in_two_parts_keeps_its_null(tmp_path: Path) -> None:
    """A NULL op that completes a change already held is stored and forwarded."""
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "001_i.sql").write_text(
        "CREATE TABLE items (id TEXT PRIMARY KEY, name TEXT, qty INTEGER DEFAULT 0);"
    )
    a = open_replica(tmp_path / "a.db", migrations=folder, peer_id="pa")
    a.insert("items", {"id": "r", "name": "x"})
    a.update("items", "r", {"name": "y", "qty": None})
    message = json.loads(a.export_changes())
    last = message["ops"][-1]["hlc"]
    qty = [o for o in message["ops"] if o["hlc"] == last and o["column_name"] == "qty"]
    rest = [o for o in message["ops"] if o not in qty]
    b = open_replica(tmp_path / "b.db", migrations=folder, peer_id="pb")
    c = open_replica(tmp_path / "c.db", migrations=folder, peer_id="pc")
    b.receive(json.dumps(dict(message, ops=rest)))
    b.receive(json.dumps(dict(message, ops=qty)))
    sync(b, c)
    assert a.rows("items") == b.rows("items") == c.rows("items")
    assert c.rows("items")[0]["qty"] is None


def test_a_change_setting_one_column_twice_in_two_spellings_is_refused(
    peers: tuple[Replica, Replica, str],
) -> None:
    """'content' and 'CONTENT' are one column: which value won would depend on the order
    a replica reads them in (a relay replays what it parked sorted), so neither applies."""
    receiver, _, _ = peers
    before = app_tables_checksum(receiver)
    lower = op("tasks", "T1", "content", "lower")
    upper = msgspec.structs.replace(lower, column_name="CONTENT", new_value="upper")
    result = receiver.receive(encode_message(PER_OP_SENDER, [lower, upper], {}))
    assert (result.rejected, result.applied) == (2, 0)
    assert app_tables_checksum(receiver) == before
    assert receiver.oplog.parked_ops() == []
    # Held once in one spelling, the other spelling of the same clock and value is a
    # duplicate; with another value it is refused.
    assert receiver.receive(encode_message(PER_OP_SENDER, [lower], {})).applied == 1
    same = msgspec.structs.replace(lower, column_name="CONTENT")
    again = receiver.receive(encode_message(PER_OP_SENDER, [same], {}))
    assert (again.applied, again.duplicates, again.rejected) == (0, 1, 0)
    other = receiver.receive(encode_message(PER_OP_SENDER, [upper], {}))
    assert (other.applied, other.duplicates, other.rejected) == (0, 0, 1)
    assert [t["content"] for t in receiver.rows("tasks") if t["task_id"] == "T1"] == ["lower"]


@pytest.mark.parametrize("other", ["two", 1, 1.0, b"one", None, "One"], ids=repr)
def test_copies_of_one_op_with_other_values_are_refused(
    peers: tuple[Replica, Replica, str], other: Any
) -> None:
    """One clock, one column, two values: the copy a replica met first would stay
    there for good (neither side re-sends a clock it holds), so replicas split."""
    receiver, _, _ = peers
    first = op("tasks", "T1", "content", "one")
    second = msgspec.structs.replace(first, new_value=other)
    before = app_tables_checksum(receiver)
    result = receiver.receive(encode_message(PER_OP_SENDER, [first, second], {}))
    assert (result.applied, result.rejected) == (0, 2)
    assert app_tables_checksum(receiver) == before
    # Held, then a later message sends the clock again with another value.
    assert receiver.receive(encode_message(PER_OP_SENDER, [first], {})).applied == 1
    again = receiver.receive(encode_message(PER_OP_SENDER, [second], {}))
    assert (again.applied, again.rejected, again.duplicates) == (0, 1, 0)
    assert receiver.receive(encode_message(PER_OP_SENDER, [first], {})).duplicates == 1
    assert [t["content"] for t in receiver.rows("tasks") if t["task_id"] == "T1"] == ["one"]


def test_exact_copies_of_one_op_are_duplicates(peers: tuple[Replica, Replica, str]) -> None:
    """Also 1.0 sent again as 1: one number (an encoder may drop the .0)."""
    receiver, _, _ = peers
    first = op("scores", 1, "ratio", 1.0)
    plain = msgspec.structs.replace(first, new_value=1)
    result = receiver.receive(encode_message(PER_OP_SENDER, [first, plain], {}))
    assert (result.applied, result.rejected, result.duplicates) == (1, 0, 1)
    again = receiver.receive(encode_message(PER_OP_SENDER, [plain], {}))
    assert (again.applied, again.rejected, again.duplicates) == (0, 0, 1)
