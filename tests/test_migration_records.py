"""A migration tool's own record of the migrations run is each device's, never synced.

Migration files printed by Rails, Alembic, Room and the like keep writing the
tool's bookkeeping table (``INSERT INTO schema_migrations ...``): every device
runs them and holds its own rows. Replicated, each migration read as a data
rewrite and every pair of versions as broken, on a history that syncs the
app's data perfectly (review BAG-1).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from folders import migrations_folder

from harness.lint import lint_migrations
from harness.matrix import MatrixConfig, run_matrix
from nexus_core import open_replica, sync
from nexus_core.db.migrations import load_migrations
from nexus_core.errors import SyncError

RAILS = (
    """CREATE TABLE "schema_migrations" ("version" varchar NOT NULL PRIMARY KEY);
CREATE TABLE "ar_internal_metadata" ("key" varchar NOT NULL PRIMARY KEY, "value" varchar,
  "created_at" datetime(6) NOT NULL, "updated_at" datetime(6) NOT NULL);
CREATE TABLE "casks" ("id" integer PRIMARY KEY AUTOINCREMENT NOT NULL, "name" varchar NOT NULL);
INSERT INTO "schema_migrations" ("version") VALUES ('20240301090000');
INSERT INTO "ar_internal_metadata" ("key", "value", "created_at", "updated_at")
  VALUES ('environment', 'production', '2024-03-01 09:00:00', '2024-03-01 09:00:00');""",
    """ALTER TABLE "casks" ADD "litres" integer;
INSERT INTO "schema_migrations" ("version") VALUES ('20240315101500');""",
)
ROOM = (
    """CREATE TABLE IF NOT EXISTS `Bird` (`id` INTEGER NOT NULL, `ring` TEXT NOT NULL,
  PRIMARY KEY(`id`));
CREATE TABLE IF NOT EXISTS room_master_table (id INTEGER PRIMARY KEY,identity_hash TEXT);
INSERT OR REPLACE INTO room_master_table (id,identity_hash) VALUES(42, '8f3a2b1c');""",
    """ALTER TABLE `Bird` ADD COLUMN `wingMm` REAL NOT NULL DEFAULT 0;
INSERT OR REPLACE INTO room_master_table (id,identity_hash) VALUES(42, '1b2c3d4e');""",
)

LARAVEL = (
    """CREATE TABLE IF NOT EXISTS "migrations" ("id" integer primary key autoincrement not null,
  "migration" varchar not null, "batch" integer not null);
CREATE TABLE "notes" ("id" integer primary key autoincrement not null, "title" varchar not null);
INSERT INTO "migrations" ("migration", "batch") VALUES ('2024_01_01_000000_create_notes', 1);""",
    """ALTER TABLE "notes" ADD COLUMN "body" text;
INSERT INTO "migrations" ("migration", "batch") VALUES ('2024_02_01_000000_add_body', 2);""",
)
FLUENT = (
    """CREATE TABLE "VersionInfo" ("Version" INTEGER NOT NULL PRIMARY KEY, "AppliedOn" DATETIME,
  "Description" TEXT);
CREATE TABLE "Notes" ("Id" INTEGER PRIMARY KEY, "Title" TEXT NOT NULL);
INSERT INTO "VersionInfo" ("Version", "AppliedOn", "Description")
  VALUES (1, '2024-01-01T00:00:00', 'CreateNotes');""",
    """ALTER TABLE "Notes" ADD COLUMN "Body" TEXT;
INSERT INTO "VersionInfo" ("Version", "AppliedOn", "Description")
  VALUES (2, '2024-02-01T00:00:00', 'AddBody');""",
)


TYPEORM = (
    """CREATE TABLE "migrations" ("id" integer PRIMARY KEY AUTOINCREMENT NOT NULL,
  "timestamp" bigint NOT NULL, "name" varchar NOT NULL);
CREATE TABLE "note" ("id" varchar PRIMARY KEY NOT NULL, "title" varchar NOT NULL);
INSERT INTO "migrations"("timestamp", "name") VALUES (1700000000000, 'Init1700000000000');""",
    """ALTER TABLE "note" ADD COLUMN "body" varchar;
INSERT INTO "migrations"("timestamp", "name") VALUES (1700000000001, 'Body1700000000001');""",
)


@pytest.mark.parametrize(
    "files",
    [RAILS, ROOM, LARAVEL, FLUENT, TYPEORM],
    ids=["rails", "room", "laravel", "fluentmigrator", "typeorm"],
)
def test_the_lint_and_the_matrix_leave_the_record_to_each_device(
    tmp_path: Path, files: tuple[str, ...]
) -> None:
    folder = migrations_folder(tmp_path, *files)
    results = lint_migrations(load_migrations(folder))
    assert [r.verdict for r in results] == ["additive", "additive"], results
    recorded = [f for r in results for f in r.findings if f.rule == "not-replicable"]
    assert recorded and all("records the migrations run" in f.message for f in recorded)
    assert not any(f.rule == "data-rewrite" for r in results for f in r.findings)
    config = MatrixConfig(migrations=folder, examples=5, jobs=1, relay=False)
    cells = run_matrix(config).cells
    assert {(c.local, c.peer): c.observed for c in cells} == {
        (1, 1): "full",
        (2, 2): "full",
        (1, 2): "partial",
        (2, 1): "partial",
    }, [c.reasons for c in cells]


def test_replicas_never_send_the_record_and_keep_their_own(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = migrations_folder(tmp_path, *RAILS)
    a = open_replica(tmp_path / "a.db", migrations=folder, peer_id="a", target_version=1)
    b = open_replica(tmp_path / "b.db", migrations=folder, peer_id="b")
    try:
        with pytest.raises(SyncError, match="schema_migrations"):
            a.insert("schema_migrations", {"version": "1"})
        a.insert("casks", {"name": "oak"})
        sync(a, b)
        assert not [op for op in a.ops() + b.ops() if op.table_name != "casks"]
        versions = "SELECT version FROM schema_migrations ORDER BY version"
        assert [r[0] for r in a.conn.execute(versions)] == ["20240301090000"]
        assert len(list(b.conn.execute(versions))) == 2
        assert [r["name"] for r in b.rows("casks")] == ["oak"]
        # An op naming the record, from a hostile or confused peer, writes nothing.
        c = open_replica(tmp_path / "c.db", migrations=folder, peer_id="c")
        with caplog.at_level(logging.WARNING, logger="nexus_core.sync"):
            c.receive(a.export_changes().replace('"casks"', '"schema_migrations"'))
        assert len(list(c.conn.execute(versions))) == 2
        assert "not replicated here: schema_migrations" in caplog.text
        # No upgrade of c's replays them: the warning does not promise it (review BAI-10).
        assert "parked (kept and forwarded; replayed only if a later version" in caplog.text
        assert "parked for replay" not in caplog.text
        c.close()
    finally:
        a.close()
        b.close()


def test_an_app_table_named_migrations_is_synced(tmp_path: Path) -> None:
    """Laravel's record is known by its columns: an app's own ``migrations`` table
    (bird migrations, say) is replicated as any other."""
    folder = migrations_folder(
        tmp_path, "CREATE TABLE migrations (id INTEGER PRIMARY KEY, species TEXT, batch INTEGER);"
    )
    a = open_replica(tmp_path / "a.db", migrations=folder, peer_id="a")
    b = open_replica(tmp_path / "b.db", migrations=folder, peer_id="b")
    a.insert("migrations", {"id": 1, "species": "swift", "batch": 3})
    sync(a, b)
    assert b.rows("migrations") == [{"id": 1, "species": "swift", "batch": 3}]
    a.close()
    b.close()
