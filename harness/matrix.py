"""The whole matrix: every ordered pair of versions, in parallel, against the documented one.

``run_matrix`` is what ``nexus-compat matrix`` and ``report`` call. Cells run in
worker processes (``jobs``); each worker builds its own version templates once.
Results come back to the calling process only, in a fixed order, so the same
seed always gives the same report whatever the number of jobs.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

from harness.cells import CellResult, run_cell
from harness.crosscheck import relay_accepted, within_explains, within_version_breaks
from harness.expected import (
    BROKEN,
    PARTIAL,
    ExpectedCell,
    check_versions,
    default_expectations,
    expectation_for,
    read_document,
)
from harness.lint import lint_migrations, lint_to_json
from harness.relay import RelayResult, run_relay
from harness.sqlfunctions import use_sql_functions
from harness.versions import MigrationSet, Templates, load_set
from nexus_core.db.migrations import default_migrations_dir

DEFAULT_EXAMPLES = 25
DEFAULT_RELAY_EXAMPLES = 10


@dataclass(frozen=True)
class MatrixConfig:
    """Everything a matrix run depends on; the same config gives the same report."""

    migrations: Path | None = None
    expected: Path | None = None
    examples: int = DEFAULT_EXAMPLES
    seed: int = 0
    jobs: int = 0
    replay_dir: Path | None = None
    relay: bool = True
    relay_examples: int = DEFAULT_RELAY_EXAMPLES
    max_steps: int = 16
    pairs: str = "all"  # see PAIRS
    sql_functions: str | None = None  # what registers the app's SQL functions (sqlfunctions)


class Documented(NamedTuple):
    """The documented matrix: its statuses, where they came from, its accepted breaks."""

    cells: dict[tuple[int, int], ExpectedCell]
    source: str
    accepted: tuple[int, ...] = ()


@dataclass
class MatrixResult:
    migration_set: MigrationSet
    documented: Documented  # what the cells were checked against
    cells: list[CellResult] = field(default_factory=list)
    relay: list[RelayResult] = field(default_factory=list)
    pairs: str = "all"  # which pairs ran (see PAIRS)

    @property
    def expected_source(self) -> str:
        return self.documented.source

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.cells) and all(r.ok for r in self.relay)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "versions": self.migration_set.versions,
            "cells": [c.to_json() for c in self.cells],
            "relay": [r.to_json() for r in self.relay],
            "expected_source": self.expected_source,
            "pairs": self.pairs,
        }


def default_expected_file() -> Path | None:
    """The project's documented matrix: docs/MIGRATIONS.md (or the wheel's copy)."""
    package_root = default_migrations_dir().parent
    for candidate in (package_root / "MIGRATIONS.md", package_root / "docs" / "MIGRATIONS.md"):
        if candidate.is_file():
            return candidate
    return None


def load_expectations(migration_set: MigrationSet, expected: Path | None) -> Documented:
    """The documented statuses, where they came from and the accepted breaks
    (``Accepted breaks: v2``), the file read once.

    An explicit file wins; our own migrations default to docs/MIGRATIONS.md;
    any other directory without a file gets the default policy (no accepted break).
    """
    if expected is None and migration_set.is_default:
        expected = default_expected_file()
    if expected is None:
        return Documented(default_expectations(migration_set.versions), "default policy")
    cells, accepted = read_document(expected, migration_set.versions)
    check_versions(cells, migration_set.versions, str(expected))
    return Documented(cells, str(expected), accepted)


# Which pairs of versions a run checks. "all": every ordered pair (N x N cells), what
# the contract's matrix is. On a long history that is a lot (40 versions: 1,600 cells
# and 780 relay checks), so a run can take fewer: "latest", every version with the
# newest, both ways (the release about to ship against every client in the field:
# 2N - 1 cells); "adjacent", each migration between the two versions it separates,
# both ways, and each version with itself (3N - 2 cells).
PAIRS = ("all", "latest", "adjacent")


def _taken(a: int, b: int, versions: Sequence[int], which: str) -> bool:
    if which == "latest":
        return versions[-1] in (a, b)
    if which == "adjacent":
        return abs(versions.index(a) - versions.index(b)) <= 1
    return True


def pairs(migration_set: MigrationSet, which: str = "all") -> list[tuple[int, int]]:
    """The cells a run checks, (local, peer), in the report's order."""
    versions = migration_set.versions
    return [(a, b) for a in versions for b in versions if _taken(a, b, versions, which)]


