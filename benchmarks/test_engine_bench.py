"""Regression benchmarks (pytest-benchmark): ``tox -e bench``, never part of the test run.

They time the engine's hot paths on real SQLite files so a change that slows
capture, apply or delta sync shows up in the comparison between runs
(``--benchmark-compare``). Nothing here asserts a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.bench import BENCH_TABLE, _replica, _rows
from harness.versions import Templates, load_set
from nexus_core.replica import Replica
from nexus_core.sync import sync

ROWS = 2_000


@pytest.fixture(scope="module")
def templates() -> Iterator[Templates]:
    made = Templates(load_set())
    yield made
    made.cleanup()


@pytest.fixture
def fresh(templates: Templates, tmp_path: Path) -> Callable[[str], Replica]:
    count = 0

    def make(name: str) -> Replica:
        nonlocal count
        count += 1
        version = templates.migration_set.latest
        return _replica(templates, version, tmp_path / f"{name}-{count}.db", f"{name}-{count}")

    return make


def test_capture(benchmark: Any, fresh: Callable[[str], Replica]) -> None:
    def setup() -> tuple[tuple[Replica, list[dict[str, Any]]], dict[str, Any]]:
        replica = fresh("capture")
        list_id = replica.insert("lists", {"name": "bench"})
        return (replica, _rows(ROWS, str(list_id))), {}

    benchmark.pedantic(lambda r, rows: r.insert_many(BENCH_TABLE, rows), setup=setup, rounds=5)


@pytest.mark.parametrize("fast_lane", [True, False], ids=["fast-lane", "careful-path"])
def test_apply(benchmark: Any, fresh: Callable[[str], Replica], fast_lane: bool) -> None:
    sender = fresh("sender")
    list_id = sender.insert("lists", {"name": "bench"})
    sender.insert_many(BENCH_TABLE, _rows(ROWS, str(list_id)))
    message = sender.export_changes()

    def setup() -> tuple[tuple[Replica], dict[str, Any]]:
        receiver = fresh("receiver")
        receiver.fast_lane = fast_lane
        return (receiver,), {}

    benchmark.pedantic(lambda r: r.receive(message), setup=setup, rounds=5)


def test_delta_sync(benchmark: Any, fresh: Callable[[str], Replica]) -> None:
    a, b = fresh("a"), fresh("b")
    list_id = a.insert("lists", {"name": "bench"})
    a.insert_many(BENCH_TABLE, _rows(ROWS, str(list_id), seed=1))
    sync(a, b)
    counter = iter(range(10**6))

    def setup() -> tuple[tuple[()], dict[str, Any]]:
        a.update(BENCH_TABLE, f"task-1-{next(counter) % ROWS:08d}", {"priority": 3})
        return (), {}

    benchmark.pedantic(lambda: sync(a, b), setup=setup, rounds=20)
