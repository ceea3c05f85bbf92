"""Rules for triggers added, changed or dropped: what a trigger RAISEs on and what
it writes, against what older clients send.
"""

from __future__ import annotations

import re
from dataclasses import replace

from harness.lint.findings import MESSAGES, versions_before
from harness.lint.selects import _select_items
from harness.lint.sqltext import (
    _NAME,
    _QUALIFIED,
    _SOURCES,
    _TRIGGER_INSERT,
    _name,
    _through_view,
    _trigger_parts,
    _written_tables,
)
from harness.lint.step import _Step
from harness.lint.triggers import (
    _fires_on_insert_only,
    _not_null_guard,
    _raise_conditions,
    _raises_on_defaults,
    _when,
)
from harness.schemadiff import (
    Change,
    collation_of,
    columns_named,
    raises,
    trigger_kept,
    triggers_on,
    unique_keys,
)
from nexus_core.db.migrations import nondeterministic, without_literals
from nexus_core.db.schema import Schema, Table, find_named

_LOCAL_RULES = {"added": "add", "dropped": "drop", "changed": "change"}


def _collated(table: Table, name: str) -> str:
    """`` COLLATE X`` when ``table`` compares its column ``name`` other than BINARY."""
    column = table.column(name)
    collation = collation_of(column) if column is not None else "BINARY"
    return "" if collation == "BINARY" else f" COLLATE {collation}"


