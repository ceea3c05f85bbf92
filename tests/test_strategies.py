"""The traffic strategies: everything derived from the schema, nothing from our app."""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from folders import migrations_folder
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.checkeval import satisfying
from harness.execute import Execution, edit_after_upgrade, run_step
from harness.strategies import (
    checked_together,
    contested_columns,
    keys_for,
    own_references,
    references,
    rows_for,
    traffic,
    unique_columns,
    updates_for,
    values_for,
    written_together,
)
from nexus_core import open_replica, sync
from nexus_core.db.schema import Column, Schema, snapshot
from nexus_core.merge import value_problem

CLINIC = Path(__file__).resolve().parent.parent / "fixtures" / "histories" / "constraints_safe"


def clinic_schema() -> Schema:
    conn = sqlite3.connect(":memory:")
    conn.executescript((CLINIC / "migrations" / "001_clinic.sql").read_text())
    return snapshot(conn)


SCHEMA = clinic_schema()


def test_references_come_from_foreign_keys_and_key_names() -> None:
    assert references(SCHEMA.tables["appointments"], SCHEMA) == {"patient_id": "patients"}
    assert references(SCHEMA.tables["patients"], SCHEMA) == {}


def test_a_column_named_as_a_key_it_cannot_hold_is_no_reference() -> None:
    """Joplin's notes_normalized.id (TEXT) was filled with items_normalized's INTEGER
    ids and every row refused (triage BAP of review BAA H3)."""
    conn = sqlite3.connect(":memory:")
    conn.executescript(
        "CREATE TABLE resources (id TEXT PRIMARY KEY, title TEXT);"
        "CREATE TABLE notes (nid INTEGER PRIMARY KEY, id TEXT NOT NULL);"
        "CREATE TABLE items (id INTEGER PRIMARY KEY, title TEXT);"
        "CREATE TABLE links (lid INTEGER PRIMARY KEY, id INTEGER);"
    )
    schema = snapshot(conn)
    assert references(schema.tables["notes"], schema) == {"id": "resources"}
    assert references(schema.tables["links"], schema) == {"id": "items"}
    conn.execute("DROP TABLE resources")
    schema = snapshot(conn)
    assert references(schema.tables["notes"], schema) == {}


def test_unique_columns_skip_references_and_keys() -> None:
    assert unique_columns(SCHEMA.tables["patients"], SCHEMA) == {"email"}
    assert unique_columns(SCHEMA.tables["appointments"], SCHEMA) == {"starts_at"}


@given(st.data())
def test_values_fit_their_column(data: st.DataObject) -> None:
    for table in SCHEMA.tables.values():
        for column in table.columns:
            value = data.draw(values_for(column))
            if isinstance(value, dict):
                continue  # a BLOB travels base64-encoded
            assert value_problem(column, value) is None, (column, value)


@given(st.data())
def test_a_strict_tables_blob_column_gets_blobs_only(data: st.DataObject) -> None:
    """A STRICT table refuses text in a BLOB column: drawn there, every row was dropped
    as invalid traffic and Zed's rename went unseen (review BAA H1)."""
    from harness.strategies import replica_values_for

    column = Column("location", "BLOB", False, None, 0, strict=True)
    for drawn in (values_for(column), replica_values_for(column, "a", case_variants=True)):
        value = data.draw(drawn)
        assert value is None or set(value) == {"$b64"}, value
    sized = values_for(column, ["length(location) = 16"])  # a length CHECK (review BAC-5)
    value = data.draw(sized)
    assert value is None or len(base64.b64decode(value["$b64"])) == 16, value
    # Short fixed lengths keep the replica's byte: two replicas never write the same
    # bytes (review BAE E6: a safe history read broken).
    from harness.strategies import _replica_bytes

    for size in (1, 2, 4, 5):
        assert {_replica_bytes("a", 7, size), _replica_bytes("b", 7, size)} != {b""}
        assert _replica_bytes("a", 7, size) != _replica_bytes("b", 7, size)
        assert len(_replica_bytes("a", 7, size)) == size
    plain = Column("location", "BLOB", False, None, 0)  # not STRICT: any value
    assert not isinstance(data.draw(replica_values_for(plain, "a")), dict)


@pytest.mark.parametrize(
    ("check", "sizes"),
    [
        ("length(id) = 16", {16}),
        ("length(id) == 16", {16}),
        ("length(id) >= 16", set(range(16, 33))),
        ("length(id) BETWEEN 16 AND 32", set(range(16, 33))),
        ("length(hex(id)) = 32", {16}),
    ],
)
@given(data=st.data())
def test_a_blob_length_check_is_read_however_written(
    check: str, sizes: set[int], data: st.DataObject
) -> None:
    """Only ``length(x) = N`` was read: a STRICT BLOB key or column under any other
    length CHECK got no rows (triage BAP of review BAE E5)."""
    from harness.strategies import replica_values_for

    key = Column("id", "BLOB", True, None, 1, strict=True)
    column = Column("id", "BLOB", True, None, 0, strict=True)
    for drawn in (replica_values_for(key, "a", checks=[check]), values_for(column, [check])):
        value = data.draw(drawn)
        assert len(base64.b64decode(value["$b64"])) in sizes, (check, value)


