"""The migration runner: numbered SQL files, a ``schema_version`` table, checksums.

A migrations directory holds ``NNN_description.sql`` files numbered 001, 002, ...
without gaps, each optionally paired with ``NNN_description.down.sql``. The whole
set is validated before any database is touched. Each migration runs in its own
``BEGIN IMMEDIATE`` transaction together with its ``schema_version`` row, so a
database is always at a whole version and two processes never apply the same one.

>>> conn = connect(":memory:")
>>> apply_migrations(conn)
>>> get_current_version(conn) >= 1
True
"""

from __future__ import annotations

import functools
import hashlib
import re
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from nexus_core.db.connection import computed_anew, connect, use_wal
from nexus_core.db.schema import COMMENT_OR_QUOTED, is_internal_table, without_comments
from nexus_core.errors import MigrationError, MigrationSetError

SCHEMA_VERSION_DDL = """CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    applied_at TEXT NOT NULL,
    description TEXT NOT NULL
)"""
CHECKSUM_TABLE = "_nexus_migration_checksums"
CHECKSUM_DDL = f"""CREATE TABLE IF NOT EXISTS {CHECKSUM_TABLE} (
    version INTEGER PRIMARY KEY,
    checksum TEXT NOT NULL
)"""

UP_NAME = re.compile(r"^(?P<number>\d{3,})_(?P<slug>[A-Za-z0-9][A-Za-z0-9_\-]*)\.sql$")
DOWN_NAME = re.compile(r"^(?P<number>\d{3,})_(?P<slug>[A-Za-z0-9][A-Za-z0-9_\-]*)\.down\.sql$")
DESCRIPTION_LINE = re.compile(r"^\s*--\s*Description:\s*(?P<text>.+?)\s*$", re.MULTILINE)

Hook = Callable[[sqlite3.Connection], None]


@dataclass(frozen=True)
class Migration:
    """One numbered migration file, read and checksummed."""

    version: int
    description: str
    path: Path
    sql: str
    down_sql: str | None = None

    @functools.cached_property
    def checksum(self) -> str:
        """Computed once: every migrate() checks the checksums of every applied file."""
        return checksum_sql(self.sql)

    @functools.cached_property
    def code(self) -> list[str]:
        """Each statement without its comments (:func:`sql_code`), split once."""
        return [sql_code(statement) for statement in split_statements(self.sql)]


@dataclass(frozen=True)
class MigrationHooks:
    """Python callables run inside a migration's transaction (data migrations)."""

    pre: Hook | None = None
    post: Hook | None = None


@dataclass
class MigrationResult:
    """What one ``migrate`` call did."""

    from_version: int
    to_version: int
    applied: list[int] = field(default_factory=list)
    reverted: list[int] = field(default_factory=list)
    backup: Path | None = None

    def summary(self) -> str:
        if self.reverted:
            return f"v{self.from_version} -> v{self.to_version}, {len(self.reverted)} reverted"
        if not self.applied:
            return f"v{self.to_version}, up to date"
        return f"v{self.from_version} -> v{self.to_version}, {len(self.applied)} applied"


def checksum_sql(sql: str) -> str:
    """SHA-256 of a migration's text with line endings normalised."""
    normalised = sql.replace("\r\n", "\n").replace("\r", "\n")
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()


def default_migrations_dir() -> Path:
    """The project's own migrations: bundled in the wheel, or the source checkout's."""
    package = Path(__file__).resolve().parent.parent
    bundled = package / "_bundled" / "migrations"
    if bundled.is_dir():
        return bundled
    return package.parent / "migrations"


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").removeprefix("\ufeff")  # an editor's BOM
    except (OSError, UnicodeDecodeError) as exc:
        raise MigrationSetError(f"{path}: cannot read migration file ({exc})") from exc


def _description(sql: str, slug: str) -> str:
    found = DESCRIPTION_LINE.search(sql)
    if found:
        return found.group("text")
    return slug.replace("_", " ").replace("-", " ").strip().capitalize()


