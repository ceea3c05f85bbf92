"""The table of ``fixtures/histories/README.md``: the one place each history is classified.

Both the lint tests and the matrix tests read it, so a history's expected
verdicts, rules and broken cells are written down once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

HISTORIES = Path(__file__).resolve().parent.parent / "fixtures" / "histories"
FOLDERS = sorted(p.name for p in HISTORIES.iterdir() if p.is_dir())


@dataclass(frozen=True)
class Row:
    name: str
    domain: str
    kind: str  # breaking, safe or wrong-document
    verdicts: dict[int, str]
    rules: dict[int, set[str]]
    broken: list[tuple[int, int]]

    @property
    def breaking_version(self) -> int | None:
        """The one version the lint must call breaking (None for a safe history)."""
        found = [version for version, verdict in self.verdicts.items() if verdict == "breaking"]
        assert len(found) <= 1, f"{self.name}: more than one breaking version"
        return found[0] if found else None


def _by_version(text: str, separator: str) -> dict[int, str]:
    """``"v1 a, v2 b"`` (separator ``,``) -> ``{1: "a", 2: "b"}``."""
    found = {}
    for part in text.split(separator):
        match = re.fullmatch(r"\s*v(\d+) (.+?)\s*", part)
        assert match, f"README: cannot read {part!r} in {text!r}"
        found[int(match.group(1))] = match.group(2)
    return found


def _cells(text: str) -> list[tuple[int, int]]:
    """The cells ``(a,b)`` listed in ``text``."""
    if text.startswith("none"):
        return []
    cell = r"\((\d+),\s*(\d+)\)"
    assert re.fullmatch(rf"{cell}(,\s*{cell})*", text), f"README: cannot read the cells {text!r}"
    found = re.findall(cell, text)
    return [(int(a), int(b)) for a, b in found]


def readme_rows() -> dict[str, Row]:
    """The README's table of histories, one :class:`Row` per history."""
    rows: dict[str, Row] = {}
    lines = (HISTORIES / "README.md").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| History |"))
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        assert len(cells) == 6, f"README: a row of the histories table has {len(cells)} cells"
        name, domain, kind, verdicts, rules, broken = cells
        assert name not in rows, f"README lists {name} twice"
        rules_by_version = {
            v: {r.strip() for r in text.split(",")} for v, text in _by_version(rules, ";").items()
        }
        rows[name] = Row(
            name,
            domain,
            kind,
            _by_version(verdicts, ","),
            rules_by_version,
            _cells(broken),
        )
    return rows


ROWS = readme_rows()
