"""Deterministic text dumps of a database: its schema and its app data.

:func:`canonical_schema_dump` is what ``fixtures/versions/vNNN/schema.sql`` holds:
the app's CREATE statements (``schema_version`` included, the engine's
``_nexus_*`` tables and SQLite's own ``sqlite_*`` objects left out), one per
line, comments dropped and whitespace normalised outside quotes, sorted by type
(table, index, view, trigger) and then by name. Two databases with the same
schema give byte-identical dumps, however their CREATE text was laid out.

:func:`data_dump` writes the app tables' rows as ``INSERT`` statements, parent
tables before the tables that reference them, rows ordered by primary key, and
:func:`load_data_dump` reads such a text back in one transaction.

>>> from nexus_core.db.connection import connect
>>> conn = connect(":memory:", wal=False)
>>> _ = conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY,  body TEXT  -- why\\n)")
>>> canonical_schema_dump(conn)
'CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);\\n'
"""

from __future__ import annotations

import math
import re
import sqlite3

from nexus_core.db.migrations import split_statements
from nexus_core.db.schema import is_internal_table, quote_identifier
from nexus_core.errors import DatabaseError

TYPE_ORDER = ("table", "index", "view", "trigger")
APP_INTERNAL = frozenset({"schema_version"})

_TOKEN = re.compile(
    r"""'(?:[^']|'')*'        # string literal
      | "(?:[^"]|"")*"        # quoted identifier
      | `[^`]*`               # MySQL-style identifier
      | \[[^\]]*\]            # SQL Server-style identifier
      | --[^\n]*              # line comment
      | /\*.*?\*/             # block comment
      | \s+                   # whitespace
      | [^'"`\[\s\-/(),;]+     # a run of ordinary characters
      | .                     # anything else, one character
    """,
    re.DOTALL | re.VERBOSE,
)


def normalise_statement(sql: str) -> str:
    """One line of SQL: comments dropped, whitespace collapsed outside quotes.

    No space follows ``(`` or precedes ``)`` and ``,``; one space follows ``,``;
    a trailing ``;`` is dropped.
    """
    out: list[str] = []
    spaced = False
    for token in _TOKEN.findall(sql):
        if token.isspace() or token.startswith(("--", "/*")):
            spaced = True
            continue
        if out and token not in (")", ",") and (out[-1] == "," or (spaced and out[-1] != "(")):
            out.append(" ")
        out.append(token)
        spaced = False
    while out and out[-1] in (";", " "):
        out.pop()
    return "".join(out)


def _type_rank(kind: str) -> int:
    return TYPE_ORDER.index(kind) if kind in TYPE_ORDER else len(TYPE_ORDER)


def _dumped(name: str, table: str) -> bool:
    """Objects of the app (and schema_version), not of the engine or of SQLite."""
    lowered, owner = name.lower(), table.lower()
    if lowered.startswith("sqlite_") or owner.startswith("sqlite_"):
        return False
    return not (is_internal_table(owner) and owner not in APP_INTERNAL)


def canonical_schema_dump(conn: sqlite3.Connection) -> str:
    """The app's CREATE statements, normalised and sorted, one per line ending in ``;``."""
    rows = conn.execute(
        "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE sql IS NOT NULL"
    ).fetchall()
    entries = sorted(
        (_type_rank(kind), name, normalise_statement(sql))
        for kind, name, table, sql in rows
        if _dumped(name, table)
    )
    return "".join(f"{sql};\n" for _, _, sql in entries)


def sql_literal(value: object) -> str:
    """``value`` as an SQL literal that reads back as the same value and type."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isinf(value):
            return "9e999" if value > 0 else "-9e999"
        return repr(value)
    if isinstance(value, bytes):
        return "X'" + value.hex().upper() + "'"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise DatabaseError(f"cannot dump a value of type {type(value).__name__}: {value!r}")


def _app_tables(conn: sqlite3.Connection) -> list[str]:
    names = [
        str(name)
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
        )
    ]
    return [n for n in names if not is_internal_table(n)]


def _parents_first(conn: sqlite3.Connection, tables: list[str]) -> list[str]:
    """Tables ordered so a referenced table comes before the tables referencing it."""
    parents = {
        table: sorted(
            {
                str(row[2])
                for row in conn.execute(f"PRAGMA foreign_key_list({quote_identifier(table)})")
                if row[2] != table and row[2] in tables
            }
        )
        for table in tables
    }
    ordered: list[str] = []
    visiting: set[str] = set()

    def visit(table: str) -> None:
        if table in ordered or table in visiting:
            return  # a cycle falls back to name order
        visiting.add(table)
        for parent in parents[table]:
            visit(parent)
        visiting.discard(table)
        ordered.append(table)

    for table in tables:
        visit(table)
    return ordered


def _order_by(conn: sqlite3.Connection, table: str) -> str:
    info = conn.execute(f"PRAGMA table_info({quote_identifier(table)})").fetchall()
    keyed = sorted((int(row[5]), str(row[1])) for row in info if row[5])
    if keyed:
        return ", ".join(quote_identifier(name) for _, name in keyed)
    without_rowid = conn.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).fetchone()
    if without_rowid and re.search(r"(?i)\bWITHOUT\s+ROWID\b", without_rowid[0] or ""):
        return ", ".join(quote_identifier(str(row[1])) for row in info)
    return "rowid"


def data_dump(conn: sqlite3.Connection) -> str:
    """Every app table's rows as ``INSERT`` statements, one per line, deterministic."""
    lines: list[str] = []
    for table in _parents_first(conn, _app_tables(conn)):
        quoted = quote_identifier(table)
        columns = [str(row[1]) for row in conn.execute(f"PRAGMA table_info({quoted})")]
        column_list = ", ".join(quote_identifier(c) for c in columns)
        query = f"SELECT {column_list} FROM {quoted} ORDER BY {_order_by(conn, table)}"
        for row in conn.execute(query):
            values = ", ".join(sql_literal(v) for v in row)
            lines.append(f"INSERT INTO {quoted} ({column_list}) VALUES ({values});\n")
    return "".join(lines)


def load_data_dump(conn: sqlite3.Connection, text: str) -> int:
    """Run the ``INSERT`` statements of a data dump in one transaction; return how many.

    Anything but an ``INSERT`` is refused, foreign keys are checked at the end
    (so the order of the statements does not matter), and a failure rolls the
    whole text back.
    """
    statements = list(split_statements(text))
    for statement in statements:
        if not re.match(r"(?is)^\s*(?:--[^\n]*\n\s*|/\*.*?\*/\s*)*INSERT\b", statement):
            first = normalise_statement(statement)[:60]
            raise DatabaseError(f"data dump holds a statement that is not an INSERT: {first}")
    if conn.in_transaction:
        conn.commit()
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("PRAGMA defer_foreign_keys = ON")
            for statement in statements:
                conn.execute(statement)
            problems = conn.execute("PRAGMA foreign_key_check").fetchall()
            if problems:
                table, rowid, parent, _ = problems[0]
                raise DatabaseError(
                    f"data dump leaves {len(problems)} foreign key violation(s),"
                    f" first {table} rowid {rowid} -> {parent}"
                )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    except sqlite3.Error as exc:
        raise DatabaseError(f"cannot load data dump: {exc}") from exc
    return len(statements)
