"""The engine's bookkeeping tables and every query on them.

The engine creates these tables itself when it opens a replica, so a
migrations directory only ever describes the app's tables:

- ``_nexus_oplog``: every op this replica has seen, applied or parked, keyed
  by its clock (clock strings are unique op ids); indexed by (origin, clock) so
  "what does a peer lack" is a range scan per origin, never a history scan.
- ``_nexus_cells``: the winning clock of each (table, row, column).
- ``_nexus_tombstones``: deleted rows (a delete is final).
- ``_nexus_vector``: the latest clock held per origin (this replica's version vector).
- ``_nexus_parked``: ops naming a table or column this schema lacks, kept for replay.
- ``_nexus_pending``: rows whose required columns have not all arrived yet.
- ``_nexus_peers``: each peer's PeerInfo and the version vector it last told us.
- ``_nexus_meta``: this replica's peer id.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from nexus_core.wire import Op, PeerInfo, Value

BOOKKEEPING_DDL = (
    "CREATE TABLE IF NOT EXISTS _nexus_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS _nexus_oplog (
        hlc TEXT PRIMARY KEY,
        origin TEXT NOT NULL,
        origin_version INTEGER NOT NULL,
        kind TEXT NOT NULL,
        table_name TEXT NOT NULL,
        row_id BLOB,
        column_name TEXT,
        new_value BLOB
    )""",
    "CREATE INDEX IF NOT EXISTS _nexus_oplog_by_origin ON _nexus_oplog (origin, hlc)",
    "CREATE INDEX IF NOT EXISTS _nexus_oplog_by_row ON _nexus_oplog (table_name, row_id)",
    """CREATE TABLE IF NOT EXISTS _nexus_cells (
        table_name TEXT NOT NULL, row_id BLOB NOT NULL, column_name TEXT NOT NULL,
        hlc TEXT NOT NULL,
        PRIMARY KEY (table_name, row_id, column_name)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS _nexus_tombstones (
        table_name TEXT NOT NULL, row_id BLOB NOT NULL, hlc TEXT NOT NULL,
        PRIMARY KEY (table_name, row_id)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS _nexus_vector (
        origin TEXT PRIMARY KEY, hlc TEXT NOT NULL
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS _nexus_parked (
        hlc TEXT PRIMARY KEY, reason TEXT NOT NULL
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS _nexus_pending (
        table_name TEXT NOT NULL, row_id BLOB NOT NULL,
        PRIMARY KEY (table_name, row_id)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS _nexus_peers (
        peer_id TEXT PRIMARY KEY,
        schema_version INTEGER NOT NULL,
        capabilities TEXT NOT NULL,
        version_vector TEXT NOT NULL,
        last_seen TEXT NOT NULL
    )""",
)

_OP_COLUMNS = "hlc, origin, origin_version, kind, table_name, row_id, column_name, new_value"


def ensure_bookkeeping(conn: sqlite3.Connection) -> None:
    for statement in BOOKKEEPING_DDL:
        conn.execute(statement)


def _op(row: Sequence[Any]) -> Op:
    return Op(
        hlc=row[0],
        origin=row[1],
        schema_version=row[2],
        kind=row[3],
        table_name=row[4],
        row_id=row[5],
        column_name=row[6],
        new_value=row[7],
    )


def _row(op: Op) -> tuple[Any, ...]:
    return (
        op.hlc,
        op.origin,
        op.schema_version,
        op.kind,
        op.table_name,
        op.row_id,
        op.column_name,
        op.new_value,
    )


