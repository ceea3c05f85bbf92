"""The migration lint on minimal migrations built in real SQLite."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from rich.console import Console

from harness.errors import HarnessError
from harness.lint import (
    RULES,
    Finding,
    MigrationLint,
    lint_migrations,
    lint_to_json,
    render_lint_table,
)
from nexus_core.db.migrations import load_migrations

BASE = """
CREATE TABLE recipes (
    recipe_id TEXT PRIMARY KEY NOT NULL,
    title     TEXT NOT NULL,
    servings  INTEGER,
    notes     TEXT,
    rating    INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE cooks (cook_id TEXT PRIMARY KEY NOT NULL, name TEXT);
"""


def rebuild(columns: str, select: str = "recipe_id, title, servings, notes, rating") -> str:
    """SQL rebuilding ``recipes`` with ``columns`` (create new, copy, drop, rename)."""
    return f"""
CREATE TABLE recipes_new ({columns});
INSERT INTO recipes_new SELECT {select} FROM recipes;
DROP TABLE recipes;
ALTER TABLE recipes_new RENAME TO recipes;
"""


SAME_COLUMNS = (
    "recipe_id TEXT PRIMARY KEY NOT NULL, title TEXT NOT NULL, servings INTEGER,"
    " notes TEXT, rating INTEGER NOT NULL DEFAULT 0"
)


def lint_steps(tmp_path: Path, *steps: str) -> list[MigrationLint]:
    folder = tmp_path / "migrations"
    folder.mkdir(parents=True)
    for number, sql in enumerate(steps, start=1):
        text = f"-- Description: step {number}\n{sql}"
        (folder / f"{number:03d}_step.sql").write_text(text, encoding="utf-8")
    return lint_migrations(load_migrations(folder))


def last(tmp_path: Path, *steps: str) -> MigrationLint:
    return lint_steps(tmp_path, *steps)[-1]


def hits(result: MigrationLint) -> set[tuple[str, str, str | None]]:
    return {(f.rule, f.table, f.column) for f in result.findings}


RULE_CASES = [
    pytest.param(
        "ALTER TABLE recipes ADD COLUMN half REAL GENERATED ALWAYS AS (rating / 2.0);",
        ("add-generated-column", "recipes", "half"),
        "safe",
        id="add-generated-column",
    ),
    pytest.param(
        "ALTER TABLE recipes ADD COLUMN tags TEXT DEFAULT (json_array());",
        ("add-column-fails", "recipes", "tags"),
        "breaking",
        id="add-column-fails",
    ),
    pytest.param(
        "ALTER TABLE recipes ADD COLUMN cuisine TEXT;",
        ("add-column", "recipes", "cuisine"),
        "additive",
        id="add-column-nullable",
    ),
    pytest.param(
        "ALTER TABLE recipes ADD COLUMN cuisine TEXT NOT NULL DEFAULT 'any';",
        ("add-column", "recipes", "cuisine"),
        "additive",
        id="add-column-defaulted",
    ),
    pytest.param(
        "CREATE TABLE pantry (item_id TEXT PRIMARY KEY NOT NULL, name TEXT);",
        ("add-table", "pantry", None),
        "additive",
        id="add-table",
    ),
    pytest.param(
        "CREATE INDEX idx_recipes_title ON recipes(title);",
        ("add-index", "recipes", None),
        "safe",
        id="add-index",
    ),
    pytest.param(
        "CREATE VIEW quick AS SELECT recipe_id FROM recipes WHERE servings < 2;",
        ("add-view", "quick", None),
        "safe",
        id="add-view",
    ),
    pytest.param(
        "CREATE TRIGGER recipes_touch AFTER UPDATE ON recipes BEGIN SELECT 1; END;",
        ("add-trigger", "recipes", None),
        "safe",
        id="add-trigger",
    ),
    pytest.param(
        "CREATE TRIGGER touch AFTER UPDATE OF title ON recipes"
        " BEGIN UPDATE cooks SET name = NEW.title WHERE cook_id = NEW.recipe_id; END;",
        ("trigger-writes-replicated", "recipes", None),
        "breaking",
        id="add-trigger-writing-a-replicated-table",
    ),
    pytest.param(
        "CREATE TABLE recipes_new (" + SAME_COLUMNS + ","
        " added_at TEXT NOT NULL DEFAULT (CURRENT_TIMESTAMP));"
        " INSERT INTO recipes_new (recipe_id, title, servings, notes, rating)"
        " SELECT recipe_id, title, servings, notes, rating FROM recipes;"
        " DROP TABLE recipes; ALTER TABLE recipes_new RENAME TO recipes;",
        ("nondeterministic-default", "recipes", "added_at"),
        "breaking",
        id="nondeterministic-default",
    ),
    pytest.param(
        "CREATE VIRTUAL TABLE recipes_fts USING fts5(title, content='recipes');",
        ("add-virtual", "recipes_fts", None),
        "safe",
        id="add-virtual",
    ),
    pytest.param(
        "CREATE TRIGGER recipes_guard BEFORE INSERT ON recipes WHEN NEW.servings > 99"
        " BEGIN SELECT RAISE(ABORT, 'too many'); END;",
        ("constraint-tightened", "recipes", None),
        "breaking",
        id="add-trigger-raise",
    ),
    pytest.param(
        "ALTER TABLE recipes DROP COLUMN notes;",
        ("drop-column", "recipes", "notes"),
        "breaking",
        id="drop-column",
    ),
    pytest.param("DROP TABLE cooks;", ("drop-table", "cooks", None), "breaking", id="drop-table"),
    pytest.param(
        "ALTER TABLE recipes RENAME COLUMN title TO name;",
        ("rename-column", "recipes", "name"),
        "breaking",
        id="rename-column",
    ),
    pytest.param(
        "ALTER TABLE cooks RENAME TO chefs;",
        ("rename-table", "chefs", None),
        "breaking",
        id="rename-table",
    ),
    pytest.param(
        rebuild(SAME_COLUMNS + ", author TEXT NOT NULL", "*, 'me'"),
        ("add-not-null-without-default", "recipes", "author"),
        "breaking",
        id="add-not-null-without-default",
    ),
    pytest.param(
        rebuild(
            SAME_COLUMNS.replace("notes TEXT", "notes TEXT NOT NULL"),
            "recipe_id, title, servings, COALESCE(notes, ''), rating",
        ),
        ("not-null-added", "recipes", "notes"),
        "breaking",
        id="not-null-added",
    ),
    pytest.param(
        rebuild(SAME_COLUMNS.replace("servings INTEGER", "servings TEXT")),
        ("type-change", "recipes", "servings"),
        "breaking",
        id="type-change-affinity",
    ),
    pytest.param(
        rebuild(SAME_COLUMNS.replace("notes TEXT", "notes VARCHAR(200)")),
        ("type-renamed", "recipes", "notes"),
        "safe",
        id="type-renamed-same-affinity",
    ),
    pytest.param(
        rebuild(SAME_COLUMNS.replace("notes TEXT", "notes TEXT COLLATE NOCASE")),
        ("collation-changed", "recipes", "notes"),
        "safe",
        id="collation-changed-plain-column",
    ),
    pytest.param(
        rebuild(SAME_COLUMNS.replace("title TEXT NOT NULL", "title TEXT NOT NULL COLLATE NOCASE"))
        + "CREATE UNIQUE INDEX ux_recipes_title ON recipes(title);",
        ("constraint-tightened", "recipes", "title"),
        "breaking",
        id="unique-added-with-collation",
    ),
    pytest.param(
        rebuild(
            SAME_COLUMNS.replace(
                "recipe_id TEXT PRIMARY KEY NOT NULL", "recipe_id TEXT NOT NULL"
            ).replace("title TEXT NOT NULL", "title TEXT PRIMARY KEY NOT NULL")
        ),
        ("primary-key-change", "recipes", None),
        "breaking",
        id="primary-key-change",
    ),
    pytest.param(
        rebuild(SAME_COLUMNS.replace("servings INTEGER", "servings INTEGER CHECK (servings > 0)")),
        ("constraint-tightened", "recipes", "servings"),
        "breaking",
        id="check-added",
    ),
    pytest.param(
        "CREATE UNIQUE INDEX ux_recipes_title ON recipes(title);",
        ("constraint-tightened", "recipes", "title"),
        "breaking",
        id="unique-index-added",
    ),
    pytest.param(
        rebuild(SAME_COLUMNS + ", UNIQUE (title, servings)"),
        ("constraint-tightened", "recipes", None),
        "breaking",
        id="unique-constraint-added",
    ),
    pytest.param(
        rebuild(SAME_COLUMNS.replace("notes TEXT", "notes TEXT REFERENCES cooks(cook_id)")),
        ("foreign-key-added", "recipes", "notes"),
        "additive",
        id="foreign-key-added",
    ),
    pytest.param(
        rebuild(SAME_COLUMNS.replace("title TEXT NOT NULL", "title TEXT")),
        ("constraint-loosened", "recipes", "title"),
        "breaking",
        id="not-null-dropped",
    ),
    pytest.param(
        "UPDATE recipes SET title = upper(title);\nDELETE FROM recipes WHERE rating < 0;",
        ("data-rewrite", "recipes", None),
        "breaking",
        id="data-rewrite",
    ),
    pytest.param(
        rebuild(SAME_COLUMNS.replace("notes TEXT", "notes BLOB")).replace(
            "rating INTEGER NOT NULL DEFAULT 0);", "rating INTEGER NOT NULL DEFAULT 0) STRICT;"
        ),
        ("constraint-tightened", "recipes", None),
        "breaking",
        id="strict-added-with-a-blob-column",
    ),
    pytest.param(
        rebuild(SAME_COLUMNS).replace(
            "rating INTEGER NOT NULL DEFAULT 0);", "rating INTEGER NOT NULL DEFAULT 0) STRICT;"
        ),
        ("strict-changed", "recipes", None),
        "safe",
        id="strict-changed",
    ),
    pytest.param(
        rebuild(SAME_COLUMNS.replace("DEFAULT 0", "DEFAULT 3")),
        ("default-changed", "recipes", "rating"),
        "additive",
        id="default-changed",
    ),
    pytest.param(
        "CREATE TABLE tags (recipe_id TEXT, tag TEXT, PRIMARY KEY (recipe_id, tag));",
        ("not-replicable", "tags", None),
        "additive",
        id="not-replicable-composite-key",
    ),
    pytest.param(
        'ALTER TABLE cooks ADD COLUMN "2nd_name" TEXT;',
        ("replication-stopped", "cooks", None),
        "breaking",
        id="replication-stopped",
    ),
    pytest.param(
        "CREATE TABLE log (message TEXT);",
        ("not-replicable", "log", None),
        "additive",
        id="not-replicable-no-key",
    ),
]


@pytest.mark.parametrize(("step", "expected", "verdict"), RULE_CASES)
def test_each_rule_fires(
    tmp_path: Path, step: str, expected: tuple[str, str, str | None], verdict: str
) -> None:
    result = last(tmp_path, BASE, step)
    assert expected in hits(result), result.findings
    assert result.verdict == verdict
    finding = next(f for f in result.findings if (f.rule, f.table, f.column) == expected)
    assert finding.severity == RULES[finding.rule]
    assert re.search(r"\bv[12]\b", finding.message) or finding.severity == "safe"


def test_every_declared_rule_has_a_case() -> None:
    exercised = {case.values[1][0] for case in RULE_CASES}  # type: ignore[index]
    undeclared_here = {
        "change-generated",  # needs a generated column at v1: its own test below
        "drop-index",
        "change-index",
        "drop-view",
        "change-view",
        "drop-trigger",
        "change-trigger",
        "drop-virtual",
        "change-virtual",
        "foreign-key-dropped",
        "foreign-key-action-changed",  # needs a foreign key at v1: its own test below
        "generated-column-changed",
    }
    assert set(RULES) - exercised <= undeclared_here


@pytest.mark.parametrize(
    ("setup", "step", "rule"),
    [
        ("CREATE INDEX ix ON recipes(title);", "DROP INDEX ix;", "drop-index"),
        (
            "CREATE INDEX ix ON recipes(title);",
            "DROP INDEX ix; CREATE INDEX ix ON recipes(notes);",
            "change-index",
        ),
        ("CREATE VIEW v AS SELECT title FROM recipes;", "DROP VIEW v;", "drop-view"),
        (
            "CREATE VIEW v AS SELECT title FROM recipes;",
            "DROP VIEW v; CREATE VIEW v AS SELECT notes FROM recipes;",
            "change-view",
        ),
        (
            "CREATE TRIGGER t AFTER INSERT ON recipes BEGIN SELECT 1; END;",
            "DROP TRIGGER t;",
            "drop-trigger",
        ),
    ],
)
def test_local_objects_are_safe(tmp_path: Path, setup: str, step: str, rule: str) -> None:
    result = last(tmp_path, BASE + setup, step)
    assert [f.rule for f in result.findings] == [rule]
    assert result.verdict == "safe"


def test_constraints_loosened_are_breaking(tmp_path: Path) -> None:
    with_check = SAME_COLUMNS.replace("servings INTEGER", "servings INTEGER CHECK (servings > 0)")
    setup = BASE + rebuild(with_check) + "CREATE UNIQUE INDEX ux ON recipes(title);"
    result = last(tmp_path, setup, rebuild(SAME_COLUMNS))
    assert hits(result) == {
        ("constraint-loosened", "recipes", "servings"),
        ("constraint-loosened", "recipes", "title"),  # the UNIQUE index, not also drop-index
    }
    assert result.verdict == "breaking"
    messages = {f.column: f.message for f in result.findings if f.rule == "constraint-loosened"}
    assert messages["servings"].startswith("v2 clients may write values in recipes that CHECK")
    assert "v1 clients refuse such ops" in messages["servings"]
    assert "v1 clients refuse the second such row (UNIQUE there)" in messages["title"]


def test_not_null_dropped_message(tmp_path: Path) -> None:
    results = lint_steps(
        tmp_path,
        BASE,
        "ALTER TABLE recipes ADD COLUMN cuisine TEXT;",
        rebuild(SAME_COLUMNS.replace("title TEXT NOT NULL", "title TEXT") + ", cuisine TEXT", "*"),
    )
    assert hits(results[2]) == {("constraint-loosened", "recipes", "title")}
    assert results[2].verdict == "breaking"
    assert results[2].findings[0].message == (
        "v3 clients may write NULL in recipes.title; v1-v2 clients refuse such ops"
        " (NOT NULL there), so those edits never reach them"
    )


def test_foreign_key_dropped_is_additive(tmp_path: Path) -> None:
    with_key = SAME_COLUMNS.replace("notes TEXT", "notes TEXT REFERENCES cooks(cook_id)")
    result = last(tmp_path, BASE + rebuild(with_key), rebuild(SAME_COLUMNS))
    assert hits(result) == {("foreign-key-dropped", "recipes", "notes")}
    assert result.verdict == "additive"
    assert "does not enforce foreign keys" in result.findings[0].message


def test_a_key_of_several_columns_is_named_by_its_columns(tmp_path: Path) -> None:
    rooms = "CREATE TABLE rooms (b TEXT, n TEXT, m TEXT, PRIMARY KEY (b, n), UNIQUE (b, m));\n"
    stays = "CREATE TABLE stays (id INTEGER PRIMARY KEY, b TEXT, n TEXT, m TEXT);\n"

    def key(columns: str) -> str:
        link = f"FOREIGN KEY (b, {columns}) REFERENCES rooms (b, {columns})"
        return stays.replace(");", f", {link});")

    def swap(schema: str) -> str:
        return schema.replace("stays", "stays_new") + (
            "INSERT INTO stays_new SELECT * FROM stays;\nDROP TABLE stays;\n"
            "ALTER TABLE stays_new RENAME TO stays;\n"
        )

    added, moved = lint_steps(tmp_path, rooms + stays, swap(key("n")), swap(key("m")))[1:]
    assert hits(added) == {("foreign-key-added", "stays", "b, n")}
    assert "stays.b, n now REFERENCES rooms(b, n)" in added.findings[0].message
    assert hits(moved) == {
        ("foreign-key-dropped", "stays", "b, n"),
        ("foreign-key-added", "stays", "b, m"),
    }
    renamed = lint_steps(tmp_path / "renamed", rooms + key("n"), "ALTER TABLE stays RENAME n TO k;")
    assert hits(renamed[1]) == {("rename-column", "stays", "k")}  # the key follows the rename


def test_changed_check_is_one_tightened_finding(tmp_path: Path) -> None:
    loose = SAME_COLUMNS.replace("servings INTEGER", "servings INTEGER CHECK (servings > 0)")
    strict = SAME_COLUMNS.replace("servings INTEGER", "servings INTEGER CHECK (servings > 1)")
    result = last(tmp_path, BASE + rebuild(loose), rebuild(strict))
    assert hits(result) == {("constraint-tightened", "recipes", "servings")}
    assert len(result.findings) == 1
    assert result.verdict == "breaking"
    assert result.findings[0].message.startswith(
        "recipes CHECK (servings > 0) became CHECK (servings > 1), which accepts less:"
    )


def test_check_moved_to_another_column_is_two_findings(tmp_path: Path) -> None:
    on_servings = SAME_COLUMNS.replace("servings INTEGER", "servings INTEGER CHECK (servings > 0)")
    on_rating = SAME_COLUMNS.replace("DEFAULT 0", "DEFAULT 0 CHECK (rating >= 0)")
    result = last(tmp_path, BASE + rebuild(on_servings), rebuild(on_rating))
    assert hits(result) == {
        ("constraint-loosened", "recipes", "servings"),
        ("constraint-tightened", "recipes", "rating"),
    }


@pytest.mark.parametrize(
    ("before", "after", "rule", "verdict"),
    [
        pytest.param(
            "notes VARCHAR(50)", "notes VARCHAR(255)", "type-renamed", "safe", id="varchar"
        ),
        pytest.param(
            "servings DECIMAL(10,2)", "servings DECIMAL(12,2)", "type-renamed", "safe", id="decimal"
        ),
        pytest.param("servings INT", "servings INTEGER", "type-renamed", "safe", id="int"),
        pytest.param("servings INTEGER", "servings TEXT", "type-change", "breaking", id="affinity"),
        pytest.param("notes VARCHAR(50)", "notes BLOB", "type-change", "breaking", id="to-blob"),
    ],
)
def test_type_change_only_when_affinity_differs(
    tmp_path: Path, before: str, after: str, rule: str, verdict: str
) -> None:
    column = before.split()[0]
    original = "servings INTEGER" if column == "servings" else "notes TEXT"
    setup = BASE + rebuild(SAME_COLUMNS.replace(original, before))
    result = last(tmp_path, setup, rebuild(SAME_COLUMNS.replace(original, after)))
    assert hits(result) == {(rule, "recipes", column)}
    assert result.verdict == verdict
    if rule == "type-renamed":
        assert "SQLite stores both alike; sync cannot see the difference" in (
            result.findings[0].message
        )


NOCASE_TITLE = SAME_COLUMNS.replace("title TEXT NOT NULL", "title TEXT NOT NULL COLLATE NOCASE")


def test_nocase_on_a_unique_column_is_breaking(tmp_path: Path) -> None:
    setup = BASE + "CREATE UNIQUE INDEX ux ON recipes(title);"
    step = rebuild(NOCASE_TITLE) + "CREATE UNIQUE INDEX ux ON recipes(title);"
    result = last(tmp_path, setup, step)
    assert hits(result) == {("constraint-tightened", "recipes", "title")}
    assert result.verdict == "breaking"
    assert result.findings[0].message.startswith(
        "recipes.title is now UNIQUE COLLATE NOCASE (was BINARY): values v1 clients hold as"
        " distinct ('Alice', 'alice') are refused at v2"
    )


def test_nocase_on_a_plain_column_is_safe(tmp_path: Path) -> None:
    result = last(tmp_path, BASE, rebuild(NOCASE_TITLE))
    assert hits(result) == {("collation-changed", "recipes", "title")}
    assert result.verdict == "safe"


def test_nocase_dropped_from_a_unique_column_is_breaking(tmp_path: Path) -> None:
    unique = "CREATE UNIQUE INDEX ux ON recipes(title);"
    setup = BASE + rebuild(NOCASE_TITLE) + unique
    result = last(tmp_path, setup, rebuild(SAME_COLUMNS) + unique)
    assert hits(result) == {("constraint-tightened", "recipes", "title")}
    assert "v1 clients refuse as duplicates" in result.findings[0].message


@pytest.mark.parametrize(
    ("was", "now", "shown"),
    [
        ("title", "title COLLATE NOCASE", "UNIQUE (title) became UNIQUE (title COLLATE NOCASE)"),
        ("title COLLATE RTRIM", "title", "UNIQUE (title COLLATE RTRIM) became UNIQUE (title)"),
        ("title", "lower(title)", "UNIQUE (title) became UNIQUE (lower(title))"),
        ("trim( title )", "title", "UNIQUE (trim(title)) became UNIQUE (title)"),
    ],
)
def test_a_unique_index_comparing_its_column_another_way_is_breaking(
    tmp_path: Path, was: str, now: str, shown: str
) -> None:
    """The column keeps its collation; the index compares it another way."""
    setup = BASE + f"CREATE UNIQUE INDEX ux ON recipes({was});"
    result = last(tmp_path, setup, f"DROP INDEX ux; CREATE UNIQUE INDEX ux ON recipes({now});")
    assert hits(result) == {("constraint-tightened", "recipes", "title")}
    assert result.verdict == "breaking"
    assert shown in result.findings[0].message


@pytest.mark.parametrize(
    "index",
    [
        "CREATE UNIQUE INDEX ux ON recipes(lower(title));",
        "CREATE UNIQUE INDEX ux ON recipes(title COLLATE NOCASE);",
        "CREATE INDEX ix ON recipes(title COLLATE NOCASE);",
    ],
)
def test_an_index_compared_the_same_way_again_is_no_change(tmp_path: Path, index: str) -> None:
    name = index.split(" ON ")[0].split()[-1]
    renamed = index.replace(f" {name} ", f" {name}2 ")
    result = last(tmp_path, BASE + index, f"DROP INDEX {name};" + renamed)
    assert result.verdict == "safe"
    assert not any(f.rule == "constraint-tightened" for f in result.findings)


def test_a_new_unique_expression_over_an_old_column_is_breaking(tmp_path: Path) -> None:
    result = last(tmp_path, BASE, "CREATE UNIQUE INDEX ux ON recipes(upper(title));")
    assert hits(result) == {("constraint-tightened", "recipes", "title")}
    assert "gained UNIQUE (upper(title))" in result.findings[0].message


def test_nocase_on_a_text_primary_key_is_breaking(tmp_path: Path) -> None:
    keyed = SAME_COLUMNS.replace("PRIMARY KEY NOT NULL", "PRIMARY KEY NOT NULL COLLATE NOCASE")
    result = last(tmp_path, BASE, rebuild(keyed))
    # A key compared loosely names one row by several ids: the table leaves sync too.
    assert hits(result) == {
        ("constraint-tightened", "recipes", "recipe_id"),
        ("replication-stopped", "recipes", None),
    }
    tightened = next(f for f in result.findings if f.rule == "constraint-tightened")
    assert "is now PRIMARY KEY COLLATE NOCASE" in tightened.message


def test_collation_on_a_checked_column_is_breaking(tmp_path: Path) -> None:
    checked = SAME_COLUMNS.replace("notes TEXT", "notes TEXT CHECK (notes IN ('a', 'b'))")
    result = last(
        tmp_path,
        BASE + rebuild(checked),
        rebuild(checked.replace("notes TEXT", "notes TEXT COLLATE NOCASE")),
    )
    assert hits(result) == {("constraint-tightened", "recipes", "notes")}
    assert "a CHECK compares with it" in result.findings[0].message


@pytest.mark.parametrize("kind", ["ABORT", "fail", "Rollback"])
def test_trigger_that_raises_is_breaking(tmp_path: Path, kind: str) -> None:
    step = (
        "CREATE TRIGGER guard BEFORE UPDATE OF servings ON recipes WHEN NEW.servings < 0"
        f" BEGIN SELECT raise({kind}, 'no'); END;"
    )
    result = last(tmp_path, BASE, step)
    assert hits(result) == {("constraint-tightened", "recipes", None)}
    assert result.verdict == "breaking"
    assert f"can RAISE({kind.upper()})" in result.findings[0].message


def test_an_insert_trigger_that_raises_says_received_values_come_as_updates(
    tmp_path: Path,
) -> None:
    """A received row it refuses goes in without the values, which then arrive as
    updates the trigger does not check (what the engine does; SYNC.md's limits)."""
    step = (
        "CREATE TRIGGER guard BEFORE INSERT ON recipes WHEN NEW.servings < 0"
        " BEGIN SELECT RAISE(ABORT, 'no'); END;"
    )
    result = last(tmp_path, BASE, step)
    assert hits(result) == {("constraint-tightened", "recipes", None)}
    assert "arrive as updates, which it does not check" in result.findings[0].message


def test_trigger_writing_a_replicated_table_is_breaking(tmp_path: Path) -> None:
    """A trigger's writes bypass the oplog: versions with and without it diverge."""
    trigger = (
        "CREATE TRIGGER touch AFTER UPDATE OF title ON recipes"
        " BEGIN UPDATE cooks SET name = NEW.title WHERE cook_id = NEW.recipe_id; END;"
    )
    result = last(tmp_path / "a", BASE, trigger)
    assert hits(result) == {("trigger-writes-replicated", "recipes", None)}
    assert result.verdict == "breaking"
    assert "writes replicated table(s) cooks" in result.findings[0].message
    dropped = last(tmp_path / "b", BASE + trigger, "DROP TRIGGER touch;")
    assert hits(dropped) == {("trigger-writes-replicated", "recipes", None)}
    # In the first migration no older client exists to name (it said "v1-v0"): the
    # copies diverge between replicas of v1 (review BU F8).
    (first,) = lint_steps(tmp_path / "first", BASE + trigger)
    message = next(f.message for f in first.findings if f.rule == "trigger-writes-replicated")
    assert message.endswith("so copies of those rows diverge between replicas of v1")
    assert "v0" not in message
    local = "CREATE TABLE log (what TEXT);"  # no key: never replicated
    audit = "CREATE TRIGGER audit AFTER UPDATE ON recipes BEGIN INSERT INTO log VALUES ('x'); END;"
    result = last(tmp_path / "c", BASE + local, audit)
    assert hits(result) == {("add-trigger", "recipes", None)}
    assert result.verdict == "safe"
    assert "writes no replicated table" in result.findings[0].message


def test_trigger_raise_ignore_drops_rows_and_one_on_a_new_table_is_local(tmp_path: Path) -> None:
    ignore = "CREATE TRIGGER skip BEFORE INSERT ON recipes BEGIN SELECT RAISE(IGNORE); END;"
    result = last(tmp_path / "a", BASE, ignore)  # received rows silently skipped: lost
    assert hits(result) == {("constraint-tightened", "recipes", None)}
    assert "can RAISE(IGNORE)" in result.findings[0].message
    step = (
        "CREATE TABLE pantry (item_id TEXT PRIMARY KEY NOT NULL, qty INTEGER);"
        " CREATE TRIGGER qty BEFORE INSERT ON pantry WHEN NEW.qty < 0"
        " BEGIN SELECT RAISE(ABORT, 'no'); END;"
    )
    result = last(tmp_path / "b", BASE, step)
    assert {f.rule for f in result.findings} == {"add-trigger", "add-table"}
    assert result.verdict == "additive"


def test_trigger_that_raised_dropped_or_changed(tmp_path: Path) -> None:
    guard = (
        "CREATE TRIGGER guard BEFORE INSERT ON recipes WHEN NEW.servings < 0"
        " BEGIN SELECT RAISE(ABORT, 'no'); END;"
    )
    dropped = last(tmp_path / "a", BASE + guard, "DROP TRIGGER guard;")
    assert hits(dropped) == {("constraint-loosened", "recipes", None)}
    assert "is gone" in dropped.findings[0].message
    changed = last(
        tmp_path / "b",
        BASE + guard,
        guard.replace("< 0", "< 1").replace("CREATE", "DROP TRIGGER guard; CREATE"),
    )
    assert hits(changed) == {("constraint-tightened", "recipes", None)}
    plain = "CREATE TRIGGER guard AFTER INSERT ON recipes BEGIN SELECT 1; END;"
    relaxed = last(tmp_path / "c", BASE + guard, "DROP TRIGGER guard; " + plain)
    assert hits(relaxed) == {("constraint-loosened", "recipes", None)}
    assert "no longer raises" in relaxed.findings[0].message


def test_two_renames_in_one_step_are_renames(tmp_path: Path) -> None:
    step = (
        "ALTER TABLE recipes RENAME COLUMN title TO name;"
        " ALTER TABLE recipes RENAME COLUMN servings TO portions;"
    )
    result = last(tmp_path, BASE, step)
    assert hits(result) == {
        ("rename-column", "recipes", "name"),
        ("rename-column", "recipes", "portions"),
    }


def test_two_renames_of_same_definition_pair_by_position(tmp_path: Path) -> None:
    setup = BASE + "ALTER TABLE cooks ADD COLUMN bio TEXT;"
    step = (
        "ALTER TABLE cooks RENAME COLUMN name TO full_name;"
        " ALTER TABLE cooks RENAME COLUMN bio TO about;"
    )
    result = last(tmp_path, setup, step)
    assert hits(result) == {
        ("rename-column", "cooks", "full_name"),
        ("rename-column", "cooks", "about"),
    }
    messages = sorted(f.message for f in result.findings)
    assert messages[0].startswith("cooks.bio became cooks.about")
    assert messages[1].startswith("cooks.name became cooks.full_name")


def test_same_definition_columns_moved_are_drop_and_add(tmp_path: Path) -> None:
    setup = BASE + "ALTER TABLE cooks ADD COLUMN bio TEXT;"
    step = (
        "CREATE TABLE cooks_new (cook_id TEXT PRIMARY KEY NOT NULL, about TEXT, full_name TEXT,"
        " extra TEXT); INSERT INTO cooks_new SELECT cook_id, bio, name, NULL FROM cooks;"
        " DROP TABLE cooks; ALTER TABLE cooks_new RENAME TO cooks;"
    )
    result = last(tmp_path, setup, step)
    assert "rename-column" not in {f.rule for f in result.findings}


def test_table_losing_its_single_key_is_not_replicable(tmp_path: Path) -> None:
    step = rebuild(
        SAME_COLUMNS.replace("recipe_id TEXT PRIMARY KEY NOT NULL", "recipe_id TEXT NOT NULL")
        + ", PRIMARY KEY (recipe_id, title)"
    )
    result = last(tmp_path, BASE, step)
    assert {r for r, _, _ in hits(result)} == {"primary-key-change", "not-replicable"}
    assert result.verdict == "breaking"


def test_dropping_the_default_of_a_column_older_clients_lack(tmp_path: Path) -> None:
    results = lint_steps(
        tmp_path,
        BASE,
        "ALTER TABLE recipes ADD COLUMN cuisine TEXT NOT NULL DEFAULT 'any';",
        rebuild(SAME_COLUMNS + ", cuisine TEXT NOT NULL", "*"),
    )
    assert results[1].verdict == "additive"
    assert hits(results[2]) == {
        ("default-changed", "recipes", "cuisine"),
        ("add-not-null-without-default", "recipes", "cuisine"),
    }
    message = next(f.message for f in results[2].findings if f.rule.startswith("add-not"))
    assert message.startswith("v3 clients cannot insert rows created by v1 clients")


# Near misses: changes that look like a rule but are not.


def test_nullable_column_is_not_add_not_null(tmp_path: Path) -> None:
    result = last(tmp_path, BASE, "ALTER TABLE recipes ADD COLUMN author TEXT;")
    assert hits(result) == {("add-column", "recipes", "author")}
    assert result.verdict == "additive"


def test_index_on_renamed_column_is_only_a_column_rename(tmp_path: Path) -> None:
    setup = BASE + "CREATE INDEX idx_recipes_title ON recipes(title);"
    result = last(tmp_path, setup, "ALTER TABLE recipes RENAME COLUMN title TO name;")
    assert hits(result) == {("rename-column", "recipes", "name")}


def test_renamed_column_in_check_and_unique_is_only_a_rename(tmp_path: Path) -> None:
    columns = SAME_COLUMNS.replace("servings INTEGER", "servings INTEGER CHECK (servings > 0)")
    setup = BASE + rebuild(columns + ", UNIQUE (servings, title)")
    result = last(tmp_path, setup, "ALTER TABLE recipes RENAME COLUMN servings TO portions;")
    assert hits(result) == {("rename-column", "recipes", "portions")}


def test_renamed_table_referenced_elsewhere_is_only_a_table_rename(tmp_path: Path) -> None:
    setup = BASE + "CREATE TABLE steps (step_id TEXT PRIMARY KEY, cook_id TEXT REFERENCES cooks);"
    result = last(tmp_path, setup, "ALTER TABLE cooks RENAME TO chefs;")
    assert hits(result) == {("rename-table", "chefs", None)}


def test_replaced_table_with_other_columns_is_drop_and_add(tmp_path: Path) -> None:
    step = "DROP TABLE cooks; CREATE TABLE chefs (chef_id TEXT PRIMARY KEY NOT NULL, name TEXT);"
    result = last(tmp_path, BASE, step)
    assert hits(result) == {("drop-table", "cooks", None), ("add-table", "chefs", None)}


def test_ambiguous_column_swap_is_drop_and_add(tmp_path: Path) -> None:
    step = rebuild(
        "recipe_id TEXT PRIMARY KEY NOT NULL, title TEXT NOT NULL, servings INTEGER,"
        " memo TEXT, summary TEXT, rating INTEGER NOT NULL DEFAULT 0, extra TEXT",
        "recipe_id, title, servings, notes, NULL, rating, NULL",
    )
    result = last(tmp_path, BASE, step)
    rules = {r for r, _, _ in hits(result)}
    assert "rename-column" not in rules
    assert ("drop-column", "recipes", "notes") in hits(result)


def test_defaulted_column_is_additive(tmp_path: Path) -> None:
    step = "ALTER TABLE recipes ADD COLUMN servings_max INTEGER NOT NULL DEFAULT 4;"
    result = last(tmp_path, BASE, step)
    assert result.verdict == "additive"
    assert [f.rule for f in result.findings] == ["add-column"]


def test_check_on_a_new_column_is_part_of_adding_it(tmp_path: Path) -> None:
    step = "ALTER TABLE recipes ADD COLUMN spice INTEGER CHECK (spice BETWEEN 0 AND 3);"
    result = last(tmp_path, BASE, step)
    assert hits(result) == {("add-column", "recipes", "spice")}


def test_index_only_migration_is_safe(tmp_path: Path) -> None:
    step = "CREATE INDEX a ON recipes(title); CREATE INDEX b ON cooks(name) WHERE name IS NOT NULL;"
    result = last(tmp_path, BASE, step)
    assert result.verdict == "safe"
    assert {f.rule for f in result.findings} == {"add-index"}


def test_identical_rebuild_has_no_findings(tmp_path: Path) -> None:
    setup = BASE + "CREATE INDEX idx_recipes_title ON recipes(title);"
    step = rebuild(SAME_COLUMNS) + "CREATE INDEX idx_recipes_title ON recipes(title);"
    result = last(tmp_path, setup, step)
    assert result.findings == []
    assert result.verdict == "safe"


def test_first_migration_adds_tables(tmp_path: Path) -> None:
    result = lint_steps(tmp_path, BASE)[0]
    assert hits(result) == {("add-table", "recipes", None), ("add-table", "cooks", None)}
    assert result.verdict == "additive"
    assert result.description == "step 1"


# Messages, JSON, rendering, determinism, errors.


def test_messages_name_the_clients_and_the_effect(tmp_path: Path) -> None:
    results = lint_steps(
        tmp_path, BASE, "ALTER TABLE recipes ADD COLUMN author TEXT;", rebuild(SAME_COLUMNS)
    )
    dropped = results[2].findings[0]
    assert dropped.rule == "drop-column"
    assert dropped.message.startswith("v2 clients still write recipes.author, which v3 no longer")
    notes = lint_steps(tmp_path / "x", BASE, "ALTER TABLE recipes DROP COLUMN title;")[1]
    assert "v1 clients cannot insert rows created at v2" in notes.findings[0].message


def test_json_shape(tmp_path: Path) -> None:
    results = lint_steps(tmp_path, BASE, "ALTER TABLE recipes DROP COLUMN notes;")
    document = lint_to_json(results)
    assert json.loads(json.dumps(document)) == document
    assert set(document) == {"ok", "lint"}
    assert document["ok"] is False
    entry = document["lint"][1]
    assert set(entry) == {"version", "description", "verdict", "findings"}
    assert (entry["version"], entry["verdict"]) == (2, "breaking")
    assert entry["findings"] == [
        {
            "rule": "drop-column",
            "table": "recipes",
            "column": "notes",
            "message": results[1].findings[0].message,
            "severity": "breaking",
        }
    ]


def test_json_ok_without_breaking(tmp_path: Path) -> None:
    results = lint_steps(tmp_path, BASE, "ALTER TABLE recipes ADD COLUMN x TEXT;")
    assert lint_to_json(results)["ok"] is True
    assert lint_to_json([]) == {"ok": True, "lint": []}


def test_deterministic(tmp_path: Path) -> None:
    one = lint_steps(
        tmp_path / "a",
        BASE,
        "CREATE INDEX b ON cooks(name); CREATE INDEX a ON recipes(title);"
        " ALTER TABLE recipes DROP COLUMN notes; ALTER TABLE cooks ADD COLUMN x TEXT;",
    )
    two = lint_steps(
        tmp_path / "b",
        BASE,
        "ALTER TABLE cooks ADD COLUMN x TEXT; ALTER TABLE recipes DROP COLUMN notes;"
        " CREATE INDEX a ON recipes(title); CREATE INDEX b ON cooks(name);",
    )
    assert one == two
    assert lint_migrations(load_migrations(tmp_path / "a" / "migrations")) == one
    assert [f.severity for f in one[1].findings] == ["breaking", "additive", "safe", "safe"]


def test_render_table_has_a_row_per_finding(tmp_path: Path) -> None:
    results = lint_steps(tmp_path, BASE, "SELECT 1;", "ALTER TABLE recipes DROP COLUMN notes;")
    table = render_lint_table(results)
    assert table.row_count == 2 + 1 + 1
    console = Console(record=True, width=200)
    console.print(table)
    text = console.export_text()
    assert "drop-column" in text and "recipes.notes" in text and "no change" in text


def test_failing_sql_is_a_harness_error(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match=r"002_step\.sql"):
        lint_steps(tmp_path, BASE, "ALTER TABLE nowhere ADD COLUMN x TEXT;")


def test_finding_is_a_plain_dataclass() -> None:
    finding = Finding("add-column", "t", "c", "m", "additive")
    assert MigrationLint(2, "d", "additive", [finding]).findings == [finding]


def test_a_row_key_made_not_null_or_strict_is_not_a_not_null_change(tmp_path: Path) -> None:
    """SQLite reports keys of STRICT and WITHOUT ROWID tables NOT NULL; a row id is never NULL."""
    loose = BASE.replace("recipe_id TEXT PRIMARY KEY NOT NULL", "recipe_id TEXT PRIMARY KEY")
    result = last(tmp_path, loose, rebuild(SAME_COLUMNS + ") WITHOUT ROWID; --"))
    assert not any(f.rule == "not-null-added" for f in result.findings), result.findings
    assert result.verdict != "breaking"


def test_a_rebuild_copy_is_not_a_data_rewrite(tmp_path: Path) -> None:
    result = last(tmp_path, BASE, rebuild(SAME_COLUMNS))
    assert not any(f.rule == "data-rewrite" for f in result.findings)
    assert result.verdict == "safe"


def test_a_rename_that_only_changes_case_is_no_change(tmp_path: Path) -> None:
    """SQLite and the sync engine match names case-insensitively."""
    result = last(tmp_path, BASE, "ALTER TABLE recipes RENAME COLUMN servings TO Servings;")
    assert result.findings == [] and result.verdict == "safe"


def test_a_generated_column_added_is_invisible_to_sync(tmp_path: Path) -> None:
    step = "ALTER TABLE recipes ADD COLUMN half REAL GENERATED ALWAYS AS (rating / 2.0);"
    assert last(tmp_path, BASE, step).verdict == "safe"


def test_a_generated_column_made_stored_is_breaking(tmp_path: Path) -> None:
    generated = SAME_COLUMNS + ", total REAL GENERATED ALWAYS AS (servings * 2) VIRTUAL"
    stored = SAME_COLUMNS + ", total REAL"
    result = last(
        tmp_path,
        BASE + rebuild(generated),
        rebuild(stored, "recipe_id, title, servings, notes, rating, total"),
    )
    assert ("generated-column-changed", "recipes", "total") in hits(result)
    assert result.verdict == "breaking"


def test_a_plain_column_made_generated_says_so(tmp_path: Path) -> None:
    generated = SAME_COLUMNS.replace("notes TEXT", "notes TEXT AS (title || '!') STORED")
    select = "recipe_id, title, servings, rating"
    columns = "recipe_id, title, servings, rating"
    step = rebuild(generated, select).replace(
        "recipes_new SELECT", f"recipes_new ({columns}) SELECT"
    )
    result = last(tmp_path, BASE, step)
    assert hits(result) == {("drop-column", "recipes", "notes")}
    assert result.verdict == "breaking"
    assert result.findings[0].message.startswith(
        "recipes.notes is computed at v2 (a generated column), so v2 clients send no ops on it"
    )


def test_a_unique_column_made_the_key_is_a_key_change_alone(tmp_path: Path) -> None:
    """The key is unique and never NULL: UNIQUE NOT NULL badge becoming the key
    loosens nothing (it said v2 may write NULL or a repeated badge)."""
    v1 = "CREATE TABLE members (id INTEGER PRIMARY KEY, badge TEXT NOT NULL UNIQUE, name TEXT);"
    v2 = (
        "CREATE TABLE m2 (badge TEXT PRIMARY KEY, id INTEGER, name TEXT);"
        " INSERT INTO m2 SELECT badge, id, name FROM members; DROP TABLE members;"
        " ALTER TABLE m2 RENAME TO members;"
    )
    result = last(tmp_path / "to", v1, v2)
    assert {rule for rule, _, _ in hits(result)} == {"primary-key-change"}
    back = last(
        tmp_path / "back",
        v2.replace(" m2 ", " members ").split(";")[0] + ";",
        (
            "CREATE TABLE m2 (id INTEGER PRIMARY KEY, badge TEXT NOT NULL UNIQUE, name TEXT);"
            " INSERT INTO m2 SELECT id, badge, name FROM members; DROP TABLE members;"
            " ALTER TABLE m2 RENAME TO members;"
        ),
    )
    assert {rule for rule, _, _ in hits(back)} == {"primary-key-change"}


def test_a_default_dropped_reads_no_default(tmp_path: Path) -> None:
    result = last(tmp_path, BASE, rebuild(SAME_COLUMNS.replace(" DEFAULT 0", "")))
    assert [f.message.split(":")[0] for f in result.findings] == [
        "recipes.rating default 0 -> no default"
    ]


def test_seed_rows_in_an_existing_table_are_a_data_rewrite(tmp_path: Path) -> None:
    seed = "INSERT INTO cooks (cook_id, name) VALUES ('c1', 'Ann'), ('c2', 'Bo');"
    result = last(tmp_path / "a", BASE, seed)
    assert hits(result) == {("data-rewrite", "cooks", None)}
    assert "(INSERT)" in result.findings[0].message
    new_table = "CREATE TABLE units (unit_id TEXT PRIMARY KEY, label TEXT);"
    seeded = last(tmp_path / "b", BASE, new_table + "INSERT INTO units VALUES ('kg', 'Kilogram');")
    assert {f.rule for f in seeded.findings} == {"add-table"}  # every v2 replica gets the same
    copy_back = (  # a rebuild that copies back into the old name: not a rewrite
        "ALTER TABLE cooks RENAME TO cooks_old;"
        " CREATE TABLE cooks (cook_id TEXT PRIMARY KEY NOT NULL, name TEXT);"
        " INSERT INTO cooks SELECT cook_id, name FROM cooks_old; DROP TABLE cooks_old;"
    )
    assert last(tmp_path / "c", BASE, copy_back).findings == []


def test_columns_swapping_names_are_a_rename(tmp_path: Path) -> None:
    table = "CREATE TABLE ships (ship_id TEXT PRIMARY KEY, sent TEXT, came TEXT);"
    swap = (
        "ALTER TABLE ships RENAME COLUMN sent TO tmp;"
        ' ALTER TABLE "ships" RENAME "came" TO sent;'
        " ALTER TABLE ships RENAME COLUMN tmp TO came;"
    )
    result = last(tmp_path / "a", BASE + table, swap)
    assert result.verdict == "breaking"
    assert [f.rule for f in result.findings] == ["rename-column"]
    assert "came -> sent, sent -> came" in result.findings[0].message
    there_and_back = "ALTER TABLE ships RENAME sent TO tmp; ALTER TABLE ships RENAME tmp TO sent;"
    assert last(tmp_path / "b", BASE + table, there_and_back).findings == []


def test_names_changed_only_in_case_are_the_same_names(tmp_path: Path) -> None:
    recase = (
        "ALTER TABLE recipes RENAME COLUMN notes TO Notes;"
        " ALTER TABLE recipes RENAME TO tmp_recipes; ALTER TABLE tmp_recipes RENAME TO Recipes;"
    )
    result = last(tmp_path, BASE, recase)
    assert result.verdict == "safe", result.findings


def test_tables_the_oplog_cannot_replicate_are_reported_and_their_changes_are_local(
    tmp_path: Path,
) -> None:
    odd = (
        'CREATE TABLE "Order Lines" ("Line ID" TEXT PRIMARY KEY, qty REAL);'
        " CREATE TABLE handles (handle TEXT PRIMARY KEY COLLATE NOCASE, bio TEXT);"
    )
    first, second = lint_steps(tmp_path, BASE + odd, 'ALTER TABLE "Order Lines" ADD COLUMN x TEXT;')
    reasons = {f.table: f.message for f in first.findings if f.rule == "not-replicable"}
    assert "not a plain identifier" in reasons["Order Lines"]
    assert "COLLATE NOCASE" in reasons["handles"]
    assert second.findings == [] and second.verdict == "safe"


def test_a_full_text_index_is_local(tmp_path: Path) -> None:
    fts = (
        "CREATE VIRTUAL TABLE recipes_fts USING fts5(title, content='recipes',"
        " content_rowid='rowid');"
        " CREATE TRIGGER recipes_ai AFTER INSERT ON recipes BEGIN"
        " INSERT INTO recipes_fts(rowid, title) VALUES (new.rowid, new.title); END;"
    )
    result = last(tmp_path, BASE, fts)
    assert result.verdict == "safe"
    assert {f.rule for f in result.findings} == {"add-virtual", "add-trigger"}


def test_second_review_edges(tmp_path: Path) -> None:
    """Found by a review with unseen histories: each once gave the wrong verdict."""
    cases = {
        # RAISE(IGNORE) silently drops the rows older clients write
        "CREATE TRIGGER t BEFORE INSERT ON recipes WHEN NEW.servings < 0"
        " BEGIN SELECT RAISE(IGNORE); END;": "breaking",
        # seeds written as a CTE, with a subquery, or with a schema-qualified name
        "WITH s(id, n) AS (VALUES ('c9', 'Ann'))"
        " INSERT INTO cooks SELECT id, n FROM s;": "breaking",
        "INSERT INTO cooks VALUES ('c9', (SELECT name FROM cooks LIMIT 1));": "breaking",
        "INSERT INTO main.cooks (cook_id, name) VALUES ('c9', 'Ann');": "breaking",
        # tables swapping names through a temporary one
        "ALTER TABLE cooks RENAME TO tmp; ALTER TABLE recipes RENAME TO cooks;"
        " ALTER TABLE tmp RENAME TO recipes;": "breaking",
        # words inside string literals are not SQL
        "CREATE TABLE log (msg TEXT); CREATE TRIGGER t AFTER UPDATE ON recipes BEGIN"
        " INSERT INTO log VALUES ('UPDATE cooks by hand; DELETE FROM recipes'); END;": "additive",
        "CREATE TABLE r2 (recipe_id TEXT PRIMARY KEY NOT NULL, title TEXT NOT NULL,"
        " servings INTEGER, notes TEXT, rating INTEGER NOT NULL DEFAULT 0,"
        " urgency TEXT NOT NULL DEFAULT 'now', mood TEXT DEFAULT 'random');"
        " INSERT INTO r2 (recipe_id, title, servings, notes, rating)"
        " SELECT recipe_id, title, servings, notes, rating FROM recipes;"
        " DROP TABLE recipes; ALTER TABLE r2 RENAME TO recipes;": "additive",
        # ... but one on an expression of the key is tighter than the key
        "CREATE UNIQUE INDEX ux ON cooks (lower(cook_id));": "breaking",
        # a column renamed away and added again under its name: values moved
        "ALTER TABLE cooks RENAME COLUMN name TO full_name;"
        " ALTER TABLE cooks ADD COLUMN name TEXT;": "breaking",
        "ALTER TABLE main.cooks RENAME COLUMN name TO tmp; ALTER TABLE main.cooks"
        " RENAME COLUMN cook_id TO name; ALTER TABLE main.cooks RENAME tmp TO cook_id;": "breaking",
        # the usual seed idioms, and a schema name in quotes
        "INSERT INTO cooks SELECT 'c9', 'Ann' WHERE NOT EXISTS (SELECT 1 FROM cooks);": "breaking",
        "INSERT INTO cooks SELECT recipe_id, title FROM recipes;": "breaking",
        "INSERT INTO cooks SELECT value, value FROM json_each('[\"a\"]');": "breaking",
        'UPDATE "main"."cooks" SET name = NULL;': "breaking",
        # a UNIQUE on a column no older client writes cannot refuse their rows
        "ALTER TABLE cooks ADD COLUMN slug TEXT; CREATE UNIQUE INDEX us ON cooks (slug);": (
            "additive"
        ),
    }
    for number, (step, verdict) in enumerate(cases.items()):
        result = last(tmp_path / str(number), BASE, step)
        assert result.verdict == verdict, (step, result.findings)


def test_a_key_compared_under_nocase_in_a_table_constraint_is_not_replicable(
    tmp_path: Path,
) -> None:
    for number, declared in enumerate(["", " COLLATE BINARY"]):  # the key's own wins
        step = (
            f"CREATE TABLE guilds (tag TEXT{declared} NOT NULL, name TEXT,"
            " PRIMARY KEY (tag COLLATE NOCASE));"
        )
        result = last(tmp_path / str(number), BASE, step)
        assert {f.rule for f in result.findings} == {"not-replicable"}
        assert "COLLATE NOCASE" in result.findings[0].message


def test_a_check_dropped_with_its_column_is_only_the_drop(tmp_path: Path) -> None:
    setup = (
        "CREATE TABLE bills (id TEXT PRIMARY KEY, amount INTEGER CHECK (amount >= 0), memo TEXT);"
    )
    result = last(tmp_path, setup, "ALTER TABLE bills DROP COLUMN amount;")
    assert {rule for rule, _, _ in hits(result)} == {"drop-column"}


def test_a_rebuild_filling_with_a_constant_is_a_rewrite_and_copies_are_not(tmp_path: Path) -> None:
    same = rebuild(SAME_COLUMNS)
    assert "data-rewrite" not in {r for r, _, _ in hits(last(tmp_path / "a", BASE, same))}
    filled = rebuild(SAME_COLUMNS, "recipe_id, title, servings, 'n/a', rating")
    assert ("data-rewrite", "recipes", None) in hits(last(tmp_path / "b", BASE, filled))
    cast = rebuild(SAME_COLUMNS, "recipe_id, title, CAST(servings AS INTEGER), notes, rating")
    assert "data-rewrite" not in {r for r, _, _ in hits(last(tmp_path / "c", BASE, cast))}
    reset = rebuild(SAME_COLUMNS, "recipe_id, title, servings, notes, 0")  # ratings lost
    assert ("data-rewrite", "recipes", None) in hits(last(tmp_path / "d", BASE, reset))


def test_rows_derived_into_a_new_table_are_a_rewrite(tmp_path: Path) -> None:
    split = """CREATE TABLE titles (id TEXT PRIMARY KEY, title TEXT);
    INSERT INTO titles (id, title) SELECT recipe_id, upper(title) FROM recipes;"""
    assert ("data-rewrite", "titles", None) in hits(last(tmp_path / "a", BASE, split))
    seeded = """CREATE TABLE units (id TEXT PRIMARY KEY, name TEXT);
    INSERT INTO units VALUES ('g', 'gram'), ('kg', 'kilogram');"""
    assert "data-rewrite" not in {r for r, _, _ in hits(last(tmp_path / "b", BASE, seeded))}
    # Through a view (made for the migration or kept), the rows still come from recipes.
    through_view = """CREATE VIEW recipe_titles AS SELECT recipe_id, title FROM recipes;
    CREATE TABLE titles (id TEXT PRIMARY KEY, title TEXT);
    INSERT INTO titles (id, title) SELECT recipe_id, title FROM recipe_titles;
    DROP VIEW recipe_titles;"""
    assert ("data-rewrite", "titles", None) in hits(last(tmp_path / "c", BASE, through_view))


def test_a_default_changed_while_older_clients_lack_the_column(tmp_path: Path) -> None:
    steps = (
        BASE,
        "ALTER TABLE recipes ADD COLUMN cuisine TEXT DEFAULT 'any';",
        rebuild(SAME_COLUMNS + ", cuisine TEXT DEFAULT 'french'", "*"),
    )
    result = last(tmp_path, *steps)
    assert ("data-rewrite", "recipes", "cuisine") in hits(result)
    assert result.verdict == "breaking"


# --- one thing spelled two ways is not a change ------------------------------------------


@pytest.mark.parametrize(
    ("was", "now"),
    [
        ("CHECK (notes IN ('a', 'b'))", "check (notes in ('a','b'))"),
        ("CHECK (notes IN ('a', 'b'))", "CHECK (\"notes\" IN ('a', 'b'))"),
        ("CHECK (servings <> 0)", "CHECK ((servings != 0))"),
        ("CHECK (length(title) > 0)", "CHECK (LENGTH([title]) > 0)"),
    ],
)
def test_a_check_spelled_again_is_no_change(tmp_path: Path, was: str, now: str) -> None:
    """A rebuild makes teams type constraints again; only what they accept counts."""
    first = SAME_COLUMNS + f", {was}"
    result = last(tmp_path, BASE + rebuild(first), rebuild(SAME_COLUMNS + f", {now}"))
    assert result.verdict == "safe", result.findings


def test_a_check_whose_literal_changes_case_is_a_change(tmp_path: Path) -> None:
    first = SAME_COLUMNS + ", CHECK (notes IN ('a', 'b'))"
    result = last(
        tmp_path, BASE + rebuild(first), rebuild(SAME_COLUMNS + ", CHECK (notes IN ('A', 'b'))")
    )
    assert result.verdict == "breaking"


def test_a_raising_trigger_spelled_again_is_no_change(tmp_path: Path) -> None:
    trigger = (
        "CREATE TRIGGER servings_positive BEFORE INSERT ON recipes WHEN {new}.servings < 0"
        " BEGIN {select} RAISE(ABORT, 'servings must not be negative'); END;"
    )
    setup = BASE + trigger.format(new="NEW", select="SELECT")
    again = "DROP TRIGGER servings_positive;" + trigger.format(new="new", select="select")
    assert last(tmp_path, setup, again).verdict == "safe"


@pytest.mark.parametrize(
    ("was", "now"),
    [
        (
            "CREATE UNIQUE INDEX ux ON recipes(notes) WHERE notes IS NOT NULL;",
            'CREATE UNIQUE INDEX ux ON recipes("notes") WHERE "notes" is not null;',
        ),
        (
            "CREATE UNIQUE INDEX ux ON recipes(title, notes);",
            "CREATE UNIQUE INDEX ux2 ON recipes(notes, title);",
        ),
    ],
)
def test_a_unique_index_made_again_the_same_is_no_change(
    tmp_path: Path, was: str, now: str
) -> None:
    result = last(tmp_path, BASE + was, "DROP INDEX ux;" + now)
    assert result.verdict == "safe", result.findings


@pytest.mark.parametrize(
    ("was", "now"),
    [
        ("cuisine INTEGER DEFAULT FALSE", "cuisine INTEGER DEFAULT 0"),
        ("cuisine TEXT", "cuisine TEXT DEFAULT NULL"),
        ("cuisine REAL DEFAULT 1", "cuisine REAL DEFAULT 1.0"),
        ("cuisine INTEGER DEFAULT 1", "cuisine INTEGER DEFAULT +1"),
    ],
)
def test_a_default_spelled_again_is_no_change(tmp_path: Path, was: str, now: str) -> None:
    """v1 lacks the column, so a changed default would be a data-rewrite; an equal one is not."""
    added = f"ALTER TABLE recipes ADD COLUMN {was};"
    select = "recipe_id, title, servings, notes, rating, cuisine"
    result = last(tmp_path, BASE, added, rebuild(f"{SAME_COLUMNS}, {now}", select))
    assert result.verdict == "safe", result.findings


def test_a_changed_default_while_older_clients_lack_the_column_is_still_caught(
    tmp_path: Path,
) -> None:
    select = "recipe_id, title, servings, notes, rating, cuisine"
    added = "ALTER TABLE recipes ADD COLUMN cuisine INTEGER DEFAULT 0;"
    result = last(
        tmp_path, BASE, added, rebuild(f"{SAME_COLUMNS}, cuisine INTEGER DEFAULT 1", select)
    )
    assert ("data-rewrite", "recipes", "cuisine") in hits(result)


def test_an_instead_of_trigger_on_a_view_is_local(tmp_path: Path) -> None:
    """Sync writes tables, never views: the trigger only serves the app's own SQL."""
    step = (
        "CREATE VIEW recipe_titles AS SELECT recipe_id, title FROM recipes;"
        "CREATE TRIGGER retitle INSTEAD OF UPDATE ON recipe_titles BEGIN"
        " UPDATE recipes SET title = NEW.title WHERE recipe_id = OLD.recipe_id; END;"
    )
    result = last(tmp_path, BASE, step)
    assert result.verdict == "safe", result.findings
    assert ("add-trigger", "recipe_titles", None) in hits(result)


@pytest.mark.parametrize("term", ["json_extract(notes, '$.by')", "notes ->> '$.by'"])
def test_an_index_reading_an_old_text_column_as_json_is_breaking(tmp_path: Path, term: str) -> None:
    """v1 clients may write any text in notes; v2's index fails on text that is not JSON."""
    step = f"CREATE INDEX by_author ON recipes ({term});"
    result = last(tmp_path, BASE, step)
    assert hits(result) == {("constraint-tightened", "recipes", "notes")}
    assert "reads notes as JSON" in result.findings[0].message


@pytest.mark.parametrize(
    "setup",
    [
        BASE.replace("notes     TEXT", "notes     JSON"),
        BASE.replace("notes     TEXT", "notes     TEXT CHECK (json_valid(notes))"),
    ],
)
def test_an_index_reading_a_json_column_as_json_is_safe(tmp_path: Path, setup: str) -> None:
    step = "CREATE INDEX by_author ON recipes (json_extract(notes, '$.by'));"
    result = last(tmp_path, setup, step)
    assert result.verdict == "safe", result.findings


@pytest.mark.parametrize(("was", "now"), [("BOOLEAN", "INTEGER"), ("INTEGER", "BOOL")])
def test_boolean_declared_as_integer_is_a_renamed_type(tmp_path: Path, was: str, now: str) -> None:
    """ORMs declare a boolean either way; clients write 0 and 1, stored alike."""
    added = f"ALTER TABLE recipes ADD COLUMN done {was} NOT NULL DEFAULT 0;"
    select = "recipe_id, title, servings, notes, rating, done"
    again = rebuild(f"{SAME_COLUMNS}, done {now} NOT NULL DEFAULT 0", select)
    result = last(tmp_path, BASE, added, again)
    assert hits(result) == {("type-renamed", "recipes", "done")}
    assert result.verdict == "safe"


def test_boolean_made_text_is_still_a_type_change(tmp_path: Path) -> None:
    added = "ALTER TABLE recipes ADD COLUMN done BOOLEAN;"
    select = "recipe_id, title, servings, notes, rating, done"
    result = last(tmp_path, BASE, added, rebuild(f"{SAME_COLUMNS}, done TEXT", select))
    assert hits(result) == {("type-change", "recipes", "done")}


def test_a_column_the_oplog_cannot_name_stops_a_table_replicating(tmp_path: Path) -> None:
    """Ops carry plain names only: a column "1rm_kg" takes its whole table out of sync."""
    result = last(tmp_path, BASE, 'ALTER TABLE recipes ADD COLUMN "1rm_kg" REAL;')
    assert ("replication-stopped", "recipes", None) in hits(result)
    assert result.verdict == "breaking"
    found = next(f for f in result.findings if f.rule == "replication-stopped")
    assert found.message.startswith("recipes is no longer replicated at v2")


def test_the_column_added_with_a_name_sync_cannot_carry_is_not_said_to_park(
    tmp_path: Path,
) -> None:
    """Its add-column finding said v1 clients "park ops until they upgrade" beside the
    replication-stopped one: nothing on the table syncs any more (review BJ F5)."""
    result = last(tmp_path, BASE, 'ALTER TABLE recipes ADD COLUMN "1rm_kg" REAL;')
    added = next(f for f in result.findings if f.rule == "add-column")
    assert added.message.startswith(
        "recipes.1rm_kg added, but from v2 on recipes is not replicated (has a column"
    )
    assert "see replication-stopped" in added.message and "park" not in added.message


def test_a_keyless_table_given_a_key_says_what_the_locally_numbered_rows_do(
    tmp_path: Path,
) -> None:
    """v1 sends no ops on a keyless table, so "their ops address different rows" was not
    the mechanism: rows numbered 1, 2, ... on each client collide (review BJ F4)."""
    log = "CREATE TABLE radio_log (callsign TEXT NOT NULL, note TEXT);"
    keyed = (
        "CREATE TABLE radio_log_new (id INTEGER PRIMARY KEY, callsign TEXT NOT NULL, note TEXT);"
        " INSERT INTO radio_log_new (callsign, note) SELECT callsign, note FROM radio_log;"
        " DROP TABLE radio_log; ALTER TABLE radio_log_new RENAME TO radio_log;"
    )
    result = last(tmp_path, log, keyed)
    assert result.verdict == "breaking"
    found = next(f for f in result.findings if f.rule == "primary-key-change")
    assert found.message.startswith(
        "radio_log primary key () -> (id): radio_log is replicated from v2 on, and was not"
        " (has no single-column primary key)"
    )
    assert "an edit of one client's row lands on another's" in found.message


def test_strict_on_a_table_with_an_any_column_is_a_type_change(tmp_path: Path) -> None:
    """ANY is NUMERIC outside STRICT ('0012' becomes 12) and no affinity inside it."""
    plain = "CREATE TABLE readings (id TEXT PRIMARY KEY NOT NULL, value ANY);"
    strict = """
CREATE TABLE readings_new (id TEXT PRIMARY KEY NOT NULL, value ANY) STRICT;
INSERT INTO readings_new (id, value) SELECT id, value FROM readings;
DROP TABLE readings;
ALTER TABLE readings_new RENAME TO readings;
"""
    result = last(tmp_path, plain, strict)
    assert ("type-change", "readings", "value") in hits(result)
    assert result.verdict == "breaking"


@pytest.mark.parametrize(
    ("source", "said"),
    [
        (
            "(SELECT recipe_id, CASE title WHEN 'x' THEN 'y' ELSE title END AS title,"
            " servings, notes, rating FROM recipes)",
            "a subquery or join",
        ),
        ("recipes LEFT JOIN cooks ON cooks.cook_id = recipes.notes", "a subquery or join"),
        ("recipe_copy", "the view recipe_copy"),
        ("recipes GROUP BY title", "rows merged by GROUP BY"),
    ],
)
def test_a_rebuild_copying_through_anything_but_the_old_table_is_a_rewrite(
    tmp_path: Path, source: str, said: str
) -> None:
    """Plain column names in the SELECT prove nothing when the rows come from elsewhere."""
    step = rebuild(SAME_COLUMNS).replace("FROM recipes;", f"FROM {source};")
    view = "CREATE VIEW recipe_copy AS SELECT * FROM recipes;"
    step = view + step.replace("DROP TABLE recipes;", "DROP VIEW recipe_copy; DROP TABLE recipes;")
    result = last(tmp_path, BASE, step)
    assert ("data-rewrite", "recipes", None) in hits(result)
    assert f"a rebuild copy that reads {said}, not the old table alone" in " ".join(
        f.message for f in result.findings
    )


def test_a_rebuild_copying_from_the_renamed_old_table_is_a_copy(tmp_path: Path) -> None:
    step = f"""
ALTER TABLE recipes RENAME TO recipes_old;
CREATE TABLE recipes ({SAME_COLUMNS});
INSERT INTO recipes (recipe_id, title, servings, notes, rating)
    SELECT recipe_id, title, servings, notes, rating FROM recipes_old AS o;
DROP TABLE recipes_old;
"""
    assert last(tmp_path, BASE, step).verdict == "safe"


def test_a_trigger_made_and_dropped_by_the_migration_is_a_rewrite(tmp_path: Path) -> None:
    """It fires while the migration runs and is in neither schema: only the text shows it."""
    step = """CREATE TABLE fixes (wrong TEXT, right TEXT);
    CREATE TRIGGER apply_fix AFTER INSERT ON fixes BEGIN
        UPDATE recipes SET title = NEW.right WHERE title = NEW.wrong;
    END;
    INSERT INTO fixes VALUES ('Soup', 'Broth');
    DROP TRIGGER apply_fix;
    DROP TABLE fixes;"""
    result = last(tmp_path, BASE, step)
    assert ("data-rewrite", "recipes", None) in hits(result)
    assert "a trigger the migration makes and drops" in result.findings[0].message


@pytest.mark.parametrize(
    ("guard", "said"),
    [
        (
            "CREATE UNIQUE INDEX one_favourite ON recipes(rating) WHERE notes = 'favourite';",
            "the condition of UNIQUE index one_favourite compares with it",
        ),
        (
            "CREATE TRIGGER locked BEFORE UPDATE ON recipes WHEN OLD.notes = 'locked'"
            " BEGIN SELECT RAISE(ABORT, 'locked'); END;",
            "trigger locked (it can RAISE) compares with it",
        ),
    ],
)
def test_a_collation_change_under_a_partial_unique_or_a_raise_is_breaking(
    tmp_path: Path, guard: str, said: str
) -> None:
    """'Favourite' and 'favourite' are one value to the new side only."""
    nocase = SAME_COLUMNS.replace("notes TEXT", "notes TEXT COLLATE NOCASE")
    result = last(tmp_path, BASE + guard, rebuild(nocase) + guard)
    assert ("constraint-tightened", "recipes", "notes") in hits(result)
    assert said in " ".join(f.message for f in result.findings)


# --- rewrites spelled the way a second review found them --------------------------------

COPY_BACK = """
CREATE TABLE recipes ({columns});
INSERT INTO recipes (recipe_id, title, servings, notes, rating)
    SELECT recipe_id, title, servings, notes, rating FROM {source};
DROP TABLE {source};
"""


@pytest.mark.parametrize(
    ("step", "said"),
    [
        (
            "ALTER TABLE recipes RENAME TO recipes_old;"
            "UPDATE recipes_old SET title = 'Broth' WHERE title = 'Soup';"
            + COPY_BACK.format(columns=SAME_COLUMNS, source="recipes_old"),
            "UPDATE of its rows in recipes_old",
        ),
        (
            "CREATE TEMP TABLE scratch AS SELECT * FROM recipes;"
            "UPDATE scratch SET title = 'Broth' WHERE title = 'Soup'; DROP TABLE recipes;"
            + COPY_BACK.format(columns=SAME_COLUMNS, source="scratch"),
            "UPDATE of its rows in scratch",
        ),
        (
            rebuild(SAME_COLUMNS)
            .replace("INSERT INTO recipes_new SELECT", "REPLACE INTO recipes_new SELECT")
            .replace("SELECT recipe_id, title,", "SELECT recipe_id, upper(title),"),
            "fills title with something other than the old value",
        ),
        (
            rebuild(SAME_COLUMNS).replace(
                "INSERT INTO recipes_new SELECT recipe_id, title, servings, notes, rating"
                " FROM recipes",
                "WITH fixed AS (SELECT recipe_id, upper(title) AS title, servings, notes, rating"
                " FROM recipes) INSERT INTO recipes_new SELECT * FROM fixed",
            ),
            "a rebuild copy that reads a WITH query",
        ),
        (
            rebuild(SAME_COLUMNS).replace(
                "FROM recipes;", "FROM recipes ORDER BY rating LIMIT 100;"
            ),
            "leaves rows out (WHERE, LIMIT)",
        ),
        (
            "CREATE VIEW renamer AS SELECT recipe_id, title FROM recipes;"
            "CREATE TRIGGER rename_it INSTEAD OF UPDATE ON renamer BEGIN"
            " UPDATE recipes SET title = NEW.title WHERE recipe_id = OLD.recipe_id; END;"
            "UPDATE renamer SET title = 'Broth' WHERE title = 'Soup';",
            "UPDATE through the view renamer",
        ),
        (
            rebuild(SAME_COLUMNS)
            .replace(
                "DROP TABLE recipes;",
                "DROP TABLE recipes;",
            )
            .replace(
                "CREATE TABLE recipes_new (" + SAME_COLUMNS + ");",
                "CREATE TABLE recipes_new (" + SAME_COLUMNS + ");"
                "CREATE TRIGGER tidy AFTER INSERT ON recipes_new BEGIN"
                " UPDATE recipes_new SET title = trim(NEW.title) WHERE recipe_id = NEW.recipe_id;"
                " END;",
            )
            .replace("DROP TABLE recipes;", "DROP TRIGGER tidy; DROP TABLE recipes;"),
            "a trigger the migration makes and drops",
        ),
    ],
)
def test_a_rewrite_however_spelled_is_caught(tmp_path: Path, step: str, said: str) -> None:
    result = last(tmp_path, BASE, step)
    assert result.verdict == "breaking", result.findings
    assert said in " ".join(f.message for f in result.findings)


def test_a_trigger_name_used_again_does_not_hide_the_first(tmp_path: Path) -> None:
    step = """CREATE TABLE fixes (wrong TEXT, right TEXT);
    CREATE TRIGGER watch AFTER INSERT ON fixes BEGIN
        UPDATE recipes SET title = NEW.right WHERE title = NEW.wrong; END;
    INSERT INTO fixes VALUES ('Soup', 'Broth');
    DROP TRIGGER watch; DROP TABLE fixes;
    CREATE TRIGGER watch AFTER INSERT ON cooks BEGIN SELECT 1; END;"""
    assert ("data-rewrite", "recipes", None) in hits(last(tmp_path, BASE, step))


def test_rows_derived_from_a_local_table_are_a_rewrite(tmp_path: Path) -> None:
    """Each device fills the new replicated table from its own local rows."""
    local = BASE + "CREATE TABLE device_prefs (key TEXT, value TEXT);"
    step = """CREATE TABLE prefs (key TEXT PRIMARY KEY, value TEXT);
    INSERT INTO prefs SELECT key, value FROM device_prefs;"""
    assert ("data-rewrite", "prefs", None) in hits(last(tmp_path, local, step))


@pytest.mark.parametrize(
    "default",
    [
        "strftime('%s')",  # a format alone reads the clock
        "julianday('2000-01-01', 'localtime') - julianday('2000-01-01')",  # the time zone
        "datetime('2000-01-01 12:00', 'utc')",
    ],
)
def test_a_default_reading_the_clock_or_time_zone_is_nondeterministic(
    tmp_path: Path, default: str
) -> None:
    columns = SAME_COLUMNS + f", added_at INTEGER NOT NULL DEFAULT ({default})"
    step = "ALTER TABLE recipes RENAME TO recipes_old;" + COPY_BACK.format(
        columns=columns, source="recipes_old"
    )
    result = last(tmp_path, BASE, step)
    assert ("nondeterministic-default", "recipes", "added_at") in hits(result)


def test_a_trigger_writing_through_a_view_writes_the_table(tmp_path: Path) -> None:
    step = """CREATE VIEW counts AS SELECT cook_id, name FROM cooks;
    CREATE TRIGGER counts_set INSTEAD OF UPDATE ON counts BEGIN
        UPDATE cooks SET name = NEW.name WHERE cook_id = NEW.cook_id; END;
    CREATE TRIGGER on_recipe AFTER INSERT ON recipes BEGIN
        UPDATE counts SET name = NEW.title WHERE cook_id = NEW.notes; END;"""
    result = last(tmp_path, BASE, step)
    assert ("trigger-writes-replicated", "recipes", None) in hits(result)
    assert ("add-trigger", "counts", None) in hits(result)  # the view's own: local


# --- what ORMs emit, safe as written (a third review) ------------------------------------


def test_quoted_names_that_are_keywords_are_names(tmp_path: Path) -> None:
    """Prisma's "Order" model and Drizzle's "limit" column, rebuilt as they emit it."""
    first = 'CREATE TABLE "Order" ("id" TEXT NOT NULL PRIMARY KEY, "limit" INTEGER);'
    step = """CREATE TABLE "new_Order" ("id" TEXT NOT NULL PRIMARY KEY, "limit" INTEGER,
        "note" TEXT);
    INSERT INTO "new_Order" ("id", "limit") SELECT "id", "limit" FROM "Order";
    DROP TABLE "Order";
    ALTER TABLE "new_Order" RENAME TO "Order";"""
    result = last(tmp_path, first, step)
    assert result.verdict == "additive", result.findings


def test_a_trigger_spelled_with_for_each_row_or_a_parenthesised_when_is_no_change(
    tmp_path: Path,
) -> None:
    plain = (
        "CREATE TRIGGER keep_title BEFORE UPDATE OF title ON recipes WHEN NEW.title IS NULL"
        " BEGIN SELECT RAISE(ABORT, 'title'); END;"
    )
    again = (
        'CREATE TRIGGER "keep_title" BEFORE UPDATE OF "title" ON "recipes" FOR EACH ROW'
        " WHEN (NEW.\"title\" IS NULL) BEGIN SELECT RAISE(ABORT, 'title'); END;"
    )
    result = last(tmp_path, BASE + plain, "DROP TRIGGER keep_title;" + again)
    assert result.verdict == "safe", result.findings


@pytest.mark.parametrize(
    "setup",
    [BASE, BASE + "CREATE UNIQUE INDEX by_title ON recipes(title);"],
)
def test_a_unique_over_a_key_or_an_older_unique_is_implied(tmp_path: Path, setup: str) -> None:
    """(recipe_id, notes) holds wherever the key does, (title, notes) wherever
    UNIQUE(title) does."""
    covered = "recipe_id, notes" if setup == BASE else "title, notes"
    result = last(tmp_path, setup, f"CREATE UNIQUE INDEX pair ON recipes({covered});")
    assert result.verdict == "safe", result.findings


def test_a_check_over_new_columns_only_binds_no_older_client(tmp_path: Path) -> None:
    step = """ALTER TABLE recipes ADD COLUMN due TEXT;
    ALTER TABLE recipes ADD COLUMN done_at TEXT;"""
    select = "recipe_id, title, servings, notes, rating, due, done_at"
    new_only = SAME_COLUMNS + ", due TEXT, done_at TEXT, CHECK (due IS NULL OR due <= done_at)"
    with_old = SAME_COLUMNS + ", due TEXT, done_at TEXT, CHECK (due IS NULL OR due <= notes)"
    checked = last(tmp_path / "a", BASE, step + rebuild(new_only, select))
    assert checked.verdict == "additive", checked.findings
    binding = last(tmp_path / "b", BASE, step + rebuild(with_old, select))
    assert ("constraint-tightened", "recipes", None) in hits(binding)


def test_a_new_column_filled_with_its_default_spelled_otherwise_is_a_copy(tmp_path: Path) -> None:
    select = "recipe_id, title, servings, notes, rating, FALSE"
    result = last(tmp_path, BASE, rebuild(SAME_COLUMNS + ", archived INTEGER DEFAULT 0", select))
    assert "data-rewrite" not in {rule for rule, _, _ in hits(result)}


def test_a_generated_column_nothing_compares_computed_another_way_is_safe(
    tmp_path: Path,
) -> None:
    def cooks(name: str, expression: str) -> str:
        return (
            f"CREATE TABLE {name} (id TEXT PRIMARY KEY, name TEXT, shout TEXT AS ({expression}));"
        )

    again = (
        cooks("cooks_new", "upper(trim(name))")
        + "INSERT INTO cooks_new (id, name) SELECT id, name FROM cooks;"
        + "DROP TABLE cooks; ALTER TABLE cooks_new RENAME TO cooks;"
    )
    result = last(tmp_path, cooks("cooks", "upper(name)"), again)
    assert hits(result) == {("change-generated", "cooks", "shout")}
    assert result.verdict == "safe"


def test_a_generated_column_a_unique_compares_computed_another_way_is_breaking(
    tmp_path: Path,
) -> None:
    """v1 holds 'AB-1' and 'AB 1' apart; v2's key drops the dash and space: one plate."""

    def permits(name: str, expression: str) -> str:
        return (
            f"CREATE TABLE {name} (id TEXT PRIMARY KEY, plate TEXT NOT NULL,"
            f" plate_key TEXT AS ({expression}));"
        )

    unique = "CREATE UNIQUE INDEX one_per_plate ON permits (plate_key);"
    again = (
        permits("permits_new", "upper(replace(replace(plate, ' ', ''), '-', ''))")
        + "INSERT INTO permits_new (id, plate) SELECT id, plate FROM permits;"
        + "DROP TABLE permits; ALTER TABLE permits_new RENAME TO permits;"
        + unique
    )
    result = last(tmp_path, permits("permits", "upper(plate)") + unique, again)
    assert ("constraint-tightened", "permits", "plate_key") in hits(result)
    assert "UNIQUE (plate_key) compares it" in " ".join(f.message for f in result.findings)


# --- the new rules' own false alarms (a fifth review) ------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "recipes NOT INDEXED",
        "recipes GROUP BY recipe_id",
    ],
)
def test_a_copy_from_the_old_table_alone_however_written_is_a_copy(
    tmp_path: Path, source: str
) -> None:
    step = rebuild(SAME_COLUMNS).replace("FROM recipes;", f"FROM {source};")
    assert last(tmp_path, BASE, step).verdict == "safe"


