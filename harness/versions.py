"""Databases at every version of a migrations directory, built once and copied.

:class:`Templates` replays the migrations once per version per run into a
template file; every replica after that is a file copy, so a fresh database at
any version costs a copy, not a replay.
"""

from __future__ import annotations

import hashlib
import itertools
import shutil
import sqlite3
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import HarnessError
from nexus_core.db.connection import connect
from nexus_core.db.migrations import Migration, default_migrations_dir, load_migrations, migrate
from nexus_core.db.schema import Schema, snapshot
from nexus_core.oplog import ensure_bookkeeping
from nexus_core.replica import Replica


@dataclass(frozen=True)
class MigrationSet:
    """A validated migrations directory."""

    directory: Path
    migrations: tuple[Migration, ...]

    @property
    def versions(self) -> list[int]:
        return [m.version for m in self.migrations]

    @property
    def latest(self) -> int:
        return self.migrations[-1].version

    @property
    def checksum(self) -> str:
        """One SHA-256 over every migration's checksum, in order."""
        digest = hashlib.sha256()
        for migration in self.migrations:
            digest.update(f"{migration.version}:{migration.checksum}\n".encode())
        return digest.hexdigest()

    @property
    def is_default(self) -> bool:
        return self.directory.resolve() == default_migrations_dir().resolve()

    def check_version(self, version: int) -> None:
        if version not in self.versions:
            raise HarnessError(
                f"{self.directory}: no version {version} (versions are 1..{self.latest})"
            )


def load_set(directory: str | Path | None = None) -> MigrationSet:
    """Load and validate a migrations directory with nexus_core's own loader."""
    root = Path(directory) if directory is not None else default_migrations_dir()
    return MigrationSet(root, tuple(load_migrations(root)))


def build_database(
    migration_set: MigrationSet, version: int, out: Path, *, overwrite: bool = False
) -> Path:
    """Write a database at ``version`` to ``out`` (a single file, no WAL)."""
    migration_set.check_version(version)
    if out.exists() and not overwrite:
        raise HarnessError(f"{out}: already exists; choose another path")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    partial.unlink(missing_ok=True)
    conn = connect(partial, scratch=True)
    try:
        migrate(conn, migration_set.migrations, target=version)
        ensure_bookkeeping(conn)
    except BaseException:
        conn.close()
        partial.unlink(missing_ok=True)
        raise
    conn.close()
    partial.replace(out)
    return out


@dataclass
class Templates:
    """One template database per version, built on first use, copied per replica."""

    migration_set: MigrationSet
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="nexus-tpl-")))
    _built: dict[int, Path] = field(default_factory=dict)
    _schemas: dict[int, Schema] = field(default_factory=dict)

    def build_all(self) -> dict[int, Path]:
        """Build every version's template now (a failing migration fails here, early)."""
        for version in self.migration_set.versions:
            self.template(version)
        return dict(self._built)

    @classmethod
    def from_built(cls, migration_set: MigrationSet, built: dict[int, Path]) -> Templates:
        """Templates over files another process already built, in its directory
        (read-only use: never cleaned up from here)."""
        workdir = next(iter(built.values())).parent
        templates = cls(migration_set, workdir)
        templates._built.update(built)
        return templates

    def template(self, version: int) -> Path:
        if version not in self._built:
            path = self.workdir / f"template-v{version}.db"
            self._built[version] = build_database(self.migration_set, version, path, overwrite=True)
        return self._built[version]

    def schema(self, version: int) -> Schema:
        """The app schema SQLite really builds at ``version``."""
        if version not in self._schemas:
            conn = sqlite3.connect(self.template(version))
            try:
                self._schemas[version] = snapshot(conn)
            finally:
                conn.close()
        return self._schemas[version]

    def copy(self, version: int, destination: Path) -> Path:
        shutil.copyfile(self.template(version), destination)
        return destination

    def replica(
        self,
        version: int,
        path: Path,
        *,
        peer_id: str | None = None,
        now_ms: Callable[[], int] | None = None,
    ) -> Replica:
        """A fresh replica file at ``version`` made from the template."""
        self.copy(version, path)
        conn = connect(path, scratch=True)
        try:
            return Replica(conn, self.migration_set.migrations, peer_id=peer_id, now_ms=now_ms)
        except BaseException:
            conn.close()
            raise

    def cleanup(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)


HARNESS_EPOCH_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def stepping_clock(start_ms: int = HARNESS_EPOCH_MS) -> Callable[[], int]:
    """A clock shared by an example's replicas that moves one millisecond per reading.

    Wall time would make last-writer-wins depend on how fast the machine ran
    the steps; with this clock it depends on the order of the steps alone, so
    the same seed gives the same report on any machine.
    """
    ticks = itertools.count(start_ms)
    return lambda: next(ticks)