class OpLog:
    """Queries on the bookkeeping tables of one replica connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    # -- meta ---------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM _nexus_meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute(
            "INSERT INTO _nexus_meta (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # -- ops -----------------------------------------------------------------
    def append(self, op: Op) -> bool:
        """Store ``op``; False when this clock is already held (a duplicate)."""
        cursor = self.conn.execute(
            f"INSERT OR IGNORE INTO _nexus_oplog ({_OP_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            _row(op),
        )
        return cursor.rowcount == 1

    def append_many(self, ops: Iterable[Op]) -> None:
        self.conn.executemany(
            f"INSERT OR IGNORE INTO _nexus_oplog ({_OP_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (_row(op) for op in ops),
        )

    def held(self, clocks: Sequence[str]) -> set[str]:
        """Which of ``clocks`` are already in the oplog."""
        found: set[str] = set()
        for start in range(0, len(clocks), 500):
            chunk = clocks[start : start + 500]
            marks = ",".join("?" * len(chunk))
            found.update(
                row[0]
                for row in self.conn.execute(
                    f"SELECT hlc FROM _nexus_oplog WHERE hlc IN ({marks})", chunk
                )
            )
        return found

    def latest_clock(self) -> str | None:
        row = self.conn.execute("SELECT MAX(hlc) FROM _nexus_oplog").fetchone()
        return None if row is None or row[0] is None else str(row[0])

    def ops_since(self, since: Mapping[str, str] | None) -> list[Op]:
        """Every op newer than ``since`` per origin (all ops for origins it lacks)."""
        vector = self.version_vector()
        ops: list[Op] = []
        for origin, latest in vector.items():
            floor = (since or {}).get(origin)
            if floor is not None and floor >= latest:
                continue
            rows = self.conn.execute(
                f"SELECT {_OP_COLUMNS} FROM _nexus_oplog WHERE origin = ? AND hlc > ? ORDER BY hlc",
                (origin, floor or ""),
            )
            ops.extend(_op(row) for row in rows)
        ops.sort(key=lambda op: op.hlc)
        return ops

    def all_ops(self, since_clock: str | None = None) -> list[Op]:
        rows = self.conn.execute(
            f"SELECT {_OP_COLUMNS} FROM _nexus_oplog WHERE hlc > ? ORDER BY hlc",
            (since_clock or "",),
        )
        return [_op(row) for row in rows]

    def count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM _nexus_oplog").fetchone()[0])

    # -- version vector ------------------------------------------------------
    def version_vector(self) -> dict[str, str]:
        return dict(self.conn.execute("SELECT origin, hlc FROM _nexus_vector ORDER BY origin"))

    def advance_vector(self, latest: Mapping[str, str]) -> None:
        self.conn.executemany(
            "INSERT INTO _nexus_vector (origin, hlc) VALUES (?, ?)"
            " ON CONFLICT (origin) DO UPDATE SET hlc = MAX(hlc, excluded.hlc)",
            latest.items(),
        )

    # -- cells, tombstones, pending rows ---------------------------------------
    def cell_clock(self, table: str, row_id: Value, column: str) -> str | None:
        row = self.conn.execute(
            "SELECT hlc FROM _nexus_cells WHERE table_name = ? AND row_id = ? AND column_name = ?",
            (table, row_id, column),
        ).fetchone()
        return None if row is None else str(row[0])

    def set_cell_clock(self, table: str, row_id: Value, column: str, hlc: str) -> None:
        self.conn.execute(
            "INSERT INTO _nexus_cells (table_name, row_id, column_name, hlc) VALUES (?, ?, ?, ?)"
            " ON CONFLICT DO UPDATE SET hlc = excluded.hlc",
            (table, row_id, column, hlc),
        )

    def winning_values(self, table: str, row_id: Value) -> dict[str, Value]:
        rows = self.conn.execute(
            "SELECT c.column_name, o.new_value FROM _nexus_cells c"
            " JOIN _nexus_oplog o ON o.hlc = c.hlc"
            " WHERE c.table_name = ? AND c.row_id = ?",
            (table, row_id),
        )
        return {str(column): value for column, value in rows}

    def tombstoned(self, table: str, row_id: Value) -> bool:
        return (
            self.conn.execute(
                "SELECT 1 FROM _nexus_tombstones WHERE table_name = ? AND row_id = ?",
                (table, row_id),
            ).fetchone()
            is not None
        )

    def add_tombstone(self, table: str, row_id: Value, hlc: str) -> None:
        self.conn.execute(
            "INSERT OR IGNORE INTO _nexus_tombstones (table_name, row_id, hlc) VALUES (?, ?, ?)",
            (table, row_id, hlc),
        )

    def set_pending(self, table: str, row_id: Value, pending: bool) -> None:
        if pending:
            self.conn.execute(
                "INSERT OR IGNORE INTO _nexus_pending (table_name, row_id) VALUES (?, ?)",
                (table, row_id),
            )
        else:
            self.conn.execute(
                "DELETE FROM _nexus_pending WHERE table_name = ? AND row_id = ?", (table, row_id)
            )

    def pending_rows(self) -> list[tuple[str, Value]]:
        return [
            (str(t), r)
            for t, r in self.conn.execute("SELECT table_name, row_id FROM _nexus_pending")
        ]

    # -- parked ops ----------------------------------------------------------
    def park(self, hlc: str, reason: str) -> None:
        self.conn.execute(
            "INSERT OR IGNORE INTO _nexus_parked (hlc, reason) VALUES (?, ?)", (hlc, reason)
        )

    def unpark(self, hlc: str) -> None:
        self.conn.execute("DELETE FROM _nexus_parked WHERE hlc = ?", (hlc,))

    def parked_ops(self) -> list[Op]:
        rows = self.conn.execute(
            f"SELECT {', '.join('o.' + c.strip() for c in _OP_COLUMNS.split(','))}"
            " FROM _nexus_parked p JOIN _nexus_oplog o ON o.hlc = p.hlc ORDER BY o.hlc"
        )
        return [_op(row) for row in rows]

    def parked_count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM _nexus_parked").fetchone()[0])

    # -- peers ---------------------------------------------------------------
    def record_peer(self, peer: PeerInfo, vector: Mapping[str, str], seen_at: str) -> None:
        self.conn.execute(
            "INSERT INTO _nexus_peers"
            " (peer_id, schema_version, capabilities, version_vector, last_seen)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (peer_id) DO UPDATE SET"
            " schema_version = excluded.schema_version, capabilities = excluded.capabilities,"
            " version_vector = excluded.version_vector, last_seen = excluded.last_seen",
            (
                peer.peer_id,
                peer.schema_version,
                json.dumps(list(peer.capabilities)),
                json.dumps(dict(vector), sort_keys=True),
                seen_at,
            ),
        )

    def peer_vector(self, peer_id: str) -> dict[str, str] | None:
        row = self.conn.execute(
            "SELECT version_vector FROM _nexus_peers WHERE peer_id = ?", (peer_id,)
        ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def peers(self) -> list[PeerInfo]:
        rows = self.conn.execute(
            "SELECT peer_id, schema_version, capabilities FROM _nexus_peers ORDER BY peer_id"
        )
        return [PeerInfo(p, int(v), tuple(json.loads(c))) for p, v, c in rows]