def test_distinct_with_the_key_and_an_unused_with_are_copies(tmp_path: Path) -> None:
    distinct = rebuild(SAME_COLUMNS).replace("SELECT recipe_id", "SELECT DISTINCT recipe_id")
    assert last(tmp_path / "a", BASE, distinct).verdict == "safe"
    unused = rebuild(SAME_COLUMNS).replace(
        "INSERT INTO recipes_new", "WITH unused(x) AS (VALUES (1)) INSERT INTO recipes_new"
    )
    assert last(tmp_path / "b", BASE, unused).verdict == "safe"


def test_a_column_named_only_in_a_string_is_not_compared(tmp_path: Path) -> None:
    """A partial UNIQUE's WHERE and a CHECK that say 'notes' as a value, not the column."""
    guard = (
        "CREATE UNIQUE INDEX one_kind ON recipes(title) WHERE servings = 'notes';"
        "CREATE TRIGGER no_empty BEFORE INSERT ON recipes WHEN NEW.title = ''"
        " BEGIN SELECT RAISE(ABORT, 'notes need a title'); END;"
    )
    nocase = SAME_COLUMNS.replace("notes TEXT", "notes TEXT COLLATE NOCASE")
    result = last(tmp_path, BASE + guard, rebuild(nocase) + guard)
    assert hits(result) == {("collation-changed", "recipes", "notes")}


