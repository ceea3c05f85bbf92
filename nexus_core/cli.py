"""The ``nexus`` command line: parse the arguments, call the library, print.

Every command is a plain ``@main.command()`` function; the group turns any
:class:`~nexus_core.NexusError` (and any stray ``sqlite3`` or OS error) into one
``Error: ...`` line on stderr and exit code 2, so a new command gets that for
free. Exit codes: 0 success, 1 a failed check (``verify``), 2 bad input.

    $ nexus migrate app.db --backup
    v3 -> v5, 2 applied
    backup: app.db.backup-v3-20250101T120000000000Z
    $ nexus version app.db
    5
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import click

from nexus_core.db.connection import connect
from nexus_core.db.migrations import (
    backup_name,
    get_current_version,
    get_migration_history,
    load_migrations,
    migrate,
)
from nexus_core.db.verify import verify_database
from nexus_core.errors import NexusError

EXIT_CHECK_FAILED = 1
EXIT_BAD_INPUT = 2

DB_ARGUMENT = click.Path(path_type=Path)
MIGRATIONS_HELP = "Directory of NNN_description.sql files (default: the app's own)."


class BadInput(click.ClickException):
    """Printed as a single ``Error: ...`` line on stderr; exit code 2."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


class NexusGroup(click.Group):
    """A click group whose commands report library errors as :class:`BadInput`."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except NexusError as exc:
            raise BadInput(str(exc)) from exc
        except sqlite3.Error as exc:
            raise BadInput(f"SQLite error: {exc}") from exc
        except OSError as exc:
            raise BadInput(f"{exc.filename or 'file'}: {exc.strerror or exc}") from exc


@contextmanager
def _existing_database(db: Path) -> Iterator[sqlite3.Connection]:
    """Open a database that must already exist; never creates a file."""
    with closing(connect(db, create=False, wal=False)) as conn:
        yield conn


@contextmanager
def _database_to_migrate(db: Path) -> Iterator[sqlite3.Connection]:
    """Open ``db``, creating it if missing; a file created here is removed on failure.

    An existing file keeps its journal mode, so a refused migration leaves its
    bytes as they were; a new file is put in WAL mode like ``initialize_database``.
    """
    existed = db.exists()
    conn = connect(db, create=True, wal=not existed)
    try:
        yield conn
    except BaseException:
        conn.close()
        if not existed:
            for leftover in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
                leftover.unlink(missing_ok=True)
        raise
    conn.close()


@click.group(cls=NexusGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Migrate, inspect and verify nexus-core SQLite databases.

    Exit codes: 0 success, 1 a failed check, 2 bad input (one line on stderr).
    """


@main.command(name="migrate")
@click.argument("db", type=DB_ARGUMENT)
@click.option(
    "--migrations",
    "migrations_dir",
    type=click.Path(path_type=Path),
    default=None,
    help=MIGRATIONS_HELP,
)
@click.option(
    "--to", "target", type=int, default=None, help="Target version (default: the latest)."
)
@click.option("--backup", is_flag=True, help="Copy DB beside itself before changing it.")
def migrate_command(
    db: Path, migrations_dir: Path | None, target: int | None, backup: bool
) -> None:
    """Bring DB up (or down, with --to) to a version; a missing DB is created.

    Prints what happened, e.g. "v3 -> v5, 2 applied", and the backup's path.
    """
    migrations = load_migrations(migrations_dir)
    with _database_to_migrate(db) as conn:
        result = migrate(
            conn,
            migrations,
            target=target,
            backup_path=(lambda version: backup_name(db, version)) if backup else None,
        )
    click.echo(result.summary())
    if result.backup is not None:
        click.echo(f"backup: {result.backup}")


@main.command(name="version")
@click.argument("db", type=DB_ARGUMENT)
def version_command(db: Path) -> None:
    """Print DB's schema version, the number alone (0 for an empty database)."""
    with _existing_database(db) as conn:
        click.echo(str(get_current_version(conn)))


@main.command(name="history")
@click.argument("db", type=DB_ARGUMENT)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
def history_command(db: Path, as_json: bool) -> None:
    """Show the migrations applied to DB: version, when, and description."""
    with _existing_database(db) as conn:
        history = get_migration_history(conn)
    if as_json:
        rows = [
            {"version": version, "applied_at": applied_at, "description": description}
            for version, applied_at, description in history
        ]
        click.echo(json.dumps(rows, indent=2))
        return
    if not history:
        click.echo("no migrations applied")
        return
    header = ("version", "applied_at", "description")
    lines = [header, *((str(v), a, d) for v, a, d in history)]
    widths = [max(len(line[i]) for line in lines) for i in range(2)]
    for version, applied_at, description in lines:
        click.echo(f"{version:>{widths[0]}}  {applied_at:<{widths[1]}}  {description}")


@main.command(name="verify")
@click.argument("db", type=DB_ARGUMENT)
@click.option(
    "--migrations",
    "migrations_dir",
    type=click.Path(path_type=Path),
    default=None,
    help=MIGRATIONS_HELP,
)
def verify_command(db: Path, migrations_dir: Path | None) -> None:
    """Check that DB's schema is exactly what its version must be.

    Exit 0 with "ok: schema matches vN", or exit 1 listing every difference.
    """
    migrations = load_migrations(migrations_dir)
    with _existing_database(db) as conn:
        problems = verify_database(conn, migrations)
        version = get_current_version(conn)
    if not problems:
        click.echo(f"ok: schema matches v{version}")
        return
    click.echo(f"schema differs from a fresh v{version} ({len(problems)} difference(s)):")
    for problem in problems:
        click.echo(f"  - {problem}")
    raise click.exceptions.Exit(EXIT_CHECK_FAILED)


if __name__ == "__main__":
    main()
