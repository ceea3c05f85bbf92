"""Reading a migration's SQL text: names as SQL writes them, the statements that
create, drop, rename and copy tables, and what a trigger or a view writes.

The schemas before and after a migration say what changed; these patterns say how
the migration's own statements changed it (a copy, a rename, a backfill).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace

from harness.schemadiff import trigger_table
from nexus_core.db.migrations import Migration, without_literals
from nexus_core.db.schema import Schema, sql_tokens

# A name as SQL writes it (bare or quoted), and one maybe qualified by its schema.
_NAME = r"(\"[^\"]+\"|`[^`]+`|\[[^\]]+\]|\w+)"


_QUALIFIED = rf"(?:(?:main|temp|\"main\"|\"temp\"|\[main\]|`main`)\s*\.\s*)?{_NAME}"


_TRIGGER_INSERT = re.compile(
    rf"(?is)^\s*INSERT\s+(?:OR\s+(IGNORE|REPLACE)\s+|OR\s+\w+\s+)?INTO\s+{_QUALIFIED}"
    r"\s*(\([^)]*\))?"
)


_WRITES = re.compile(
    # Not an upsert's ``DO UPDATE SET``: SET is a keyword, never an unquoted table name.
    r"(?i)\b(?:INSERT(?:\s+OR\s+\w+)?\s+INTO|REPLACE\s+INTO|UPDATE(?:\s+OR\s+\w+)?(?!\s+SET\b)"
    r"|DELETE\s+FROM)"
    rf"\s+{_QUALIFIED}"
)


def _trigger_parts(sql: str) -> tuple[str, str]:
    """A trigger's head (up to its first BEGIN: events, table, WHEN) and body, with
    string literals blanked (so a word inside one is not SQL)."""
    text = without_literals(sql)
    begin = re.search(r"(?i)\bBEGIN\b", text)
    return (text, "") if begin is None else (text[: begin.start()], text[begin.end() :])


def _written_tables(sql: str) -> set[str]:
    """Tables a trigger's body (after its first BEGIN) inserts into, updates or deletes from."""
    return {_name(m.group(1)) for m in _WRITES.finditer(_trigger_parts(sql)[1])}


_REWRITE = re.compile(
    r"(?is)^\s*(?:WITH\b(.*?\))\s*)?"
    r"(UPDATE(?:\s+OR\s+\w+)?|DELETE\s+FROM|(?:INSERT(?:\s+OR\s+\w+)?|REPLACE)\s+INTO)"
    rf"\s+{_QUALIFIED}(.*)$"
)


_CTE = re.compile(
    rf"(?is)(?:^|,)\s*(?:RECURSIVE\s+)?{_NAME}\s*(?:\([^)]*\))?\s*AS\s*(?:NOT\s+)?(?:MATERIALIZED\s+)?\("
)


_SOURCES = re.compile(rf"(?is)\b(?:FROM|JOIN)\s+{_QUALIFIED}")


_RENAME_TABLE = re.compile(rf"(?is)^\s*ALTER\s+TABLE\s+{_QUALIFIED}\s+RENAME\s+TO\s+{_NAME}\s*$")


_RENAME_COLUMN = re.compile(
    rf"(?is)^\s*ALTER\s+TABLE\s+{_QUALIFIED}\s+RENAME\s+(?:COLUMN\s+)?{_NAME}\s+TO\s+{_NAME}\s*$"
)


# Table-valued functions a SELECT may read rows from: not tables, so not a copy.
_FUNCTIONS = frozenset({"json_each", "json_tree", "generate_series"})


def _name(token: str) -> str:
    return token[1:-1] if token[:1] in '"`[' else token


def _view_sources(codes: Sequence[str], before: Schema, after: Schema) -> dict[str, set[str]]:
    """The tables each view reads, by view name (lower case): the schemas' views and
    those the migration makes (and may drop again)."""
    texts = {name.lower(): sql for schema in (before, after) for name, sql in schema.views.items()}
    for code in codes:
        made = _CREATE_VIEW.match(code)
        if made:
            texts[_name(made.group(1)).lower()] = code
    return {
        view: {_name(m.group(1)).lower() for m in _SOURCES.finditer(sql)}
        for view, sql in texts.items()
    }


def _creates(kind: str, rest: str = "") -> re.Pattern[str]:
    """``CREATE [TEMP] <kind> [IF NOT EXISTS] name`` (the name is group 1), then ``rest``."""
    return re.compile(
        rf"(?is)^\s*CREATE\s+(?:TEMP\s+|TEMPORARY\s+)?{kind}\s+(?:IF\s+NOT\s+EXISTS\s+)?"
        rf"{_QUALIFIED}{rest}"
    )


_CREATE_TABLE = _creates("TABLE")


_COPY_AS = _creates("TABLE", r"\s+AS\s+(.*)$")


_CREATE_TRIGGER = _creates("TRIGGER")


_CREATE_VIEW = _creates("VIEW")


_DROP_TABLE = re.compile(rf"(?is)^\s*DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?{_QUALIFIED}\s*$")


_DROP_COLUMN = re.compile(
    rf"(?is)^\s*ALTER\s+TABLE\s+{_QUALIFIED}\s+DROP\s+(?:COLUMN\s+)?{_NAME}\s*$"
)


def _instead_of_writes(
    statements: Sequence[str], before: Schema, after: Schema
) -> dict[str, set[str]]:
    """Per table or view (lower case), the tables its triggers write: those of the
    schemas and those the migration makes."""
    found: dict[str, set[str]] = {}
    texts = [*before.triggers.values(), *after.triggers.values()]
    texts += [code for code in statements if _CREATE_TRIGGER.match(code)]
    for sql in texts:
        found.setdefault(trigger_table(sql).lower(), set()).update(
            t.lower() for t in _written_tables(sql)
        )
    return found