def load_migrations(directory: str | Path | None = None) -> list[Migration]:
    """Read and validate a whole migrations directory.

    Raises :class:`MigrationSetError` naming the file for a gap, a duplicate
    number, a number 000, an unreadable file, a stray ``.sql`` name or a down
    file without its up file.
    """
    root = Path(directory) if directory is not None else default_migrations_dir()
    if root.exists() and not root.is_dir():
        raise MigrationSetError(f"{root}: is a file, not a migrations directory")
    if not root.is_dir():
        raise MigrationSetError(f"{root}: migrations directory not found")
    ups: dict[int, Path] = {}
    downs: dict[int, Path] = {}
    for path in sorted(root.iterdir()):
        if not path.name.lower().endswith(".sql"):
            continue
        if not path.name.endswith(".sql"):
            raise MigrationSetError(f"{path}: write the extension in lower case (.sql)")
        down = DOWN_NAME.match(path.name)
        up = None if down else UP_NAME.match(path.name)
        match = down or up
        if match is None:
            raise MigrationSetError(
                f"{path}: not a migration file name (expected NNN_description.sql)"
                f"{_name_hint(path.name)}"
            )
        number = int(match.group("number"))
        if number == 0:
            raise MigrationSetError(
                f"{path}: migration numbers start at 001 (a set numbered from 0000, as"
                " Drizzle Kit writes it, is numbered one up: 0000_x.sql as 001_x.sql)"
            )
        bucket = downs if down else ups
        if number in bucket:
            raise MigrationSetError(
                f"{path}: duplicate migration number {number:03d} (also {bucket[number].name})"
            )
        bucket[number] = path
    if not ups:
        raise MigrationSetError(f"{root}: no migration files (NNN_description.sql){_nested(root)}")
    if 1 not in ups and min(ups) >= TIMESTAMP_LIKE:
        raise MigrationSetError(
            f"{root}: migration numbers start at 001, and {min(ups)} looks like a timestamp"
            f" (Rails, Knex, Ecto, sqlx, goose and dbmate name files so): {_IN_ORDER} (the up"
            " part only: a down part goes in NNN_name.down.sql)"
        )
    for number in range(1, max(ups) + 1):
        if number not in ups:
            raise MigrationSetError(
                f"{root}: gap in migration numbering, {number:03d} is missing"
                f" (found {', '.join(p.name for p in ups.values())})"
            )
    for number, path in downs.items():
        if number not in ups:
            raise MigrationSetError(f"{path}: down migration without an up migration")
    migrations = []
    for number in sorted(ups):
        path = ups[number]
        sql = _read(path)
        _refuse_down_part(path, sql)
        slug = UP_NAME.match(path.name).group("slug")  # type: ignore[union-attr]
        down_sql = _read(downs[number]) if number in downs else None
        migrations.append(Migration(number, _description(sql, slug), path, sql, down_sql))
    return migrations


_IN_ORDER = "copy the files in their order as 001_name.sql, 002_name.sql, ..."
FLYWAY_NAME = re.compile(r"^([VvUu])\d+(?:[._]\d+)*__.+\.sql$")
UP_DOWN_NAME = re.compile(r"^\d+_.+\.up\.sql$")  # golang-migrate, sqlx: NAME.up.sql
# Where goose and dbmate keep a migration's down part in the same file as its up part:
# the marker alone on its line, after the up marker (review BAJ-10).
DOWN_PART = re.compile(r"(?im)^[ \t]*--[ \t]*(?:\+goose[ \t]+down|migrate:down)[ \t]*$")
UP_PART = re.compile(r"(?im)^[ \t]*--[ \t]*(?:\+goose[ \t]+up|migrate:up)[ \t]*$")


def _name_hint(name: str) -> str:
    """How to name a file a migration tool named its own way, or ''."""
    flyway = FLYWAY_NAME.match(name)
    if flyway and flyway.group(1) in "Vv":
        return f" (Flyway's V1__name.sql: {_IN_ORDER})"
    if flyway:
        return " (a Flyway undo file: its SQL goes in 001_name.down.sql beside 001_name.sql)"
    if UP_DOWN_NAME.match(name):
        return (
            f" (golang-migrate's and sqlx's NAME.up.sql: {_IN_ORDER}, and each .down.sql as"
            " NNN_name.down.sql)"
        )
    return ""


def _refuse_down_part(path: Path, sql: str) -> None:
    """A goose or dbmate file holding its down part after a marker: run whole, the
    migration would undo itself (review BAI-7)."""
    marker = DOWN_PART.search(sql)
    up = UP_PART.search(sql)
    if (
        marker
        and up
        and up.start() < marker.start()
        and without_comments(sql[marker.end() :]).strip(" \t\r\n;")
    ):
        raise MigrationSetError(
            f"{path}: holds its down part too, after {marker.group(0).strip()!r}: keep the"
            " up part in this file and move the rest to NNN_name.down.sql"
        )


