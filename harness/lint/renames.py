"""Renames that end where they started (swapped_names): tables or columns that swap
names look alike in the schemas before and after, but their values move.
"""

from __future__ import annotations

from harness.lint.findings import MESSAGES, RULES, Finding, versions_before
from harness.lint.rewrites import _copies_back
from harness.lint.sqltext import _RENAME_COLUMN, _RENAME_TABLE, _name
from nexus_core.db.migrations import Migration
from nexus_core.db.schema import Schema


def swapped_names(migration: Migration, before: Schema, after: Schema) -> list[Finding]:
    """Columns (or tables) renamed among themselves: the schemas look alike.

    ``ALTER TABLE ... RENAME`` statements are followed through the migration;
    a column of a replicated table renamed away while its name is still there
    afterwards (swapped with another, or added again) moved its values, which
    no schema diff can see. Renames only in case are not renames.
    """
    tables = {name.lower(): name for name in before.replicated_tables}
    _, made_again = _copies_back(migration.code, before, after)
    current: dict[str, str] = {}  # table's current name (lower) -> its name before
    moves: dict[str, dict[str, str]] = {}  # table before -> {column before: now}
    for code in migration.code:
        renamed = _RENAME_TABLE.match(code)
        if renamed:
            table, new = _name(renamed.group(1)), _name(renamed.group(2))
            current[new.lower()] = current.pop(table.lower(), table)
            continue
        match = _RENAME_COLUMN.match(code)
        if not match:
            continue
        table, old, new = (_name(match.group(i)) for i in (1, 2, 3))
        origin = current.setdefault(table.lower(), table)
        columns = moves.setdefault(origin, {})
        was = next((c for c, now in columns.items() if now.lower() == old.lower()), old)
        columns[was] = new
    findings = []
    for origin, columns in sorted(moves.items()):
        name = tables.get(origin.lower())
        if name is None or name not in after.tables:
            continue
        kept = {c.lower() for c in after.tables[name].column_names}
        swapped = {  # renamed away, yet its name is still there: the values moved
            was: now
            for was, now in columns.items()
            if was.lower() != now.lower()
            and was.lower() in kept
            and f"{origin.lower()}.{was.lower()}" not in made_again
        }
        if swapped:
            what = ", ".join(f"{was} -> {now}" for was, now in sorted(swapped.items()))
            n = migration.version
            message = MESSAGES["swapped-names"].format(
                t=name, what=what, old=versions_before(n), n=n
            )
            findings.append(Finding("rename-column", name, None, message, RULES["rename-column"]))
    existed = {name.lower() for name in before.tables}
    swapped_tables = sorted(
        (origin, final)
        for final, origin in current.items()
        if origin.lower() != final and origin.lower() in tables and final in existed
    )
    if swapped_tables:
        what = ", ".join(f"{was} -> {now}" for was, now in swapped_tables)
        n = migration.version
        for origin, _ in swapped_tables:
            name = tables[origin.lower()]
            message = MESSAGES["swapped-tables"].format(what=what, old=versions_before(n), n=n)
            findings.append(Finding("rename-table", name, None, message, RULES["rename-table"]))
    return findings
