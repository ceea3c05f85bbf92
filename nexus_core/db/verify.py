"""``verify``: does a database's schema equal a fresh build at its version?"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from nexus_core.db.connection import connect
from nexus_core.db.migrations import (
    Migration,
    check_applied,
    get_current_version,
    get_migration_history,
    migrate,
)
from nexus_core.db.schema import schema_differences, snapshot


def expected_schema_conn(migrations: Sequence[Migration], version: int) -> sqlite3.Connection:
    """An in-memory database built by replaying ``migrations`` up to ``version``."""
    fresh = connect(":memory:", wal=False)
    migrate(fresh, migrations, target=version)
    return fresh


def verify_database(conn: sqlite3.Connection, migrations: Sequence[Migration]) -> list[str]:
    """Differences between ``conn`` and a fresh build at its version; empty when it matches."""
    check_applied(conn, migrations)
    # (A schema_version of another tool's shape is refused here too.)
    recorded = {number for number, _, _ in get_migration_history(conn)}
    version = get_current_version(conn)
    # Each applied migration leaves its row: a gap means rows were deleted by hand.
    gaps = [
        f"schema_version has no row for v{number} (it records {_listed(sorted(recorded))}):"
        " its history of applied migrations was edited"
        for number in range(1, version + 1)
        if recorded and number not in recorded
    ]
    fresh = expected_schema_conn(migrations, version)
    try:
        return gaps + schema_differences(snapshot(fresh), snapshot(conn))
    finally:
        fresh.close()


def _listed(versions: Sequence[int]) -> str:
    shown = ", ".join(f"v{number}" for number in versions[:8])
    return shown + (", ..." if len(versions) > 8 else "")
