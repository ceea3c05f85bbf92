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

import io
import json
import logging
import os
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
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
from nexus_core.replica import open_replica
from nexus_core.sync import sync

EXIT_CHECK_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130  # as a shell reports a job stopped by Ctrl-C
EXIT_BROKEN_PIPE = 141  # as a shell reports a writer whose reader went away (SIGPIPE)

DB_ARGUMENT = click.Path(path_type=Path)
MIGRATIONS_HELP = (
    "Directory of NNN_description.sql files (default: nexus-core's bundled task-app migrations)."
)
MIGRATIONS_OPTION = click.option(
    "--migrations",
    "migrations_dir",
    type=click.Path(path_type=Path),
    default=None,
    help=MIGRATIONS_HELP,
)


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
        except click.UsageError as exc:  # one line, as every other bad input
            where = f"{exc.ctx.command_path}: " if exc.ctx is not None else ""
            raise BadInput(f"{where}{exc.format_message()} (see --help)") from exc
        except NexusError as exc:
            raise BadInput(str(exc)) from exc
        except sqlite3.Error as exc:
            raise BadInput(f"SQLite error: {exc}") from exc
        except BrokenPipeError:  # `nexus history DB | head -1`: the reader has gone
            _quiet_stdout()
            raise click.exceptions.Exit(EXIT_BROKEN_PIPE) from None
        except OSError as exc:
            raise BadInput(f"{exc.filename or 'file'}: {exc.strerror or exc}") from exc
        except KeyboardInterrupt:  # not exit 1: that says a check failed
            click.echo("Interrupted.", err=True)
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so Python's own flush at exit finds no broken pipe."""
    with suppress(OSError, ValueError, io.UnsupportedOperation):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


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
@click.version_option(package_name="nexus-core", prog_name="nexus")
def main() -> None:
    """Migrate, inspect, verify and sync nexus-core SQLite databases.

    Exit codes: 0 success, 1 a failed check, 2 bad input (one line on stderr).
    """


@main.command(name="migrate")
@click.argument("db", type=DB_ARGUMENT)
@MIGRATIONS_OPTION
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
    existed = db.exists()
    with _database_to_migrate(db) as conn:
        before = get_current_version(conn)
        try:
            result = migrate(
                conn,
                migrations,
                target=target,
                # (a database this command creates has nothing to back up)
                backup_path=(lambda version: backup_name(db, version))
                if backup and existed
                else None,
            )
        except NexusError as exc:
            now = get_current_version(conn)
            if existed and now != before:  # each migration commits on its own
                done = "applied" if now > before else "reverted"
                raise NexusError(
                    f"{exc} (the database is now at v{now}: the migrations before it"
                    f" were {done}; it was at v{before})"
                ) from exc
            raise
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
@MIGRATIONS_OPTION
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
    click.echo(f"not what v{version} must be ({len(problems)} difference(s)):")
    for problem in problems:
        click.echo(f"  - {problem}")
    raise click.exceptions.Exit(EXIT_CHECK_FAILED)


def _show_sync_warnings() -> None:
    """The engine's warnings (unknown columns, refusals, version gaps) as plain lines."""
    logger = logging.getLogger("nexus_core.sync")
    for handler in logger.handlers:
        if getattr(handler, "nexus_cli", False):
            logger.removeHandler(handler)  # click's test runner swaps stderr between calls
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("warning: %(message)s"))
    handler.nexus_cli = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)


@main.command(name="sync")
@click.argument("db_a", metavar="A.db", type=DB_ARGUMENT)
@click.argument("db_b", metavar="B.db", type=DB_ARGUMENT)
@MIGRATIONS_OPTION
def sync_command(db_a: Path, db_b: Path, migrations_dir: Path | None) -> None:
    """Sync two replica files both ways until nothing moves; neither is upgraded.

    Prints, per message, what was sent and what the receiver applied, skipped
    (a table or column it lacks: parked for replay) and refused.
    """
    migrations = load_migrations(migrations_dir)
    _show_sync_warnings()
    with (
        closing(open_replica(db_a, migrations=migrations, upgrade=False)) as a,
        closing(open_replica(db_b, migrations=migrations, upgrade=False)) as b,
    ):
        names = {
            a.peer_id: f"{db_a} (v{a.schema_version})",
            b.peer_id: f"{db_b} (v{b.schema_version})",
        }
        result = sync(a, b)
        unsynced = {
            db: [f"{t} ({r.schema.tables[t].unreplicated_reason})" for t in r.unreplicated_tables]
            for db, r in ((db_a, a), (db_b, b))
        }
    for label, received in result.messages:
        sender, receiver = label.split(" -> ")
        if not received.received:
            continue
        click.echo(
            f"{names[sender]} -> {names[receiver]}: {received.received} sent,"
            f" {received.applied} applied, {received.skipped_unknown} skipped (unknown),"
            f" {received.rejected} refused, {received.duplicates} already held"
        )
        for reason in received.reasons:
            click.echo(f"  refused: {reason}")
    for db, tables in unsynced.items():
        if tables:  # reported, not silently left behind (their rows stay on each file)
            click.echo(f"not replicated in {db}: {', '.join(tables)}")
    click.echo(
        f"done in {result.rounds} round(s): {result.applied} applied,"
        f" {result.skipped_unknown} skipped, {result.rejected} refused"
    )


@main.command(name="ops")
@click.argument("db", type=DB_ARGUMENT)
@click.option("--since", default=None, help="Only ops after this clock (as printed).")
@click.option("--json", "as_json", is_flag=True, help="Print the ops as JSON, one per line.")
@MIGRATIONS_OPTION
def ops_command(db: Path, since: str | None, as_json: bool, migrations_dir: Path | None) -> None:
    """Print DB's oplog, oldest first: clock, origin, kind, table, row, column, value.

    Parked ops (a table or column this version lacks, or a value it refused)
    are marked with the reason.
    """
    migrations = load_migrations(migrations_dir)
    with closing(open_replica(db, migrations=migrations, upgrade=False)) as replica:
        parked = {
            (change.hlc, column): reason
            for change, columns in replica.oplog.parked()
            for column, reason in columns.items()
        }
        for op in replica.ops(since):
            mark = parked.get((op.hlc, op.column_name or "")) or parked.get((op.hlc, ""))
            if as_json:
                click.echo(json.dumps({**op.to_json(), "parked": mark}))
                continue
            target = f"{op.table_name}[{op.row_id!r}]"
            what = "DELETE" if op.kind == "delete" else f".{op.column_name} = {op.new_value!r}"
            note = f"  (parked: {mark})" if mark else ""
            click.echo(f"{op.hlc}  v{op.schema_version}  {target}{what}{note}")


if __name__ == "__main__":
    main()
