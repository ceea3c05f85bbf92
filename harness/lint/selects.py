"""Reading the SELECT of an ``INSERT ... SELECT``: its items, the tables it reads,
and whether its WHERE keeps every row.
"""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing

from harness.lint.sqltext import _NAME, _SOURCES, _name
from nexus_core.db.connection import memory
from nexus_core.db.migrations import without_literals
from nexus_core.db.schema import sql_tokens

_COLUMN_REF = re.compile(rf"(?is)^(?:{_NAME}\s*\.\s*)?{_NAME}$|^\*$|^{_NAME}\s*\.\s*\*$")


_CAST = re.compile(
    rf"(?is)^CAST\s*\(\s*(?:{_NAME}\s*\.\s*)?{_NAME}\s+AS\s+([^()]*(?:\([^()]*\))?\s*)\)$"
)


_ALIAS = re.compile(rf"(?is)^(.*?)\s+(?:AS\s+)?{_NAME}$")


def _select_items(text: str) -> list[str]:
    """The comma-separated items of a SELECT list, up to its own FROM (literals kept)."""
    items: list[str] = []
    depth = start = 0
    for offset, token in sql_tokens(text):
        if token == "(":
            depth += 1
        elif token == ")":
            depth -= 1
        elif depth == 0 and token == ",":
            items.append(text[start:offset].strip())
            start = offset + 1
        elif depth == 0 and token.upper() == "FROM":
            text = text[:offset]
            break
    items.append(text[start:].strip())
    if len(items) == 1 and re.fullmatch(rf"(?s){_NAME}\s*\.\s*\*", items[0]):
        items = ["*"]  # ``t.*``, all a SELECT of one table lists, is ``*``
    return [
        re.sub(r"(?is)^(?:DISTINCT|ALL)\s+", "", item, count=1) if n == 0 else item
        for n, item in enumerate(items)
    ]


_LITERAL_WORDS = frozenset({"null", "true", "false", "current_time", "current_date"})


def _ref(text: str) -> str | None:
    """The column a SELECT item names (lower case; ``*`` for a star), or None."""
    found = _COLUMN_REF.match(text)
    if found is None:
        return None
    named = next((g for g in reversed(found.groups()) if g), "*")
    name = _name(named).lower()
    if named[:1] in '"`[':
        return name  # quoted: a column, even one named "true"
    if name in _LITERAL_WORDS or name == "current_timestamp" or name[:1].isdigit():
        return None
    return name


def _unaliased(item: str) -> str:
    """A SELECT item naming a column under an alias (``pet AS p``) as the column."""
    aliased = _ALIAS.match(item)
    return aliased.group(1).strip() if aliased and _ref(aliased.group(1)) else item


def _read_tables(select: str) -> set[str]:
    """The tables (lower case) a SELECT reads FROM or JOINs."""
    return {_name(m.group(1)).lower() for m in _SOURCES.finditer(select)}


_CLAUSE_ENDS = frozenset(
    {"WHERE", "GROUP", "ORDER", "LIMIT", "HAVING", "WINDOW", "UNION", "EXCEPT", "INTERSECT"}
)


def _top_level_words(select: str) -> list[str]:
    """A SELECT's tokens (after its keyword), each parenthesised part as one ``(``."""
    words: list[str] = []
    depth = 0
    for _, token in sql_tokens(without_literals(select)):
        if token == "(":
            depth += 1
            if depth == 1:
                words.append("(")
        elif token == ")":
            depth -= 1
        elif depth == 0:
            words.append(token)
    return words


def _rows_kept(select: str) -> bool | None:
    """Whether a SELECT (after its keyword) keeps every row of what it reads (True),
    none (False: ``WHERE 0``, ``LIMIT 0``, the idiom that clones a table empty),
    or some, by its own WHERE or LIMIT (None).

    A WHERE that names no column (``1``, ``true``, ``1 = 1``) is what SQLite
    makes of it (a ``WHERE true`` SQLite needs before an upsert's ``ON
    CONFLICT`` keeps every row). A compound SELECT (``WHERE 0 UNION ALL ...``)
    is judged as one elsewhere: None here."""
    top: list[tuple[int, str]] = []  # the SELECT's own words (offset, upper case)
    depth = 0
    for offset, token in sql_tokens(select):
        depth += (token == "(") - (token == ")")
        if depth == 0:
            top.append((offset, token.upper()))
    words = [word for _, word in top]
    if {"UNION", "EXCEPT", "INTERSECT"} & set(words):
        return None
    for at, word in enumerate(words):
        if word == "ON" and words[at + 1 : at + 2] == ["CONFLICT"]:  # an upsert's, not ours
            select, top = select[: top[at][0]], top[:at]
            break
    where: int | None = None
    for offset, word in top:
        if word not in (*_CLAUSE_ENDS, "ON", ";"):
            continue
        if where is not None:
            kept = _constant_truth(select[where:offset])
            if kept is not True:
                return kept
            where = None
        if word == "WHERE":
            where = offset + len(word)
        elif word == "LIMIT":  # (any WHERE before it kept every row; a negative limit is none)
            if _constant_truth(f"({select[offset + 5 :]}) < 0"):
                return True
            return False if _constant_truth(f"({select[offset + 5 :]}) = 0") else None
    if where is not None:
        return _constant_truth(select[where:])
    return True


_CONSTANT_WORDS = frozenset({"TRUE", "FALSE", "NULL", "AND", "OR", "NOT", "IS", "IN", "BETWEEN"})


def _literals_only(sql: str) -> bool:
    """Whether an expression is made of literals and operators alone (no column,
    function or keyword such as CURRENT_TIMESTAMP)."""
    return all(
        not (token[0].isalpha() or token[0] in '_"`[') or token.upper() in _CONSTANT_WORDS
        for _, token in sql_tokens(sql)
    )


def _constant_truth(condition: str) -> bool | None:
    """What SQLite makes of a condition of literals alone (None when it names anything)."""
    if not _literals_only(condition):
        return None
    try:
        with closing(memory()) as conn:
            (value,) = conn.execute(f"SELECT CASE WHEN ({condition}) THEN 1 ELSE 0 END").fetchone()
    except (sqlite3.Error, sqlite3.Warning, ValueError):
        return None
    return bool(value)


def _filters(select: str) -> bool:
    """Whether a SELECT (after its keyword) leaves rows out by a WHERE or LIMIT of its own."""
    return _rows_kept(select) is not True
