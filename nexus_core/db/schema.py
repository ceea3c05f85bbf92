"""Schema introspection: what SQLite really built, as comparable values.

:func:`snapshot` reads an open database (through sqlite-utils) into a
:class:`Schema` that the runner's ``verify``, the sync engine and the harness's
lint all share. Internal tables (``schema_version``, the engine's ``_nexus_*``
tables and ``sqlite_*``) are left out: a schema here is the app's schema.
"""

from __future__ import annotations

import functools
import re
import sqlite3
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any, TypeVar

import sqlite_utils

from nexus_core.db.connection import CASE_BLIND_COLLATIONS, memory

INTERNAL_PREFIXES = ("sqlite_", "_nexus_")
INTERNAL_TABLES = frozenset({"schema_version"})
# The tables migration tools keep their record of the migrations run in (Rails,
# Ecto and golang-migrate, Alembic, Django, Drizzle, Prisma, Knex, Diesel, sqlx,
# goose, gorp, Room, Sequelize, Entity Framework, Flyway, SeaORM, Kysely,
# MikroORM, Doctrine, Phinx, Liquibase, GRDB, FluentMigrator), by lower-case name: migration
# files printed by such a tool write them, and each device keeps its own. Never
# replicated (review BAG-1: every later migration read as a data rewrite).
MIGRATION_RECORDS = frozenset(
    {
        "schema_migrations",
        "ar_internal_metadata",
        "alembic_version",
        "django_migrations",
        "__drizzle_migrations",
        "_prisma_migrations",
        "knex_migrations",
        "knex_migrations_lock",
        "__diesel_schema_migrations",
        "_sqlx_migrations",
        "goose_db_version",
        "gorp_migrations",
        "room_master_table",
        "sequelizemeta",
        "__efmigrationshistory",
        "flyway_schema_history",
        "seaql_migrations",
        "kysely_migration",
        "kysely_migration_lock",
        "mikro_orm_migrations",
        "doctrine_migration_versions",
        "phinxlog",
        "databasechangelog",
        "databasechangeloglock",
        "grdb_migrations",
        "versioninfo",
    }
)
# Records under a name an app may use for a table of its own: known by their
# columns too (Laravel's, TypeORM's; triage BAP of review BAJ-11, review BAQ F8).
MIGRATION_RECORD_SHAPES = {
    "migrations": (
        frozenset({"id", "migration", "batch"}),
        frozenset({"id", "timestamp", "name"}),
    )
}
MAX_IDENTIFIER = 128
PLAIN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")  # \Z: "$" would accept "name\n"
# Collations under which distinct values compare equal: a key under one names
# one row by several row ids (see Table.unreplicated_reason).
LOOSE_COLLATIONS = frozenset({"NOCASE", "RTRIM"}) | CASE_BLIND_COLLATIONS


def is_plain_name(name: object) -> bool:
    """A plain SQL identifier: letters, digits and underscores, not starting with a digit.

    The only names the oplog carries: anything else is refused on the wire.
    """
    return isinstance(name, str) and len(name) <= MAX_IDENTIFIER and bool(PLAIN_NAME.match(name))


def is_internal_table(name: str) -> bool:
    """True for tables the app never owns and the oplog must never write."""
    lowered = name.lower()
    return lowered in INTERNAL_TABLES or lowered.startswith(INTERNAL_PREFIXES)


@functools.lru_cache(maxsize=512)
def type_affinity(declared: str) -> str:
    """SQLite's affinity for a declared type: INTEGER, TEXT, BLOB, REAL or NUMERIC.

    Follows the rules of https://sqlite.org/datatype3.html section 3.1; an empty
    declaration has BLOB affinity (it accepts anything).
    """
    upper = declared.upper()
    if "INT" in upper:
        return "INTEGER"
    if any(word in upper for word in ("CHAR", "CLOB", "TEXT")):
        return "TEXT"
    if upper == "" or "BLOB" in upper:
        return "BLOB"
    if any(word in upper for word in ("REAL", "FLOA", "DOUB")):
        return "REAL"
    return "NUMERIC"


