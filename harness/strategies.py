"""Hypothesis strategies for oplog traffic, derived from a schema alone.

Nothing here knows any app: tables, columns, value types, keys and references
all come from the :class:`~nexus_core.db.schema.Schema` SQLite built. Traffic is
plain JSON-ready data, so a failing example can be saved and replayed:

``{"replica": "a", "op": "insert", "table": "tasks", "key": "a-3", "values": {...},
"refs": {"list_id": 0}}``, ``{"replica": "b", "op": "update", "table": ..., "row": 2,
"values": {...}, "refs": {}}``, ``{"replica": "a", "op": "delete", "table": ..., "row": 0}``
and ``{"op": "sync"}``. ``row`` and ``refs`` pick among the rows that replica
holds when the step runs (index modulo their number).

>>> from nexus_core.db.schema import Column
>>> values_for(Column("n", "INTEGER", True, None, 0)).example() is not None
True
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from hypothesis import strategies as st

from harness.checkeval import satisfying, values_passing
from harness.checks import Allowed, allowed
from harness.schemadiff import (
    columns_named,
    not_null_columns,
    raises,
    triggers_on,
    unique_indexes,
    unique_key,
    unique_keys,
)
from nexus_core.db.schema import (
    LOOSE_COLLATIONS,
    Column,
    Schema,
    Table,
    find_named,
    sql_key,
)

REPLICAS = ("a", "b")
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
MAX_TEXT = 24
KEY_SPACE = 10_000
NUMERIC_AFFINITIES = frozenset(("INTEGER", "REAL", "NUMERIC"))
REWRITTEN_ROWS = 6  # rows a replica rewrites after the first sync (see rewritten_everywhere)


def _encoded_blob(data: bytes) -> dict[str, str]:
    return {"$b64": base64.b64encode(data).decode("ascii")}


def values_for(column: Column, checks: Sequence[str] = ()) -> st.SearchStrategy[Any]:
    """Values a column of this declared type can hold (NULL where allowed).

    Integers range over 64-bit values, text over short unicode strings, BLOBs
    travel base64-encoded. Where the table's CHECKs say what the column allows
    (an IN list, a range), most values come from there, so such tables get
    traffic; values a CHECK refuses are generated too (the local replica drops
    them as invalid traffic, a peer with a looser schema sends them anyway).
    """
    hint = allowed(column.name, checks)
    if _blob_only(column):  # bytes alone, of the length a CHECK asks (review BAC-5)
        sizes = _blob_sizes(hint) or (0, 16)
        blobs = st.binary(min_size=sizes[0], max_size=sizes[1]).map(_encoded_blob)
        return blobs if column.notnull or column.pk else st.one_of(blobs, st.none())
    if hint.known:
        fitting: st.SearchStrategy[Any]
        if hint.choices:
            fitting = st.sampled_from(hint.choices)
        elif hint.json:
            fitting = json_documents()
        elif hint.pattern is not None:
            shape = hint.pattern
            fitting = st.tuples(st.text(LETTERS, max_size=4), st.integers(0, KEY_SPACE)).map(
                lambda drawn: shape.fill(*drawn)
            )
        elif hint.length is not None:
            fitting = st.text(LETTERS, min_size=hint.length, max_size=hint.length)
        elif hint.shortest is not None or hint.longest is not None:
            shortest = hint.shortest or 0
            longest = hint.longest if hint.longest is not None else shortest + MAX_TEXT
            fitting = st.text(LETTERS, min_size=shortest, max_size=longest)
        elif (
            column.affinity == "REAL" or isinstance(hint.low, float) or isinstance(hint.high, float)
        ):
            fitting = st.floats(hint.low, hint.high, allow_nan=False, allow_infinity=False)
        else:
            fitting = st.integers(hint.low, hint.high)
        return st.one_of(fitting, fitting, fitting, values_for(column))
    affinity = column.affinity
    integers = st.integers(min_value=-(2**63), max_value=2**63 - 1)
    floats = st.floats(allow_nan=False, allow_infinity=False)
    text = st.text(max_size=MAX_TEXT)
    base: st.SearchStrategy[Any]
    if "JSON" in column.type.upper():  # declared JSON: clients write documents there
        base = json_documents()
    elif "BOOL" in column.type.upper():  # declared BOOLEAN: clients write 0 and 1
        base = st.sampled_from([0, 1])
    elif affinity == "INTEGER":
        base = st.one_of(st.integers(min_value=-10, max_value=100), integers)
    elif affinity == "REAL":
        base = floats
    elif affinity == "NUMERIC":  # DATE, DATETIME, BOOLEAN, DECIMAL...: numbers or ISO dates
        base = st.one_of(st.integers(min_value=-10, max_value=100), floats, iso_dates())
    elif affinity == "TEXT":
        base = text
    else:
        base = st.one_of(integers, text, st.binary(max_size=16).map(_encoded_blob))
    if column.notnull or column.pk:
        return base
    return st.one_of(base, st.none())


def json_documents() -> st.SearchStrategy[str]:
    """Small JSON texts (objects, arrays, scalars), for a ``CHECK (json_valid(col))``
    or a column declared ``JSON``."""
    scalars = st.one_of(
        st.none(), st.booleans(), st.integers(-1000, 1000), st.text(LETTERS, max_size=6)
    )
    documents = st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.dictionaries(st.text(LETTERS, max_size=4), inner, max_size=3),
        ),
        max_leaves=6,
    )
    return documents.map(lambda document: json.dumps(document, sort_keys=True))


def iso_dates() -> st.SearchStrategy[str]:
    """Dates as apps store them in DATE or DATETIME columns."""
    return st.dates().map(lambda d: d.isoformat())


def replica_values_for(
    column: Column, replica: str, *, case_variants: bool = False, checks: Sequence[str] = ()
) -> st.SearchStrategy[Any]:
    """Values only ``replica`` ever writes: two replicas never collide on them.

    With ``case_variants``, text comes as ``a-3`` or ``A-3``: distinct to a
    BINARY UNIQUE column, one value to a NOCASE one (so a collation change
    that merges them shows up as refused ops).
    """
    return _replica_values(column, replica, case_variants, checks)[0]


def replica_value_count(column: Column, replica: str, checks: Sequence[str] = ()) -> int:
    """How many distinct values :func:`replica_values_for` draws for ``replica``
    (:data:`KEY_SPACE` where there are more): how many rows it can key."""
    return _replica_values(column, replica, False, checks)[1]


def _replica_values(
    column: Column, replica: str, case_variants: bool, checks: Sequence[str]
) -> tuple[st.SearchStrategy[Any], int]:
    offset = REPLICAS.index(replica) + 1
    numbers = st.integers(min_value=0, max_value=KEY_SPACE - 1)
    hint = allowed(column.name, checks)
    numeric = column.affinity in NUMERIC_AFFINITIES
    if _blob_only(column):  # bytes (no case to vary), a length CHECK's size (a UUID's 16)
        sizes = _blob_sizes(hint)
        size = None if sizes is None else min(max(sizes[0], 16), sizes[1])
        return numbers.map(lambda n: _encoded_blob(_replica_bytes(replica, n, size))), KEY_SPACE
    if hint.choices:  # each replica takes every other allowed value (both, if one)
        mine = hint.choices[offset - 1 :: len(REPLICAS)] or hint.choices
        return st.sampled_from(mine), len(mine)
    if numeric and (hint.low is not None or hint.high is not None):
        low = int(hint.low if hint.low is not None else int(hint.high or 0) - 2 * KEY_SPACE)
        high = int(hint.high if hint.high is not None else low + 2 * KEY_SPACE)
        middle = (low + high) // 2  # a takes the lower half of the range, b the upper
        first, last = (low, middle) if offset == 1 else (middle + 1, high)
        if first > last:  # one value (a singleton row, id = 1): both replicas write it
            first, last = low, high
        return st.integers(first, last), min(KEY_SPACE, last - first + 1)
    if not numeric and hint.pattern is not None and hint.pattern.open_ended:
        shape = hint.pattern  # the replica's token where the pattern takes any run
        return numbers.map(lambda n: shape.fill(f"{replica}-{n}")), KEY_SPACE
    if not numeric and hint.pattern is not None and hint.pattern.capacity >= len(REPLICAS):
        shape = hint.pattern  # a fixed shape: each replica its own share of the choices
        share = shape.capacity // len(REPLICAS)
        fill = numbers.map(lambda n: shape.fill("", (offset - 1) * share + n % share))
        return fill, min(KEY_SPACE, share)
    if not numeric and hint.length:  # a fixed length: the first letter tells the replicas apart
        rest = st.text(LETTERS, min_size=hint.length - 1, max_size=hint.length - 1)
        count = min(KEY_SPACE, len(LETTERS) ** (hint.length - 1))
        return rest.map(lambda tail: LETTERS[offset - 1] + tail), count
    if numeric:
        return numbers.map(lambda n: offset * KEY_SPACE + n), KEY_SPACE
    if case_variants:  # a small range, so one replica often writes both spellings
        return st.tuples(st.integers(0, 2), st.booleans()).map(
            lambda pair: f"{replica}-{pair[0]}".upper() if pair[1] else f"{replica}-{pair[0]}"
        ), 6
    return numbers.map(lambda n: f"{replica}-{n}"), KEY_SPACE


def _blob_sizes(hint: Allowed) -> tuple[int, int] | None:
    """The sizes a blob column's CHECKs allow (an exact length, or bounds), if they say."""
    if hint.length is not None:
        return hint.length, hint.length
    if hint.shortest is None and hint.longest is None:
        return None
    shortest = hint.shortest or 0
    return shortest, hint.longest if hint.longest is not None else shortest + 16


