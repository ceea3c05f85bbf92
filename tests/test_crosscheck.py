"""Lint verdicts against what the matrix observed (harness.crosscheck)."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

import pytest
from folders import migrations_folder

from harness.crosscheck import (
    documented_breaks,
    how_to_accept,
    lint_matrix_disagreements,
    relay_accepted,
    within_version_breaks,
)
from harness.lint import lint_migrations, lint_to_json
from nexus_core.db.migrations import load_migrations


def cell(local: int, peer: int, observed: str) -> dict[str, Any]:
    return {"local": local, "peer": peer, "observed": observed}


def matrix(versions: list[int], broken: Collection[tuple[int, int]] = ()) -> list[dict[str, Any]]:
    """Every pair: diagonal full, pairs in ``broken`` broken, the rest partial."""
    return [
        cell(a, b, "full" if a == b else "broken" if (a, b) in broken else "partial")
        for a in versions
        for b in versions
    ]


def lint_entry(version: int, verdict: str, *rules: str) -> dict[str, Any]:
    findings = [
        {"rule": rule, "table": "tasks", "column": "notes", "message": "...", "severity": verdict}
        for rule in rules
    ]
    return {"version": version, "verdict": verdict, "findings": findings}


def test_agreement_reports_nothing() -> None:
    lint = [lint_entry(2, "additive", "add-column"), lint_entry(3, "breaking", "drop-column")]
    cells = matrix([1, 2, 3], broken={(1, 3), (3, 1), (2, 3), (3, 2)})
    assert lint_matrix_disagreements(lint, cells) == []


def test_breaking_lint_but_partial_matrix_is_explained_by_parked_ops() -> None:
    lint = [lint_entry(2, "additive", "add-column"), lint_entry(3, "breaking", "drop-column")]
    [found] = lint_matrix_disagreements(lint, matrix([1, 2, 3]))
    assert found["version"] == 3
    assert found["lint_verdict"] == "breaking"
    assert found["matrix"] == "partial"
    assert found["rules"] == ["drop-column"]
    assert found["cells"] == ["v1-v3", "v2-v3", "v3-v1", "v3-v2"]
    # The newer client parks the ops on a dropped column, not the older (review BP-3).
    assert "the newer client those on a dropped table or column" in found["explanation"]
    assert "invisible to the other" in found["explanation"]


def test_breaking_lint_but_full_matrix_says_the_traffic_missed_it() -> None:
    lint = [lint_entry(2, "breaking", "type-change")]
    cells = [cell(a, b, "full") for a in (1, 2) for b in (1, 2)]
    [found] = lint_matrix_disagreements(lint, cells)
    assert found["matrix"] == "full"
    assert "never touched" in found["explanation"]
    assert "type affinity" in found["explanation"]


def test_a_later_migrations_partial_cells_do_not_colour_an_earlier_ones_explanation() -> None:
    """v2 rewrites rows (no cell broken, its own cells full), v3 adds a column (the
    cells across both partial): v2's explanation said "the clients skipped ops"
    (review BAH-6)."""
    lint = [lint_entry(2, "breaking", "data-rewrite"), lint_entry(3, "additive", "add-column")]
    cells = [
        cell(a, b, "full" if {a, b} <= {1, 2} or a == b else "partial")
        for a in (1, 2, 3)
        for b in (1, 2, 3)
    ]
    [found] = lint_matrix_disagreements(lint, cells)
    assert found["version"] == 2 and found["matrix"] == "full"
    assert found["cells"] == ["v1-v2", "v1-v3", "v2-v1", "v3-v1"]
    assert found["explanation"].startswith("between v1 and v2 only (v1-v2, v2-v1): the matrix")
    assert "never touched" in found["explanation"]
    assert "skipped ops" not in found["explanation"]


def test_additive_lint_but_broken_cell_points_at_the_reasons() -> None:
    lint = [lint_entry(2, "additive", "add-column"), lint_entry(3, "safe")]
    [found] = lint_matrix_disagreements(lint, matrix([1, 2, 3], broken={(2, 1)}))
    assert found["version"] == 2
    assert found["lint_verdict"] == "additive"
    assert found["matrix"] == "broken"
    assert found["rules"] == ["add-column"]
    assert found["cells"] == ["v2-v1"]
    assert "static diff cannot see" in found["explanation"]
    assert "reasons" in found["explanation"]


def test_a_broken_cell_explained_by_a_breaking_migration_in_its_range_is_not_blamed_on_others() -> (
    None
):
    lint = [lint_entry(2, "additive", "add-column"), lint_entry(3, "breaking", "drop-table")]
    # v1-v3 crosses both migrations; the breaking one explains it.
    cells = matrix([1, 2, 3], broken={(1, 3), (3, 1)})
    assert lint_matrix_disagreements(lint, cells) == []


def test_a_trigger_writing_replicated_rows_explains_later_broken_cells() -> None:
    """InvokeAI's v1 updated_at triggers break every cell (review BX G3): the report
    blamed v2, "the static diff cannot see", though the lint saw v1."""
    lint = [
        lint_entry(1, "breaking", "trigger-writes-replicated"),
        lint_entry(2, "additive", "add-column"),
    ]
    cells = matrix([1, 2], broken={(1, 2), (2, 1)})
    assert lint_matrix_disagreements(lint, cells) == []
    lint[0] = lint_entry(1, "breaking", "drop-table")  # a break between versions only
    [found] = lint_matrix_disagreements(lint, cells)
    assert found["version"] == 2


def test_a_migration_with_no_crossing_cells_is_skipped() -> None:
    lint = [lint_entry(1, "breaking", "drop-column"), lint_entry(4, "breaking", "drop-column")]
    assert lint_matrix_disagreements(lint, matrix([1, 2, 3])) == []


def test_non_breaking_findings_of_a_breaking_migration_are_not_listed_as_its_rules() -> None:
    entry = lint_entry(2, "breaking", "rename-column")
    entry["findings"].append(
        {"rule": "add-index", "table": "tasks", "column": None, "message": "", "severity": "safe"}
    )
    [found] = lint_matrix_disagreements([entry], matrix([1, 2]))
    assert found["rules"] == ["rename-column"]


def test_a_table_no_row_reached_is_named_not_explained_away() -> None:
    lint = [lint_entry(2, "breaking", "rename-column")]
    cells = matrix([1, 2])
    for found_cell in cells:
        found_cell["untested_tables"] = (
            ["notes"] if found_cell["local"] != found_cell["peer"] else []
        )
    [found] = lint_matrix_disagreements(lint, cells)
    assert found["explanation"].startswith("the matrix wrote no row to notes")


def test_a_later_breaking_migration_does_not_hide_an_earlier_ones_disagreement() -> None:
    """v2 drops a column (the matrix sees partial across it); v3 tightens a CHECK and
    breaks every cell across it, v1-v3 too: that proves nothing about v2."""
    lint = [lint_entry(2, "breaking", "drop-column"), lint_entry(3, "breaking", "check-added")]
    across_v3 = {(a, 3) for a in (1, 2)} | {(3, a) for a in (1, 2)}
    [found] = lint_matrix_disagreements(lint, matrix([1, 2, 3], broken=across_v3))
    assert (found["version"], found["matrix"]) == (2, "partial")
    assert found["cells"] == ["v1-v2", "v2-v1"]


def test_a_break_is_documented_by_a_no_sync_cell_across_it() -> None:
    breaking = [2, 3]  # (v4, additive, is not)
    assert documented_breaks(breaking, [(1, 2, "broken"), (3, 3, "broken")]) == [2]
    assert documented_breaks(breaking, [(4, 2, "broken")]) == [3]  # v2 is not across (2, 4)
    # Across both: it may be documented for either, so it accepts neither.
    assert documented_breaks(breaking, [(1, 4, "broken"), (3, 1, "broken")]) == []
    assert documented_breaks(breaking, [(2, 1, "broken"), (3, 2, "broken")]) == [2, 3]
    assert documented_breaks(breaking, [(1, 2, "partial"), (2, 3, "compatible")]) == []


def test_a_clock_default_partial_in_the_matrix_does_not_claim_no_divergence() -> None:
    """A default read from the clock diverges in the field; the matrix's traffic does
    not wait for the clock, so its partial cells must not read as "never diverged"."""
    lint = [lint_entry(2, "breaking", "nondeterministic-default")]
    [found] = lint_matrix_disagreements(lint, matrix([1, 2]))
    assert found["matrix"] == "partial"
    assert "never diverged" not in found["explanation"]
    assert "read from the clock or random()" in found["explanation"]


def test_how_to_accept_a_break_names_the_rows_that_cross_another_and_the_row_to_add() -> None:
    """Under --pairs latest every documented row across an early break crosses the later
    one too; nothing said so, or which row to add (review BR-1)."""
    from harness.crosscheck import how_to_accept

    versions = [1, 2, 3, 4, 5]
    rows = [(1, 5, "broken"), (5, 1, "broken"), (4, 5, "broken"), (5, 5, "full")]
    assert documented_breaks([3, 5], rows) == [5]
    hint = how_to_accept(3, [3, 5], rows, versions)
    assert "(v1 | v5, v5 | v1) also cross v5, so none accepts v3 alone" in hint
    # No run (the plugin's lint test): either direction of the migration's own pair.
    assert "add `| v3 | v2 | ❌ No sync |` or `| v2 | v3 | ❌ No sync |`" in hint
    assert documented_breaks([3, 5], [*rows, (2, 3, "broken")]) == [3, 5]
    assert documented_breaks([3, 5], [*rows, (3, 2, "broken")]) == [3, 5]
    alone = how_to_accept(3, [3], [(5, 5, "full")], versions)
    assert alone.startswith("no documented No sync row crosses v3")
    # Which side a NOT NULL column breaks, said for that rule only (review BAA H8).
    assert "newer client's side" not in how_to_accept(3, [3], [], versions, rules=["data-rewrite"])
    required = how_to_accept(3, [3], [], versions, rules=["add-not-null-without-default"])
    assert "(a tightened constraint breaks the newer client's side, the first)" in required
    for rule in ("not-null-added", "constraint-tightened"):  # (review BAC-9)
        assert "newer client's side" in how_to_accept(3, [3], [], versions, rules=[rule])
    # A run shows the direction that breaks: a cell across v3 alone it saw broken
    # (a NOT NULL column added breaks the newer client's side only, review BS-2).
    seen = [(2, 3, "partial"), (3, 2, "broken"), (1, 5, "broken")]
    directed = how_to_accept(3, [3, 5], rows, versions, observed=seen, rules=["x"])
    assert "add `| v3 | v2 | ❌ No sync |` (a cell the run saw broken)" in directed
    # A drop the run saw partial only: no No sync row can accept it.
    partial = [(2, 3, "partial"), (3, 2, "partial")]
    dropped = how_to_accept(3, [3], [], versions, observed=partial, rules=["drop-table"])
    assert "change the migration while it is unreleased" in dropped
    assert "No sync |" not in dropped


def test_how_to_accept_names_the_line_where_no_row_can_accept() -> None:
    """A first migration's break (no older client: BAK-5), and one the run saw in no
    broken cell, where a No sync row would fail its cell (BAK-1)."""
    first = how_to_accept(1, [1], [], [1, 2])
    assert "`Accepted breaks: v1`" in first
    unseen = how_to_accept(
        3, [2, 3], [(1, 2, "broken")], [1, 2, 3], observed=[(2, 3, "full"), (3, 2, "partial")]
    )
    assert "`Accepted breaks: v3`" in unseen and "No sync |" not in unseen
    seen = how_to_accept(3, [3], [], [1, 2, 3], observed=[(2, 3, "broken")])
    assert "`| v2 | v3 | ❌ No sync |`" in seen and "`Accepted breaks: v3`" in seen
    # The plugin has no run: both ways, also behind rows that cross another break (BAK-2).
    behind = how_to_accept(3, [2, 3], [(1, 3, "broken")], [1, 2, 3])
    assert "`Accepted breaks: v3`" in behind


def test_a_relay_failure_an_accepted_break_explains_is_accepted() -> None:
    lint = [lint_entry(1, "breaking", "trigger-writes-replicated"), lint_entry(3, "breaking")]
    assert relay_accepted(1, 2, [1], lint) == [1]  # breaks replicas of one version
    assert relay_accepted(1, 2, [], lint) == []  # not accepted: still a failure
    assert relay_accepted(2, 3, [3], lint) == [3]  # between the relay and the peer
    assert relay_accepted(3, 4, [1, 3], [lint_entry(3, "breaking", "drop-column")]) == []


def test_a_trigger_dropped_since_explains_nothing_between_later_clients(tmp_path: Path) -> None:
    """Review BY F5: a v1 trigger writing replicated rows, dropped at v3, hid a break
    between v3 and v4 clients (the matrix's broken cells read as explained by v1)."""
    folder = migrations_folder(
        tmp_path,
        "CREATE TABLE notes (note_id TEXT PRIMARY KEY, body TEXT);\n"
        "CREATE TABLE audit (audit_id TEXT PRIMARY KEY, note TEXT);\n"
        "CREATE TRIGGER log_note AFTER INSERT ON notes BEGIN\n"
        "  INSERT INTO audit (audit_id, note) VALUES (NEW.note_id || '-a', NEW.note_id);\nEND;",
        "ALTER TABLE notes ADD COLUMN title TEXT;",
        "DROP TRIGGER log_note;",
        "ALTER TABLE notes ADD COLUMN pinned INTEGER;",
    )
    lint = lint_to_json(lint_migrations(load_migrations(folder)))["lint"]
    held = {
        entry["version"]: finding.get("within_versions")
        for entry in lint
        for finding in entry["findings"]
        if finding["rule"] == "trigger-writes-replicated"
    }
    assert held == {1: [1, 2], 3: []}  # run by v1 and v2 clients; the drop runs nothing
    assert within_version_breaks(lint) == {1: frozenset({1, 2}), 3: frozenset()}
    cells = matrix([1, 2, 3, 4], broken={(2, 3), (3, 2), (3, 4), (4, 3)})
    [found] = lint_matrix_disagreements(lint, cells)
    assert (found["version"], found["cells"]) == (4, ["v3-v4", "v4-v3"])
    # A v2 client still runs it: a failure with one is explained, by v1 alone.
    assert lint_matrix_disagreements(lint, matrix([2, 4], broken={(2, 4)})) == []
    assert relay_accepted(2, 4, [1], lint) == [1]
    assert relay_accepted(3, 4, [1], lint) == []


def test_a_lint_document_without_trigger_versions_reads_as_before() -> None:
    """An older release's JSON: the trigger holds from its migration on."""
    lint = [lint_entry(2, "breaking", "trigger-writes-replicated"), lint_entry(4, "additive")]
    assert within_version_breaks(lint) == {2: frozenset({2, 3, 4})}


TRIGGER = (
    "CREATE TRIGGER {name} AFTER UPDATE OF qty ON items BEGIN\n"
    "  UPDATE items SET note = 'low' WHERE item_id = NEW.item_id AND NEW.qty < 5;\nEND;"
)


@pytest.mark.parametrize(
    ("again", "running"),
    [
        # Made again under another name or case, doing the same: it runs on (BAS-4).
        (f"DROP TRIGGER low;\n{TRIGGER.format(name='low_stock')}", [2, 3, 4]),
        (f"DROP TRIGGER low;\n{TRIGGER.format(name='LOW')}", [2, 3, 4]),
        # Made again under its name, writing a local table only: it stops (BAS-5).
        (
            "DROP TRIGGER low;\nCREATE TABLE local_log (item TEXT);\n"
            "CREATE TRIGGER low AFTER UPDATE OF qty ON items BEGIN\n"
            "  INSERT INTO local_log (item) VALUES (NEW.item_id);\nEND;",
            [2],
        ),
    ],
    ids=["renamed", "recased", "defanged"],
)
def test_a_trigger_is_followed_by_what_it_does_not_its_name(
    tmp_path: Path, again: str, running: list[int]
) -> None:
    folder = migrations_folder(
        tmp_path,
        "CREATE TABLE items (item_id TEXT PRIMARY KEY, qty REAL, note TEXT);",
        TRIGGER.format(name="low"),
        again,
        "ALTER TABLE items ADD COLUMN shelf TEXT;",
    )
    lint = lint_to_json(lint_migrations(load_migrations(folder)))["lint"]
    assert within_version_breaks(lint)[2] == frozenset(running)