def _through_view(
    target: str, instead: Mapping[str, set[str]], replicated: Mapping[str, str]
) -> list[str]:
    """The replicated tables a write to ``target`` reaches through triggers, following
    a trigger that writes another view (empty when ``target`` has no triggers)."""
    reached: set[str] = set()
    seen: set[str] = set()
    todo = [target.lower()]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for table in instead.get(name, set()):
            if table in replicated:
                reached.add(replicated[table])
            else:
                todo.append(table)
    return sorted(reached)


def _final_name(table: str, later: Sequence[str]) -> str:
    """``table``'s name after the renames of ``later`` statements."""
    for code in later:
        renamed = _RENAME_TABLE.match(code)
        if renamed and _name(renamed.group(1)).lower() == table.lower():
            table = _name(renamed.group(2))
    return table


_INSERT_SELECT = re.compile(
    r"(?is)^\s*(WITH\b.*?\)\s*)?(?:INSERT(?:\s+OR\s+\w+)?|REPLACE)\s+INTO\s+"
    rf"{_QUALIFIED}\s*(\([^)]*\))?\s*SELECT\s+(.*)$"
)


_UPDATE_SET = re.compile(rf"(?is)^\s*UPDATE(?:\s+OR\s+\w+)?\s+{_QUALIFIED}\s+SET\s+(.*)$")


# The clauses that may follow an UPDATE's SET assignments.
UPDATE_CLAUSES = frozenset({"WHERE", "FROM", "RETURNING", "ORDER", "LIMIT"})


def _assignments(text: str) -> tuple[list[str], str | None]:
    """The ``column = value`` terms of an UPDATE (the text after SET), and the
    clause that ends them (``WHERE``, ``FROM``, ...), if any."""
    assignments: list[str] = []
    depth = start = 0
    for offset, token in sql_tokens(text):
        depth += (token == "(") - (token == ")")
        if depth == 0 and token == ",":
            assignments.append(text[start:offset])
            start = offset + 1
        elif depth == 0 and token.upper() in UPDATE_CLAUSES:
            assignments.append(text[start:offset])
            return assignments, token.upper()
    assignments.append(text[start:])
    return assignments, None


_SELECT_BODY = re.compile(r"(?is)^\s*(WITH\b.*?\)\s*)?SELECT\s+(.*)$")


def _staged_target(code: str) -> str | None:
    """The table an ``INSERT ... SELECT`` or a ``CREATE TABLE ... AS SELECT`` fills
    (lower case), or None."""
    insert, made = _INSERT_SELECT.match(code), _COPY_AS.match(code)
    if insert is not None:
        return _name(insert.group(2)).lower()
    if made is not None and _SELECT_BODY.match(made.group(2)):
        return _name(made.group(1)).lower()
    return None


def _old_names(table: str, earlier: Sequence[str]) -> set[str]:
    """``table`` (lower case) and the names ``earlier`` statements renamed it to."""
    names = {table.lower()}
    for code in earlier:
        renamed = _RENAME_TABLE.match(code)
        if renamed and _name(renamed.group(1)).lower() in names:
            names.add(_name(renamed.group(2)).lower())
    return names


# Where SQLite takes a 'string' for a name (ALTER TABLE 'visits' RENAME TO 'archive').
_STRING_NAME = re.compile(
    r"(?i)\b(TABLE(?:\s+IF\s+(?:NOT\s+)?EXISTS)?|RENAME(?:\s+COLUMN)?|DROP(?:\s+COLUMN)?"
    r"|TO|INTO|FROM|JOIN|UPDATE)(\s+)'((?:[^']|'')*)'"
)


def strings_as_names(code: str) -> str:
    """``code`` with the single-quoted names SQLite accepts after TABLE, TO, INTO,
    FROM, JOIN, UPDATE, RENAME and DROP double-quoted, as identifiers are."""

    def quoted(found: re.Match[str]) -> str:
        name = found.group(3).replace("''", "'").replace('"', '""')
        return f'{found.group(1)}{found.group(2)}"{name}"'

    return _STRING_NAME.sub(quoted, code)


_ADD_COLUMN = re.compile(rf"(?is)^\s*ALTER\s+TABLE\s+{_QUALIFIED}\s+ADD\s+(?:COLUMN\s+)?{_NAME}")


_INNER_WITH = re.compile(
    r"(?is)^(?P<head>\s*(?:INSERT(?:\s+OR\s+\w+)?|REPLACE)\s+INTO\s+"
    rf"{_QUALIFIED}\s*(?:\([^)]*\))?\s*)(?P<with>WITH\b.*?\))\s*(?P<select>SELECT\b.*)$"
)


def _with_moved_first(code: str) -> str:
    """One statement (comments gone) with its inner WITH moved first, found on a
    copy whose string literals are blanked (``') SELECT'`` ends no WITH)."""
    masked = list(code)
    for offset, token in sql_tokens(code):
        if token[0] == "'":
            masked[offset + 1 : offset + len(token) - 1] = "_" * (len(token) - 2)
    found = _INNER_WITH.match("".join(masked))
    if found is None:
        return code
    head, with_, select = (code[found.start(g) : found.end(g)] for g in ("head", "with", "select"))
    return f"{with_} {head}{select}"


def _with_first(migration: Migration) -> Migration:
    """``migration`` with an ``INSERT INTO t (...) WITH ... SELECT`` written as
    ``WITH ... INSERT INTO t (...) SELECT``, the one spelling the rules read
    (SQLite takes both)."""
    statements = [_with_moved_first(code) for code in migration.code]
    if statements == migration.code:
        return migration
    return replace(migration, sql=";\n".join(statements) + ";")
