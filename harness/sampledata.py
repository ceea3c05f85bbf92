"""Plausible rows for every replicated table of a schema (``build --with-data``).

Values follow each column's declared type and name; references point at rows
already written; a row the schema refuses (a CHECK) is simply not written.
The same seed always gives the same rows.
"""

from __future__ import annotations

import random
from typing import Any

from harness.checks import allowed
from harness.strategies import insertion_order, references
from nexus_core.db.schema import Column, Schema, Table
from nexus_core.errors import SyncError
from nexus_core.replica import Replica

WORDS = ("alpha", "bravo", "cedar", "delta", "ember", "fjord", "grove", "harbor", "iris", "juniper")


def _plausible(column: Column, checks: tuple[str, ...], rng: random.Random, index: int) -> Any:
    """A value a person would expect in this column (and its CHECKs let through)."""
    name, declared = column.name.lower(), column.type.upper()
    hint = allowed(column.name, checks)
    if hint.choices:
        return rng.choice(hint.choices)
    if hint.low is not None or hint.high is not None:
        low = hint.low if hint.low is not None else (hint.high or 0) - 100
        high = hint.high if hint.high is not None else low + 100
        if isinstance(low, float) or isinstance(high, float) or column.affinity == "REAL":
            return round(rng.uniform(low, high), 2)
        return rng.randint(int(low), int(high))
    if hint.length:
        return "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(hint.length))
    if "JSON" in declared or hint.json:
        return "{}" if rng.random() < 0.5 else "[]"
    if "BOOL" in declared or name.startswith(("is_", "has_")) or name in ("done", "active"):
        return rng.randint(0, 1)
    affinity = column.affinity
    if "DATE" in declared or "TIME" in declared or "date" in name or name.endswith("_at"):
        if affinity in ("INTEGER", "REAL"):  # a time stamp kept as Unix seconds
            return 1_767_225_600 + rng.randint(0, 365 * 86_400)
        return f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    if affinity == "INTEGER":
        return rng.randint(0, 5) if "priority" in name or "rating" in name else rng.randint(1, 500)
    if affinity in ("REAL", "NUMERIC"):
        return round(rng.uniform(0, 100), 2)
    if affinity == "TEXT":
        return f"{rng.choice(WORDS)} {name.replace('_', ' ')} {index}"
    return f"{rng.choice(WORDS)}-{index}"


def sample_row(
    table: Table, schema: Schema, replica: Replica, rng: random.Random, index: int
) -> dict[str, Any]:
    targets = references(table, schema)
    key = table.column(table.row_key or "")
    assert key is not None
    numeric = key.affinity in ("INTEGER", "REAL", "NUMERIC")
    hint = allowed(key.name, table.checks)
    if hint.length:  # a code-like key (length(code) = 3): letters from the row number
        letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        code = "".join(letters[(index // 26**i) % 26] for i in range(hint.length))[::-1]
        row: dict[str, Any] = {key.name: code}
    else:
        row = {key.name: index + 1 if numeric else f"{table.name}-{index + 1}"}
    for column in table.columns:
        if column.name == table.row_key:
            continue
        if column.name in targets:
            existing = [
                r[replica.models[targets[column.name]].key]
                for r in replica.rows(targets[column.name])
            ]
            if existing:
                row[column.name] = rng.choice(existing)
                continue
            if not column.notnull:
                row[column.name] = None  # nothing to point at yet (the first row of a tree)
                continue
        row[column.name] = _plausible(column, table.checks, rng, index)
    return row


def fill(replica: Replica, *, rows_per_table: int = 5, seed: int = 0) -> dict[str, int]:
    """Write plausible rows into every replicated table; returns rows written per table."""
    rng = random.Random(seed)
    written: dict[str, int] = {}
    for name in insertion_order(replica.schema):
        table = replica.schema.tables[name]
        written[name] = 0
        for index in range(rows_per_table):
            row = sample_row(table, replica.schema, replica, rng, index)
            # Refused (a trigger checking a list, a CHECK the hints cannot read): the
            # same row with what has a default, or may be NULL, left to the schema.
            plain = {
                column.name: row[column.name]
                for column in table.columns
                if column.name == table.row_key or column.required
            }
            for attempt in (row, plain):
                try:
                    replica.insert(name, attempt)
                except SyncError:
                    continue
                written[name] += 1
                break
    return written