def _replica_bytes(replica: str, n: int, size: int | None) -> bytes:
    """Bytes only ``replica`` writes, ``size`` long where a CHECK fixes the length."""
    text = f"{replica}-{n}".encode()
    if size is None:
        return text
    if size >= len(text):
        return text.ljust(size, b"\0")
    # The replica's byte first, always (review BAE E6: cut from the end, two replicas
    # wrote the same bytes and a safe history read broken), then n in what is left.
    if not size:
        return b""
    rest = size - 1
    tail: int = n % 256**rest
    return bytes([REPLICAS.index(replica) + 1]) + tail.to_bytes(rest, "big")


def _hashable(value: Any) -> Any:
    """A drawn value as something a set holds: a BLOB's {"$b64": ...} by its text."""
    return value["$b64"] if isinstance(value, dict) else value


def _blob_only(column: Column) -> bool:
    """A BLOB column of a STRICT table: it refuses anything but bytes (review BAA H1:
    text drawn there was refused, and the table got almost no rows)."""
    return column.strict and column.type.upper() == "BLOB"


def keys_for(table: Table, replica: str) -> st.SearchStrategy[Any]:
    """Row ids unique to one replica, so two replicas never mint the same id."""
    key = table.column(table.row_key or "")
    assert key is not None
    return replica_values_for(key, replica, checks=table.checks)


def unique_columns(table: Table, schema: Schema) -> set[str]:
    """Columns a UNIQUE constraint or index covers (the first free one of each).

    Values there come from :func:`replica_values_for`: two replicas writing
    the same value would be a conflict of the data, not of the migrations.
    """
    refs = references(table, schema)
    found: set[str] = set()
    for index in unique_indexes(schema, table.name):
        columns = [c for name in index.columns for c in _written_as(table, name)]
        free = [c for c in columns if c not in refs and c != table.row_key]
        if free:  # the same one however the index orders its columns
            found.add(min(free, key=str.lower))
    return found


def _written_as(table: Table, column: str) -> list[str]:
    """The columns a write sets to give ``column`` its value: itself, or for a
    generated column the columns its expression reads (``lower(email)``: email)."""
    expression = next((sql for name, sql in table.computed if name == column), None)
    if expression is None:
        return [column]
    return columns_named(table.column_names, expression)