def relay_pairs(migration_set: MigrationSet, which: str = "all") -> list[tuple[int, int]]:
    """The relay checks a run makes, (relay, writer): every older relay of a newer writer."""
    versions = migration_set.versions
    return [(r, n) for n in versions for r in versions if r < n and _taken(r, n, versions, which)]


def usable_cpus() -> int:
    """The CPUs this process may run on (``--jobs`` 0): a CI runner pinned to two of
    a host's sixty-four has two (``os.cpu_count()`` says sixty-four)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


_TEMPLATES: dict[str, Templates] = {}


def _templates(directory: Path, built: dict[int, Path]) -> Templates:
    """This process's view of the run's templates (built once by the parent)."""
    key = str(directory.resolve())
    if key not in _TEMPLATES or _TEMPLATES[key]._built != built:
        _TEMPLATES[key] = Templates.from_built(load_set(directory), built)
    return _TEMPLATES[key]


def _cell_job(
    directory: Path,
    built: dict[int, Path],
    local: int,
    peer: int,
    expected: str,
    config: MatrixConfig,
) -> CellResult:
    templates = _templates(directory, built)
    # Inside the run's template folder, which the main process removes at the end,
    # even when it stopped its workers midway.
    with tempfile.TemporaryDirectory(prefix="nexus-cell-", dir=templates.workdir) as workdir:
        return run_cell(
            templates,
            local,
            peer,
            expected=expected,
            examples=config.examples,
            seed_value=config.seed,
            workdir=Path(workdir),
            replay_dir=config.replay_dir,
            max_steps=config.max_steps,
        )


def _relay_job(
    directory: Path, built: dict[int, Path], relay: int, peer: int, config: MatrixConfig
) -> RelayResult:
    templates = _templates(directory, built)
    with tempfile.TemporaryDirectory(prefix="nexus-relay-", dir=templates.workdir) as workdir:
        return run_relay(
            templates,
            relay,
            peer,
            examples=config.relay_examples,
            seed_value=config.seed,
            workdir=Path(workdir),
        )


Progress = Callable[[str, CellResult | RelayResult], None]


def run_matrix(config: MatrixConfig, progress: Progress | None = None) -> MatrixResult:
    """Run every cell (and relay check) and compare with the documented matrix."""
    use_sql_functions(config.sql_functions)
    migration_set = load_set(config.migrations)
    documented = load_expectations(migration_set, config.expected)
    expectations, source, accepted = documented
    result = MatrixResult(migration_set, documented, pairs=config.pairs)
    directory = migration_set.directory
    jobs = config.jobs or usable_cpus()
    cell_pairs = pairs(migration_set, config.pairs)
    relays = relay_pairs(migration_set, config.pairs) if config.relay else []
    cells: dict[tuple[int, int], CellResult] = {}
    relay_results: dict[tuple[int, int], RelayResult] = {}

    def note(kind: str, item: CellResult | RelayResult) -> None:
        if progress is not None:
            progress(kind, item)

    templates = Templates(migration_set)
    staging = _staging_folder(config.replay_dir)
    try:
        built = templates.build_all()  # a migration that fails stops the run before any cell
        _TEMPLATES[str(directory.resolve())] = templates  # jobs here (or forked) reuse them
        _run_all(
            directory,
            built,
            cell_pairs,
            relays,
            expectations,
            replace(config, replay_dir=staging or config.replay_dir),
            jobs,
            note,
            cells,
            relay_results,
        )
        result.cells = [cells[p] for p in cell_pairs]
        if config.replay_dir is not None:
            _publish_replays(config.replay_dir, result.cells)
    finally:
        templates.cleanup()
        _TEMPLATES.pop(str(directory.resolve()), None)
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    for cell in result.cells:  # where to edit the document, if it is the document that is wrong
        row = expectations.get((cell.local, cell.peer))
        if not cell.ok and row is not None and row.line:
            cell.reasons.insert(1, f"documented at {source}:{row.line}")
    result.relay = [relay_results[p] for p in relays]
    _accept(result, accepted)
    return result


def _accept(result: MatrixResult, accepted: Sequence[int]) -> None:
    """What the document's accepted breaks accept beyond the lint (see docs/HARNESS.md):
    a cell documented No sync across one of them and seen partial (a clock-stamped
    seed breaks in one run and not the next: review BAL-4), and a relay check one of
    them explains (a trigger writing replicated rows: BAK-3, in ``matrix`` as in
    ``report``: BAL-5); never where a breaking migration not listed may explain it."""
    if not accepted or (
        all(cell.ok for cell in result.cells) and all(relay.ok for relay in result.relay)
    ):
        return
    lint = lint_to_json(lint_migrations(result.migration_set.migrations))["lint"]
    unlisted = {int(e["version"]) for e in lint if e["verdict"] == "breaking"} - set(accepted)
    within = within_version_breaks(lint)  # (any pair a side of which runs them may show them)
    everywhere = {v: running for v, running in within.items() if v in unlisted}

    def unexplained(low: int, high: int) -> bool:
        """Whether a breaking migration not listed may explain a failure between them."""
        return bool(unlisted & set(range(low + 1, high + 1))) or within_explains(
            everywhere, low, high
        )

    for cell in result.cells:
        low, high = sorted((cell.local, cell.peer))
        crossed = [v for v in accepted if low < v <= high]
        if unexplained(low, high):
            continue
        if not cell.ok and cell.expected == BROKEN and cell.observed == PARTIAL and crossed:
            cell.ok = True
            names = ", ".join(f"v{v}" for v in crossed)
            cell.reasons = [f"accepted: documented No sync across the accepted break {names}"]
    for relay in result.relay:
        if relay.ok or unexplained(relay.relay, relay.peer):
            continue
        explained = relay_accepted(relay.relay, relay.peer, accepted, lint)
        if explained:  # what an accepted break makes fail is accepted with it
            relay.ok, relay.accepted_breaks = True, explained
            names = ", ".join(f"v{v}" for v in explained)
            relay.reasons.insert(0, f"accepted: the documented matrix accepts {names}")


def _staging_folder(replay_dir: Path | None) -> Path | None:
    """Where the run's replay files go until the whole run is done: a hidden folder
    inside ``replay_dir``, so an interrupted run leaves the last run's replays as
    they were (none overwritten, none added). Made by the first cell that writes
    one (a run with no broken cell makes no folder). None where ``replay_dir``
    cannot be written: the cells then try it themselves, and say why they could not."""
    if replay_dir is None or (replay_dir.is_symlink() and not replay_dir.exists()):
        return None  # (a dangling link: the cells say so, naming the user's path)
    nearest = next((p for p in (replay_dir, *replay_dir.parents) if p.exists()), Path.cwd())
    if not (nearest.is_dir() and os.access(nearest, os.W_OK | os.X_OK)):
        return None
    return replay_dir / f".partial-{os.getpid()}-{uuid.uuid4().hex[:12]}"


def _publish_replays(folder: Path, cells: Sequence[CellResult]) -> None:
    """After a whole run: this run's replay files moved into ``folder`` (each a
    rename, whole), and the folder holds them only."""
    for cell in cells:
        if cell.replay_file and Path(cell.replay_file).parent != folder:
            final = folder / Path(cell.replay_file).name
            os.replace(cell.replay_file, final)
            cell.replay_file = str(final)
    _remove_stale_replays(folder, cells)


def _remove_stale_replays(folder: Path, cells: Sequence[CellResult]) -> None:
    """Replay files of earlier runs for cells this one did not find broken, and the
    staging folders of runs killed outright (SIGKILL: no ``finally`` ran)."""
    for staged in folder.glob(".partial-*"):
        if staged.is_dir() and _abandoned(staged):
            shutil.rmtree(staged, ignore_errors=True)
    kept = {Path(cell.replay_file).name for cell in cells if cell.replay_file}
    for stale in folder.glob("replay-v*-v*.json"):
        if re.fullmatch(r"replay-v\d+-v\d+\.json", stale.name) and stale.name not in kept:
            with contextlib.suppress(OSError):  # a folder this user cannot change: left as is
                stale.unlink()


def _abandoned(staged: Path) -> bool:
    """Whether a ``.partial-PID-...`` folder's run has gone: its process is not
    running here, or it is a day old (a folder shared across machines)."""
    try:
        if time.time() - staged.stat().st_mtime > 86_400:
            return True
        os.kill(int(staged.name.split("-")[1]), 0)
    except (ValueError, IndexError, ProcessLookupError):
        return True
    except OSError:  # (PermissionError: another user's live process)
        return False
    return False


def _start_worker(sql_functions: str | None) -> None:
    """A worker's set-up: signals (:func:`_ignore_interrupts`) and the app's SQL
    functions (a worker started afresh, not forked, has none)."""
    _ignore_interrupts()
    use_sql_functions(sql_functions)


def _ignore_interrupts() -> None:
    """In a worker: Ctrl-C is the main process's to handle (it stops the workers),
    and a SIGTERM (how it stops them) ends the worker at once."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _stop(pool: ProcessPoolExecutor) -> None:
    """Cancel what has not started and end the running jobs now, not when they finish."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.terminate()  # (a private map; without it, only the queue is cancelled)
    pool.shutdown(wait=True, cancel_futures=True)


def _expected_cost(pair: tuple[int, int]) -> tuple[int, int]:
    """Slow cells first (an upgrade and a heal check, a wide gap), so the last
    jobs to start are short ones and the workers finish together. (Results are
    kept by cell, so the order of the report does not change.)"""
    local, peer = pair
    return (0 if local < peer else 1, -abs(peer - local))


def _run_all(
    directory: Path,
    built: dict[int, Path],
    cell_pairs: list[tuple[int, int]],
    relays: list[tuple[int, int]],
    expectations: Mapping[tuple[int, int], ExpectedCell],
    config: MatrixConfig,
    jobs: int,
    note: Callable[[str, CellResult | RelayResult], None],
    cells: dict[tuple[int, int], CellResult],
    relay_results: dict[tuple[int, int], RelayResult],
) -> None:
    if jobs == 1:
        for a, b in cell_pairs:
            expected = expectation_for(expectations, a, b)
            cells[a, b] = _cell_job(directory, built, a, b, expected, config)
            note("cell", cells[a, b])
        for r, n in relays:
            relay_results[r, n] = _relay_job(directory, built, r, n, config)
            note("relay", relay_results[r, n])
    else:
        pool = ProcessPoolExecutor(
            max_workers=jobs, initializer=_start_worker, initargs=(config.sql_functions,)
        )
        try:
            futures: Mapping[Any, tuple[str, tuple[int, int]]] = {
                **{
                    pool.submit(
                        _cell_job,
                        directory,
                        built,
                        a,
                        b,
                        expectation_for(expectations, a, b),
                        config,
                    ): ("cell", (a, b))
                    for a, b in sorted(cell_pairs, key=_expected_cost)
                },
                **{
                    pool.submit(_relay_job, directory, built, r, n, config): ("relay", (r, n))
                    for r, n in relays
                },
            }
            for future in as_completed(futures):
                kind, key = futures[future]
                item = future.result()
                if isinstance(item, CellResult):
                    cells[key] = item
                else:
                    relay_results[key] = item
                note(kind, item)
        except BaseException:  # Ctrl-C above all: stop at once, leave nothing running
            _stop(pool)
            raise
        pool.shutdown()
