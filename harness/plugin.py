"""The pytest plugin (entry point ``pytest11``): options, the ``matrix`` marker, fixtures.

Any project gets a cell per ordered pair of its versions by asking for the
``nexus_cell`` fixture, and the lint of each migration with ``nexus_lint``::

    def test_matrix(nexus_cell):
        nexus_cell.check()

    def test_migration_lint(nexus_lint):
        nexus_lint.check()

and runs them with ``pytest --nexus-migrations db/migrations -k matrix`` (both
carry the ``matrix`` mark; one cell: ``-k "v1-v2"``, one lint: ``-k lint-v3``).
Hooks and fixtures only; the work is in the library.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis.errors import InvalidArgument

from harness.cells import CellResult, run_cell
from harness.crosscheck import documented_breaks, how_to_accept
from harness.errors import CellFailure, HarnessError, LintFailure
from harness.expected import ExpectedCell, expectation_for
from harness.lint import MigrationLint, lint_migrations, lint_to_json
from harness.matrix import (
    DEFAULT_EXAMPLES,
    PAIRS,
    Documented,
    load_expectations,
    pairs,
)
from harness.report import breaking_between
from harness.sqlfunctions import from_folder, use_sql_functions
from harness.versions import MigrationSet, Templates, load_set
from nexus_core.errors import NexusError
from nexus_core.replica import Replica


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("nexus", "nexus-core oplog compatibility harness")
    group.addoption(
        "--nexus-migrations",
        default=None,
        help="migrations directory to test (ini: nexus_migrations; default: nexus-core's own)",
    )
    group.addoption(
        "--nexus-expected",
        default=None,
        help="Markdown file with the documented matrix (ini: nexus_expected)",
    )
    group.addoption(
        "--nexus-examples",
        type=int,
        default=None,
        help="hypothesis examples per cell (default: the active hypothesis profile's)",
    )
    group.addoption("--nexus-seed", type=int, default=0, help="traffic seed (default 0)")
    group.addoption(
        "--nexus-replays",
        default=None,
        help="folder for failing cells' replay files (ini: nexus_replays; default: the"
        " test's tmp_path, which pytest removes after a few runs)",
    )
    group.addoption(
        "--nexus-pairs",
        default=None,
        help="which pairs of versions get a test: all (default), latest (every version"
        " with the newest, both ways) or adjacent (each migration's two versions, both"
        " ways, and each version with itself); ini: nexus_pairs",
    )
    group.addoption(
        "--nexus-sql-functions",
        default=None,
        help="what registers the app's own SQL functions, which migrations call:"
        " MODULE[:FUNCTION] or FILE.py[:FUNCTION]; FUNCTION (default 'register') takes a"
        " sqlite3.Connection (ini: nexus_sql_functions)",
    )
    parser.addini("nexus_migrations", "migrations directory to test", default=None)
    parser.addini("nexus_sql_functions", "what registers the app's SQL functions", default=None)
    parser.addini("nexus_pairs", "which pairs of versions get a test", default=None)
    parser.addini("nexus_expected", "documented matrix file", default=None)
    parser.addini("nexus_replays", "folder for failing cells' replay files", default=None)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "matrix: one cell of the cross-version compatibility matrix, or one migration's lint",
    )
    examples = config.getoption("--nexus-examples")
    if examples is not None and examples < 1:
        raise pytest.UsageError(f"--nexus-examples: must be at least 1, not {examples}")
    _pairs(config)
    try:
        _use_sql_functions(config)
    except HarnessError as exc:
        raise pytest.UsageError(str(exc)) from exc
    # Bad input is a usage error before any collection, one line, as the CLI says it.
    if _named(config):
        _expectations(config)


def _use_sql_functions(config: pytest.Config) -> None:
    """--nexus-sql-functions, or the ini key, whose file path is relative to the rootdir
    as ``nexus_migrations`` is (review BAS-10)."""
    spec = config.getoption("--nexus-sql-functions")
    if spec:
        use_sql_functions(str(spec), named_as="--nexus-sql-functions")
        return
    spec = config.getini("nexus_sql_functions")
    if not spec:
        return
    spec = from_folder(str(spec), Path(str(config.rootpath)))
    use_sql_functions(spec, named_as="nexus_sql_functions (ini)")


def pytest_report_header(config: pytest.Config) -> str | None:
    """Which migrations and which documented matrix the cells check (when any was named)."""
    if not _named(config):
        return None
    migration_set = _migration_set(config)
    source = _expectations(config).source
    versions = migration_set.versions
    which = _pairs(config)
    pairs_note = f", pairs {which}" if which != "all" else ""
    return (
        f"nexus: migrations {migration_set.directory} (v{versions[0]}-v{versions[-1]}),"
        f" documented matrix: {source}, {_examples(config)} examples per cell,"
        f" seed {config.getoption('--nexus-seed')}{pairs_note}"
    )


def _named(config: pytest.Config) -> bool:
    """Whether the run names a migrations folder or a matrix file (not our own defaults)."""
    return (
        _path_option(config, "migrations") is not None
        or _path_option(config, "expected") is not None
    )


def _path_option(config: pytest.Config, name: str) -> Path | None:
    # An option given empty (``--nexus-expected=``) overrides the ini key with nothing:
    # the default (review BZ-4: it fell through to the ini key).
    option = config.getoption(f"--nexus-{name}")
    value = option if option is not None else config.getini(f"nexus_{name}")
    if not value:
        return None
    path = Path(str(value))
    return path if path.is_absolute() else Path(str(config.rootpath)) / path


def _source(config: pytest.Config, name: str) -> str:
    """Where a path option came from, for its error: the option or the ini key."""
    given = config.getoption(f"--nexus-{name}") is not None or not config.getini(f"nexus_{name}")
    return f"--nexus-{name}" if given else f"nexus_{name} (ini)"


def _pairs(config: pytest.Config) -> str:
    """--nexus-pairs or the nexus_pairs ini key: one of PAIRS."""
    option = config.getoption("--nexus-pairs")
    which = str(option or config.getini("nexus_pairs") or "all")
    if which not in PAIRS:
        source = "--nexus-pairs" if option else "nexus_pairs (ini)"
        raise pytest.UsageError(f"{source}: {which!r} is not one of {', '.join(PAIRS)}")
    return which


def _migration_set(config: pytest.Config) -> MigrationSet:
    cached: MigrationSet | None = getattr(config, "_nexus_migration_set", None)
    if cached is None:
        try:
            cached = load_set(_path_option(config, "migrations"))
        except NexusError as exc:  # one line, as the CLI says it
            raise pytest.UsageError(f"{_source(config, 'migrations')}: {exc}") from None
        config._nexus_migration_set = cached  # type: ignore[attr-defined]
    return cached


def _expectations(config: pytest.Config) -> Documented:
    """The documented matrix, read once per session."""
    cached: Documented | None = getattr(config, "_nexus_expectations", None)
    if cached is None:
        try:
            cached = load_expectations(_migration_set(config), _path_option(config, "expected"))
        except HarnessError as exc:
            raise pytest.UsageError(f"{_source(config, 'expected')}: {exc}") from None
        config._nexus_expectations = cached  # type: ignore[attr-defined]
    return cached


def _own_profiles() -> tuple[settings, ...]:
    """Hypothesis's own profiles, as they are before any conftest registers one of
    their names (nexus-core's own registers "default", with 100 examples: a choice
    to honour). Hypothesis loads its "ci" one by itself where CI is set."""
    found = []
    for name in ("default", "ci"):
        with suppress(InvalidArgument):
            found.append(settings.get_profile(name))
    return tuple(found)


_HYPOTHESIS_PROFILES = _own_profiles()


def _examples(config: pytest.Config) -> int:
    """``--nexus-examples``, else a hypothesis profile's, else the CLI's default (25)."""
    chosen: int | None = config.getoption("--nexus-examples")
    if chosen is not None:
        return chosen
    profile = settings.default
    if profile is None or any(profile is own for own in _HYPOTHESIS_PROFILES):
        return DEFAULT_EXAMPLES  # no profile loaded: hypothesis's 100 is not a choice
    return int(profile.max_examples)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "nexus_cell" in metafunc.fixturenames:
        cells = pairs(_migration_set(metafunc.config), _pairs(metafunc.config))
        metafunc.parametrize(
            "nexus_cell",
            [pytest.param((a, b), id=f"v{a}-v{b}", marks=pytest.mark.matrix) for a, b in cells],
            indirect=True,
        )
    if "nexus_lint" in metafunc.fixturenames:
        versions = _migration_set(metafunc.config).versions
        metafunc.parametrize(
            "nexus_lint",
            [pytest.param(v, id=f"lint-v{v}", marks=pytest.mark.matrix) for v in versions],
            indirect=True,
        )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failing cell or lint reads like a report: its message, no traceback."""
    report = yield
    if call.excinfo is not None and call.excinfo.errisinstance((CellFailure, LintFailure)):
        report.longrepr = str(call.excinfo.value)
    return report


