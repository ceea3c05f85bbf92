"""Writing the harness's output files: whole or not at all."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Mapping
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
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise HarnessError(f"{path}: cannot be written, {parent} is not a directory")
            break


def json_text(payload: Mapping[str, Any]) -> str:
    """Every JSON file the harness writes: sorted keys, two-space indent, a final newline."""
    return json.dumps(payload, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def write_atomically(path: Path, text: str) -> None:
    """Write via a temporary file in the same directory, so readers never see half a file."""
    check_output_file(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def write_json(path: Path, payload: Mapping[str, Any]) -> None:
    """``payload`` as :func:`json_text`, written atomically."""
    write_atomically(path, json_text(payload))


__all__ = ["check_output_file", "json_text", "write_atomically", "write_json"]