def test_a_key_renamed_only_in_case_is_no_key_change(tmp_path: Path) -> None:
    result = last(tmp_path, BASE, "ALTER TABLE cooks RENAME COLUMN cook_id TO Cook_Id;")
    assert "primary-key-change" not in {rule for rule, _, _ in hits(result)}
    assert result.verdict == "safe"


@pytest.mark.parametrize(
    ("declared", "item", "breaking"),
    [
        ("servings INTEGER", "CAST(servings AS INTEGER)", False),
        ("notes TEXT", "CAST(notes AS TEXT)", False),
        ("notes BLOB", "CAST(notes AS BLOB)", True),  # text becomes bytes; peers keep text
        ("servings NUMERIC", "CAST(servings AS NUMERIC)", True),  # '2024-01-01' becomes 2024
    ],
)
def test_a_rebuild_cast_is_a_copy_only_where_it_changes_nothing(
    tmp_path: Path, declared: str, item: str, breaking: bool
) -> None:
    column = declared.split()[0]
    columns = re.sub(rf"\b{column} \w+", declared, SAME_COLUMNS, count=1)
    select = "recipe_id, title, servings, notes, rating".replace(column, item, 1)
    result = last(tmp_path, BASE + rebuild(columns), rebuild(columns, select))
    assert (("data-rewrite", "recipes", None) in hits(result)) is breaking, result.findings