@dataclass
class Cell:
    """One cell under test: ``check()`` runs it and fails like a report."""

    local: int
    peer: int
    expected: str
    templates: Templates
    examples: int
    seed: int
    workdir: Path

    replays: Path | None = None  # where replay files go (default: workdir/replays)
    # What the lint calls breaking between the two versions (asked when the cell fails).
    behind: Callable[[], str] | None = None

    def run(self) -> CellResult:
        return run_cell(
            self.templates,
            self.local,
            self.peer,
            expected=self.expected,
            examples=self.examples,
            seed_value=self.seed,
            workdir=self.workdir,
            replay_dir=self.replays or self.workdir / "replays",
        )

    def check(self) -> CellResult:
        """Run the cell; raise :class:`CellFailure` unless it is as documented."""
        try:
            result = self.run()
        except (NexusError, HarnessError) as exc:  # a migration that fails to run, say
            raise CellFailure(f"cell v{self.local}-v{self.peer} could not run: {exc}") from None
        if not result.ok:
            report = failure_report(result)
            behind = self.behind() if self.behind is not None else ""
            if behind:
                low, high = sorted((self.local, self.peer))
                report += f"\nBreaking between v{low} and v{high} (lint): {behind}"
            raise CellFailure(report)
        return result


@dataclass
class Lint:
    """One migration's lint under test: ``check()`` fails when it is breaking,
    unless the documented matrix accepts the break (a cell across it is
    documented ``No sync``: ``documented``)."""

    version: int
    result: MigrationLint
    documented: bool = False
    how_to_accept: str = ""  # why no documented row accepts it, and the row that would

    def check(self) -> MigrationLint:
        """Raise :class:`LintFailure` when the lint calls this migration breaking."""
        if self.result.verdict == "breaking" and not self.documented:
            report = lint_failure_report(self.result)
            if self.how_to_accept:
                report += f"\nTo accept it: {self.how_to_accept}"
            raise LintFailure(report)
        return self.result


