"""One matrix cell: hypothesis traffic between a client at A and one at B, judged at A.

Each example starts two fresh replica files from the version templates, runs
generated traffic (writes on both sides and syncs), syncs until quiescent and
judges A. For A older than B, A then upgrades to B's version, syncs once more
and must hold everything B has. The cell's observed status is the worst any
example showed; a broken example is cut to the steps its break needs
(:func:`cut_steps`) and saved as JSON that ``nexus-compat replay`` runs again.

Hypothesis's own shrinking is off. Where its shrinker stops depends on how
long it has run, so the same seed could give another minimal example from run
to run; and every candidate it tries draws the traffic again, which on a wide
schema made a broken cell cost a minute or more. :func:`cut_steps` runs the
example without each step in turn: the same example, the same cut, every run.
"""

from __future__ import annotations

import logging
import re
import tempfile
import traceback
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Flaky

from harness.errors import HarnessError
from harness.execute import Execution, edit_after_upgrade, run_traffic, sync_pair
from harness.expected import BROKEN, UNDOCUMENTED, status_matches
from harness.files import write_json
from harness.judge import (
    STATUS_ORDER,
    Observation,
    held_rows,
    judge,
    judge_heal,
    replicated_names,
    type_differences,
)
from harness.sqlfunctions import sql_functions_in_use
from harness.stable import seed_only
from harness.strategies import traffic
from harness.versions import Templates, stepping_clock
from nexus_core.errors import NexusError

SYNC_LOGGER = "nexus_core.sync"


def cell_id(local: int, peer: int) -> str:
    """A cell's id in reports and test ids: ``v{A}-v{B}`` (the contract's form)."""
    return f"v{local}-v{peer}"


@dataclass
class CellResult:
    """A cell's outcome, in the contract's JSON shape (``to_json``)."""

    local: int
    peer: int
    expected: str
    observed: str = "full"
    ok: bool = True
    examples: int = 0
    ops_sent: int = 0
    ops_applied: int = 0
    ops_skipped_unknown: int = 0
    ops_rejected: int = 0
    heals_on_upgrade: bool | None = None
    reasons: list[str] = field(default_factory=list)
    replay_file: str | None = None
    discarded_steps: int = 0
    untested_tables: list[str] = field(default_factory=list)

    @property
    def cell_id(self) -> str:
        return cell_id(self.local, self.peer)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def add(self, observation: Observation) -> None:
        self.examples += 1
        for key, value in observation.counts.items():
            setattr(self, key, getattr(self, key) + value)
        if STATUS_ORDER[observation.status] > STATUS_ORDER[self.observed]:
            self.observed = observation.status
        if observation.heals_on_upgrade is not None:
            previous = True if self.heals_on_upgrade is None else self.heals_on_upgrade
            self.heals_on_upgrade = previous and observation.heals_on_upgrade


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def captured_sync_log() -> Iterator[list[logging.LogRecord]]:
    """Collect the engine's log records (and keep them off the user's terminal)."""
    logger = logging.getLogger(SYNC_LOGGER)
    handler = _Capture()
    previous = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)
        logger.propagate = previous


def run_example(
    templates: Templates,
    local: int,
    peer: int,
    steps: Sequence[Mapping[str, Any]],
    workdir: Path,
) -> Observation:
    """Run one traffic example between fresh replicas at ``local`` and ``peer``."""
    with tempfile.TemporaryDirectory(dir=workdir) as scratch:
        root = Path(scratch)
        clock = stepping_clock()
        a = templates.replica(local, root / "a.db", peer_id="replica-a", now_ms=clock)
        b = templates.replica(peer, root / "b.db", peer_id="replica-b", now_ms=clock)
        try:
            execution = Execution()
            stage = "sync"
            with captured_sync_log() as log:
                try:
                    run_traffic({"a": a, "b": b}, steps, execution)
                    observation = judge(a, b, execution, log)
                    if local < peer:
                        stage = f"upgrade of A (v{local}) to v{peer}"
                        before = held_rows(a)
                        a.upgrade(peer)
                        gone = before - held_rows(a)
                        stage = "sync after the upgrade"
                        sync_pair(a, b, execution)
                        heal_problems = judge_heal(a, b, gone)
                        if not heal_problems:
                            stage = "edits after the upgrade"
                            heal_problems = edit_after_upgrade(a, b, execution)
                        observation.heals_on_upgrade = not heal_problems
                        if heal_problems:
                            observation.status = "broken"
                            observation.reasons += heal_problems
                except NexusError as exc:
                    observation = Observation("broken", [f"{stage} failed: {exc}"])
                    if stage != "sync":  # the upgrade (or the sync after it) failed: no heal
                        observation.heals_on_upgrade = False
                except Exception as exc:  # an engine crash is a finding, not a harness error
                    where = traceback.extract_tb(exc.__traceback__)[-1]
                    observation = Observation(
                        "broken",
                        [f"crash: {type(exc).__name__}: {exc} ({where.filename}:{where.lineno})"],
                    )
                    if stage != "sync":
                        observation.heals_on_upgrade = False
        finally:
            a.close()
            b.close()
    observation.tables_written = set(execution.tables_written)
    return observation


