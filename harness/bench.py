"""``nexus-compat bench``: the engine measured against raw SQLite in the same run.

Every ratio compares two timings taken here, now, on the same data, so the
numbers mean something on any machine. Ratios are time over time: 2.0 means
twice as slow as the raw SQLite baseline.
"""

from __future__ import annotations

import os
import platform
import random
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.table import Table

from harness.matrix import MatrixConfig, run_matrix
from harness.versions import Templates, load_set
from nexus_core.db.connection import connect
from nexus_core.db.migrations import migrate
from nexus_core.oplog import OpLog
from nexus_core.replica import Replica
from nexus_core.sync import sync
from nexus_core.wire import decode_message, quote_identifier

BENCH_TABLE = "tasks"
MATRIX_EXAMPLES = 25
REPEATS = 3


@contextmanager
def _timer(into: dict[str, float], key: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    into[key] = time.perf_counter() - start


@contextmanager
def _best(into: dict[str, float], key: str) -> Iterator[None]:
    """Time the block; keep the best (smallest) time seen under ``key``."""
    start = time.perf_counter()
    yield
    into[key] = min(into.get(key, float("inf")), time.perf_counter() - start)


def _rows(count: int, list_id: str, seed: int = 0) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [
        {
            "task_id": f"task-{seed}-{i:08d}",
            "list_id": list_id,
            "content": f"task {i} {rng.random():.6f}",
            "is_completed": rng.randint(0, 1),
            "due_date": f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            "created_at": "2026-11-25T12:00:00.000Z",
            "priority": rng.randint(0, 5),
            "tags": "[]",
        }
        for i in range(count)
    ]


def _replica(templates: Templates, version: int, path: Path, peer: str) -> Replica:
    """A replica file with the engine's normal durability (WAL, synchronous NORMAL)."""
    templates.copy(version, path)
    return Replica(connect(path), templates.migration_set.migrations, peer_id=peer)


def _raw_insert(path: Path, template: Path, rows: list[dict[str, Any]]) -> float:
    """The floor: executemany upserts into the same table, same pragmas, one transaction."""
    path.write_bytes(template.read_bytes())
    conn = connect(path)
    names = list(rows[0])
    sql = (
        f"INSERT OR REPLACE INTO {quote_identifier(BENCH_TABLE)}"
        f" ({', '.join(map(quote_identifier, names))}) VALUES ({', '.join('?' * len(names))})"
    )
    start = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(sql, [tuple(r[n] for n in names) for r in rows])
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def _storage_floor(path: Path, replica_file: Path, sender_file: Path) -> float:
    """The engine's own writes for the received rows, prebuilt: app row, change, row state.

    What apply cannot go below without storing less: the same three inserts per
    row the fast lane makes, from values already decoded and checked.
    """
    path.write_bytes(replica_file.read_bytes())
    source = connect(sender_file)
    names = [row[1] for row in source.execute(f"PRAGMA table_info({BENCH_TABLE})")]
    quoted = ", ".join(map(quote_identifier, names))
    app = source.execute(f"SELECT {quoted} FROM {quote_identifier(BENCH_TABLE)}").fetchall()
    # One stored change a row, as a receiver stores them (the sender batched its own).
    changes = [
        change.row()
        for change in OpLog(source).changes_since(None)
        if change.table_name == BENCH_TABLE
    ]
    states = source.execute(
        "SELECT table_name, row_id, clocks FROM _nexus_rows WHERE table_name = ?", (BENCH_TABLE,)
    ).fetchall()
    source.close()
    conn = connect(path)
    start = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(
        f"INSERT INTO {quote_identifier(BENCH_TABLE)} ({quoted})"
        f" VALUES ({', '.join('?' * len(names))})",
        app,
    )
    conn.executemany(
        "INSERT INTO _nexus_changes (origin, hlc, origin_version, kind, table_name, row_id, cols)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        changes,
    )
    conn.executemany(
        "INSERT INTO _nexus_rows (table_name, row_id, clocks) VALUES (?, ?, ?)", states
    )
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


DELTA_ATTEMPTS = 15


def _delta_sync_ms(templates: Templates, version: int, work: Path) -> tuple[float, float]:
    """Sync about 100 new ops between two replicas sharing 1,000, and 200,000, ops.

    The two pairs are timed in turns, attempt by attempt, so a slower moment of
    a shared machine weighs on both alike; each keeps its best attempt (a sync
    of a few ms is noisy).
    """
    ops_per_row = len(templates.schema(version).tables[BENCH_TABLE].columns)
    pairs: list[tuple[Replica, Replica, str]] = []
    try:
        for history_ops in (1_000, 200_000):
            tag = f"h{history_ops}"
            a = _replica(templates, version, work / f"{tag}-a.db", f"{tag}-a")
            b = _replica(templates, version, work / f"{tag}-b.db", f"{tag}-b")
            list_id = str(a.insert("lists", {"name": "bench"}))
            pairs.append((a, b, list_id))
            a.insert_many(BENCH_TABLE, _rows(max(1, history_ops // ops_per_row), list_id, seed=1))
            sync(a, b)
        best = [float("inf"), float("inf")]
        for attempt in range(DELTA_ATTEMPTS):
            for which, (a, b, list_id) in enumerate(pairs):
                a.insert_many(BENCH_TABLE, _rows(max(1, 100 // ops_per_row), list_id, 2 + attempt))
                start = time.perf_counter()
                sync(a, b)
                best[which] = min(best[which], time.perf_counter() - start)
        return best[0] * 1000, best[1] * 1000
    finally:
        for a, b, _ in pairs:
            a.close()
            b.close()


def _matrix_cells_per_s(jobs: int) -> float:
    config = MatrixConfig(examples=MATRIX_EXAMPLES, jobs=jobs, relay=False)
    start = time.perf_counter()
    result = run_matrix(config)
    return len(result.cells) / (time.perf_counter() - start)


def run_bench(
    *, rows: int = 20_000, matrix: bool = True, progress: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Run every measurement; returns the contract's keys (and a few more)."""
    say = progress or (lambda _line: None)
    migration_set = load_set()
    templates = Templates(migration_set)
    version = migration_set.latest
    timings: dict[str, float] = {}
    results: dict[str, Any] = {
        "rows": rows,
        "machine": {
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "cpus": os.cpu_count(),
            "platform": platform.platform(terse=True),
            "processor": platform.machine(),
        },
    }
    try:
        with tempfile.TemporaryDirectory(prefix="nexus-bench-") as scratch:
            work = Path(scratch)
            template = templates.template(version)
            say(f"raw SQLite, capture and apply: {rows} rows, best of {REPEATS}")
            for key in ("raw", "capture", "apply", "careful", "decode", "floor"):
                timings[key] = float("inf")
            for attempt in range(REPEATS):
                sender_file = work / f"s{attempt}.db"
                sender = _replica(templates, version, sender_file, f"s{attempt}")
                list_id = sender.insert("lists", {"name": "bench"})
                data = _rows(rows, str(list_id))
                raw = _raw_insert(work / f"raw{attempt}.db", template, data)
                timings["raw"] = min(timings["raw"], raw)
                with _best(timings, "capture"):
                    sender.insert_many(BENCH_TABLE, data)
                message = sender.export_changes()
                ops = sender.oplog.count()
                sender.close()
                with _best(timings, "decode"):
                    decode_message(message)
                for key, fast_lane in (("apply", True), ("careful", False)):
                    receiver_file = work / f"r{attempt}-{key}.db"
                    receiver = _replica(templates, version, receiver_file, f"r{attempt}")
                    receiver.fast_lane = fast_lane
                    with _best(timings, key):
                        receiver.receive(message)
                    receiver.close()
                empty = work / f"empty{attempt}.db"
                _replica(templates, version, empty, f"e{attempt}").close()
                floor = _storage_floor(work / f"floor{attempt}.db", empty, sender_file)
                timings["floor"] = min(timings["floor"], floor)
            results.update(
                raw_sqlite_rows_per_s=rows / timings["raw"],
                apply_ops_per_s=ops / timings["apply"],
                # The ratio compares rows with rows: raw rate over apply rate, same data.
                apply_rows_per_s=rows / timings["apply"],
                apply_vs_raw_ratio=timings["apply"] / timings["raw"],
                capture_rows_per_s=rows / timings["capture"],
                capture_vs_raw_ratio=timings["capture"] / timings["raw"],
                ops_per_row=ops / rows,
                decode_vs_raw_ratio=timings["decode"] / timings["raw"],
                storage_floor_vs_raw_ratio=timings["floor"] / timings["raw"],
                apply_careful_vs_raw_ratio=timings["careful"] / timings["raw"],
            )
            say("delta sync: 100 new ops over 1,000 and 200,000 ops of history")
            small, large = _delta_sync_ms(templates, version, work)
            results["delta_sync_ms_small_history"] = small
            results["delta_sync_ms_large_history"] = large
            say("build: template copy against replaying every migration")
            with _timer(timings, "template"):
                templates.copy(version, work / "from-template.db")
            with _timer(timings, "replay"):
                conn = connect(work / "replayed.db")
                migrate(conn, migration_set.migrations)
                conn.close()
            results["build_template_ms"] = timings["template"] * 1000
            results["build_replay_ms"] = timings["replay"] * 1000
        if matrix:
            say(f"matrix: our own, {MATRIX_EXAMPLES} examples per cell, 1 job then 2 jobs")
            results["matrix_cells_per_s_1_job"] = _matrix_cells_per_s(1)
            results["matrix_cells_per_s_2_jobs"] = _matrix_cells_per_s(2)
    finally:
        templates.cleanup()
    return results


TARGETS = {
    "apply_vs_raw_ratio": ("<=", 3.0),
    "capture_vs_raw_ratio": ("<=", 2.0),
}


def render_bench(results: dict[str, Any]) -> Table:
    """The numbers as a table, with the targets where there are some."""
    table = Table(title=f"nexus-compat bench ({results['rows']} rows)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("target")
    for key, value in results.items():
        if isinstance(value, dict) or key == "rows":
            continue
        op, bound = TARGETS.get(key, ("", None))
        target = f"{op} {bound}" if bound is not None else ""
        table.add_row(key, f"{value:,.2f}" if isinstance(value, float) else str(value), target)
    small = results.get("delta_sync_ms_small_history")
    large = results.get("delta_sync_ms_large_history")
    if small and large:
        table.add_row("delta large / small", f"{large / small:.2f}", "<= 1.5")
    template, replay = results.get("build_template_ms"), results.get("build_replay_ms")
    if template and replay:
        table.add_row("build replay / template", f"{replay / template:.1f}", ">= 10")
    one, two = results.get("matrix_cells_per_s_1_job"), results.get("matrix_cells_per_s_2_jobs")
    if one and two:
        table.add_row("matrix speed-up, 2 jobs", f"{two / one:.2f}", ">= 1.7")
    machine = results["machine"]
    table.caption = (
        f"Python {machine['python']}, SQLite {machine['sqlite']}, {machine['cpus']} CPUs,"
        f" {machine['platform']}"
    )
    return table