def unique_references(table: Table, schema: Schema) -> set[str]:
    """Reference columns a UNIQUE index covers with no free column beside them
    (one open loan per book): rows collide there by pointing at the same row."""
    refs = references(table, schema)
    found: set[str] = set()
    for index in unique_indexes(schema, table.name):
        if all(c in refs or c == table.row_key for c in index.columns):
            found.update(sorted((c for c in index.columns if c in refs), key=str.lower)[:1])
    return found


def own_references(table: Table, schema: Schema, contested: Contested) -> list[str]:
    """Reference columns a replica points only at rows it made itself.

    Where a UNIQUE covers nothing but references (a tag once per photo), two
    replicas linking the same rows collide by the data alone, at any version:
    like the values of a free UNIQUE column, each keeps to its own. Unless the
    other version holds a UNIQUE this one lacks (``contested``): there the
    collision is the point.
    """
    return [] if table.name in contested else sorted(unique_references(table, schema))


def references(table: Table, schema: Schema) -> dict[str, str]:
    """Columns that point at another replicated table: {column: that table}.

    A declared foreign key counts, and so does a column that plainly carries
    another table's key name (``list_id`` beside a table keyed by ``list_id``).
    """
    replicated = schema.replicated_tables
    found: dict[str, str] = {}
    for fk in table.foreign_keys:
        # (One column each: a composite key's "pa, pb" is no column: review BAE E8.)
        if fk.other_table in replicated and table.column(fk.column) is not None:
            found[fk.column] = fk.other_table
    keyed: dict[str | None, list[Table]] = {}
    for name, other in replicated.items():
        if name != table.name:
            keyed.setdefault(other.row_key, []).append(other)
    for column in table.columns:
        if column.name in found or column.name == table.row_key:
            continue
        # The last table keyed so whose key this column can hold: a TEXT column
        # named id is no reference to an INTEGER id (triage BAP of review BAA H3).
        fitting = [
            other
            for other in keyed.get(column.name, ())
            if _holds_keys_of(column, other.column(column.name))
        ]
        if fitting:
            found[column.name] = fitting[-1].name
    return found


def _holds_keys_of(column: Column, key: Column | None) -> bool:
    """Whether ``column`` stores ``key``'s values as they are (numbers in a number
    column, text in a text one; a column of no type, any)."""
    if key is None or "BLOB" in (column.affinity, key.affinity):
        return True
    return (column.affinity in NUMERIC_AFFINITIES) == (key.affinity in NUMERIC_AFFINITIES)


Contested = Mapping[str, frozenset[str]]
# Per table and column, values just outside a CHECK the other version holds and
# this one lacks: what this version writes and the other refuses.
Outside = Mapping[str, Mapping[str, tuple[Any, ...]]]
NO_OUTSIDE: Outside = MappingProxyType({})


def colliding_values(
    column: Column, checks: Sequence[str] = (), *, pinned: bool = False
) -> st.SearchStrategy[Any]:
    """Two values, over and over: rows that collide on a column the other version
    holds UNIQUE (a peer there must refuse the second one). ``pinned``: always
    the first, so two rows written with it collide for sure."""
    pair = colliding_pair(column, checks)
    return st.just(pair[0]) if pinned else st.sampled_from(pair)


def colliding_pair(column: Column, checks: Sequence[str] = ()) -> list[Any]:
    """The two values of :func:`colliding_values`."""
    hint = allowed(column.name, checks)
    pair: list[Any]
    if len(hint.choices) >= 2:
        pair = list(hint.choices[:2])
    elif column.affinity in NUMERIC_AFFINITIES:
        low = int(hint.low) if hint.low is not None else 1
        pair = [low, low + 1]
    elif hint.pattern is not None:
        pair = [hint.pattern.fill("same", 0), hint.pattern.fill("twin", 1)]
    elif _blob_only(column):  # bytes, or STRICT refuses both (review BAE E7)
        pair = [_encoded_blob(_replica_bytes(r, 0, hint.length)) for r in REPLICAS[:2]]
    else:
        pair = ["same", "twin"]
    return pair


def loose_variants(
    column: Column, replica: str, checks: Sequence[str] = (), *, spelling: int | None = None
) -> st.SearchStrategy[Any]:
    """Spellings of one value that only ``replica`` writes and that a NOCASE or
    RTRIM comparison takes as one: distinct here, a clash where the other
    version compares the column loosely.

    ``spelling`` 0, 1 or 2 is the plain one, the upper-case one or the one
    with a trailing blank (rows written with all three clash under NOCASE and
    under RTRIM for sure); None draws any.
    """
    if column.affinity in NUMERIC_AFFINITIES or allowed(column.name, checks).choices:
        return replica_values_for(column, replica, case_variants=True, checks=checks)
    word = f"{replica}-0"
    spellings = [word, word.upper(), f"{word} "]
    shape = allowed(column.name, checks).pattern
    if shape is not None and shape.open_ended:
        spellings = [shape.fill(spelled) for spelled in spellings]
    if spelling is None:
        return st.sampled_from(spellings)
    return st.just(spellings[spelling])


def _column_values(
    column: Column,
    table: Table,
    schema: Schema,
    replica: str,
    contested: Contested,
    pair: int | None = None,
    outside: Outside = NO_OUTSIDE,
) -> st.SearchStrategy[Any]:
    """Values for one column; ``pair`` (0, 1 or 2) for each of the rows written
    to collide where the other version holds the column UNIQUE; often a value
    ``outside`` a CHECK the other version holds, where there is one."""
    values = _own_column_values(column, table, schema, replica, contested, pair)
    beyond = outside.get(table.name, {}).get(column.name, ())
    # (First: hypothesis leans to its first choice, and these are the values that
    # matter here; an update of the row later may leave one in place for an upgrade.)
    return st.one_of(st.sampled_from(beyond), values) if beyond else values


def _own_column_values(
    column: Column,
    table: Table,
    schema: Schema,
    replica: str,
    contested: Contested,
    pair: int | None,
) -> st.SearchStrategy[Any]:
    unique = column.name in unique_columns(table, schema)
    if column.name in contested.get(table.name, frozenset()):
        if column.name in single_unique(table, schema):  # the other version compares it loosely
            return loose_variants(column, replica, table.checks, spelling=pair)
        # (UNIQUE here only with other columns, which tell the rows apart here.)
        return colliding_values(column, table.checks, pinned=pair is not None)
    if unique:
        return replica_values_for(column, replica, case_variants=True, checks=table.checks)
    if column.name in unique_references(table, schema):
        # A link a UNIQUE of links covers, given as a value rather than picked from
        # existing rows: each replica's own too, or two would collide by the data.
        return replica_values_for(column, replica, checks=table.checks)
    return values_for(column, table.checks)


