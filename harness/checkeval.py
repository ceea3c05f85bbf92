"""Whether two sets of CHECKs accept the same rows, asked of SQLite itself.

A migration that rebuilds a table often writes its CHECKs again in another
spelling: ``(a > 0) AND (b > 0)`` for ``a > 0 AND b > 0``, ``length(code)
BETWEEN 2 AND 8`` for the pair of comparisons, ``NOT (x BETWEEN 1 AND 2)``
for ``NOT x BETWEEN 1 AND 2``. The lint's canonical key (``sql_key``) knows
some spellings; this knows the rest by evaluating both sides.

Only CHECKs that differ in their logic and literals alone are compared: the
two sides must read the same columns and call the same functions, and differ
only in literals, ``AND``, ``OR``, ``NOT``, comparisons, ``BETWEEN``, ``IN``,
``IS`` and parentheses. Then the places where they can disagree are at or
around the literals of either, so both sides are evaluated by
SQLite, as a CHECK is (a NULL passes), over every combination of values
built from those literals (each number, a half and a unit either side of it,
and the negations of those; its text, ``5`` and ``5.0``; each string, in
other cases and one character longer or shorter; strings as long as each
number around a literal; the 64-bit extremes and a few plain values of every
type), stored with the table's own column types. CHECKs over columns that no
CHECK relates are compared group by group (fewer combinations). They are
the same CHECK only if SQLite answers alike for every row and they hold
the same literals, or compare by equality alone (``=``, ``IN``, ``IS``: a row
is told apart only at a literal, and each was tried). With other literals,
rows told apart one way only make a widened or narrowed CHECK (``BETWEEN 0
AND 100`` made ``BETWEEN 0 AND 1100``, a value added to an ``IN`` list).
Anything else (other functions, too many
columns to combine, SQL that does not run here) is a change, as before.
"""

from __future__ import annotations

import itertools
import math
import re
import sqlite3
from collections.abc import Iterable, Sequence
from contextlib import closing

from nexus_core.db.connection import memory
from nexus_core.db.migrations import without_literals
from nexus_core.db.schema import Table, quote_identifier, sql_tokens
from nexus_core.merge import held_types