@pytest.mark.parametrize(
    "table",
    [
        "t (id BLOB PRIMARY KEY CHECK (length(id) >= 16), name TEXT NOT NULL) STRICT",
        "t (id TEXT PRIMARY KEY, h BLOB NOT NULL CHECK (length(h) BETWEEN 16 AND 32),"
        " name TEXT NOT NULL) STRICT",
    ],
    ids=["key", "column"],
)
def test_a_rename_beside_a_blob_length_bound_is_broken(tmp_path: Path, table: str) -> None:
    """The rename read partial (triage BAP of review BAE E5)."""
    from harness.matrix import MatrixConfig, run_matrix

    folder = migrations_folder(
        tmp_path, f"CREATE TABLE {table};", "ALTER TABLE t RENAME COLUMN name TO title;"
    )
    config = MatrixConfig(migrations=folder, examples=10, seed=1, jobs=1, relay=False)
    cells = {(c.local, c.peer): c.observed for c in run_matrix(config).cells}
    assert cells[(1, 2)] == cells[(2, 1)] == "broken"


def test_a_strict_blob_keyed_table_gets_traffic_and_its_breaks_are_seen(tmp_path: Path) -> None:
    """16-byte UUID keys in a STRICT table, the usual local-first layout (review BAD-1,
    BAD-2): keys were text, refused, so the table got no traffic; then dict keys made
    the matrix crash (unhashable) and were refused by insert()."""
    from harness.matrix import MatrixConfig, run_matrix

    folder = migrations_folder(
        tmp_path,
        "CREATE TABLE tags (id BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),"
        " label TEXT NOT NULL) STRICT, WITHOUT ROWID;",
        "CREATE UNIQUE INDEX tags_label ON tags(label);",
    )
    config = MatrixConfig(migrations=folder, examples=10, seed=1, jobs=1, relay=False)
    cells = {(c.local, c.peer): c for c in run_matrix(config).cells}
    assert {key: c.observed for key, c in cells.items()} == {
        (1, 1): "full",
        (1, 2): "broken",
        (2, 1): "broken",
        (2, 2): "full",
    }
    assert all(not c.untested_tables for c in cells.values())


@given(st.data())
def test_not_null_columns_never_get_null(data: st.DataObject) -> None:
    column = Column("n", "TEXT", True, None, 0)
    assert data.draw(values_for(column)) is not None


@given(
    rows_for(SCHEMA.tables["patients"], SCHEMA, "a"),
    rows_for(SCHEMA.tables["patients"], SCHEMA, "b"),
)
def test_two_replicas_never_mint_the_same_key_or_unique_value(
    a: dict[str, Any], b: dict[str, Any]
) -> None:
    assert a["key"] != b["key"]
    assert a["values"]["email"] != b["values"]["email"]
    assert {"email", "full_name"} <= set(a["values"])  # required columns always given


def test_integer_keys_are_disjoint_per_replica() -> None:
    table = SCHEMA.tables["appointments"]
    seen: dict[str, set[int]] = {"a": set(), "b": set()}

    @settings(max_examples=50)
    @given(keys_for(table, "a"), keys_for(table, "b"))
    def draw(a: int, b: int) -> None:
        seen["a"].add(a)
        seen["b"].add(b)

    draw()
    assert not seen["a"] & seen["b"]


@given(traffic(SCHEMA, SCHEMA))
def test_traffic_is_plain_json_data(steps: list[dict[str, Any]]) -> None:
    assert json.loads(json.dumps(steps)) == steps
    assert all(step["op"] in ("insert", "update", "delete", "sync") for step in steps)


def test_links_under_a_unique_of_references_point_at_the_replicas_own_rows(
    tmp_path: Path,
) -> None:
    """A tag once per photo: two replicas linking the same photo and tag collide by
    the data alone, at any version. Each links its own photos (as it draws its own
    values for a free UNIQUE column); both have the other's photos after a sync."""
    folder = migrations_folder(
        tmp_path,
        "CREATE TABLE photo (id TEXT PRIMARY KEY, path TEXT NOT NULL);"
        " CREATE TABLE tag (id INTEGER PRIMARY KEY, label TEXT);"
        " CREATE TABLE photo_tag (id INTEGER PRIMARY KEY,"
        " photo_id TEXT NOT NULL REFERENCES photo (id),"
        " tag_id INTEGER NOT NULL REFERENCES tag (id));"
        " CREATE UNIQUE INDEX photo_tag_pair ON photo_tag (photo_id, tag_id);",
    )
    replicas = {
        name: open_replica(tmp_path / f"{name}.db", migrations=folder, peer_id=f"replica-{name}")
        for name in "ab"
    }
    schema = replicas["a"].schema
    assert own_references(schema.tables["photo_tag"], schema, {}) == ["photo_id"]
    execution = Execution()
    steps: list[dict[str, Any]] = [
        {"replica": "a", "op": "insert", "table": "photo", "key": "a-1", "values": {"path": "x"}},
        {"replica": "b", "op": "insert", "table": "photo", "key": "b-1", "values": {"path": "y"}},
        {"replica": "a", "op": "insert", "table": "tag", "key": 1, "values": {}},
        {"op": "sync"},
    ]
    for name, key in (("a", 100), ("b", 200)):  # both pick the first photo and tag there are
        steps.append(
            {
                "replica": name,
                "op": "insert",
                "table": "photo_tag",
                "key": key,
                "values": {},
                "refs": {"photo_id": 0, "tag_id": 0},
                "own_refs": ["photo_id"],
            }
        )
    steps.append({"op": "sync"})
    for step in steps:
        run_step(replicas, step, execution)
    links = {row["id"]: row["photo_id"] for row in replicas["a"].rows("photo_tag")}
    assert links == {100: "a-1", 200: "b-1"}
    assert sum(r.rejected for results in execution.received.values() for r in results) == 0
    for replica in replicas.values():
        replica.close()


