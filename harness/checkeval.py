"""Whether two sets of CHECKs accept the same rows, asked of SQLite itself.

A migration that rebuilds a table often writes its CHECKs again in another
spelling: ``(a > 0) AND (b > 0)`` for ``a > 0 AND b > 0``, ``length(code)
BETWEEN 2 AND 8`` for the pair of comparisons, ``NOT (x BETWEEN 1 AND 2)``
for ``NOT x BETWEEN 1 AND 2``. The lint's canonical key (``sql_key``) knows
some spellings; this knows the rest by evaluating both sides.

Only CHECKs that differ in their logic alone are compared: the two sides
must read the same columns, call the same functions and hold the same
literals, and differ only in ``AND``, ``OR``, ``NOT``, comparisons,
``BETWEEN``, ``IN``, ``IS`` and parentheses. Then the places where they can
disagree are at or around their literals, so both sides are evaluated by
SQLite, as a CHECK is (a NULL passes), over every combination of values
built from those literals (each number, a half and a unit either side of it,
its negation and its text; each string, in other cases and one character
longer or shorter; strings as long as each small number; and a few plain
values of every type), stored with the table's own column types. They are
the same CHECK only if SQLite answers alike for every row. Anything else
(other functions or literals, too many columns to combine, SQL that does
not run here) is a change, as before.
"""

from __future__ import annotations

import itertools
import re
import sqlite3
from collections.abc import Iterable, Sequence

from nexus_core.db.schema import Table, quote_identifier, sql_tokens

# Words the two sides may use differently: logic and comparisons only.
_LOGIC = frozenset(
    {"and", "or", "not", "between", "in", "is", "null", "notnull", "isnull", "true", "false"}
)
_NUMBER = re.compile(
    r"(?<![\w.])(?:0[xX][0-9a-fA-F]+|(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)(?!\w)"
)
_QUOTED = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|`[^`]*`|\[[^\]]*\]")
MAX_ROWS = 60_000  # combinations evaluated at most; more columns than that allows: a change
_PLAIN: tuple[object, ...] = (None, 0, 1, -1, 2, 0.5, -0.5, "", " ", "a", "A", "abc", "ABC", b"")


def same_rows_accepted(table: Table, was: Sequence[str], now: Sequence[str]) -> bool:
    """Whether CHECKs ``was`` and ``now`` (on ``table``'s columns) refuse exactly the same rows."""
    if not was or not now:
        return False  # a CHECK added or dropped, not written again
    old, new = _parts(table, was), _parts(table, now)
    if old is None or new is None or old[:3] != new[:3]:
        return False
    columns, _, literals, _ = old
    if not columns or _has_generated(table, columns):
        return False
    pools = [_values(literals) for _ in columns]
    if _product_size(pools) > MAX_ROWS:
        return False
    return _agree(table, sorted(columns), pools, old[3], new[3])


def _parts(
    table: Table, checks: Sequence[str]
) -> tuple[frozenset[str], frozenset[str], frozenset[object], str] | None:
    """(columns read, other words, literals, the checks as one expression), or None."""
    names = {c.name.lower(): c.name for c in table.columns}
    columns: set[str] = set()
    words: set[str] = set()
    literals: set[object] = set()
    for check in checks:
        tokens = [token for _, token in sql_tokens(check)]
        for number in _NUMBER.findall(_QUOTED.sub(" ", check)):
            literals.add(_number(number))
        for token in tokens:
            lower = token.lower()
            if token.startswith("'"):
                literals.add(token[1:-1].replace("''", "'"))
            elif token[:1] in '"`[':
                inner = token[1:-1].lower()
                if inner in names:
                    columns.add(names[inner])
                elif token[:1] == '"':
                    literals.add(token[1:-1].replace('""', '"'))  # SQLite's string fallback
                else:
                    return None
            elif lower in names:
                columns.add(names[lower])
            elif lower in ("true", "false"):
                literals.add(1 if lower == "true" else 0)
            elif re.fullmatch(r"[A-Za-z_]\w*", token) and lower not in _LOGIC:
                words.add(lower)
            elif re.fullmatch(r"[^\w\s]", token) and token not in "()<>=!,.-+":
                words.add(token)  # arithmetic, ||, ->: must be the same on both sides
    joined = " AND ".join(f"({check})" for check in checks)
    return frozenset(columns), frozenset(words), frozenset(literals), joined


def _number(text: str) -> int | float:
    if text[:2].lower() == "0x":
        return int(text, 16)
    value = float(text)
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def _has_generated(table: Table, columns: Iterable[str]) -> bool:
    generated = {name.lower() for name in table.generated}
    return any(column.lower() in generated for column in columns)


def _values(literals: Iterable[object]) -> list[object]:
    """The values one column takes: plain ones and ones around each literal."""
    found: list[object] = list(_PLAIN)
    for literal in sorted(literals, key=repr):
        if isinstance(literal, int | float):
            found += [literal, literal - 1, literal + 1, literal - 0.5, literal + 0.5, -literal]
            found.append(str(literal))
            if isinstance(literal, int) and 0 <= literal <= 64:
                found += ["x" * max(literal - 1, 0), "x" * literal, "x" * (literal + 1)]
        elif isinstance(literal, str):
            found += [literal, literal.upper(), literal.lower(), literal + "x", "x" + literal]
            found += [literal[:-1], literal[1:]]
    unique: dict[tuple[type, object], object] = {}
    for value in found:
        unique.setdefault((type(value), value), value)
    return list(unique.values())


def _declared(table: Table, name: str) -> str:
    """The column as the table declares its type and collation (how values are stored
    and compared); nothing else: every row is wanted, and the CHECKs are the question."""
    column = table.column(name)
    collation = f" COLLATE {column.collation}" if column and column.collation else ""
    return f"{quote_identifier(name)} {column.type if column else ''}{collation}"


def _product_size(pools: Sequence[Sequence[object]]) -> int:
    size = 1
    for pool in pools:
        size *= len(pool)
    return size


def _agree(
    table: Table, columns: Sequence[str], pools: Sequence[Sequence[object]], was: str, now: str
) -> bool:
    """Whether ``was`` and ``now`` pass and fail alike on every combination of ``pools``."""
    declared = ", ".join(_declared(table, name) for name in columns)
    marks = ", ".join("?" * len(columns))
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute(f"CREATE TABLE rows_ ({declared})")
        conn.executemany(f"INSERT INTO rows_ VALUES ({marks})", itertools.product(*pools))
        differing = conn.execute(
            "SELECT count(*) FROM rows_ WHERE"
            f" (CASE WHEN NOT ({was}) THEN 0 ELSE 1 END)"
            f" IS NOT (CASE WHEN NOT ({now}) THEN 0 ELSE 1 END)"
        ).fetchone()[0]
    except (sqlite3.Error, OverflowError):
        return False
    finally:
        conn.close()
    return bool(differing == 0)