# Words the two sides may use differently: logic and comparisons only.
_LOGIC = frozenset(
    {"and", "or", "not", "between", "in", "is", "null", "notnull", "isnull", "true", "false"}
)
_NUMBER = re.compile(
    r"(?<![\w.])(?:0[xX][0-9a-fA-F]+|(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)(?!\w)"
)
_QUOTED = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|`[^`]*`|\[[^\]]*\]")
# Functions whose answers change only around the literals they are compared with (the
# values tried include strings as long as each number around a literal).
_AROUND_LITERALS = frozenset({"length"})
MAX_ROWS = 200_000  # combinations evaluated at most; more than that: a change
INT64 = (-(2**63), 2**63 - 1)
MAX_LENGTH = 100_000  # strings as long as a number around a literal, up to this
_PLAIN: tuple[object, ...] = (
    *(None, 0, 1, -1, 2, -2, 0.5, -0.5, 1.5, *INT64),
    *("", " ", "0", "1.0", "a", "A", "abc", "ABC", "a b", "é", "É", b"", b"\x00"),
)


def same_rows_accepted(table: Table, was: Sequence[str], now: Sequence[str]) -> bool:
    """Whether CHECKs ``was`` and ``now`` (on ``table``'s columns) refuse exactly the same rows."""
    return compare_checks(table, was, now) == (False, False)


def compare_checks(
    table: Table, was: Sequence[str], now: Sequence[str]
) -> tuple[bool, bool] | None:
    """Whether ``now`` refuses a row ``was`` accepts, and whether it accepts a row
    ``was`` refuses; None where the two cannot be compared this way."""
    if not was or not now:
        return None  # a CHECK added or dropped, not written again
    groups = _apart(table, [*was, *now])
    if len(groups) > 1:  # CHECKs over columns no CHECK relates: each group alone
        found = [
            compare_checks(table, [c for c in was if c in group], [c for c in now if c in group])
            for group in groups
        ]
        if any(f is None for f in found):
            return None
        return any(f[0] for f in found if f), any(f[1] for f in found if f)
    old, new = _parts(table, was), _parts(table, now)
    if old is None or new is None or old[:2] != new[:2]:
        return None
    columns, literals = old[0], old[2] | new[2]
    if not columns or _has_generated(table, columns):
        return None
    pools = [_values(literals) for _ in columns]
    if _product_size(pools) > MAX_ROWS:
        return None
    if old[2] != new[2] and not old[1] <= _AROUND_LITERALS:
        # Other literals under arithmetic or functions (qty % 12 = 0): where the two
        # disagree need not be near a literal, so no side can be named.
        return None
    told = _differences(table, sorted(columns), pools, old[3], new[3])
    equalities = not old[1] and _equalities_only(old[3], new[3])
    if old[2] != new[2] and told == (False, False) and not equalities:
        # Other literals, yet no row told apart: not proof of the same CHECK where an
        # ordering (<, BETWEEN) may part them between values tried. With = and IN
        # alone, a row is told apart only at a literal, and every literal was tried
        # (``IN ('Open', 'DONE')`` under NOCASE, ``IN (1, 2)`` for ``IN ('1', '2')``
        # on TEXT: review BW-6).
        return None
    return told


def _equalities_only(*expressions: str) -> bool:
    """Whether ``expressions`` compare columns with literals written out, by equality
    alone: no ``<``, ``>``, ``<=``, ``>=`` (``<>`` is inequality), no ``BETWEEN``, no
    arithmetic or other operators (``3600 + 1800``: a literal SQLite computes, which
    no value tried stands for) and no hex literals (``0x8000000000000000`` is
    negative to SQLite), outside quoted text. (Functions are ruled out by the caller.)"""
    for expression in expressions:
        code = _UNARY_MINUS.sub(r"\1 ", _QUOTED.sub(" ", expression))  # -1 is a literal
        if re.search(r"<(?!>)|(?<!<)>|[-+*/%|&~]|(?i:\bbetween\b|\b0x)", code):
            return False
    return True


# A minus that signs a number (after an opening parenthesis, a comma, a comparison or
# a keyword), not one that subtracts (after a number, a name or a closing parenthesis).
_UNARY_MINUS = re.compile(r"(?i)(^|[(,=<>!]|\b(?:in|is|not|and|or)\b)\s*-\s*(?=[\d.])")


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


def _apart(table: Table, checks: Sequence[str]) -> list[set[str]]:
    """The checks in groups that read no column in common (each a set of checks)."""
    groups: list[tuple[set[str], set[str]]] = []  # (columns, checks)
    for check in dict.fromkeys(checks):
        parts = _parts(table, [check])
        columns = set(parts[0]) if parts is not None else {""}  # unreadable: all together
        joined = [g for g in groups if g[0] & columns or "" in g[0] or "" in columns]
        merged = (columns, {check})
        for group in joined:
            groups.remove(group)
            merged[0].update(group[0])
            merged[1].update(group[1])
        groups.append(merged)
    return [found for _, found in groups]


def _number(text: str) -> int | float:
    if text[:2].lower() == "0x":
        return int(text, 16)
    if text.isdigit():
        return int(text)  # exactly, however large (9007199254740993 is not ...992)
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
            near = [literal - 1, literal - 0.5, literal, literal + 0.5, literal + 1]
            found += [*near, *(-value for value in near)]
            found += [str(literal), str(float(literal)), f"{literal} "]  # as text: '5', '5.0'
            if isinstance(literal, int) and 0 <= literal <= MAX_LENGTH:
                found += ["x" * max(literal - 1, 0), "x" * literal, "x" * (literal + 1)]
        elif isinstance(literal, str):
            found += [literal, literal.upper(), literal.lower(), literal + "x", "x" + literal]
            found += [literal[:-1], literal[1:], f"{literal} "]
    unique: dict[tuple[type, object], object] = {}
    for value in found:
        if type(value) is int and not INT64[0] <= value <= INT64[1]:
            continue  # SQLite holds no such integer (as a REAL it is around already)
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


_PASSES = "CASE WHEN NOT ({}) THEN 0 ELSE 1 END"  # a CHECK passes NULL, as SQLite's does


MAX_SATISFYING_ROWS = 4096  # candidate rows :func:`satisfying` tries, at most
MAX_CANDIDATES = 15  # values per column it tries (then NULL)


def satisfying(table: Table, condition: str, columns: Sequence[str]) -> dict[str, object] | None:
    """Values of ``columns`` of ``table`` under which ``condition`` holds and the
    table's CHECKs naming them pass, or None: found by SQLite among the condition's
    own literals, their neighbours and a few usual values (``WHERE is_main IS 1``,
    ``WHERE is_preferred``, ``NOT is_pending``, ``status <> 'draft'``, ``... OR ...``:
    review BAT-1). The other columns are NULL."""
    if not columns:
        return None
    if _holds_by_default(table, condition):
        return {}  # (``deleted_at IS NULL``: a row left to its defaults meets it)
    checks = _naming(table, columns)
    literals: list[object] = []
    # The condition's literals, then those of the CHECKs on its columns: ``status <>
    # 'draft'`` is met by another value the CHECK lists (review BAU-4).
    for text in (condition, *checks):
        for _, token in sql_tokens(text):
            value = _literal(token)
            if value is not None and value not in literals:
                literals.append(value)
    pool: list[object] = [*literals]
    for value in literals:
        if isinstance(value, int | float) and not isinstance(value, bool):
            pool += [value + 1, value - 1]
        elif isinstance(value, str):
            pool.append(value + "-other")
    pool = [*dict.fromkeys([*pool, 1, 0, "x"], None)]
    # Per column, the values it holds (a text into an INTEGER column is a local write
    # the engine refuses: the row would be dropped), NULL last.
    pools = []
    for name in columns:
        column = table.column(name)
        held = held_types(column) if column is not None else frozenset((int, float, str))
        pools.append([*[value for value in pool if type(value) in held][:MAX_CANDIDATES], None])
    if _product_size(pools) > MAX_SATISFYING_ROWS:
        return None
    rows = list(itertools.product(*pools))
    holds = " AND ".join([f"({condition})", *(_PASSES.format(check) for check in checks)])
    declared = ", ".join(_declared(table, name) for name in columns)
    marks = ", ".join("?" * len(columns))
    with closing(memory()) as conn:
        try:
            conn.execute(f"CREATE TABLE rows_ ({declared})")
            conn.executemany(f"INSERT INTO rows_ VALUES ({marks})", rows)
            found = conn.execute(
                f"SELECT rowid FROM rows_ WHERE {holds} ORDER BY rowid LIMIT 1"
            ).fetchone()
        except (sqlite3.Error, OverflowError, ValueError):
            return None
    return None if found is None else dict(zip(columns, rows[int(found[0]) - 1], strict=True))


def _holds_by_default(table: Table, condition: str) -> bool:
    """Whether ``condition`` holds for a row of ``table`` left to its defaults."""
    with closing(memory()) as conn:
        try:
            conn.execute(f"CREATE TABLE rows_ ({_with_defaults(table)})")
            conn.execute("INSERT INTO rows_ DEFAULT VALUES")
            found = conn.execute(f"SELECT count(*) FROM rows_ WHERE {condition}").fetchone()
        except (sqlite3.Error, OverflowError, ValueError):
            return False
    return bool(found == (1,))


def _with_defaults(table: Table) -> str:
    """The columns of ``table`` declared as :func:`_declared` does, with their defaults."""
    return ", ".join(
        _declared(table, c.name) + (f" DEFAULT ({c.default})" if c.default else "")
        for c in table.columns
    )


def columns_named(columns: Sequence[str], sql: str) -> list[str]:
    """The ``columns`` an expression names (string literals and function names aside:
    ``length(code)`` does not name a column ``length``)."""
    text = without_literals(sql)
    return [c for c in columns if re.search(rf"(?i)\b{re.escape(c)}\b(?!\s*\()", text)]


SAME_CONDITION_ROWS = 4096  # rows :func:`same_condition` tries, at most


def same_condition(table: Table, was: str, now: str) -> bool:
    """Whether two WHERE conditions of ``table`` hold for the same rows, as SQLite
    tells over the columns they name, their literals, 0, 1, '' and NULL (a NULL
    condition leaves the row out, as false does); False when it cannot tell."""
    columns = columns_named(table.column_names, f"{was} {now}")
    literals: list[object] = [0, 1, "", None]
    for _, token in [*sql_tokens(was), *sql_tokens(now)]:
        value = _literal(token)
        if value is not None and value not in literals:
            literals.append(value)
    pools = [literals] * len(columns)
    if not columns or _product_size(pools) > SAME_CONDITION_ROWS:
        return False
    declared = ", ".join(_declared(table, name) for name in columns)
    marks = ", ".join("?" * len(columns))
    with closing(memory()) as conn:
        try:
            conn.execute(f"CREATE TABLE rows_ ({declared})")
            conn.executemany(f"INSERT INTO rows_ VALUES ({marks})", itertools.product(*pools))
            differ = conn.execute(
                f"SELECT count(*) FROM rows_ WHERE coalesce(({was}), 0) <> coalesce(({now}), 0)"
            ).fetchone()
        except (sqlite3.Error, OverflowError, ValueError):
            return False
    return bool(differ == (0,))


def _naming(table: Table, columns: Sequence[str]) -> list[str]:
    """The CHECKs of ``table`` that name one of ``columns``."""
    wanted = {column.lower() for column in columns}
    return [
        check
        for check in table.checks
        if wanted & {named.lower() for named in columns_named(table.column_names, check)}
    ]


def _literal(token: str) -> object:
    """The value a literal token stands for (``1``, ``'open'``, ``TRUE``), or None."""
    lowered = token.lower()
    if lowered in ("true", "false"):
        return int(lowered == "true")
    if token[:1] == "'" and token[-1:] == "'" and len(token) >= 2:
        return token[1:-1].replace("''", "'")
    try:
        return int(token)
    except ValueError:
        pass
    try:
        number = float(token)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def values_passing(table: Table, column: str, values: Iterable[object]) -> tuple[object, ...]:
    """The ``values`` the CHECKs of ``table`` that name ``column`` let into it, with
    its other columns NULL or at their defaults (stored with the table's own types; a
    CHECK SQLite cannot evaluate here lets every value through). A CHECK on other
    columns alone says nothing of these values: ``json_valid(settings)`` fails a NULL
    ``settings``, which a real row fills with its default (review BAD-9: every value
    was refused, and no value outside a shortened IN list was ever drawn; BAT-5: one
    CHECK naming both)."""
    values = tuple(values)
    checks = _naming(table, [column])
    if not values or not checks:
        return values
    passing = " AND ".join(_PASSES.format(check) for check in checks)
    plain = ", ".join(_declared(table, c.name) for c in table.columns)
    found: list[bool] | None = None
    with closing(memory()) as conn:
        for declared in (plain, _with_defaults(table)):
            try:
                conn.execute("DROP TABLE IF EXISTS rows_")
                conn.execute(f"CREATE TABLE rows_ ({declared})")
                insert = f"INSERT INTO rows_ ({quote_identifier(column)}) VALUES (?)"
                conn.executemany(insert, ((value,) for value in values))
                rows = conn.execute(f"SELECT {passing} FROM rows_ ORDER BY rowid").fetchall()
            except (sqlite3.Error, OverflowError, ValueError):
                continue  # (a default SQLite cannot compute here: the NULLs alone say)
            passed = [bool(ok) for (ok,) in rows]
            if found is not None:
                passed = [a or b for a, b in zip(found, passed, strict=True)]
            found = passed
    if found is None:
        return values
    return tuple(value for value, ok in zip(values, found, strict=True) if ok)


def _differences(
    table: Table, columns: Sequence[str], pools: Sequence[Sequence[object]], was: str, now: str
) -> tuple[bool, bool] | None:
    """Over every combination of ``pools``: whether ``now`` fails a row ``was``
    passes, and whether it passes a row ``was`` fails (None: SQLite could not say)."""
    declared = ", ".join(_declared(table, name) for name in columns)
    marks = ", ".join("?" * len(columns))
    conn = memory()
    try:
        conn.execute(f"CREATE TABLE rows_ ({declared})")
        conn.executemany(f"INSERT INTO rows_ VALUES ({marks})", itertools.product(*pools))
        narrower, wider = conn.execute(
            f"SELECT count(*) FILTER (WHERE old > new), count(*) FILTER (WHERE new > old)"
            f" FROM (SELECT {_PASSES.format(was)} AS old, {_PASSES.format(now)} AS new FROM rows_)"
        ).fetchone()
    except (sqlite3.Error, OverflowError, ValueError):
        return None
    finally:
        conn.close()
    return bool(narrower), bool(wider)


def never_true(table: Table, condition: str) -> bool:
    """Whether ``condition`` (a term of a WHERE) holds for no row ``table`` can hold.

    Only for a condition comparing one column with literals (logic alone, as
    :func:`compare_checks` reads CHECKs), against what that column's own
    constraints let in: its NOT NULL and the CHECKs reading it alone (review
    BAH-1: ``WHERE status = 'resolved'`` under ``CHECK (status IN ('open',
    'closed'))``, ``WHERE notes IS NULL`` on a NOT NULL column). SQLite
    evaluates both over the values around every literal of either, and, where
    they order values (``<``, ``BETWEEN``), between each two numbers: the
    answer can change only there. Orderings are read for numbers in columns
    that store numbers only; anything else is never called never true.
    """
    parts = _parts(table, [condition])
    if parts is None or len(parts[0]) != 1 or parts[1] or _has_generated(table, parts[0]):
        return False
    (name,) = parts[0]
    column = table.column(name)
    if column is None:
        return False
    checks: list[str] = []
    literals = set(parts[2])
    for check in table.checks:
        found = _parts(table, [check])
        if found is not None and found[0] == parts[0] and not found[1]:
            checks.append(check)
            literals |= found[2]
    if not checks and not column.notnull:
        return False
    values = _values(literals)
    if not _equalities_only(condition, *checks):
        numbers = sorted(v for v in literals if isinstance(v, int | float))
        code = _UNARY_MINUS.sub(r"\1 ", _QUOTED.sub(" ", " ".join([condition, *checks])))
        if (
            len(numbers) != len(literals)
            or column.affinity not in ("INTEGER", "REAL", "NUMERIC")
            or re.search(r"[-+]|(?i:\b0x)", code)
        ):
            return False
        # Between each two of the literals and their negations (review BAI-2: -99.5 and
        # -100), and the integers either side of each point, for integer-only columns.
        signed = sorted({*numbers, *(-n for n in numbers)})
        points = [(a + b) / 2 for a, b in itertools.pairwise(signed)] + signed
        values += points + [f(p) for p in points for f in (math.floor, math.ceil)]
    allowed = " AND ".join(
        [_PASSES.format(check) for check in checks]
        + ([f"{quote_identifier(name)} IS NOT NULL"] if column.notnull else [])
    )
    with closing(memory()) as conn:
        try:
            strict = " STRICT" if column.strict else ""  # (an ANY column keeps '1' as text)
            conn.execute(f"CREATE TABLE rows_ ({_declared(table, name)}){strict}")
            for value in values:
                try:  # (a STRICT column refuses values of other types: never held)
                    conn.execute("INSERT INTO rows_ VALUES (?)", (value,))
                except (sqlite3.Error, OverflowError):
                    continue
            found = conn.execute(
                f"SELECT count(*) FROM rows_ WHERE ({condition}) AND {allowed}"
            ).fetchone()[0]
        except (sqlite3.Error, OverflowError, ValueError):
            return False
    return int(found) == 0