BOOKINGS = (
    "CREATE TABLE bookings (id TEXT PRIMARY KEY, guest TEXT, check_in TEXT NOT NULL,"
    " check_out TEXT NOT NULL, note TEXT, CHECK (check_out > check_in));"
)


def bookings_schema() -> Schema:
    conn = sqlite3.connect(":memory:")
    conn.execute(BOOKINGS)
    return snapshot(conn)


@settings(max_examples=60)
@given(st.data())
def test_an_update_sets_the_columns_one_check_compares_together(data: st.DataObject) -> None:
    """Set one at a time by two replicas, the merge could make a row neither wrote
    (check-in of one, check-out of the other) that the CHECK refuses at any version."""
    schema = bookings_schema()
    step = data.draw(updates_for(schema.tables["bookings"], schema, "a"))
    touched = {"check_in", "check_out"} & step["values"].keys()
    assert touched in (set(), {"check_in", "check_out"})


def test_columns_a_raising_trigger_compares_are_set_together() -> None:
    conn = sqlite3.connect(":memory:")
    conn.executescript(
        "CREATE TABLE spans (id TEXT PRIMARY KEY, starts_at INTEGER, ends_at INTEGER, note TEXT);"
        " CREATE TRIGGER span BEFORE UPDATE ON spans WHEN NEW.ends_at <= NEW.starts_at"
        " BEGIN SELECT RAISE(ABORT, 'ends before it starts'); END;"
    )
    schema = snapshot(conn)
    assert checked_together(schema.tables["spans"], schema) == [frozenset({"starts_at", "ends_at"})]


def test_a_unique_over_a_generated_column_keeps_the_column_it_reads_apart() -> None:
    """Two replicas writing email '' would collide on lower(email) by the data alone."""
    conn = sqlite3.connect(":memory:")
    conn.executescript(
        "CREATE TABLE accounts (id INTEGER PRIMARY KEY, email TEXT,"
        " email_key TEXT GENERATED ALWAYS AS (lower(email)) VIRTUAL);"
        " CREATE UNIQUE INDEX accounts_email_key ON accounts (email_key);"
    )
    schema = snapshot(conn)
    assert unique_columns(schema.tables["accounts"], schema) == {"email"}


def test_edits_after_an_upgrade_rewrite_rows_with_generated_columns_too(tmp_path: Path) -> None:
    """rows() lists generated columns, which no write can set: left in, every rewrite
    of such a table was refused at B and skipped, so A was never asked to take one."""
    folder = migrations_folder(
        tmp_path,
        "CREATE TABLE people (id TEXT PRIMARY KEY, email TEXT,"
        " k TEXT GENERATED ALWAYS AS (lower(email)) VIRTUAL);",
    )
    a = open_replica(tmp_path / "a.db", migrations=folder, peer_id="replica-a")
    b = open_replica(tmp_path / "b.db", migrations=folder, peer_id="replica-b")
    a.insert("people", {"email": "Ann@x"})
    sync(a, b)
    execution = Execution()
    assert edit_after_upgrade(a, b, execution) == []
    assert execution.discarded == 0
    assert sum(r.applied for results in execution.received.values() for r in results) == 2
    a.close()
    b.close()


def _schema(sql: str) -> Schema:
    conn = sqlite3.connect(":memory:")
    conn.executescript(sql)
    return snapshot(conn)


STOPS = "CREATE TABLE stops (id INTEGER PRIMARY KEY, trip TEXT, seq INTEGER, day TEXT);"


def test_a_unique_over_fewer_columns_there_is_contested_here() -> None:
    """``(trip, seq)`` there, ``(trip, seq, day)`` here: rows agreeing on trip and seq
    are one too many there; a key here on a subset of its columns implies it."""
    wide = _schema(STOPS + "CREATE UNIQUE INDEX once ON stops (trip, seq, day);")
    narrow = _schema(STOPS + "CREATE UNIQUE INDEX once ON stops (seq, trip);")
    single = _schema(STOPS + "CREATE UNIQUE INDEX once ON stops (trip);")
    assert contested_columns(wide, narrow) == {"stops": frozenset({"trip", "seq"})}
    # UNIQUE (trip) here implies it: trip stays this replica's own.
    assert "trip" not in contested_columns(single, narrow).get("stops", set())
    assert contested_columns(narrow, narrow) == {}


def test_a_partial_unique_here_does_not_imply_a_whole_one_there() -> None:
    """``(trip, seq) WHERE day IS NULL`` here, ``(trip, seq)`` there: rows agreeing on
    trip and seq with a day are one too many there (triage BAP of review BAD-3)."""
    partial = _schema(STOPS + "CREATE UNIQUE INDEX once ON stops (trip, seq) WHERE day IS NULL;")
    whole = _schema(STOPS + "CREATE UNIQUE INDEX once ON stops (trip, seq);")
    assert contested_columns(partial, whole) == {"stops": frozenset({"trip", "seq"})}
    assert contested_columns(whole, partial) == {}
    assert contested_columns(partial, partial) == {}


