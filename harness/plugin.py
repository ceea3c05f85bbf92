"""The pytest plugin (entry point ``pytest11``): options, the ``matrix`` marker, fixtures.

Any project gets a cell per ordered pair of its versions by asking for the
``nexus_cell`` fixture::

    def test_matrix(nexus_cell):
        nexus_cell.check()

and runs it with ``pytest --nexus-migrations db/migrations -k matrix`` (or one
cell: ``-k "v1-v2"``). Hooks and fixtures only; the work is in the library.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import settings

from harness.cells import CellResult, run_cell
from harness.errors import CellFailure
from harness.expected import ExpectedCell, expectation_for
from harness.matrix import load_expectations, pairs
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
    parser.addini("nexus_migrations", "migrations directory to test", default=None)
    parser.addini("nexus_expected", "documented matrix file", default=None)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "matrix: one cell of the cross-version compatibility matrix")
    if _path_option(config, "migrations") is not None:
        _migration_set(config)  # a bad folder is a usage error, before any collection


def _path_option(config: pytest.Config, name: str) -> Path | None:
    value = config.getoption(f"--nexus-{name}") or config.getini(f"nexus_{name}")
    if not value:
        return None
    path = Path(str(value))
    return path if path.is_absolute() else Path(str(config.rootpath)) / path


def _migration_set(config: pytest.Config) -> MigrationSet:
    cached: MigrationSet | None = getattr(config, "_nexus_migration_set", None)
    if cached is None:
        try:
            cached = load_set(_path_option(config, "migrations"))
        except NexusError as exc:  # one line, as the CLI says it
            raise pytest.UsageError(f"--nexus-migrations: {exc}") from None
        config._nexus_migration_set = cached  # type: ignore[attr-defined]
    return cached


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "nexus_cell" not in metafunc.fixturenames:
        return
    cells = pairs(_migration_set(metafunc.config))
    metafunc.parametrize(
        "nexus_cell",
        [pytest.param((a, b), id=f"v{a}-v{b}", marks=pytest.mark.matrix) for a, b in cells],
        indirect=True,
    )


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

    def run(self) -> CellResult:
        return run_cell(
            self.templates,
            self.local,
            self.peer,
            expected=self.expected,
            examples=self.examples,
            seed_value=self.seed,
            workdir=self.workdir,
            replay_dir=self.workdir / "replays",
        )

    def check(self) -> CellResult:
        result = self.run()
        if not result.ok:
            raise CellFailure(failure_report(result))
        return result


def failure_report(result: CellResult) -> str:
    """A failing cell as titled sections, like a report."""
    lines = [
        f"Failing Cell: v{result.local} (local) with v{result.peer} (peer)",
        f"Expected: {result.expected}    Observed: {result.observed}",
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
def nexus_expected(
    pytestconfig: pytest.Config, nexus_migration_set: MigrationSet
) -> dict[tuple[int, int], ExpectedCell]:
    """The documented matrix (or the default policy)."""
    expected, _ = load_expectations(nexus_migration_set, _path_option(pytestconfig, "expected"))
    return expected


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

    Replay files of failing cells stay in pytest's ``tmp_path`` for inspection.
    """
    local, peer = request.param
    config = request.config
    profile = settings.default
    examples = config.getoption("--nexus-examples") or (profile.max_examples if profile else 25)
    return Cell(
        local,
        peer,
        expectation_for(nexus_expected, local, peer),
        nexus_templates,
        examples,
        config.getoption("--nexus-seed"),
        tmp_path,
    )
