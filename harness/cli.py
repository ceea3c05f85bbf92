"""The ``nexus-compat`` command line: parse the arguments, call the library, print.

Exit codes: 0 every cell as documented (lint: nothing breaking); 1 a cell not
as documented (lint: a breaking migration); 2 bad input, one line on stderr.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click
import hypothesis.configuration
from click.core import ParameterSource
from rich.console import Console
from rich.measure import Measurement
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from harness.cells import CellResult, run_example
from harness.compat import compatibility_report
from harness.errors import HarnessError
from harness.files import check_writable, check_writable_folder, write_json
from harness.lint import (
    SEVERITY_RANK,
    MigrationLint,
    lint_migrations,
    lint_to_json,
    render_lint_table,
)
from harness.matrix import (
    DEFAULT_EXAMPLES,
    PAIRS,
    MatrixConfig,
    MatrixResult,
    load_expectations,
    pairs,
    relay_pairs,
    run_matrix,
)
from harness.relay import RelayResult
from harness.report import REPORT_FILES, breaking_between, untested_warning, write_report
from harness.sampledata import fill
from harness.sqlfunctions import hint, use_sql_functions
from harness.versions import Templates, build_database, load_set
from nexus_core.cli import EXIT_BAD_INPUT, EXIT_CHECK_FAILED, BadInput, NexusGroup
from nexus_core.db.connection import connect
from nexus_core.db.schema import snapshot
from nexus_core.db.verify import expected_schema_conn
from nexus_core.errors import NexusError
from nexus_core.replica import Replica

MIGRATIONS = click.option(
    "--migrations",
    "migrations",
    type=click.Path(path_type=Path),
    default=None,
    help="Directory of NNN_description.sql files"
    " (default: nexus-core's bundled task-app migrations).",
)
EXPECTED = click.option(
    "--expected",
    type=click.Path(path_type=Path),
    default=None,
    help="Markdown file with the documented matrix (default: docs/MIGRATIONS.md for the"
    " bundled migrations; the default policy for any other directory).",
)
EXAMPLES = click.option(
    "--examples",
    type=click.IntRange(1, 100_000),
    default=DEFAULT_EXAMPLES,
    show_default=True,
    help="Hypothesis examples per cell.",
)
SEED = click.option("--seed", type=int, default=0, show_default=True, help="Traffic seed.")
JOBS = click.option(
    "--jobs", type=click.IntRange(0, 256), default=0, help="Worker processes (0: one per CPU)."
)
NO_RELAY = click.option("--no-relay", is_flag=True, help="Skip the relay checks.")
PAIRS_OPTION = click.option(
    "--pairs",
    type=click.Choice(PAIRS),
    default="all",
    show_default=True,
    help="Which pairs of versions to check: all (every ordered pair), latest (every"
    " version with the newest, both ways) or adjacent (each migration's two versions,"
    " both ways, and each version with itself). For long histories.",
)


def _use_sql_functions(ctx: click.Context, param: click.Parameter, spec: str | None) -> str | None:
    """Register the app's SQL functions as soon as the option is read (before any build)."""
    try:
        use_sql_functions(spec)
    except HarnessError as exc:
        raise BadInput(str(exc)) from exc
    return spec


SQL_FUNCTIONS = click.option(
    "--sql-functions",
    "sql_functions",
    metavar="SPEC",
    default=None,
    callback=_use_sql_functions,
    help="What registers the app's own SQL functions, which migrations call:"
    " MODULE[:FUNCTION] or FILE.py[:FUNCTION] (FUNCTION, default 'register', takes a"
    " sqlite3.Connection).",
)
F = TypeVar("F", bound=Callable[..., Any])


def run_options(command: F) -> F:
    """The options of every command that runs the matrix (``matrix``, ``report``)."""
    for option in (
        SQL_FUNCTIONS,
        PAIRS_OPTION,
        NO_RELAY,
        JOBS,
        SEED,
        EXAMPLES,
        EXPECTED,
        MIGRATIONS,
    ):
        command = option(command)
    return command


err = Console(stderr=True)
out = Console(width=None if Console().is_terminal else 140)


