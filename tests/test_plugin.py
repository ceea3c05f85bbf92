"""The ``nexus_compat`` pytest plugin, tested on small example projects with pytester.

Each folder under ``tests/examples/`` is a tiny project with its own
``migrations/`` and a ``compat_check.py`` (not ``test_*.py``, so our own suite
never collects it). A test copies one folder into pytester's directory and runs
pytest there, the way pytest-alembic tests its plugin.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import main as compat_main

pytest_plugins = ["pytester"]

EXAMPLES = Path(__file__).resolve().parent / "examples"
HISTORIES = Path(__file__).resolve().parent.parent / "fixtures" / "histories"
BASE = ("-p", "no:cacheprovider", "--strict-markers")
SMALL = ("--nexus-examples", "3")
CELLS = ("v1-v1", "v1-v2", "v2-v1", "v2-v2")


def copy_example(pytester: pytest.Pytester, name: str) -> Path:
    """Copy ``tests/examples/<name>`` into the pytester directory."""
    shutil.copytree(EXAMPLES / name, pytester.path, dirs_exist_ok=True)
    return pytester.path


def run_project(pytester: pytest.Pytester, name: str, *args: str) -> pytest.RunResult:
    copy_example(pytester, name)
    return pytester.runpytest(
        *BASE, "--nexus-migrations", "migrations", *SMALL, *args, "compat_check.py"
    )


def literal(text: str) -> str:
    """``text`` as an fnmatch pattern: brackets match themselves, ``*`` stays a wildcard."""
    return re.sub(r"([\[\]])", r"[\1]", text)


def test_examples_are_not_collected_by_our_own_suite() -> None:
    assert not list(EXAMPLES.rglob("test_*.py")), "example tests must not look like ours"
    assert not list(EXAMPLES.rglob("*_test.py"))
    assert not list(EXAMPLES.rglob("conftest.py"))
    assert sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir()) == [
        "breaking_project",
        "fixtures_project",
        "ini_project",
        "safe_project",
    ]


def test_safe_project_passes_one_test_per_cell(pytester: pytest.Pytester) -> None:
    result = run_project(pytester, "safe_project", "-v")
    result.assert_outcomes(passed=len(CELLS) + 1 + 2)
    result.stdout.fnmatch_lines_random(
        [literal(f"compat_check.py::test_matrix[{cell}] PASSED*") for cell in CELLS]
        + [literal(f"compat_check.py::test_migration_lint[lint-v{v}] PASSED*") for v in (1, 2)]
    )
    result.stdout.fnmatch_lines(["*compat_check.py::test_latest_version PASSED*"])
    assert result.ret == pytest.ExitCode.OK


def test_dash_k_selects_one_cell(pytester: pytest.Pytester) -> None:
    result = run_project(pytester, "safe_project", "-v", "-k", "v1-v2")
    result.assert_outcomes(passed=1, deselected=len(CELLS) + 2)
    result.stdout.fnmatch_lines([literal("compat_check.py::test_matrix[v1-v2] PASSED*")])
    result.stdout.no_fnmatch_line(literal("*test_matrix[v2-v1]*"))


def test_dash_m_matrix_selects_every_cell(pytester: pytest.Pytester) -> None:
    result = run_project(pytester, "safe_project", "-v", "-m", "matrix")
    result.assert_outcomes(passed=len(CELLS) + 2, deselected=1)
    result.stdout.no_fnmatch_line("*test_latest_version*")


def test_collect_only_lists_typeable_ids(pytester: pytest.Pytester) -> None:
    result = run_project(pytester, "safe_project", "--collect-only", "-q")
    result.stdout.fnmatch_lines(
        [literal(f"compat_check.py::test_matrix[{cell}]") for cell in CELLS]
        + ["compat_check.py::test_latest_version"]
    )


def test_breaking_project_fails_with_a_titled_report(pytester: pytest.Pytester) -> None:
    result = run_project(pytester, "breaking_project", "-v")
    result.assert_outcomes(passed=4, failed=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            literal("compat_check.py::test_matrix[v1-v2] FAILED*"),
            "Cell v1-v2 (local v1, peer v2): expected compatible, observed broken",
            "*Counts: * sent, * applied, * skipped (unknown), * rejected over * example(s)",
            "*Reasons:",
            "*- documented as compatible, observed broken",
            "*- stations row * never reached A (v1) (held back: v1 requires region*",
            "*- minimal example: * step(s)",
            "*Replay: nexus-compat replay *replay-v1-v2.json",
            "Breaking between v1 and v2 (lint): v2 drop-column (stations.region)",
        ]
    )
    for cell in ("v1-v1", "v2-v1", "v2-v2"):
        result.stdout.fnmatch_lines([literal(f"compat_check.py::test_matrix[{cell}] PASSED*")])
    # The lint fails the breaking migration on its own, as `nexus-compat lint` would.
    result.stdout.fnmatch_lines(
        [
            literal("compat_check.py::test_migration_lint[lint-v2] FAILED*"),
            "Breaking migration: v2 (Drop the station region (breaking: v1 still requires it))",
            "Findings:",
            "  - breaking drop-column stations.region: *",
            "To accept it: no documented No sync row crosses v2; * add `| v2 | v1 | ❌ No sync |`*",
        ]
    )
    result.stdout.fnmatch_lines([literal("compat_check.py::test_migration_lint[lint-v1] PASSED*")])
    # Reports, not tracebacks: no source lines, no fixture reprs.
    assert "Traceback" not in result.stdout.str()
    assert "nexus_cell = Cell(" not in result.stdout.str()
    result.stdout.fnmatch_lines(
        [literal("FAILED compat_check.py::test_matrix[v1-v2] - Cell v1-v2 (local v1, peer v2)*")]
    )

    # The replay line names a file that the CLI runs again, still broken.
    # With CI set, pytest repeats the whole message in its short summary: one file, named twice.
    named = {
        line.split("Replay: nexus-compat replay ", 1)[1].strip()
        for line in result.outlines
        if "Replay: nexus-compat replay " in line
    }
    [replay_name] = named
    replay_file = Path(replay_name)
    assert replay_file.is_file()
    replayed = CliRunner().invoke(compat_main, ["replay", str(replay_file)])
    assert replayed.exit_code == 1, replayed.output
    assert replayed.stdout.startswith("cell v1-v2: broken")


def test_db_at_version_and_replica_pair_fixtures(pytester: pytest.Pytester) -> None:
    result = run_project(pytester, "fixtures_project", "-v")
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(["*test_replica_pair PASSED*"])


def test_ini_key_names_the_migrations(pytester: pytest.Pytester) -> None:
    copy_example(pytester, "ini_project")
    result = pytester.runpytest(*BASE, *SMALL, "-v", "compat_check.py")
    result.assert_outcomes(passed=len(CELLS) + 1)
    result.stdout.fnmatch_lines([literal("compat_check.py::test_matrix[v2-v1] PASSED*")])


def test_option_wins_over_the_ini_key(pytester: pytest.Pytester) -> None:
    copy_example(pytester, "ini_project")
    three_versions = HISTORIES / "drop_not_null_column" / "migrations"
    # The "=" form: a bare absolute path among the arguments would move pytest's rootdir.
    option = f"--nexus-migrations={three_versions}"
    result = pytester.runpytest(*BASE, option, "--collect-only", "-q", "compat_check.py")
    result.stdout.fnmatch_lines([literal("compat_check.py::test_matrix[v3-v3]")])
    assert sum("test_matrix[" in line for line in result.outlines) == 9


def test_an_empty_option_overrides_the_ini_key_with_the_default(
    pytester: pytest.Pytester,
) -> None:
    """``--nexus-expected=`` means no file: the default policy (review BZ-4: it fell
    through to the ini key)."""
    copy_example(pytester, "ini_project")
    ini = pytester.path / "pytest.ini"
    ini.write_text(ini.read_text() + "nexus_expected = nope.md\n")
    refused = pytester.runpytest(*BASE, *SMALL, "compat_check.py")
    assert refused.ret == pytest.ExitCode.USAGE_ERROR
    result = pytester.runpytest(*BASE, *SMALL, "--nexus-expected=", "compat_check.py")
    result.assert_outcomes(passed=len(CELLS) + 1)


def test_a_bad_migrations_dir_is_an_error_not_a_pass(pytester: pytest.Pytester) -> None:
    copy_example(pytester, "safe_project")
    result = pytester.runpytest(*BASE, "--nexus-migrations", "nowhere", "compat_check.py")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: --nexus-migrations: *nowhere*migrations directory not found*"]
    )
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_a_bad_migrations_dir_from_the_ini_names_the_ini_key(pytester: pytest.Pytester) -> None:
    copy_example(pytester, "safe_project")
    pytester.makeini("[pytest]\nnexus_migrations = nowhere\n")
    result = pytester.runpytest(*BASE, "compat_check.py")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: nexus_migrations (ini): *nowhere*migrations directory not found*"]
    )


def test_cells_run_on_xdist_workers(pytester: pytest.Pytester) -> None:
    result = run_project(pytester, "safe_project", "-n", "2", "-m", "matrix")
    result.assert_outcomes(passed=len(CELLS) + 2)
    result.stdout.fnmatch_lines(["*2 workers*"])


@pytest.mark.parametrize(("conftest", "examples"), [("", 25), ("default", 7), ("mine", 9)])
def test_cells_take_the_loaded_profile_s_examples(
    pytester: pytest.Pytester, conftest: str, examples: int
) -> None:
    """A profile the project loads counts, one it names "default" too (nexus-core's
    own suite does: it ran 25); hypothesis's own default (100) is no choice: 25."""
    copy_example(pytester, "safe_project")
    if conftest:
        pytester.makeconftest(
            "from hypothesis import settings\n"
            f"settings.register_profile({conftest!r}, max_examples={examples})\n"
            f"settings.load_profile({conftest!r})\n"
        )
    result = pytester.runpytest_subprocess(
        *BASE, "--nexus-migrations", "migrations", "--collect-only", "compat_check.py"
    )
    result.stdout.fnmatch_lines([f"nexus: migrations *, {examples} examples per cell, seed 0"])