def test_a_new_column_filled_from_a_column_the_table_keeps_is_a_backfill(tmp_path: Path) -> None:
    wider = SAME_COLUMNS + ", portions INTEGER"
    backfill = rebuild(wider, "recipe_id, title, servings, notes, rating, servings")
    result = last(tmp_path / "a", BASE, backfill)
    assert ("data-rewrite", "recipes", None) in hits(result)
    assert "portions" in next(f.message for f in result.findings if f.rule == "data-rewrite")
    # Taken from a column the table no longer has, it is a rename (its own rules).
    renamed = SAME_COLUMNS.replace("servings INTEGER", "portions INTEGER")
    result = last(tmp_path / "b", BASE, rebuild(renamed))
    assert "data-rewrite" not in {f.rule for f in result.findings}


@pytest.mark.parametrize(
    "seed",
    [
        "INSERT INTO units (id, name) VALUES (lower(hex(randomblob(16))), 'gram');",
        "INSERT INTO units (id, name, added) VALUES ('g', 'gram', CURRENT_TIMESTAMP);",
        "INSERT INTO units (id, name, added) VALUES ('g', 'gram', datetime('now'));",
        "INSERT INTO units (name) VALUES ('gram');",  # the id is the table's random default
    ],
)
def test_seed_rows_each_device_computes_apart_are_a_rewrite(tmp_path: Path, seed: str) -> None:
    table = (
        "CREATE TABLE units (id TEXT PRIMARY KEY DEFAULT (lower(hex(randomblob(8)))),"
        " name TEXT, added TEXT);"
    )
    result = last(tmp_path, BASE, table + seed)
    assert ("data-rewrite", "units", None) in hits(result), result.findings
    assert "randomness or the clock" in result.findings[-1].message


