"""Rules for CHECKs, UNIQUEs and collations that change, and for JSON a new
constraint or index reads: what each side refuses that the other writes.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from contextlib import closing
from typing import Any

from harness.checkeval import compare_checks, same_rows_accepted
from harness.checks import allowed
from harness.lint.findings import MESSAGES
from harness.lint.sqltext import _name
from harness.lint.trigger_rules import _TriggerRules
from harness.lint.triggers import _fires_on_insert_only
from harness.schemadiff import (
    Change,
    UniqueKey,
    columns_named,
    raises,
    trigger_table,
    triggers_on,
    unique_constraints,
    unique_key,
    unique_keys,
)
from nexus_core.db.connection import memory
from nexus_core.db.migrations import without_literals
from nexus_core.db.schema import (
    Column,
    Schema,
    Table,
    find_named,
    null_default,
    on_defaults,
    type_affinity,
)
from nexus_core.wire import quote_identifier

_WHAT = {
    "check-added": "gained CHECK ({d})",
    "unique-added": "gained UNIQUE ({d})",
    "foreign-key-added": "column {c} now REFERENCES {d}",
}


# Collations under which some distinct BINARY values compare equal, with such a pair.
_EXAMPLE_PAIRS = {"NOCASE": "('Alice', 'alice')", "RTRIM": "('Alice', 'Alice ')"}


def _on_defaults(expression: str, columns: Sequence[Column]) -> tuple[bool, Any]:
    """(known, value) of ``expression`` over a row holding only these columns'
    defaults, stored as SQLite stores them (``BOOLEAN DEFAULT '0'`` holds 0).
    Not known when SQLite cannot evaluate it alone (it names another column)."""
    try:
        (value,) = on_defaults(columns, f"({expression})")
    except sqlite3.Error:
        return False, None
    return True, value


def _key_copies(table: Table, columns: Sequence[str]) -> set[str]:
    """The INTEGER key (lower case) where one of ``columns`` is an INTEGER generated
    column that is that key itself (``num INTEGER AS (id)``): a UNIQUE over it holds as
    the key does (review BAT-6). Not a copy of another type or a text key: ``sku_n
    INTEGER AS (sku)`` makes '7' and '007' one value (review BAU-1), and a text copy
    may compare under another collation."""
    key = table.column(table.row_key or "")
    if key is None or key.affinity != "INTEGER":
        return set()
    wanted = {c.lower() for c in columns}
    copies = {
        c.lower() for c, sql in table.computed if c.lower() in wanted and sql == key.name.lower()
    }
    if not copies:
        return set()
    with closing(memory()) as conn:
        try:
            conn.execute(table.sql)
            info = conn.execute(f"PRAGMA table_xinfo({quote_identifier(table.name)})").fetchall()
        except sqlite3.Error:
            return set()
    typed = {str(row[1]).lower(): type_affinity(str(row[2] or "")) for row in info}
    return {key.name.lower()} if any(typed.get(c) == "INTEGER" for c in copies) else set()


def _left_out(where: str | None, column: Column) -> bool:
    """Whether a partial index's ``where`` is false for a row holding ``column``'s
    default (other columns it names make the answer unknown: no)."""
    if not where:
        return False
    known, value = _on_defaults(where, [column])
    return known and not value


def _defaults_pass(check: str, columns: Sequence[Column | None]) -> bool:
    """Whether a row holding these columns' defaults passes ``check`` (yes when
    SQLite cannot tell)."""
    given = [c for c in columns if c is not None]
    if not given:
        return True
    known, value = _on_defaults(check, given)
    return not known or value is None or bool(value)


def _new_column(before: Table, after: Table, column: str, where: str | None = None) -> bool:
    """Whether ``column`` of ``after`` holds nothing older clients write: it is new
    in the step, with no default but NULL (or one a partial UNIQUE's ``where``
    leaves out), and, if generated, computed from such columns only."""
    lower = column.lower()
    if before.column(column) is not None or lower in {g.lower() for g in before.generated}:
        return False
    declared = after.column(column)
    if declared is not None and not null_default(declared.default):
        # Every row older clients send gets that one value: they collide, unless
        # the index leaves that value out (``WHERE phone <> ''``).
        return _left_out(where, declared)
    expression = next((sql for name, sql in after.computed if name.lower() == lower), None)
    if expression is None:
        return lower not in {g.lower() for g in after.generated}
    return not columns_named(before.column_names, expression)


# A JSON function that fails on text that is not JSON, and the column it reads.
_JSON_CALL = re.compile(
    # Not those that take any value: json_array('x') and json_object('k', 'x') are fine.
    # json() itself fails on text that is not JSON too.
    r"(?i)\bjson(?:_(?!valid\b|quote\b|array\b|object\b|group_array\b|group_object\b)\w+)?\s*\("
    # through functions that pass the column on: json_extract(COALESCE(custom, '{}'), ...)
    r"(?:\s*(?!json_(?:valid|array|object|quote)\b)\w+\s*\()*"
    r'\s*(?:(?:NEW|OLD)\s*\.\s*)?("[^"]+"|`[^`]+`|\[[^\]]+\]|\w+\b)(?!\s*\()'
)


_JSON_VALID = re.compile(
    r'(?i)\bjson_valid\s*\(\s*(?:(?:NEW|OLD)\s*\.\s*)?("[^"]+"|`[^`]+`|\[[^\]]+\]|\w+)'
)


# The same through SQLite's JSON operators: ``meta ->> '$.tier'``.
_JSON_ARROW = re.compile(r'("[^"]+"|`[^`]+`|\[[^\]]+\]|\w+)\s*->>?')


def _json_default(column: Column) -> bool:
    """Whether ``column``'s default, if any, is JSON (``DEFAULT ''`` is not)."""
    if column.default is None or null_default(column.default):
        return True
    try:
        (valid,) = on_defaults([column], f"json_valid({quote_identifier(column.name)})")
    except sqlite3.Error:
        return False
    return bool(valid)