def outside_checks(own: Schema, other: Schema) -> dict[str, dict[str, tuple[Any, ...]]]:
    """Per table and column, values just outside what a CHECK of the other version
    allows there, where ``own`` lacks that CHECK: the values that break sync
    across a tightened (or, seen from the other side, loosened) CHECK. Random
    values reach them rarely (``qty >= 0``: hypothesis favours small positive
    numbers); a value ``own`` refuses too is dropped as invalid traffic."""
    found: dict[str, dict[str, tuple[Any, ...]]] = {}
    for name, table in own.replicated_tables.items():
        theirs = find_named(other.tables, name)
        if theirs is None:
            continue
        names = {*table.column_names, *theirs.column_names}
        mine = {sql_key(check, names) for check in table.checks}
        extra = [c for c in theirs.checks if sql_key(c, names) not in mine]
        # A column this version guards with a RAISE trigger may refuse them here too
        # (a rule moved from a trigger to a CHECK): drawn there, they would only be
        # dropped as invalid traffic and starve the table.
        guarded = {
            c.lower()
            for sql in triggers_on(own, table.name).values()
            if raises(sql)
            for c in columns_named(table.column_names, sql)
        }
        links = {c.lower() for c in references(table, own)}
        # NOT NULL there only: a NULL breaks it (a link's, above all: see full_rows).
        nullable = _lower(table.column_names) - not_null_columns(table)
        refused_null = (nullable & not_null_columns(theirs)) - {
            c.name.lower() for c in table.columns if c.pk
        }
        for column in table.columns:
            lower = column.name.lower()
            beyond: tuple[Any, ...] = ()
            if lower not in guarded and extra:
                hint = allowed(column.name, extra)
                beyond = _beyond(hint) if hint.known else ()
                beyond += _choices_refused(column.name, table, theirs)
            elif lower in guarded and lower not in links:
                # (A guarded link still gets its NULL: inserts give links a row's key, and
                # the update that empties it, see full_rows, is what an INSERT guard misses.)
                continue
            if lower in refused_null:
                beyond += (None,)
            # (not those its own CHECKs refuse: a CHECK written again another way)
            beyond = values_passing(table, column.name, beyond)
            if beyond:
                found.setdefault(table.name, {})[column.name] = beyond
    return found


def _choices_refused(column: str, own: Table, theirs: Table) -> tuple[Any, ...]:
    """The choices ``own``'s CHECKs list for ``column`` (an IN list) that ``theirs``
    refuses: what a list that grew lets this version write (``'reminder'`` added to
    a status list). :func:`_beyond` cannot name them: it reads the other list only."""
    choices = allowed(column, own.checks).choices
    if not choices:
        return ()
    passing = values_passing(theirs, column, choices)
    return tuple(choice for choice in choices if choice not in passing)


def _beyond(hint: Allowed) -> tuple[Any, ...]:
    """Values just outside ``hint``: either side of its bounds, not among its choices."""
    values: list[Any] = []
    if hint.choices:
        numbers = [c for c in hint.choices if isinstance(c, int | float)]
        values += [max(numbers) + 1, min(numbers) - 1] if numbers else ["(none of these)"]
    if hint.low is not None:
        values.append(hint.low - 1 if isinstance(hint.low, int) else hint.low - 0.5)
    if hint.high is not None:
        values.append(hint.high + 1 if isinstance(hint.high, int) else hint.high + 0.5)
    if hint.length is not None:
        values += ["x" * (hint.length + 1)] + (["x" * (hint.length - 1)] if hint.length else [])
    if hint.longest is not None:
        values.append("x" * (hint.longest + 1))
    if hint.shortest:
        values.append("x" * (hint.shortest - 1))
    if hint.json:
        values.append("{not json")
    return tuple(dict.fromkeys(values))


def contested_columns(own: Schema, other: Schema) -> dict[str, frozenset[str]]:
    """Per table, the columns the other version holds UNIQUE and this one does
    not (reference columns included), or holds UNIQUE under a looser collation
    (NOCASE, RTRIM) than this one."""
    found: dict[str, frozenset[str]] = {}
    for name, table in own.replicated_tables.items():
        theirs = other.tables.get(name)
        if theirs is None:
            continue
        mine = _lower(unique_columns(table, own))
        their_unique = _lower(unique_columns(theirs, other))
        extra = their_unique - mine
        extra |= _lower(unique_references(theirs, other)) - _lower(unique_references(table, own))
        for column in mine & their_unique:
            here, there = table.column(column), theirs.column(column)
            if here is None or there is None:
                continue
            if _collation(there) in LOOSE_COLLATIONS and _collation(there) != _collation(here):
                extra.add(column)
        # A UNIQUE the other version compares through an expression or another
        # collation (``lower(email)``, ``email COLLATE NOCASE``) than any here.
        for columns, _, compared in unique_keys(other, name) - unique_keys(own, name):
            free = [c for c in columns if c.lower() in mine & their_unique]
            if compared and free:
                extra.add(free[0])
        extra = (
            _lower(extra)
            | _narrower_keys(table, own, other)
            | _keys_half_written(table, own, theirs)
        )
        # Named as here (SQLite's names are case-blind), and only columns this version
        # has: a UNIQUE on a column new there is the new version's own business.
        named = frozenset(c.name for c in table.columns if c.name.lower() in extra)
        if named:
            found[name] = named
    return found