def test_the_header_names_what_the_cells_check(pytester: pytest.Pytester) -> None:
    result = run_project(pytester, "safe_project", "--collect-only")
    result.stdout.fnmatch_lines(
        [
            "nexus: migrations *migrations (v1-v2), documented matrix: default policy,"
            " 3 examples per cell, seed 0"
        ]
    )


@pytest.mark.parametrize(
    ("table", "error"),
    [
        (None, "ERROR: --nexus-expected: *nope.md: expected-matrix file not found"),
        ("| v1 | v2 | Sometimes |", "ERROR: --nexus-expected: *matrix.md:3: *Sometimes*"),
    ],
)
def test_a_bad_matrix_file_is_one_usage_error(
    pytester: pytest.Pytester, table: str | None, error: str
) -> None:
    copy_example(pytester, "safe_project")
    name = "nope.md"
    if table is not None:
        name = "matrix.md"
        header = "| Client A | Client B | Sync Status | Notes |\n|---|---|---|---|\n"
        (pytester.path / name).write_text(f"{header}{table} |\n", encoding="utf-8")
    result = pytester.runpytest(
        *BASE, "--nexus-migrations", "migrations", "--nexus-expected", name, "compat_check.py"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([error])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


@pytest.mark.parametrize("count", ["0", "-3"])
def test_examples_below_one_are_a_usage_error(pytester: pytest.Pytester, count: str) -> None:
    copy_example(pytester, "safe_project")
    result = pytester.runpytest(
        *BASE, "--nexus-migrations", "migrations", f"--nexus-examples={count}", "compat_check.py"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: --nexus-examples: must be at least 1, not {count}"])


def test_a_migration_that_fails_fails_its_cells_in_one_line(pytester: pytest.Pytester) -> None:
    copy_example(pytester, "safe_project")
    bad = "-- Description: a typo\nALTER TABLE bookz ADD COLUMN shelf TEXT;\n"
    (pytester.path / "migrations" / "003_typo.sql").write_text(bad, encoding="utf-8")
    result = pytester.runpytest(
        *BASE, "--nexus-migrations", "migrations", *SMALL, "-k", "v1-v3 or lint", "compat_check.py"
    )
    result.assert_outcomes(failed=1, errors=3)
    result.stdout.fnmatch_lines(
        [
            "cannot build the schemas to lint: 003_typo.sql (v3): no such table: bookz",
            "cell v1-v3 could not run: 003_typo.sql (v3): no such table: bookz",
        ]
    )
    assert "Traceback" not in result.stdout.str()
    assert "exception" not in result.stdout.str()


def test_replays_go_where_the_option_says(pytester: pytest.Pytester) -> None:
    copy_example(pytester, "breaking_project")
    result = pytester.runpytest(
        *BASE,
        "--nexus-migrations",
        "migrations",
        *SMALL,
        "--nexus-replays",
        "reports/replays",
        "-k",
        "v1-v2",
        "compat_check.py",
    )
    result.assert_outcomes(failed=1, deselected=5)
    assert [p.name for p in (pytester.path / "reports" / "replays").iterdir()] == [
        "replay-v1-v2.json"
    ]


def test_a_break_documented_as_no_sync_is_accepted(pytester: pytest.Pytester) -> None:
    """A breaking migration already released cannot be undone: documenting the
    cells across it as No sync accepts it, in the cells and in its lint."""
    copy_example(pytester, "breaking_project")
    (pytester.path / "compat.md").write_text(
        "| Client A | Client B | Sync Status | Notes |\n|---|---|---|---|\n"
        "| v1 | v1 | ✅ Full sync | |\n| v2 | v2 | ✅ Full sync | |\n"
        "| v1 | v2 | ❌ No sync | v2 dropped region, which v1 requires |\n"
        "| v2 | v1 | ⚠️ Partial sync | |\n",
        encoding="utf-8",
    )
    result = pytester.runpytest(
        *BASE,
        "--nexus-migrations",
        "migrations",
        "--nexus-expected",
        "compat.md",
        *SMALL,
        "-v",
        "compat_check.py",
    )
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines([literal("compat_check.py::test_migration_lint[lint-v2] PASSED*")])


@pytest.mark.parametrize(("line", "outcome"), [("Accepted breaks: v2\n", "PASSED"), ("", "FAILED")])
def test_a_break_listed_as_accepted_passes_its_lint(
    pytester: pytest.Pytester, line: str, outcome: str
) -> None:
    """``Accepted breaks: v2`` accepts a break no No sync row can (one the matrix sees as
    partial: reviews BU F9, BAD-10)."""
    copy_example(pytester, "breaking_project")
    (pytester.path / "compat.md").write_text(
        "| Client A | Client B | Sync Status | Notes |\n|---|---|---|---|\n"
        "| v1 | v1 | ✅ Full sync | |\n| v2 | v2 | ✅ Full sync | |\n"
        "| v1 | v2 | ⚠️ Partial sync | |\n| v2 | v1 | ⚠️ Partial sync | |\n\n" + line,
        encoding="utf-8",
    )
    args = ("--nexus-migrations", "migrations", "--nexus-expected", "compat.md", *SMALL)
    result = pytester.runpytest(*BASE, *args, "-v", "-k", "lint-v2", "compat_check.py")
    result.stdout.fnmatch_lines(
        [literal(f"compat_check.py::test_migration_lint[lint-v2] {outcome}*")]
    )


def test_nexus_pairs_latest_collects_the_cells_with_the_newest_version(
    pytester: pytest.Pytester,
) -> None:
    """A long history: every version with the newest, both ways (BK: 1,600 cells)."""
    result = run_project(
        pytester, "safe_project", "--collect-only", "-q", "--nexus-pairs", "latest"
    )
    result.stdout.fnmatch_lines(
        [literal(f"compat_check.py::test_matrix[{cell}]") for cell in ("v1-v2", "v2-v1", "v2-v2")]
    )
    result.stdout.no_fnmatch_line(literal("*test_matrix[v1-v1]*"))


def test_nexus_pairs_refuses_an_unknown_choice_in_one_line(pytester: pytest.Pytester) -> None:
    result = run_project(pytester, "safe_project", "--collect-only", "--nexus-pairs", "some")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--nexus-pairs: 'some' is not one of all, latest, adjacent*"])