def test_a_unique_narrowed_to_fewer_columns_breaks_both_directions(tmp_path: Path) -> None:
    from harness.matrix import MatrixConfig, run_matrix

    directory = tmp_path / "migrations"
    directory.mkdir()
    (directory / "001_stops.sql").write_text(
        STOPS + "\nCREATE UNIQUE INDEX once ON stops (trip, seq, day);"
    )
    (directory / "002_narrower.sql").write_text(
        "DROP INDEX once;\nCREATE UNIQUE INDEX once ON stops (trip, seq);"
    )
    config = MatrixConfig(
        migrations=directory, examples=10, seed=1, jobs=1, relay=False, replay_dir=tmp_path
    )
    broken = {(c.local, c.peer) for c in run_matrix(config).cells if c.observed == "broken"}
    assert broken == {(1, 2), (2, 1)}


MEMBERSHIPS = _schema(
    "CREATE TABLE people (id TEXT PRIMARY KEY);"
    "CREATE TABLE groups (id TEXT PRIMARY KEY);"
    "CREATE TABLE memberships (id TEXT PRIMARY KEY,"
    " person_id TEXT NOT NULL REFERENCES people(id),"
    " group_id TEXT NOT NULL REFERENCES groups(id), UNIQUE (person_id, group_id));"
)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_links_a_unique_covers_given_as_values_are_each_replicas_own(data: st.DataObject) -> None:
    """Two replicas writing ``('', '')`` as a membership's links collide by the data
    alone, at one version (a matrix once called such a diagonal cell broken)."""
    table = MEMBERSHIPS.tables["memberships"]
    drawn = {}
    for replica in ("a", "b"):
        values = data.draw(rows_for(table, MEMBERSHIPS, replica))["values"]
        drawn[replica] = (values.get("person_id"), values.get("group_id"))
    assert None in drawn["a"] or None in drawn["b"] or drawn["a"] != drawn["b"], drawn


JUNCTION = (
    "CREATE TABLE students (id INTEGER PRIMARY KEY); CREATE TABLE courses (id INTEGER PRIMARY KEY);"
    "CREATE TABLE enrollments (id INTEGER PRIMARY KEY,"
    " student_id INTEGER REFERENCES students(id), course_id INTEGER REFERENCES courses(id),"
    " seat TEXT, note TEXT);"
)


def test_a_unique_spelled_again_contests_nothing() -> None:
    """The same UNIQUE in another column order or case, one on a column only the other
    version has, a partial one with its condition respelled: no rows made to collide
    (they collided by the data alone, as two replicas linked the same pair)."""
    base = _schema(JUNCTION + "CREATE UNIQUE INDEX u ON enrollments (student_id, course_id);")
    for other in (
        JUNCTION + "CREATE UNIQUE INDEX u ON enrollments (course_id, student_id);",
        JUNCTION.replace("student_id INTEGER", "Student_Id INTEGER")
        + "CREATE UNIQUE INDEX u ON enrollments (Student_Id, course_id);",
        JUNCTION.replace("note TEXT", "note TEXT, code TEXT UNIQUE")
        + "CREATE UNIQUE INDEX u ON enrollments (student_id, course_id);",
    ):
        assert contested_columns(base, _schema(other)) == {}, other
    live = "CREATE UNIQUE INDEX s ON enrollments (seat) WHERE note IS NULL;"
    assert (
        contested_columns(
            _schema(JUNCTION + live), _schema(JUNCTION + live.replace("IS NULL", "ISNULL"))
        )
        == {}
    )


PRODUCTS = (
    "CREATE TABLE categories (id INTEGER PRIMARY KEY, name TEXT NOT NULL);"
    "CREATE TABLE products (id INTEGER PRIMARY KEY,"
    " category_id INTEGER NOT NULL REFERENCES categories(id), name TEXT NOT NULL,"
    " price REAL, UNIQUE (category_id, name));"
)


@settings(max_examples=80)
@given(st.data())
def test_an_update_sets_the_columns_one_unique_covers_together(data: st.DataObject) -> None:
    """B moving A's product to another category while A renames it, the merge could
    make a row neither wrote, equal on (category_id, name) to another: refused at any
    version. The link is picked whenever the name is set, and the other way."""
    schema = _schema(PRODUCTS)
    step = data.draw(updates_for(schema.tables["products"], schema, "a"))
    touched = {"category_id", "name"} & (step["values"].keys() | step["refs"].keys())
    if touched:
        assert {"category_id", "name"} <= step["values"].keys()
        assert "category_id" in step["refs"]


def test_a_partial_uniques_condition_is_written_with_its_columns() -> None:
    schema = _schema(
        "CREATE TABLE accounts (id TEXT PRIMARY KEY, email TEXT, gone INTEGER, note TEXT);"
        "CREATE UNIQUE INDEX live ON accounts (email) WHERE gone = 0;"
    )
    assert written_together(schema.tables["accounts"], schema) == [frozenset({"email", "gone"})]
    assert written_together(_schema(PRODUCTS).tables["categories"], _schema(PRODUCTS)) == []