class HarnessGroup(NexusGroup):
    """Also turns :class:`HarnessError` into one ``Error:`` line and exit code 2."""

    def invoke(self, ctx: click.Context) -> Any:
        # A SIGTERM (CI cancelling a job) unwinds like Ctrl-C: workers stopped,
        # scratch files removed, exit 143; by default it would orphan the workers.
        main = threading.current_thread() is threading.main_thread()  # (where signals go)
        previous = signal.signal(signal.SIGTERM, _terminated) if main else None
        try:
            return super().invoke(ctx)
        except HarnessError as exc:
            raise BadInput(hint(str(exc))) from exc
        except BadInput as exc:  # (a migration calling a function SQLite lacks: say how)
            hinted = hint(exc.message)
            if hinted == exc.message:
                raise
            raise BadInput(hinted) from exc
        finally:
            if main:
                signal.signal(signal.SIGTERM, previous)


def _terminated(signum: int, frame: object) -> None:
    click.echo("Terminated.", err=True)  # (as Ctrl-C says "Interrupted.": why it stopped)
    raise SystemExit(128 + signum)


class _Reporter:
    """Progress for long runs: a rich bar on a terminal, plain lines otherwise."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.started = time.monotonic()
        self.first: float | None = None  # when the first item ended (templates built by then)
        self.bar: Progress | None = None
        if err.is_terminal:
            self.bar = Progress(
                TextColumn("[bold]matrix"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                TextColumn("left"),
                TimeRemainingColumn(),
                console=err,
                transient=True,
            )
            self.task = self.bar.add_task("building a database per version", total=total)

    def __enter__(self) -> _Reporter:
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def __call__(self, kind: str, item: CellResult | RelayResult) -> None:
        self.done += 1
        if isinstance(item, CellResult):
            line = f"cell {item.cell_id}: {item.observed} (expected {item.expected})"
        else:
            line = f"relay v{item.peer} via v{item.relay}: {'ok' if item.ok else 'FAILED'}"
        if self.bar is not None:
            self.bar.update(self.task, advance=1, description=line)
            return
        mark = "" if isinstance(item, RelayResult) else (" ok" if item.ok else " MISMATCH")
        now = time.monotonic()
        click.echo(f"[{self.done}/{self.total}] {line}{mark}{self.timing(now)}", err=True)

    def timing(self, now: float) -> str:
        """`` (12 s, about 30 s left)`` after the item just done (``self.done``), or less.

        The time left is estimated from the items after the first: the first one
        also waited for a database per version to be built, once per run (review
        BR-6: a run said 27 s left at its start and took 9.6 s in all).
        """
        elapsed = now - self.started
        if self.first is None:
            self.first = now
        if self.done >= self.total:
            return ""
        if self.done < 3:
            return f" ({elapsed:.0f} s)"
        left = (now - self.first) / (self.done - 1) * (self.total - self.done)
        return f" ({elapsed:.0f} s, about {left:.0f} s left)"


def _reporter_for(config: MatrixConfig) -> _Reporter:
    """Progress for every cell (and relay check) a run of ``config`` will make.

    Checks the documented matrix first: a row naming a version the migrations
    do not have is bad input, found before any cell runs.
    """
    migration_set = load_set(config.migrations)
    load_expectations(migration_set, config.expected)
    total = len(pairs(migration_set, config.pairs))
    total += len(relay_pairs(migration_set, config.pairs)) if config.relay else 0
    return _Reporter(total)


def _config(**options: Any) -> MatrixConfig:
    return MatrixConfig(
        migrations=options["migrations"],
        expected=options.get("expected"),
        examples=options["examples"],
        seed=options["seed"],
        jobs=options["jobs"],
        relay=not options.get("no_relay", False),
        replay_dir=options.get("replay_dir"),
        pairs=options.get("pairs", "all"),
        sql_functions=options.get("sql_functions"),
    )


COMPACT_FROM = 8  # versions past which the grid shows one letter per cell


def _grid(result: MatrixResult) -> Table:
    versions = result.migration_set.versions
    compact = len(versions) > COMPACT_FROM
    grid = Table(
        title=None if compact else "compatibility matrix (rows: local A, columns: peer B)",
        padding=(0, 0) if compact else (0, 1),
    )
    grid.add_column("A \\ B", style="bold")
    for version in versions:  # (whole headers: rich cut "v12" to "v…" in narrow grids)
        grid.add_column(f"v{version}", justify="center", min_width=len(f"v{version}"))
    cells = {(c.local, c.peer): c for c in result.cells}
    colours = {"full": "green", "partial": "yellow", "broken": "red"}
    for a in versions:
        row = []
        for b in versions:
            cell = cells.get((a, b))
            if cell is None:  # a pair --pairs left out
                row.append("[dim]·[/]")
                continue
            if compact:  # one letter a cell, so forty versions fit a terminal
                mark = cell.observed[0].upper() + ("" if cell.ok else "!")
                row.append(f"[{colours[cell.observed]}]{mark}[/]")
                continue
            text = f"[{colours[cell.observed]}]{cell.observed}[/]"
            row.append(text + (" ✓" if cell.ok else f" ✗ (doc: {cell.expected})"))
        grid.add_row(f"v{a}", *row)
    if compact:
        grid.caption = (
            "rows: local A, columns: peer B; F full, P partial, B broken;"
            " ! not as documented; · not run"
        )
    return grid


def _print_whole(table: Table) -> None:
    """Print ``table``; into a log (no terminal) as wide as it needs: a fixed width cut
    off the last columns of a long history's grid, the newest version's among them,
    where ``--pairs latest`` puts half its cells."""
    if out.is_terminal and out.file.isatty():  # (FORCE_COLOR makes a pipe a "terminal")
        out.print(table)
        return
    needed = Measurement.get(out, out.options.update_width(10_000), table).maximum
    width = out.width
    out.width = max(width, needed)  # (print's own width= stops at the console's)
    try:
        out.print(table)
    finally:
        out.width = width


def lint_summary(results: Sequence[MigrationLint], unreplicated: Sequence[str] = ()) -> str:
    """One closing line: how many migrations of each verdict, the breaking ones named
    (a long history's table runs to hundreds of lines), and the tables the latest
    version does not replicate (``unreplicated``): not-replicable is additive, so the
    lint passes while they never sync."""
    counts = {
        verdict: [r.version for r in results if r.verdict == verdict] for verdict in SEVERITY_RANK
    }
    parts = [f"{len(counts[v])} {v}" for v in SEVERITY_RANK if counts[v]]
    line = f"{len(results)} migration(s): {', '.join(parts) or 'none'}"
    if counts["breaking"]:
        line += f"; breaking: {', '.join(f'v{v}' for v in counts['breaking'])}"
    if unreplicated:
        line += f"; never synced (see not-replicable): {', '.join(unreplicated)}"
    return line


def _print_pairs(result: MatrixResult) -> None:
    """Which pairs ran, where --pairs left some out (the grid shows them as ·)."""
    if result.pairs != "all":
        every = len(result.migration_set.versions) ** 2
        out.print(
            f"pairs checked: {result.pairs} ({len(result.cells)} of {every} cells;"
            " --pairs all checks every ordered pair)"
        )


def _print_untested(cells: Sequence[Mapping[str, Any]]) -> None:
    """Tables no generated row ever reached (their CHECKs refused everything)."""
    warning = untested_warning(cells)
    if warning:
        err.print(f"warning: {warning}", markup=False, soft_wrap=True)


def _print_failures(result: MatrixResult) -> None:
    lint: list[dict[str, Any]] | None = None
    for cell in result.cells:
        if cell.ok:
            continue
        out.print(
            f"\n[bold red]cell {cell.cell_id}[/]: expected {cell.expected},"
            f" observed {cell.observed}"
        )
        for reason in cell.reasons:
            out.print(f"  - {reason}", markup=False)
        # A reason names a column; the change behind it, as the report and plugin say.
        lint = _lint_entries(result) if lint is None else lint
        behind = breaking_between(lint, cell.local, cell.peer)
        if behind:
            low, high = sorted((cell.local, cell.peer))
            out.print(f"  breaking between v{low} and v{high} (lint): {behind}", markup=False)
        if cell.replay_file:
            out.print(f"  replay: nexus-compat replay {cell.replay_file}", markup=False)
    for relay in result.relay:
        if not relay.ok:
            out.print(f"\n[bold red]relay v{relay.peer} via v{relay.relay}[/]")
            for reason in relay.reasons:
                out.print(f"  - {reason}", markup=False)


def _lint_entries(result: MatrixResult) -> list[dict[str, Any]]:
    """The lint's JSON entries for the run's migrations (none where it cannot run:
    ``lint`` itself says why)."""
    try:
        return list(lint_to_json(lint_migrations(result.migration_set.migrations))["lint"])
    except (HarnessError, NexusError):
        return []


@click.group(cls=HarnessGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="nexus-core", prog_name="nexus-compat")
def main() -> None:
    """Check that clients at every schema version keep syncing.

    Exit codes: 0 as documented, 1 a cell (or lint) failed, 2 bad input.
    """


@contextmanager
def _hypothesis_home() -> Iterator[None]:
    """While a command generates traffic: hypothesis keeps its cache (unicode
    tables) in the user's cache folder, not ``./.hypothesis`` in their project,
    unless they named one (``HYPOTHESIS_STORAGE_DIRECTORY``). Restored after,
    for a caller running the command in its own process (tests)."""
    home = getattr(hypothesis.configuration, "set_hypothesis_home_dir", None)
    named = bool(os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"))
    if named or not callable(home) or (folder := _user_cache("hypothesis")) is None:
        yield
        return
    home(folder)
    try:
        yield
    finally:
        home(None)  # hypothesis's default again: ./.hypothesis


def _user_cache(name: str) -> Path | None:
    """``name`` in the user's cache folder, made if missing; None without one (no
    home, or a read-only one)."""
    try:
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        folder = cache / "nexus-compat" / name
        folder.mkdir(parents=True, exist_ok=True)
    except (OSError, RuntimeError):
        return None
    return folder


@main.command(name="build")
@click.argument("version", type=int)
@click.argument("out_db", metavar="OUT.db", type=click.Path(path_type=Path))
@MIGRATIONS
@SQL_FUNCTIONS
@click.option("--with-data", is_flag=True, help="Fill every replicated table with sample rows.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for --with-data.")
def build_command(
    version: int,
    out_db: Path,
    migrations: Path | None,
    with_data: bool,
    seed: int,
    sql_functions: str | None,
) -> None:
    """Write a database at VERSION to OUT.db (it must not exist yet)."""
    if not out_db.parent.is_dir():  # a mistyped path, not folders to make
        raise HarnessError(f"{out_db}: no folder {out_db.parent}; create it first")
    if out_db.exists() and not out_db.is_dir():
        raise HarnessError(f"{out_db}: already exists; choose another path")
    check_writable(out_db)
    migration_set = load_set(migrations)
    if not with_data:
        path = build_database(migration_set, version, out_db)
        click.echo(f"built v{version} at {path}")
        return
    # Migrated once, filled, then moved into place: OUT.db never holds half a build.
    partial = build_database(
        migration_set, version, out_db.with_name(out_db.name + ".filling"), overwrite=True
    )
    try:
        with Replica(connect(partial, scratch=True), migration_set.migrations) as replica:
            written = fill(replica, seed=seed)
            replica.conn.execute("VACUUM")
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    path = partial.replace(out_db)
    rows = ", ".join(f"{table} {count}" for table, count in written.items())
    click.echo(f"built v{version} at {path} with rows: {rows}")
    empty = [table for table, count in written.items() if not count]
    if empty:
        click.echo(
            f"warning: no sample row passed the constraints of {', '.join(empty)}",
            err=True,
        )


@main.command(name="lint")
@MIGRATIONS
@SQL_FUNCTIONS
@click.option(
    "--json", "json_file", type=click.Path(path_type=Path), help="Write the verdicts as JSON."
)
def lint_command(
    migrations: Path | None, json_file: Path | None, sql_functions: str | None
) -> None:
    """Classify each migration from the real schemas before and after it."""
    if json_file is not None:
        check_writable(json_file)
    migration_set = load_set(migrations)
    results = lint_migrations(migration_set.migrations)
    payload = lint_to_json(results)
    out.print(render_lint_table(results))
    # (In memory, as the lint built it: no template file to make and remove.)
    with closing(expected_schema_conn(migration_set.migrations, migration_set.latest)) as conn:
        unreplicated = snapshot(conn).unreplicated_tables
    out.print(lint_summary(results, unreplicated), markup=False)
    if json_file is not None:
        write_json(json_file, payload)
    if not payload["ok"]:
        raise click.exceptions.Exit(EXIT_CHECK_FAILED)


@main.command(name="matrix")
@run_options
@click.option(
    "--json", "json_file", type=click.Path(path_type=Path), help="Write the cells as JSON."
)
@click.option(
    "--replay-dir",
    type=click.Path(path_type=Path),
    default=Path("reports/replays"),
    show_default=True,
    help="Where minimal failing examples are saved.",
)
@click.pass_context
def matrix_command(ctx: click.Context, /, json_file: Path | None, **options: Any) -> None:
    """Run random traffic between every ordered pair of versions; compare with the docs."""
    if json_file is not None:
        check_writable(json_file)
    if ctx.get_parameter_source("replay_dir") is not ParameterSource.DEFAULT:
        check_writable_folder(options["replay_dir"])  # (the default only once one is needed)
    config = _config(**options)
    with _hypothesis_home(), _reporter_for(config) as reporter:
        result = run_matrix(config, reporter)
    _print_whole(_grid(result))
    out.print(f"documented matrix: {result.expected_source}")
    _print_pairs(result)
    _print_untested(result.to_json()["cells"])
    _print_failures(result)
    if json_file is not None:
        write_json(json_file, result.to_json())
    if not result.ok:
        raise click.exceptions.Exit(EXIT_CHECK_FAILED)


@main.command(name="report")
@run_options
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=Path("reports"),
    show_default=True,
    help="Output directory.",
)
@click.option(
    "--junit", type=click.Path(path_type=Path), default=None, help="Also write JUnit XML here."
)
def report_command(out_dir: Path, junit: Path | None, **options: Any) -> None:
    """Run lint and the matrix; write compatibility.md, .json and .html to --out."""
    for path in (out_dir / REPORT_FILES[0], junit):
        if path is not None:
            check_writable(path)
    check_writable_folder(out_dir / "replays")
    config = _config(**options, replay_dir=out_dir / "replays")
    with _hypothesis_home(), _reporter_for(config) as reporter:
        report = compatibility_report(config, reporter)
    _print_untested(report["cells"])
    written = write_report(report, out_dir, junit=junit)
    for path in written:
        click.echo(f"wrote {path}")
    click.echo(report_summary(report))
    if not report["ok"]:
        raise click.exceptions.Exit(EXIT_CHECK_FAILED)


def report_summary(report: Mapping[str, Any]) -> str:
    """The report's one line: cells, relay checks, lint."""
    failed = [c for c in report["cells"] if not c["ok"]]
    summary = (
        "every cell as documented" if not failed else f"{len(failed)} cell(s) not as documented"
    )
    relays = [r for r in report.get("relay") or [] if not r["ok"]]
    if relays:  # a relay check is no cell of the document: nothing there can accept it
        summary += f"; {len(relays)} relay check(s) failed"
    accepted = ", ".join(f"v{v}" for v in report["lint_documented_breaks"])
    lint = "nothing breaking" if report["lint_ok"] else "breaking migration(s)"
    if report["lint_ok"] and accepted:
        lint = f"breaking {accepted} accepted by the documented matrix"
    return f"{summary}; lint: {lint}"