def links_kept_together(
    own: Schema, other: Schema, contested: Contested
) -> dict[str, frozenset[str]]:
    """Per colliding table, its links that a UNIQUE of the other version covers
    together with a contested column: colliding rows must agree on those too
    (``concert_id`` of ``UNIQUE (concert_id, seat)``). Its other links each point
    at rows of their own (see :func:`full_rows`)."""
    found: dict[str, frozenset[str]] = {}
    for name, columns in contested.items():
        table = own.tables.get(name)
        if table is None:
            continue
        refs = references(table, own)
        wanted = _lower(columns)
        covered: set[str] = set()
        for key, _, _ in unique_keys(other, name):
            if _lower(key) & wanted:
                covered |= _lower(key)
        found[name] = frozenset(c for c in refs if c.lower() in covered)
    return found


def conditions_met(own: Schema, other: Schema, contested: Contested) -> dict[str, dict[str, Any]]:
    """Per colliding table, values that make the other version's partial UNIQUE hold
    for its colliding rows: ``is_primary = 1`` of ``UNIQUE (pet_id) WHERE is_primary =
    1`` (review BAD-3: the rows took the default 0, the condition was false there, and
    the matrix saw full sync across a new "one primary vet per pet"). Found by SQLite
    from the condition as written (:func:`~harness.checkeval.satisfying`); a condition
    the defaults already meet (``deleted_at IS NULL``) needs nothing."""
    found: dict[str, dict[str, Any]] = {}
    for name in contested:
        table = own.tables.get(name)
        if table is None:
            continue
        refs = _links_and_key(table, own)
        values: dict[str, Any] = {}
        wanted = _lower(contested[name]) | refs
        # The keys the rows collide on only, in a fixed order (a set's would follow
        # PYTHONHASHSEED: review BAT-2), each condition as the schema writes it (its
        # canonical form spells ``>=`` as ``> =``, which SQLite cannot read: BAU-3).
        for index in sorted(unique_indexes(other, name), key=lambda index: index.name):
            columns, _, _ = unique_key(index, other)
            if not index.where or not _lower(columns) & wanted:
                continue
            named = [
                c for c in columns_named(table.column_names, index.where) if c.lower() not in refs
            ]
            for column, value in (satisfying(table, index.where, named) or {}).items():
                values.setdefault(column, value)
        if values:
            found[name] = values
    return found


def _links_and_key(table: Table, schema: Schema) -> set[str]:
    """The columns (lower case) whose values a row's links and key give, not a draw."""
    return _lower(references(table, schema)) | {(table.row_key or "").lower()}


def _lower(names: Iterable[str]) -> set[str]:
    return {name.lower() for name in names}


def _narrower_keys(table: Table, own: Schema, other: Schema) -> set[str]:
    """The columns (lower case) of each UNIQUE the other version holds over plain
    columns that no UNIQUE here implies (none here on a subset of its columns):
    ``(trip, seq)`` there, ``(trip, seq, day)`` here. Rows agreeing on all of
    them are one row too many there."""
    refs = _links_and_key(table, own)
    # A UNIQUE here over a subset of its columns implies it, whatever its comparison,
    # where it holds for every row or under the same WHERE (a respelled condition is
    # no narrower key; a partial one here does not imply a whole one there: triage
    # BAP of review BAD-3).
    mine = [(_lower(columns), where) for columns, where, _ in unique_keys(own, table.name)]
    mine.append(({(table.row_key or "").lower()}, None))
    found: set[str] = set()
    for columns, condition, compared in unique_keys(other, table.name):
        theirs = _lower(columns)
        implied = any(key <= theirs and where in (None, condition) for key, where in mine)
        if not compared and not implied:
            found |= theirs - refs
    return found


def _keys_half_written(table: Table, own: Schema, theirs: Table) -> set[str]:
    """The columns (lower case) of each UNIQUE here that the other version's table
    lacks, where it has others of the key: ``disc`` of ``(album, disc)``, ``disc``
    new here. Older clients write ``album`` blind to ``disc``; a row of theirs
    collides here only with rows this version gave one ``disc``, so its colliding
    rows share it (and leave ``album`` to them: see :func:`rewritten_everywhere`)."""
    refs = _links_and_key(table, own)
    there = _lower(column.name for column in theirs.columns)
    found: set[str] = set()
    for columns, _, _ in unique_keys(own, table.name):
        key = _lower(columns)
        if key & there and not key <= there:
            found |= key - there - refs
    return found


def rewritten_everywhere(own: Schema, other: Schema) -> dict[str, frozenset[str]]:
    """Per table, the columns of a UNIQUE the other version holds over columns this one
    partly lacks (``album`` of ``(album, disc)``, no ``disc`` here), that no UNIQUE here
    implies: after the first sync, this replica sets them to one value on every row it
    holds, the other's too, which that version's rows sharing a ``disc`` refuse (review
    BL-2: an older client's edit of ``album`` never arrived, and the matrix saw
    partial sync)."""
    found: dict[str, frozenset[str]] = {}
    for name, table in own.replicated_tables.items():
        theirs = other.tables.get(name)
        if theirs is None:
            continue
        here = _lower(column.name for column in table.columns)
        narrower = _narrower_keys(table, own, other)
        wanted: set[str] = set()
        for columns, _, compared in unique_keys(other, name):
            key = _lower(columns)
            if not compared and key & here and not key <= here:
                wanted |= key & here & narrower
        named = frozenset(c.name for c in table.columns if c.name.lower() in wanted)
        if named:
            found[name] = named
    return found


def single_unique(table: Table, schema: Schema) -> set[str]:
    """Columns a UNIQUE of their own covers here (not only with others)."""
    return {
        index.columns[0]
        for index in unique_indexes(schema, table.name)
        if len(index.columns) == 1 and not index.where
    }


def _collation(column: Column) -> str:
    return (column.collation or "BINARY").upper()


