"""A value sync cannot carry is refused when written, never stored to block sync later.

Over 16 MiB of text or bytes is more than a message takes (the change would
be exported, and refused, on every sync from then on), and an infinity SQLite
makes of '1e400' or a DEFAULT 1e999 would travel as NULL (JSON has no infinity).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from folders import migrations_folder

from nexus_core import open_replica, sync
from nexus_core.errors import SyncError
from nexus_core.wire import MAX_TEXT

NOTES = """CREATE TABLE notes (
    id     TEXT PRIMARY KEY,
    body   TEXT,
    att    BLOB,
    amount NUMERIC,
    cap    REAL DEFAULT 1e999
);"""


@pytest.mark.parametrize(
    "values",
    [
        {"body": "x" * (MAX_TEXT + 1), "cap": 1.0},
        {"att": b"\0" * (MAX_TEXT + 1), "cap": 1.0},
        {"amount": "1e400", "cap": 1.0},
        {"body": "a default infinity"},  # cap left to DEFAULT 1e999
    ],
    ids=["long text", "long blob", "text that becomes infinity", "infinite default"],
)
def test_refused_when_written_and_sync_goes_on(tmp_path: Path, values: dict[str, object]) -> None:
    folder = migrations_folder(tmp_path, NOTES)
    a = open_replica(tmp_path / "a.db", migrations=folder, peer_id="a")
    b = open_replica(tmp_path / "b.db", migrations=folder, peer_id="b")
    with pytest.raises(SyncError, match="notes"):
        a.insert("notes", {"id": "bad", **values})
    with pytest.raises(SyncError, match="notes"):
        a.insert_many("notes", [{"id": "fine", "cap": 2.0}, {"id": "bad", **values}])
    assert a.rows("notes") == [] and a.ops() == []
    a.insert("notes", {"id": "ok", "amount": "12", "cap": 2.0})
    with pytest.raises(SyncError, match="amount"):
        a.update("notes", "ok", {"amount": "-1e999"})
    sync(a, b)
    assert (
        a.rows("notes")
        == b.rows("notes")
        == [{"id": "ok", "body": None, "att": None, "amount": 12, "cap": 2.0}]
    )
