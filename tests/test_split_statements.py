"""Splitting a migration script into statements: as SQLite would, in one pass."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nexus_core.db import migrations
from nexus_core.db.migrations import split_statements


def naive_split(sql: str) -> Iterator[str]:
    """The oracle: ask SQLite whether the text so far is complete at every semicolon."""
    buffer = ""
    for piece in sql.split(";"):
        buffer += piece + ";"
        if sqlite3.complete_statement(buffer):
            statement, buffer = buffer.strip(), ""
            if migrations.sql_code(statement):
                yield statement
    if migrations.sql_code(buffer.rstrip(";")):
        yield buffer.rstrip(";").strip()


TOKENS = st.sampled_from(
    [
        "a",
        "'",
        '"',
        ";",
        "--",
        "\n",
        "/*",
        "*/",
        "[",
        "]",
        "`",
        " ",
        "SELECT 1",
        "END",
        "CREATE TRIGGER t AFTER INSERT ON x BEGIN ",
        "INSERT INTO x VALUES ('a;b')",
    ]
)


@given(st.lists(TOKENS, max_size=30).map("".join))
def test_splits_as_sqlite_does_at_every_semicolon(sql: str) -> None:
    assert list(split_statements(sql)) == list(naive_split(sql))


def test_trigger_bodies_and_literals_stay_whole() -> None:
    script = (
        "CREATE TABLE t (a TEXT); -- a comment; with a semicolon\n"
        "CREATE TRIGGER k AFTER INSERT ON t BEGIN UPDATE t SET a = 'x;y'; DELETE FROM t; END;\n"
        "/* block; comment */ INSERT INTO t VALUES ('it''s; fine');"
    )
    statements = [migrations.sql_code(s) for s in split_statements(script)]
    assert statements == [
        "CREATE TABLE t (a TEXT)",
        "CREATE TRIGGER k AFTER INSERT ON t BEGIN UPDATE t SET a = 'x;y'; DELETE FROM t; END",
        "INSERT INTO t VALUES ('it''s; fine')",
    ]


def test_asks_sqlite_only_outside_literals(monkeypatch: pytest.MonkeyPatch) -> None:
    """A long literal full of semicolons is scanned once, not once per semicolon."""
    asked: list[int] = []
    real = sqlite3.complete_statement

    def counting(text: str) -> bool:
        asked.append(len(text))
        return real(text)

    monkeypatch.setattr(migrations.sqlite3, "complete_statement", counting)
    script = "INSERT INTO t VALUES ('" + "x;" * 10_000 + "'); /* " + "y;" * 10_000 + " */ SELECT 1;"
    assert len(list(split_statements(script))) == 2
    assert len(asked) <= 3