@main.command(name="replay")
@click.argument("replay_file", metavar="FILE", type=click.Path(path_type=Path))
@MIGRATIONS
@SQL_FUNCTIONS
@click.option("--steps", "show_steps", is_flag=True, help="Print the example's steps first.")
def replay_command(
    replay_file: Path, migrations: Path | None, show_steps: bool, sql_functions: str | None
) -> None:
    """Run a saved minimal example again and print what happens."""
    try:
        saved = json.loads(replay_file.read_text(encoding="utf-8"))
        local, peer, steps = int(saved["local"]), int(saved["peer"]), list(saved["steps"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise HarnessError(f"{replay_file}: not a replay file ({exc})") from exc
    recorded = saved.get("migrations")
    if migrations is None and recorded and not Path(recorded).is_dir():
        raise HarnessError(
            f"{replay_file}: its migrations directory {recorded} is not here;"
            " name yours with --migrations DIR"
        )
    functions = saved.get("sql_functions")
    if sql_functions is None and isinstance(functions, str):
        use_sql_functions(functions, named_as=f"{replay_file}: its sql_functions")
    migration_set = load_set(migrations or (Path(recorded) if recorded else None))
    migration_set.check_version(local)
    migration_set.check_version(peer)
    for number, step in enumerate(steps, start=1):
        problem = _step_problem(step)
        if problem:
            raise HarnessError(f"{replay_file}: not a replay file (step {number}: {problem})")
    checksum = saved.get("migrations_checksum")
    edited = bool(checksum) and checksum != migration_set.checksum
    if edited:
        err.print(
            f"warning: the migrations in {migration_set.directory} changed since {replay_file}"
            " was saved; this replays the example against them as they are now",
            markup=False,
            soft_wrap=True,  # one line, whatever the terminal's width: paths stay whole
        )
    if show_steps:
        click.echo(f"replica a: v{local} (local, judged), replica b: v{peer} (peer)")
        for number, step in enumerate(steps, start=1):
            click.echo(f"{number:>3}. {json.dumps(step, ensure_ascii=False)}")
    templates = Templates(migration_set)
    try:
        with _hypothesis_home():
            observation = run_example(templates, local, peer, steps, templates.workdir)
    finally:
        templates.cleanup()
    click.echo(f"cell v{local}-v{peer}: {observation.status} ({len(steps)} step(s))")
    for reason in observation.reasons:
        click.echo(f"  - {reason}")
    # (Against the migrations it was saved with, a step that does nothing did nothing
    # then too: an update of a row a random() break left out, say.)
    discarded = observation.counts.get("discarded_steps", 0) if edited else 0
    if discarded:
        # A step its replica's schema refuses does nothing: against edited migrations
        # the example may no longer test what broke, so a pass proves nothing.
        click.echo(
            f"  - {discarded} step(s) could not run against these migrations (a table,"
            " column or value their schema refuses): the example no longer tests what it"
            " did; run the matrix again"
        )
    if observation.status == "broken" or discarded:
        raise click.exceptions.Exit(EXIT_CHECK_FAILED)


def _step_problem(step: object) -> str | None:
    """What makes a saved step unreadable (None for a well-formed one)."""
    if not isinstance(step, dict):
        return "not an object"
    if step.get("op") not in ("insert", "update", "delete", "sync"):
        return "op is not insert, update, delete or sync"
    if step["op"] == "sync":
        return None
    if step.get("replica") not in ("a", "b") or not isinstance(step.get("table"), str):
        return "needs a replica (a or b) and a table"
    if step["op"] != "delete" and not isinstance(step.get("values"), dict):
        return "needs values (an object)"
    if step["op"] == "insert" and "key" not in step:
        return "an insert needs a key"
    return None


@main.command(name="bench")
@click.option(
    "--json", "json_file", type=click.Path(path_type=Path), help="Write the numbers as JSON."
)
@click.option(
    "--rows",
    type=click.IntRange(100, 10_000_000),
    default=20_000,
    show_default=True,
    help="Rows per run.",
)
@click.option(
    "--no-matrix",
    is_flag=True,
    help="Skip the matrix measurement (about a minute of the run on 2 cores).",
)
def bench_command(json_file: Path | None, rows: int, no_matrix: bool) -> None:
    """Measure sync against raw SQLite in the same run."""
    if json_file is not None:
        check_writable(json_file)
    from harness.bench import render_bench, run_bench

    results = run_bench(
        rows=rows, matrix=not no_matrix, progress=lambda line: click.echo(line, err=True)
    )
    out.print(render_bench(results))
    if json_file is not None:
        write_json(json_file, results)


__all__ = ["EXIT_BAD_INPUT", "main"]

if __name__ == "__main__":
    sys.exit(main())