TIMESTAMP_LIKE = 10**7  # a first migration numbered from here is a date, not a count


def _nested(root: Path) -> str:
    """A hint where the SQL files sit in folders of their own (Prisma's
    ``<stamp>_name/migration.sql``, Diesel's ``<stamp>_name/up.sql``), else ''."""
    nested = sorted(
        (p.relative_to(root) for p in root.glob("*/*.sql")), key=lambda p: ("down" in p.name, p)
    )
    if not nested:
        return ""
    return (
        f"; found {nested[0]}{' and more' if len(nested) > 1 else ''} in folders (as Prisma"
        f" and Diesel keep them): {_IN_ORDER}, into one folder"
    )


def migration_list(migrations: str | Path | Sequence[Migration] | None) -> list[Migration]:
    """Migrations given as a directory (None: the project's own) or as a list."""
    if migrations is None or isinstance(migrations, str | Path):
        return load_migrations(migrations)
    return list(migrations)


_OPENERS = re.compile(r"'|\"|`|\[|--|/\*")
_CLOSERS = {"'": "'", '"': '"', "`": "`", "[": "]", "--": "\n", "/*": "*/"}


def _lexical_state(text: str, closer: str | None) -> str | None:
    """After ``text``, what still closes the literal or comment it is in (None: in code)."""
    position = 0
    while True:
        if closer is None:
            found = _OPENERS.search(text, position)
            if found is None:
                return None
            closer, position = _CLOSERS[found.group()], found.end()
        else:
            end = text.find(closer, position)
            if end < 0:
                return closer
            position, closer = end + len(closer), None


def split_statements(sql: str) -> Iterator[str]:
    """Split a script into complete statements (trigger bodies stay whole).

    Linear in the script: SQLite's ``complete_statement`` is asked only at a
    semicolon outside literals and comments (a long literal full of
    semicolons would otherwise be rescanned at each of them).
    """
    pieces: list[str] = []
    closer: str | None = None
    for piece in sql.split(";"):
        pieces.append(piece)
        closer = _lexical_state(piece, closer)
        if closer is not None:
            continue
        buffer = ";".join(pieces) + ";"
        if sqlite3.complete_statement(buffer):
            pieces = []
            statement = buffer.strip()
            if _has_code(statement):
                yield statement
    rest = ";".join(pieces).rstrip(";")  # an unterminated literal or comment
    if _has_code(rest):
        yield rest.strip()


def sql_code(statement: str) -> str:
    """A statement without its comments, surrounding blanks and final semicolon
    (a comment's text inside a string literal stays: it is the literal's)."""
    return without_comments(statement).strip(" \t\r\n;")


def without_literals(sql: str) -> str:
    """``sql`` with every string literal emptied and every comment blanked (the
    words in them are not SQL); quoted names stay."""

    def blank(match: re.Match[str]) -> str:
        if match.group(1):
            return " "
        return "''" if match.group(0).startswith("'") else match.group(0)

    return COMMENT_OR_QUOTED.sub(blank, sql)


# SQL each replica computes for itself: the clock, randomness, connection state.
_NONDETERMINISTIC = re.compile(
    r"(?i)\b(?:current_timestamp|current_time|current_date)\b"
    r"|\b(?:random|randomblob|changes|total_changes|last_insert_rowid)\s*\("
    r"|\b(?:date|time|datetime|julianday|unixepoch)"
    r"\s*\(\s*\)"
)
# 'now' reads the clock; 'localtime' and 'utc' read the device's time zone.
_NOW = re.compile(
    r"(?i)\b(?:date|time|datetime|julianday|unixepoch|strftime)\s*\([^)]*'(?:now|localtime|utc)'"
)
# strftime with a format alone reads the clock too ('now' is its default time).
_STRFTIME_NOW = re.compile(r"(?i)\bstrftime\s*\(\s*'(?:[^']|'')*'\s*\)")


def nondeterministic(sql: str) -> bool:
    """Whether ``sql`` (a column default, a condition) is computed anew by each replica
    or build: it reads the clock, randomness or the connection's state."""
    return bool(
        _NONDETERMINISTIC.search(without_literals(sql))
        or _NOW.search(sql)
        or _STRFTIME_NOW.search(sql)
        or computed_anew(sql)
    )