class _TriggerRules(_Step):
    """Findings for triggers that change (see :meth:`trigger`)."""

    def trigger(self, change: Change, what: str) -> None:
        """A RAISE on a table both versions replicate refuses writes; anything else is local."""
        name = change.detail
        was = self.before.triggers.get(name, "")
        now = self.after.triggers.get(name, "")
        # ``ON Appointments`` is table appointments: SQLite keeps the name as written.
        on = find_named({**self.after.tables, **self.before.tables}, change.table)
        change = replace(change, table=on.name if on is not None else change.table)
        replicated = (
            change.table in self.before.replicated_tables
            and change.table in self.after.replicated_tables
        )
        fields = {"name": name, "what": what}
        raised, unraised = raises(now), raises(was)
        if (
            replicated
            and raised
            and what in ("added", "changed")
            and (_fires_on_insert_only(now) or self.checked_on_insert(change.table, now))
            and self.on_new_only(change, now)
            and not self.reads_other_tables(change, now)
            and not self.reads_clock(now)
            and not _raises_on_defaults(self.after.tables[change.table], now)
        ):
            # It only compares columns older clients never write, as rows go in (like
            # a CHECK). Not on UPDATE: their parked values replay as updates.
            raised = None
        if replicated and raised and what in ("added", "changed"):
            text = MESSAGES[
                "trigger-raises-on-insert" if _fires_on_insert_only(now) else "trigger-raises"
            ]
            self.add(
                "constraint-tightened",
                change,
                text,
                self.old(change.table),
                raise_=raised,
                **fields,
            )
        elif (
            raised
            and what in ("added", "changed")
            and change.table in self.after.replicated_tables
            and (others := self.reads_other_tables(change, now) + self.reads_clock(now))
        ):
            # On a table new to sync: no older client is concerned, yet whether a
            # replica takes a row depends on what it holds then, or when it arrives.
            text = MESSAGES["trigger-reads-others"]
            self.add(
                "constraint-tightened",
                change,
                text,
                raise_=raised,
                others=", ".join(others),
                **fields,
            )
        elif replicated and unraised and (what == "dropped" or not raised):
            what = "is gone" if what == "dropped" else "no longer raises"
            text = MESSAGES["trigger-unraised"]
            fields["what"] = what
            self.add(
                "constraint-loosened",
                change,
                text,
                self.old(change.table),
                raise_=unraised,
                **fields,
            )
        else:
            tables = {
                name.lower()
                for name in (*self.after.replicated_tables, *self.before.replicated_tables)
            }
            written = _written_tables(now or was)
            writes = sorted(t for t in written if t.lower() in tables)
            # A write to a view (or a local table) whose own triggers write replicated ones.
            for target in sorted(t for t in written if t.lower() not in tables):
                reached = _through_view(target, self.instead, self.replicated_names)
                writes += [t for t in reached if t not in writes]
            if any(change.table in schema.views for schema in (self.before, self.after)):
                # INSTEAD OF a write to a view: sync writes tables, never views, so
                # the trigger fires only for the app's own SQL, which no op records
                # either way.
                writes = []
            verb = "wrote" if what == "dropped" else "writes"
            if writes:
                text = MESSAGES["trigger-writes" if self.version > 1 else "trigger-writes-first"]
                self.add(
                    "trigger-writes-replicated",
                    change,
                    text,
                    versions_before(self.version),
                    verb=verb,
                    writes=", ".join(writes),
                    **fields,
                )
                running = self._running(name) if what != "dropped" else ()
                self.findings[-1] = replace(self.findings[-1], within_versions=running)
                return
            refusals = self.local_refusals(change, now) if what != "dropped" else []
            if refusals:
                text, why = MESSAGES["trigger-local-refuses"], "; ".join(refusals)
                self.add(
                    "constraint-tightened", change, text, self.old(change.table), why=why, **fields
                )
                return
            self.add(f"{_LOCAL_RULES[what]}-trigger", change, MESSAGES["trigger"], **fields)

    def _running(self, name: str) -> tuple[int, ...]:
        """The versions from this one on whose clients run trigger ``name`` as it is
        here, up to the migration that drops it or changes what it does (review BY F5:
        a trigger dropped since explains nothing between later clients); made again
        under another name or case, doing the same, it runs on (review BAS-4)."""
        running = [self.version]
        for version in range(self.version + 1, len(self.schemas)):
            kept = trigger_kept(self.schemas[version - 1], self.schemas[version], name)
            if kept is None:
                break
            running.append(version)
            name = kept
        return tuple(running)

    def local_refusals(self, change: Change, sql: str, schema: Schema | None = None) -> list[str]:
        """How a trigger's INSERT into a local table can fail the write that fires it.

        A NOT NULL column it leaves out fails every time; a UNIQUE (or key) over
        the columns it fills from the row is a UNIQUE on the replicated table in
        disguise (a slot per venue and kick-off): older clients write rows this
        version refuses. ``OR IGNORE``, ``OR REPLACE`` and ``ON CONFLICT`` handle it.
        """
        schema = schema or self.after
        if change.table not in self.after.replicated_tables:
            return []
        found = []
        head, body = _trigger_parts(sql)
        deletes: dict[str, str] = {}  # what the trigger deletes from a table before inserting
        for statement in body.split(";"):
            deleting = re.match(rf"(?is)^\s*DELETE\s+FROM\s+{_QUALIFIED}(.*)$", statement)
            if deleting:
                deletes[_name(deleting.group(1)).lower()] = deleting.group(2)
            insert = _TRIGGER_INSERT.match(statement)
            if insert is None or insert.group(1) or re.search(r"(?i)\bON\s+CONFLICT\b", statement):
                continue
            target = find_named(schema.tables, _name(insert.group(2)))
            if target is None or target.name in schema.replicated_tables:
                continue  # replicated targets have their own rule
            listed = insert.group(3)
            filled = (
                {_name(c.strip()).lower() for c in listed.strip("()").split(",")}
                if listed
                else {c.lower() for c in target.column_names}
            )
            for column in target.columns:
                if column.required and column.name.lower() not in filled:
                    found.append(f"it leaves {target.name}.{column.name} (NOT NULL) out")
            found += self.nulls_into(change, target, statement[insert.end() :], listed, head)
            if change.table not in self.before.replicated_tables:
                continue  # no older client writes the table: each version refuses alike
            checked = [c for c in target.checks if columns_named(sorted(filled), c)]
            if checked:
                found.append(f"{target.name} has CHECK ({checked[0]})")
            guards = [
                name
                for name, guard in triggers_on(schema, target.name).items()
                if raises(guard) and _fires_on_insert_only(guard)
            ]
            if guards:
                found.append(f"trigger {guards[0]} on {target.name} can RAISE")
            keys = [tuple(target.primary_key)] if target.primary_key else []
            keys += [cols for cols, _, _ in unique_keys(schema, target.name)]
            # NOT EXISTS, or a delete first by the key's columns, keeps the insert off a key.
            guarded = re.search(r"(?i)\bNOT\s+EXISTS\b", statement)
            cleared = deletes.get(target.name.lower())
            for key in [] if guarded else keys:
                if cleared is not None and columns_named(list(key), cleared) == list(key):
                    continue
                if key and all(c.lower() in filled for c in key):
                    compared = [f"{c}{_collated(target, c)}" for c in key]
                    found.append(f"{target.name} holds ({', '.join(compared)}) UNIQUE")
                    break
        return found

    def nulls_into(
        self, change: Change, target: Table, rest: str, listed: str | None, when: str
    ) -> list[str]:
        """``NEW.x`` inserted into a NOT NULL column, where x of the trigger's table may be
        NULL (unless ``when``, the trigger's head, says ``NEW.x IS NOT NULL``)."""
        values = re.match(r"(?is)\s*VALUES\s*\((.*)\)\s*$", rest)
        table = self.after.tables[change.table]
        if values is None:
            return []
        names = (
            [_name(c.strip()) for c in listed.strip("()").split(",")]
            if listed
            else target.column_names
        )
        found = []
        items = _select_items(values.group(1))
        for name, item in zip(names, items, strict=False):
            into, ref = target.column(name), re.fullmatch(rf"(?i)NEW\s*\.\s*{_NAME}", item)
            source = table.column(_name(ref.group(1))) if ref else None
            if into is None or not into.notnull or source is None or source.notnull or source.pk:
                continue
            if not _not_null_guard(source.name).search(when):  # the WHEN leaves NULL out
                found.append(f"NEW.{source.name} may be NULL, {target.name}.{name} is NOT NULL")
        return found

    def checked_on_insert(self, table: str, sql: str) -> bool:
        """Whether another trigger on ``table`` refuses on INSERT what this one refuses
        (the same WHEN): every value a newer client wrote passed it, so the older
        clients' parked copies of those values, replayed as updates, pass it too."""
        when = _when(sql)
        return bool(when) and any(
            _fires_on_insert_only(other) and raises(other) and _when(other) == when
            for other in triggers_on(self.after, table).values()
        )

    def on_new_only(self, change: Change, sql: str) -> bool:
        """Whether a trigger compares only columns of its table new in this step."""
        before, after = self.before.tables[change.table], self.after.tables[change.table]
        used = columns_named(after.column_names, sql)
        return bool(used) and all(before.column(c) is None for c in used)

    def reads_other_tables(self, change: Change, sql: str) -> list[str]:
        """The replicated tables other than its own a trigger on a replicated table
        reads, directly or through views.

        A ``NOT EXISTS`` guard waiting for a parent too: a replica that holds the
        parent's delete when the row arrives refuses it for good, while one that got
        the row first keeps it. (Its own table, or a row's old values, are what a
        UNIQUE or a lock compares too: writes made at once on one version, not a
        migration, decide there.)"""
        if change.table not in self.after.replicated_tables:
            return []
        read = {_name(m.group(1)).lower() for m in _SOURCES.finditer(without_literals(sql))}
        views = {name.lower(): view for name, view in self.after.views.items()}
        seen: set[str] = set()
        while read & views.keys() - seen:  # what the views it reads read, in turn
            for view in read & views.keys() - seen:
                seen.add(view)
                text = without_literals(views[view])
                read |= {_name(m.group(1)).lower() for m in _SOURCES.finditer(text)}
        return sorted(
            name
            for name in self.after.replicated_tables
            if name.lower() in read and name.lower() != change.table.lower()
        )

    @staticmethod
    def reads_clock(sql: str) -> list[str]:
        """``["the clock"]`` when a trigger decides by the time whether to RAISE
        (``datetime('now')`` in its WHEN, or in the statement that raises): a write
        in time where it is made is late where it arrives later, from a device that
        was offline, and refused there for good. (Stamping a log is no decision.)"""
        return ["the clock"] if nondeterministic(_raise_conditions(sql)) else []