def test_a_unique_over_a_link_and_a_name_is_no_broken_cell_at_one_version(
    tmp_path: Path,
) -> None:
    """A safe one-version history: at seed 2 its one cell was broken by the merge of
    one replica's category and the other's name (a conflict of the data alone)."""
    from harness.matrix import MatrixConfig, run_matrix

    directory = tmp_path / "migrations"
    directory.mkdir()
    (directory / "001_catalog.sql").write_text(PRODUCTS.replace(" price REAL,", ""))
    config = MatrixConfig(
        migrations=directory, examples=12, seed=2, jobs=1, relay=False, replay_dir=tmp_path
    )
    cells = run_matrix(config).cells
    assert [c.observed for c in cells] == ["full"], [c.reasons for c in cells]


def test_groups_that_share_a_column_are_written_as_one() -> None:
    schema = _schema(
        "CREATE TABLE rooms (id INTEGER PRIMARY KEY);"
        "CREATE TABLE stays (id INTEGER PRIMARY KEY, room_id INTEGER REFERENCES rooms(id),"
        " check_in TEXT, check_out TEXT, note TEXT, CHECK (check_out > check_in),"
        " UNIQUE (room_id, check_in));"
    )
    assert written_together(schema.tables["stays"], schema) == [
        frozenset({"room_id", "check_in", "check_out"})
    ]


def _schema(sql: str) -> Schema:
    conn = sqlite3.connect(":memory:")
    conn.executescript(sql)
    return snapshot(conn)


def test_values_outside_a_check_only_the_other_version_holds() -> None:
    from harness.strategies import outside_checks

    plain = _schema("CREATE TABLE b (id TEXT PRIMARY KEY, qty INTEGER, kind TEXT);")
    checked = _schema(
        "CREATE TABLE b (id TEXT PRIMARY KEY, qty INTEGER CHECK (qty >= 0 AND qty <= 5),"
        " kind TEXT CHECK (kind IN ('a', 'b')));"
    )
    wider = _schema(
        "CREATE TABLE b (id TEXT PRIMARY KEY, qty INTEGER CHECK (qty BETWEEN 0 AND 10), kind TEXT);"
    )
    respelled = _schema(
        "CREATE TABLE b (id TEXT PRIMARY KEY,"
        " qty INTEGER CHECK (qty >= 0 AND qty <= 10), kind TEXT);"
    )
    assert outside_checks(plain, checked) == {"b": {"qty": (-1, 6), "kind": ("(none of these)",)}}
    beyond = {"b": {"qty": (6,), "kind": ("(none of these)",)}}  # -1: refused here too
    assert outside_checks(wider, checked) == beyond
    assert outside_checks(checked, plain) == {}
    assert outside_checks(wider, respelled) == {}  # the same CHECK written another way
    # A rule this version keeps in a RAISE trigger refuses them here too: not drawn.
    guarded = _schema(
        "CREATE TABLE b (id TEXT PRIMARY KEY, qty INTEGER, kind TEXT);"
        " CREATE TRIGGER g BEFORE INSERT ON b WHEN NEW.qty < 0"
        " BEGIN SELECT RAISE(ABORT, 'negative'); END;"
    )
    assert outside_checks(guarded, checked) == {"b": {"kind": ("(none of these)",)}}


def test_the_choices_a_grown_in_list_adds_are_drawn() -> None:
    """A status list that gained values (a real plex-manager migration, review BU F6):
    the values only this version allows are the ones that break sync; drawn at random
    among the list's eight, the matrix missed them at 10 examples."""
    from harness.strategies import outside_checks

    def statuses(*choices: str) -> Schema:
        listed = ", ".join(f"'{choice}'" for choice in choices)
        return _schema(
            f"CREATE TABLE u (id INTEGER PRIMARY KEY, status TEXT CHECK (status IN ({listed})));"
        )

    old = statuses("active", "expired", "invited")
    new = statuses("active", "reminder", "expired", "invited", "unknown")
    assert outside_checks(new, old) == {"u": {"status": ("reminder", "unknown")}}
    assert outside_checks(old, new) == {}  # every old value passes the new list
    # Through a case fold too (review BW-5): lower(status) IN (...).
    folded = _schema(
        "CREATE TABLE u (id INTEGER PRIMARY KEY,"
        " status TEXT CHECK (lower(status) IN ('active', 'reminder')));"
    )
    was = _schema(
        "CREATE TABLE u (id INTEGER PRIMARY KEY, status TEXT CHECK (lower(status) IN ('active')));"
    )
    assert outside_checks(folded, was)["u"]["status"][-1] == "reminder"
    numbers = _schema(
        "CREATE TABLE u (id INTEGER PRIMARY KEY, status TEXT CHECK (status IN (1, 2, 9)));"
    )
    assert outside_checks(
        numbers,
        _schema("CREATE TABLE u (id INTEGER PRIMARY KEY, status TEXT CHECK (status IN (1, 2)))"),
    ) == {"u": {"status": (9,)}}