def _has_code(statement: str) -> bool:
    return bool(sql_code(statement))


TRANSACTION_CONTROL = re.compile(
    r"(?i)^(BEGIN(\s+(DEFERRED|IMMEDIATE|EXCLUSIVE))?(\s+TRANSACTION)?|(COMMIT|END)(\s+TRANSACTION)?)$"
)


def migration_statements(sql: str) -> Iterator[str]:
    """The statements to run for a migration file.

    Files often wrap themselves in ``BEGIN; ... COMMIT;``; the runner already
    runs each migration in its own transaction, so those two are left out.
    """
    for statement in split_statements(sql):
        if not TRANSACTION_CONTROL.match(" ".join(sql_code(statement).split())):
            yield statement


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
    ).fetchone()
    return row is not None


@contextmanager
def _runner_errors(doing: str) -> Iterator[None]:
    """SQLite's errors while ``doing`` something as MigrationError (none leaves bare)."""
    try:
        yield
    except sqlite3.Error as exc:
        hint = ""
        if "no such column" in str(exc):
            hint = (
                " (nexus-core's schema_version has version, applied_at and description:"
                " was the database migrated by another tool?)"
            )
        raise MigrationError(f"{doing}: {exc}{hint}") from exc


def _version_number(value: object) -> int:
    """A ``schema_version.version`` as a number; another tool's ``'1.1'`` is an error."""
    if type(value) is int:
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    raise MigrationError(
        f"schema_version holds version {value!r}, not a whole number:"
        " was this database migrated by another tool?"
    )


def get_current_version(conn: sqlite3.Connection) -> int:
    """The highest applied version, 0 for a database without migrations."""
    with _runner_errors("cannot read schema_version"):
        if not _has_table(conn, "schema_version"):
            return 0
        versions = [v for (v,) in conn.execute("SELECT version FROM schema_version")]
    # Compared as numbers here: SQLite's MAX ranks text above any number and '9'
    # above '10' (another client's text digits), and another tool's '1.1' is an error.
    return max(map(_version_number, versions), default=0)


def get_migration_history(conn: sqlite3.Connection) -> list[tuple[int, str, str]]:
    """``(version, applied_at, description)`` for every applied migration, oldest first."""
    with _runner_errors("cannot read schema_version"):
        if not _has_table(conn, "schema_version"):
            return []
        rows = conn.execute("SELECT version, applied_at, description FROM schema_version")
        history = [(_version_number(v), str(a), str(d)) for v, a, d in rows]
    return sorted(history)


def check_applied(conn: sqlite3.Connection, migrations: Sequence[Migration]) -> None:
    """Refuse a database newer than ``migrations`` or one whose applied files changed."""
    current = get_current_version(conn)
    latest = migrations[-1].version if migrations else 0
    if current > latest:
        folder = migrations[-1].path.parent if migrations else None
        # (Migrations made in memory have no folder worth naming.)
        where = f" (in {folder})" if folder is not None and folder.name else ""
        raise MigrationError(
            f"database is at v{current}, newer than the latest known migration v{latest}"
            f"{where}: upgrade the application, or is this another app's database, or"
            " the wrong migrations folder (--migrations)?"
        )
    if not _has_table(conn, CHECKSUM_TABLE):
        return
    recorded = dict(conn.execute(f"SELECT version, checksum FROM {CHECKSUM_TABLE}").fetchall())
    described = {version: text for version, _, text in get_migration_history(conn)}
    for migration in migrations:
        stored = recorded.get(migration.version)
        if stored is not None and migration.version <= current and stored != migration.checksum:
            ran = described.get(migration.version)
            if ran is not None and ran != migration.description:
                raise MigrationError(
                    f"{migration.path.name}: this database ran another v{migration.version}"
                    f" ({ran!r}, not {migration.description!r}): was the file edited after"
                    " it ran (add a new migration instead), or is it another app's database,"
                    " or the wrong --migrations folder?"
                )
            raise MigrationError(
                f"{migration.path.name}: applied migration v{migration.version} was edited"
                " after it ran (checksum differs); add a new migration instead"
            )


