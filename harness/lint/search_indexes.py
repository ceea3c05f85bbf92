"""External-content full-text indexes a migration adds without filling them from
the rows replicas already hold (unfilled_search_indexes).
"""

from __future__ import annotations

import re

from harness.lint.findings import MESSAGES, Finding
from harness.lint.selects import _read_tables, _rows_kept
from harness.lint.sqltext import _NAME, _QUALIFIED, _name
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
