"""The wire format: one JSON message carrying the sender's PeerInfo and a list of ops.

Decoding checks the whole message's shape and every field's type before the
receiver touches its database; a message that fails here raises
:class:`~nexus_core.errors.WireError` and changes nothing. Checks that depend on
the receiver's schema (is the table known, can the column hold the value) are
per op and live in :mod:`nexus_core.merge`.

A message::

    {"format": "nexus-oplog", "protocol": 1,
     "peer": {"peer_id": "...", "schema_version": 3, "capabilities": ["park-unknown"]},
     "version_vector": {"<origin peer>": "<latest clock held>"},
     "ops": [{"hlc": "...", "origin": "...", "schema_version": 3, "kind": "set",
              "table_name": "tasks", "row_id": "t1", "column_name": "priority",
              "new_value": 5}]}

Values are JSON scalars; a BLOB travels as ``{"$b64": "<base64>"}``.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import groupby
from operator import attrgetter
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec

from nexus_core.db.schema import MAX_IDENTIFIER as MAX_IDENTIFIER  # re-exported
from nexus_core.db.schema import PLAIN_NAME as PLAIN_NAME
from nexus_core.db.schema import is_plain_name as is_plain_name
from nexus_core.db.schema import quote_identifier as quote_identifier
from nexus_core.errors import WireError
from nexus_core.hlc import PEER_ID, ClockError, Timestamp, is_clock

FORMAT = "nexus-oplog"
PROTOCOL = 1
CAPABILITIES = ("park-unknown", "relay", "tombstones", "version-vectors")
MAX_MESSAGE_BYTES = 512 * 1024 * 1024
MAX_OPS = 2_000_000
MAX_TEXT = 16 * 1024 * 1024
MAX_ROW_ID_TEXT = 1024
INT64 = (-(2**63), 2**63 - 1)

Value = None | int | float | str | bytes


@dataclass(frozen=True)
class PeerInfo:
    """Who a peer is, which schema it runs and what its engine supports."""

    peer_id: str
    schema_version: int
    capabilities: tuple[str, ...] = CAPABILITIES

    def to_json(self) -> dict[str, Any]:
        return {
            "peer_id": self.peer_id,
            "schema_version": self.schema_version,
            "capabilities": list(self.capabilities),
        }


# How many blobs the fast decoder has built, ever: a decode that did not move it
# built none, so its ops need no unwrapping. It only grows (a count another
# thread moves at the same time costs an unneeded unwrap, never a missed one).
_blobs_built = [0]


class _Blob(msgspec.Struct, forbid_unknown_fields=True):
    """A BLOB on the wire: ``{"$b64": "<base64>"}`` (turned into ``bytes`` after decoding)."""

    b64: str = msgspec.field(name="$b64")

    def __post_init__(self) -> None:  # msgspec calls it for every blob it decodes
        _blobs_built[0] += 1


if TYPE_CHECKING:
    _RowId = Value
    _Value = Value
    _Kind = str
    _Name = str
    _Version = int
else:
    # What the fast decoder accepts, checked in C: the same limits the careful
    # path (``_decode_op``) enforces, so a message either path accepts decodes
    # to the same ops. Type checkers see the Python types instead.
    _Int64 = Annotated[int, msgspec.Meta(ge=INT64[0], le=INT64[1])]
    _RowId = _Int64 | Annotated[str, msgspec.Meta(max_length=MAX_ROW_ID_TEXT)] | _Blob
    _Value = _Int64 | float | Annotated[str, msgspec.Meta(max_length=MAX_TEXT)] | None | _Blob
    _Kind = Literal["set", "delete"]
    _Name = Annotated[str, msgspec.Meta(max_length=MAX_IDENTIFIER)]
    _Version = Annotated[int, msgspec.Meta(ge=0, le=INT64[1])]


class Op(msgspec.Struct, frozen=True, gc=False):
    """One column-level change (``kind="set"``) or a row tombstone (``kind="delete"``).

    A frozen msgspec struct: messages carry many thousands of these, and the
    wire decoder builds them directly, in C.
    """

    hlc: str
    origin: str
    schema_version: _Version
    kind: _Kind
    table_name: _Name
    row_id: _RowId
    # No defaults: every op on the wire names both (null on a delete), and a field
    # left out is not taken for a null (review BV-5: it emptied the column).
    column_name: _Name | None
    new_value: _Value

    def to_json(self) -> dict[str, Any]:
        return {
            "hlc": self.hlc,
            "origin": self.origin,
            "schema_version": self.schema_version,
            "kind": self.kind,
            "table_name": self.table_name,
            "row_id": encode_value(self.row_id),
            "column_name": self.column_name,
            "new_value": encode_value(self.new_value),
        }

    def renamed(self, table_name: str, column_name: str | None) -> Op:
        """This op with its table and column spelled differently."""
        return msgspec.structs.replace(self, table_name=table_name, column_name=column_name)


class _WireMessage(msgspec.Struct):
    """The fast decoder's view of a message: ops typed, the small parts checked in Python."""

    ops: list[Op]
    format: Any = None
    protocol: Any = None
    peer: Any = None
    version_vector: Any = msgspec.field(default_factory=dict)