def utc_now() -> str:
    """Now, as the ISO text the bookkeeping tables store."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _foreign_keys_enabled(conn: sqlite3.Connection) -> bool:
    return bool(conn.execute("PRAGMA foreign_keys").fetchone()[0])


def _foreign_key_violations(conn: sqlite3.Connection) -> Counter[tuple[object, ...]]:
    """How many references dangle, per (table, parent table).

    Ones that predate a migration are not its fault (a replica holds a child
    whose parent has not arrived yet). Counted without rowids or key numbers:
    a table rebuild renumbers both, a rename changes the name, the count stays.
    """
    return Counter(
        (table, parent) for table, _, parent, _ in conn.execute("PRAGMA foreign_key_check")
    )


def _run_in_transaction(
    conn: sqlite3.Connection, step: Callable[[], bool], label: str, *, check_fk: bool = True
) -> bool:
    """Run ``step`` inside BEGIN IMMEDIATE with foreign keys off; commit or roll back.

    A transaction the caller left open on ``conn`` (Python's sqlite3 opens one
    before an INSERT) is committed first, as a migration needs its own.

    ``PRAGMA foreign_keys`` cannot change inside a transaction, so it is switched
    off around it (table rebuilds need that) and, with ``check_fk``, the
    migration must not add dangling references (``foreign_key_check``) before
    the commit.
    """
    if conn.in_transaction:
        conn.commit()
    restore_fk = _foreign_keys_enabled(conn)
    if restore_fk:
        conn.execute("PRAGMA foreign_keys = OFF")
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            before = _foreign_key_violations(conn) if check_fk else Counter()
            changed = step()
            if changed and check_fk:
                after = _foreign_key_violations(conn)
                added = after.total() - before.total()
                if added > 0:
                    table, parent = min(after - before, key=str)
                    raise MigrationError(
                        f"{label}: leaves {added} new foreign key violation(s),"
                        f" first {table} -> {parent}"
                    )
            conn.execute("COMMIT")
            return changed
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    except sqlite3.Error as exc:
        raise MigrationError(f"{label}: {exc}{_why_not_written(exc)}") from exc
    finally:
        if restore_fk:
            conn.execute("PRAGMA foreign_keys = ON")


def _why_not_written(exc: sqlite3.Error) -> str:
    """What a lock or a read-only file means here: not the migration's fault."""
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF  # the primary code
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return " (another connection holds the database's write lock: try again later)"
    if code == sqlite3.SQLITE_READONLY:
        return " (the database file, or its folder, cannot be written)"
    return ""


def _ensure_bookkeeping(conn: sqlite3.Connection) -> None:
    conn.execute(SCHEMA_VERSION_DDL)
    conn.execute(CHECKSUM_DDL)


_RUNNER_TABLES = ("schema_version",)  # (its checksums are a _nexus_ table)


def _engine_objects(conn: sqlite3.Connection) -> dict[str, str | None]:
    """The sync engine's tables (``_nexus_*``), the runner's own (``schema_version``
    and its checksums) and anything on them, by name, with their SQL."""
    own = ", ".join(f"'{name}'" for name in _RUNNER_TABLES)
    return {
        str(name): sql
        for name, sql in conn.execute(
            "SELECT name, sql FROM sqlite_master"
            " WHERE lower(name) GLOB '_nexus_*' OR lower(tbl_name) GLOB '_nexus_*'"
            f" OR lower(name) IN ({own}) OR lower(tbl_name) IN ({own})"
        )
    }


# A statement writing one of those tables (their rows are the engine's or the runner's alone).
_ENGINE_WRITE = re.compile(
    r"(?i)\b(?:INTO|UPDATE(?:\s+OR\s+\w+)?|DELETE\s+FROM)\s+"
    r"(?:[\"`\[]?main[\"`\]]?\s*\.\s*)?[\"`\[]?"
    rf"(_nexus_\w*|(?:{'|'.join(_RUNNER_TABLES)})\b)"
)


def _owner(name: str) -> str:
    if name.lower().startswith("_nexus_"):
        return "names starting with _nexus_ belong to the sync engine"
    return f"{name} belongs to the migration runner"


def _drop_temporary_objects(conn: sqlite3.Connection) -> None:
    """A migration's TEMP tables, views and triggers end with it: left in place, the
    next migration of the same run would see them (a TEMP table shadows a main
    one of its name), and a fresh install would differ from a step-by-step one."""
    for kind, name in conn.execute(
        "SELECT type, name FROM sqlite_temp_master WHERE type IN ('table', 'view', 'trigger')"
        # SQLite's own (temp.sqlite_sequence, left by an AUTOINCREMENT table) cannot go.
        " AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY type = 'table'"
    ).fetchall():
        quoted = '"' + name.replace('"', '""') + '"'
        conn.execute(f"DROP {kind.upper()} IF EXISTS temp.{quoted}")


