"""The wire format: round trips, values, and structural refusals (WireError)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nexus_core.errors import NexusError, WireError
from nexus_core.hlc import MAX_COUNTER, MAX_WALL_MS, Timestamp
from nexus_core.wire import (
    FORMAT,
    PROTOCOL,
    Op,
    PeerInfo,
    Value,
    decode_message,
    encode_message,
    is_plain_name,
    quote_identifier,
)

PEER = PeerInfo("sender", 3)
CLOCK = "0018bcfe56800-0000-sender"


def values() -> st.SearchStrategy[Value]:
    return st.one_of(
        st.none(),
        st.integers(-(2**63), 2**63 - 1),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(st.characters(exclude_categories=["Cs"]), max_size=30),
        st.binary(max_size=30),
    )


def ops() -> st.SearchStrategy[Op]:
    peers = st.text("abcz09-_", min_size=1, max_size=8)

    def build(wall: int, counter: int, peer: str, kind: str, row: Value, value: Value) -> Op:
        hlc = str(Timestamp(wall, counter, peer))
        column = None if kind == "delete" else "col"
        return Op(hlc, peer, 2, kind, "tasks", row, column, None if kind == "delete" else value)

    return st.builds(
        build,
        st.integers(0, MAX_WALL_MS),
        st.integers(0, MAX_COUNTER),
        peers,
        st.sampled_from(["set", "delete"]),
        st.one_of(st.integers(-(2**63), 2**63 - 1), st.text(max_size=20), st.binary(max_size=8)),
        values(),
    )


def message(**changes: Any) -> dict[str, Any]:
    """A valid message as a dict, with top-level fields replaced by ``changes``."""
    op = {
        "hlc": CLOCK,
        "origin": "sender",
        "schema_version": 3,
        "kind": "set",
        "table_name": "tasks",
        "row_id": "t1",
        "column_name": "content",
        "new_value": "x",
    }
    payload: dict[str, Any] = {
        "format": FORMAT,
        "protocol": PROTOCOL,
        "peer": PEER.to_json(),
        "version_vector": {"sender": CLOCK},
        "ops": [op],
    }
    payload.update(changes)
    return payload


def with_op(**changes: Any) -> dict[str, Any]:
    payload = message()
    payload["ops"][0].update(changes)
    return payload


def without(key: str, **changes: Any) -> dict[str, Any]:
    """A message whose op leaves ``key`` out (beside a valid op, so the message is large
    enough to look usual)."""
    payload = with_op(**changes)
    del payload["ops"][0][key]
    payload["ops"].append({**message()["ops"][0], "column_name": "title"})
    return payload


def raw_value(literal: str) -> str:
    """A message whose new_value is the JSON literal ``literal``, spliced in as text."""
    text = json.dumps(with_op(new_value="@@"))
    assert '"@@"' in text
    return text.replace('"@@"', literal)


@given(st.lists(ops(), max_size=8))
def test_round_trip(op_list: list[Op]) -> None:
    vector = {op.origin: op.hlc for op in op_list}
    decoded = decode_message(encode_message(PEER, op_list, vector))
    assert decoded.peer == PEER
    assert decoded.ops == op_list
    assert decoded.version_vector == vector


def test_blob_travels_as_base64() -> None:
    op = Op(CLOCK, "sender", 1, "set", "files", b"\x00key", "data", b"\xff\x00")
    text = encode_message(PEER, [op], {})
    raw = json.loads(text)["ops"][0]
    assert raw["new_value"] == {"$b64": "/wA="}
    assert decode_message(text).ops == [op]


def test_valid_message_decodes() -> None:
    decoded = decode_message(json.dumps(message()))
    assert decoded.ops[0].new_value == "x"
    assert decode_message(json.dumps(message()).encode()).peer == PEER


STRUCTURAL = {
    "not json": "{",
    "a list": "[]",
    "NaN": json.dumps(with_op(new_value=float("nan"))),
    "Infinity": '{"format": "nexus-oplog", "protocol": 1, "x": Infinity}',
    "overflowing float": raw_value("1e999"),
    "wrong format": json.dumps(message(format="other")),
    "wrong protocol": json.dumps(message(protocol=2)),
    "protocol true": json.dumps(message(protocol=True)),
    "protocol 1.0": json.dumps(message(protocol=1.0)),
    "protocol text": json.dumps(message(protocol="1")),
    "capability lone surrogate": json.dumps(
        message(peer={**PEER.to_json(), "capabilities": ["relay", "\ud800"]})
    ),
    "no peer": json.dumps({k: v for k, v in message().items() if k != "peer"}),
    "no ops": json.dumps({k: v for k, v in message().items() if k != "ops"}),
    "ops not a list": json.dumps(message(ops={"0": 1})),
    "peer id with space": json.dumps(message(peer={**PEER.to_json(), "peer_id": "a b"})),
    "peer id with newline": json.dumps(message(peer={**PEER.to_json(), "peer_id": "sender\n"})),
    "negative version": json.dumps(message(peer={**PEER.to_json(), "schema_version": -1})),
    "bool version": json.dumps(message(peer={**PEER.to_json(), "schema_version": True})),
    "capabilities not list": json.dumps(message(peer={**PEER.to_json(), "capabilities": "x"})),
    "vector not object": json.dumps(message(version_vector=[])),
    "vector bad clock": json.dumps(message(version_vector={"sender": "yesterday"})),
    "op not object": json.dumps(message(ops=[1])),
    "bad hlc": json.dumps(with_op(hlc="0018bcfe56800-0000-sender\n")),
    "hlc not origin": json.dumps(with_op(origin="other")),
    "unknown kind": json.dumps(with_op(kind="drop")),
    "set without column": json.dumps(with_op(column_name=None)),
    "column not string": json.dumps(with_op(column_name=5)),
    "table not string": json.dumps(with_op(table_name=None)),
    "table too long": json.dumps(with_op(table_name="t" * 500)),
    "row_id null": json.dumps(with_op(row_id=None)),
    "row_id float": json.dumps(with_op(row_id=1.5)),
    "row_id huge text": json.dumps(with_op(row_id="r" * 5000)),
    "value object": json.dumps(with_op(new_value={"a": 1})),
    "value list": json.dumps(with_op(new_value=[1])),
    "value bool": json.dumps(with_op(new_value=True)),
    "value int64 overflow": json.dumps(with_op(new_value=2**63)),
    "value bad base64": json.dumps(with_op(new_value={"$b64": "!!"})),
    "value lone surrogate": json.dumps(with_op(new_value="\ud800")),
    "op version huge": json.dumps(with_op(schema_version=2**70)),
    "op version negative": json.dumps(with_op(schema_version=-3)),
    "op version text": json.dumps(with_op(schema_version="3")),
    # Review BV-5: every op names both (null on a delete); a left-out value is not null.
    "set without new_value": json.dumps(without("new_value")),
    "set without new_value, beside a value spelled like the key": json.dumps(
        without("new_value") | {"x": ['"new_value":', "new_value"]}
    ),
    "set without column_name": json.dumps(without("column_name")),
    # Review BAS-1: the key named elsewhere (an unknown field, another op twice).
    "set without new_value, the key in an unknown field": json.dumps(
        without("new_value") | {"extra": {"new_value": 1}}
    ),
    "set without new_value, another op naming it twice": json.dumps(without("new_value")).replace(
        '"new_value": "x"', '"new_value": "x", "new_value": "x"'
    ),
    "delete without new_value": json.dumps(without("new_value", kind="delete", column_name=None)),
    "delete without column_name": json.dumps(without("column_name", kind="delete", new_value=None)),
    "delete carrying a value": json.dumps(with_op(kind="delete", column_name=None, new_value=5)),
    # Review BAS-2: a delete naming a column too (the fast decoder let it by).
    "delete naming a column, carrying a value": json.dumps(with_op(kind="delete", new_value=5)),
    "deep nesting": "[" * 100_000 + "]" * 100_000,
    "huge int literal": raw_value("9" * 5000),
}


@pytest.mark.parametrize("text", STRUCTURAL.values(), ids=STRUCTURAL.keys())
def test_structural_refusals(text: str) -> None:
    with pytest.raises(WireError):
        decode_message(text)


def test_a_left_out_field_is_refused_as_text_and_as_bytes() -> None:
    text = json.dumps(without("new_value", new_value=None))
    for form in (text, text.encode()):
        with pytest.raises(WireError, match="missing field 'new_value'"):
            decode_message(form)


def test_nulls_and_a_space_before_the_colon_decode() -> None:
    """Fields present but null, and keys an encoder spaces out, decode as written."""
    delete = with_op(kind="delete", column_name=None, new_value=None)
    assert decode_message(json.dumps(delete)).ops[0].kind == "delete"
    spaced = json.dumps(with_op(new_value=None), separators=(", ", " : "))
    assert decode_message(spaced).ops == decode_message(json.dumps(with_op(new_value=None))).ops


@pytest.mark.parametrize("value", [None, 12, ["x"], {"a": 1}])
def test_non_text_message_is_refused(value: object) -> None:
    with pytest.raises(WireError):
        decode_message(value)  # type: ignore[arg-type]


def test_wire_error_is_a_nexus_error() -> None:
    assert issubclass(WireError, NexusError)


@given(st.text(max_size=20))
def test_plain_names(name: str) -> None:
    plain = is_plain_name(name)
    assert plain == (
        bool(name)
        and (name[0].isascii() and (name[0].isalpha() or name[0] == "_"))
        and all(c.isascii() and (c.isalnum() or c == "_") for c in name)
    )


@pytest.mark.parametrize(
    "name", ["tasks; DROP TABLE lists", "tasks\n", "1abc", "a-b", 'a"b', "", "x" * 129]
)
def test_not_plain_names(name: str) -> None:
    assert not is_plain_name(name)


def test_quote_identifier_doubles_quotes() -> None:
    assert quote_identifier('a"b') == '"a""b"'
