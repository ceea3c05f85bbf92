"""What a pure-Python apply of the bench's message must spend here, against raw SQLite.

``python benchmarks/apply_floor.py``: CPU time per row, best of five, on the
bench's rows (20,000 tasks of 8 columns, one message of 160,000 column ops):

- raw: the rows upserted with ``executemany`` in one transaction (the bench's floor);
- decode: msgspec turning the message into typed ops, in C, and nothing else;
- stores: the least a receiver can write and still keep what the engine needs
  (the app rows, a row state per row, the changes 256 to a stored row as a batch
  insert keeps them), from values prepared beforehand, with the commit;
- checks: the per-op work done column by column over whole lists (C-level ``map``
  and slices, no Python loop per op): that every change is one row's write, its
  ops one per column in one order, and the values for the inserts.

Decode and stores alone come to about 2.6x raw in CPU time (about 2.3x in wall
time, as the bench's ratio is) before a single check, and the cheapest checks
add more than 2x: why ``apply_vs_raw_ratio <= 3`` is out of reach in Python with
this engine's storage (docs/PERFORMANCE.md).
Not a test, and nothing asserts a time.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from itertools import repeat
from operator import attrgetter
from pathlib import Path
from typing import Any

from harness.bench import BENCH_TABLE, _replica, _rows
from harness.versions import Templates, load_set
from nexus_core.db.connection import connect
from nexus_core.hlc import is_clock
from nexus_core.wire import _FAST, Op, quote_identifier

ROWS = 20_000
FIELDS = ("origin", "hlc", "kind", "table_name", "row_id", "schema_version", "column_name")


def _best(run: Callable[[int], list[float]]) -> list[float]:
    """The run (a list of times, the total last) with the smallest total of five."""
    return min((run(attempt) for attempt in range(5)), key=lambda times: times[-1])


def main() -> None:
    templates = Templates(load_set())
    version = templates.migration_set.latest
    work = Path(tempfile.mkdtemp())
    sender = _replica(templates, version, work / "sender.db", "sender")
    list_id = sender.insert("lists", {"name": "bench"})
    data = _rows(ROWS, str(list_id))
    sender.insert_many(BENCH_TABLE, data)
    message = sender.export_changes()
    sender.close()
    names = tuple(data[0])
    table = quote_identifier(BENCH_TABLE)
    insert = (
        f"INSERT INTO {table} ({', '.join(map(quote_identifier, names))})"
        f" VALUES ({', '.join('?' * len(names))})"
    )

    def raw(attempt: int) -> list[float]:
        conn = connect(_copy(templates, version, work / f"raw{attempt}.db"))
        start = time.process_time()  # (tuples built inside, as the bench times them)
        rows = [tuple(row[name] for name in names) for row in data]
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(insert.replace("INSERT", "INSERT OR REPLACE", 1), rows)
        conn.execute("COMMIT")
        elapsed = time.process_time() - start
        conn.close()
        return [elapsed]

    def apply(attempt: int) -> list[float]:
        replica = _replica(templates, version, work / f"r{attempt}.db", f"r{attempt}")
        conn = replica.conn
        start = time.process_time()
        ops: list[Op] = _FAST.decode(message).ops
        decoded = time.process_time()
        ops = [op for op in ops if op.table_name == BENCH_TABLE]  # (the list row: not timed)
        checks_from = time.process_time()
        width, count = len(names), len(ops) // len(names)
        fields = {name: list(map(attrgetter(name), ops)) for name in FIELDS}
        values = list(map(attrgetter("new_value"), ops))
        for name in ("origin", "kind", "table_name", "schema_version"):
            column = fields[name]
            assert column.count(column[0]) == len(column)
        clocks, row_ids = fields["hlc"][0::width], fields["row_id"][0::width]
        for at in range(width):
            assert fields["hlc"][at::width] == clocks and fields["row_id"][at::width] == row_ids
            assert fields["column_name"][at::width].count(names[at]) == count
            assert set(map(type, values[at::width])) <= {str, int, float}
        assert len(set(clocks)) == count and len(set(row_ids)) == count
        assert all(map(is_clock, clocks, repeat(ops[0].origin)))
        rows = list(zip(*(values[at::width] for at in range(width)), strict=True))
        cols: list[dict[str, Any]] = list(map(dict, map(zip, repeat(names), rows)))
        checked = time.process_time()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(insert, rows)
        conn.executemany(
            "INSERT INTO _nexus_rows (table_name, row_id, clocks) VALUES (?, ?, ?)",
            zip(repeat(BENCH_TABLE), row_ids, replica.oplog.shared_clocks.all(names[1:], clocks)),
        )
        replica.oplog.add_inserts(ops[0].origin, version, BENCH_TABLE, clocks, row_ids, cols)
        conn.execute("COMMIT")
        stored = time.process_time()
        replica.close()
        decode, checks, stores = decoded - start, checked - checks_from, stored - checked
        return [decode, checks, stores, decode + checks + stores]

    floor = _best(raw)[0]
    decode, checks, stores, total = _best(apply)
    per_row = 1e6 / ROWS
    print(f"raw SQLite        {floor * per_row:6.2f} us a row (CPU)")
    parts = (("decode", decode), ("stores", stores), ("checks", checks))
    for label, spent in (*parts, ("decode + stores", decode + stores), ("all three", total)):
        print(f"{label:<17} {spent * per_row:6.2f} us a row  {spent / floor:5.2f}x raw")
    templates.cleanup()


def _copy(templates: Templates, version: int, path: Path) -> Path:
    templates.copy(version, path)
    return path


if __name__ == "__main__":
    main()
