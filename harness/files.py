"""Writing the harness's output files: whole or not at all."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.errors import HarnessError


def check_output_file(path: Path) -> None:
    """Refuse an output path that cannot be a file: a directory, or under a file.

    Raises :class:`HarnessError` (exit code 2 in the CLI) naming ``path``, so a
    command can check its output paths before a long run and an error never
    names the temporary file :func:`write_atomically` writes first.
    """
    if path.is_dir():
        raise HarnessError(f"{path}: is a directory; give the path of a file to write")
    if _is_database(path):
        raise HarnessError(f"{path}: is an SQLite database, not overwritten; give another path")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise HarnessError(f"{path}: cannot be written, {parent} is not a directory")
            break


def _is_database(path: Path) -> bool:
    """Whether ``path`` is an SQLite file (a report written over one loses it)."""
    try:
        with path.open("rb") as handle:
            return handle.read(16) == b"SQLite format 3\x00"
    except OSError:
        return False


def check_writable(path: Path) -> None:
    """:func:`check_output_file`, and a file can really be made where ``path`` goes
    (a probe in its nearest existing folder, removed at once): checked before a
    long run, so a read-only place fails in a second, not after the run."""
    check_output_file(path)
    _probe(path, path.parent)


def check_writable_folder(folder: Path) -> None:
    """A folder files can be written into (made if missing), checked as
    :func:`check_writable` checks a file: ``folder: ...`` on failure."""
    for place in (folder, *folder.parents):
        if place.exists():
            if not place.is_dir():
                what = "it" if place == folder else str(place)
                raise HarnessError(f"{folder}: cannot be written, {what} is not a directory")
            break
    _probe(folder, folder)


def _probe(named: Path, path: Path) -> None:
    """A file made and removed at once in ``path``'s nearest existing folder
    (``path`` itself for a folder that exists)."""
    folder = next((p for p in (path, *path.parents) if p.is_dir()), Path.cwd())
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".nexus-probe.", suffix=".tmp")
    except OSError as exc:
        raise HarnessError(f"{named}: cannot be written ({exc.strerror})") from None
    os.close(fd)
    os.unlink(probe)


def json_text(payload: Mapping[str, Any], *, sort_keys: bool = True) -> str:
    """Every JSON file the harness writes: sorted keys (unless their order is part of
    what is written, as in a replay's steps), two-space indent, a final newline."""
    return json.dumps(payload, sort_keys=sort_keys, indent=2, ensure_ascii=False) + "\n"


def write_atomically(path: Path, text: str) -> None:
    """Write via a temporary file in the same directory, so readers never see half a file."""
    write_all_atomically([(path, text)])


def write_all_atomically(outputs: Sequence[tuple[Path, str]]) -> None:
    """Write every file, or none: each goes to a temporary file beside it first,
    and only when all are written are they moved into place.

    Raises :class:`HarnessError` naming the path (never the temporary file).
    """
    staged: list[tuple[str, Path]] = []
    try:
        for path, text in outputs:
            check_output_file(path)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                fd, temporary = tempfile.mkstemp(
                    dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
                )
                staged.append((temporary, path))
                with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
                    handle.write(text)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.chmod(temporary, 0o644)
            except OSError as exc:
                raise HarnessError(f"{path}: cannot be written ({exc.strerror})") from None
        for temporary, path in staged:
            os.replace(temporary, path)
    except BaseException:
        for temporary, _ in staged:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
        raise


def write_json(path: Path, payload: Mapping[str, Any], *, sort_keys: bool = True) -> None:
    """``payload`` as :func:`json_text`, written atomically."""
    write_atomically(path, json_text(payload, sort_keys=sort_keys))


__all__ = [
    "check_output_file",
    "check_writable",
    "json_text",
    "write_all_atomically",
    "write_atomically",
    "write_json",
]