def test_seed_rows_the_same_on_every_device_are_not_a_rewrite(tmp_path: Path) -> None:
    table = "CREATE TABLE units (id TEXT PRIMARY KEY, name TEXT, added TEXT DEFAULT 'now');"
    seed = "INSERT INTO units (id, name) VALUES ('g', 'gram'), ('kg', 'kilogram');"
    result = last(tmp_path, BASE, table + seed)
    assert "data-rewrite" not in {f.rule for f in result.findings}, result.findings


def test_a_unique_over_a_generated_column_of_old_columns_is_breaking(tmp_path: Path) -> None:
    """SQLite lists no generated column among a table's columns: it is not "new"."""
    people = (
        "CREATE TABLE people (id TEXT PRIMARY KEY, first TEXT, last TEXT,"
        " full TEXT GENERATED ALWAYS AS (first || ' ' || last) VIRTUAL);"
    )
    result = last(tmp_path / "a", people, "CREATE UNIQUE INDEX people_full ON people (full);")
    assert ("constraint-tightened", "people", "full") in hits(result)
    # Generated in the same step from a column new in it: older clients never set it.
    new = (
        "ALTER TABLE people ADD COLUMN handle TEXT;"
        " ALTER TABLE people ADD COLUMN tag TEXT GENERATED ALWAYS AS (lower(handle)) VIRTUAL;"
        " CREATE UNIQUE INDEX people_tag ON people (tag);"
    )
    result = last(tmp_path / "b", people, new)
    assert "constraint-tightened" not in {f.rule for f in result.findings}, result.findings


COOKS = "CREATE TABLE cooks (cook_id TEXT PRIMARY KEY NOT NULL, name TEXT, level INTEGER);"


@pytest.mark.parametrize(
    ("step", "emptied"),
    [
        # old rows set aside in an archive, the table made again empty
        (
            "CREATE TABLE cooks_archive AS SELECT * FROM cooks; DROP TABLE cooks; " + COOKS,
            True,
        ),
        ("INSERT INTO kept SELECT * FROM cooks; DROP TABLE cooks; " + COOKS, True),
        # Sequelize: a backup table, the table made again, the rows copied back
        (
            "CREATE TABLE cooks_backup (cook_id TEXT PRIMARY KEY NOT NULL, name TEXT);"
            " INSERT INTO cooks_backup SELECT cook_id, name FROM cooks; DROP TABLE cooks; "
            + COOKS
            + " INSERT INTO cooks (cook_id, name) SELECT cook_id, name FROM cooks_backup;"
            " DROP TABLE cooks_backup;",
            False,
        ),
        # a copy made aside and renamed back, or copied back through a view
        (
            "CREATE TABLE c2 AS SELECT * FROM cooks; DROP TABLE cooks;"
            " ALTER TABLE c2 RENAME TO cooks;",
            False,
        ),
        (
            "ALTER TABLE cooks RENAME TO old; CREATE VIEW v AS SELECT cook_id, name FROM old; "
            + COOKS
            + " INSERT INTO cooks (cook_id, name) SELECT * FROM v; DROP VIEW v; DROP TABLE old;",
            False,
        ),
    ],
)
def test_a_table_made_again_is_emptied_unless_its_rows_come_back(
    tmp_path: Path, step: str, emptied: bool
) -> None:
    setup = BASE.replace("CREATE TABLE cooks (cook_id TEXT PRIMARY KEY NOT NULL, name TEXT);", "")
    setup += COOKS + " CREATE TABLE kept (cook_id TEXT, name TEXT, level INTEGER);"
    result = last(tmp_path, setup, step)
    rewrites = [f.message for f in result.findings if f.rule == "data-rewrite"]
    assert any("made again empty" in m for m in rewrites) is emptied, result.findings


def test_a_star_copy_into_columns_declared_in_another_order_swaps_them(tmp_path: Path) -> None:
    swapped = SAME_COLUMNS.replace("servings INTEGER, notes TEXT", "notes TEXT, servings INTEGER")
    result = last(tmp_path / "a", BASE, rebuild(swapped, "*"))
    assert ("data-rewrite", "recipes", None) in hits(result)
    assert "servings" in result.findings[0].message
    assert last(tmp_path / "b", BASE, rebuild(SAME_COLUMNS, "*")).verdict == "safe"


FTS = (
    "CREATE VIRTUAL TABLE recipes_fts USING fts5(title, content='recipes');"
    " CREATE TRIGGER recipes_fts_au AFTER UPDATE ON recipes BEGIN"
    " INSERT INTO recipes_fts(recipes_fts, rowid, title) VALUES ('delete', old.rowid, old.title);"
    " INSERT INTO recipes_fts(rowid, title) VALUES (new.rowid, new.title); END;"
)


@pytest.mark.parametrize(
    ("fill", "breaking"),
    [
        ("", True),
        ("INSERT INTO recipes_fts(recipes_fts) VALUES ('rebuild');", False),
        ("INSERT INTO recipes_fts(rowid, title) SELECT rowid, title FROM recipes;", False),
    ],
)
def test_an_external_content_search_index_must_be_filled(
    tmp_path: Path, fill: str, breaking: bool
) -> None:
    result = last(tmp_path, BASE, FTS + fill)
    tightened = [f for f in result.findings if f.rule == "constraint-tightened"]
    assert bool(tightened) is breaking, result.findings
    if breaking:
        assert "'rebuild'" in tightened[0].message and "recipes_fts_au" in tightened[0].message


def test_an_unfilled_search_index_no_trigger_removes_from_is_local(tmp_path: Path) -> None:
    only_inserts = FTS.split(" CREATE TRIGGER")[0]
    assert last(tmp_path, BASE, only_inserts).verdict == "safe"


FILLED = "INSERT INTO recipes_fts(rowid, title) SELECT rowid, title FROM recipes;"
KEPT_ON_INSERT = (
    " CREATE TRIGGER recipes_fts_ai AFTER INSERT ON recipes BEGIN"
    " INSERT INTO recipes_fts(rowid, title) VALUES (new.rowid, new.title); END;"
)
KEPT_ON_DELETE = (
    " CREATE TRIGGER recipes_fts_ad AFTER DELETE ON recipes BEGIN"
    " INSERT INTO recipes_fts(recipes_fts, rowid, title) VALUES ('delete', old.rowid, old.title);"
    " END;"
)


def test_a_search_index_kept_on_insert_and_delete_but_not_update_is_breaking(
    tmp_path: Path,
) -> None:
    """atuin's history index ("we do not ever update rows", review BU F2): sync applies
    a peer's edit as an UPDATE, the index keeps the old values, and the row's delete
    then fails. Only the migration that makes it so says it."""
    index = FTS.split(" CREATE TRIGGER")[0] + FILLED + KEPT_ON_INSERT + KEPT_ON_DELETE
    results = lint_steps(
        tmp_path / "a", BASE, index, "CREATE INDEX recipes_title ON recipes(title);"
    )
    stale = [f for f in results[1].findings if f.rule == "constraint-tightened"]
    assert [(f.table, f.severity) for f in stale] == [("recipes", "breaking")], results[1].findings
    assert "recipes_fts_ad" in stale[0].message and "no trigger on every UPDATE" in stale[0].message
    assert results[2].verdict == "safe"  # the index was already so before
    # An UPDATE trigger keeps it (FTS has one); dropped later, that migration says it.
    kept = lint_steps(
        tmp_path / "b", BASE, FTS + FILLED + KEPT_ON_DELETE, "DROP TRIGGER recipes_fts_au;"
    )
    assert kept[1].verdict != "breaking", kept[1].findings
    assert any("no trigger on every UPDATE" in f.message for f in kept[2].findings), kept[
        2
    ].findings
    # Nothing removes rows from it: a stale index is only local.
    only_inserts = FTS.split(" CREATE TRIGGER")[0] + FILLED + KEPT_ON_INSERT
    assert lint_steps(tmp_path / "c", BASE, only_inserts)[1].verdict == "safe"


def test_an_update_trigger_of_some_indexed_columns_leaves_the_index_stale(
    tmp_path: Path,
) -> None:
    """``AFTER UPDATE OF title`` over an index of title and notes (review BW-3): a notes
    edit leaves the old notes indexed, and the row's delete then fails."""
    index = (
        "CREATE VIRTUAL TABLE recipes_fts USING fts5(title, notes, content='recipes');"
        " INSERT INTO recipes_fts(recipes_fts) VALUES ('rebuild');"
        " CREATE TRIGGER recipes_fts_ad AFTER DELETE ON recipes BEGIN"
        " INSERT INTO recipes_fts(recipes_fts, rowid, title, notes)"
        " VALUES ('delete', old.rowid, old.title, old.notes); END;"
        " CREATE TRIGGER recipes_fts_au AFTER UPDATE OF {of} ON recipes BEGIN"
        " INSERT INTO recipes_fts(recipes_fts, rowid, title, notes)"
        " VALUES ('delete', old.rowid, old.title, old.notes);"
        " INSERT INTO recipes_fts(rowid, title, notes) VALUES (new.rowid, new.title, new.notes);"
        " END;"
    )
    partly = last(tmp_path / "a", BASE, index.format(of="title"))
    assert any("no trigger on every UPDATE" in f.message for f in partly.findings), partly.findings
    wholly = last(tmp_path / "b", BASE, index.format(of="notes, title"))
    assert not any("no trigger on every UPDATE" in f.message for f in wholly.findings), (
        wholly.findings
    )


def test_a_trigger_sqlite_cannot_prepare_is_breaking_where_it_comes(tmp_path: Path) -> None:
    """atuin's delete trigger as once shipped, one value short (review BU F3): SQLite
    takes the CREATE TRIGGER, then fails every delete of the table; the lint asks SQLite
    to prepare each replicated table's writes. Said once, where the trigger comes."""
    broken = (
        "CREATE TABLE log (id INTEGER PRIMARY KEY, what TEXT);"
        " CREATE TRIGGER recipes_gone AFTER DELETE ON recipes BEGIN"
        " INSERT INTO log (id, what) VALUES (old.title); END;"
    )
    results = lint_steps(
        tmp_path / "a", BASE, broken, "CREATE INDEX recipes_title ON recipes(title);"
    )
    found = [f for f in results[1].findings if "cannot prepare" in f.message]
    assert [(f.rule, f.table, f.severity) for f in found] == [
        ("constraint-tightened", "recipes", "breaking")
    ]
    assert "deletes of recipes" in found[0].message and "1 values for 2 columns" in found[0].message
    assert results[2].verdict == "safe"  # broken before too: not said again
    # A function the app registers on its connection is not a broken trigger (BY F4).
    app_function = broken.replace("VALUES (old.title)", "VALUES (old.rowid, app_now())")
    calls = lint_steps(tmp_path / "c", BASE, app_function)[1]
    assert not any("cannot prepare" in f.message for f in calls.findings), calls.findings
    fixed = broken.replace("VALUES (old.title)", "VALUES (old.rowid, old.title)")
    assert not any(
        "cannot prepare" in f.message for f in lint_steps(tmp_path / "b", BASE, fixed)[1].findings
    )


def test_a_raising_trigger_naming_its_table_in_another_case_is_on_that_table(
    tmp_path: Path,
) -> None:
    """SQLite keeps ``ON Recipes`` as written; it is still table recipes."""
    trigger = (
        "CREATE TRIGGER keep_rating BEFORE UPDATE ON Recipes WHEN NEW.rating < OLD.rating"
        " BEGIN SELECT RAISE(ABORT, 'ratings only go up'); END;"
    )
    assert ("constraint-tightened", "recipes", None) in hits(last(tmp_path / "a", BASE, trigger))
    result = last(tmp_path / "b", BASE, trigger, "DROP TRIGGER keep_rating;")
    assert ("constraint-loosened", "recipes", None) in hits(result)


def test_a_unique_on_a_new_column_with_a_constant_default_is_breaking(tmp_path: Path) -> None:
    """Every row older clients send gets '' there: the second one collides."""
    step = (
        "ALTER TABLE cooks ADD COLUMN badge TEXT NOT NULL DEFAULT '';"
        " CREATE UNIQUE INDEX ux_badge ON cooks (badge);"
    )
    assert ("constraint-tightened", "cooks", "badge") in hits(last(tmp_path / "a", BASE, step))
    nullable = (
        "ALTER TABLE cooks ADD COLUMN badge TEXT; CREATE UNIQUE INDEX ux_badge ON cooks (badge);"
    )
    assert last(tmp_path / "b", BASE, nullable).verdict == "additive"


def test_not_null_default_null_is_no_default(tmp_path: Path) -> None:
    columns = SAME_COLUMNS + ", cuisine TEXT NOT NULL DEFAULT NULL"
    step = "ALTER TABLE recipes RENAME TO recipes_old;" + COPY_BACK.format(
        columns=columns, source="recipes_old"
    )
    result = last(tmp_path, BASE, step)
    assert ("add-not-null-without-default", "recipes", "cuisine") in hits(result), result.findings


@pytest.mark.parametrize(
    ("condition", "breaking"),
    [
        # refused because a row of another table arrived: for good, on replicas that had it
        ("EXISTS (SELECT 1 FROM cooks WHERE cook_id = NEW.cook_id AND name = 'banned')", True),
        ("(SELECT count(*) FROM cooks) > 10", True),
        # refused until the parent arrives, then retried; but refused for good where
        # the parent's delete came first, while a replica that got the row keeps it
        ("NOT EXISTS (SELECT 1 FROM cooks WHERE cook_id = NEW.cook_id)", True),
    ],
)
def test_a_raising_trigger_on_a_new_table_reading_another_depends_on_arrival_order(
    tmp_path: Path, condition: str, breaking: bool
) -> None:
    step = (
        "CREATE TABLE shifts (shift_id TEXT PRIMARY KEY, cook_id TEXT);"
        f" CREATE TRIGGER guard BEFORE INSERT ON shifts WHEN {condition}"
        " BEGIN SELECT RAISE(ABORT, 'no'); END;"
    )
    result = last(tmp_path, BASE, step)
    assert (result.verdict == "breaking") is breaking, result.findings
    if breaking:
        assert "another order" in result.findings[-1].message or any(
            "another order" in f.message for f in result.findings
        )


def test_a_trigger_left_naming_a_table_renamed_away_and_dropped_is_breaking(
    tmp_path: Path,
) -> None:
    setup = BASE + (
        "CREATE TABLE titles_seen (title TEXT);"
        " CREATE TRIGGER seen AFTER INSERT ON cooks BEGIN"
        " INSERT INTO titles_seen SELECT title FROM recipes WHERE recipe_id = NEW.cook_id; END;"
    )
    away = "ALTER TABLE recipes RENAME TO recipes_old;" + COPY_BACK.format(
        columns=SAME_COLUMNS, source="recipes_old"
    )
    result = last(tmp_path / "a", setup, away)
    assert ("constraint-tightened", "cooks", None) in hits(result)
    assert any("recipes_old" in f.message for f in result.findings if f.table == "cooks")
    # Tables it names that stay: nothing dangles.
    kept = last(tmp_path / "b", setup, "ALTER TABLE recipes ADD COLUMN cuisine TEXT;")
    assert kept.verdict == "additive", kept.findings


def test_a_collation_written_as_a_string_is_that_collation(tmp_path: Path) -> None:
    """Laravel writes ``collate 'nocase'``; SQLite takes it as COLLATE NOCASE."""
    laravel = (
        "CREATE TABLE members (id INTEGER PRIMARY KEY, email TEXT NOT NULL collate 'nocase');"
        " CREATE UNIQUE INDEX members_email ON members (email);"
    )
    again = (
        "CREATE TABLE m2 (id INTEGER PRIMARY KEY, email TEXT NOT NULL COLLATE NOCASE);"
        " INSERT INTO m2 (id, email) SELECT id, email FROM members; DROP TABLE members;"
        " ALTER TABLE m2 RENAME TO members; CREATE UNIQUE INDEX members_email ON members (email);"
    )
    assert last(tmp_path / "a", laravel, again).verdict == "safe"
    key = "CREATE TABLE coupons (code TEXT PRIMARY KEY collate 'nocase', pct INTEGER);"
    assert {f.rule for f in last(tmp_path / "b", key).findings} == {"not-replicable"}


def test_a_function_named_like_an_old_column_is_not_that_column(tmp_path: Path) -> None:
    """``length(code)`` reads the new column code, not an old column named length."""
    setup = "CREATE TABLE trails (id INTEGER PRIMARY KEY, name TEXT, length REAL);"
    step = "ALTER TABLE trails ADD COLUMN code TEXT CHECK (code IS NULL OR length(code) = 4);"
    assert last(tmp_path, setup, step).verdict == "additive"


def test_a_raising_trigger_on_new_columns_only_is_like_their_check(tmp_path: Path) -> None:
    guard = (
        "CREATE TRIGGER stars BEFORE INSERT ON recipes WHEN NEW.{c} NOT BETWEEN 1 AND 5"
        " BEGIN SELECT RAISE(ABORT, 'stars are 1..5'); END;"
    )
    new = "ALTER TABLE recipes ADD COLUMN stars INTEGER;" + guard.format(c="stars")
    assert last(tmp_path / "a", BASE, new).verdict == "additive"
    old = "ALTER TABLE recipes ADD COLUMN stars INTEGER;" + guard.format(c="servings")
    assert last(tmp_path / "b", BASE, old).verdict == "breaking"
    # Unless the new column's own default trips it: older clients' rows get that default.
    refused = "ALTER TABLE recipes ADD COLUMN stars INTEGER DEFAULT 0;" + guard.format(c="stars")
    assert last(tmp_path / "c", BASE, refused).verdict == "breaking"
    taken = "ALTER TABLE recipes ADD COLUMN stars INTEGER DEFAULT 3;" + guard.format(c="stars")
    assert last(tmp_path / "d", BASE, taken).verdict == "additive"


@pytest.mark.parametrize(
    ("trigger", "breaking"),
    [
        # a slot per (cook, title): a UNIQUE on recipes in disguise
        ("INSERT INTO slots VALUES (NEW.recipe_id, NEW.title)", True),
        ("INSERT OR IGNORE INTO slots VALUES (NEW.recipe_id, NEW.title)", False),
        ("INSERT INTO slots VALUES (NEW.recipe_id, NEW.title) ON CONFLICT DO NOTHING", False),
        # a NOT NULL column left out, or filled from a column that may be NULL
        ("INSERT INTO log (recipe_id) VALUES (NEW.recipe_id)", True),
        ("INSERT INTO log (recipe_id, notes) VALUES (NEW.recipe_id, NEW.notes)", True),
        ("INSERT INTO log (recipe_id, notes) VALUES (NEW.recipe_id, NEW.title)", False),
    ],
)
def test_a_trigger_insert_into_a_local_table_that_can_fail_is_tightened(
    tmp_path: Path, trigger: str, breaking: bool
) -> None:
    setup = BASE + (
        "CREATE TABLE slots (recipe_id TEXT NOT NULL, title TEXT NOT NULL,"
        " PRIMARY KEY (recipe_id, title));"
        " CREATE TABLE log (recipe_id TEXT NOT NULL, notes TEXT NOT NULL, at TEXT);"
    )
    step = f"CREATE TRIGGER keep AFTER INSERT ON recipes BEGIN {trigger}; END;"
    result = last(tmp_path, setup, step)
    assert (result.verdict == "breaking") is breaking, result.findings


