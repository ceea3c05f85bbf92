"""The traffic strategies: everything derived from the schema, nothing from our app."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.strategies import (
    keys_for,
    references,
    rows_for,
    traffic,
    unique_columns,
    values_for,
)
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