# Connection settings a migration may change (``PRAGMA legacy_alter_table = ON``)
# that outlive it: not undone by a rollback, and read back as they were set.
_SETTINGS = (
    "automatic_index",
    "defer_foreign_keys",
    "ignore_check_constraints",
    "legacy_alter_table",
    "query_only",
    "recursive_triggers",
    "reverse_unordered_selects",
    "trusted_schema",
    "writable_schema",
)


def _like_ignores_case(conn: sqlite3.Connection) -> bool | None:
    """Whether LIKE ignores case now (None: a like() of the caller's says neither)."""
    try:
        (found,) = conn.execute("SELECT 'a' LIKE 'A'").fetchone()
    except sqlite3.Error:
        return None
    return None if found not in (0, 1) else bool(found)


@contextmanager
def _own_settings(conn: sqlite3.Connection) -> Iterator[None]:
    """The connection as it was before a migration, after it: its settings, and no
    database it attached. Kept, they would carry into the next migration of the
    same run only, so a fresh install and a client upgraded release by release
    would run the same file differently (a rebuild under legacy_alter_table)."""
    read = {name: conn.execute(f"PRAGMA {name}").fetchone() for name in _SETTINGS}
    settings = {name: row[0] for name, row in read.items() if row is not None}  # (older SQLite)
    blind = _like_ignores_case(conn)
    attached = {"main", "temp", *(row[1] for row in conn.execute("PRAGMA database_list"))}
    try:
        yield
    finally:
        for name, value in settings.items():
            conn.execute(f"PRAGMA {name} = {int(value)}")
        # case_sensitive_like cannot be read back, only seen through LIKE; set it
        # again only if the migration changed it (the PRAGMA also replaces a like()
        # function the caller registered).
        if blind is not None and _like_ignores_case(conn) not in (blind, None):
            conn.execute(f"PRAGMA case_sensitive_like = {int(not blind)}")
        for row in conn.execute("PRAGMA database_list").fetchall():
            if row[1] not in attached:
                conn.execute(f'DETACH DATABASE "{row[1].replace(chr(34), chr(34) * 2)}"')


def _run_sql(conn: sqlite3.Connection, sql: str, label: str) -> None:
    """A migration's statements (up or down) in the runner's transaction.

    Refused, so that the rollback undoes them: writing the engine's or the
    runner's tables, ending the runner's transaction, changing their objects.
    The migration's TEMP objects are dropped after it.
    """
    engine = _engine_objects(conn)
    for statement in migration_statements(sql):
        # Without its comments: ADD COLUMN copies the rest of the statement into
        # the table's SQL, and a trailing "-- note" there breaks it for good.
        code = sql_code(statement)
        written = _ENGINE_WRITE.search(without_literals(code))
        if written:
            raise MigrationError(f"{label}: writes {written.group(1)}: {_owner(written.group(1))}")
        try:
            conn.execute(code)
        except sqlite3.Error as exc:
            if not _cannot_run_in_a_transaction(code, exc):
                raise
            raise MigrationError(
                f"{label}: {exc} ({' '.join(code.split())[:40]}): each migration runs in one"
                " transaction of the runner's; run this after migrating, outside the migrations"
            ) from exc
        if not conn.in_transaction:  # a ROLLBACK (or COMMIT) of the runner's own
            raise MigrationError(
                f"{label}: ended the runner's transaction ({' '.join(code.split())[:40]}):"
                " each migration runs in one transaction of the runner's; leave out"
                " ROLLBACK, COMMIT and END"
            )
    _drop_temporary_objects(conn)
    touched = sorted(engine.items() ^ _engine_objects(conn).items())
    if touched:
        raise MigrationError(f"{label}: touches {touched[0][0]}: {_owner(touched[0][0])}")


def _cannot_run_in_a_transaction(code: str, exc: sqlite3.Error) -> bool:
    """Whether ``code`` failed for being run inside the runner's transaction: VACUUM,
    ``PRAGMA synchronous`` or ``wal_checkpoint`` (which reports the database locked by
    the transaction itself), ATTACH saying so; not a table named ``transactions``."""
    first = code.split(None, 1)[0].upper() if code.split() else ""
    if first in ("VACUUM", "PRAGMA"):
        # Else a PRAGMA fails only for that here.
        return not any(word in str(exc) for word in ("syntax error", "incomplete input"))
    return first in ("ATTACH", "DETACH") and "transaction" in str(exc)