def example_settings(examples: int) -> settings:
    """How the harness runs hypothesis: a fixed number of examples, no example
    database, no timing checks, no shrinking (the module's docstring says why),
    seeded by the caller (``@seed``). A failing example is still run once more,
    which is how an outcome that depends on the clock shows as ``Flaky``."""
    return settings(
        max_examples=examples,
        database=None,
        deadline=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
        phases=(Phase.generate,),
        report_multiple_bugs=False,
    )


# Steps left after the one-at-a-time cut up to which pairs are tried (28 pairs at most).
PAIRS_CUT_UP_TO = 8


def not_repeated(what: str) -> str:
    """Why a failure hypothesis saw once passed when it ran the example again."""
    return (
        f"the same traffic did not always {what} when run again: the outcome depends on"
        " something outside the traffic (the clock, random())"
    )


class _Broken(Exception):
    """Raised inside hypothesis so it stops at a broken example."""


def run_cell(
    templates: Templates,
    local: int,
    peer: int,
    *,
    expected: str,
    examples: int,
    seed_value: int,
    workdir: Path,
    replay_dir: Path | None = None,
    max_steps: int = 16,
) -> CellResult:
    """Run hypothesis examples for one cell and gather its result."""

    result = CellResult(local, peer, expected)
    strategy = traffic(templates.schema(local), templates.schema(peer), max_steps=max_steps)
    replicated = set(templates.schema(local).replicated_tables) | set(
        templates.schema(peer).replicated_tables
    )
    written: set[str] = set()
    failure: list[tuple[list[dict[str, Any]], Observation]] = []

    @example_settings(examples)
    @seed(seed_value)
    @given(strategy)
    def check(steps: list[dict[str, Any]]) -> None:
        observation = run_example(templates, local, peer, steps, workdir)
        written.update(observation.tables_written)
        if not failure:  # hypothesis's final run of the broken example is not counted
            result.add(observation)
        if observation.status == "broken":
            failure.append((steps, observation))
            raise _Broken(observation.reasons[0] if observation.reasons else "broken")

    try:
        with seed_only():
            check()
    except (_Broken, Flaky) as exc:
        if not failure:  # (hypothesis's own Flaky, from something other than a broken example)
            raise
        steps, observation = failure[-1]
        flaky = isinstance(exc, Flaky)
        if not flaky:
            steps, observation = cut_steps(templates, local, peer, steps, observation, workdir)
        result.reasons = list(observation.reasons)
        if flaky:
            # Run again, the example passed: the outcome depends on something the traffic
            # does not fix (the wall clock, random()), as a default of CURRENT_TIMESTAMP does.
            result.reasons.append(not_repeated("break it"))
        result.reasons.append(
            f"minimal example: {len(steps)} step(s)"
            if steps
            else "minimal example: no traffic at all (what the migrations themselves write"
            " breaks it, in one sync)"
        )
        if replay_dir is not None:
            try:
                saved = save_replay(replay_dir, templates, local, peer, steps, observation)
            except (OSError, HarnessError) as exc:  # a read-only checkout: the cell still counts
                why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                result.reasons.append(
                    f"no replay file written: {replay_dir}: {why} (--replay-dir DIR picks a folder)"
                )
            else:
                result.replay_file = str(saved)
    result.untested_tables = sorted(replicated - written)
    result.ok = status_matches(expected, result.observed)
    documented = (
        "not in the documented matrix" if expected == UNDOCUMENTED else f"documented as {expected}"
    )
    if not result.ok and not result.reasons:
        result.reasons.append(
            f"{documented}, observed {result.observed} over {result.examples} example(s)"
        )
        if result.observed in ("full", "partial"):
            result.reasons.append(schema_gap(templates, local, peer))
        if expected == BROKEN:  # documented as a break the traffic did not reach
            result.reasons.append(_unreached_break(templates, local, peer))
    elif not result.ok:
        result.reasons.insert(0, f"{documented}, observed {result.observed}")
        if result.observed == BROKEN and expected != UNDOCUMENTED and local != peer:
            # The obvious edit also accepts the migration's lint (review BAK-4).
            result.reasons.append(
                "documenting this pair No sync accepts the break, and with it the lint of a"
                " breaking migration it alone crosses: do that only for a released migration,"
                " and fix an unreleased one"
            )
    return result


def _unreached_break(templates: Templates, local: int, peer: int) -> str:
    """What a cell documented No sync but seen full or partial most likely means."""
    if local < peer:  # columns the peer's version requires that the local one lacks
        mine = templates.schema(local).replicated_tables
        required = sorted(
            f"{name}.{column.name}"
            for name, table in templates.schema(peer).replicated_tables.items()
            if name in mine
            for column in table.columns
            if column.required and mine[name].column(column.name) is None
        )
        if required:
            return (
                f"v{peer} requires {', '.join(required)}, which v{local} lacks: that breaks"
                f" the cells whose local client is the newer (v{peer}-v{local}); an older"
                " local client skips and parks the column, so this cell is partial by the"
                " contract (document it as Partial sync)"
            )
    return (
        "a break this run did not reach reads so too: if the documented break is real"
        " (the lint names it), raise --examples rather than edit the document"
    )


