"""A first end-to-end check of the runner on a real file."""

from __future__ import annotations

from pathlib import Path

from nexus_core import get_current_version, get_migration_history, initialize_database
from nexus_core.db.migrations import load_migrations


def test_initialize_migrates_a_new_file_to_latest(tmp_path: Path) -> None:
    conn = initialize_database(tmp_path / "nexus.db")
    latest = load_migrations()[-1].version
    assert get_current_version(conn) == latest
    assert [v for v, _, _ in get_migration_history(conn)] == list(range(1, latest + 1))
