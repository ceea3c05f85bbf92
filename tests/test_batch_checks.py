"""An insert of many rows is checked column by column: the same rows pass and fail as one by one.

``insert_many`` checks a batch giving the same columns in every row with
``rows_hold`` (a few ``map`` calls per column); anything that check does not
pass is checked row by row, which names the problem. These tests hold the two
to the same outcome: what the batch check lets through must be exactly what
the row-by-row check accepts unchanged.
"""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path
from typing import Any

import pytest
from folders import migrations_folder
from hypothesis import given
from hypothesis import strategies as st

import nexus_core.replica as replica_module
from nexus_core import open_replica
from nexus_core.errors import SyncError
from nexus_core.merge import rows_hold
from nexus_core.replica import Replica
from nexus_core.wire import MAX_ROW_ID_TEXT, MAX_TEXT

ITEMS = """CREATE TABLE items (
    id      TEXT PRIMARY KEY,
    qty     INTEGER,
    price   REAL NOT NULL DEFAULT 0,
    label   TEXT,
    blob    BLOB,
    amount  NUMERIC,
    total   REAL GENERATED ALWAYS AS (qty * price) VIRTUAL
);
CREATE TABLE counters (n INTEGER PRIMARY KEY, hits INTEGER NOT NULL) STRICT;
CREATE TABLE things (id PRIMARY KEY, n INTEGER);"""

LONG_TEXT = "x" * (MAX_TEXT + 1)
# Values a column may be given: fine ones, and ones some column or the wire refuses.
VALUES = [
    None,
    0,
    7,
    -(2**63),
    2**63 - 1,
    2**63,  # out of SQLite's range
    -(2**63) - 1,
    1.5,
    float("inf"),
    float("nan"),
    True,  # stored as 1 by the row-by-row check: not "as given"
    "",
    "text",
    "12",
    LONG_TEXT,
    b"\x00\x01",
]
KEYS = ["k", "", 5, 5.0, None, b"\x01", "k" * (MAX_ROW_ID_TEXT + 1), True]
COLUMNS = ["qty", "price", "label", "blob", "amount", "total", "Label", "nope"]


# Values each column takes, so that many batches pass whole.
FITTING = {
    "qty": [None, 0, 7, -(2**63), 2**63 - 1],
    "price": [0.0, 1.5, -2.25, 3],
    "label": [None, "", "text", "12"],
    "blob": [None, b"", b"\x00\x01"],
    "amount": [None, 1, 2.5, "12"],
}


def _rows(draw: Any) -> list[dict[str, Any]]:
    fitting = draw(st.booleans())
    names = draw(
        st.lists(st.sampled_from(list(FITTING) if fitting else COLUMNS), unique=True, max_size=4)
    )
    count = draw(st.integers(min_value=1, max_value=40))
    pools = {
        name: FITTING[name] if fitting else draw(st.lists(st.sampled_from(VALUES), min_size=1))
        for name in names
    }
    rows = [{"id": f"r{number}"} for number in range(count)]
    for row in rows:
        for name in names:
            row[name] = draw(st.sampled_from(pools[name]))
    odd = draw(st.integers(min_value=0, max_value=count - 1))
    match draw(st.sampled_from(["none", "key", "fewer", "no key", "reordered"])):
        case "key":  # a key some column or the wire refuses, or one given twice
            rows[odd]["id"] = draw(st.sampled_from(KEYS))
        case "fewer":
            rows[odd].pop(draw(st.sampled_from(sorted(rows[odd]))))
        case "no key":  # made by insert_many
            del rows[odd]["id"]
        case "reordered":
            rows[odd] = dict(reversed(rows[odd].items()))
    return rows


rows_strategy = st.composite(_rows)()


def _outcome(replica: Replica, rows: list[dict[str, Any]]) -> tuple[Any, ...]:
    try:
        keys = replica.insert_many("items", rows)
    except SyncError as exc:
        return ("refused", str(exc), replica.rows("items"))
    changes = [
        (op.row_id, op.column_name, op.new_value)
        for op in replica.ops()
        if op.table_name == "items"
    ]
    return ("stored", keys, replica.rows("items"), changes)


def _fresh(folder: Path, path: Path, peer: str) -> Replica:
    return open_replica(path, migrations=folder, peer_id=peer)


