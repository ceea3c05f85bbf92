"""SQLite's clock and randomness, pinned while the harness runs a migration.

A migration that seeds rows with ``CURRENT_TIMESTAMP``, adds a column with
``DEFAULT (datetime('now'))`` by a rebuild, or makes ids with ``randomblob()``
gives each replica its own values when it upgrades: a real break (the lint's
``nondeterministic-default`` and ``data-rewrite``). With the wall clock, the
matrix saw it only when a template build and an upgrade fell in different
seconds, so the same seed gave another report from run to run (reviews BAG-2,
BAH-7). While the harness builds a version's template or upgrades a replica,
its connection reads a clock and a random stream of that build's own, fixed
by a number: every build differs from every other, as two devices' upgrades
do, and the same build gives the same values every run.

The SQL functions that read the clock or randomness are replaced on the
connection: ``current_timestamp``, ``current_date`` and ``current_time``;
``date``, ``time``, ``datetime``, ``julianday``, ``unixepoch`` and
``strftime``, which read the pinned time for ``'now'`` and are computed by
SQLite itself otherwise; ``random()`` and ``randomblob(N)``. Outside a
pinned block they give what SQLite's own would (the replaced functions stay
registered: Python cannot remove them again).
"""

from __future__ import annotations

import random
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

PINNED_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)  # build n reads this plus n seconds
_DATE_FUNCTIONS = ("date", "time", "datetime", "julianday", "unixepoch", "strftime")
_CURRENT = {
    "current_timestamp": "%Y-%m-%d %H:%M:%S",
    "current_date": "%Y-%m-%d",
    "current_time": "%H:%M:%S",
}
_INT64 = 2**63


@dataclass
class _Pin:
    """What a connection's replaced functions read: a pinned time and stream, or None."""

    now: datetime | None = None
    rng: random.Random = field(default_factory=random.Random)


_local = threading.local()


def _sqlite() -> sqlite3.Connection:
    """An in-memory connection of this thread that computes with SQLite's own functions."""
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = _local.conn = sqlite3.connect(":memory:")
    return conn


def _own(name: str, args: tuple[Any, ...]) -> Any:
    """``name(*args)`` as SQLite's own function computes it."""
    call = name if name in _CURRENT else f"{name}({', '.join('?' * len(args))})"  # (a keyword)
    return _sqlite().execute(f"SELECT {call}", args).fetchone()[0]


def _installed(conn: sqlite3.Connection) -> _Pin:
    """Replace ``conn``'s clock and random functions by ones reading a new pin state."""
    pin = _Pin()

    def current(name: str, layout: str) -> Any:
        def value() -> Any:
            return _own(name, ()) if pin.now is None else pin.now.strftime(layout)

        return value

    def dated(name: str) -> Any:
        def value(*args: Any) -> Any:
            if pin.now is not None:
                stamp = pin.now.strftime("%Y-%m-%d %H:%M:%S")
                if name == "strftime":  # the format comes first
                    args = (*args[:1], *(stamp if _is_now(a) else a for a in args[1:]))
                    if len(args) == 1:
                        args = (args[0], stamp)
                else:
                    args = tuple(stamp if _is_now(a) else a for a in args) or (stamp,)
            return _own(name, args)

        return value

    def randomness() -> int:
        return _own("random", ()) if pin.now is None else pin.rng.randrange(-_INT64, _INT64)

    def random_blob(size: Any) -> Any:
        if pin.now is None:
            return _own("randomblob", (size,))
        count = size if isinstance(size, int) and size > 0 else 1  # as SQLite: at least 1
        return pin.rng.randbytes(count)

    for name, layout in _CURRENT.items():
        conn.create_function(name, 0, current(name, layout))
    for name in _DATE_FUNCTIONS:
        # Deterministic as far as SQLite asks (an index or CHECK over date(col)):
        # with the clock pinned, 'now' is as fixed as any argument.
        conn.create_function(name, -1, dated(name), deterministic=True)
    conn.create_function("random", 0, randomness)
    conn.create_function("randomblob", 1, random_blob)
    return pin


def _is_now(argument: Any) -> bool:
    return isinstance(argument, str) and argument.strip().lower() == "now"


@contextmanager
def pinned(conn: sqlite3.Connection, build: int) -> Iterator[None]:
    """Run the block with ``conn``'s SQL clock at ``PINNED_EPOCH`` plus ``build``
    seconds and its random functions drawing a stream seeded by ``build``."""
    pin = _installed(conn)  # (again each time: a connection cannot be told apart by id)
    pin.now = PINNED_EPOCH + timedelta(seconds=build)
    pin.rng = random.Random(build)
    try:
        yield
    finally:
        pin.now = None


def upgrade_build(local: int, peer: int) -> int:
    """The build number of an upgrade from ``local`` to ``peer`` in a matrix cell: apart
    from every version's template build (numbered by its version) and every other upgrade."""
    return 1_000_000 + 1_000 * local + peer
