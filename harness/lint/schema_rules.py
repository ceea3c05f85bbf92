"""The rules read from the schemas before and after a migration: every change
:mod:`harness.schemadiff` finds gets a rule, a severity and a message naming the
clients it hurts.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from harness.checkeval import compare_checks
from harness.lint.constraint_rules import _WHAT, _ConstraintRules
from harness.lint.findings import (
    MESSAGES,
    SEVERITY_RANK,
    Finding,
    _has,
    version_list,
    versions_before,
)
from harness.lint.sqltext import _TRIGGER_INSERT, _name, _trigger_parts
from harness.lint.trigger_rules import _LOCAL_RULES
from harness.schemadiff import (
    Change,
    collation_of,
    columns_named,
    diff_schemas,
    not_null_columns,
    raises,
    trigger_table,
    triggers_on,
    unique_keys,
    without_not_null,
)
from nexus_core.db.migrations import nondeterministic
from nexus_core.db.schema import (
    Column,
    Schema,
    Table,
    find_named,
    on_defaults,
    sql_key,
    stored_alike,
    trigger_key,
    type_affinity,
)
from nexus_core.merge import default_type, held_types

_LOCAL_KINDS = ("index", "view", "virtual")


def _strict_refuses_default(table: str, column: Column) -> str | None:
    """Why a STRICT table cannot store ``column``'s default (``INTEGER DEFAULT
    CURRENT_TIMESTAMP``: text), or None."""
    if column.default is None:
        return None
    try:
        on_defaults([column], "1", table=table, strict=True)
    except sqlite3.Error as exc:
        return str(exc)
    return None


def _refusal_profile(schema: Schema, name: str) -> tuple[Any, ...] | None:
    """What decides which inserts a local table refuses: its required columns,
    CHECKs, keys and UNIQUEs (with their columns' collations) and RAISE triggers."""
    table = find_named(schema.tables, name)
    if table is None:
        return None
    collations = {c.name.lower(): collation_of(c) for c in table.columns}
    keys = [tuple(table.primary_key), *(cols for cols, _, _ in unique_keys(schema, table.name))]
    return (
        sorted(c.name.lower() for c in table.columns if c.required),
        sorted(sql_key(check) or "" for check in table.checks),
        sorted([(c.lower(), collations.get(c.lower(), "")) for c in key] for key in keys if key),
        sorted(
            trigger_key(guard) or ""
            for guard in triggers_on(schema, table.name).values()
            if raises(guard)
        ),
    )


_TYPE_WORDS = {str: "text", int: "integer", float: "real", bytes: "blob"}


class _Linter(_ConstraintRules):
    """Turns the changes of one step (N-1 -> N) into findings."""

    def run(self) -> list[Finding]:
        changes = diff_schemas(self.before, self.after)
        added = {(c.table, c.column) for c in changes if c.kind == "column-added"}
        # A CHECK or foreign key on a column new in this step binds no older client.
        checks = [
            c
            for c in changes
            if (
                c.kind == "check-dropped"
                or (c.kind == "check-added" and not self.on_new_columns(c, added))
            )
            and not self.local_table(c)
        ]
        self.checks(checks)
        for change in changes:
            kind, _, what = change.kind.rpartition("-")
            if change.kind in ("check-added", "check-dropped") or self.local_table(change):
                continue
            if kind == "index" and self.unique_index(change.detail):
                continue  # a UNIQUE index is a constraint: unique-added/-dropped say what it does
            if kind == "index" and what != "dropped" and self.index_fails(change):
                continue
            if kind in _LOCAL_KINDS:
                on = f" on {change.table}" if kind == "index" else ""
                rule = f"{_LOCAL_RULES[what]}-{kind}"
                shown = "virtual table" if kind == "virtual" else kind
                self.add(rule, change, MESSAGES["local"], kind=shown, what=what, on=on)
            elif kind == "trigger":
                self.trigger(change, what)
            elif change.kind == "foreign-key-added" and (change.table, change.column) not in added:
                rule = "foreign-key-added"
                self.add(rule, change, MESSAGES[rule], self.old(change.table, change.column))
            elif change.kind == "unique-added" and (
                self.only_new_columns(change) or self.implied_unique(change)
            ):
                continue  # nothing older clients write can collide there
            elif change.kind == "unique-added":
                what = _WHAT[change.kind].format(c=change.column or "", d=change.detail)
                rule = "constraint-tightened"
                self.add(rule, change, MESSAGES[rule], self.old(change.table), what=what)
            elif change.kind == "unique-changed":
                was, now = change.detail.split(" -> ")
                rule, text = "constraint-tightened", MESSAGES["unique-changed"]
                self.add(rule, change, text, self.old(change.table), was=was, now=now)
            elif change.kind == "unique-dropped" and self.replaced_by_plain(change, changes):
                continue  # partial made plain: tightened only (said as unique-added)
            elif change.kind == "unique-dropped":
                text = MESSAGES["unique-dropped"]
                self.add("constraint-loosened", change, text, self.old(change.table))
            elif change.kind == "foreign-key-dropped":
                rule = "foreign-key-dropped"
                self.add(rule, change, MESSAGES[rule], self.old(change.table, change.column))
            elif change.kind == "foreign-key-action-changed":
                rule = "foreign-key-action-changed"
                old = self.old(change.table, change.column)
                effect = _action_effect(change.detail, change.column or "", old)
                self.add(rule, change, MESSAGES[rule], old, effect=effect)
            elif change.kind != "foreign-key-added":
                self.column_or_table(change)
        self.not_replicable(changes)
        self.json_reads_elsewhere()
        self.travelling_defaults()
        self.changed_targets()
        return sorted(
            self.findings,
            key=lambda f: (-SEVERITY_RANK[f.severity], f.table, f.column or "", f.rule, f.message),
        )

    def changed_targets(self) -> None:
        """A trigger both versions have, on a table both replicate, inserting into a
        local table the migration changes so that the insert fails on other rows
        (a UNIQUE made NOCASE, a CHECK added): the write that fires it is refused
        by one version and taken by the other."""
        for name, sql in sorted(self.after.triggers.items()):
            if trigger_key(self.before.triggers.get(name)) != trigger_key(sql):
                continue  # new, changed or gone: the trigger rules say what it does
            on = find_named(self.after.replicated_tables, trigger_table(sql))
            if on is None or on.name not in self.before.replicated_tables:
                continue
            targets = {
                _name(m.group(2)).lower()
                for statement in _trigger_parts(sql)[1].split(";")
                if (m := _TRIGGER_INSERT.match(statement))
            }
            moved = sorted(
                t
                for t in targets
                if _refusal_profile(self.before, t) != _refusal_profile(self.after, t)
            )
            change = Change(on.name, None, "trigger-changed", name)
            refusals = self.local_refusals(change, sql) if moved else []
            if refusals:  # what only v{n} refuses
                was = self.local_refusals(change, self.before.triggers[name], self.before)
                refusals = [r for r in refusals if r not in was]
            if refusals:
                what = f"is as it was, but v{self.version} changes {', '.join(moved)}"
                text, why = MESSAGES["trigger-local-refuses"], "; ".join(refusals)
                fields = {"name": name, "what": what, "why": why}
                self.add("constraint-tightened", change, text, self.old(on.name), **fields)

    def travelling_defaults(self) -> None:
        """A default whose value one version's column does not hold.

        A local insert captures every column, defaults included, so a default
        travels as a value. A column also holds the type of value its own
        default stores (``INTEGER DEFAULT CURRENT_TIMESTAMP`` holds text); once
        the default, or the type (``BOOLEAN DEFAULT 'f'`` made ``INTEGER``),
        changes, the other version may refuse it. A type change says so itself."""
        typed = {
            (f.table, (f.column or "").lower()) for f in self.findings if f.rule == "type-change"
        }
        for name, table in self.after.replicated_tables.items():
            before = self.before.replicated_tables.get(name)
            if before is None:
                continue
            for now in table.columns:
                was = before.column(now.name)
                if was is None or now.pk or (name, now.name.lower()) in typed:
                    continue
                lost = default_type(was.type, was.default)
                gained = default_type(now.type, now.default)
                old = self.old(name, now.name)
                if lost is not None and lost not in held_types(now):
                    change = Change(name, now.name, "default-changed", str(was.default))
                    what = _TYPE_WORDS.get(lost, lost.__name__)
                    self.add(
                        "constraint-tightened",
                        change,
                        MESSAGES["default-type-lost"],
                        old,
                        what=what,
                    )
                elif gained is not None and gained not in held_types(was):
                    change = Change(name, now.name, "default-changed", str(now.default))
                    what = _TYPE_WORDS.get(gained, gained.__name__)
                    text = MESSAGES["default-type-gained"]
                    self.add("constraint-loosened", change, text, old, what=what)

    def generated_changed(self, change: Change) -> None:
        """A generated column computed another way: local, unless a UNIQUE, a CHECK or a
        RAISE trigger compares it, when each version refuses rows the other accepts."""
        t, c = change.table, change.column or ""
        guards = [
            f"UNIQUE ({', '.join(cols)})"
            for cols, _, _ in unique_keys(self.after, t)
            if c.lower() in {col.lower() for col in cols}
        ]
        guards += self.compared_by(t, c, (self.after,))
        if guards:
            text = MESSAGES["generated-guarded"]
            self.add("constraint-tightened", change, text, self.old(t), guard=" and ".join(guards))
        else:
            self.add("change-generated", change, MESSAGES["generated-local"], self.old(t))

    def local_table(self, change: Change) -> bool:
        """A change to a table no version here replicates: sync never sees it.

        (Its creation is still reported, as not-replicable.)
        """
        if change.kind.startswith(("index-", "trigger-")):
            return False  # triggers and indexes have their own rules
        names = {change.table, change.detail} if change.kind == "table-renamed" else {change.table}
        tables = [
            schema.tables[name]
            for schema in (self.before, self.after)
            for name in names
            if name in schema.tables
        ]
        return bool(tables) and all(t.unreplicated_reason is not None for t in tables)

    def column_or_table(self, change: Change) -> None:
        t, c, kind = change.table, change.column or "", change.kind
        simple = {
            "table-dropped": ("drop-table", self.old(t)),
            "notnull-added": ("not-null-added", self.old(t, c)),
            "primary-key-changed": ("primary-key-change", self.old(t)),
        }
        held = find_named(self.before.tables, t)
        was_local = held.unreplicated_reason if held is not None else None
        if kind == "primary-key-changed" and was_local:
            text = MESSAGES["primary-key-replicated"]
            self.add("primary-key-change", change, text, self.old(t), why=was_local)
        elif kind in simple:
            rule, old = simple[kind]
            self.add(rule, change, MESSAGES[rule], old)
        elif kind == "table-added":
            n = self.version
            # The older clients without it: not those of a version that had it before
            # it was dropped (review BY F7), which hold it as their own.
            lack = [v for v in range(1, n) if not _has(self.schemas[v], t, None)]
            self.add(
                "add-table",
                change,
                MESSAGES["add-table" if n > 1 else "add-table-first"],
                version_list(lack) if lack else versions_before(n),
            )
            for made in self.after.tables[t].columns:  # a table made again (review BAQ F6)
                self.came_back(Change(t, made.name, "column-added", ""), made)
        elif kind == "table-renamed":
            self.add("rename-table", change, MESSAGES["rename-table"], self.old(change.detail))
        elif kind == "column-added":
            column = self.after.tables[t].column(c)
            if column is not None and column.required:
                rule = "add-not-null-without-default"
                self.add(rule, change, MESSAGES[rule], self.old(t))
            elif column is not None and column.default and nondeterministic(column.default):
                rule = "nondeterministic-default"
                moved = Change(t, c, kind, column.default)
                self.add(rule, moved, MESSAGES[rule], self.old(t))
            else:
                default = column.default if column else None
                fill = "NULL" if default is None else f"the default {default}"
                stopped = self.after.tables[t].unreplicated_reason
                text = MESSAGES["add-column-unreplicated" if was_local else "add-column"]
                if stopped and not was_local:
                    text = MESSAGES["add-column-stopped"]
                reason = was_local or stopped or ""
                self.add("add-column", change, text, self.lacking(t, c), fill=fill, why=reason)
                self.came_back(change, column)
        elif kind == "column-dropped":
            column = self.before.tables[t].column(c)
            now_generated = {g.lower() for g in self.after.tables[t].generated}
            text = MESSAGES["now-generated" if c.lower() in now_generated else "drop-column"]
            if column is not None and column.required:
                text += MESSAGES["drop-required"]
            self.add("drop-column", change, text, self.old(t, c))
        elif kind == "column-renamed":
            column = self.after.tables[t].column(c)
            text = MESSAGES["rename-column"]
            if column is not None and column.required:
                text += MESSAGES["rename-required"]
            self.add("rename-column", change, text, self.old(t, change.detail))
        elif kind == "type-changed":
            was, now = (
                type_affinity(p.strip().replace("(none)", "")) for p in change.detail.split("->")
            )
            if was != now and stored_alike(was, now, change.detail):  # BOOLEAN <-> INTEGER
                self.add("type-renamed", change, MESSAGES["type-boolean"], self.old(t, c))
                return
            rule = "type-change" if was != now else "type-renamed"
            self.add(rule, change, MESSAGES[rule], self.old(t, c), a=was, b=now)
        elif kind == "collation-changed":
            self.collation(change)
        elif kind == "generated-changed":
            self.generated_changed(change)
        elif kind == "generated-added":
            self.add("add-generated-column", change, MESSAGES[kind], self.old(t))
        elif kind == "generated-now-stored":
            self.add("generated-column-changed", change, MESSAGES[kind], self.old(t))
        elif kind in ("strict-added", "strict-dropped"):
            # The engine already holds INTEGER, REAL and TEXT columns to their
            # declared type; STRICT only adds a check on BLOB columns (STRICT takes
            # nothing but blobs there, a non-STRICT BLOB column takes any value).
            table = self.after.tables[t] if kind == "strict-added" else self.before.tables[t]
            refusing = False
            for column in table.columns if kind == "strict-added" else ():
                why = _strict_refuses_default(t, column)
                if why is not None:
                    moved = Change(t, column.name, kind, column.default or "")
                    text = MESSAGES["strict-default"]
                    self.add("constraint-tightened", moved, text, self.old(t), why=why)
                    refusing = True
            for column in table.columns:
                if column.type.upper() == "ANY" and not column.pk:
                    # ANY is NUMERIC in a plain table ('0012' stored as 12) and keeps
                    # values as given in a STRICT one.
                    moved = Change(t, column.name, kind, change.detail)
                    self.add("type-change", moved, MESSAGES["strict-any"], self.old(t, column.name))
            if any(column.type.upper() == "BLOB" for column in table.columns):
                rule = "constraint-tightened" if kind == "strict-added" else "constraint-loosened"
                self.add(rule, change, MESSAGES[kind], self.old(t))
            elif not refusing:
                self.add("strict-changed", change, MESSAGES["strict-same"], self.old(t))
        elif kind == "notnull-dropped":
            self.add("constraint-loosened", change, MESSAGES["not-null-dropped"], self.old(t, c))
        elif kind == "default-changed":
            self.default_changed(change)
        else:  # pragma: no cover - diff_schemas only emits the kinds above
            raise AssertionError(f"unhandled schema change {kind}")

    @staticmethod
    def replaced_by_plain(dropped: Change, changes: list[Change]) -> bool:
        """Whether a dropped partial UNIQUE comes back over the same columns without its
        WHERE: every row the old one refused, the new one refuses too (review BAD-4:
        it was also constraint-loosened, "v3 may write duplicates v1-v2 refuse")."""
        columns, where, _ = dropped.detail.partition(" WHERE ")
        return bool(where) and any(
            c.kind == "unique-added"
            and c.table == dropped.table
            and c.detail.lower() == columns.lower()
            for c in changes
        )

    def lacking(self, table: str, column: str) -> str:
        """``v3-v4``: the older versions that have ``table`` without ``column`` (all of
        them: ``v1 and v3`` where v2 had it, review BY F7)."""
        lack = [
            version
            for version in range(1, self.version)
            if _has(self.schemas[version], table, None)
            and not _has(self.schemas[version], table, column)
        ]
        return version_list(lack) if lack else f"v{self.version - 1}"

    def came_back(self, change: Change, column: Column | None) -> None:
        """A column added again unlike the one an older version still has: another
        affinity (dropped at v3, back at v5 as INTEGER where v1-v2 hold TEXT: review BX
        G1), NOT NULL where it took NULL, or under a CHECK it lacked (review BY F3):
        those clients write values the column refuses now."""
        if column is None:
            return
        for older in range(self.version - 2, 0, -1):
            table = find_named(self.schemas[older].tables, change.table)  # (any case: BAQ F5)
            was = None if table is None else table.column(column.name)
            if table is None or was is None:
                continue  # (a table dropped and made again: its older clients still write)
            first = older
            while first > 1 and _has(self.schemas[first - 1], table.name, column.name):
                first -= 1
            old = f"v{older}" if first == older else f"v{first}-v{older}"
            if was.affinity != column.affinity and not stored_alike(
                was.affinity, column.affinity, f"{was.type} -> {column.type}"
            ):
                detail = f"{was.type or '(none)'} -> {column.type or '(none)'}"
                moved = Change(change.table, change.column, "type-changed", detail)
                text = MESSAGES["type-change"] + MESSAGES["came-back"]
                self.add("type-change", moved, text, old, a=was.affinity, b=column.affinity)
            now = self.after.tables[change.table]
            name = column.name.lower()
            if name in not_null_columns(now) and name not in not_null_columns(table):
                moved = Change(change.table, change.column, "notnull-added", "")
                text = MESSAGES["not-null-added"] + MESSAGES["came-back-constraint"]
                self.add("not-null-added", moved, text, old)
            # A CHECK refusing what the older column's took: where it had none, or
            # where both compare and it refuses more (spellings differ: review BAQ F4).
            held, checks = _checks_on(table, was.name), _checks_on(now, column.name)
            moved = Change(change.table, change.column, "check-added", " AND ".join(checks))
            if checks and not held:
                self.check_added(moved, old, MESSAGES["came-back-constraint"])
            elif checks and (found := compare_checks(now, held, checks)) != (False, False):
                more = MESSAGES["came-back-check"]
                self.check_rewritten(moved, found, old, " AND ".join(held), more)
            return

    def default_changed(self, change: Change) -> None:
        t, c, n = change.table, change.column or "", self.version
        column = self.after.tables[t].column(c)
        lacking = [v for v in range(1, n) if _has(self.schemas[v], t, None)]
        lacking = [v for v in lacking if not _has(self.schemas[v], t, c)]
        old = ", ".join(f"v{v}" for v in lacking)
        if column is not None and lacking and not column.required:
            # Those clients' rows: one default at newer peers, another once they upgrade.
            self.add("data-rewrite", change, MESSAGES["default-backfill"], old)
            return
        self.add("default-changed", change, MESSAGES["default-changed"], self.old(t, c))
        if column is not None and lacking:
            rule = "add-not-null-without-default"
            self.add(rule, change, MESSAGES["default-dropped"], old)

    def not_replicable(self, changes: list[Change]) -> None:
        for change in changes:
            table = self.after.table(change.table)
            if table is None or table.unreplicated_reason is None:
                continue
            if change.kind == "table-added":
                what = table.unreplicated_reason
            elif change.kind == "primary-key-changed" and self.before.table(change.table):
                what = "lost its single-column primary key"
            else:
                continue
            self.add("not-replicable", change, MESSAGES["not-replicable"], what=what)
        for name, table in self.after.tables.items():
            reason = table.unreplicated_reason
            if reason is None or name not in self.before.replicated_tables:
                continue
            if any(c.kind == "primary-key-changed" and c.table == name for c in changes):
                continue  # said as primary-key-change (and not-replicable) already
            change = Change(name, None, "replication-stopped", reason)
            text = MESSAGES["replication-stopped"]
            self.add("replication-stopped", change, text, self.old(name), what=reason)


def _action_effect(detail: str, column: str, old: str) -> str:
    """What a delete does to the referencing rows by client version, from a
    ``foreign-key-action-changed`` detail (``other(col): CASCADE -> NO ACTION``)."""
    was, _, now = detail.rpartition(": ")[2].partition(" -> ")

    def does(action: str) -> str:
        if action == "CASCADE":
            return "deletes the rows referencing it"
        if action == "SET NULL":
            return f"sets {column} to NULL in the rows referencing it"
        return "leaves the rows referencing it as they are"

    return f"{does(now)} when a newer client deletes it but {does(was)} when {old} clients do"


def _checks_on(table: Table, column: str) -> list[str]:
    """The table's CHECK expressions that name ``column`` (not in a string or as a
    function: reviews BAQ F3, BAR R1), NOT NULL spelled as one aside."""
    return [
        check
        for check in table.checks
        if columns_named([column], check)
        and without_not_null(sql_key(check, table.column_names), table.column_names) is not None
    ]