def test_a_when_that_leaves_null_out_guards_the_insert(tmp_path: Path) -> None:
    setup = BASE + "CREATE TABLE log (recipe_id TEXT NOT NULL, notes TEXT NOT NULL);"
    step = (
        "CREATE TRIGGER keep AFTER INSERT ON recipes WHEN NEW.notes IS NOT NULL"
        " BEGIN INSERT INTO log VALUES (NEW.recipe_id, NEW.notes); END;"
    )
    assert last(tmp_path, setup, step).verdict == "safe"


@pytest.mark.parametrize(
    ("item", "column"),
    [
        ("CAST(title AS VARCHAR(100))", "title VARCHAR(50) NOT NULL"),  # size arguments
        ("CAST(servings AS INT(11))", "servings INTEGER"),
        ("CAST(title AS TEXT) AS anon_1", "title TEXT NOT NULL"),  # Alembic's alias
    ],
)
def test_casts_as_alembic_writes_them_are_copies(tmp_path: Path, item: str, column: str) -> None:
    name = column.split()[0]
    columns = re.sub(rf"\\b{name} \\w+( NOT NULL)?", column, SAME_COLUMNS, count=1)
    select = "recipe_id, title, servings, notes, rating".replace(name, item, 1)
    result = last(tmp_path, BASE + rebuild(columns), rebuild(columns, select))
    assert result.verdict == "safe", result.findings


def test_a_partial_unique_leaving_a_new_columns_default_out_is_additive(tmp_path: Path) -> None:
    step = (
        "ALTER TABLE cooks ADD COLUMN phone TEXT NOT NULL DEFAULT '';"
        " CREATE UNIQUE INDEX ux_phone ON cooks (phone) WHERE phone <> '';"
    )
    assert last(tmp_path, BASE, step).verdict == "additive"


def test_a_search_index_filled_through_main_is_filled(tmp_path: Path) -> None:
    fill = "INSERT INTO main.recipes_fts(recipes_fts) VALUES ('rebuild');"
    assert last(tmp_path, BASE, FTS + fill).verdict == "safe"


def test_a_json_type_check_guards_a_json_index(tmp_path: Path) -> None:
    setup = BASE.replace("notes     TEXT", "notes     TEXT CHECK (json_type(notes) = 'object')")
    step = "CREATE INDEX by_author ON recipes (notes ->> '$.by');"
    assert last(tmp_path, setup, step).verdict == "safe"


@pytest.mark.parametrize(
    ("column", "breaking"),
    [
        ("fuel TEXT NOT NULL DEFAULT 'unknown' CHECK (fuel IN ('petrol', 'diesel'))", True),
        ("fuel TEXT NOT NULL DEFAULT 'petrol' CHECK (fuel IN ('petrol', 'diesel'))", False),
        ("fuel TEXT CHECK (fuel IN ('petrol', 'diesel'))", False),  # NULL passes a CHECK
        # Alembic: the default '0' is stored as 0 in a BOOLEAN (NUMERIC) column
        ("is_admin BOOLEAN DEFAULT '0' NOT NULL CHECK (is_admin IN (0, 1))", False),
    ],
)
def test_a_check_on_a_new_column_its_default_fails_is_breaking(
    tmp_path: Path, column: str, breaking: bool
) -> None:
    """Every row older clients send gets the default there, which the CHECK refuses."""
    result = last(tmp_path, BASE, f"ALTER TABLE cooks ADD COLUMN {column};")
    assert (result.verdict == "breaking") is breaking, result.findings


def test_a_raising_update_trigger_on_new_columns_refuses_replayed_values(
    tmp_path: Path,
) -> None:
    """Older clients' parked values of the new columns replay as updates, which an
    UPDATE trigger can refuse though the row went in with them."""
    step = (
        "ALTER TABLE recipes ADD COLUMN lo INTEGER NOT NULL DEFAULT 0;"
        " ALTER TABLE recipes ADD COLUMN hi INTEGER;"
        " CREATE TRIGGER bounds BEFORE UPDATE ON recipes WHEN NEW.hi < NEW.lo"
        " BEGIN SELECT RAISE(ABORT, 'hi below lo'); END;"
    )
    assert last(tmp_path, BASE, step).verdict == "breaking"


@pytest.mark.parametrize(
    ("extra", "breaking"),
    [
        ("CREATE TABLE audit (title TEXT CHECK (length(title) <= 4));", True),
        (
            "CREATE TABLE audit (title TEXT); CREATE TRIGGER cap BEFORE INSERT ON audit"
            " WHEN (SELECT count(*) FROM audit) >= 3 BEGIN SELECT RAISE(ABORT, 'full'); END;",
            True,
        ),
        (  # a guard on deleting from it: an insert never fires it
            "CREATE TABLE audit (title TEXT); CREATE TRIGGER keep BEFORE DELETE ON audit"
            " BEGIN SELECT RAISE(ABORT, 'append only'); END;",
            False,
        ),
    ],
)
def test_a_local_table_a_trigger_feeds_can_refuse_through_a_check_or_raise(
    tmp_path: Path, extra: str, breaking: bool
) -> None:
    step = extra + (
        " CREATE TRIGGER feed AFTER INSERT ON recipes"
        " BEGIN INSERT INTO audit (title) VALUES (NEW.title); END;"
    )
    assert (last(tmp_path, BASE, step).verdict == "breaking") is breaking


@pytest.mark.parametrize(
    ("step", "breaking"),
    [
        # a stored generated column fails the upgrade on old rows, and writes after it
        (
            "ALTER TABLE recipes ADD COLUMN author TEXT"
            " GENERATED ALWAYS AS (json_extract(notes, '$.by')) VIRTUAL;",
            True,
        ),
        (
            "ALTER TABLE recipes ADD COLUMN author TEXT GENERATED ALWAYS AS"
            " (CASE WHEN json_valid(notes) THEN json_extract(notes, '$.by') END) VIRTUAL;",
            False,
        ),
        # a trigger's WHEN reading a required column as JSON fails received rows
        (
            "CREATE TABLE seen (t TEXT); CREATE TRIGGER s AFTER INSERT ON recipes"
            " WHEN json_extract(NEW.title, '$.x') IS NOT NULL"
            " BEGIN INSERT INTO seen VALUES (NEW.title); END;",
            True,
        ),
        # an optional one reaches an INSERT trigger of a received row only as NULL
        (
            "CREATE TABLE seen (t TEXT); CREATE TRIGGER s AFTER INSERT ON recipes"
            " WHEN json_extract(NEW.notes, '$.x') IS NOT NULL"
            " BEGIN INSERT INTO seen VALUES (NEW.notes); END;",
            False,
        ),
    ],
)
def test_json_reads_in_triggers_and_generated_columns(
    tmp_path: Path, step: str, breaking: bool
) -> None:
    result = last(tmp_path, BASE, step)
    assert (result.verdict == "breaking") is breaking, result.findings


def test_an_update_guard_matching_an_insert_guard_on_new_columns_is_like_a_check(
    tmp_path: Path,
) -> None:
    guard = (
        "CREATE TRIGGER g_{n} BEFORE {event} ON recipes WHEN NEW.stars NOT BETWEEN 1 AND 5"
        " BEGIN SELECT RAISE(ABORT, 'stars'); END;"
    )
    both = (
        "ALTER TABLE recipes ADD COLUMN stars INTEGER;"
        + guard.format(n="i", event="INSERT")
        + guard.format(n="u", event="UPDATE OF stars")
    )
    assert last(tmp_path / "a", BASE, both).verdict == "additive"
    only_update = "ALTER TABLE recipes ADD COLUMN stars INTEGER;" + guard.format(
        n="u", event="UPDATE OF stars"
    )
    assert last(tmp_path / "b", BASE, only_update).verdict == "breaking"


def test_a_table_made_strict_that_cannot_store_a_default_is_breaking(tmp_path: Path) -> None:
    setup = "CREATE TABLE visits (id TEXT PRIMARY KEY, at INTEGER DEFAULT CURRENT_TIMESTAMP);"
    strict = (
        "CREATE TABLE v2 (id TEXT PRIMARY KEY, at INTEGER DEFAULT CURRENT_TIMESTAMP) STRICT;"
        " INSERT INTO v2 SELECT id, CAST(strftime('%s', at) AS INTEGER) FROM visits;"
        " DROP TABLE visits; ALTER TABLE v2 RENAME TO visits;"
    )
    result = last(tmp_path / "a", setup, strict)
    assert any("cannot store" in f.message for f in result.findings), result.findings
    fine = setup.replace("INTEGER DEFAULT CURRENT_TIMESTAMP", "INTEGER DEFAULT 0")
    again = strict.replace("INTEGER DEFAULT CURRENT_TIMESTAMP", "INTEGER DEFAULT 0")
    assert not any("cannot store" in f.message for f in last(tmp_path / "b", fine, again).findings)


@pytest.mark.parametrize(
    ("was", "now", "changed"),
    [
        # Spelled another way, defined alike by SQLite: no change.
        ("servings BETWEEN 1 AND 12", "servings >= 1 AND servings <= 12", False),
        ("notes IN ('low', 'high')", "notes IN ('high', 'low', 'low')", False),
        ("servings IN (0, 1)", "servings IN (FALSE, TRUE)", False),
        # Written again with other logic, told alike by SQLite on values around the literals.
        ("(servings >= 1) AND (servings <= 12)", "servings BETWEEN 1 AND 12", False),
        ("NOT servings BETWEEN 1 AND 12", "NOT (servings BETWEEN 1 AND 12)", False),
        ("servings <= 12 AND servings >= 1", "servings >= 1 AND servings <= 12", False),
        ("servings > 0", "servings > 0.0", False),
        ("length(notes) BETWEEN 2 AND 8", "length(notes) >= 2 AND length(notes) <= 8", False),
        ("servings > 0 OR notes IS NULL", "NOT (servings <= 0 AND notes NOTNULL)", False),
        # Accepting other values: still a change.
        ("length(notes) BETWEEN 2 AND 8", "length(notes) > 2 AND length(notes) <= 8", True),
        ("servings > 0", "servings >= 0", True),
        ("servings > 0 OR notes IS NULL", "servings > 0 AND notes IS NULL", True),
        ("lower(notes) = notes", "upper(notes) = notes", True),
        ("servings < rating", "servings <= rating", True),
        # Told apart only by values far from the plain ones (a review's misses).
        ("servings BETWEEN -90 AND 90", "servings <= 90", True),
        ("length(notes) <= 100", "length(notes) < 100", True),
        ("servings <= 9007199254740993", "servings <= 9007199254740992", True),
        ("servings < 9223372036854775807", "servings <= 9223372036854775807", True),
        ("notes + 0 <= 5", "notes + 0 < 5 OR notes = 5", True),  # notes '5.0'
        ("servings BETWEEN 1 AND 12", "servings >= 1 AND servings < 12", True),
        ("NOT servings BETWEEN 1 AND 12", "NOT servings >= 1 AND servings <= 12", True),
        ("notes IN ('low', 'high')", "notes IN ('low', 'mid')", True),
        ("servings IN (0, 1)", "servings IN (TRUE, 2)", True),
    ],
)
def test_a_check_spelled_another_way_is_a_change_only_if_it_accepts_other_values(
    tmp_path: Path, was: str, now: str, changed: bool
) -> None:
    columns = SAME_COLUMNS.replace("servings INTEGER", "servings INTEGER CHECK ({})")
    first = BASE.replace("servings  INTEGER", f"servings INTEGER CHECK ({was})")
    result = last(tmp_path, first, rebuild(columns.format(now)))
    rules = {rule for rule, _, _ in hits(result)}
    assert bool(rules & {"constraint-tightened", "constraint-loosened"}) == changed, rules
    assert result.verdict == ("breaking" if changed else "safe")


@pytest.mark.parametrize(
    ("was", "now", "rule", "says"),
    [
        ("servings > 0", "servings >= 0", "constraint-loosened", "which accepts more"),
        ("servings >= 0", "servings > 0", "constraint-tightened", "which accepts less"),
        ("servings IN (0, 1)", "servings IN (TRUE, 2)", "constraint-tightened", "and v1 clients"),
        # Other literals: a widened range or a value added to an IN list (review BL-3).
        ("servings BETWEEN 0 AND 10", "servings BETWEEN 0 AND 1100", "constraint-loosened", "more"),
        ("servings IN (0, 1)", "servings IN (0, 1, 2)", "constraint-loosened", "accepts more"),
        ("servings BETWEEN 0 AND 900", "servings BETWEEN 0 AND 10", "constraint-tightened", "less"),
        ("servings < 10", "servings > 10", "constraint-tightened", "and v1 clients"),
        # Other literals under arithmetic: v2 refuses 72, which v1 takes (review BN-4).
        (
            "servings < 10 OR servings % 12 = 0",
            "servings < 50 OR servings % 10 = 0",
            "constraint-tightened",
            "and v1 clients",
        ),
    ],
)
def test_a_changed_check_says_which_side_refuses(
    tmp_path: Path, was: str, now: str, rule: str, says: str
) -> None:
    """A CHECK that only widened is refused by older clients alone (a loosening)."""
    columns = SAME_COLUMNS.replace("servings INTEGER", f"servings INTEGER CHECK ({now})")
    first = BASE.replace("servings  INTEGER", f"servings INTEGER CHECK ({was})")
    result = last(tmp_path, first, rebuild(columns))
    assert hits(result) == {(rule, "recipes", "servings")}
    assert says in result.findings[0].message
    assert result.verdict == "breaking"


def test_an_upserts_do_update_set_names_no_table(tmp_path: Path) -> None:
    step = """
CREATE TABLE cook_counts (name TEXT NOT NULL UNIQUE, n INTEGER NOT NULL DEFAULT 0);
CREATE TRIGGER count_cooks AFTER INSERT ON cooks WHEN NEW.name IS NOT NULL BEGIN
    INSERT INTO cook_counts (name, n) VALUES (NEW.name, 1)
        ON CONFLICT (name) DO UPDATE SET n = n + 1;
END;
"""
    result = last(tmp_path, BASE, step)
    assert result.verdict == "additive", result.findings  # cook_counts is not replicable


def test_an_insert_list_naming_a_column_in_another_case_copies_it(tmp_path: Path) -> None:
    step = """
CREATE TABLE cooks_new (cook_id TEXT PRIMARY KEY NOT NULL, name TEXT);
INSERT INTO cooks_new (cook_id, NAME) SELECT cook_id, name FROM cooks;
DROP TABLE cooks;
ALTER TABLE cooks_new RENAME TO cooks;
"""
    result = last(tmp_path, BASE, step)
    assert result.verdict == "safe", result.findings


@pytest.mark.parametrize("default", ["", " DEFAULT NULL"])
def test_add_column_not_null_without_a_default_fails_where_rows_are(
    tmp_path: Path, default: str
) -> None:
    """SQLite takes it on an empty table (all a schema snapshot has), not on one with rows."""
    step = f"ALTER TABLE recipes ADD COLUMN extra TEXT NOT NULL{default};"
    result = last(tmp_path, BASE, step)
    assert {("add-not-null-without-default", "recipes", "extra")} < hits(result)
    [fails] = [f for f in result.findings if f.rule == "add-column-fails"]
    assert fails.message.startswith(
        "ALTER TABLE recipes ADD COLUMN extra NOT NULL without a default fails on every replica"
        " whose recipes holds a row (SQLite: Cannot add a NOT NULL column with default value NULL)"
    )


@pytest.mark.parametrize(
    ("default", "fails"),
    [
        ("(json_array())", True),
        ("(3 + 2)", True),
        ("(upper('a'))", True),
        ("CURRENT_TIMESTAMP", True),
        ("(5)", False),
        ("-1", False),
        ("'[]'", False),
        ("NULL", False),
    ],
)
def test_add_column_with_a_default_sqlite_takes_only_on_an_empty_table(
    tmp_path: Path, default: str, fails: bool
) -> None:
    result = last(tmp_path, BASE, f"ALTER TABLE recipes ADD COLUMN extra TEXT DEFAULT {default};")
    assert (("add-column-fails", "recipes", "extra") in hits(result)) == fails, result.findings
    rebuilt = last(
        tmp_path / "rebuilt",
        BASE,
        rebuild(f"{SAME_COLUMNS}, extra TEXT DEFAULT {default}", "*, NULL"),
    )
    assert "add-column-fails" not in {f.rule for f in rebuilt.findings}


@pytest.mark.parametrize(
    "trigger",
    [
        # Not in the past: a row made offline arrives after its time.
        "BEFORE INSERT ON visits WHEN NEW.starts_at < datetime('now')",
        # Not in the future, by the local date: a device west of the writer is behind.
        "BEFORE INSERT ON visits WHEN date(NEW.starts_at) > date('now', 'localtime')",
        # Editable for a day: an edit made in time arrives late.
        "BEFORE UPDATE OF note ON visits WHEN OLD.starts_at < datetime('now', '-1 day')",
    ],
)
def test_a_raising_trigger_on_a_new_table_deciding_by_the_clock_is_breaking(
    tmp_path: Path, trigger: str
) -> None:
    step = f"""
CREATE TABLE visits (visit_id TEXT PRIMARY KEY, starts_at TEXT NOT NULL, note TEXT);
CREATE TRIGGER visits_guard {trigger} BEGIN SELECT RAISE(ABORT, 'no'); END;
"""
    result = last(tmp_path, BASE, step)
    assert ("constraint-tightened", "visits", None) in hits(result), result.findings
    assert any("the clock" in f.message for f in result.findings)


def test_a_raising_trigger_reading_another_table_through_a_view_is_breaking(
    tmp_path: Path,
) -> None:
    step = """
CREATE VIEW rated AS SELECT recipe_id FROM recipes WHERE rating > 0;
CREATE TABLE reviews (review_id TEXT PRIMARY KEY, recipe_id TEXT NOT NULL);
CREATE TRIGGER reviews_rated BEFORE INSERT ON reviews
WHEN NOT EXISTS (SELECT 1 FROM rated WHERE recipe_id = NEW.recipe_id)
BEGIN SELECT RAISE(ABORT, 'rate it first'); END;
"""
    result = last(tmp_path, BASE, step)
    finding = next(f for f in result.findings if f.rule == "constraint-tightened")
    assert finding.table == "reviews" and "recipes" in finding.message


def test_a_lock_on_a_new_table_by_a_rows_old_value_is_like_a_unique(tmp_path: Path) -> None:
    # Writes made at once at one version decide it, as for a UNIQUE: not the migration.
    step = """
CREATE TABLE bills (bill_id TEXT PRIMARY KEY, amount INTEGER NOT NULL, sent INTEGER NOT NULL);
CREATE TRIGGER bills_locked BEFORE UPDATE OF amount ON bills WHEN OLD.sent = 1
BEGIN SELECT RAISE(ABORT, 'sent bills are locked'); END;
"""
    assert last(tmp_path, BASE, step).verdict == "additive"


@pytest.mark.parametrize(
    ("was", "now", "rule"),
    [
        # The old default stored text (an INTEGER column then holds text); the new one does not.
        (
            "INTEGER DEFAULT CURRENT_TIMESTAMP",
            "INTEGER DEFAULT (unixepoch())",
            "constraint-tightened",
        ),
        ("INTEGER DEFAULT 0", "INTEGER DEFAULT CURRENT_TIMESTAMP", "constraint-loosened"),
        # Rails' boolean: BOOLEAN (NUMERIC) holds 'f'; INTEGER does not.
        ("BOOLEAN NOT NULL DEFAULT 'f'", "INTEGER NOT NULL DEFAULT 0", "constraint-tightened"),
    ],
)
def test_a_default_one_version_cannot_hold_travels_as_a_value(
    tmp_path: Path, was: str, now: str, rule: str
) -> None:
    first = BASE + f"CREATE TABLE stamps (stamp_id TEXT PRIMARY KEY, at {was});"
    step = f"""
CREATE TABLE stamps_new (stamp_id TEXT PRIMARY KEY, at {now});
INSERT INTO stamps_new (stamp_id, at) SELECT stamp_id, at FROM stamps;
DROP TABLE stamps;
ALTER TABLE stamps_new RENAME TO stamps;
"""
    result = last(tmp_path, first, step)
    assert (rule, "stamps", "at") in hits(result), result.findings


def test_a_default_both_versions_hold_is_additive(tmp_path: Path) -> None:
    first = BASE + "CREATE TABLE stamps (stamp_id TEXT PRIMARY KEY, at BOOLEAN DEFAULT FALSE);"
    step = """
CREATE TABLE stamps_new (stamp_id TEXT PRIMARY KEY, at INTEGER DEFAULT 1);
INSERT INTO stamps_new (stamp_id, at) SELECT stamp_id, at FROM stamps;
DROP TABLE stamps;
ALTER TABLE stamps_new RENAME TO stamps;
"""
    assert last(tmp_path, first, step).verdict == "additive"


