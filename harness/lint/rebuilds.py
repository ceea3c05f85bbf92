"""Tables rebuilt by copying (rebuilt_values): whether the copy keeps every row and
every value as it was, or changes what replicas hold at upgrade time.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from contextlib import closing
from dataclasses import dataclass, replace

from harness.lint.findings import Finding, _rewrite
from harness.lint.selects import (
    _ALIAS,
    _CAST,
    _CLAUSE_ENDS,
    _filters,
    _read_tables,
    _ref,
    _rows_kept,
    _select_items,
    _top_level_words,
    _unaliased,
)
from harness.lint.sqltext import (
    _COPY_AS,
    _CREATE_TABLE,
    _CTE,
    _INSERT_SELECT,
    _REWRITE,
    _SELECT_BODY,
    _final_name,
    _name,
    _old_names,
    _staged_target,
    _view_sources,
)
from harness.schemadiff import stored_default
from nexus_core.db.connection import memory
from nexus_core.db.migrations import Migration
from nexus_core.db.schema import Column, Schema, Table, find_named, type_affinity
from nexus_core.merge import default_type
from nexus_core.wire import quote_identifier

# Affinities whose CAST changes no value such a column holds (see merge.value_problem:
# INTEGER holds integers, REAL numbers, TEXT text). CAST AS NUMERIC reads a date's
# year as a number; CAST AS BLOB turns text into bytes.
_NO_OP_CASTS: dict[str, type] = {"INTEGER": int, "REAL": float, "TEXT": str}


def _same_as_copy(
    item: str, column: Column | None, existed: frozenset[str], kept: frozenset[str]
) -> bool:
    """Whether a rebuild's SELECT item gives a row the value sync would give it too.

    A column the old table had must be copied from itself (or cast where the
    cast changes nothing the column holds): anything else, its default
    included, rewrites values older clients still hold. A column new in the
    step may take a column the table no longer has (a rename) or its own
    default, what rows from older clients get anyway; a copy of a column the
    table keeps is a backfill older clients never send.
    """
    aliased = _ALIAS.match(item)
    inner = aliased.group(1).strip() if aliased else ""
    text = inner if inner and (_ref(inner) or _CAST.match(inner)) else item
    old = column is not None and column.name.lower() in existed
    own = column.name.lower() if column else ""
    taken = _ref(text)
    if taken is not None:
        return taken in ("*", own) or (not old and taken not in kept)
    cast = _CAST.match(text)
    if cast and column is not None:
        source = _name(cast.group(2)).lower()
        same = source == own or (not old and source not in kept)
        affinity = type_affinity(cast.group(3))
        # (An INTEGER column DEFAULT CURRENT_TIMESTAMP holds text, which the cast rewrites.)
        stored = default_type(column.type, column.default)
        return (
            same
            and affinity == column.affinity
            and affinity in _NO_OP_CASTS
            and stored in (None, _NO_OP_CASTS[affinity])
        )
    if column is None or old:
        return False
    # The column's own default, spelled as it is or otherwise (``False`` for ``0``).
    return stored_default(replace(column, default=text)) == stored_default(column)


def rebuilt_values(
    migration: Migration,
    before: Schema,
    after: Schema,
    clients: Callable[[str], str],
) -> list[Finding]:
    """A rebuild's ``INSERT ... SELECT`` that fills a replicated table's columns with
    expressions (a constant, ``COALESCE``, ``lower()``) instead of copies.

    A replica that upgrades changes its own rows; rows older clients send
    later arrive as they wrote them (or with the default), and no op carries
    the change, so the two diverge. Copies, casts to the column's own
    affinity and the column's own default are what sync gives them anyway.
    """
    replicated = {name.lower(): name for name in before.replicated_tables}
    statements = migration.code
    found: dict[str, list[str]] = {}
    filtered: set[str] = set()
    indirect: dict[str, str] = {}  # tables copied through a subquery, join or view
    views = set(_view_sources(statements, before, after))
    # A staging table filled once: (its column, what of the old rows fills it), read
    # where it is copied on. Staging copies are judged as the last copy is.
    staged: dict[tuple[str, str], list[tuple[str, str]]] = {}  # by (staging, table fed)
    fills, seeded = _staging_fills(statements, replicated, after)
    for fed in seeded.values():
        indirect.setdefault(fed, "rows the migration writes into its staging copy")
    made_as: dict[str, list[str]] = {}  # a staging table made by a SELECT: its columns
    read = {i: _staged_copy(statements, i) for i in fills}
    # A copy that keeps no row (``WHERE 0``) only makes the staging table's shape.
    live = {
        i: fill
        for i, fill in read.items()
        if fill is not None and _rows_kept(fill.select) is not False
    }
    for index, fed in sorted(fills.items()):
        fill = read[index]
        if fill is None:
            continue
        if not fill.columns and fill.target in made_as:  # an INSERT by position
            fill = replace(fill, columns=made_as[fill.target])
        old_table = before.tables[fed]
        if index not in live:  # it only makes the table: its columns, for INSERTs by position
            star = fill.columns == ["*"] and _reads_old_rows(fill.select, fed, statements[:index])
            made_as[fill.target] = list(old_table.column_names) if star else fill.columns
            if not any(fills[i] == fed and f.target == fill.target for i, f in live.items()):
                filtered.add(fed)  # nothing fills it after: the rows are gone
            continue
        alone = sum(fills[i] == fed and f.target == fill.target for i, f in live.items()) == 1
        if (alone and _filters(fill.select)) or fill.dedupes(old_table.row_key):
            filtered.add(fed)  # (filled in parts, the parts may make the whole)
        source = _copy_source(fill.select, views, fill.defined, old_table.row_key)
        ours = _old_names(fed, statements[:index]) | {f.target for f in live.values()}
        if source is None and _read_tables(fill.select) - ours - fill.defined:
            source = "rows of another table"  # merged into the staging copy
        if source is not None:
            indirect.setdefault(fed, source)
        named_as, items = fill.columns, _through_staging(fill.items, fill.select, staged, fed)
        if items == ["*"] and _reads_old_rows(fill.select, fed, statements[:index]):
            items = [quote_identifier(c) for c in old_table.column_names]  # by position
            named_as = list(old_table.column_names) if named_as == ["*"] else named_as
        items = fill.stored(named_as, items, old_table)
        if fill.made:
            made_as[fill.target] = list(named_as)
        if alone and len(items) == len(named_as) and all(named_as):
            if fill.declared is not None:  # read on in the declared order; left out: NULL
                terms = {c.lower(): term for c, term in zip(named_as, items, strict=True)}
                named_as = [c for c, _ in fill.declared.columns]
                items = [terms.get(c.lower(), "NULL") for c in named_as]
            staged[fill.target, fed] = list(zip(named_as, items, strict=True))
            continue
        table = find_named(after.tables, fed)
        assert table is not None  # (fills are of tables replicated after)
        existed = frozenset(c.name.lower() for c in old_table.columns)
        kept = existed & {c.name.lower() for c in table.columns}
        filled = [
            column.name
            for item, named in zip(items, named_as, strict=False)
            if (column := table.column(named)) is not None
            and not _same_as_copy(item, column, existed, kept)
        ]
        found.setdefault(fed, []).extend(c for c in filled if c not in found.get(fed, []))
    for index, code in enumerate(statements):
        match = _INSERT_SELECT.match(code)
        if not match:
            continue
        final = _final_name(_name(match.group(2)), statements[index + 1 :])
        name = replicated.get(final.lower())
        found_table = find_named(after.replicated_tables, name or "")
        if name is None or found_table is None:
            continue
        table = found_table  # (perhaps renamed in case only: ``Visits`` made ``visits``)
        listed = match.group(3)
        columns = (
            [_name(c.strip()) for c in listed.strip("() \n\t").split(",")]
            if listed
            else table.column_names
        )
        old_table = before.tables[name]
        existed = frozenset(c.name.lower() for c in old_table.columns)
        kept = existed & {c.name.lower() for c in table.columns}
        if _filters(match.group(4)):
            filtered.add(name)
        # A name the WITH defines reads like a table but is a query of its own.
        ctes = re.sub(r"(?is)^\s*WITH\s+", "", match.group(1) or "")
        queries = {_name(m.group(1)).lower() for m in _CTE.finditer(ctes)}
        source = _copy_source(match.group(4), views, queries, old_table.row_key)
        if source is not None:
            indirect.setdefault(name, source)
        items = _select_items(match.group(4))
        through = _through_staging(items, match.group(4), staged, name)
        if through != items:
            items = through
        elif items == ["*"] and source is None and not old_table.generated:
            # By position: a new table declaring the columns in another order swaps them.
            items = [quote_identifier(c) for c in old_table.column_names]
        if len(items) != len(columns):
            continue
        filled = [
            column
            for column, item in zip(columns, items, strict=True)
            if not _same_as_copy(item, table.column(column), existed, kept)
        ]
        if listed:  # old columns left out of the copy get their default
            named = {c.lower() for c in columns}
            filled += [
                c.name
                for c in table.columns
                if c.name.lower() in existed and c.name.lower() not in named
            ]
        found.setdefault(name, []).extend(c for c in filled if c not in found.get(name, []))
    n = migration.version
    findings = [
        _rewrite(name, ", ".join(filled), clients, n, "rebuild-fill")
        for name, filled in sorted(found.items())
        if filled
    ]
    findings += [
        _rewrite(name, f"a rebuild copy that reads {source}, not the old table alone", clients, n)
        for name, source in sorted(indirect.items())
        if not found.get(name)  # (else already said: it fills columns with expressions)
    ]
    findings += [
        _rewrite(name, "a rebuild copy that leaves rows out (WHERE, LIMIT)", clients, n)
        for name in sorted(filtered)
    ]
    return findings


def _staging_fills(
    statements: Sequence[str], replicated: Mapping[str, str], after: Schema
) -> tuple[dict[int, str], dict[int, str]]:
    """The statements (by index) that fill a staging table whose rows the migration
    then copies, perhaps through others, into a replicated table: {index: that table};
    and those that write rows into such a table (``VALUES``, ``DEFAULT VALUES``).

    A rebuild may carry its rows through a staging copy (``CREATE TABLE keep AS
    SELECT ... FROM visits_old``, then ``INSERT INTO visits SELECT * FROM keep``):
    what the copy into ``keep`` leaves out or changes, the rebuilt table loses
    too. Read backwards, so a staging name made again counts from where it is
    made (an earlier table by that name is another one).
    """
    feeds: dict[str, str] = {}  # a staging table (lower case) -> the table it feeds
    fills: dict[int, str] = {}
    seeded: dict[int, str] = {}  # rows written into a staging table, not copied
    for index in range(len(statements) - 1, -1, -1):
        code = statements[index]
        target = _staged_target(code)
        if target is not None:
            final = _final_name(target, statements[index + 1 :]).lower()
            name = replicated.get(final) or feeds.get(target)
            if name is not None and find_named(after.replicated_tables, name) is not None:
                if final not in replicated:  # (a copy into the table itself is a rebuild's)
                    fills[index] = name
                for read in _read_tables(code) - {target} - replicated.keys():
                    feeds[read] = name  # (the nearest copy on reads it)
        written = _REWRITE.match(code)
        verb = written.group(2).split()[0].upper() if written is not None else ""
        into = _name(written.group(3)).lower() if written is not None else ""
        if target is None and verb in ("INSERT", "REPLACE") and into in feeds:
            seeded[index] = feeds[into]  # VALUES, DEFAULT VALUES
        made = _CREATE_TABLE.match(code)
        if made is not None:
            feeds.pop(_name(made.group(1)).lower(), None)
    return fills, seeded


# Affinities that store a value another of them holds alike, or back (3 in a REAL
# column is 3.0, back in an INTEGER one 3): a staging column of one keeps the others'.
_NUMERIC = frozenset({"INTEGER", "NUMERIC", "REAL"})


@dataclass(frozen=True)
class _Declared:
    """A table as a ``CREATE TABLE`` of the migration declares it."""

    columns: list[tuple[str, str]]  # (name, declared type), in order
    unique: list[frozenset[str]]  # the columns (lower case) of each UNIQUE and PRIMARY KEY
    resolves: bool  # a conflict clause of its own (UNIQUE ON CONFLICT IGNORE)


@dataclass(frozen=True)
class _Fill:
    """A statement filling a staging table (:func:`_staging_fills`) from a SELECT."""

    target: str  # the staging table, lower case
    columns: list[str]  # the names its SELECT items take there ("*" for a star)
    items: list[str]  # the items, an alias's own expression for a CREATE TABLE ... AS
    select: str  # the SELECT after its keyword
    defined: set[str]  # the names its WITH defines
    declared: _Declared | None  # the table as declared, for an INSERT
    conflict: bool  # OR IGNORE, OR REPLACE: rows a UNIQUE there refuses are left out
    made: bool  # a CREATE TABLE ... AS (not an INSERT)

    def stored(self, columns: Sequence[str], items: Sequence[str], old: Table) -> list[str]:
        """``items`` as the declared columns store them: a column of ``old`` copied
        into one of another affinity is converted (``'007'`` into INTEGER is 7)."""
        if self.declared is None:
            return list(items)
        types = {name.lower(): declared for name, declared in self.declared.columns}
        out = []
        for column, item in zip(columns, items, strict=False):
            declared = types.get(column.lower(), "")
            inner = _unaliased(item)
            copied = old.column(_ref(inner) or "")
            affinity = type_affinity(declared)
            numeric = {affinity, copied.affinity} <= _NUMERIC if copied is not None else False
            if copied is None or numeric or affinity in ("BLOB", copied.affinity):  # as it is
                out.append(item)
            else:
                out.append(f"CAST({inner} AS {declared})")
        return out

    def dedupes(self, row_key: str | None) -> bool:
        """Whether a UNIQUE of the declared table drops rows (OR IGNORE, OR REPLACE)
        the old table keeps apart: any but one on the column the old key fills."""
        if self.declared is None or not (self.conflict or self.declared.resolves):
            return False
        columns = self.columns if self.columns != ["*"] else []
        columns = columns or [name for name, _ in self.declared.columns]
        keyed = {
            column.lower()
            for column, item in zip(columns, self.items, strict=False)
            if row_key is not None and _ref(item) == row_key.lower()
        }
        return any(unique != keyed for unique in self.declared.unique)


_CONFLICT = re.compile(
    r"(?is)^\s*(?:WITH\b.*?\)\s*)?(?:INSERT\s+OR\s+(?:IGNORE|REPLACE)|REPLACE)\b"
)


_UPSERT = re.compile(r"(?is)\bON\s+CONFLICT\b[^;]*\bDO\b")


def _staged_copy(statements: Sequence[str], index: int) -> _Fill | None:
    """The fill of a staging table ``statements[index]`` makes. A ``CREATE TABLE
    ... AS`` names an item by its alias or column; an ``INSERT`` by its column
    list, else by the columns the migration declared the table with."""
    code = statements[index]
    insert, made = _INSERT_SELECT.match(code), _COPY_AS.match(code)
    if insert is not None:
        target, ctes, select = _name(insert.group(2)), insert.group(1), insert.group(4)
    elif made is not None and (body := _SELECT_BODY.match(made.group(2))) is not None:
        target, ctes, select = _name(made.group(1)), body.group(1), body.group(2)
    else:
        return None
    defined = {
        _name(m.group(1)).lower()
        for m in _CTE.finditer(re.sub(r"(?is)^\s*WITH\s+", "", ctes or ""))
    }
    items = _select_items(select)
    declared = _declared(target, statements[:index]) if insert is not None else None
    if insert is not None and insert.group(3):
        columns = [_name(c.strip()) for c in insert.group(3).strip("() \n\t").split(",")]
    elif insert is not None:
        columns = [name for name, _ in declared.columns] if declared is not None else []
    else:
        columns, inner = [], []
        for item in items:
            aliased = _ALIAS.match(item)
            if aliased is not None and _ref(item) is None:
                columns.append(_name(aliased.group(2)))
                inner.append(aliased.group(1).strip())
            else:
                columns.append(_ref(item) or "")
                inner.append(item)
        items = inner
    conflict = _CONFLICT.match(code) is not None or _UPSERT.search(code) is not None
    return _Fill(
        target.lower(), columns, items, select, defined, declared, conflict, insert is None
    )


def _through_staging(
    items: list[str],
    select: str,
    staged: Mapping[tuple[str, str], Sequence[tuple[str, str]]],
    fed: str,
) -> list[str]:
    """A SELECT's ``items`` with the columns of the staging table it reads alone
    replaced by what of ``fed``'s old rows filled them (see :func:`rebuilt_values`)."""
    read = _read_tables(select)
    held = staged.get((next(iter(read)), fed)) if len(read) == 1 else None
    if held is None:
        return items
    if items == ["*"]:
        return [term for _, term in held]
    terms = {column.lower(): term for column, term in held}
    return [terms.get(_ref(_unaliased(item)) or "", item) for item in items]


