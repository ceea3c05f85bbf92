"""The harness catches breaking histories and passes safe ones (fixtures/histories/).

Each folder is a migrations history in some app domain; see its README for why
each cell must come out as it does. Cell (A, B) is judged at A's replica.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace
from pathlib import Path

import pytest
from folders import migrations_folder
from histories import FOLDERS, HISTORIES, ROWS

from harness.cells import CellResult, cut_steps, run_example, save_replay, schema_gap
from harness.judge import Observation
from harness.matrix import MatrixConfig, MatrixResult, run_matrix
from harness.versions import Templates, load_set

# From the README's table (tests/histories.py): the cells each breaking history breaks.
MUST_BREAK = {name: set(row.broken) for name, row in ROWS.items() if row.broken}
# Breaking, but only the lint is sure to see it (a known blind spot of the matrix).
LINT_CAUGHT = {
    "generated_to_plain_nocopy_brk",
    "bugtracker_subquery_rewrite_brk",
    "playlist_oneshot_trigger_brk",
    "inventory_units_lookup_brk",
}
# Breaking by the lint; by the contract's cell rules the matrix shows them partial.
PARTIAL_ONLY = {
    name for name, row in ROWS.items() if row.kind == "breaking" and not row.broken
} - LINT_CAUGHT
SAFE = {name for name, row in ROWS.items() if row.kind == "safe"}


def _run(name: str, tmp_path: Path, *, expected: Path | None = None) -> MatrixResult:
    config = MatrixConfig(
        migrations=HISTORIES / name / "migrations",
        expected=expected,
        examples=12,
        seed=0,
        jobs=1,
        replay_dir=tmp_path / "replays",
        relay_examples=5,
    )
    return run_matrix(config)


def test_every_history_is_classified_here() -> None:
    assert set(FOLDERS) == set(MUST_BREAK) | PARTIAL_ONLY | LINT_CAUGHT | SAFE | {"wrong_document"}
    assert {"drop_table", "rename_table"} == PARTIAL_ONLY


@pytest.mark.parametrize("name", sorted(MUST_BREAK))
def test_breaking_history_is_flagged(name: str, tmp_path: Path) -> None:
    result = _run(name, tmp_path)
    broken = {(c.local, c.peer) for c in result.cells if c.observed == "broken"}
    # Exactly the README's cells: the others must not be called broken either.
    assert broken == MUST_BREAK[name], f"{name}: expected {MUST_BREAK[name]} broken, got {broken}"
    assert not result.ok
    templates = Templates(load_set(HISTORIES / name / "migrations"))
    try:
        for cell in result.cells:
            if cell.observed == "broken":
                _check_broken_cell(cell, templates, tmp_path)
    finally:
        templates.cleanup()


def _check_broken_cell(cell: CellResult, templates: Templates, tmp_path: Path) -> None:
    assert not cell.ok
    assert any(f"v{cell.local}" in r or f"v{cell.peer}" in r for r in cell.reasons)
    assert cell.replay_file is not None
    saved = json.loads(Path(cell.replay_file).read_text())
    assert (saved["local"], saved["peer"]) == (cell.local, cell.peer)
    # The saved example breaks again, the same way (with no steps at all where the
    # migrations' own rows break it).
    again = run_example(templates, cell.local, cell.peer, saved["steps"], tmp_path)

    def kind(reasons: list[str]) -> list[str]:  # numbers aside: some reasons hold the time
        return [re.sub(r"\d+", "#", reason) for reason in reasons[:1]]

    assert again.status == "broken" and kind(again.reasons) == kind(saved["reasons"])
    if not saved["steps"]:
        assert "minimal example: no traffic at all" in " ".join(cell.reasons)
    if any(f"upgrade of A (v{cell.local})" in r for r in cell.reasons):
        assert cell.heals_on_upgrade is False  # an upgrade that fails heals nothing


@pytest.mark.parametrize("name", sorted(PARTIAL_ONLY))
def test_dropped_or_renamed_table_syncs_partially(name: str, tmp_path: Path) -> None:
    result = _run(name, tmp_path)
    assert result.ok, [c.reasons for c in result.cells if not c.ok]
    assert any(c.observed == "partial" for c in result.cells)


@pytest.mark.parametrize("name", sorted(SAFE))
def test_safe_history_passes(name: str, tmp_path: Path) -> None:
    result = _run(name, tmp_path)
    assert result.ok, [(c.local, c.peer, c.reasons) for c in result.cells if not c.ok]
    assert all(c.observed != "broken" for c in result.cells)
    assert all(r.ok for r in result.relay)
    for cell in result.cells:
        if cell.local < cell.peer:
            assert cell.heals_on_upgrade is True


def test_index_only_step_is_full(tmp_path: Path) -> None:
    result = _run("index_only", tmp_path)
    assert {c.observed for c in result.cells} == {"full"}


def test_a_wrong_document_is_caught(tmp_path: Path) -> None:
    result = _run("wrong_document", tmp_path, expected=HISTORIES / "wrong_document" / "expected.md")
    assert not result.ok
    wrong = {(c.local, c.peer): c for c in result.cells if not c.ok}
    assert set(wrong) == {(1, 2)}
    assert (wrong[1, 2].expected, wrong[1, 2].observed) == ("full", "partial")
    # The reason says why it is partial and what to write instead.
    source = HISTORIES / "wrong_document" / "expected.md"
    line = next(
        n
        for n, text in enumerate(source.read_text(encoding="utf-8").splitlines(), start=1)
        if text.replace(" ", "").startswith("|v1|v2|")
    )
    assert wrong[1, 2].reasons[1] == f"documented at {source}:{line}"
    assert wrong[1, 2].reasons[2] == (
        "v1 lacks events.reminder_minutes (v2 has it) and skips and parks ops on it,"
        " so the cell is partial (document it as Partial sync)"
    )


@pytest.mark.parametrize("name", sorted(LINT_CAUGHT))
def test_what_the_matrix_may_miss_the_lint_catches(name: str, tmp_path: Path) -> None:
    """The matrix cannot see these (a generated column is computed on each replica and
    never compared; a value rewritten at upgrade that the traffic never writes); the
    lint must call them breaking every time."""
    from harness.lint import lint_migrations
    from nexus_core.db.migrations import load_migrations

    result = _run(name, tmp_path)
    assert not any(c.observed == "broken" and not c.reasons for c in result.cells)
    verdicts = [
        r.verdict for r in lint_migrations(load_migrations(HISTORIES / name / "migrations"))
    ]
    assert "breaking" in verdicts


def test_a_history_with_no_replicated_table_is_all_full(tmp_path: Path) -> None:
    """Nothing sync carries (a keyless log, a table with a non-plain name): no traffic, no crash."""
    folder = migrations_folder(
        tmp_path, "CREATE TABLE log (msg TEXT);", 'CREATE TABLE "Odd Name" (id TEXT PRIMARY KEY);'
    )
    config = MatrixConfig(migrations=folder, examples=3, seed=0, jobs=1, relay_examples=2)
    result = run_matrix(config)
    assert result.ok
    assert {cell.observed for cell in result.cells} == {"full"}


def test_a_unique_column_with_a_default_never_collides_by_the_data(tmp_path: Path) -> None:
    """Rails' users.email: NOT NULL DEFAULT '' and UNIQUE. Rows that left it out would all
    hold '' and collide whatever the migrations do; the traffic always gives it a value."""
    folder = migrations_folder(
        tmp_path,
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL DEFAULT '',"
        " name TEXT); CREATE UNIQUE INDEX index_users_on_email ON users (email);",
        "ALTER TABLE users ADD COLUMN nickname TEXT;",
    )
    result = run_matrix(MatrixConfig(migrations=folder, examples=12, seed=0, jobs=1, relay=False))
    assert {(c.local, c.peer): c.observed for c in result.cells} == {
        (1, 1): "full",
        (1, 2): "partial",
        (2, 1): "partial",
        (2, 2): "full",
    }


def test_the_schema_gap_is_said_from_each_side() -> None:
    """In v2-v1 it is v1 that lacks the column (and skips its ops), not v2."""
    templates = Templates(load_set(HISTORIES / "wrong_document" / "migrations"))
    try:
        templates.build_all()
        assert schema_gap(templates, 2, 1) == (
            "v1 lacks events.reminder_minutes (v2 has it) and skips and parks ops on it,"
            " so the cell is partial (document it as Partial sync)"
        )
        assert schema_gap(templates, 1, 2) == schema_gap(templates, 2, 1)
    finally:
        templates.cleanup()


def _retyped(tmp_path: Path, was: str, now: str) -> Path:
    """A table whose column ``flag`` is declared ``was`` at v1 and ``now`` at v2 (a rebuild)."""
    return migrations_folder(
        tmp_path,
        f"CREATE TABLE scores (id TEXT PRIMARY KEY, flag {was} NOT NULL DEFAULT 0);",
        f"CREATE TABLE scores_new (id TEXT PRIMARY KEY, flag {now} NOT NULL DEFAULT 0);"
        " INSERT INTO scores_new SELECT id, flag FROM scores; DROP TABLE scores;"
        " ALTER TABLE scores_new RENAME TO scores;",
    )


def test_a_boolean_declared_integer_is_full_as_the_lint_says_safe(tmp_path: Path) -> None:
    """BOOLEAN (NUMERIC) and INTEGER store the 0 and 1 clients write alike: the lint says
    type-renamed (safe), so the matrix must not call the pair partial for it (review BJ F1)."""
    folder = _retyped(tmp_path, "BOOLEAN", "INTEGER")
    result = run_matrix(MatrixConfig(migrations=folder, examples=6, seed=0, jobs=1, relay=False))
    assert {cell.observed for cell in result.cells} == {"full"}


def test_the_schema_gap_names_a_type_sync_sees_differently(tmp_path: Path) -> None:
    """Same tables and columns, another affinity: partial, and the advice says why
    (it said "the cell is full (document it as Full sync)")."""
    templates = Templates(load_set(_retyped(tmp_path, "INTEGER", "REAL")))
    try:
        templates.build_all()
        assert schema_gap(templates, 1, 2) == (
            "v1 and v2 replicate the same tables and columns, but declare scores.flag"
            " (INTEGER, REAL) as types SQLite stores differently, so the cell is partial"
            " (document it as Partial sync)"
        )
    finally:
        templates.cleanup()


def test_a_table_that_stops_replicating_breaks_the_cell_where_it_stopped(tmp_path: Path) -> None:
    """A column the oplog cannot name takes address out of sync at v2: v1's rows never
    reach v2, which has the table (partial skips only what A lacks; review BJ F3)."""
    folder = migrations_folder(
        tmp_path,
        "CREATE TABLE address (id INTEGER PRIMARY KEY, city TEXT NOT NULL);",
        'ALTER TABLE address ADD COLUMN "Straße" TEXT;',
    )
    result = run_matrix(MatrixConfig(migrations=folder, examples=3, seed=0, jobs=1, relay=False))
    cells = {(c.local, c.peer): c for c in result.cells}
    assert {key: cell.observed for key, cell in cells.items()} == {
        (1, 1): "full",
        (1, 2): "partial",
        (2, 1): "broken",
        (2, 2): "full",
    }
    assert any("v2 holds address but no longer replicates it" in r for r in cells[2, 1].reasons)


@pytest.mark.parametrize("history", ["composite_unique_brk", "games"])
def test_the_minimal_example_is_the_same_run_after_run(tmp_path: Path, history: str) -> None:
    """Which op a refused row named first followed a frozenset's order, so a replay
    could name another column than the report; and where hypothesis's shrinking
    stopped depended on its timing (rows 20647, 20002, 22737 from one seed, review
    BN-3). The same seed, the same example."""
    folder = HISTORIES / history / "migrations"
    if history == "games":  # a CHECK keeps two links apart (review BL-1)
        folder = migrations_folder(
            tmp_path,
            "CREATE TABLE members (id INTEGER PRIMARY KEY, name TEXT);"
            " CREATE TABLE games (id INTEGER PRIMARY KEY,"
            " white_id INTEGER NOT NULL REFERENCES members(id),"
            " black_id INTEGER NOT NULL REFERENCES members(id), CHECK (white_id <> black_id));",
            "CREATE UNIQUE INDEX one_white ON games (white_id);",
        )
    runs = []
    for attempt in range(3):
        config = MatrixConfig(
            migrations=folder,
            examples=10,
            seed=1,
            jobs=1,
            relay=False,
            replay_dir=tmp_path / f"replays{attempt}",
        )
        cells = run_matrix(config).cells
        replays = [
            json.loads(Path(c.replay_file).read_text(encoding="utf-8"))["steps"]
            for c in cells
            if c.replay_file
        ]
        runs.append(([(c.observed, c.reasons) for c in cells], replays))
    assert runs[0] == runs[1] == runs[2]
    assert any(status == "broken" for status, _ in runs[0][0])


def test_the_minimal_example_keeps_one_pair_of_colliding_rows(tmp_path: Path) -> None:
    """Refused rows are listed in one reason ("row 3: UNIQUE ...; row 7: UNIQUE ..."):
    a cut that leaves one such row is the same break, so the third row goes."""
    concert = {"replica": "b", "op": "insert", "table": "concerts", "key": 20000}
    steps = [concert | {"values": {"title": "Gala"}, "refs": {}}]
    steps += [
        {"replica": "b", "op": "insert", "table": "reservations", "key": key}
        | {"values": {"seat": "same"}, "refs": {"concert_id": 0}}
        for key in (20001, 20002, 20003)
    ]
    templates = Templates(load_set(HISTORIES / "composite_unique_brk" / "migrations"))
    try:
        seen = run_example(templates, 2, 1, steps, tmp_path)
        assert len(re.findall(r"reservations row \S+: UNIQUE", seen.reasons[0])) == 2
        kept, observation = cut_steps(templates, 2, 1, steps, seen, tmp_path)
    finally:
        templates.cleanup()
    assert [step["table"] for step in kept] == ["concerts", "reservations", "reservations"]
    assert len(re.findall(r"reservations row \S+: UNIQUE", observation.reasons[0])) == 1


def test_a_replay_file_keeps_the_order_of_each_writes_columns(tmp_path: Path) -> None:
    """The order of a write's columns is part of the example (it is the order its ops
    travel in): a replay file written with sorted keys was another example."""
    templates = Templates(load_set(HISTORIES / "composite_unique_brk" / "migrations"))
    step = {"replica": "b", "op": "update", "table": "reservations", "row": 0}
    step |= {"values": {"seat": "same", "concert_id": 3, "holder": None}, "refs": {}}
    try:
        path = save_replay(tmp_path, templates, 2, 1, [step], Observation("broken", ["why"]))
    finally:
        templates.cleanup()
    (saved,) = json.loads(path.read_text(encoding="utf-8"))["steps"]
    assert list(saved) == list(step)
    assert list(saved["values"]) == ["seat", "concert_id", "holder"]


def _replay_files(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones too), by its path inside it."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_a_run_leaves_its_own_replays_and_no_others(tmp_path: Path) -> None:
    replays = tmp_path / "replays"
    replays.mkdir()
    (replays / "replay-v9-v9.json").write_text("{}", encoding="utf-8")  # an earlier run's
    (replays / "notes.txt").write_text("mine", encoding="utf-8")  # not the harness's
    killed = replays / ".partial-999999999-0a1b"  # a run killed outright (SIGKILL)
    killed.mkdir()
    (killed / "replay-v1-v2.json").write_text("{}", encoding="utf-8")
    running = replays / f".partial-{os.getpid()}-0a1b"  # a run still going (this process)
    running.mkdir()
    folder = HISTORIES / "composite_unique_brk" / "migrations"
    config = MatrixConfig(migrations=folder, examples=5, seed=1, jobs=1, relay=False)
    cells = run_matrix(replace(config, replay_dir=replays)).cells
    broken = sorted(f"replay-{c.cell_id}.json" for c in cells if c.observed == "broken")
    assert broken and sorted(_replay_files(replays)) == sorted([*broken, "notes.txt"])
    assert not killed.exists() and running.is_dir()  # (review BS-6)
    assert all(Path(c.replay_file or "").parent == replays for c in cells if c.replay_file)


def test_an_interrupted_run_leaves_the_last_runs_replays_as_they_were(tmp_path: Path) -> None:
    """Nothing half-written: a run stopped midway (Ctrl-C) had overwritten the replay
    files of the cells it reached, beside the last report that named the old ones."""
    replays = tmp_path / "replays"
    folder = HISTORIES / "composite_unique_brk" / "migrations"
    config = MatrixConfig(migrations=folder, examples=5, jobs=1, relay=False, replay_dir=replays)
    cells = run_matrix(config).cells
    for cell in cells:  # an earlier run's files, unlike any this run writes
        if cell.replay_file:
            Path(cell.replay_file).write_text("{}", encoding="utf-8")
    before = _replay_files(replays)
    assert before and set(before.values()) == {b"{}"}

    def stop_at_a_broken_cell(kind: str, item: object) -> None:
        if isinstance(item, CellResult) and item.observed == "broken":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_matrix(config, progress=stop_at_a_broken_cell)
    assert _replay_files(replays) == before
    after = run_matrix(config)  # a whole run replaces them
    assert set(_replay_files(replays)) == set(before)
    assert all(
        json.loads(Path(c.replay_file).read_text())["steps"] for c in after.cells if c.replay_file
    )


def test_the_kind_of_a_break_keeps_refusals_of_tables_whose_names_end_alike() -> None:
    """Several refused rows of one table are one kind of break; rows of ``tasks`` after
    those of ``subtasks`` are another (the name ends alike: review BQ-6)."""
    from harness.cells import _kind

    unique = "UNIQUE constraint failed: {}.code"
    one = f"v2 refused 1 op(s) from v1: subtasks row 3: {unique.format('subtasks')}"
    two = f"{one}; subtasks row 9: {unique.format('subtasks')}"
    both = f"{one}; tasks row 9: {unique.format('subtasks')}"
    assert _kind([two]) == _kind([one])
    assert _kind([both]) != _kind([one])


def test_a_dangling_replay_folder_link_is_named_as_the_user_gave_it(tmp_path: Path) -> None:
    """(review BS-7) The cells said ".../.partial-65242cd01659: File exists"."""
    replays = tmp_path / "replays"
    replays.symlink_to(tmp_path / "gone")
    folder = HISTORIES / "composite_unique_brk" / "migrations"
    config = MatrixConfig(migrations=folder, examples=5, jobs=1, relay=False, replay_dir=replays)
    broken = [c for c in run_matrix(config).cells if c.observed == "broken"]
    assert broken and all(c.replay_file is None for c in broken)
    for cell in broken:
        (why,) = [r for r in cell.reasons if r.startswith("no replay file written")]
        assert why.startswith(f"no replay file written: {replays}:") and ".partial" not in why


def test_a_parent_row_and_another_go_together_when_links_pick_rows_by_position(
    tmp_path: Path,
) -> None:
    """Links pick rows by position (refs 3 and 6 of three trees: the same tree). One tree
    fewer and they pick two trees, so no single step could go; two trees fewer and they
    pick one again (review BP-2: 6 steps where 4 would do)."""
    folder = migrations_folder(
        tmp_path,
        "CREATE TABLE trees (id TEXT PRIMARY KEY NOT NULL, variety TEXT);"
        " CREATE TABLE harvests (id TEXT PRIMARY KEY NOT NULL,"
        " tree_id TEXT NOT NULL REFERENCES trees(id), season INTEGER NOT NULL);",
        "CREATE UNIQUE INDEX one_harvest ON harvests (tree_id, season);",
    )
    trees = [
        {"replica": "a", "op": "insert", "table": "trees", "key": f"a-{n}", "values": {}}
        | {"refs": {}}
        for n in (1, 2, 3)
    ]
    harvests = [
        {"replica": "a", "op": "insert", "table": "harvests", "key": f"a-{n}"}
        | {"values": {"season": 1}, "refs": {"tree_id": pick}}
        for n, pick in ((10, 3), (11, 6))
    ]
    templates = Templates(load_set(folder))
    try:
        seen = run_example(templates, 1, 2, [*trees, *harvests], tmp_path)
        assert seen.status == "broken", seen.reasons
        kept, _ = cut_steps(templates, 1, 2, [*trees, *harvests], seen, tmp_path)
    finally:
        templates.cleanup()
    assert [step["table"] for step in kept] == ["trees", "harvests", "harvests"]


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity here")
def test_the_default_jobs_are_the_cpus_the_process_may_use() -> None:
    """A CI runner pinned to some of a host's CPUs: os.cpu_count() counts them all
    (review BR doubt)."""
    from harness.matrix import usable_cpus

    allowed = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(allowed)})
    try:
        assert usable_cpus() == 1
    finally:
        os.sched_setaffinity(0, allowed)
    assert usable_cpus() == len(allowed)