@pytest.mark.parametrize(
    ("column", "index"),
    [
        ("custom TEXT", "json_extract(COALESCE(custom, '{}'), '$.tier')"),
        ("custom JSON NOT NULL DEFAULT ''", "custom ->> '$.tier'"),
    ],
)
def test_a_json_index_over_text_older_clients_may_write_is_breaking(
    tmp_path: Path, column: str, index: str
) -> None:
    first = BASE + f"CREATE TABLE accounts (account_id TEXT PRIMARY KEY, {column});"
    result = last(tmp_path, first, f"CREATE INDEX accounts_tier ON accounts ({index});")
    assert ("constraint-tightened", "accounts", "custom") in hits(result), result.findings


def test_a_json_column_with_a_json_default_is_trusted(tmp_path: Path) -> None:
    first = BASE + "CREATE TABLE accounts (account_id TEXT PRIMARY KEY, custom JSON DEFAULT '{}');"
    step = "CREATE INDEX accounts_tier ON accounts (custom ->> '$.tier');"
    assert last(tmp_path, first, step).verdict == "safe"


UNITS_GUARD = """
CREATE TRIGGER items_unit BEFORE INSERT ON items
WHEN NOT EXISTS (SELECT 1 FROM units WHERE code = NEW.unit)
BEGIN SELECT RAISE(ABORT, 'unknown unit'); END;
"""
UNITS = f"""
CREATE TABLE units (code TEXT NOT NULL UNIQUE);
INSERT INTO units (code) VALUES ('kg'), ('oz');
CREATE TABLE items (item_id TEXT PRIMARY KEY, unit TEXT NOT NULL);
{UNITS_GUARD}
"""


def units_rebuilt(code: str) -> str:
    """Rebuild units as ``code``, the guard dropped and made again around it."""
    return (
        f"DROP TRIGGER items_unit; CREATE TABLE units_new ({code});"
        " INSERT INTO units_new SELECT code FROM units; DROP TABLE units;"
        f" ALTER TABLE units_new RENAME TO units; {UNITS_GUARD}"
    )


@pytest.mark.parametrize(
    "step",
    [
        "DELETE FROM units WHERE code = 'oz';",
        "INSERT INTO units (code) VALUES ('lb');",
        "UPDATE units SET code = 'KG' WHERE code = 'kg';",
        units_rebuilt("code TEXT NOT NULL UNIQUE COLLATE NOCASE"),  # compared another way
    ],
)
def test_a_lookup_a_raising_trigger_reads_changed_is_breaking(tmp_path: Path, step: str) -> None:
    result = last(tmp_path, UNITS, step)
    finding = next(f for f in result.findings if f.rule == "constraint-tightened")
    assert finding.table == "items" and "units" in finding.message


def test_a_lookup_through_a_view_redefined_is_breaking(tmp_path: Path) -> None:
    first = """
CREATE VIEW states (name) AS VALUES ('open'), ('triage'), ('closed');
CREATE TABLE tickets (ticket_id TEXT PRIMARY KEY, state TEXT NOT NULL);
CREATE TRIGGER tickets_state BEFORE INSERT ON tickets
WHEN NEW.state NOT IN (SELECT name FROM states)
BEGIN SELECT RAISE(ABORT, 'unknown state'); END;
"""
    step = "DROP VIEW states; CREATE VIEW states (name) AS VALUES ('open'), ('closed');"
    assert last(tmp_path, first, step).verdict == "breaking"


@pytest.mark.parametrize(
    "step",
    [
        "CREATE TABLE settings (name TEXT, value TEXT); INSERT INTO settings VALUES ('a', 'b');",
        "ALTER TABLE items ADD COLUMN note TEXT;",
        units_rebuilt("code TEXT NOT NULL UNIQUE"),  # as it was
    ],
)
def test_a_lookup_left_as_it_was_changes_nothing(tmp_path: Path, step: str) -> None:
    assert last(tmp_path, UNITS, step).verdict in ("safe", "additive")


HANDLES_FEED = """
CREATE TRIGGER cooks_handle AFTER INSERT ON cooks WHEN NEW.name IS NOT NULL
BEGIN INSERT INTO handles (handle, cook_id) VALUES (NEW.name, NEW.cook_id); END;
"""
HANDLES = f"""
CREATE TABLE handles (handle TEXT NOT NULL UNIQUE, cook_id TEXT NOT NULL);
{HANDLES_FEED}
"""


def handles_rebuilt(columns: str) -> str:
    return (
        f"DROP TRIGGER cooks_handle; CREATE TABLE handles_new ({columns});"
        " INSERT INTO handles_new (handle, cook_id) SELECT handle, cook_id FROM handles;"
        " DROP TABLE handles;"
        f" ALTER TABLE handles_new RENAME TO handles; {HANDLES_FEED}"
    )


def test_a_local_table_a_trigger_feeds_made_to_refuse_other_rows_is_breaking(
    tmp_path: Path,
) -> None:
    step = handles_rebuilt("handle TEXT NOT NULL UNIQUE COLLATE NOCASE, cook_id TEXT NOT NULL")
    result = last(tmp_path, BASE, HANDLES, step)
    finding = next(f for f in result.findings if f.rule == "constraint-tightened")
    assert finding.table == "cooks" and "handles" in finding.message


def test_a_local_table_a_trigger_feeds_given_a_nullable_column_is_safe(tmp_path: Path) -> None:
    step = handles_rebuilt("handle TEXT NOT NULL UNIQUE, cook_id TEXT NOT NULL, note TEXT")
    assert last(tmp_path, BASE, HANDLES, step).verdict != "breaking"


REVIEWED = Path(__file__).parent / "reviewed"


@pytest.mark.parametrize(
    "folder", sorted(p.name for p in REVIEWED.iterdir() if p.is_dir()), ids=str
)
def test_reviewed_histories(folder: str) -> None:
    """Minimal histories from reviews (tests/reviewed/README.md): brk_* break, safe_* do not."""
    results = lint_migrations(load_migrations(REVIEWED / folder))
    breaking = [r.version for r in results if r.verdict == "breaking"]
    assert bool(breaking) == folder.startswith("brk_"), [r.findings for r in results]


BACKFILLED = "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, updated_at TEXT);"


@pytest.mark.parametrize(
    ("step", "verdict"),
    [
        (
            "ALTER TABLE t ADD COLUMN flag INTEGER NOT NULL DEFAULT 1; UPDATE t SET flag = 1;",
            "additive",
        ),
        (
            "ALTER TABLE t ADD COLUMN flag INTEGER NOT NULL DEFAULT 1; UPDATE t SET flag = 0;",
            "breaking",
        ),
        (
            "ALTER TABLE t ADD COLUMN flag INTEGER DEFAULT 1; UPDATE t SET flag = 1, name = name;",
            "breaking",
        ),
    ],
)
def test_a_new_column_backfilled_with_its_own_default_changes_nothing(
    tmp_path: Path, step: str, verdict: str
) -> None:
    assert last(tmp_path, BACKFILLED, step).verdict == verdict


def test_a_backfill_that_fires_an_update_trigger_is_a_rewrite(tmp_path: Path) -> None:
    """The UPDATE fires the table's trigger: each device stamps its own upgrade time."""
    touch = (
        "CREATE TRIGGER t_touch AFTER UPDATE ON t BEGIN"
        " UPDATE t SET updated_at = CURRENT_TIMESTAMP WHERE id = new.id; END;"
    )
    step = "ALTER TABLE t ADD COLUMN flag INTEGER NOT NULL DEFAULT 1; UPDATE t SET flag = 1;"
    assert ("data-rewrite", "t", None) in hits(last(tmp_path, BACKFILLED + touch, step))


DANCE = (
    "ALTER TABLE recipes RENAME COLUMN notes TO notes_old;"
    " ALTER TABLE recipes ADD COLUMN notes {type};"
)


@pytest.mark.parametrize(
    ("copy", "expected"),
    [
        ("UPDATE recipes SET notes = notes_old; ALTER TABLE recipes DROP COLUMN notes_old;", set()),
        (  # two columns made again at once
            "ALTER TABLE recipes RENAME COLUMN title TO title_old;"
            " ALTER TABLE recipes ADD COLUMN title TEXT NOT NULL DEFAULT '';"
            " UPDATE recipes SET notes = notes_old, title = title_old;"
            " ALTER TABLE recipes DROP COLUMN notes_old;"
            " ALTER TABLE recipes DROP COLUMN title_old;",
            {("default-changed", "recipes", "title")},
        ),
        (
            "UPDATE recipes SET notes = trim(notes_old);"
            " ALTER TABLE recipes DROP COLUMN notes_old;",
            {("data-rewrite", "recipes", None), ("rename-column", "recipes", None)},
        ),
        (
            "UPDATE recipes SET notes = notes_old WHERE rating > 2;"
            " ALTER TABLE recipes DROP COLUMN notes_old;",
            {("data-rewrite", "recipes", None), ("rename-column", "recipes", None)},
        ),
        (  # the staging column kept: each replica fills it with what it held at upgrade
            "UPDATE recipes SET notes = notes_old;",
            {("data-rewrite", "recipes", None), ("rename-column", "recipes", None)},
        ),
        (  # another column's values copied in
            "UPDATE recipes SET notes = title; ALTER TABLE recipes DROP COLUMN notes_old;",
            {("data-rewrite", "recipes", None), ("rename-column", "recipes", None)},
        ),
    ],
)
def test_a_column_made_again_in_place_keeps_its_values(
    tmp_path: Path, copy: str, expected: set[tuple[str, str, str | None]]
) -> None:
    """Rename away, add again, copy back whole, drop the old: no value moved."""
    result = last(tmp_path, BASE, DANCE.format(type="TEXT") + " " + copy)
    assert {h for h in hits(result) if h[0] != "add-column"} == expected


def test_a_column_made_again_with_another_type_is_a_type_change(tmp_path: Path) -> None:
    copy = " UPDATE recipes SET notes = notes_old; ALTER TABLE recipes DROP COLUMN notes_old;"
    result = last(tmp_path, BASE, DANCE.format(type="INTEGER") + copy)
    assert hits(result) == {("type-change", "recipes", "notes")}


def test_a_copy_back_that_fires_an_update_trigger_is_a_rewrite(tmp_path: Path) -> None:
    touch = (
        "CREATE TRIGGER recipes_touch AFTER UPDATE ON recipes BEGIN"
        " UPDATE recipes SET rating = rating + 1 WHERE recipe_id = new.recipe_id; END;"
    )
    copy = " UPDATE recipes SET notes = notes_old; ALTER TABLE recipes DROP COLUMN notes_old;"
    result = last(tmp_path, BASE + touch, DANCE.format(type="TEXT") + copy)
    assert ("data-rewrite", "recipes", None) in hits(result)


def test_a_history_with_mobile_platform_collations_is_linted(tmp_path: Path) -> None:
    """Room's LOCALIZED and GRDB's Swift collations: SQLite alone cannot create such
    tables, so the lint used to stop (exit 2) on the whole history."""
    first = (
        "CREATE TABLE `groups` (`id` INTEGER PRIMARY KEY NOT NULL,"
        " `title` TEXT NOT NULL COLLATE LOCALIZED);"
        ' CREATE TABLE "author" ("id" TEXT PRIMARY KEY NOT NULL,'
        ' "name" TEXT NOT NULL COLLATE swiftLocalizedCaseInsensitiveCompare);'
    )
    result = last(tmp_path, first, 'CREATE UNIQUE INDEX "author_name" ON "author" ("name");')
    assert ("constraint-tightened", "author", "name") in hits(result)


def test_a_column_added_to_a_table_not_replicated_before_says_so(tmp_path: Path) -> None:
    """No older client sends ops on such a table: none are skipped, none get NULL."""
    rebuild = (
        "CREATE TABLE log_new (id INTEGER PRIMARY KEY, at TEXT, what TEXT);"
        " INSERT INTO log_new (at, what) SELECT at, what FROM log;"
        " DROP TABLE log; ALTER TABLE log_new RENAME TO log;"
    )
    result = last(tmp_path, "CREATE TABLE log (at TEXT, what TEXT);", rebuild)
    [found] = [f for f in result.findings if f.rule == "add-column"]
    assert found.message == (
        "log.id added; before v2, log is not replicated (has no single-column primary key),"
        " so v1 clients send no ops on it"
    )
    assert result.verdict == "breaking"  # (primary-key-change), as before


def test_a_rewrite_names_the_older_versions_that_have_the_table(tmp_path: Path) -> None:
    """work_orders exists from v2: a rewrite at v4 concerns v2-v3 clients, not v1's."""
    results = lint_steps(
        tmp_path,
        BASE,
        "CREATE TABLE work_orders (id INTEGER PRIMARY KEY, state TEXT);",
        "ALTER TABLE work_orders ADD COLUMN note TEXT;",
        "UPDATE work_orders SET state = upper(state);",
    )
    [rewrite] = [f for f in results[3].findings if f.rule == "data-rewrite"]
    assert "so v2-v3 and v4 clients diverge" in rewrite.message


LOCAL_INDEX_TRIGGER = """
CREATE VIRTUAL TABLE recipes_fts USING fts5(title, content='recipes', content_rowid='rowid');
CREATE TRIGGER recipes_au AFTER UPDATE ON recipes BEGIN
    INSERT INTO recipes_fts (recipes_fts, rowid, title) VALUES ('delete', old.rowid, old.title);
    INSERT INTO recipes_fts (rowid, title) VALUES (new.rowid, new.title);
END;
"""
STAMP_TRIGGER = """
CREATE TRIGGER recipes_stamp AFTER UPDATE ON recipes BEGIN
    UPDATE recipes SET rating = rating + 1 WHERE recipe_id = new.recipe_id;
END;
"""


@pytest.mark.parametrize(
    ("triggers", "rewrite"), [(LOCAL_INDEX_TRIGGER, False), (STAMP_TRIGGER, True)]
)
def test_a_backfill_to_the_new_columns_default_minds_only_triggers_sync_sees(
    tmp_path: Path, triggers: str, rewrite: bool
) -> None:
    """Rails' add_column + update_all on a searchable table: the UPDATE matches no row,
    and its triggers keep a local full-text index only (review BL-4). A trigger that
    writes the replicated table itself still makes it a rewrite."""
    step = (
        "ALTER TABLE recipes ADD COLUMN note2 TEXT DEFAULT 'n/a';"
        " UPDATE recipes SET note2 = 'n/a' WHERE note2 IS NULL;"
    )
    result = last(tmp_path, BASE + triggers, step)
    assert (("data-rewrite", "recipes", None) in hits(result)) == rewrite, result.findings
    assert result.verdict == ("breaking" if rewrite else "additive")


@pytest.mark.parametrize(
    ("step", "rewrite"),
    [
        ("UPDATE recipes SET title = title;", False),
        ('UPDATE recipes SET "title" = title, notes = [notes];', False),
        ("UPDATE recipes SET title = upper(title);", True),
        ("UPDATE recipes SET title = notes;", True),
        # A WHERE never true (review BX G2, Actual budget's ``WHERE type = NULL``).
        ("UPDATE recipes SET title = 'x' WHERE notes = NULL;", False),
        ("UPDATE recipes SET title = 'x' WHERE servings > 2 AND NULL <> recipes.notes;", False),
        ("UPDATE recipes SET title = 'x' WHERE 1 = 2;", False),
        ("DELETE FROM recipes WHERE notes = NULL;", False),
        ("UPDATE recipes SET title = 'x' WHERE 0 AND servings > 0;", False),  # (review BY F6)
        ("UPDATE recipes SET title = 'x' WHERE (notes = NULL);", False),
        ("UPDATE recipes SET title = 'x' WHERE (notes = NULL OR servings > 2);", True),
        ("UPDATE recipes SET title = 'x' WHERE servings > 0 AND 'A' <> 'a';", True),  # BAB C1
        ("UPDATE recipes SET title = 'x' WHERE notes IS NULL;", True),
        ("UPDATE recipes SET title = 'x' WHERE servings > 2 OR notes = NULL;", True),
        ("DELETE FROM recipes WHERE notes IS NULL;", True),
        ("DELETE FROM recipes WHERE servings > 0 AND 'A' <> 'a';", True),  # (literals kept)
    ],
)
def test_an_update_setting_columns_to_themselves_changes_no_row(
    tmp_path: Path, step: str, rewrite: bool
) -> None:
    """(review BL-5: it was a data-rewrite, "clients diverge")"""
    result = last(tmp_path, BASE, step)
    assert (("data-rewrite", "recipes", None) in hits(result)) == rewrite, result.findings


@pytest.mark.parametrize(
    ("was", "now", "effect"),
    [
        ("", "ON DELETE CASCADE", "deletes the rows referencing it when a newer client"),
        ("ON DELETE CASCADE", "ON DELETE SET NULL", "sets list_id to NULL in the rows"),
        ("ON DELETE SET NULL", "", "leaves the rows referencing it as they are when a newer"),
        ("", "ON DELETE RESTRICT", None),  # the engine acts on neither
    ],
)
def test_an_on_delete_action_changed_says_deletes_depend_on_the_clients_version(
    tmp_path: Path, was: str, now: str, effect: str | None
) -> None:
    """A rebuild only changing ``ON DELETE`` got no finding (review BAG-5): deletes made by
    older clients keep the old action, on every replica, upgraded ones too."""
    table = "CREATE TABLE {} (id TEXT PRIMARY KEY, list_id TEXT REFERENCES lists(id) {}, t TEXT);"
    result = last(
        tmp_path,
        "CREATE TABLE lists (id TEXT PRIMARY KEY);" + table.format("items", was),
        table.format("items_new", now)
        + " INSERT INTO items_new SELECT * FROM items; DROP TABLE items;"
        " ALTER TABLE items_new RENAME TO items;",
    )
    found = [f for f in result.findings if f.rule == "foreign-key-action-changed"]
    if effect is None:
        assert not found and result.verdict == "safe", result.findings
    else:
        assert [f.severity for f in found] == ["additive"], result.findings
        assert effect in found[0].message and "v1 clients do" in found[0].message


REQUESTS = """CREATE TABLE requests (
    id INTEGER PRIMARY KEY,
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    humidity REAL CHECK (humidity BETWEEN 0 AND 100),
    notes TEXT NOT NULL DEFAULT '',
    label TEXT COLLATE NOCASE CHECK (label IN ('a', 'b')),
    score INTEGER CHECK (score > 0 AND score < 10),
    balance REAL CHECK (balance > -100),
    state TEXT CHECK (state IN ('Open', 'Done'))
);"""


@pytest.mark.parametrize(
    ("step", "rewrite"),
    [
        # Values the column's own constraints never let in (review BAH-1).
        ("UPDATE requests SET status = 'closed' WHERE status = 'resolved';", False),
        ("DELETE FROM requests WHERE humidity < 0;", False),
        ("DELETE FROM requests WHERE humidity > 100 OR humidity < 0;", False),
        ("UPDATE requests SET notes = '' WHERE notes IS NULL;", False),
        ("UPDATE requests SET notes = 'x' WHERE status IN ('done', 'gone') AND id > 3;", False),
        ("DELETE FROM requests WHERE score >= 10;", False),
        ("DELETE FROM requests WHERE score > 9.5;", True),  # 9.7 is held
        # Values they do let in: a rewrite as before.
        ("UPDATE requests SET status = 'closed' WHERE status = 'open';", True),
        ("UPDATE requests SET status = 'closed' WHERE status <> 'resolved';", True),
        ("DELETE FROM requests WHERE humidity < 0.5;", True),
        ("DELETE FROM requests WHERE humidity IS NULL;", True),
        ("DELETE FROM requests WHERE label = 'A';", True),  # NOCASE: 'a' is held
        ("DELETE FROM requests WHERE score > 4 AND score < 5;", True),  # 4.5 is held
        ("DELETE FROM requests WHERE balance < -99.5;", True),  # -99.75 (review BAI-2)
        ("DELETE FROM requests WHERE balance < -100;", False),
        ('DELETE FROM requests WHERE state = "Done";', True),  # a string, as written (BAI-3)
        ("UPDATE requests SET notes = 'x' WHERE state = 'done';", False),
        # Not read: functions, two columns, text ordered.
        ("DELETE FROM requests WHERE lower(status) = 'resolved';", True),
        ("DELETE FROM requests WHERE status = notes;", True),
        ("DELETE FROM requests WHERE status > 'p';", True),
    ],
)
def test_a_where_the_columns_constraints_rule_out_changes_no_row(
    tmp_path: Path, step: str, rewrite: bool
) -> None:
    """A clean-up of values the table never held (a normalisation of a status the
    CHECK refuses, a backfill of NULLs in a NOT NULL column) writes no row: it was
    a data-rewrite, and a released one could never be accepted (review BAH-1)."""
    result = last(tmp_path, REQUESTS, step)
    assert (("data-rewrite", "requests", None) in hits(result)) == rewrite, result.findings