def schema_gap(templates: Templates, local: int, peer: int) -> str:
    """What one version replicates and the other lacks: why a cell is partial, or full."""
    mine = replicated_names(templates.schema(local))
    theirs = replicated_names(templates.schema(peer))
    only_theirs = _outermost(theirs - mine)
    only_mine = _outermost(mine - theirs)
    if not only_theirs and not only_mine:
        retyped = type_differences(templates.schema(local), templates.schema(peer))
        if retyped:
            return (
                f"v{local} and v{peer} replicate the same tables and columns, but declare"
                f" {', '.join(retyped)} as types SQLite stores differently, so the cell is"
                " partial (document it as Partial sync)"
            )
        return (
            f"v{local} and v{peer} replicate the same tables and columns: nothing is skipped,"
            " so the cell is full (document it as Full sync)"
        )
    parts = []
    for lacking, having, names in ((local, peer, only_theirs), (peer, local, only_mine)):
        if names:
            them = "them" if len(names) > 1 else "it"
            parts.append(
                f"v{lacking} lacks {', '.join(names)} (v{having} has {them}) and skips and"
                f" parks ops on {them}"
            )
    return "; ".join(parts) + ", so the cell is partial (document it as Partial sync)"


def _outermost(names: set[str]) -> list[str]:
    """Tables whole, and columns only of tables not listed whole."""
    tables = {n.removeprefix("table ") for n in names if n.startswith("table ")}
    return sorted(n for n in names if n.startswith("table ") or n.split(".")[0] not in tables)


def cut_steps(
    templates: Templates,
    local: int,
    peer: int,
    steps: Sequence[Mapping[str, Any]],
    observation: Observation,
    workdir: Path,
) -> tuple[list[dict[str, Any]], Observation]:
    """Drop each step the break does not need, last to first.

    The traffic opens with a fixed part (a row per table on each side, a sync,
    an update of every column) that a generated example always has: with many
    tables, most of it. A step goes when the example without it still breaks
    with the same kind of first reason (a break of another kind is not this
    one). Each trial is a fresh run of fixed steps, so the cut is the same on
    every run.

    Where no single step can go and few are left, two steps are tried together:
    a step picks rows by their position among a table's rows, so a parent row
    and the row pointing at it can only go as a pair.
    """
    kept = [dict(step) for step in steps]
    first = _kind(observation.reasons[:1])

    def breaks(trial: list[dict[str, Any]]) -> Observation | None:
        seen = run_example(templates, local, peer, trial, workdir)
        return seen if seen.status == "broken" and _kind(seen.reasons[:1]) == first else None

    while True:
        cut = True
        while cut:  # again, while a pass cut something: a step may be needed only by another
            cut = False
            for index in reversed(range(len(kept))):
                trial = kept[:index] + kept[index + 1 :]
                seen = breaks(trial)
                if seen is not None:
                    kept, observation, cut = trial, seen, True
        if len(kept) > PAIRS_CUT_UP_TO:
            return kept, observation
        for later, earlier in combinations(reversed(range(len(kept))), 2):
            trial = [step for index, step in enumerate(kept) if index not in (later, earlier)]
            seen = breaks(trial)
            if seen is not None:
                kept, observation = trial, seen
                break
        else:
            return kept, observation


def _kind(reasons: Sequence[str]) -> list[tuple[str, ...]]:
    """Reasons with their numbers aside: "refused 2 op(s)" and "refused 1 op(s)" are
    the same break, as are row b-0 and b-1; and a reason listing two rows refused
    for the same cause ("row 3: UNIQUE ...; row 7: UNIQUE ...") is the break of
    one such row."""
    kinds = []
    for reason in reasons:
        parts: list[str] = []
        for part in re.sub(r"\d+", "#", reason).split("; "):
            if not any(seen == part or seen.endswith(f": {part}") for seen in parts):
                parts.append(part)
        kinds.append(tuple(parts))
    return kinds


def save_replay(
    directory: Path,
    templates: Templates,
    local: int,
    peer: int,
    steps: Sequence[Mapping[str, Any]],
    observation: Observation,
) -> Path:
    """Write a minimal failing example as JSON for ``nexus-compat replay``."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"replay-v{local}-v{peer}.json"
    payload = {
        "migrations": str(templates.migration_set.directory.resolve()),
        "migrations_checksum": templates.migration_set.checksum,
        "local": local,
        "peer": peer,
        "observed": observation.status,
        "reasons": observation.reasons,
        "steps": list(steps),
    }
    functions = sql_functions_in_use()
    if functions is not None:  # (replay loads them again: review BAS-7)
        payload["sql_functions"] = functions
    # Keys in the order drawn: the order of a write's columns is part of the example
    # (a replay read from sorted JSON was another example, and could break otherwise).
    write_json(path, payload, sort_keys=False)
    return path


__all__ = [
    "CellResult",
    "cell_id",
    "cut_steps",
    "example_settings",
    "not_repeated",
    "run_cell",
    "run_example",
    "save_replay",
]