def _apply_one(
    conn: sqlite3.Connection,
    migration: Migration,
    migrations: Sequence[Migration],
    hooks: MigrationHooks | None,
    check_fk: bool,
) -> bool:
    def step() -> bool:
        _ensure_bookkeeping(conn)
        check_applied(conn, migrations)
        if get_current_version(conn) >= migration.version:
            return False  # another process applied it while we waited for the lock
        if hooks and hooks.pre:
            hooks.pre(conn)
        _run_sql(conn, migration.sql, f"{migration.path.name} (v{migration.version})")
        if hooks and hooks.post:
            hooks.post(conn)
        conn.execute(
            "INSERT INTO schema_version (version, applied_at, description) VALUES (?, ?, ?)",
            (migration.version, utc_now(), migration.description),
        )
        conn.execute(
            f"INSERT OR REPLACE INTO {CHECKSUM_TABLE} (version, checksum) VALUES (?, ?)",
            (migration.version, migration.checksum),
        )
        return True

    # Restored after the transaction: a database the migration attached and wrote
    # cannot be detached before its commit.
    with _own_settings(conn):
        return _run_in_transaction(
            conn, step, f"{migration.path.name} (v{migration.version})", check_fk=check_fk
        )


def _revert_one(conn: sqlite3.Connection, migration: Migration, check_fk: bool) -> bool:
    down_sql = migration.down_sql or ""

    down = migration.path.with_name(migration.path.name.removesuffix(".sql") + ".down.sql")
    label = f"{down.name} (v{migration.version})"

    def step() -> bool:
        if get_current_version(conn) != migration.version:
            return False
        _run_sql(conn, down_sql, label)
        conn.execute("DELETE FROM schema_version WHERE version = ?", (migration.version,))
        if _has_table(conn, CHECKSUM_TABLE):  # absent in a database another client made
            conn.execute(f"DELETE FROM {CHECKSUM_TABLE} WHERE version = ?", (migration.version,))
        return True

    with _own_settings(conn):
        return _run_in_transaction(conn, step, label, check_fk=check_fk)


def _tables_found_at_v0(conn: sqlite3.Connection) -> str:
    """Tables a database without ``schema_version`` already holds, said for an error:
    another tool made it (a ``PRAGMA user_version`` runner, say), so the first
    migrations may meet what they create."""
    names = [
        name
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
        )
        if not is_internal_table(name)
    ]
    if not names:
        return ""
    (user_version,) = conn.execute("PRAGMA user_version").fetchone()
    marked = f", PRAGMA user_version = {user_version}" if user_version else ""
    return (
        f"it was at v0 but already held tables ({', '.join(names[:3])}"
        f"{', ...' if len(names) > 3 else ''}{marked}): was it made by another tool?"
        " nexus-core numbers its migrations from an empty database"
    )


def _adopt_checksums(conn: sqlite3.Connection, migrations: Sequence[Migration]) -> None:
    """Record checksums for versions applied by a client that did not track them."""
    current = get_current_version(conn)
    missing = [m for m in migrations if m.version <= current]
    if not missing:
        return
    has_table = _has_table(conn, CHECKSUM_TABLE)
    known = (
        {v for (v,) in conn.execute(f"SELECT version FROM {CHECKSUM_TABLE}")}
        if has_table
        else set()
    )
    rows = [(m.version, m.checksum) for m in missing if m.version not in known]
    if rows:

        def step() -> bool:
            conn.execute(CHECKSUM_DDL)
            conn.executemany(
                f"INSERT OR IGNORE INTO {CHECKSUM_TABLE} (version, checksum) VALUES (?, ?)", rows
            )
            return True

        _run_in_transaction(conn, step, "recording checksums", check_fk=False)