@given(rows=rows_strategy)
def test_a_batch_is_refused_and_stored_exactly_as_row_by_row(rows: list[dict[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        folder = migrations_folder(root, ITEMS)
        together = _fresh(folder, root / "together.db", "together")
        one_by_one = _fresh(folder, root / "one.db", "one")
        try:
            # Keys are made where none is given: random, so only compare when all are given.
            given_keys = all(row.get("id") is not None for row in rows)
            seen = _outcome(together, [dict(row) for row in rows])
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(replica_module, "_CHECKED_TOGETHER", 10**9)
                expected = _outcome(one_by_one, [dict(row) for row in rows])
            assert seen[0] == expected[0]
            if seen[0] == "refused":
                assert seen[1] == expected[1]  # the same row named, the same words
                assert seen[2] == expected[2] == []
            elif given_keys:
                assert seen[1:] == expected[1:]
        finally:
            together.close()
            one_by_one.close()


def _model(tmp_path: Path) -> Any:
    replica = _fresh(migrations_folder(tmp_path, ITEMS), tmp_path / "m.db", "m")
    model = replica.models["items"]
    replica.close()
    return model


def test_the_batch_check_passes_plain_batches(tmp_path: Path) -> None:
    """Else the property above would hold with the batch check never used."""
    model = _model(tmp_path)
    rows = [
        {"id": f"r{n}", "qty": n if n % 3 else None, "price": n / 2, "label": f"x{n}", "blob": None}
        for n in range(40)
    ]
    assert rows_hold(model, rows)
    assert rows_hold(model, [{"qty": 1, "id": "a"}, {"id": "b", "qty": None}])  # any order


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"qty": True}, "a boolean (stored as 1)"),
        ({"qty": 2**63}, "an integer out of range"),
        ({"price": float("nan")}, "not a finite number"),
        ({"label": LONG_TEXT}, "longer than a message carries"),
        ({"id": "k" * (MAX_ROW_ID_TEXT + 1)}, "a key longer than the wire names rows by"),
        ({"id": None}, "a key to be made"),
        ({"id": 1.5}, "a key no wire row id is"),
        ({"Label": "x"}, "a name spelled otherwise"),
        ({"total": 3.0}, "a generated column"),
        ({"nope": 1}, "an unknown column"),
    ],
)
def test_the_batch_check_leaves_to_row_by_row(tmp_path: Path, change: dict, why: str) -> None:
    model = _model(tmp_path)
    rows = [{"id": f"r{n}", "qty": n, "price": 1.0, "label": "x"} for n in range(20)]
    rows[7] = {**rows[7], **change}
    if "Label" in change or "total" in change or "nope" in change:
        rows = [{**row, **{name: value for name, value in change.items()}} for row in rows]
    assert not rows_hold(model, rows), why


def test_a_bad_row_in_a_large_batch_is_named(tmp_path: Path) -> None:
    replica = _fresh(migrations_folder(tmp_path, ITEMS), tmp_path / "a.db", "a")
    rows = [{"id": f"r{n}", "qty": n, "price": 1.0} for n in range(100)]
    rows[63]["qty"] = 2**64
    with pytest.raises(SyncError, match=r"items\.qty"):
        replica.insert_many("items", rows)
    assert replica.rows("items") == [] and replica.ops() == []
    replica.close()


def test_rows_of_other_columns_in_one_batch(tmp_path: Path) -> None:
    """Rows giving other columns (or the same in another order) are stored as given."""
    replica = _fresh(migrations_folder(tmp_path, ITEMS), tmp_path / "a.db", "a")
    shapes = itertools.cycle([{"id": "", "qty": 1}, {"qty": 2, "id": ""}, {"id": "", "label": "x"}])
    rows = [dict(shape) for shape in itertools.islice(shapes, 30)]
    for number, row in enumerate(rows):
        row["id"] = f"r{number}"
    replica.insert_many("items", rows)
    held = {row["id"]: row for row in replica.rows("items")}
    assert held["r1"]["qty"] == 2 and held["r2"]["label"] == "x" and held["r2"]["qty"] is None
    replica.close()


@pytest.mark.parametrize("count", [15, 16, 40])
def test_a_key_too_long_for_the_wire_among_text_and_bytes_keys_is_refused(
    tmp_path: Path, count: int
) -> None:
    """Keys of text and bytes mixed were checked against the 16 MiB value limit only, so
    a 1,025-character key went in, and every later sync from the file failed (BAI-1)."""
    replica = _fresh(migrations_folder(tmp_path, ITEMS), tmp_path / "a.db", "a")
    rows: list[dict[str, Any]] = [
        {"id": f"k{n}" if n % 2 else f"k{n}".encode(), "n": n} for n in range(count)
    ]
    rows[3]["id"] = "k" * (MAX_ROW_ID_TEXT + 1)
    with pytest.raises(SyncError, match="row ids are at most"):
        replica.insert_many("things", rows)
    assert replica.rows("things") == []
    rows[3]["id"] = "k" * MAX_ROW_ID_TEXT
    replica.insert_many("things", rows)
    assert len(replica.rows("things")) == count
    replica.close()


def test_rows_may_come_from_any_iterable(tmp_path: Path) -> None:
    """A generator or a dict's values raised a bare TypeError (review BAI-6)."""
    replica = _fresh(migrations_folder(tmp_path, ITEMS), tmp_path / "a.db", "a")
    by_key = {f"r{n}": {"id": f"r{n}", "qty": n} for n in range(20)}
    assert replica.insert_many("items", by_key.values()) == list(by_key)
    assert replica.insert_many("items", ({"id": f"g{n}"} for n in range(3))) == ["g0", "g1", "g2"]
    assert len(replica.rows("items")) == 23
    replica.close()