def test_a_new_check_breaks_its_cells_in_the_first_examples(tmp_path: Path) -> None:
    """Random values rarely fall outside ``qty >= 0`` (hypothesis favours small positive
    numbers): the cells read full or partial on some seeds at 10 examples."""
    from harness.matrix import MatrixConfig, run_matrix

    folder = migrations_folder(
        tmp_path,
        "CREATE TABLE batches (id TEXT PRIMARY KEY NOT NULL, lot TEXT NOT NULL,"
        " qty INTEGER DEFAULT 0);",
        "CREATE TABLE b2 (id TEXT PRIMARY KEY NOT NULL, lot TEXT NOT NULL,"
        " qty INTEGER DEFAULT 0 CHECK (qty >= 0));"
        " INSERT INTO b2 SELECT id, lot, qty FROM batches; DROP TABLE batches;"
        " ALTER TABLE b2 RENAME TO batches;",
    )
    for seed_value in (3, 5, 6):
        config = MatrixConfig(migrations=folder, examples=2, seed=seed_value, jobs=1, relay=False)
        cells = {(c.local, c.peer): c.observed for c in run_matrix(config).cells}
        assert cells == {(1, 1): "full", (1, 2): "broken", (2, 1): "broken", (2, 2): "full"}


def test_values_just_longer_than_the_other_versions_length_check() -> None:
    """``length(title) <= 100`` where this version allows 200: titles of 101 characters
    (random text is at most 24 long: such a tightening went unseen, review BJ F2)."""
    from harness.strategies import outside_checks

    def titles(check: str) -> Schema:
        return _schema(f"CREATE TABLE p (id TEXT PRIMARY KEY, title TEXT CHECK ({check}));")

    loose, tight = titles("length(title) <= 200"), titles("length(title) BETWEEN 3 AND 100")
    assert outside_checks(loose, tight) == {"p": {"title": ("x" * 101, "xx")}}
    assert outside_checks(tight, loose) == {}  # 201 characters: refused here too


def test_a_tightened_length_check_breaks_its_cells_on_every_seed(tmp_path: Path) -> None:
    from harness.matrix import MatrixConfig, run_matrix

    table = "CREATE TABLE patterns (id TEXT PRIMARY KEY, title TEXT CHECK (length(title) <= {}));"
    folder = migrations_folder(
        tmp_path,
        table.format(200),
        table.format(100).replace("patterns", "p2")
        + " INSERT INTO p2 SELECT * FROM patterns; DROP TABLE patterns;"
        " ALTER TABLE p2 RENAME TO patterns;",
    )
    for seed_value in (1, 3, 4):
        config = MatrixConfig(migrations=folder, examples=3, seed=seed_value, jobs=1, relay=False)
        cells = {(c.local, c.peer): c.observed for c in run_matrix(config).cells}
        assert cells == {(1, 1): "full", (1, 2): "broken", (2, 1): "broken", (2, 2): "full"}


@pytest.mark.parametrize("referee", [False, True])
def test_a_new_unique_link_collides_though_a_check_keeps_two_links_apart(
    tmp_path: Path, referee: bool
) -> None:
    """games link white and black to members, CHECK (white_id <> black_id); v2 makes
    white_id UNIQUE. The colliding rows linked every link to one member, which the CHECK
    refused: the cells read full (review BL-1)."""
    from harness.matrix import MatrixConfig, run_matrix

    folder = migrations_folder(
        tmp_path,
        "CREATE TABLE members (id INTEGER PRIMARY KEY, name TEXT);"
        " CREATE TABLE games (id INTEGER PRIMARY KEY,"
        " white_id INTEGER NOT NULL REFERENCES members(id),"
        " black_id INTEGER NOT NULL REFERENCES members(id),"
        + (
            " referee_id INTEGER NOT NULL REFERENCES members(id),"
            " CHECK (black_id <> referee_id AND white_id <> referee_id),"  # (review BN-5)
            if referee
            else ""
        )
        + " CHECK (white_id <> black_id));",
        "CREATE UNIQUE INDEX one_white ON games (white_id);",
    )
    # (A peer's random update of a colliding row's link may undo the collision before
    # A's upgrade: (1, 2) needs a few examples.)
    config = MatrixConfig(migrations=folder, examples=10, seed=2, jobs=1, relay=False)
    cells = {(c.local, c.peer): c.observed for c in run_matrix(config).cells}
    assert cells == {(1, 1): "full", (1, 2): "broken", (2, 1): "broken", (2, 2): "full"}


@pytest.mark.parametrize(
    ("check", "shortest", "longest"),
    [
        ("length(title) <= 100", None, 100),
        ('length("title")<100', None, 99),
        ("LENGTH(title) BETWEEN 2 AND 9", 2, 9),
        ("length(title) > 0 AND length(title) <= 40", 1, 40),
        ("NOT (length(title) > 50)", None, 50),  # (review BN-7: read as at least 51)
        ("length(title) <= 1e2", None, None),  # not a whole number: no hint
        ("octet_length(title) <= 20", None, None),  # another function
        ("length(title) < 0", None, None),  # no text at all: no hint (review BN-6: a crash)
        ("length(title) < 3 OR length(title) > 9", None, None),  # an OR read as an AND
    ],
)
def test_length_bounds_read_as_hints(check: str, shortest: int | None, longest: int | None) -> None:
    from harness.checks import allowed

    hint = allowed("title", [check])
    assert (hint.shortest, hint.longest) == (shortest, longest)


