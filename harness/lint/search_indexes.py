"""External-content full-text indexes a migration adds without filling them from
the rows replicas already hold (unfilled_search_indexes), or keeps on INSERT and
DELETE but not on UPDATE (search_indexes_stale_on_update).
"""

from __future__ import annotations

import re

from harness.lint.findings import MESSAGES, Finding
from harness.lint.selects import _read_tables, _rows_kept
from harness.lint.sqltext import _NAME, _QUALIFIED, _name, _trigger_parts
from harness.schemadiff import triggers_on
from nexus_core.db.migrations import Migration
from nexus_core.db.schema import Schema

_EXTERNAL_FTS = re.compile(
    rf"(?is)^\s*CREATE\s+VIRTUAL\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?{_QUALIFIED}"
    r"\s+USING\s+fts[345]\s*\((.*)\)\s*$"
)


_CONTENT_OPTION = re.compile(rf"(?is)(?:^|,)\s*content\s*=\s*('[^']*'|\"\"|{_NAME})\s*(?:,|$)")


def _fills_all(found: re.Match[str] | None, code: str, table: str) -> bool:
    """Whether a statement ``found`` to fill a search index fills it with every row
    of ``table`` (``'rebuild'``, or a SELECT of that table alone, keeping all)."""
    if found is None:
        return False
    if not found.group(0).rstrip().upper().endswith("SELECT"):
        return True  # the 'rebuild' command
    select = code[found.end() :]
    if re.match(r"""(?i)\s*['"]rebuild['"]\s*;?\s*$""", select):
        return True  # the command as a SELECT: INSERT INTO fts(fts) SELECT 'rebuild'
    return _read_tables(select) == {table.lower()} and _rows_kept(select) is True


def unfilled_search_indexes(migration: Migration, before: Schema, after: Schema) -> list[Finding]:
    """An external-content (or contentless) full-text index over a replicated table,
    made without being filled (``INSERT INTO fts(fts) VALUES ('rebuild')``, or for a
    contentless one an ``INSERT ... SELECT``) while triggers keep it.

    The rows the table held before are not in the index; the triggers' ``'delete'``
    of such a row fails (``database disk image is malformed``), so every update or
    delete of an older row fails at the new version, an edit arriving by sync too.
    """
    replicated = {name.lower(): name for name in before.replicated_tables}
    findings = []
    for code in migration.code:
        made = _EXTERNAL_FTS.match(code)
        content = _CONTENT_OPTION.search(made.group(2)) if made else None
        if made is None or content is None:
            continue
        option = content.group(1)
        index = _name(made.group(1))
        table = "" if option in ('""', "''") else _name(option.strip("'")).lower()
        quoted = re.escape(index)
        if not table:  # contentless (``content=''``): the table whose triggers feed it
            table = next(
                (
                    name
                    for name in replicated
                    if any(
                        re.search(rf"(?i)\b{quoted}\b", sql) and "'delete'" in sql.lower()
                        for sql in triggers_on(after, replicated[name]).values()
                    )
                ),
                "",
            )
        if table not in replicated:
            continue
        filled = re.compile(
            rf"(?is)^\s*INSERT\s+INTO\s+(?:main\s*\.\s*)?[\"`\[]?{quoted}\b[\"`\]]?\s*(?:\(.*\)\s*)?"
            r"(?:VALUES\s*\(\s*['\"]rebuild['\"]|SELECT\b)"
        )
        if any(_fills_all(filled.match(other), other, table) for other in migration.code):
            continue
        kept = [
            name
            for name, sql in triggers_on(after, table).items()
            if re.search(rf"(?i)\b{quoted}\b", sql) and "'delete'" in sql.lower()
        ]
        if not kept:
            continue  # nothing deletes from it: a stale index is local, not a failure
        message = MESSAGES["fts-unfilled"].format(
            t=replicated[table], d=index, trigger=kept[0], n=migration.version
        )
        findings.append(
            Finding("constraint-tightened", replicated[table], None, message, "breaking")
        )
    return findings


_ON_UPDATE = re.compile(r"(?is)\bUPDATE\b(?:\s+OF\s+(.*?))?\s+ON\b")


def _indexed_columns(sql: str) -> set[str]:
    """The columns a full-text table's SQL lists (not its ``option=value`` arguments)."""
    opened = sql.find("(")
    arguments = sql[opened + 1 : sql.rfind(")")] if opened >= 0 else ""
    return {
        _name(argument.split()[0]).lower()
        for argument in arguments.split(",")
        if argument.strip() and "=" not in argument
    }


def _keeps_on_update(sql: str, indexed: set[str]) -> bool:
    """Whether a trigger fires on every UPDATE of the ``indexed`` columns: on UPDATE,
    and with ``UPDATE OF`` naming each of them (``OF title`` misses a ``body`` edit)."""
    found = _ON_UPDATE.search(_trigger_parts(sql)[0])
    if found is None:
        return False
    if found.group(1) is None:
        return True
    named = {_name(column.strip()).lower() for column in found.group(1).split(",")}
    return indexed <= named


def _stale_on_update(schema: Schema, table: str, index: str) -> str | None:
    """The trigger that removes ``table``'s rows from the search index ``index`` where
    no trigger keeps the index on every UPDATE (None: kept, or nothing removes rows)."""
    quoted = re.compile(rf"(?i)\b{re.escape(index)}\b")
    triggers = {n: sql for n, sql in triggers_on(schema, table).items() if quoted.search(sql)}
    indexed = _indexed_columns(schema.virtual.get(index, ""))
    if any(_keeps_on_update(sql, indexed) for sql in triggers.values()):
        return None
    return next((n for n, sql in sorted(triggers.items()) if "'delete'" in sql.lower()), None)


def search_indexes_stale_on_update(
    migration: Migration, before: Schema, after: Schema
) -> list[Finding]:
    """A full-text index over a replicated table that triggers keep on INSERT and
    DELETE (its ``'delete'`` command) but none on UPDATE, made so by this migration.

    An UPDATE leaves the index holding the row's old values, and the ``'delete'``
    of that row then fails (``database disk image is malformed``): the row can never
    be deleted there. An app that never updates such rows still gets UPDATEs: sync
    applies a peer's edit as one (review BU F2, atuin's history index).
    """
    findings = []
    for table in after.replicated_tables:
        for index in after.virtual:
            trigger = _stale_on_update(after, table, index)
            if trigger is None or (
                index in before.virtual and _stale_on_update(before, table, index) is not None
            ):
                continue
            message = MESSAGES["fts-stale-on-update"].format(
                t=table, d=index, trigger=trigger, n=migration.version
            )
            findings.append(Finding("constraint-tightened", table, None, message, "breaking"))
    return findings