_FAST = msgspec.json.Decoder(_WireMessage)
_COLUMN = attrgetter("column_name")
_KIND = attrgetter("kind")


Changes = dict[tuple[str, str], list[Op]]
"""Ops grouped into changes (one write of one row), by (origin, clock), in message order."""

_CHANGE_KEY = attrgetter("origin", "hlc")


def group_changes(ops: Iterable[Op]) -> Changes:
    """The ops of each change (a change's ops need not be adjacent)."""
    changes: Changes = {}
    for key, run in groupby(ops, key=_CHANGE_KEY):
        found = changes.get(key)
        if found is None:
            changes[key] = list(run)
        else:
            found.extend(run)
    return changes


@dataclass
class Message:
    peer: PeerInfo
    ops: list[Op] = field(default_factory=list)
    version_vector: dict[str, str] = field(default_factory=dict)
    # ``group_changes(ops)``, when decoding already did it (see Replica.receive).
    changes: Changes | None = field(default=None, repr=False, compare=False)


def row_id_problem(row_id: object) -> str | None:
    """Why ``row_id`` cannot name a row on the wire, or None."""
    if type(row_id) not in (int, str, bytes):
        return f"row ids must be integers, text or blobs, not {type(row_id).__name__}"
    if isinstance(row_id, str | bytes) and len(row_id) > MAX_ROW_ID_TEXT:
        return f"row ids are at most {MAX_ROW_ID_TEXT} characters or bytes long"
    return None


def encode_value(value: Value) -> Any:
    if isinstance(value, bytes):
        return {"$b64": base64.b64encode(value).decode("ascii")}
    return value