def stored_alike(affinity: str, other: str, declared: str) -> bool:
    """Whether sync sees columns of affinities ``affinity`` and ``other`` as one type:
    the same affinity, or INTEGER and NUMERIC where one is declared BOOLEAN
    (``declared``: both declared types), as ORMs declare it: clients write 0 and 1
    there, which both store alike."""
    return affinity == other or (
        {affinity, other} == {"INTEGER", "NUMERIC"} and "BOOL" in declared.upper()
    )


def null_default(default: str | None) -> bool:
    """Whether a column's default (as ``PRAGMA table_info`` gives it) is none or NULL."""
    return default is None or default.strip("() \t\n").upper() == "NULL"


T = TypeVar("T")


def find_named(items: Mapping[str, T], name: str) -> T | None:
    """The item of ``items`` (keyed by table name) that ``name`` names, matched as
    SQLite matches names: ignoring case."""
    found = items.get(name)
    if found is None:
        lowered = name.lower()
        found = next((item for key, item in items.items() if key.lower() == lowered), None)
    return found


def on_defaults(
    columns: Sequence[Column], select: str, *, table: str = "t", strict: bool = False
) -> tuple[Any, ...]:
    """The row ``SELECT select`` gives over a scratch table of ``columns`` holding
    nothing but their defaults, stored as SQLite stores them (declared type and
    affinity, STRICT if asked: ``BOOLEAN DEFAULT '0'`` holds 0). Raises
    ``sqlite3.Error`` where SQLite cannot (a default a STRICT column refuses, an
    expression naming another column)."""
    definitions = ", ".join(
        f"{quote_identifier(c.name)} {c.type}"
        + (f" DEFAULT {c.default}" if c.default is not None else "")
        for c in columns
    )
    name = quote_identifier(table)
    with closing(memory()) as conn:
        conn.execute(f"CREATE TABLE {name} ({definitions}){' STRICT' if strict else ''}")
        conn.execute(f"INSERT INTO {name} DEFAULT VALUES")
        return tuple(conn.execute(f"SELECT {select} FROM {name}").fetchone())


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    notnull: bool
    default: str | None
    pk: int
    collation: str | None = None
    strict: bool = False  # a column of a STRICT table

    @property
    def affinity(self) -> str:
        """SQLite's affinity; ``ANY`` in a STRICT table has none (BLOB): it keeps
        every value as given, where elsewhere ``ANY`` is NUMERIC."""
        if self.strict and self.type == "ANY":
            return "BLOB"
        return type_affinity(self.type)

    @property
    def required(self) -> bool:
        """An insert must name this column: NOT NULL, no default (``DEFAULT NULL`` is
        none for a NOT NULL column), not the rowid key."""
        return self.notnull and self.pk == 0 and null_default(self.default)


@dataclass(frozen=True)
class ForeignKey:
    # A key of several columns names them all, joined by ", " ("building, number").
    column: str
    other_table: str
    other_column: str | None
    # What deleting the referenced row does here ("CASCADE", "SET NULL", ...);
    # "" for a key of several columns. Not compared: lint and verify compare
    # which keys exist, as before.
    on_delete: str = field(default="NO ACTION", compare=False)