def test_a_where_is_not_ruled_out_by_constraints_a_migration_turned_off(tmp_path: Path) -> None:
    """Rows a rebuild copied under ``PRAGMA ignore_check_constraints`` may break the
    CHECK: a later clean-up of such values is a rewrite (review BAI-4)."""
    results = lint_steps(
        tmp_path,
        "CREATE TABLE tasks (id INTEGER PRIMARY KEY, status TEXT NOT NULL DEFAULT 'open');",
        "PRAGMA ignore_check_constraints = ON;"
        " CREATE TABLE tasks_new (id INTEGER PRIMARY KEY,"
        " status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'done')));"
        " INSERT INTO tasks_new SELECT * FROM tasks; DROP TABLE tasks;"
        " ALTER TABLE tasks_new RENAME TO tasks; PRAGMA ignore_check_constraints = OFF;",
        "UPDATE tasks SET status = 'done' WHERE status = 'closed';",
    )
    assert "data-rewrite" in {f.rule for f in results[2].findings}, results[2].findings


@pytest.mark.parametrize(("where", "rewrite"), [("val = '1'", True), ("val = 1", False)])
def test_a_strict_any_column_holds_text_apart(tmp_path: Path, where: str, rewrite: bool) -> None:
    """In a STRICT table an ANY column keeps '1' as text, which its CHECK lets in (BAI-5)."""
    result = last(
        tmp_path,
        "CREATE TABLE prefs (id INTEGER PRIMARY KEY,"
        " val ANY NOT NULL CHECK (val NOT IN (0, 1))) STRICT;",
        f"UPDATE prefs SET val = 'yes' WHERE {where};",
    )
    assert (("data-rewrite", "prefs", None) in hits(result)) == rewrite, result.findings


@pytest.mark.parametrize(
    ("again", "rule", "said"),
    [
        ("TEXT CHECK (type IN ('a', 'b'))", "constraint-tightened", "gained CHECK"),
        ("TEXT NOT NULL DEFAULT 'a'", "not-null-added", "is now NOT NULL"),
        ("TEXT CHECK (type IS NOT NULL)", "not-null-added", "is now NOT NULL"),
        ("TEXT", None, ""),
        ("TEXT CHECK (length(type) < 99)", "constraint-tightened", "gained CHECK"),
        ("INTEGER", "type-change", "changed type TEXT -> INTEGER"),
    ],
)
def test_a_column_added_again_is_judged_against_the_versions_that_still_have_it(
    tmp_path: Path, again: str, rule: str | None, said: str
) -> None:
    """Actual budget drops accounts.type (TEXT) and adds it back as INTEGER two
    releases later (review BX G1): v1 clients still have it, as TEXT; only v2 lacks
    it. So too NOT NULL or a CHECK: v1 clients still write NULL, or any text, there,
    and v3 refuses their edits for good (review BY F3: read additive)."""
    results = lint_steps(
        tmp_path,
        "CREATE TABLE accounts (id TEXT PRIMARY KEY, name TEXT, type TEXT);",
        "ALTER TABLE accounts DROP COLUMN type;",
        f"ALTER TABLE accounts ADD COLUMN type {again};",
    )
    found = {f.rule: f.message for f in results[2].findings}
    assert found["add-column"].startswith("v2 clients skip ops on accounts.type")
    assert results[2].verdict == ("breaking" if rule else "additive"), found
    if rule:
        assert said in found[rule] and "v1" in found[rule], found
        assert "added again at v3" in found[rule]
    if rule == "type-change":
        assert "v1 and v3 clients each refuse" in found[rule]


def test_a_column_named_in_a_check_string_is_not_under_it(tmp_path: Path) -> None:
    """Its name in another column's CHECK string is no CHECK on it (review BAQ F3)."""
    results = lint_steps(
        tmp_path,
        "CREATE TABLE items (id INTEGER PRIMARY KEY, note TEXT,"
        " kind TEXT CHECK (kind IN ('note', 'task')));",
        "ALTER TABLE items DROP COLUMN note;",
        "ALTER TABLE items ADD COLUMN note TEXT;",
    )
    assert results[2].verdict == "additive", results[2].findings
    # Nor a function named like it (review BAR R1).
    results = lint_steps(
        tmp_path / "f",
        "CREATE TABLE items (id INTEGER PRIMARY KEY, title TEXT CHECK (length(title) < 9),"
        " length INTEGER);",
        "ALTER TABLE items DROP COLUMN length;",
        "ALTER TABLE items ADD COLUMN length INTEGER;",
    )
    assert results[2].verdict == "additive", results[2].findings


@pytest.mark.parametrize(
    ("was", "again", "rule"),
    [
        ("qty >= 0", "0 <= qty", None),  # written another way (review BAQ F4)
        ("qty IN (1, 2)", "qty IN (2, 1)", None),
        ("qty BETWEEN 0 AND 9", "qty >= 0 AND qty <= 9", None),
        ("qty >= 0", "qty >= 10", "constraint-tightened"),
        ("qty >= 0", "qty >= -10", "constraint-loosened"),  # v1 refuses v3's (BAQ D1)
    ],
)
def test_a_column_added_again_under_another_check_is_judged_as_a_check_written_again(
    tmp_path: Path, was: str, again: str, rule: str | None
) -> None:
    results = lint_steps(
        tmp_path,
        f"CREATE TABLE items (id INTEGER PRIMARY KEY, qty INTEGER CHECK ({was}));",
        "ALTER TABLE items DROP COLUMN qty;",
        f"ALTER TABLE items ADD COLUMN qty INTEGER CHECK ({again});",
    )
    rules = {f.rule for f in results[2].findings} - {"add-column"}
    assert rules == ({rule} if rule else set()), results[2].findings


def test_a_column_of_a_table_made_again_is_judged_against_the_first_table(
    tmp_path: Path,
) -> None:
    """The table dropped at v2 and made again at v3: v1 clients still write its
    TEXT column, which v4 adds back as INTEGER (review BY F3)."""
    results = lint_steps(
        tmp_path,
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT, kind TEXT);",
        "DROP TABLE notes;",
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT);",
        "ALTER TABLE notes ADD COLUMN kind INTEGER;",
    )
    found = {f.rule: f.message for f in results[3].findings}
    assert "v1 and v4 clients each refuse" in found["type-change"], found


@pytest.mark.parametrize("name", ["notes", "Notes"])
def test_a_table_made_again_with_its_column_stricter_is_breaking(tmp_path: Path, name: str) -> None:
    """In its CREATE TABLE (review BAQ F6), under any case of its name (BAQ F5)."""
    results = lint_steps(
        tmp_path,
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, qty INTEGER);",
        "DROP TABLE notes;",
        f"CREATE TABLE {name} (id INTEGER PRIMARY KEY, qty INTEGER NOT NULL CHECK (qty > 100));",
    )
    rules = {f.rule for f in results[2].findings}
    assert {"not-null-added", "constraint-tightened"} <= rules, results[2].findings


def test_a_partial_unique_made_plain_is_tightened_only(tmp_path: Path) -> None:
    """Dropping ``WHERE deleted_at IS NULL`` from a UNIQUE only refuses more rows: it was
    also constraint-loosened, "v2 clients may write rows repeating" (review BAD-4).
    The other way round loosens it."""
    table = "CREATE TABLE notes (id TEXT PRIMARY KEY, title TEXT, deleted_at TEXT);"
    partial = "CREATE UNIQUE INDEX notes_title ON notes(title) WHERE deleted_at IS NULL;"
    plain = "CREATE UNIQUE INDEX notes_title ON notes(title);"
    tighter = last(tmp_path / "a", table + partial, "DROP INDEX notes_title;" + plain)
    assert {f.rule for f in tighter.findings} == {"constraint-tightened"}, tighter.findings
    looser = last(tmp_path / "b", table + plain, "DROP INDEX notes_title;" + partial)
    assert "constraint-loosened" in {f.rule for f in looser.findings}, looser.findings


def notes_rebuilt(tmp_path: Path, was: str, now: str) -> MigrationLint:
    """The lint of a rebuild of ``notes (id, <was>)`` into ``notes (id, <now>)``."""
    table = "CREATE TABLE notes (id INTEGER PRIMARY KEY, {});"
    rebuild = (
        table.replace("notes", "notes_new").format(now)
        + "INSERT INTO notes_new SELECT * FROM notes; DROP TABLE notes;"
        " ALTER TABLE notes_new RENAME TO notes;"
    )
    return last(tmp_path, table.format(was), rebuild)


@pytest.mark.parametrize(
    ("was", "now", "same"),
    [
        ("title TEXT COLLATE NOCASE CHECK (title IN ('open', 'done'))",
         "title TEXT COLLATE NOCASE CHECK (title IN ('Open', 'DONE'))", True),
        ("title TEXT CHECK (title IN ('1', '2', '3'))",
         "title TEXT CHECK (title IN (1, 2, 3))", True),
        ("title INTEGER CHECK (title IN (1, 2, 3))",
         "title INTEGER CHECK (title IN ('3', 2, 1))", True),
        ("title TEXT CHECK (title IN ('open', 'done'))",
         "title TEXT CHECK (title IN ('open', 'done', 'later')) CHECK (title <> 'later')", True),
        ("title TEXT CHECK (title IN ('open', 'done'))",
         "title TEXT CHECK (title IN ('open', 'shut'))", False),
        ("title TEXT CHECK (title IN ('open', 'done'))",
         "title TEXT CHECK (title IN ('Open', 'done'))", False),
        ("title TEXT CHECK (title < 'b')", "title TEXT CHECK (title < 'c')", False),
        ("title INTEGER CHECK (title IN (-1, 0, 1))",
         "title INTEGER CHECK (title IN ('-1', '0', '1'))", True),  # a sign (review BAB B1)
        # Literals SQLite computes (review BY F1): no value tried stands for them.
        ("title INTEGER CHECK (title IN (0, 3600, 3600 + 3600))",
         "title INTEGER CHECK (title IN (0, 3600, 3600 + 1800))", False),
        ("title INTEGER CHECK (title <> 50 - 10)", "title INTEGER CHECK (title <> 50 - 20)", False),
        ("title INTEGER CHECK (title <> 0x8000000000000000)",
         "title INTEGER CHECK (title <> 0x8000000000000001)", False),
        ("title TEXT CHECK (length(title) = 200001)",
         "title TEXT CHECK (length(title) = 200002)", False),
    ],
)  # fmt: skip
def test_a_check_with_other_literals_that_compares_by_equality_is_the_same_where_sqlite_agrees(
    tmp_path: Path, was: str, now: str, same: bool
) -> None:
    """Equality and IN tell rows apart only at a literal, and every literal of both
    sides is tried, so SQLite agreeing on all of them proves the same CHECK (review
    BW-6: a NOCASE list respelled in other cases, numbers for their text on TEXT)."""
    result = notes_rebuilt(tmp_path, was, now)
    assert (result.verdict == "safe") is same, result.findings


@pytest.mark.parametrize(
    ("was", "now"),
    [("title TEXT CHECK (title IS NOT NULL)", "title TEXT NOT NULL"),
     ("title TEXT NOT NULL", 'title TEXT CHECK ("Title" NOT NULL)')],
)  # fmt: skip
def test_not_null_spelled_as_a_check_is_not_null(tmp_path: Path, was: str, now: str) -> None:
    """Neither version can hold or send a NULL: no finding (it was not-null-added and
    constraint-loosened, or constraint-tightened: review BS)."""
    result = notes_rebuilt(tmp_path, was, now)
    assert result.verdict == "safe", hits(result)


def test_a_check_that_a_column_is_not_null_is_not_null_added(tmp_path: Path) -> None:
    result = notes_rebuilt(tmp_path, "title TEXT", "title TEXT CHECK (title IS NOT NULL)")
    assert hits(result) == {("not-null-added", "notes", "title")}


@pytest.mark.parametrize(
    ("was", "now"),
    [("title TEXT CHECK (title IS NOT NULL AND length(title) > 0)",
      "title TEXT NOT NULL CHECK (length(title) > 0)"),
     ("title TEXT NOT NULL", "title TEXT CHECK (NOT (title IS NULL))"),
     ("title TEXT, body TEXT, CHECK (title IS NOT NULL AND body IS NOT NULL)",
      "title TEXT NOT NULL, body TEXT NOT NULL"),
     ("title TEXT NOT NULL CHECK (title <> '' OR title = 'x')",
      "title TEXT CHECK (title IS NOT NULL AND (title <> '' OR title = 'x'))")],
)  # fmt: skip
def test_not_null_moved_in_or_out_of_a_larger_check_is_no_change(
    tmp_path: Path, was: str, now: str
) -> None:
    """length(NULL) > 0 is NULL, which a CHECK lets through: the NOT NULL term is the
    column's NOT NULL, the rest is the same CHECK (review BT-2)."""
    result = notes_rebuilt(tmp_path, was, now)
    assert result.verdict == "safe", hits(result)


def test_an_or_is_no_and_of_not_null_terms(tmp_path: Path) -> None:
    """title IS NOT NULL OR body IS NOT NULL holds neither NOT NULL."""
    either = "title TEXT, body TEXT, CHECK (title IS NOT NULL OR body IS NOT NULL)"
    result = notes_rebuilt(tmp_path, "title TEXT, body TEXT", either)
    assert {rule for rule, _, _ in hits(result)} == {"constraint-tightened"}


def test_messages_name_every_older_version_concerned(tmp_path: Path) -> None:
    """Review BY F7: a table or column dropped and made again. The messages named the
    contiguous versions just before the migration, missing older ones (a column v1
    lacks, v2 has, v3 drops and v4 adds again: "v3 clients skip ops", v1's too) or
    naming ones that had it all along (a table v2 dropped and v3 made again: "v1-v2
    clients lack table notes", though v1 has it)."""
    column = lint_steps(
        tmp_path / "column",
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT);",
        "ALTER TABLE notes ADD COLUMN kind TEXT;",
        "ALTER TABLE notes DROP COLUMN kind;",
        "ALTER TABLE notes ADD COLUMN kind TEXT;",
        "ALTER TABLE notes DROP COLUMN kind;",
    )
    [added] = column[3].findings
    assert added.message.startswith("v1 and v3 clients skip ops on notes.kind")
    [dropped] = column[4].findings
    assert dropped.message.startswith("v2 and v4 clients still write notes.kind")
    table = lint_steps(
        tmp_path / "table",
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT);",
        "DROP TABLE notes;",
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT);",
        "CREATE TABLE tags (id INTEGER PRIMARY KEY);",
        "DROP TABLE notes;",
    )
    assert [f.message.split(":")[0] for f in table[2].findings] == ["v2 clients lack table notes"]
    assert [f.message.split(",")[0] for f in table[4].findings] == [
        "v1 and v3-v4 clients still write notes"
    ]


@pytest.mark.parametrize(
    ("was", "now", "said"),
    [
        # Review BAD-7: a REAL column made INTEGER keeps `DEFAULT 0`: "default 0 -> 0".
        (
            "REAL NOT NULL DEFAULT 0",
            "INTEGER NOT NULL DEFAULT 0",
            "0 -> 0 (stored as real 0.0, now integer 0)",
        ),
        # Review BAS-11: spelled alike but for case.
        (
            "NUMERIC DEFAULT TRUE",
            "TEXT DEFAULT true",
            "TRUE -> true (stored as integer 1, now text '1')",
        ),
    ],
)
def test_a_default_spelled_the_same_in_another_type_says_what_is_stored(
    tmp_path: Path, was: str, now: str, said: str
) -> None:
    result = last(
        tmp_path,
        f"CREATE TABLE cards (id TEXT PRIMARY KEY, rank {was});",
        f"CREATE TABLE cards_new (id TEXT PRIMARY KEY, rank {now});\n"
        "INSERT INTO cards_new SELECT id, rank FROM cards;\n"
        "DROP TABLE cards;\nALTER TABLE cards_new RENAME TO cards;",
    )
    [changed] = [f for f in result.findings if f.rule == "default-changed"]
    assert f"default {said}:" in changed.message


def test_a_unique_implied_by_one_over_new_columns_is_no_tightening(tmp_path: Path) -> None:
    """Review BAT-6: `UNIQUE (carrier, tracking)` beside a new `UNIQUE (tracking)` on a
    new column refuses nothing older clients write (their rows hold NULL there)."""
    result = last(
        tmp_path,
        "CREATE TABLE parcels (id INTEGER PRIMARY KEY, carrier TEXT, weight REAL);",
        "ALTER TABLE parcels ADD COLUMN tracking TEXT;\n"
        "CREATE UNIQUE INDEX ux_tracking ON parcels (tracking);\n"
        "CREATE UNIQUE INDEX ux_carrier_tracking ON parcels (carrier, tracking);",
    )
    assert result.verdict == "additive", [f.message for f in result.findings]
    # Beside an old column's new UNIQUE instead, the wider one is still a tightening.
    tightened = last(
        tmp_path / "old",
        "CREATE TABLE parcels (id INTEGER PRIMARY KEY, carrier TEXT, tracking TEXT);",
        "CREATE UNIQUE INDEX ux_tracking ON parcels (tracking);\n"
        "CREATE UNIQUE INDEX ux_carrier_tracking ON parcels (carrier, tracking);",
    )
    assert tightened.verdict == "breaking"
    # A generated copy of a TEXT key in an INTEGER column is no key: '7' and '007'
    # both become 7 there (review BAU-1: 4f5f993 took it for the key and missed that).
    generated = last(
        tmp_path / "generated",
        "CREATE TABLE parts (sku TEXT PRIMARY KEY, name TEXT);",
        "ALTER TABLE parts ADD COLUMN sku_n INTEGER GENERATED ALWAYS AS (sku) VIRTUAL;\n"
        "CREATE UNIQUE INDEX ux_sku_n ON parts (name, sku_n);",
    )
    assert generated.verdict == "breaking"
    # An INTEGER copy of an INTEGER key is the key: it never collides (review BAT-6).
    copy = last(
        tmp_path / "copy",
        "CREATE TABLE invoices (id INTEGER PRIMARY KEY, customer TEXT, total INTEGER);",
        "ALTER TABLE invoices ADD COLUMN num INTEGER GENERATED ALWAYS AS (id) VIRTUAL;\n"
        "CREATE UNIQUE INDEX ux_cust_num ON invoices (customer, num);",
    )
    assert copy.verdict != "breaking", [f.message for f in copy.findings]


def test_a_new_key_whose_condition_reads_old_columns_is_a_tightening(tmp_path: Path) -> None:
    """Review BAU-2: `UNIQUE (sku) WHERE deleted_at IS NULL`, sku new: an older client
    that undeletes a row moves it into the index, onto another row's sku."""
    result = last(
        tmp_path,
        "CREATE TABLE items (id TEXT PRIMARY KEY, name TEXT, deleted_at TEXT);",
        "ALTER TABLE items ADD COLUMN sku TEXT;\n"
        "CREATE UNIQUE INDEX ux_sku ON items (sku) WHERE deleted_at IS NULL;",
    )
    assert result.verdict == "breaking"
    assert "constraint-tightened" in {f.rule for f in result.findings}


def test_a_partial_unique_condition_written_otherwise_is_no_change(tmp_path: Path) -> None:
    """Review BAU-5: `WHERE is_main IS 1` made `WHERE is_main = 1` holds for the same rows
    (NULL leaves a row out of the index as false does); it read as loosened and tightened."""
    result = last(
        tmp_path,
        "CREATE TABLE drivers (id INTEGER PRIMARY KEY, vehicle_id INTEGER, is_main INTEGER);\n"
        "CREATE UNIQUE INDEX one_main ON drivers (vehicle_id) WHERE is_main IS 1;",
        "DROP INDEX one_main;\n"
        "CREATE UNIQUE INDEX one_main ON drivers (vehicle_id) WHERE is_main = 1;",
    )
    assert result.verdict != "breaking", [f.message for f in result.findings]
    widened = last(
        tmp_path / "widened",
        "CREATE TABLE drivers (id INTEGER PRIMARY KEY, vehicle_id INTEGER, is_main INTEGER);\n"
        "CREATE UNIQUE INDEX one_main ON drivers (vehicle_id) WHERE is_main IS 1;",
        "DROP INDEX one_main;\n"
        "CREATE UNIQUE INDEX one_main ON drivers (vehicle_id) WHERE is_main >= 1;",
    )
    assert widened.verdict == "breaking"