def lint_failure_report(result: MigrationLint) -> str:
    """A breaking migration as the CLI's lint would list it."""
    lines = [f"Breaking migration: v{result.version} ({result.description})", "Findings:"]
    for finding in result.findings:
        where = finding.table + (f".{finding.column}" if finding.column else "")
        lines.append(f"  - {finding.severity} {finding.rule} {where}: {finding.message}")
    return "\n".join(lines)


def failure_report(result: CellResult) -> str:
    """A failing cell as titled sections, like a report."""
    lines = [
        f"Cell v{result.local}-v{result.peer} (local v{result.local}, peer v{result.peer}):"
        f" expected {result.expected}, observed {result.observed}",
        f"Counts: {result.ops_sent} sent, {result.ops_applied} applied,"
        f" {result.ops_skipped_unknown} skipped (unknown), {result.ops_rejected} rejected"
        f" over {result.examples} example(s)",
        "Reasons:",
        *(f"  - {reason}" for reason in result.reasons),
    ]
    if result.replay_file:
        lines.append(f"Replay: nexus-compat replay {result.replay_file}")
    return "\n".join(lines)


@pytest.fixture(scope="session")
def nexus_migration_set(pytestconfig: pytest.Config) -> MigrationSet:
    """The validated migrations directory under test."""
    return _migration_set(pytestconfig)