@dataclass(frozen=True)
class Index:
    name: str
    table: str
    columns: tuple[str, ...]
    unique: bool
    origin: str
    where: str | None
    # What the index compares, where that is more than its columns under their
    # own collations (``lower(email)``, ``email COLLATE NOCASE``); else "".
    compared: str = ""


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    foreign_keys: tuple[ForeignKey, ...]
    checks: tuple[str, ...]
    sql: str
    without_rowid: bool = False
    strict: bool = False
    generated: tuple[str, ...] = ()
    computed: tuple[tuple[str, str], ...] = ()  # (generated column, its expression's sql_key)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column | None:
        """The column called ``name``, in any case (SQLite's names are case-blind)."""
        for column in self.columns:
            if column.name == name:
                return column
        lower = name.lower()
        return next((c for c in self.columns if c.name.lower() == lower), None)

    @property
    def primary_key(self) -> tuple[str, ...]:
        keyed = sorted((c.pk, c.name) for c in self.columns if c.pk)
        return tuple(name for _, name in keyed)

    @property
    def row_key(self) -> str | None:
        """The oplog's row_id column: the single-column primary key, if there is one."""
        key = self.primary_key
        return key[0] if len(key) == 1 else None

    @functools.cached_property
    def unreplicated_reason(self) -> str | None:
        """Why the oplog cannot replicate this table, or None when it can.

        Ops name a row by its single-column key, and tables and columns by
        plain names; a key compared under NOCASE or RTRIM would let one row
        go by several row ids ('Alice' and 'alice'), so replicas would split.
        """
        if self.name.lower() in MIGRATION_RECORDS or frozenset(
            column.name.lower() for column in self.columns
        ) in MIGRATION_RECORD_SHAPES.get(self.name.lower(), ()):
            return (
                "is where a migration tool records the migrations run on this device"
                " (each device keeps its own)"
            )
        if self.row_key is None:
            return "has no single-column primary key"
        if not is_plain_name(self.name):
            return "has a name that is not a plain identifier (letters, digits, underscores)"
        for column in self.columns:
            if not is_plain_name(column.name):
                return f"has a column {column.name!r} whose name is not a plain identifier"
        key = self.column(self.row_key)
        collation = (key.collation or "BINARY").upper() if key else "BINARY"
        if collation in LOOSE_COLLATIONS:
            return (
                f"has a key compared under COLLATE {collation}, which makes one row of"
                " several row ids"
            )
        return None


@dataclass(frozen=True)
class Schema:
    tables: dict[str, Table] = field(default_factory=dict)
    indexes: dict[str, Index] = field(default_factory=dict)
    views: dict[str, str] = field(default_factory=dict)
    triggers: dict[str, str] = field(default_factory=dict)
    # Virtual tables (FTS, R*Tree...), by their definition: like an index, each
    # replica builds its own; they and their shadow tables are never replicated.
    virtual: dict[str, str] = field(default_factory=dict)
    shadow: set[str] = field(default_factory=set)  # the tables virtual ones keep their data in

    def local_table(self, name: str) -> bool:
        """A virtual table or one of its shadow tables (case-blind): each replica's own."""
        lowered = name.lower()
        return any(lowered == other.lower() for other in (*self.virtual, *self.shadow))

    def table(self, name: str) -> Table | None:
        return self.tables.get(name)

    @property
    def replicated_tables(self) -> dict[str, Table]:
        """Tables the oplog replicates (see :attr:`Table.unreplicated_reason`)."""
        return {n: t for n, t in self.tables.items() if t.unreplicated_reason is None}

    @property
    def unreplicated_tables(self) -> list[str]:
        return sorted(n for n, t in self.tables.items() if t.unreplicated_reason is not None)