MEMBERS = "CREATE TABLE members (id INTEGER PRIMARY KEY, name TEXT);"
NEW_UNIQUES = {
    # (review BQ-1/BP-1) The colliding rows pointed a link the new UNIQUE covers beside
    # the contested column at other parent rows: they never collided.
    "two links": (
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL);"
        " CREATE TABLE friendships (id INTEGER PRIMARY KEY,"
        " user_id INTEGER NOT NULL REFERENCES users(id),"
        " friend_id INTEGER NOT NULL REFERENCES users(id), since TEXT);",
        "CREATE UNIQUE INDEX one_friendship ON friendships (user_id, friend_id);",
    ),
    "a link and a column": (
        "CREATE TABLE concerts (id INTEGER PRIMARY KEY, title TEXT NOT NULL);"
        " CREATE TABLE seats (id INTEGER PRIMARY KEY,"
        " concert_id INTEGER NOT NULL REFERENCES concerts(id), seat TEXT NOT NULL);",
        "CREATE UNIQUE INDEX one_holder ON seats (concert_id, seat);",
    ),
    # (review BQ-2) A parent keyed in a range of 7: five rows for one replica crashed.
    "parent keys in a range": (
        "CREATE TABLE weekdays (id INTEGER PRIMARY KEY CHECK (id BETWEEN 1 AND 7),"
        " name TEXT NOT NULL); CREATE TABLE nurses (id INTEGER PRIMARY KEY, name TEXT);"
        " CREATE TABLE shifts (id INTEGER PRIMARY KEY,"
        " nurse_id INTEGER NOT NULL REFERENCES nurses(id),"
        " start_day_id INTEGER NOT NULL REFERENCES weekdays(id),"
        " end_day_id INTEGER NOT NULL REFERENCES weekdays(id), note TEXT);",
        "CREATE UNIQUE INDEX one_shift_per_nurse ON shifts (nurse_id);",
    ),
    # (review BQ-5) A CHECK keeps the links apart, and the parent has no column but its
    # key (it had one row), or six links (the rows ran out).
    "a key-only parent": (
        "CREATE TABLE members (id INTEGER PRIMARY KEY);"
        " CREATE TABLE games (id INTEGER PRIMARY KEY,"
        " white_id INTEGER NOT NULL REFERENCES members(id),"
        " black_id INTEGER NOT NULL REFERENCES members(id), CHECK (white_id <> black_id));",
        "CREATE UNIQUE INDEX one_white ON games (white_id);",
    ),
    # (review BS-1) The links the new UNIQUE covers pointed at one row, which the CHECK
    # keeping them apart refused, here as at v2; now each its own row, in declared order.
    "two links a CHECK keeps apart": (
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL);"
        " CREATE TABLE friendships (id INTEGER PRIMARY KEY,"
        " user_id INTEGER NOT NULL REFERENCES users(id),"
        " friend_id INTEGER NOT NULL REFERENCES users(id), CHECK (user_id <> friend_id));",
        "CREATE UNIQUE INDEX one_friendship ON friendships (user_id, friend_id);",
    ),
    "two links a CHECK orders": (
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL);"
        " CREATE TABLE friendships (id INTEGER PRIMARY KEY,"
        " user_id INTEGER NOT NULL REFERENCES users(id),"
        " friend_id INTEGER NOT NULL REFERENCES users(id), CHECK (user_id < friend_id));",
        "CREATE UNIQUE INDEX one_friendship ON friendships (user_id, friend_id);",
    ),
    # (review BT-1) In declared order only, a descending CHECK refused every colliding row.
    "two links a CHECK orders descending": (
        "CREATE TABLE members (id INTEGER PRIMARY KEY, name TEXT);"
        " CREATE TABLE games (id INTEGER PRIMARY KEY,"
        " white_id INTEGER NOT NULL REFERENCES members(id),"
        " black_id INTEGER NOT NULL REFERENCES members(id), CHECK (white_id > black_id));",
        "CREATE UNIQUE INDEX one_pairing ON games (white_id, black_id);",
    ),
    "six links": (
        MEMBERS
        + " CREATE TABLE matches (id INTEGER PRIMARY KEY, "
        + ", ".join(f"{x}_id INTEGER NOT NULL REFERENCES members(id)" for x in "abcdef")
        + ", CHECK (a_id NOT IN (b_id, c_id, d_id, e_id, f_id)));",
        "CREATE UNIQUE INDEX one_a ON matches (a_id);",
    ),
}


@pytest.mark.parametrize("shape", sorted(NEW_UNIQUES))
def test_a_new_unique_breaks_its_cells_on_every_seed(tmp_path: Path, shape: str) -> None:
    from harness.matrix import MatrixConfig, run_matrix

    folder = migrations_folder(tmp_path, *NEW_UNIQUES[shape])
    # (A peer's random update of a colliding row's link may undo the collision before
    # A's upgrade: (1, 2) may need a few examples.)
    for seed in (0, 1):
        config = MatrixConfig(migrations=folder, examples=10, seed=seed, jobs=1, relay=False)
        cells = {(c.local, c.peer): c.observed for c in run_matrix(config).cells}
        assert cells == {(1, 1): "full", (1, 2): "broken", (2, 1): "broken", (2, 2): "full"}


