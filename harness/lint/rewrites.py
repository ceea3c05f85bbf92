"""Rows a migration writes itself (data_rewrites): an UPDATE, DELETE or INSERT on a
replicated table rewrites each replica's rows at upgrade time, outside the oplog.
Copies, renames and backfills of new columns only are told apart from that.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import replace

from harness.checkeval import never_true
from harness.lint.findings import Finding, _rewrite
from harness.lint.selects import _constant_truth, _literals_only
from harness.lint.sqltext import (
    _ADD_COLUMN,
    _CREATE_TABLE,
    _CREATE_TRIGGER,
    _CTE,
    _DROP_COLUMN,
    _DROP_TABLE,
    _FUNCTIONS,
    _NAME,
    _RENAME_COLUMN,
    _RENAME_TABLE,
    _REWRITE,
    _SOURCES,
    _UPDATE_SET,
    UPDATE_CLAUSES,
    _assignments,
    _final_name,
    _instead_of_writes,
    _name,
    _staged_target,
    _through_view,
    _view_sources,
    _written_tables,
    strings_as_names,
)
from harness.schemadiff import and_terms, raises, stored_default, triggers_on
from nexus_core.db.migrations import Migration, nondeterministic, without_literals
from nexus_core.db.schema import (
    Schema,
    Table,
    find_named,
    sql_tokens,
    trigger_key,
    wholly_enclosed,
)


def _derived_into(
    match: re.Match[str],
    later: Sequence[str],
    replicated: Mapping[str, str],
    after: Schema,
    views: Mapping[str, set[str]],
) -> str | None:
    """The replicated table an ``INSERT ... SELECT`` into a table new in the migration
    fills with rows derived from tables that existed before (a split or a merge of
    replicated tables, or a device's own local table), if any.

    Each replica derives them from the rows it holds at upgrade; rows older
    clients send later are never derived, and no op carries the derived ones.
    A rebuild (the copy ends up under its source's name) is a copy, not this.
    """
    if match.group(2).split()[0].upper() not in ("INSERT", "REPLACE"):
        return None
    final = _final_name(_name(match.group(3)), later)
    body = f"{match.group(1) or ''} {match.group(4)}"
    named = {_name(m.group(1)).lower() for m in _SOURCES.finditer(body)}
    named |= {table for view in named for table in views.get(view, set())}  # through views
    sources = named & set(replicated)
    target = find_named(after.replicated_tables, final)
    if target is None or not sources or final.lower() in sources:
        return None
    return target.name


def _seeded_apart(
    match: re.Match[str], statement: str, later: Sequence[str], after: Schema
) -> str | None:
    """The replicated table an ``INSERT`` fills with rows each replica computes
    differently (``randomblob()`` ids, ``CURRENT_TIMESTAMP``, or such a column
    default the insert leaves to the table), if any.

    Rows the same on every device are harmless: each replica holds the same
    ones. These differ from device to device, and no op ever carries them.
    """
    if match.group(2).split()[0].upper() not in ("INSERT", "REPLACE"):
        return None
    table = find_named(after.replicated_tables, _final_name(_name(match.group(3)), later))
    if table is None:
        return None
    listed = re.match(r"\s*\(([^)]*)\)", match.group(4))
    named = {_name(c.strip()).lower() for c in listed.group(1).split(",")} if listed else None
    left = [
        c
        for c in table.columns
        if named is not None and c.name.lower() not in named and c.default is not None
    ]
    if nondeterministic(statement) or any(nondeterministic(c.default or "") for c in left):
        return table.name
    return None


def _follow_copies(code: str, replicated: Mapping[str, str], copies: dict[str, str]) -> None:
    """Note tables that hold a replicated table's old rows: renamed away from it
    (``ALTER TABLE t RENAME TO t_old``) or filled from it (``CREATE TABLE x AS
    SELECT``, ``INSERT INTO backup SELECT``)."""
    renamed = _RENAME_TABLE.match(code)
    if renamed:
        old = _name(renamed.group(1)).lower()
        source = replicated.get(old) or copies.get(old)
        if source is not None:
            copies[_name(renamed.group(2)).lower()] = source
        return
    target = _staged_target(code)
    if target is not None and target not in replicated:
        read = [_name(m.group(1)).lower() for m in _SOURCES.finditer(code)]
        source = next(
            (replicated.get(t) or copies.get(t) for t in read if t in replicated or t in copies),
            None,
        )
        if source is not None:
            copies[target] = source


def _wiped(code: str, replicated: Mapping[str, str], after: Schema) -> tuple[str, str] | None:
    """A replicated table dropped (or renamed away) and made again, or a column
    dropped and added again: (the table, what) when the migration may empty each
    replica's own.

    A dropped table is emptied only if its rows are not copied back into it;
    the caller asks :func:`_copied_back` once the whole migration is read.
    """
    dropped = _DROP_TABLE.match(code) or _RENAME_TABLE.match(code)
    if dropped:
        name = _name(dropped.group(1)).lower()
        again = find_named(after.replicated_tables, name) is not None
        if name in replicated and again:  # (renamed away: its rows leave with it)
            verb = "DROP TABLE" if dropped.re is _DROP_TABLE else "RENAME TABLE away"
            return replicated[name], f"{verb}, made again empty"
        return None
    column = _DROP_COLUMN.match(code)
    if column:
        name = _name(column.group(1)).lower()
        table = find_named(after.replicated_tables, name)
        kept = {c.name.lower() for c in table.columns} if table is not None else set()
        if name in replicated and _name(column.group(2)).lower() in kept:
            return replicated[name], f"DROP COLUMN {_name(column.group(2))}, added again empty"
    return None


def _copied_back(
    table: str,
    codes: Sequence[str],
    copies: Mapping[str, AbstractSet[str]],
    views: Mapping[str, set[str]],
) -> bool:
    """Whether the migration fills ``table`` (under its final name) with its own old
    rows: an ``INSERT ... SELECT`` from it, or from a copy of it (``CREATE TABLE x
    AS SELECT``, an ``INSERT`` into a backup table, a rename away), perhaps through
    a view; or such a copy renamed to it.

    (A table read only into an archive that stays aside, then made again, is emptied.)
    """
    name = table.lower()
    holders = {name} | {
        held for held, sources in copies.items() if name in {s.lower() for s in sources}
    }
    for index, code in enumerate(codes):
        renamed = _RENAME_TABLE.match(code)
        if renamed and _name(renamed.group(1)).lower() in holders:
            if _name(renamed.group(2)).lower() == name:
                return True
            holders.add(_name(renamed.group(2)).lower())
            continue
        match = _REWRITE.match(code)
        if not match or match.group(2).split()[0].upper() not in ("INSERT", "REPLACE"):
            continue
        body = f"{match.group(1) or ''} {match.group(4)}"
        read = {_name(m.group(1)).lower() for m in _SOURCES.finditer(body)}
        read |= {source for view in read for source in views.get(view, set())}
        if read & holders:
            if _final_name(_name(match.group(3)), codes[index + 1 :]).lower() == name:
                return True
            holders.add(_name(match.group(3)).lower())  # a copy set aside (a backup table)
    return False


def data_rewrites(
    migration: Migration,
    before: Schema,
    after: Schema,
    clients: Callable[[str], str],
    *,
    constraints_hold: bool = True,
) -> list[Finding]:
    """UPDATE, DELETE and seeding INSERT statements on replicated tables that existed before.

    A schema diff cannot see them, yet they change each replica's own rows at
    upgrade time, outside the oplog. An INSERT creates rows no op carries,
    unless it copies them from a table the migration made (a rebuild's
    ``INSERT ... SELECT ... FROM`` its old copy), which is not a rewrite.
    ``constraints_hold``: whether every row satisfies its table's CHECKs and NOT
    NULLs (not after a migration turned their enforcement off), so that a WHERE
    they rule out matches none.
    """
    replicated = {name.lower(): name for name in before.replicated_tables}
    found: dict[str, list[str]] = {}
    codes = [without_literals(strings_as_names(code)) for code in migration.code]
    views = _view_sources(codes, before, after)
    existing = {t.lower(): t for t in before.tables}
    kept_triggers = {trigger_key(sql) for sql in after.triggers.values()}
    copies: dict[str, str] = {}  # a table holding a replicated table's rows -> that table
    every_copy: dict[str, set[str]] = {}  # the same, every table a name has held rows of
    edited: dict[str, list[tuple[str, str]]] = {}  # such a copy -> (table, edit) made to it
    instead = _instead_of_writes(migration.code, before, after)
    copies_back, _ = _copies_back(migration.code, before, after)
    created: set[str] = set()  # tables (re)created so far in the migration
    wipes: list[tuple[str, str]] = []  # (table, what) a DROP may empty
    for index, code in enumerate(codes):
        made = _CREATE_TABLE.match(code)
        if made:
            created.add(_name(made.group(1)).lower())
        trigger = _CREATE_TRIGGER.match(code)
        if trigger and trigger_key(migration.code[index]) not in kept_triggers:
            # Made for the migration and gone after it (or another trigger by that name
            # made later): what it writes, into a table that ends up replicated, it
            # writes now.
            for written in sorted(_written_tables(code)):
                table = _final_name(written, codes[index + 1 :])
                if table.lower() in replicated:
                    what = "rows written by a trigger the migration makes and drops"
                    found.setdefault(replicated[table.lower()], []).append(what)
        wiped = _wiped(code, replicated, after)
        if wiped is not None:
            wipes.append(wiped)
        _follow_copies(code, replicated, copies)
        for held, source in copies.items():  # (a name may hold two tables' rows in turn)
            every_copy.setdefault(held, set()).add(source)
        match = _REWRITE.match(code)
        if match and match.group(2).split()[0].upper() in ("INSERT", "REPLACE"):
            final = _final_name(_name(match.group(3)), codes[index + 1 :]).lower()
            if final in replicated:  # rows copied back: edits made to them on the way count
                for source in {_name(m.group(1)).lower() for m in _SOURCES.finditer(code)}:
                    for table, what in edited.pop(source, []):
                        if table.lower() == replicated[final].lower():  # (not another's rows)
                            found.setdefault(table, []).append(what)
        if match and _name(match.group(3)).lower() not in replicated:
            verb = match.group(2).split()[0].upper()
            final = _final_name(_name(match.group(3)), codes[index + 1 :])
            if verb in ("UPDATE", "DELETE") and final.lower() in replicated:
                # The rebuilt copy, edited before it takes the old table's place.
                found.setdefault(replicated[final.lower()], []).append(f"{verb} of its new copy")
                continue
            through = _through_view(_name(match.group(3)), instead, replicated)
            if through:
                # A write to a view: its INSTEAD OF triggers write the tables.
                for table in through:
                    what = f"{verb} through the view {_name(match.group(3))}"
                    found.setdefault(table, []).append(what)
                continue
            copy_of = copies.get(_name(match.group(3)).lower())
            if verb in ("UPDATE", "DELETE") and copy_of is not None:
                # Its old rows, renamed away or copied aside, edited: a rewrite once
                # they are copied back (a scratch copy left alone is not one).
                what = f"{verb} of its rows in {_name(match.group(3))}"
                edited.setdefault(_name(match.group(3)).lower(), []).append((copy_of, what))
                continue
            derived = _derived_into(match, codes[index + 1 :], existing, after, views)
            if derived is not None:
                found.setdefault(derived, []).append("INSERT of rows derived from others")
                continue
            seeded = _seeded_apart(match, migration.code[index], codes[index + 1 :], after)
            if seeded is not None and seeded.lower() not in replicated:
                what = "seed rows made from randomness or the clock, different on each device"
                found.setdefault(seeded, []).append(what)
            continue
        if not match:
            continue
        verb = match.group(2).split()[0].upper()
        if verb in ("INSERT", "REPLACE"):
            rest = re.sub(r"^\s*\([^)]*\)", "", match.group(4))  # the column list
            ctes = {_name(m.group(1)).lower() for m in _CTE.finditer(match.group(1) or "")}
            body = f"{match.group(1) or ''} {rest}"
            sources = {_name(m.group(1)).lower() for m in _SOURCES.finditer(body)}
            copied_from = sources - ctes - _FUNCTIONS - {t.lower() for t in before.tables}
            recreated = _name(match.group(3)).lower() in created
            if recreated and copied_from and not re.match(r"(?i)\s*(?:VALUES|DEFAULT)\b", rest):
                continue  # the table made again, filled from its old copy: a rebuild
            verb = "INSERT"
        ruled = before if constraints_hold else None  # (whose constraints rule rows out)
        if verb.startswith("UPDATE") and _changes_no_row(
            migration.code[index], before, after, ruled
        ):
            continue  # (``ADD COLUMN ... DEFAULT 1`` then ``= 1``; ``SET title = title``)
        if verb == "DELETE" and _deletes_no_row(migration.code[index], ruled):
            continue  # (``DELETE FROM t WHERE kind = NULL``)
        if verb.startswith("UPDATE") and index in copies_back:
            continue  # (a column made again in place, its values copied back whole)
        found.setdefault(replicated[_name(match.group(3)).lower()], []).append(verb)
    for table, what in wipes:
        if what.startswith("DROP COLUMN") or not _copied_back(table, codes, every_copy, views):
            found.setdefault(table, []).append(what)
    n = migration.version
    return [
        _rewrite(table, " and ".join(dict.fromkeys(verbs)), clients, n)
        for table, verbs in sorted(found.items())
    ]


def _copies_back(codes: Sequence[str], before: Schema, after: Schema) -> tuple[set[int], set[str]]:
    """Columns made again in place: ``RENAME COLUMN note TO note_old``, ``ADD
    COLUMN note``, ``UPDATE t SET note = note_old`` (every row, nothing else),
    ``DROP COLUMN note_old``. The column keeps every value (a new type is the
    schema diff's to judge), so neither that UPDATE (its index in ``codes``) nor
    the rename (``table.column`` in lower case) moved anything. Not on a table
    with triggers, which the UPDATE fires."""
    renamed: dict[tuple[str, str], str] = {}  # (table, column) -> its name now
    added: set[tuple[str, str]] = set()
    copies: dict[int, set[tuple[str, str]]] = {}  # UPDATE -> (table, column) copied back
    dropped: set[tuple[str, str]] = set()  # (table, staging column) dropped after its copy
    for index, code in enumerate(codes):
        if match := _RENAME_COLUMN.match(code):
            table, old, new = (_name(match.group(i)).lower() for i in (1, 2, 3))
            renamed[table, old] = new
        elif match := _ADD_COLUMN.match(code):
            table, column = _name(match.group(1)).lower(), _name(match.group(2)).lower()
            if (table, column) in renamed:
                added.add((table, column))
        elif match := _DROP_COLUMN.match(code):
            dropped.add((_name(match.group(1)).lower(), _name(match.group(2)).lower()))
        elif match := _UPDATE_SET.match(code):
            table = _name(match.group(1)).lower()
            assignments, clause = _assignments(match.group(2))
            sets = [
                (_name(named.strip()).lower(), _name(value.strip()).lower())
                for named, _, value in (a.partition("=") for a in assignments)
            ]
            copied = {
                (table, column)
                for column, value in sets
                if (table, column) in added and renamed.get((table, column)) == value
            }
            if clause is None and len(copied) == len(sets):
                copies[index] = copied
    updates: set[int] = set()
    columns: set[str] = set()
    for index, copied in copies.items():
        table = next(iter(copied))[0]
        if _triggers_matter(before, table) or _triggers_matter(after, table):
            continue
        if all((t, renamed[t, c]) in dropped for t, c in copied):
            updates.add(index)
            columns.update(f"{t}.{c}" for t, c in copied)
    return updates, columns


def _triggers_matter(schema: Schema, table: str) -> bool:
    """Whether an UPDATE of ``table`` fires a trigger sync could see: one that can
    RAISE, or writes a replicated table, a view or a table this schema lacks (an
    ``updated_at`` stamp). One writing only local tables (a full-text index kept
    by triggers, an audit log) changes nothing any peer holds."""
    local = {name.lower() for name in schema.tables if name not in schema.replicated_tables}
    for sql in triggers_on(schema, table).values():
        written = [name for name in _written_tables(sql) if not schema.local_table(name)]
        if raises(sql) or any(name.lower() not in local for name in written):
            return True
    return False


def _changes_no_row(
    code: str, before: Schema, after: Schema, constrained: Schema | None = None
) -> bool:
    """Whether an UPDATE leaves every row as it was: it sets only columns new in the
    migration, each to its own default written as literals (the value every row holds
    already, and the one peers give rows that older clients send without the column),
    or sets each column it names to itself (``SET title = title``). Not where the
    table's triggers matter: an UPDATE fires them (an ``updated_at`` stamp)."""
    match = _UPDATE_SET.match(code)
    if match is None:
        return False
    old, new = (
        find_named(before.tables, _name(match.group(1))),
        find_named(after.tables, _name(match.group(1))),
    )
    if old is None or new is None:
        return False
    if _triggers_matter(before, old.name) or _triggers_matter(after, new.name):
        return False  # (an UPDATE trigger writes or refuses even what changes nothing)
    pairs = [assignment.partition("=") for assignment in _assignments(match.group(2))[0]]
    return (
        _self_assigned(pairs)
        or _sets_new_defaults(pairs, old, new)
        or _matches_no_row(_where(match.group(2)), old if constrained is not None else None)
    )


def _deletes_no_row(code: str, constrained: Schema | None) -> bool:
    """Whether a DELETE's WHERE is never true, read from the statement as written
    (the lint's copy has its literals blanked: ``'A' <> 'a'`` would read ``'' <> ''``)."""
    match = _REWRITE.match(code)
    if match is None:
        return False
    table = find_named(constrained.tables, _name(match.group(3))) if constrained else None
    return _matches_no_row(_where(match.group(4)), table)


# A comparison with NULL is never true: ``WHERE type = NULL`` (meant ``IS NULL``).
_NULL_COMPARED = re.compile(
    rf"(?is)^(?:{_NAME}\s*\.\s*)?{_NAME}\s*(?:==?|!=|<>|<=?|>=?)\s*null$"
    rf"|^null\s*(?:==?|!=|<>|<=?|>=?)\s*(?:{_NAME}\s*\.\s*)?{_NAME}$"
)


def _where(text: str) -> str | None:
    """The WHERE condition of an UPDATE's text after SET (None: none, or a FROM)."""
    depth, start = 0, None
    for offset, token in sql_tokens(text):
        depth += (token == "(") - (token == ")")
        word = token.upper()
        if depth or word not in UPDATE_CLAUSES:
            continue
        if word == "FROM":
            return None  # rows joined from elsewhere: not read here
        if start is not None:
            return text[start:offset]
        if word == "WHERE":
            start = offset + len(token)
    return None if start is None else text[start:]


def _matches_no_row(where: str | None, table: Table | None = None) -> bool:
    """Whether a WHERE condition is never true (``WHERE 0``, ``WHERE type = NULL``, or
    ANDed with such a term), so its statement changes no row (review BX G2); also a
    term no row of ``table`` can meet, its column's constraints ruling the values out
    (``never_true``: ``WHERE notes IS NULL`` on a NOT NULL column, review BAH-1)."""
    if where is None:
        return False
    condition = " ".join(where.split()).rstrip(";").strip()
    if _constant_truth(condition) is False:
        return True
    # Lower case for and_terms' keywords, not inside quotes: 'A' <> 'a' is true.
    lowered = re.sub(  # ("Done" may be a string: SQLite's fallback, review BAI-3)
        r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|[^'\"]+",
        lambda m: m[0] if m[0][0] in "'\"" else m[0].lower(),
        condition,
    )
    for term in and_terms(lowered):
        term = term.strip()
        while term.startswith("(") and wholly_enclosed(term):  # (title = NULL)
            term = term[1:-1].strip()
        if _NULL_COMPARED.match(term) or _constant_truth(term) is False:
            return True  # (WHERE 0 AND id > 0)
        if table is not None and never_true(table, term):
            return True
    return False


def _self_assigned(pairs: Sequence[tuple[str, str, str]]) -> bool:
    """Whether each ``column = value`` assignment sets a column to itself."""
    return all(
        sign
        and _name(named.strip()).lower() == _name(value.strip()).lower()
        and re.fullmatch(r"[\w\"`\[\]]+", value.strip()) is not None
        for named, sign, value in pairs
    )


def _sets_new_defaults(pairs: Sequence[tuple[str, str, str]], old: Table, new: Table) -> bool:
    """Whether each assignment sets a column new in the migration to its own default
    written as literals."""
    for named, _, value in pairs:
        column = new.column(_name(named.strip()))
        if column is None or old.column(column.name) is not None or column.default is None:
            return False
        if not _literals_only(value):  # (CURRENT_TIMESTAMP: each row, each device its own)
            return False
        if stored_default(replace(column, default=value.strip())) != stored_default(column):
            return False
    return True