# Text that is not JSON, which a JSON function fails on ("malformed JSON").
_NOT_JSON = ("", "x", "not json", "{")


def _holds_json(table: Table, column: str) -> bool:
    """Whether the table's CHECKs refuse every text in ``column`` that is not JSON,
    tried by SQLite on a row holding such text there and NULL elsewhere
    (``CHECK (json_valid(doc) OR doc = '')`` lets ``''`` through)."""
    if not allowed(column, table.checks).json:
        return False
    names = ", ".join(quote_identifier(name) for name in table.column_names)
    checks = "".join(f", CHECK ({check})" for check in table.checks)
    try:
        with closing(memory()) as conn:
            conn.execute(f"CREATE TABLE probe ({names}{checks})")
            for text in _NOT_JSON:
                try:
                    conn.execute(
                        f"INSERT INTO probe ({quote_identifier(column)}) VALUES (?)", (text,)
                    )
                except sqlite3.IntegrityError:
                    continue
                return False
    except sqlite3.Error:
        return True  # (a CHECK SQLite cannot try alone: as its words say)
    return True


def _json_reads(sql: str) -> set[str]:
    """The columns an expression reads as JSON (lower case): it fails on other text.

    Not those it checks with ``json_valid`` first (``CASE WHEN json_valid(info)
    THEN json_extract(info, '$.isbn') END``)."""
    found = {_name(m.group(1)).lower() for m in _JSON_CALL.finditer(sql)}
    found |= {_name(m.group(1)).lower() for m in _JSON_ARROW.finditer(sql)}
    return found - {_name(m.group(1)).lower() for m in _JSON_VALID.finditer(sql)}