# A string literal or quoted name (kept whole), or a comment (group 1).
COMMENT_OR_QUOTED = re.compile(
    r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|`[^`]*`|\[[^\]]*\]|(--[^\n]*|/\*.*?(?:\*/|\Z))",
    re.DOTALL,
)


def without_comments(sql: str) -> str:
    """``sql`` with each comment made one blank; string literals and quoted names
    keep what looks like a comment inside them."""
    return COMMENT_OR_QUOTED.sub(lambda m: " " if m.group(1) else m.group(0), sql)


def normalise_sql(sql: str | None) -> str | None:
    """Collapse whitespace and drop ``IF NOT EXISTS`` so equal definitions compare equal."""
    if sql is None:
        return None
    # Comments go first: collapsed onto one line, a "--" would swallow the rest.
    text = re.sub(r"\s+", " ", without_comments(sql)).strip()
    text = re.sub(r"(?i)\bIF NOT EXISTS\s+", "", text)
    return re.sub(r"\s*([(),])\s*", r"\1", text)


def sql_key(sql: str | None, names: Collection[str] | None = None) -> str | None:
    """A canonical form of an SQL fragment, for telling whether two spell one thing.

    Keywords and identifiers are case-blind and may be quoted or not; string
    literals are kept as they are. So ``species IN ('dog')`` and ``"Species"
    in ('dog')`` have one key, ``<>`` and ``!=`` (``==`` and ``=``) too, and
    parentheses around the whole fragment do not count.

    With ``names``, the columns the fragment may name: a double-quoted word
    that names none of them is the string SQLite takes it for (``"Open"`` is
    ``'Open'``, not ``open``), and ``TRUE`` and ``FALSE`` (no column of that
    name) are 1 and 0, but after ``IS``, where SQLite tests truth with them.
    """
    if sql is None:
        return None
    known = None if names is None else {name.lower() for name in names}
    words: list[str] = []
    for _, token in sql_tokens(sql):
        if token.startswith("'"):
            words.append(token)
            continue
        lower = token.lower()
        if known is not None and token[:1] == '"' and _unquote(token).lower() not in known:
            words.append("'" + _unquote(token).replace('""', '"').replace("'", "''") + "'")
            continue
        if (
            known is not None
            and lower in ("true", "false")
            and lower not in known
            and words[-1:] != ["is"]
            and words[-2:] != ["is", "not"]
        ):
            words.append("1" if lower == "true" else "0")  # SQLite's own spelling
            continue
        if lower in ("isnull", "notnull"):  # SQLite's one-word spellings
            words.extend(["is", "null"] if lower == "isnull" else ["is", "not", "null"])
            continue
        name = _unquote(token) if token[:1] in '"`[' else token
        words.append(name.lower() if re.fullmatch(r"\w+", name) else lower)
    text = " ".join(_between_spelled_out(_in_lists_sorted(words)))
    text = text.replace("< >", "!=").replace("! =", "!=").replace("= =", "=")
    while text.startswith("( ") and text.endswith(" )") and wholly_enclosed(text):
        text = text[2:-2]
    return text


def _operand_end(words: Sequence[str], start: int) -> int | None:
    """Where a plain operand starting at ``start`` ends (exclusive), or None.

    A plain operand is a name, a literal or a number, maybe signed or written
    ``a.b`` (a decimal, a qualified name): nothing that calls or nests."""
    index = start
    if index < len(words) and words[index] in ("-", "+"):
        index += 1
    if index >= len(words) or not re.fullmatch(r"\w+|'.*'", words[index], re.DOTALL):
        return None
    index += 1
    if words[index : index + 1] == ["."] and re.fullmatch(
        r"\w+", "".join(words[index + 1 : index + 2])
    ):
        index += 2
    if words[index : index + 1] == ["("]:
        return None  # a function call
    return index


def _in_lists_sorted(words: list[str]) -> list[str]:
    """``x IN (2, 1, 2)`` as ``x IN (1, 2)``: a list of plain operands is a set."""
    out: list[str] = []
    index = 0
    while index < len(words):
        word = words[index]
        out.append(word)
        index += 1
        if word != "in" or words[index : index + 1] != ["("]:
            continue
        items: set[tuple[str, ...]] = set()
        at = index + 1
        while (end := _operand_end(words, at)) is not None and words[end : end + 1] in (
            [","],
            [")"],
        ):
            items.add(tuple(words[at:end]))
            at = end + 1
            if words[end] == ")":
                out.append("(")
                for number, item in enumerate(sorted(items)):
                    out += [","] * (number > 0) + list(item)
                out.append(")")
                index = at
                break
    return out


_BEFORE_BETWEEN = frozenset({"(", ",", "and", "or", "when", "where"})
_AFTER_BETWEEN = frozenset({")", ",", "and", "or", "then"})


def _between_spelled_out(words: list[str]) -> list[str]:
    """``x BETWEEN a AND b`` as ``x >= a AND x <= b``, what SQLite defines it as.

    Only where the rewrite cannot change how the rest parses: plain operands,
    not after NOT or inside a larger comparison. One BETWEEN that does not
    qualify leaves them all as written."""
    found = [i for i, word in enumerate(words) if word == "between"]
    if not found:
        return words
    rewrites: list[tuple[int, int, list[str]]] = []
    for at in found:
        start = next(
            (
                start
                for start in range(at - 1, max(at - 5, -1), -1)
                if _operand_end(words, start) == at
                and (start == 0 or words[start - 1] in _BEFORE_BETWEEN)
            ),
            -1,
        )
        low_end = _operand_end(words, at + 1)
        if start < 0 or low_end is None or words[low_end : low_end + 1] != ["and"]:
            return words
        high_end = _operand_end(words, low_end + 1)
        if high_end is None or (high_end < len(words) and words[high_end] not in _AFTER_BETWEEN):
            return words
        subject, low, high = words[start:at], words[at + 1 : low_end], words[low_end + 1 : high_end]
        rewrites.append(
            (start, high_end, [*subject, ">", "=", *low, "and", *subject, "<", "=", *high])
        )
    out = list(words)
    for start, end, replacement in reversed(rewrites):
        out[start:end] = replacement
    return out


def trigger_key(sql: str | None, names: Collection[str] | None = None) -> str | None:
    """:func:`sql_key` for a CREATE TRIGGER, where ``FOR EACH ROW`` (the only kind
    SQLite has) and parentheses around the whole WHEN condition say nothing.
    ``names``: the columns it may name (see :func:`sql_key`)."""
    key = sql_key(normalise_sql(sql), names)
    if key is None:
        return None
    tokens = [token for _, token in sql_tokens(key)]
    words: list[str] = []
    index = 0
    while index < len(tokens):
        if tokens[index : index + 3] == ["for", "each", "row"]:
            index += 3
            continue
        words.append(tokens[index])
        index += 1
    begin = words.index("begin") if "begin" in words else len(words)
    when = words.index("when") if "when" in words[:begin] else None
    if when is not None and words[when + 1 : when + 2] == ["("]:
        depth = 0
        for end in range(when + 1, begin):
            depth += (words[end] == "(") - (words[end] == ")")
            if depth == 0:
                break
        if end + 1 == begin:  # the parentheses hold the whole condition
            words = words[: when + 1] + words[when + 2 : end] + words[end + 1 :]
    return " ".join(words)


def wholly_enclosed(text: str) -> bool:
    """Whether the first parenthesis of ``text`` closes at its very end."""
    depth = 0
    for position, char in enumerate(text):
        depth += (char == "(") - (char == ")")
        if depth == 0:
            return position == len(text) - 1
    return False


def sql_tokens(sql: str) -> Iterator[tuple[int, str]]:
    """(offset, token) for SQL, keeping quoted strings and identifiers whole."""
    pattern = re.compile(
        r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|`[^`]*`|\[[^\]]*\]|--[^\n]*|/\*.*?\*/|\w+|->>?|\S",
        re.DOTALL,
    )
    for found in pattern.finditer(sql):
        token = found.group(0)
        if token.startswith(("--", "/*")):
            continue
        yield found.start(), token


def check_constraints(sql: str) -> tuple[str, ...]:
    """Every ``CHECK (...)`` expression in a CREATE TABLE statement, normalised."""
    tokens = list(sql_tokens(sql))
    found: list[str] = []
    for index, (_, token) in enumerate(tokens):
        if token.upper() != "CHECK" or index + 1 >= len(tokens) or tokens[index + 1][1] != "(":
            continue
        depth = 0
        start = tokens[index + 1][0]
        for offset, inner in tokens[index + 1 :]:
            depth += inner == "("
            depth -= inner == ")"
            if depth == 0:
                found.append(normalise_sql(sql[start + 1 : offset]) or "")
                break
    return tuple(sorted(found))


def _unquote(token: str) -> str:
    if token[:1] in '"`[' and len(token) >= 2:
        return token[1:-1]
    return token


def column_collations(sql: str) -> dict[str, str]:
    """``COLLATE`` clauses of a CREATE TABLE's column definitions: {column: NAME}."""
    found: dict[str, str] = {}
    for segment in _definitions(sql):
        _segment_collation(segment, found)
    return found


def generated_expressions(sql: str) -> dict[str, str]:
    """Generated columns of a CREATE TABLE and what they compute, in canonical form
    (:func:`sql_key`): ``{column: expression}``."""
    found: dict[str, str] = {}
    for segment in _definitions(sql):
        words = [token.upper() for token in segment]
        if not words or words[0] in ("CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"):
            continue
        depth = 0
        for index, token in enumerate(segment):
            depth += (token == "(") - (token == ")")
            if depth == 0 and words[index] == "AS" and segment[index + 1 : index + 2] == ["("]:
                inner, level = [], 0
                for part in segment[index + 1 :]:
                    level += (part == "(") - (part == ")")
                    inner.append(part)
                    if level == 0:
                        break
                found[_unquote(segment[0])] = sql_key(" ".join(inner)) or ""
                break
    return found


def _definitions(sql: str) -> Iterator[list[str]]:
    """The tokens of each item of a statement's first parenthesised list: the column
    definitions and constraints of a CREATE TABLE, the terms of a CREATE INDEX."""
    tokens = list(sql_tokens(sql))
    start = next((i for i, (_, t) in enumerate(tokens) if t == "("), None)
    if start is None:
        return
    depth, segment = 0, list[str]()
    for _, token in tokens[start + 1 :]:
        if token == "(":
            depth += 1
        elif token == ")":
            if depth == 0:
                break
            depth -= 1
        if depth == 0 and token == ",":
            yield segment
            segment = []
        else:
            segment.append(token)
    yield segment


def _segment_collation(segment: list[str], found: dict[str, str]) -> None:
    """A column definition's COLLATE, or one inside a ``PRIMARY KEY (col COLLATE x)``."""
    if not segment:
        return
    words = [token.upper() for token in segment]
    if words[0] in ("CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"):
        if "PRIMARY" not in words:
            return
        for index, word in enumerate(words[1:-1], start=1):
            if word == "COLLATE":  # the key compares under it (what sync cares about)
                found[_unquote(segment[index - 1])] = _collation(segment[index + 1])
        return
    for index, word in enumerate(words[:-1]):
        if word == "COLLATE":
            found[_unquote(segment[0])] = _collation(segment[index + 1])


def _collation(token: str) -> str:
    """A collation's name; SQLite also takes it as a string (Laravel's ``collate 'nocase'``)."""
    return (token[1:-1] if token[:1] in "'\"`[" and len(token) >= 2 else token).upper()


def _index_columns(columns: list[str | None], sql: str | None, table: Table) -> tuple[str, ...]:
    """An index's columns; for an expression (``lower(email)``) the columns it reads."""
    named = [str(c) for c in columns if c is not None]
    if len(named) == len(columns) or not sql:
        return tuple(named)
    body = sql[sql.find("(") :]
    words = {_unquote(t) for _, t in sql_tokens(body)}
    return tuple(dict.fromkeys([*named, *(c for c in table.column_names if c in words)]))


def _index_compared(conn: sqlite3.Connection, index: str, sql: str | None, table: Table) -> str:
    """An index's terms as it compares them, or "" when they are just its columns.

    A term is more than its column when it is an expression or names a
    collation other than the column's own: two such indexes on one column
    may refuse different rows.
    """
    terms = _index_terms(sql) if sql else []
    rendered, plain = [], True
    pragma = f"PRAGMA index_xinfo({quote_identifier(index)})"
    key_terms = [row for row in conn.execute(pragma) if row[5]]  # key terms, not the rowid
    for position, (_, cid, name, _, collation, _) in enumerate(key_terms):
        collation = str(collation or "BINARY").upper()
        column = table.column(str(name)) if cid >= 0 else None
        own = ((column.collation if column else None) or "BINARY").upper()
        if cid >= 0 and collation == own:
            rendered.append(str(name))
            continue
        plain = False
        if cid >= 0:
            rendered.append(f"{name} COLLATE {collation}")
        else:  # an expression compares under BINARY unless it says otherwise
            text = terms[position] if position < len(terms) else "?"
            rendered.append(text if collation == "BINARY" else f"{text} COLLATE {collation}")
    return "" if plain else ", ".join(rendered)


def _index_terms(sql: str) -> list[str]:
    """The terms of a CREATE INDEX, normalised, without their COLLATE, ASC or DESC."""
    found = []
    for words in _definitions(sql):
        upper = [w.upper() for w in words]
        if upper and upper[-1] in ("ASC", "DESC"):
            words, upper = words[:-1], upper[:-1]
        if len(upper) >= 2 and upper[-2] == "COLLATE":
            words = words[:-2]
        found.append(normalise_sql(" ".join(words)) or "")
    return found


def _index_where(sql: str | None) -> str | None:
    if not sql:
        return None
    match = re.search(r"(?is)\bWHERE\b(.*)$", sql)
    return normalise_sql(match.group(1)) if match else None


def quote_identifier(name: str) -> str:
    """Quote a (checked) identifier for SQL."""
    return '"' + name.replace('"', '""') + '"'


_SNAPSHOTS: dict[tuple[tuple[str | None, ...], ...], Schema] = {}
_SNAPSHOTS_KEPT = 128


def snapshot(conn: sqlite3.Connection) -> Schema:
    """Read the app's schema from ``conn``: tables, columns, keys, checks, indexes, views.

    Everything here follows from ``sqlite_master``, so a schema already read
    from the same definitions (another replica at the same version, as in the
    harness) is reused; each call gets its own dicts.
    """
    key = tuple(
        conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name")
    )
    schema = _SNAPSHOTS.get(key)
    if schema is None:
        schema = _read_schema(conn)
        if len(_SNAPSHOTS) >= _SNAPSHOTS_KEPT:
            _SNAPSHOTS.pop(next(iter(_SNAPSHOTS)))
        _SNAPSHOTS[key] = schema
    return Schema(
        dict(schema.tables),
        dict(schema.indexes),
        dict(schema.views),
        dict(schema.triggers),
        dict(schema.virtual),
        set(schema.shadow),
    )


def _read_schema(conn: sqlite3.Connection) -> Schema:
    # The app's connection as the app set it: sqlite-utils would otherwise turn
    # recursive triggers on (an AFTER UPDATE trigger stamping its own table would
    # then recurse until SQLite refuses the write) and run its plugins on it.
    db = sqlite_utils.Database(conn, recursive_triggers=False, execute_plugins=False)
    master = {
        (row[0], row[1]): row[2]
        for row in conn.execute("SELECT type, name, sql FROM sqlite_master")
    }
    schema = Schema()
    virtual, shadow = _virtual_tables(conn, master)
    schema.shadow.update(shadow)
    for name in virtual:
        schema.virtual[name] = normalise_sql(master.get(("table", name))) or ""
    for name in db.table_names():
        if is_internal_table(name) or name in virtual or name in shadow:
            continue
        table = db.table(name)
        sql = master.get(("table", name)) or ""
        collations = column_collations(sql)
        strict = bool(re.search(r"(?is)\)[^()]*\bSTRICT\b[^()]*$", sql))
        columns = tuple(
            Column(
                c.name,
                (c.type or "").upper(),
                bool(c.notnull),
                c.default_value,
                c.is_pk,
                collations.get(c.name),
                strict,
            )
            for c in table.columns
        )
        keys = tuple(
            ForeignKey(
                ", ".join(fk.columns),
                fk.other_table,
                ", ".join(c for c in fk.other_columns if c) or None,
                "" if fk.is_compound else fk.on_delete,
            )
            for fk in table.foreign_keys
        )
        schema.tables[name] = Table(
            name,
            columns,
            tuple(sorted(keys, key=lambda k: (k.column, k.other_table))),
            check_constraints(sql),
            sql,
            without_rowid=bool(re.search(r"(?i)\bWITHOUT\s+ROWID\b", sql)),
            strict=strict,
            generated=tuple(
                str(row[1])
                for row in conn.execute(f"PRAGMA table_xinfo({quote_identifier(name)})")
                if row[6] in (2, 3)  # hidden: 2 virtual, 3 stored generated column
            ),
            computed=tuple(sorted(generated_expressions(sql).items())),
        )
        for index in table.indexes:
            index_sql = master.get(("index", index.name))
            schema.indexes[index.name] = Index(
                index.name,
                name,
                _index_columns(list(index.columns), index_sql, schema.tables[name]),
                bool(index.unique),
                index.origin,
                _index_where(index_sql),
                _index_compared(conn, index.name, index_sql, schema.tables[name]),
            )
    for view in db.view_names():
        schema.views[view] = normalise_sql(master.get(("view", view))) or ""
    for (kind, name), sql in master.items():
        if kind == "trigger":
            schema.triggers[name] = normalise_sql(sql) or ""
    return schema


def _virtual_tables(
    conn: sqlite3.Connection, master: dict[tuple[str, str], str | None]
) -> tuple[set[str], set[str]]:
    """(virtual tables, their shadow tables): ``PRAGMA table_list`` where SQLite has it."""
    try:
        listed = conn.execute("PRAGMA table_list").fetchall()
    except sqlite3.Error:  # SQLite before 3.37: shadow tables go by their owner's name
        listed = []
    if listed:
        virtual = {str(row[1]) for row in listed if row[0] == "main" and row[2] == "virtual"}
        shadow = {str(row[1]) for row in listed if row[0] == "main" and row[2] == "shadow"}
        return virtual, shadow
    virtual = {
        name
        for (kind, name), sql in master.items()
        if kind == "table" and re.match(r"(?i)\s*CREATE\s+VIRTUAL\s+TABLE\b", sql or "")
    }
    shadow = {
        name
        for kind, name in master
        if kind == "table"
        and any(name == f"{owner}_{suffix}" for owner in virtual for suffix in _SHADOW_SUFFIXES)
    }
    return virtual, shadow


# The tables FTS3/4, FTS5 and R*Tree keep their data in (``<name>_<suffix>``).
_SHADOW_SUFFIXES = (
    "content", "segments", "segdir", "docsize", "stat", "data", "idx", "config",
    "node", "parent", "rowid",
)  # fmt: skip


def schema_differences(expected: Schema, actual: Schema) -> list[str]:
    """Every difference between two schemas, one readable line each (for ``verify``)."""
    problems: list[str] = []
    for name in sorted(expected.tables.keys() - actual.tables.keys()):
        problems.append(f"table {name} is missing")
    for name in sorted(actual.tables.keys() - expected.tables.keys()):
        problems.append(f"table {name} is not expected")
    for name in sorted(expected.tables.keys() & actual.tables.keys()):
        want, have = expected.tables[name], actual.tables[name]
        for column in want.columns:
            got = have.column(column.name)
            if got is None:
                problems.append(f"column {name}.{column.name} is missing")
            elif got != column:
                problems.append(
                    f"column {name}.{column.name} differs: expected {column}, got {got}"
                )
        for column in have.columns:
            if want.column(column.name) is None:
                problems.append(f"column {name}.{column.name} is not expected")
        if want.column_names != have.column_names and set(want.column_names) == set(
            have.column_names
        ):
            problems.append(f"table {name}: column order differs")
        if want.foreign_keys != have.foreign_keys:
            problems.append(f"table {name}: foreign keys differ")
        if want.checks != have.checks:
            problems.append(f"table {name}: CHECK constraints differ")
        if want.without_rowid != have.without_rowid:
            problems.append(f"table {name}: WITHOUT ROWID differs")
    for kind, want_map, have_map in (
        ("index", expected.indexes, actual.indexes),
        ("view", expected.views, actual.views),
        ("trigger", expected.triggers, actual.triggers),
        ("virtual table", expected.virtual, actual.virtual),
    ):
        for name in sorted(want_map.keys() - have_map.keys()):
            problems.append(f"{kind} {name} is missing")
        for name in sorted(have_map.keys() - want_map.keys()):
            problems.append(f"{kind} {name} is not expected")
        for name in sorted(want_map.keys() & have_map.keys()):
            if want_map[name] != have_map[name]:
                problems.append(f"{kind} {name} differs")
    return problems
