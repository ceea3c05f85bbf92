"""Text built from a CHECK's LIKE or GLOB pattern is text SQLite says it matches."""

from __future__ import annotations

import math
import sqlite3

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.patterns import Pattern
from harness.strategies import replica_values_for
from nexus_core.db.schema import Column

PATTERNS = [
    ("%_@_%", False),
    ("%_@_%.__%", False),
    ("SKU-____", False),
    ("%.jpg", False),
    ("+%", False),
    ("[A-Z][A-Z][0-9][0-9]", True),
    ("[A-Z]*", True),
    ("*@*.*", True),
    ("v[0-9].[0-9]?", True),
    ("[^0-9]*", True),
    ("[abc-]x", True),
    ("#[0-9a-f][0-9a-f][0-9a-f]", True),
    ("[^]]x", True),
    ("[]a]y", True),
    ("[^a-z0-9]*", True),
    ("[A-E][1-5]", True),
]


@pytest.fixture(scope="module")
def conn() -> sqlite3.Connection:
    return sqlite3.connect(":memory:")


@pytest.mark.parametrize(("text", "glob"), PATTERNS)
@given(token=st.text("abcXYZ-019 ", max_size=6), choice=st.integers(0, 10_000))
def test_a_filled_pattern_matches(
    conn: sqlite3.Connection, text: str, glob: bool, token: str, choice: int
) -> None:
    filled = Pattern(text, glob=glob).fill(token, choice)
    operator = "GLOB" if glob else "LIKE"
    assert conn.execute(f"SELECT ? {operator} ?", (filled, text)).fetchone() == (1,), filled


@pytest.mark.parametrize(("text", "glob"), PATTERNS)
def test_other_tokens_or_choices_give_other_texts(text: str, glob: bool) -> None:
    """Values stay distinct per replica: by the token where the pattern takes any
    run of characters, else by the choice."""
    pattern = Pattern(text, glob=glob)
    if pattern.open_ended:
        assert len({pattern.fill(f"a-{n}") for n in range(20)}) == 20
        assert pattern.fill("a-0 ").endswith("a-0 ") or pattern.fill("a-0 ").startswith("a-0 ")
    else:
        capacity = math.prod(len(slot) for slot in pattern.slots if isinstance(slot, tuple))
        assert len({pattern.fill("", n) for n in range(20)}) == min(20, capacity)


SEAT = Column("seat", "TEXT", True, None, 0)
SEATS = ["seat GLOB '[A-E][1-5]'"]


@given(a=replica_values_for(SEAT, "a", checks=SEATS), b=replica_values_for(SEAT, "b", checks=SEATS))
def test_two_replicas_never_share_a_value_of_a_fixed_pattern(
    conn: sqlite3.Connection, a: str, b: str
) -> None:
    """25 texts for [A-E][1-5]: each replica takes its own share, whatever it draws."""
    assert a != b
    assert conn.execute(
        "SELECT ? GLOB '[A-E][1-5]' AND ? GLOB '[A-E][1-5]'", (a, b)
    ).fetchone() == (1,)
