"""A history whose migrations call the app's own SQL function (review BAA H9).

Without ``--sql-functions`` no version after it can be built: every command
says so in one line, with a hint. With it, lint, build, the matrix (worker
processes too, forked or started afresh) and the pytest plugin run. Each run
that registers functions is a subprocess: registration lasts for its process.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import harness
from harness.cli import main
from harness.sqlfunctions import HINT

pytest_plugins = ["pytester"]

FUNCTIONS = '''
import sqlite3
import uuid


def _title_sort(title):
    """'The Hobbit' sorts as 'Hobbit, The', as calibre's title_sort does."""
    if isinstance(title, str):
        for article in ("The ", "A ", "An "):
            if title.startswith(article):
                return f"{title[len(article):]}, {article.strip()}"
    return title


def register(conn: sqlite3.Connection) -> None:
    conn.create_function("title_sort", 1, _title_sort, deterministic=True)
    conn.create_function("app_uuid", 0, lambda: uuid.uuid4().hex)  # not deterministic


def other(conn: sqlite3.Connection) -> None:
    register(conn)
'''
MIGRATIONS = {
    "001_books.sql": "CREATE TABLE books (book_id TEXT PRIMARY KEY, title TEXT NOT NULL);",
    # Evaluated for every row a replica writes from v2 on.
    "002_sort_index.sql": "CREATE INDEX books_by_sort ON books (title_sort(title));",
}


# The harness this test imported, for the processes it starts (a work tree's, say).
SOURCE = str(Path(harness.__file__).resolve().parent.parent)


def path_with(project: Path) -> str:
    return os.pathsep.join([str(project), SOURCE, os.environ.get("PYTHONPATH", "")])


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for name, sql in MIGRATIONS.items():
        (tmp_path / "migrations").mkdir(exist_ok=True)
        (tmp_path / "migrations" / name).write_text(sql + "\n", encoding="utf-8")
    (tmp_path / "shelf_functions.py").write_text(FUNCTIONS, encoding="utf-8")
    return tmp_path


def compat(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``nexus-compat ARGS`` in ``project``, its own process (its module importable)."""
    return python_in(project, "-m", "harness.cli", *args)


def python_in(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python ARGS`` in ``project``, with its modules and this harness importable."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "PYTHONPATH": path_with(project)},
    )


def test_without_the_functions_every_command_says_how_to_give_them(project: Path) -> None:
    for args in (
        ["lint", "--migrations", "migrations"],
        ["matrix", "--migrations", "migrations", "--examples", "2", "--no-relay"],
        ["build", "2", "out.db", "--migrations", "migrations"],
    ):
        done = compat(project, *args)
        assert done.returncode == 2, done.stderr
        [line] = done.stderr.splitlines()
        assert "no such function: title_sort" in line
        assert HINT in line


@pytest.mark.parametrize("spec", ["shelf_functions.py", "shelf_functions:other"])
def test_lint_and_build_run_with_them(project: Path, spec: str) -> None:
    done = compat(project, "lint", "--migrations", "migrations", "--sql-functions", spec)
    assert done.returncode == 0, done.stderr
    assert "add-index" in done.stdout
    done = compat(
        project, "build", "2", "v2.db", "--migrations", "migrations", "--sql-functions", spec
    )
    assert done.returncode == 0, done.stderr
    assert (project / "v2.db").is_file()


def test_the_matrix_runs_with_them_in_its_workers(project: Path) -> None:
    done = compat(
        project,
        *("matrix", "--migrations", "migrations", "--examples", "3", "--jobs", "2"),
        *("--sql-functions", "shelf_functions.py", "--json", "out.json"),
    )
    assert done.returncode == 0, done.stderr
    report = json.loads((project / "out.json").read_text(encoding="utf-8"))
    assert [(c["local"], c["peer"], c["ok"]) for c in report["cells"]] == [
        (1, 1, True),
        (1, 2, True),
        (2, 1, True),
        (2, 2, True),
    ]
    assert all(cell["ops_applied"] > 0 for cell in report["cells"])


def test_workers_started_afresh_register_them_too(project: Path) -> None:
    """Python 3.14 starts workers with forkserver on Linux: nothing is inherited."""
    script = (
        "import multiprocessing, sys\n"
        "from pathlib import Path\n"
        "from harness.matrix import MatrixConfig, run_matrix\n"
        "multiprocessing.set_start_method('spawn')\n"
        "config = MatrixConfig(migrations=Path('migrations'), examples=2, jobs=2,"
        " relay=False, sql_functions='shelf_functions.py')\n"
        "result = run_matrix(config)\n"
        "print([cell.observed for cell in result.cells], [cell.ok for cell in result.cells])\n"
    )
    done = python_in(project, "-c", script)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{['full'] * 4} {[True] * 4}"


def with_tokens(project: Path) -> None:
    """v2 made again: a rebuild adding a column whose default calls app_uuid()."""
    (project / "migrations" / "002_sort_index.sql").unlink()
    (project / "migrations" / "002_tokens.sql").write_text(
        "CREATE TABLE books_new (book_id TEXT PRIMARY KEY, title TEXT NOT NULL,"
        " token TEXT DEFAULT (app_uuid()));\n"
        "INSERT INTO books_new (book_id, title) SELECT book_id, title FROM books;\n"
        "DROP TABLE books;\nALTER TABLE books_new RENAME TO books;\n",
        encoding="utf-8",
    )


def test_a_default_from_a_function_not_deterministic_is_breaking(project: Path) -> None:
    """Review BAS-6: as with random(), each replica fills its rows with its own value."""
    with_tokens(project)
    done = compat(
        project, "lint", "--migrations", "migrations", "--sql-functions", "shelf_functions.py"
    )
    assert done.returncode == 1, done.stderr
    assert "nondeterministic-default" in done.stdout
    assert "app_uuid()" in done.stdout


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("no_such_module_here", "ModuleNotFoundError"),
        ("missing.py", "no such file missing.py"),
        ("shelf_functions.py:absent", "has no function 'absent'"),
        ("broken.py", "RuntimeError: cannot open the catalogue"),
    ],
)
def test_a_bad_spec_is_one_line(project: Path, spec: str, fragment: str) -> None:
    (project / "broken.py").write_text(
        "def register(conn):\n    raise RuntimeError('cannot open the catalogue')\n",
        encoding="utf-8",
    )
    os.chdir(project)  # (the test's own folder: see conftest's in_tmp fixtures)
    result = CliRunner().invoke(
        main, ["lint", "--migrations", "migrations", "--sql-functions", spec]
    )
    assert result.exit_code == 2, result.output
    [line] = result.stderr.splitlines()
    assert line.startswith(f"Error: --sql-functions {spec}: ") and fragment in line


def test_the_plugin_takes_them(
    pytester: pytest.Pytester, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", path_with(pytester.path))
    shutil.copytree(project, pytester.path, dirs_exist_ok=True)
    check = Path(__file__).parent / "examples" / "safe_project" / "compat_check.py"
    shutil.copy(check, pytester.path / "compat_check.py")
    args = ("-p", "no:cacheprovider", "--nexus-migrations", "migrations", "--nexus-examples", "2")
    done = pytester.runpytest_subprocess(
        *args, "--nexus-sql-functions", "shelf_functions.py", "compat_check.py"
    )
    done.assert_outcomes(passed=4 + 1 + 2)
    refused = pytester.runpytest_subprocess(*args, "compat_check.py")
    assert refused.ret != 0
    refused.stdout.fnmatch_lines(["*no such function: title_sort*"])


def console(project: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """As the ``nexus-compat`` console script runs: the current folder not importable."""
    boot = "import sys; sys.path.remove(''); from harness.cli import main; main()"
    return subprocess.run(
        [sys.executable, "-c", boot, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "PYTHONPATH": SOURCE},
    )


def test_specs_load_as_python_would_load_them(project: Path) -> None:
    """Review BAS-8 and BAS-9: a module of the current folder, a package's module, a
    file importing a module beside it, a file whose dataclass looks its module up."""
    (project / "pkg").mkdir()
    (project / "pkg" / "__init__.py").write_text("", encoding="utf-8")
    (project / "pkg" / "sqlfns.py").write_text(FUNCTIONS, encoding="utf-8")
    (project / "funcs").mkdir()
    (project / "funcs" / "helpers.py").write_text(FUNCTIONS, encoding="utf-8")
    (project / "funcs" / "entry.py").write_text(
        "from __future__ import annotations\n"
        "from dataclasses import dataclass\n"
        "from helpers import register as _register\n\n\n"
        "@dataclass\nclass Settings:\n    name: str = 'shelf'\n\n\n"
        "def register(conn) -> None:\n    _register(conn)\n",
        encoding="utf-8",
    )
    for spec in ("shelf_functions", "pkg.sqlfns", "funcs/entry.py", "funcs/entry.py:register"):
        done = console(
            project, project, "lint", "--migrations", "migrations", "--sql-functions", spec
        )
        assert done.returncode == 0, (spec, done.stderr)


def test_a_printed_replay_runs_as_printed(project: Path) -> None:
    """Review BAS-7: the replay file keeps the functions, so `replay FILE` needs no option
    (here from another folder); without them, a DEFAULT's `unknown function` hints too."""
    with_tokens(project)
    done = compat(project, "lint", "--migrations", "migrations")
    assert done.returncode == 2 and HINT in done.stderr, done.stderr
    done = compat(
        project,
        *("matrix", "--migrations", "migrations", "--examples", "5", "--no-relay"),
        *("--sql-functions", "shelf_functions.py", "--pairs", "adjacent"),
    )
    assert done.returncode == 1, done.stderr
    replay = re.search(r"replay: nexus-compat replay (\S+)", done.stdout)
    assert replay is not None, done.stdout
    elsewhere = project / "elsewhere"
    elsewhere.mkdir()
    again = console(project, elsewhere, "replay", str(project / replay.group(1)))
    assert again.returncode == 1, again.stderr
    assert "broken" in again.stdout


def test_the_plugins_ini_key_is_read_from_the_rootdir(
    pytester: pytest.Pytester, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review BAS-10: pytest run from a subfolder found the file beside the ini file."""
    monkeypatch.setenv("PYTHONPATH", path_with(pytester.path))
    shutil.copytree(project, pytester.path, dirs_exist_ok=True)
    pytester.makeini(
        "[pytest]\nnexus_migrations = migrations\nnexus_sql_functions = shelf_functions.py\n"
    )
    check = Path(__file__).parent / "examples" / "safe_project" / "compat_check.py"
    (pytester.path / "checks").mkdir()
    shutil.copy(check, pytester.path / "checks" / "compat_check.py")
    monkeypatch.chdir(pytester.path / "checks")
    done = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--nexus-examples", "2", "compat_check.py"
    )
    done.assert_outcomes(passed=4 + 1 + 2)