def _is_utf8(text: str) -> bool:
    """JSON's ``\\ud800`` escapes decode to lone surrogates SQLite cannot store."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def decode_value(raw: Any, where: str) -> Value:
    """A wire value back to Python; raises WireError for anything not a scalar."""
    if raw is None or isinstance(raw, str):
        if isinstance(raw, str) and len(raw) > MAX_TEXT:
            raise WireError(f"{where}: text value longer than {MAX_TEXT} characters")
        if isinstance(raw, str) and not _is_utf8(raw):
            raise WireError(f"{where}: text is not valid Unicode (lone surrogate)")
        return raw
    if isinstance(raw, bool):
        raise WireError(f"{where}: booleans are not SQLite values (send 0 or 1)")
    if isinstance(raw, int):
        if not INT64[0] <= raw <= INT64[1]:
            raise WireError(f"{where}: integer out of SQLite's 64-bit range")
        return raw
    if isinstance(raw, float):
        if not math.isfinite(raw):
            raise WireError(f"{where}: non-finite number")
        return raw
    if isinstance(raw, dict) and set(raw) == {"$b64"} and isinstance(raw["$b64"], str):
        try:
            blob = base64.b64decode(raw["$b64"], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise WireError(f"{where}: invalid base64 blob") from exc
        if len(blob) > MAX_TEXT:
            raise WireError(f"{where}: blob larger than {MAX_TEXT} bytes")
        return blob
    raise WireError(f"{where}: not a scalar value ({type(raw).__name__})")


def encode_message(peer: PeerInfo, ops: Iterable[Op], version_vector: Mapping[str, str]) -> str:
    return encode_wire_ops(peer, (op.to_json() for op in ops), version_vector)


def encode_wire_ops(
    peer: PeerInfo, ops: Iterable[Mapping[str, Any]], version_vector: Mapping[str, str]
) -> str:
    """A message from ops already in wire form (see :meth:`Op.to_json`)."""
    payload = {
        "format": FORMAT,
        "protocol": PROTOCOL,
        "peer": peer.to_json(),
        "version_vector": dict(version_vector),
        "ops": list(ops),
    }
    return json.dumps(payload, separators=(",", ":"), allow_nan=False)


def _reject_constant(name: str) -> None:
    raise WireError(f"message contains {name}, which is not JSON")


def _field(obj: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in obj:
        raise WireError(f"{where}: missing field {key!r}")
    value = obj[key]
    if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
        raise WireError(f"{where}: field {key!r} has the wrong type")
    return value


def _peer_id(value: Any, where: str) -> str:
    if not isinstance(value, str) or not PEER_ID.match(value):
        raise WireError(f"{where}: invalid peer id")
    return value


def _decode_op(raw: Any, index: int) -> Op:
    where = f"op {index}"
    if not isinstance(raw, dict):
        raise WireError(f"{where}: not an object")
    hlc = _field(raw, "hlc", str, where)
    try:
        stamp = Timestamp.parse(hlc)
    except ClockError as exc:
        raise WireError(f"{where}: {exc}") from exc
    origin = _peer_id(_field(raw, "origin", str, where), where)
    if stamp.peer != origin:
        raise WireError(f"{where}: clock {hlc} does not belong to origin {origin}")
    version = _field(raw, "schema_version", int, where)
    if not 0 <= version <= INT64[1]:
        raise WireError(f"{where}: schema_version out of range")
    kind = _field(raw, "kind", str, where)
    if kind not in ("set", "delete"):
        raise WireError(f"{where}: unknown op kind {kind!r:.40}")
    table = _field(raw, "table_name", str, where)
    if len(table) > MAX_IDENTIFIER:
        raise WireError(f"{where}: table name too long")
    for key in ("column_name", "new_value"):  # null on a delete, but never left out
        if key not in raw:
            raise WireError(f"{where}: missing field {key!r}")
    column = raw["column_name"]
    if column is not None and (not isinstance(column, str) or len(column) > MAX_IDENTIFIER):
        raise WireError(f"{where}: column_name must be a short string or null")
    if kind == "set" and column is None:
        raise WireError(f"{where}: a set op needs a column_name")
    if "row_id" not in raw:
        raise WireError(f"{where}: missing field 'row_id'")
    row_id = decode_value(raw["row_id"], f"{where} row_id")
    if row_id is None or isinstance(row_id, float):
        raise WireError(f"{where}: row_id must be an integer, text or blob")
    if isinstance(row_id, str | bytes) and len(row_id) > MAX_ROW_ID_TEXT:
        raise WireError(f"{where}: row_id longer than {MAX_ROW_ID_TEXT}")
    value = decode_value(raw["new_value"], f"{where} new_value")
    if kind == "delete" and value is not None:
        raise WireError(f"{where}: a delete op carries no new_value (send null)")
    return Op(hlc, origin, version, kind, table, row_id, column, value)


def decode_message(text: str | bytes) -> Message:
    """Parse and check a whole message; raises WireError before anything is written.

    The usual message takes the fast path (typed decoding in C, then the
    clock of each change checked once); anything it does not accept, or that
    needs more checks than it makes, is decoded again on the careful path,
    which names exactly what is wrong.
    """
    if not isinstance(text, str | bytes):
        raise WireError("message must be JSON text")
    if len(text) > MAX_MESSAGE_BYTES:
        raise WireError(f"message larger than {MAX_MESSAGE_BYTES} bytes")
    message = _fast_decode(text)
    return message if message is not None else _careful_decode(text)


def _careful_decode(text: str | bytes) -> Message:
    """Decode field by field in Python, raising WireError with exactly what is wrong."""
    try:
        payload = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise WireError(f"message is not valid JSON ({exc})"[:200]) from exc
    if not isinstance(payload, dict):
        raise WireError("message must be a JSON object")
    peer, vector = _envelope(payload)
    ops_raw = _field(payload, "ops", list, "message")
    if len(ops_raw) > MAX_OPS:
        raise WireError(f"message has more than {MAX_OPS} ops")
    return Message(peer, [_decode_op(raw, index) for index, raw in enumerate(ops_raw)], vector)


def _fast_decode(text: str | bytes) -> Message | None:
    """The message if the fast path accepts all of it, else None (for the careful path)."""
    blobs_before = _blobs_built[0]
    try:
        wire = _FAST.decode(text)
    except (msgspec.MsgspecError, ValueError, RecursionError):
        return None  # ValueError: text that is not Unicode; the careful path says why
    if not isinstance(wire.peer, dict) or len(wire.ops) > MAX_OPS:
        return None
    if None in set(map(_COLUMN, wire.ops)) and any(
        op.column_name is None for op in wire.ops if op.kind == "set"
    ):
        return None  # only a delete names no column
    if "delete" in set(map(_KIND, wire.ops)) and any(
        op.new_value is not None for op in wire.ops if op.kind == "delete"
    ):
        return None  # nor does a delete carry a value
    ops: list[Op] | None = wire.ops
    if _blobs_built[0] != blobs_before:
        ops = _unwrap_blobs(wire.ops)
    if ops is None:
        return None
    changes = group_changes(ops)
    if not all(is_clock(hlc, origin) for origin, hlc in changes):
        return None
    try:
        peer, vector = _envelope(
            {
                "format": wire.format,
                "protocol": wire.protocol,
                "peer": wire.peer,
                "version_vector": wire.version_vector,
            }
        )
    except WireError:
        return None
    return Message(peer, ops, vector, changes)


def _unwrap_blobs(ops: list[Op]) -> list[Op] | None:
    """Ops with their ``{"$b64": ...}`` values as bytes; None when a blob is invalid."""
    unwrapped = []
    for op in ops:
        row_id: Any = op.row_id  # a _Blob where the wire had one (typed as Value)
        value: Any = op.new_value
        try:
            if type(row_id) is _Blob:
                row_id = decode_value({"$b64": row_id.b64}, "row_id")
                if len(row_id) > MAX_ROW_ID_TEXT:
                    return None
            if type(value) is _Blob:
                value = decode_value({"$b64": value.b64}, "new_value")
        except WireError:
            return None
        if row_id is not op.row_id or value is not op.new_value:
            op = msgspec.structs.replace(op, row_id=row_id, new_value=value)
        unwrapped.append(op)
    return unwrapped


def _envelope(payload: Mapping[str, Any]) -> tuple[PeerInfo, dict[str, str]]:
    """The checked sender and version vector of a decoded message."""
    protocol = payload.get("protocol")
    if payload.get("format") != FORMAT or type(protocol) is not int or protocol != PROTOCOL:
        raise WireError(f"not a {FORMAT} protocol {PROTOCOL} message")  # (true == 1.0 == 1)
    peer_raw = _field(payload, "peer", dict, "message")
    capabilities = _field(peer_raw, "capabilities", list, "peer")
    if len(capabilities) > 64 or not all(
        isinstance(c, str) and len(c) <= 64 and _is_utf8(c) for c in capabilities
    ):
        raise WireError("peer: capabilities must be a short list of short strings")
    version = _field(peer_raw, "schema_version", int, "peer")
    if not 0 <= version <= INT64[1]:
        raise WireError("peer: schema_version out of range")
    peer = PeerInfo(_peer_id(peer_raw.get("peer_id"), "peer"), version, tuple(capabilities))
    vector_raw = payload.get("version_vector", {})
    if not isinstance(vector_raw, dict):
        raise WireError("message: version_vector must be an object")
    vector: dict[str, str] = {}
    for origin, stamp in vector_raw.items():
        _peer_id(origin, "version_vector")
        if not isinstance(stamp, str):
            raise WireError("version_vector: clocks must be strings")
        try:
            Timestamp.parse(stamp)
        except ClockError as exc:
            raise WireError(f"version_vector: {exc}") from exc
        vector[origin] = stamp
    return peer, vector