def migrate(
    conn: sqlite3.Connection,
    migrations: Sequence[Migration] | None = None,
    *,
    target: int | None = None,
    hooks: Mapping[int, MigrationHooks] | None = None,
    backup_path: Callable[[int], Path] | None = None,
    check_foreign_keys: bool = True,
) -> MigrationResult:
    """Bring ``conn`` to ``target`` (default: the latest), up or down.

    Everything is checked before the first write: the set, the database's
    version, the checksums of applied files, and (going down) that every needed
    ``.down.sql`` exists. ``backup_path(current_version)`` names a backup file,
    written with SQLite's online backup API before anything is applied.
    ``check_foreign_keys=False`` skips the dangling-reference check: a sync
    replica may hold a child whose parent has not arrived, so its upgrade
    must not fail on that.
    """
    known = list(migrations) if migrations is not None else load_migrations()
    with _runner_errors("cannot migrate"):  # (each step names its own failure)
        return _migrate(conn, known, target, hooks, backup_path, check_foreign_keys)


def _migrate(
    conn: sqlite3.Connection,
    known: Sequence[Migration],
    target: int | None,
    hooks: Mapping[int, MigrationHooks] | None,
    backup_path: Callable[[int], Path] | None,
    check_foreign_keys: bool,
) -> MigrationResult:
    latest = known[-1].version if known else 0
    goal = latest if target is None else target
    if goal < 0 or goal > latest:
        raise MigrationError(f"target v{goal} is out of range (versions are v0 to v{latest})")
    check_applied(conn, known)
    start = get_current_version(conn)
    result = MigrationResult(from_version=start, to_version=start)
    if goal < start:
        if _has_table(conn, "_nexus_meta"):
            raise MigrationError(
                f"cannot go down to v{goal}: this database is a sync replica, and what"
                " the down migrations drop would be gone for good (its peers would never"
                " send it again); restore a backup, or start a new replica and sync it"
            )
        steps = [m for m in reversed(known) if goal < m.version <= start]
        lacking = [m.path.name for m in steps if m.down_sql is None]
        if lacking:
            raise MigrationError(
                f"cannot go down to v{goal}: no .down.sql for {', '.join(lacking)}"
            )
    elif goal == start:
        _adopt_checksums(conn, known)
        return result
    if backup_path is not None:
        result.backup = backup_database(conn, backup_path(start))
    if goal < start:
        for migration in steps:
            if _revert_one(conn, migration, check_foreign_keys):
                result.reverted.append(migration.version)
    else:
        found = _tables_found_at_v0(conn) if start == 0 else ""
        for migration in known:
            try:
                applied = start < migration.version <= goal and _apply_one(
                    conn, migration, known, (hooks or {}).get(migration.version), check_foreign_keys
                )
            except MigrationError as exc:
                if not found:
                    raise
                raise MigrationError(f"{exc} ({found})") from exc
            if applied:
                result.applied.append(migration.version)
    _adopt_checksums(conn, known)
    result.to_version = get_current_version(conn)
    return result


def apply_migrations(
    conn: sqlite3.Connection,
    migrations: Sequence[Migration] | str | Path | None = None,
    *,
    hooks: Mapping[int, MigrationHooks] | None = None,
) -> None:
    """Apply every pending migration (the seed's API; returns nothing)."""
    known = migration_list(migrations)
    migrate(conn, known, hooks=hooks)


def backup_database(conn: sqlite3.Connection, destination: Path) -> Path:
    """Copy ``conn`` to ``destination`` (a new file) with SQLite's online backup API."""
    if destination.exists():  # an earlier backup, or a file that is not one at all
        raise MigrationError(f"backup: {destination} already exists; nothing was migrated")
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        target = sqlite3.connect(str(destination))
        try:
            conn.backup(target)
        finally:
            target.close()
    except (OSError, sqlite3.Error) as exc:
        raise MigrationError(f"backup: {destination}: {exc}; nothing was migrated") from exc
    return destination


def backup_name(db_path: Path, version: int) -> Path:
    """``<db>.backup-v<N>-<UTC time>`` beside the database."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return db_path.with_name(f"{db_path.name}.backup-v{version}-{stamp}")


def initialize_database(
    path: str | Path,
    migrations: Sequence[Migration] | str | Path | None = None,
    *,
    hooks: Mapping[int, MigrationHooks] | None = None,
) -> sqlite3.Connection:
    """Open ``path``, migrate it to the latest version and return the connection (WAL).

    The file goes to WAL only once migrated: a migration that fails leaves it
    exactly as it was.
    """
    known = migration_list(migrations)
    conn = connect(path, wal=False)
    try:
        migrate(conn, known, hooks=hooks)
        with _runner_errors(f"{path}: cannot switch to WAL"):
            use_wal(conn, path)
    except BaseException:
        conn.close()
        raise
    return conn