def _reads_old_rows(select: str, table: str, earlier: Sequence[str]) -> bool:
    """Whether a SELECT reads ``table`` alone, under its name or one an ``earlier``
    statement renamed it to (``visits_old``)."""
    read = _read_tables(select)
    return len(read) == 1 and read <= _old_names(table, earlier)


def _declared(table: str, earlier: Sequence[str]) -> _Declared | None:
    """The last ``CREATE TABLE table (...)`` among ``earlier`` statements, as SQLite
    makes it alone (None when there is none, or it is made from a SELECT)."""
    for code in reversed(earlier):
        made = _CREATE_TABLE.match(code)
        if made is None or _name(made.group(1)).lower() != table.lower():
            continue
        if _COPY_AS.match(code):
            return None
        name = quote_identifier(_name(made.group(1)))
        try:
            with closing(memory()) as conn:
                conn.execute(code)
                info = conn.execute(f"PRAGMA table_info({name})").fetchall()
                unique = (
                    [frozenset(str(row[1]).lower() for row in info if row[5])]
                    if any(row[5] for row in info)
                    else []
                )
                for index in conn.execute(f"PRAGMA index_list({name})").fetchall():
                    if index[2]:
                        named = conn.execute(f"PRAGMA index_info({quote_identifier(index[1])})")
                        unique.append(frozenset(str(row[2]).lower() for row in named))
        except sqlite3.Error:
            return None
        resolves = re.search(r"(?i)\bON\s+CONFLICT\s+(?:IGNORE|REPLACE)\b", code) is not None
        columns = [(str(row[1]), str(row[2])) for row in info]
        return _Declared(columns, list(dict.fromkeys(unique)), resolves)
    return None


