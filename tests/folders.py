"""A migrations folder written from SQL texts, for tests that need their own schema."""

from __future__ import annotations

from pathlib import Path


def migrations_folder(root: Path, *files: str) -> Path:
    """``root/migrations`` holding ``files`` as 001_step.sql, 002_step.sql, ..."""
    folder = root / "migrations"
    folder.mkdir(parents=True)
    for number, text in enumerate(files, start=1):
        (folder / f"{number:03d}_step.sql").write_text(text, encoding="utf-8")
    return folder