class _ConstraintRules(_TriggerRules):
    """Findings for CHECKs, UNIQUEs, collations and JSON reads that change."""

    def only_new_columns(self, change: Change) -> bool:
        """Whether a UNIQUE added covers only columns new in this step (or a new table)."""
        before = self.before.tables.get(change.table)
        if before is None:
            return True
        key = self.unique_of(change)
        after = self.after.tables[change.table]
        index = next(
            (
                index
                for index in self.after.indexes.values()
                if index.table == change.table
                and index.unique
                and unique_key(index, self.after) == key
            ),
            None,
        )
        where = index.where if index is not None else None
        if where and columns_named(before.column_names, where):
            # Older clients write what the condition reads: undeleting or publishing a
            # row moves it into the index, onto another's value (review BAU-2).
            return False
        return key is not None and all(_new_column(before, after, c, where) for c in key[0])

    def on_new_columns(self, change: Change, added: set[tuple[str, str | None]]) -> bool:
        """Whether a CHECK added reads only columns new in this step: older clients
        never write them, and their rows arrive with NULL or the default there."""
        table = self.after.tables.get(change.table)
        if table is None:
            return (change.table, change.column) in added
        used = columns_named(table.column_names, change.detail)
        if (change.table, change.column) not in added and not (
            used and all((change.table, c) in added for c in used)
        ):
            return False
        # Their rows get the defaults there: a CHECK those fail refuses every one.
        return _defaults_pass(change.detail, [table.column(c) for c in used])

    def compared_by(self, t: str, c: str, schemas: Sequence[Schema]) -> list[str]:
        """What compares column ``c`` of table ``t`` besides a key or UNIQUE on it, so
        that each version may refuse what the other accepts: a CHECK, a partial
        UNIQUE's condition, a trigger that can RAISE (string literals aside)."""
        mentions = re.compile(rf"(?i)\b{re.escape(c)}\b")
        found = []
        if any(mentions.search(without_literals(check)) for check in self.after.tables[t].checks):
            found.append("a CHECK")
        for schema in schemas:
            for index in schema.indexes.values():
                where = without_literals(index.where or "")
                if index.table == t and index.unique and mentions.search(where):
                    found.append(f"the condition of UNIQUE index {index.name}")
            for name, sql in triggers_on(schema, t).items():
                if raises(sql) and mentions.search(without_literals(sql)):
                    found.append(f"trigger {name} (it can RAISE)")
        return list(dict.fromkeys(found))

    def unique_of(self, change: Change) -> UniqueKey | None:
        """The UNIQUE a unique-added change names (by how the schema spells it)."""
        found = unique_constraints(self.after, change.table).items()
        return next((key for key, text in found if text == change.detail), None)

    def implied_unique(self, change: Change) -> bool:
        """Whether a UNIQUE added holds wherever a key or UNIQUE of both versions already
        does: its columns include the primary key, or all of a plain UNIQUE's
        (``(id, org_id)`` when ``id`` is the key): no two rows can collide on it."""
        key = self.unique_of(change)
        before, after = self.before.tables.get(change.table), self.after.tables.get(change.table)
        if key is None or before is None or after is None:
            return False
        columns, _, compared = key
        if compared:
            return False  # an expression of a column may collide where the column does not
        covered = {c.lower() for c in columns} | _key_copies(after, columns)
        held = [tuple(after.primary_key)] if after.primary_key == before.primary_key else []
        was, now = unique_keys(self.before, change.table), unique_keys(self.after, change.table)
        held += [cols for cols, where, how in was & now if not where and not how]
        # A plain UNIQUE this step adds over new columns only holds for every row too
        # (older clients' rows are NULL there): ``(carrier, tracking)`` beside a new
        # ``UNIQUE (tracking)`` refuses nothing it does not (review BAT-6).
        held += [
            cols
            for cols, where, how in now - was
            if not where and not how and all(_new_column(before, after, c, None) for c in cols)
        ]
        return any(key and {c.lower() for c in key} <= covered for key in held)

    def index_fails(self, change: Change) -> bool:
        """Report an index whose expression fails on values older clients may write
        (``json_extract`` of text that is not JSON): SQLite refuses such writes."""
        index = self.after.indexes.get(change.detail)
        table, before = self.after.tables.get(change.table), self.before.tables.get(change.table)
        if index is None or table is None or before is None:
            return False
        risky = self.not_json(change.table, _json_reads(index.compared + (index.where or "")))
        if not risky:
            return False
        where = Change(change.table, risky[0], change.kind, change.detail)
        text = MESSAGES["index-fails"]
        self.add("constraint-tightened", where, text, self.old(change.table, risky[0]))
        return True

    def not_json(self, t: str, read: AbstractSet[str]) -> list[str]:
        """Old columns of ``t`` in ``read`` that older clients may fill with text that is
        not JSON (neither declared JSON nor checked with a JSON function)."""
        table, before = self.after.tables.get(t), self.before.tables.get(t)
        if table is None or before is None:
            return []
        return sorted(
            c.name
            for c in before.columns
            if c.name.lower() in read
            and not ("JSON" in c.type.upper() and _json_default(c))  # declared JSON: documents
            and not _holds_json(table, c.name)
            and not _holds_json(before, c.name)
        )

    def json_reads_elsewhere(self) -> None:
        """A trigger or a generated column new in the step reading an old column as JSON:
        SQLite fails the write (``malformed JSON``) where older clients wrote other text,
        and a stored generated column fails the migration itself on such rows."""
        for name, sql in self.after.triggers.items():
            if self.before.triggers.get(name) == sql:
                continue
            on = find_named(self.before.tables, trigger_table(sql))
            t = on.name if on is not None else ""
            read = _json_reads(without_literals(sql))
            if _fires_on_insert_only(sql):
                # A received row goes in with its required columns alone when its full
                # insert fails, the rest by UPDATE: only those reach an INSERT trigger.
                model = self.after.tables.get(t)
                read &= {c.name.lower() for c in model.columns if c.required} if model else set()
            risky = self.not_json(t, read)
            if risky and t in self.before.replicated_tables:
                change = Change(t, risky[0], "trigger-added", name)
                self.add(
                    "constraint-tightened",
                    change,
                    MESSAGES["json-fails"],
                    self.old(t),
                    what=f"trigger {name}",
                )
        for t, table in self.after.tables.items():
            before = self.before.tables.get(t)
            if before is None or t not in self.before.replicated_tables:
                continue
            for column, expression in set(table.computed) - set(before.computed):
                risky = self.not_json(t, _json_reads(expression))
                if risky:
                    change = Change(t, risky[0], "generated-added", column)
                    self.add(
                        "constraint-tightened",
                        change,
                        MESSAGES["json-fails"],
                        self.old(t),
                        what=f"generated column {column}",
                    )

    def unique_index(self, name: str) -> bool:
        """Whether index ``name`` is UNIQUE on either side (then it is a constraint, not local)."""
        return any(
            unique_key(index, schema) in unique_keys(schema, index.table)
            for schema in (self.before, self.after)
            if (index := schema.indexes.get(name)) is not None and index.unique
        )

    def checks(self, changes: list[Change]) -> None:
        """CHECKs added and dropped; both on the same table and column is ONE changed CHECK."""
        groups: dict[tuple[str, str | None], dict[str, list[str]]] = {}
        for change in self.respelled_checks_aside(changes):
            group = groups.setdefault((change.table, change.column), {})
            group.setdefault(change.kind, []).append(change.detail)
        for (table, column), group in sorted(
            groups.items(), key=lambda g: (g[0][0], g[0][1] or "")
        ):
            was = " AND ".join(group.get("check-dropped", []))
            now = " AND ".join(group.get("check-added", []))
            old = self.old(table)
            if was and now:
                change = Change(table, column, "check-changed", now)
                held = self.after.table(table)
                found = (
                    compare_checks(held, group["check-dropped"], group["check-added"])
                    if held
                    else None
                )
                self.check_rewritten(change, found, old, was)
            elif now:
                self.check_added(Change(table, column, "check-added", now), old)
            elif not self.gone_with_its_columns(table, was):
                change = Change(table, column, "check-dropped", was)
                self.add("constraint-loosened", change, MESSAGES["check-dropped"], old)

    def check_rewritten(
        self, change: Change, found: tuple[bool, bool] | None, old: str, was: str, more: str = ""
    ) -> None:
        """A CHECK ``was`` written again as ``change.detail``: looser (only older clients
        refuse), tighter or other, as ``found`` (see ``compare_checks``) says; ``more``
        ends the message."""
        if found == (False, True):  # wider: only older clients refuse
            text = MESSAGES["check-widened"] + more
            self.add("constraint-loosened", change, text, old, was=was)
            return
        text = MESSAGES["check-narrowed" if found == (True, False) else "check-changed"] + more
        self.add("constraint-tightened", change, text, old, was=was)

    def check_added(self, change: Change, old: str, more: str = "") -> None:
        """A CHECK (``change.detail``) where there was none; ``more`` ends the message."""
        what = _WHAT["check-added"].format(d=change.detail)
        text = MESSAGES["constraint-tightened"] + more
        self.add("constraint-tightened", change, text, old, what=what)

    def respelled_checks_aside(self, changes: list[Change]) -> list[Change]:
        """The CHECK changes but a table's CHECKs written again another way: SQLite
        refuses exactly the same rows with the new ones (``checkeval``)."""
        tables: dict[str, dict[str, list[str]]] = {}
        for change in changes:
            tables.setdefault(change.table, {}).setdefault(change.kind, []).append(change.detail)
        respelled = {
            name
            for name, kinds in tables.items()
            if (table := self.after.table(name)) is not None
            and same_rows_accepted(
                table, kinds.get("check-dropped", []), kinds.get("check-added", [])
            )
        }
        return [change for change in changes if change.table not in respelled]

    def gone_with_its_columns(self, table: str, check: str) -> bool:
        """Whether a dropped CHECK only read columns the migration dropped too (the
        drop-column finding says all there is: nobody writes them any more)."""
        before, after = self.before.table(table), self.after.table(table)
        if before is None or after is None:
            return False
        words = {w.lower() for w in re.findall(r"\w+", without_literals(check))}
        read = {c.name.lower() for c in before.columns if c.name.lower() in words}
        kept = {c.name.lower() for c in after.columns}
        return bool(read) and not read & kept

    def collation(self, change: Change) -> None:
        """A changed COLLATE: breaking where a key, UNIQUE or CHECK compares with the column."""
        t, c = change.table, change.column or ""
        was, now = (p.strip() for p in change.detail.split("->"))
        table = self.after.tables[t]
        column = table.column(c)
        constrained = []
        if column is not None and column.pk:
            constrained.append("PRIMARY KEY")
        if any(c in cols for s in (self.before, self.after) for cols, _, _ in unique_keys(s, t)):
            constrained.append("UNIQUE")
        guards = self.compared_by(t, c, (self.before, self.after))
        checked = bool(guards)
        fields = {"a": was, "b": now, "guard": guards[0] if guards else ""}
        old = self.old(t, c)
        if not constrained:
            rule = "constraint-tightened" if checked else "collation-changed"
            text = MESSAGES["collation-check" if checked else "collation-changed"]
            self.add(rule, change, text, old, **fields)
            return
        if was == "BINARY" and now in _EXAMPLE_PAIRS:
            effect, pair = "collation-coarser", _EXAMPLE_PAIRS[now]
        elif now == "BINARY" and was in _EXAMPLE_PAIRS:
            effect, pair = "collation-finer", _EXAMPLE_PAIRS[was]
        else:
            effect, pair = "collation-other", ""
        text = MESSAGES["collation-key"].replace("{effect}", MESSAGES[effect])
        what = " and ".join(constrained)
        pair = f" {pair}" if pair else ""
        self.add("constraint-tightened", change, text, old, what=what, pair=pair, **fields)
