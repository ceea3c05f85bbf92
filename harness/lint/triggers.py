"""Reading triggers: when they fire, what they RAISE on, and triggers a migration
leaves naming tables or columns that are gone (dangling_triggers).
"""

from __future__ import annotations

import re
import sqlite3

from harness.lint.findings import MESSAGES, Finding
from harness.lint.sqltext import _CTE, _FUNCTIONS, _SOURCES, _WRITES, _name, _trigger_parts
from harness.schemadiff import trigger_table
from nexus_core.db.migrations import Migration
from nexus_core.db.schema import Schema, Table, is_internal_table, on_defaults, sql_key, sql_tokens


def _when(sql: str) -> str | None:
    """A trigger's WHEN condition, in canonical form (None without one)."""
    return sql_key(_when_text(sql))


def _as_written(sql: str) -> tuple[str | None, str]:
    """A trigger's WHEN condition (None without one) and its body, as written: split
    at its first WHEN and first BEGIN, read by tokens (a word in a string is no
    keyword). :func:`_trigger_parts` blanks the literals instead."""
    when = None
    for offset, token in sql_tokens(sql):
        word = token.upper()
        if word == "BEGIN":
            return (sql[when:offset] if when is not None else None), sql[offset:]
        if word == "WHEN" and when is None:
            when = offset + len(token)
    return None, ""


def _when_text(sql: str) -> str | None:
    """A trigger's WHEN condition as written (None without one)."""
    return _as_written(sql)[0]


def _raising_statements(sql: str) -> list[str]:
    """The statements of a trigger's body that RAISE, as written."""
    return [s for s in _as_written(sql)[1].split(";") if re.search(r"(?i)\bRAISE\s*\(", s)]


def _raise_conditions(sql: str) -> str:
    """What decides whether a trigger RAISEs, as written: its WHEN and the body's
    statements that RAISE (``SELECT RAISE(ABORT, '...') WHERE ...``)."""
    return " AND ".join([_when_text(sql) or "", *_raising_statements(sql)])


def _raises_on_defaults(table: Table, sql: str) -> bool:
    """Whether a trigger RAISEs for a row of nothing but ``table``'s defaults
    (``WHEN length(NEW.currency) <> 3`` and ``DEFAULT ''``): the rows older clients
    write get those defaults for the columns they lack, and are refused. Its WHEN
    and the WHERE of a ``SELECT RAISE(...) WHERE ...`` in its body both count."""
    wheres = [re.search(r"(?is)\bWHERE\b(.*)$", s) for s in _raising_statements(sql)]
    body = " OR ".join(f"({w.group(1)})" if w else "1" for w in wheres) or "0"
    condition = f"({_when_text(sql) or '1'}) AND ({body})"
    condition = re.sub(r"(?i)\bNEW\s*\.\s*", "", condition)
    try:
        (holds,) = on_defaults(table.columns, f"({condition})")
    except sqlite3.Error:
        return False
    return bool(holds)


def _fires_on_insert_only(sql: str) -> bool:
    """Whether a trigger fires on INSERT alone (not on UPDATE or DELETE)."""
    return bool(re.search(r"(?i)\bINSERT\s+ON\b", _trigger_parts(sql)[0]))


def _not_null_guard(column: str) -> re.Pattern[str]:
    """``NEW.column IS NOT NULL`` (the column quoted or not), or SQLite's postfix
    spellings of it: ``NEW.column NOT NULL``, ``NEW.column NOTNULL``."""
    name = re.escape(column)
    return re.compile(
        rf'(?i)\bNEW\s*\.\s*(?:{name}|"{name}"|`{name}`|\[{name}\])'
        r"\s+(?:IS\s+NOT\s+NULL|NOT\s+NULL|NOTNULL)\b"
    )


def _missing_names(schema: Schema) -> dict[str, list[str]]:
    """Per trigger, the tables its body reads or writes that ``schema`` lacks."""
    known = {n.lower() for n in (*schema.tables, *schema.views, *schema.virtual, *schema.shadow)}
    found = {}
    for name, sql in schema.triggers.items():
        body = _trigger_parts(sql)[1]
        named = {_name(m.group(1)).lower() for m in _SOURCES.finditer(body)}
        named |= {_name(m.group(1)).lower() for m in _WRITES.finditer(body)}
        named -= {_name(m.group(1)).lower() for m in _CTE.finditer(body)} | _FUNCTIONS
        missing = sorted(n for n in named if n not in known and not is_internal_table(n))
        if missing:
            found[name] = missing
    return found


def dangling_triggers(migration: Migration, before: Schema, after: Schema) -> list[Finding]:
    """A trigger left naming a table the schema no longer has.

    ``ALTER TABLE t RENAME TO t_old`` makes SQLite rewrite other tables'
    triggers to name ``t_old``; once the rebuild drops ``t_old``, every write
    that fires such a trigger fails (``no such table``), received rows too.
    """
    broken_before = _missing_names(before)
    findings = []
    for name, missing in sorted(_missing_names(after).items()):
        if broken_before.get(name) == missing:
            continue
        table = trigger_table(after.triggers[name])
        message = MESSAGES["trigger-dangling"].format(
            name=name, t=table, d=", ".join(missing), n=migration.version
        )
        findings.append(Finding("constraint-tightened", table, None, message, "breaking"))
    return findings