def _fields(
    table: Table,
    schema: Schema,
    replica: str,
    *,
    for_insert: bool,
    contested: Contested,
    outside: Outside = NO_OUTSIDE,
) -> st.SearchStrategy[Any]:
    refs = references(table, schema)
    required: dict[str, st.SearchStrategy[Any]] = {}
    optional: dict[str, st.SearchStrategy[Any]] = {}
    # A UNIQUE column with a default is always given a value: left out, every
    # replica's rows would share the default and collide by the data alone.
    unique = unique_columns(table, schema)
    for column in table.columns:
        if column.name == table.row_key:
            continue
        strategy = _column_values(column, table, schema, replica, contested, outside=outside)
        if for_insert and (column.required or (column.name in unique and column.default)):
            required[column.name] = strategy
        else:
            optional[column.name] = strategy
    values = st.fixed_dictionaries(required, optional=optional)
    groups = [] if for_insert else written_together(table, schema)
    if not for_insert:
        values = values.filter(bool)
        if groups:
            named = {c: optional[c] for group in groups for c in sorted(group) if c in optional}
            values = st.tuples(values, st.fixed_dictionaries(named)).map(
                lambda drawn: _together(groups, *drawn)
            )
    picks = {c: st.integers(0, 7) for c in refs}
    # Where the other version holds a UNIQUE this one lacks, always point at
    # existing rows too, so two rows can collide on the whole constrained set.
    ref_picks = (
        st.fixed_dictionaries(picks)
        if table.name in contested
        else st.fixed_dictionaries({}, optional=picks)
    )
    fields = st.tuples(values, ref_picks)
    linked = [group for group in groups if group & picks.keys()]
    if linked:  # a link of a group picks a row whenever the group is set, and the other way
        # (in sorted order: a set's order follows Python's hash seed, and the traffic
        # a seed draws must not)
        more_values = {c: optional[c] for group in linked for c in sorted(group) if c in optional}
        more_picks = {c: picks[c] for group in linked for c in sorted(group) if c in picks}
        fields = st.tuples(
            fields, st.fixed_dictionaries(more_values), st.fixed_dictionaries(more_picks)
        ).map(lambda drawn: _linked_together(linked, *drawn))
    return fields


def written_together(table: Table, schema: Schema) -> list[frozenset[str]]:
    """Columns an update sets all of or none of: those :func:`checked_together`,
    and those one UNIQUE covers with others, its condition's columns included
    (``UNIQUE (category_id, name)``, ``UNIQUE (email) WHERE deleted = 0``).

    Set one at a time by two replicas, the merge could make two rows neither
    replica wrote agree on them (one's category, the other's name), which every
    version refuses alike: a conflict of the data, not of the migrations.
    Groups that share a column are one (``UNIQUE (room_id, check_in)`` beside
    ``CHECK (check_out > check_in)``).
    """
    groups = checked_together(table, schema)
    for index in unique_indexes(schema, table.name):
        read = [*index.columns, *columns_named(table.column_names, index.where or "")]
        named = frozenset(
            c for name in read for c in _written_as(table, name) if c != table.row_key
        )
        if len(named) > 1:
            groups.append(named)
    merged: list[frozenset[str]] = []  # groups that share a column are one
    for group in groups:
        touching = [m for m in merged if m & group]
        merged = [m for m in merged if not m & group]
        merged.append(group.union(*touching))
    return merged


def checked_together(table: Table, schema: Schema) -> list[frozenset[str]]:
    """Columns one CHECK, or one trigger that can RAISE, compares with each other
    (``CHECK (check_out > check_in)``, ``WHEN NEW.ends_at <= NEW.starts_at``).

    An update sets all of them or none: set one at a time by two replicas at
    once, the column-by-column merge can make a row neither wrote, which the
    CHECK refuses at every version alike, a conflict of the data, not of the
    migrations (as two replicas writing one UNIQUE value would be).
    """
    guards = [sql for sql in triggers_on(schema, table.name).values() if raises(sql)]
    groups = []
    for guard in [*table.checks, *guards]:
        named = frozenset(columns_named(table.column_names, guard))
        if len(named) > 1:
            groups.append(named)
    return groups


def _together(
    groups: Sequence[frozenset[str]], chosen: dict[str, Any], more: Mapping[str, Any]
) -> dict[str, Any]:
    """``chosen`` with every column of a group it touches (values from ``more``)."""
    for group in groups:
        if group & chosen.keys():
            _fill(group, chosen, more)
    return chosen


def _fill(group: frozenset[str], chosen: dict[str, Any], more: Mapping[str, Any]) -> None:
    chosen.update((c, more[c]) for c in sorted(group) if c not in chosen and c in more)


def _linked_together(
    groups: Sequence[frozenset[str]],
    chosen: tuple[dict[str, Any], dict[str, int]],
    more_values: Mapping[str, Any],
    more_picks: Mapping[str, int],
) -> tuple[dict[str, Any], dict[str, int]]:
    """``chosen`` (values, link picks) with every value and pick of a group it touches."""
    values, picks = chosen
    for group in groups:
        if group & (values.keys() | picks.keys()):
            _fill(group, values, more_values)
            _fill(group, picks, more_picks)
    return values, picks


def rows_for(
    table: Table,
    schema: Schema,
    replica: str,
    contested: Contested = MappingProxyType({}),
    outside: Outside = NO_OUTSIDE,
) -> st.SearchStrategy[dict[str, Any]]:
    """Insert steps for ``table`` written by ``replica``."""
    return st.builds(
        lambda key, fields: {
            "replica": replica,
            "op": "insert",
            "table": table.name,
            "key": key,
            "values": fields[0],
            "refs": fields[1],
            **_own(table, schema, contested),
        },
        keys_for(table, replica),
        _fields(table, schema, replica, for_insert=True, contested=contested, outside=outside),
    )


def _own(table: Table, schema: Schema, contested: Contested) -> dict[str, list[str]]:
    """A step's ``own_refs`` (see :func:`own_references`), left out when there are none."""
    own = own_references(table, schema, contested)
    return {"own_refs": own} if own else {}


def updates_for(
    table: Table,
    schema: Schema,
    replica: str,
    contested: Contested = MappingProxyType({}),
    outside: Outside = NO_OUTSIDE,
) -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(
        lambda row, fields: {
            "replica": replica,
            "op": "update",
            "table": table.name,
            "row": row,
            "values": fields[0],
            "refs": fields[1],
            **_own(table, schema, contested),
        },
        st.integers(0, 7),
        _fields(table, schema, replica, for_insert=False, contested=contested, outside=outside),
    )