@pytest.mark.parametrize("not_null", ["NOT NULL ", "CHECK (stylist_id IS NOT NULL) "])
def test_a_link_made_not_null_breaks_its_cells_on_every_seed(tmp_path: Path, not_null: str) -> None:
    """A link's value is a row's key whenever the linked table has rows, so an older
    client's NULL link (a walk-in with no stylist) was drawn almost never, and the cells
    where the newer client refuses it read partial or full (review BP-5)."""
    from harness.matrix import MatrixConfig, run_matrix

    table = (
        "CREATE TABLE {} (id INTEGER PRIMARY KEY, stylist_id INTEGER {}REFERENCES stylists(id),"
        " client TEXT NOT NULL);"
    )
    folder = migrations_folder(
        tmp_path,
        "CREATE TABLE stylists (id INTEGER PRIMARY KEY, name TEXT NOT NULL);"
        + table.format("appointments", ""),
        table.format("appointments_new", not_null)
        + "INSERT INTO appointments_new SELECT * FROM appointments;"
        " DROP TABLE appointments; ALTER TABLE appointments_new RENAME TO appointments;",
    )
    for seed in (0, 1):
        config = MatrixConfig(migrations=folder, examples=3, seed=seed, jobs=1, relay=False)
        cells = {(c.local, c.peer): c.observed for c in run_matrix(config).cells}
        assert cells == {(1, 1): "full", (1, 2): "broken", (2, 1): "broken", (2, 2): "full"}


@pytest.mark.parametrize("check", ["id BETWEEN 1 AND 1", "id >= 1 AND id <= 1", "id = 1"])
def test_a_table_of_one_row_is_written_by_both_replicas(tmp_path: Path, check: str) -> None:
    """A range of one key left the second replica none to mint: a traceback from
    hypothesis (review BS-3). Both write the one row, which sync merges."""
    from harness.matrix import MatrixConfig, run_matrix

    folder = migrations_folder(
        tmp_path,
        f"CREATE TABLE settings (id INTEGER PRIMARY KEY CHECK ({check}), theme TEXT);",
        "ALTER TABLE settings ADD COLUMN font TEXT;",
    )
    config = MatrixConfig(migrations=folder, examples=5, seed=0, jobs=1, relay=False)
    result = run_matrix(config)
    assert result.ok, [c.reasons for c in result.cells if not c.ok]
    assert all(not c.untested_tables for c in result.cells)


def test_a_link_an_insert_trigger_guards_made_not_null_breaks_its_cells(tmp_path: Path) -> None:
    """v1 refuses a task with no list on INSERT only (a trigger); v2 makes the link NOT
    NULL. An update can still empty it at v1, which v2 refuses: the NULL is drawn for
    such a link too, though its trigger mentions it (review BS-8)."""
    from harness.matrix import MatrixConfig, run_matrix

    folder = migrations_folder(
        tmp_path,
        "CREATE TABLE lists (id INTEGER PRIMARY KEY, name TEXT NOT NULL);"
        " CREATE TABLE tasks (id INTEGER PRIMARY KEY, title TEXT,"
        " list_id INTEGER REFERENCES lists(id));"
        " CREATE TRIGGER t_ins BEFORE INSERT ON tasks WHEN NEW.list_id IS NULL"
        " BEGIN SELECT RAISE(ABORT, 'list required'); END;",
        "DROP TRIGGER t_ins; CREATE TABLE tasks_new (id INTEGER PRIMARY KEY, title TEXT,"
        " list_id INTEGER NOT NULL REFERENCES lists(id));"
        " INSERT INTO tasks_new SELECT id, title, list_id FROM tasks;"
        " DROP TABLE tasks; ALTER TABLE tasks_new RENAME TO tasks;",
    )
    for seed in (0, 1):
        config = MatrixConfig(migrations=folder, examples=5, seed=seed, jobs=1, relay=False)
        cells = {(c.local, c.peer): c.observed for c in run_matrix(config).cells}
        assert cells == {(1, 1): "full", (1, 2): "broken", (2, 1): "broken", (2, 2): "full"}


SATISFIED = "CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER DEFAULT 0, s TEXT DEFAULT 'draft'"


@pytest.mark.parametrize(
    "condition",
    [
        "a = 1",
        "a IS 1",
        "a",
        "NOT a",
        "a != 0",
        "a <> 0 AND s = 'open'",
        "s <> 'draft'",
        "s = 'owner' OR a = 1",
        "s IN ('held', 'open') AND a = TRUE",
        "s = 'on and off' AND a = 0",
    ],
)
def test_values_meeting_a_partial_unique_condition_are_found(condition: str) -> None:
    """Review BAT-1: colliding rows must meet the condition, however it is written, with
    values their columns hold and the table's CHECKs pass (here: s is never 'x')."""
    conn = sqlite3.connect(":memory:")
    conn.execute(f"{SATISFIED}, CHECK (s <> 'x'))")
    table = snapshot(conn).tables["t"]
    found = satisfying(table, condition, ["a", "s"])
    assert found is not None
    if found:
        conn.execute("INSERT INTO t (a, s) VALUES (?, ?)", (found["a"], found["s"]))
        assert isinstance(found["a"], int | None) and isinstance(found["s"], str | None)
    else:  # a row left to its defaults meets it already (NOT a: a is 0)
        conn.execute("INSERT INTO t DEFAULT VALUES")
    assert conn.execute(f"SELECT count(*) FROM t WHERE {condition}").fetchone() == (1,)