@pytest.fixture(scope="session")
def nexus_templates(nexus_migration_set: MigrationSet) -> Iterator[Templates]:
    """Template databases at every version, built once per session."""
    templates = Templates(nexus_migration_set)
    yield templates
    templates.cleanup()


@pytest.fixture(scope="session")
def nexus_expected(pytestconfig: pytest.Config) -> dict[tuple[int, int], ExpectedCell]:
    """The documented matrix (or the default policy)."""
    return _expectations(pytestconfig).cells


@pytest.fixture(scope="session")
def nexus_lint_results(nexus_migration_set: MigrationSet) -> dict[int, MigrationLint]:
    """The lint of every migration, by version, run once per session."""
    try:
        return {r.version: r for r in lint_migrations(nexus_migration_set.migrations)}
    except (NexusError, HarnessError) as exc:
        problem = str(exc)  # failed outside the handler: no chain of causes shown
    pytest.fail(problem, pytrace=False)


@pytest.fixture
def nexus_lint(
    request: pytest.FixtureRequest, nexus_lint_results: dict[int, MigrationLint]
) -> Lint:
    """One migration's lint (parametrised over every version)."""
    breaking = [r.version for r in nexus_lint_results.values() if r.verdict == "breaking"]
    expectations = _expectations(request.config)
    rows = [(c.local, c.peer, c.status) for c in expectations.cells.values()]
    documented = request.param in documented_breaks(breaking, rows, expectations.accepted)
    versions = sorted(nexus_lint_results)
    return Lint(
        request.param,
        nexus_lint_results[request.param],
        documented=documented,
        how_to_accept=""
        if documented
        else how_to_accept(
            request.param,
            breaking,
            rows,
            versions,
            rules=[
                f.rule
                for f in nexus_lint_results[request.param].findings
                if f.severity == "breaking"
            ],
        ),
    )


@pytest.fixture
def db_at_version(nexus_templates: Templates, tmp_path: Path) -> Callable[[int], Path]:
    """A factory: ``db_at_version(3)`` is a fresh database file at version 3."""
    made = 0

    def make(version: int) -> Path:
        nonlocal made
        nexus_templates.migration_set.check_version(version)
        made += 1
        return nexus_templates.copy(version, tmp_path / f"db-v{version}-{made}.db")

    return make


@pytest.fixture
def replica_pair(
    nexus_templates: Templates, tmp_path: Path
) -> Iterator[Callable[[int, int], tuple[Replica, Replica]]]:
    """A factory: ``replica_pair(1, 2)`` gives fresh replicas at v1 and v2."""
    opened: list[Replica] = []

    def make(local: int, peer: int) -> tuple[Replica, Replica]:
        index = len(opened)
        a = nexus_templates.replica(local, tmp_path / f"a{index}-v{local}.db")
        b = nexus_templates.replica(peer, tmp_path / f"b{index}-v{peer}.db")
        opened.extend((a, b))
        return a, b

    yield make
    for replica in opened:
        replica.close()


@pytest.fixture
def nexus_cell(
    request: pytest.FixtureRequest,
    nexus_templates: Templates,
    nexus_expected: dict[tuple[int, int], ExpectedCell],
    tmp_path: Path,
) -> Cell:
    """One matrix cell (parametrised over every ordered pair of versions).

    Replay files of failing cells go to ``--nexus-replays`` (ini ``nexus_replays``),
    else stay in pytest's ``tmp_path``.
    """
    local, peer = request.param
    config = request.config
    return Cell(
        local,
        peer,
        expectation_for(nexus_expected, local, peer),
        nexus_templates,
        _examples(config),
        config.getoption("--nexus-seed"),
        tmp_path,
        _path_option(config, "replays"),
        lambda: _breaking_between_or_nothing(request, local, peer),
    )


def _breaking_between_or_nothing(request: pytest.FixtureRequest, local: int, peer: int) -> str:
    """:func:`breaking_between` from the session's lint; nothing where the lint could
    not run (its own tests say why)."""
    try:
        results = request.getfixturevalue("nexus_lint_results")
    except pytest.fail.Exception:
        return ""
    return breaking_between(lint_to_json(list(results.values()))["lint"], local, peer)