def deletes_for(table: Table, replica: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(
        lambda row: {"replica": replica, "op": "delete", "table": table.name, "row": row},
        st.integers(0, 7),
    )


def steps_for(
    schema: Schema,
    replica: str,
    contested: Contested = MappingProxyType({}),
    outside: Outside = NO_OUTSIDE,
) -> st.SearchStrategy[dict[str, Any]]:
    """One local write by ``replica`` on any replicated table of its schema (none if none)."""
    tables = [schema.tables[name] for name in sorted(schema.replicated_tables)]
    if not tables:  # nothing sync carries: the traffic is syncs alone
        return st.nothing()
    inserts = st.one_of([rows_for(t, schema, replica, contested, outside) for t in tables])
    updatable = [t for t in tables if len(t.columns) > 1]
    changes: list[st.SearchStrategy[dict[str, Any]]] = [
        updates_for(t, schema, replica, contested, outside) for t in updatable
    ]
    changes += [deletes_for(t, replica) for t in tables]
    return st.one_of(inserts, inserts, st.one_of(changes))


def insertion_order(schema: Schema) -> list[str]:
    """Replicated tables, those that others point at first (so references find rows)."""
    remaining = sorted(schema.replicated_tables)
    ordered: list[str] = []
    while remaining:
        ready = [
            name
            for name in remaining
            if set(references(schema.tables[name], schema).values()) - {name} <= set(ordered)
        ]
        chosen = ready[0] if ready else remaining[0]  # a cycle: any order will do
        ordered.append(chosen)
        remaining.remove(chosen)
    return ordered


def full_rows(
    schema: Schema,
    replica: str,
    contested: Contested = MappingProxyType({}),
    outside: Outside = NO_OUTSIDE,
    together: Contested = MappingProxyType({}),
    rewritten: Contested = MappingProxyType({}),
    conditions: Mapping[str, Mapping[str, Any]] = MappingProxyType({}),
) -> st.SearchStrategy[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    """One insert per replicated table naming every column, and (apart) an
    update of every column of a row: each column's values, and whatever fires
    on an UPDATE (triggers, above all), are exercised in every example,
    whatever else the random steps do. Returns (inserts, updates).

    A table the other version holds UNIQUE where this one does not gets three
    rows instead that collide there, naming nothing else they need not: a
    partial UNIQUE's condition most often holds for a row left to its
    defaults (``returned_at IS NULL``, ``status = 'open'``). Their links that
    UNIQUE covers (``together``, see :func:`links_kept_together`) point at one
    row; each other link at a row of its own, so a CHECK keeping two links
    apart (``white_id <> black_id``) does not refuse them here. Its columns
    ``rewritten`` (see :func:`rewritten_everywhere`) are then set to their
    colliding value on every row, the peer's included; its ``conditions`` (see
    :func:`conditions_met`) are set in each colliding row.
    """

    def kept(table: Table) -> frozenset[str]:
        """The links of a colliding table that point at the first row."""
        return contested.get(table.name, frozenset()) | together.get(table.name, frozenset())

    def writable(table: Table) -> list[Column]:  # in the table's order: the draws follow it
        refs = references(table, schema)
        return [c for c in table.columns if c.name != table.row_key and c.name not in refs]

    def values(
        table: Table, columns: Sequence[Column], pair: int | None = None
    ) -> st.SearchStrategy[dict[str, Any]]:
        return st.fixed_dictionaries(
            {
                c.name: _column_values(c, table, schema, replica, contested, pair, outside)
                for c in columns
            }
        )

    def insert_step(
        table: Table,
        key: Any,
        fields: dict[str, Any],
        pair: int | None = None,
        descending: bool = False,
    ) -> dict[str, Any]:
        """The insert of one row; each link points at the first row of its table, but
        in the ``pair``-th of rows written to collide, each link the other version's
        UNIQUE covers points at a row of its own, the same in every such row (they
        collide: ``UNIQUE (user_id, friend_id)``, and ``CHECK (user_id <> friend_id)``
        lets them in), and each other link at rows after those, other in each such
        row (``CHECK (white_id <> black_id)`` would refuse a row linking one member
        twice)."""
        refs = references(table, schema)
        needed = kept(table)
        # In the table's order (SQLite lists foreign keys last first): the first link
        # declared gets the first row, so CHECK (user_id < friend_id) holds too; or,
        # ``descending`` (drawn per example), the last: CHECK (white_id > black_id).
        links = [c.name for c in table.columns if c.name in refs]
        others = [c for c in links if c not in needed]  # each its own row, none the first
        kept_links = [c for c in links if c in needed]  # each its own row, in every pair
        if descending:
            kept_links.reverse()
        base = len(kept_links)
        picks = {
            c: (kept_links.index(c) if pair is not None else 0)
            if c in needed
            else (0 if pair is None else base + others.index(c) + pair * len(others))
            for c in refs
        }
        return {
            "replica": replica,
            "op": "insert",
            "table": table.name,
            "key": key,
            "values": fields,
            "refs": picks,
            **_own(table, schema, contested),
        }

    def insert(
        table: Table, columns: Sequence[Column], pair: int | None = None
    ) -> st.SearchStrategy[dict[str, Any]]:
        return st.builds(
            lambda key, fields: insert_step(table, key, fields),
            keys_for(table, replica),
            values(table, columns, pair),
        )

    def unlinked(table: Table) -> dict[str, None]:
        """Links the other version requires and this one may leave NULL: the update of
        every column empties them (a link's value is otherwise always a row's key)."""
        beyond = outside.get(table.name, {})
        return {c: None for c in references(table, schema) if None in beyond.get(c, ())}

    def insert_then_rewrite(table: Table) -> st.SearchStrategy[tuple[dict[str, Any], ...]]:
        """The row, and later an update of every column of that same row (by its
        key: after the sync the peer's rows are there too, and must stay theirs)."""
        columns = writable(table)
        return st.builds(
            lambda key, first, then: (
                insert_step(table, key, first),
                {"replica": replica, "op": "update", "table": table.name, "key": key,
                 "values": then | unlinked(table), "refs": {}},
            ),
            keys_for(table, replica),
            values(table, columns),
            values(table, columns),
        )  # fmt: skip

    def some_keys(table: Table, count: int = 3) -> st.SearchStrategy[list[Any]]:
        """Up to ``count`` distinct keys (hypothesis likes to draw one key twice, and the
        second insert would only fail here): fewer where a CHECK allows fewer."""
        key = table.column(table.row_key or "")
        assert key is not None
        least = min(count, replica_value_count(key, replica, table.checks))
        return st.lists(
            keys_for(table, replica), min_size=least, max_size=count, unique_by=_hashable
        )

    def colliding(table: Table) -> st.SearchStrategy[list[dict[str, Any]]]:
        """Up to three rows under distinct keys that collide there."""
        needed = contested[table.name]
        columns = [c for c in writable(table) if c.required or c.name in needed]
        met = dict(conditions.get(table.name, {}))
        return st.builds(
            lambda keys, fields, descending: [
                insert_step(table, k, f | met, n, descending)
                for n, (k, f) in enumerate(zip(keys, fields, strict=False))
            ],
            some_keys(table),
            st.tuples(*(values(table, columns, n) for n in range(3))),
            st.booleans(),
        )

    def several(table: Table, count: int) -> st.SearchStrategy[tuple[list[dict[str, Any]], ...]]:
        """Up to ``count`` rows, the first rewritten later (where it has columns to
        rewrite): the rows a colliding table's other links point at (see
        ``insert_step``)."""
        columns = writable(table)
        return st.builds(
            lambda keys, fields, then: (
                [insert_step(table, k, f) for k, f in zip(keys, fields, strict=False)],
                [{"replica": replica, "op": "update", "table": table.name, "key": keys[0],
                  "values": then, "refs": {}}] if columns and keys else [],
            ),
            some_keys(table, count),
            st.tuples(*(values(table, columns) for _ in range(count))),
            values(table, columns),
        )  # fmt: skip

    def rewrites(table: Table) -> list[dict[str, Any]]:
        """Updates of each row held (up to :data:`REWRITTEN_ROWS`) setting the table's
        ``rewritten`` columns to their colliding value."""
        columns = [c for c in table.columns if c.name in rewritten.get(table.name, ())]
        if not columns:
            return []
        pinned = {c.name: colliding_pair(c, table.checks)[0] for c in columns}
        return [
            {"replica": replica, "op": "update", "table": table.name, "row": row,
             "values": pinned, "refs": {}}
            for row in range(REWRITTEN_ROWS)
        ]  # fmt: skip

    Steps = list[dict[str, Any]]

    def colliding_then_rewritten(table: Table) -> st.SearchStrategy[tuple[Steps, Steps]]:
        updates = rewrites(table)
        return colliding(table).map(lambda rows: (rows, updates))

    tables: list[st.SearchStrategy[tuple[Steps, Steps]]] = []  # per table: (inserts, updates)
    # Tables a colliding table links to, and how many rows each needs: one per link the
    # other version's UNIQUE covers (at least one), and for each of two colliding rows
    # one per other link (at most eleven in all; see insert_step).
    linked: dict[str, int] = {}
    for name in sorted(contested):
        if name in schema.tables:
            refs = references(schema.tables[name], schema)
            covered = len(kept(schema.tables[name]) & refs.keys())
            needs = max(covered, 1) + 2 * (len(refs) - covered)
            for target in refs.values():
                linked[target] = min(11, max(linked.get(target, 3), needs))
    for table in [schema.tables[name] for name in insertion_order(schema)]:
        if table.name in contested:
            tables.append(colliding_then_rewritten(table))
        elif table.name in linked:
            rows = several(table, linked[table.name])
            tables.append(rows.map(lambda two: (two[0], two[1])))
        elif writable(table):
            tables.append(insert_then_rewrite(table).map(lambda two: ([two[0]], [two[1]])))
        else:
            tables.append(insert(table, []).map(lambda row: ([row], [])))
    return st.tuples(*tables).map(
        lambda parts: (
            [step for inserts, _ in parts for step in inserts],
            [step for _, updates in parts for step in updates],
        )
    )


def traffic(
    schema_a: Schema, schema_b: Schema | None = None, *, max_steps: int = 16
) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Both replicas write a full row per table, sync, update every column of
    a row (so an UPDATE fires on rows the peer holds too: its triggers see
    one), then interleaved writes and syncs.

    Each replica writes from its own schema; steps a failure does not need
    are cut away afterwards (:func:`harness.cells.cut_steps`).
    """
    other = schema_b if schema_b is not None else schema_a
    contested_a, contested_b = (
        contested_columns(schema_a, other),
        contested_columns(other, schema_a),
    )
    outside_a, outside_b = outside_checks(schema_a, other), outside_checks(other, schema_a)
    step = st.one_of(  # with no replicated table, a replica writes nothing
        steps_for(schema_a, "a", contested_a, outside_a),
        steps_for(other, "b", contested_b, outside_b),
        st.just({"op": "sync"}),
    )
    return st.builds(
        lambda first, second, rest: [
            *first[0],
            *second[0],
            {"op": "sync"},
            *first[1],
            *second[1],
            *rest,
        ],
        _first_rows(schema_a, other, "a", contested_a, outside_a),
        _first_rows(other, schema_a, "b", contested_b, outside_b),
        st.lists(step, max_size=max_steps),
    )


def _first_rows(
    schema: Schema, other: Schema, replica: str, contested: Contested, outside: Outside
) -> st.SearchStrategy[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    """:func:`full_rows` of one replica at ``schema`` beside the ``other`` version."""
    return full_rows(
        schema,
        replica,
        contested,
        outside,
        links_kept_together(schema, other, contested),
        rewritten_everywhere(schema, other),
        conditions_met(schema, other, contested),
    )


def single_writer_traffic(
    schema: Schema, *, max_steps: int = 16
) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Writes by replica ``a`` alone (for relay checks), full rows first."""
    writes = steps_for(schema, "a")
    return st.builds(
        lambda first, rest: [*first[0], *first[1], *rest],
        full_rows(schema, "a"),
        st.lists(writes, max_size=max_steps) if schema.replicated_tables else st.just([]),
    )