def _copy_source(
    select: str,
    views: AbstractSet[str],
    queries: AbstractSet[str] = frozenset(),
    key: str | None = None,
) -> str | None:
    """What a rebuild's SELECT reads besides one table, named for a message, or None.

    Its items may name columns plainly and still carry other values when it
    reads a subquery (``FROM (SELECT ... CASE ...)``), a join or a view; rows
    merged by ``GROUP BY`` or ``DISTINCT`` are not copies either. Read token by
    token: a quoted ``"Order"`` or ``"limit"`` is a name, not a keyword.
    """
    words = _top_level_words(select)
    upper = [w.upper() for w in words]
    # DISTINCT with the row key, or GROUP BY it, merges nothing: rows are distinct by it.
    items = words[: upper.index("FROM")] if "FROM" in upper else words
    if upper[:1] == ["DISTINCT"] and not _names_key(items, key):
        return "DISTINCT rows"
    if "FROM" not in upper:
        return None
    clause = words[upper.index("FROM") + 1 :]
    ends = [n for n, w in enumerate(clause) if w.upper() in _CLAUSE_ENDS]
    tail = clause[ends[0]].upper() if ends else None
    clause_tail = clause[ends[0] :] if ends else []
    clause = clause[: ends[0]] if ends else clause
    grouped = [n for n, w in enumerate(clause_tail) if w.upper() == "GROUP"]
    if grouped:  # the terms after GROUP BY, up to the next clause
        terms = clause_tail[grouped[0] + 2 :]
        stop = [n for n, w in enumerate(terms) if w.upper() in _CLAUSE_ENDS]
        if not _names_key(terms[: stop[0]] if stop else terms, key):
            return "rows merged by GROUP BY"
    if tail in ("UNION", "EXCEPT", "INTERSECT"):
        return "a compound SELECT"
    if "(" in clause or any(w.upper() == "JOIN" for w in clause):
        return "a subquery or join"
    if "," in clause:
        return "several tables"
    hint = [w.upper() for w in clause]  # a planner hint: NOT INDEXED, INDEXED BY name
    if "INDEXED" in hint:
        clause = clause[: hint.index("INDEXED") - (hint[hint.index("INDEXED") - 1] == "NOT")]
    names = [w for w in clause if w not in (".",) and w.upper() not in ("AS", "MAIN", "TEMP")]
    if not names or len(names) > 2:
        return "several tables"
    table = _name(clause[clause.index(".") + 1] if "." in clause else clause[0])
    if table.lower() in queries:
        return "a WITH query"
    return f"the view {table}" if table.lower() in views else None


def _names_key(words: Sequence[str], key: str | None) -> bool:
    """Whether ``words`` name the row key (``id`` or ``t.id``, or ``*``)."""
    return key is not None and ("*" in words or key.lower() in {_name(w).lower() for w in words})
