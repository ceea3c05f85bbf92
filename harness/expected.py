"""Read the documented compatibility matrix: what each cell is supposed to be.

The matrix lives in a Markdown document as a table whose header names the
columns ``Client A``, ``Client B`` and ``Sync Status`` (``Notes`` and any other
column are optional and found by name)::

    | Client A | Client B | Sync Status     | Notes                   |
    |----------|----------|-----------------|-------------------------|
    | v1       | v2       | ⚠️ Partial sync | v2 fields ignored by v1 |

``Full sync`` reads as ``full``, ``Partial sync`` as ``partial`` and ``No sync``
as ``broken``. Every other table, prose and fenced code block is ignored.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from harness.errors import ExpectedFileError, HarnessError

__all__ = [
    "BROKEN",
    "COMPATIBLE",
    "EXPECTED_STATUSES",
    "FULL",
    "OBSERVED_STATUSES",
    "PARTIAL",
    "UNDOCUMENTED",
    "ExpectedCell",
    "accepted_breaks",
    "check_versions",
    "default_expectations",
    "expectation_for",
    "parse_expected",
    "read_document",
    "read_expected",
    "status_matches",
]

FULL = "full"
PARTIAL = "partial"
BROKEN = "broken"
COMPATIBLE = "compatible"
UNDOCUMENTED = "undocumented"

OBSERVED_STATUSES = (FULL, PARTIAL, BROKEN)
EXPECTED_STATUSES = (FULL, PARTIAL, COMPATIBLE, BROKEN, UNDOCUMENTED)

Expectations = dict[tuple[int, int], "ExpectedCell"]

_CLIENT_A = "client a"
_CLIENT_B = "client b"
_SYNC_STATUS = "sync status"
_NOTES = "notes"

# Status words as they appear in the document, checked case-insensitively.
_STATUS_WORDS = {"full sync": FULL, "partial sync": PARTIAL, "no sync": BROKEN}

_DELIMITER_CELL = re.compile(r"^:?-+:?$")
_VERSION = re.compile(r"^v?\s*(\d+)$", re.IGNORECASE)
_UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")


@dataclass(frozen=True)
class ExpectedCell:
    """One documented cell: a client at ``local`` syncing with one at ``peer``.

    ``line`` is the 1-based line of the row in its document, 0 when the cell
    comes from the default policy rather than a file.
    """

    local: int
    peer: int
    status: str
    notes: str
    line: int


def parse_expected(text: str, source: str = "<text>") -> dict[tuple[int, int], ExpectedCell]:
    """Parse every compatibility table in ``text`` into cells keyed by ``(local, peer)``.

    >>> table = "| Client A | Client B | Sync Status | Notes |\\n|---|---|---|---|\\n"
    >>> parse_expected(table + "| v1 | 2 | ⚠️ Partial sync | ok |")[(1, 2)].status
    'partial'

    Raises :class:`ExpectedFileError` naming ``source`` and the line for a row
    that is not a cell, for a pair listed twice with different statuses, and
    when the text holds no compatibility table at all.
    """
    cells: Expectations = {}
    found_table = False
    for header, rows in _tables(text):
        columns = _matrix_columns(header[1])
        if columns is None:
            continue
        found_table = True
        for line_number, raw in rows:
            cell = _parse_row(raw, columns, source, line_number)
            if cell is None:
                continue
            previous = cells.get((cell.local, cell.peer))
            if previous is None:
                cells[(cell.local, cell.peer)] = cell
            elif previous.status != cell.status:
                raise ExpectedFileError(
                    f"{source}:{line_number}: v{cell.local} | v{cell.peer} is listed as "
                    f"{cell.status!r} here but as {previous.status!r} on line {previous.line}; "
                    "keep one row per pair"
                )
    if not found_table:
        raise ExpectedFileError(
            f"{source}: no compatibility table found; expected a Markdown table with the "
            "columns 'Client A | Client B | Sync Status | Notes'"
        )
    return cells


# "Accepted breaks: v2, v5 (why)" on a line of its own (in a list, a heading or bold
# too): migrations the lint calls breaking that are released, known and accepted
# (reviews BU F9, BAD-10). The versions come first, then at most a note in
# parentheses: anything else on the line is bad input, never half read (reviews
# BAJ-7, BAL-2, BAL-3). Not in a code block or an HTML comment (BAJ-6, BAL-1).
_ACCEPTED = re.compile(
    r"(?i)^ {0,3}(?P<heading>#{1,6}\s+)?(?:>\s*|[-*+]\s+|\d+[.)]\s+)*[*_]*accepted\s+breaks?[*_]*"
    r"\s*[:\u2013\u2014-][*_]*\s*"  # (a dash too: review BAK-6)
)
_ONE = r"`?v\s*(?:\d+)`?"
_ACCEPTED_LIST = re.compile(
    rf"(?i)(?P<list>{_ONE}(?:\s*(?:,\s*and\b|,|;|\band\b)\s*{_ONE})*)"
    r"\s*(?:\([^()]*\))?\s*\.?\s*$"
)
_ACCEPTED_NONE = re.compile(r"(?i)(?:none\b\.?\s*(?:\([^()]*\))?|-|\([^()]*\))\s*\.?\s*$")


def accepted_breaks(path: str | os.PathLike[str], versions: Iterable[int]) -> tuple[int, ...]:
    """The versions the document at ``path`` lists as accepted breaks
    (``Accepted breaks: v2, v5 (why)``; ``none`` lists none), each checked to
    exist; a line that starts so but does not list versions that way is bad input
    (a heading that does not is only a heading)."""
    source = os.fspath(path)
    return _accepted(_read_text(source), source, versions)


def read_document(
    path: str | os.PathLike[str], versions: Iterable[int]
) -> tuple[dict[tuple[int, int], ExpectedCell], tuple[int, ...]]:
    """The documented matrix at ``path``, read once: its cells (see :func:`parse_expected`)
    and its accepted breaks (see :func:`accepted_breaks`)."""
    source = os.fspath(path)
    text = _read_text(source)
    return parse_expected(text, source), _accepted(text, source, versions)


def _accepted(text: str, source: str, versions: Iterable[int]) -> tuple[int, ...]:
    """:func:`accepted_breaks` of a document's ``text``."""
    known = set(versions)
    found: list[int] = []
    for line_number, line in document_lines(text):
        start = _ACCEPTED.match(line)
        if start is None:
            continue
        rest = line[start.end() :].strip().strip("*_").strip()
        listed = _ACCEPTED_LIST.match(rest)
        if listed is None:
            if _ACCEPTED_NONE.match(rest) or start.group("heading"):
                continue
            raise ExpectedFileError(
                f"{source}:{line_number}: write 'Accepted breaks: v2, v5 (why)': the versions"
                f" first, then at most a note in parentheses, not {rest[:40]!r}"
            )
        for number in map(int, re.findall(r"\d+", listed.group("list"))):
            if number not in known:
                raise ExpectedFileError(
                    f"{source}:{line_number}: accepted break v{number} is not a version of"
                    f" these migrations (v{min(known)}-v{max(known)})"
                )
            found.append(number)
    return tuple(sorted(set(found)))


# A fence opens a code block at any indent (a list item's) and inside a blockquote
# (review BAM-1, BAM-2); it closes on a fence of its own kind, at least as long.
_FENCE_OPEN = re.compile(r"^[ \t]*(?:>[ \t]*)*(`{3,}|~{3,})")
_CODE_SPAN = re.compile(r"(`+).*?\1")
_PRE_OPEN = re.compile(r"(?i)<pre\b")
_PRE_CLOSE = re.compile(r"(?i)</pre\s*>")
_THEMATIC_BREAK = re.compile(r"([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_LIST_ITEM = re.compile(r"(?:[-+*]|\d{1,9}[.)])(?: {1,4}(?=\S)|$)")


class _IndentedCode:
    """Lines four spaces past the margin, or past the text of the list item they are
    in, line by line: CommonMark makes them an indented code block (after a blank line
    or a heading) or the continuation of a paragraph, never a table.

    An example table indented that way was read as the matrix (review BAM, triage
    BAP: it accepted an unreleased drop). Lists are followed as far as a table in one
    needs: each open item's text column, kept for nested lists (review BAQ F1: the
    outer item's was lost after one), and a line after a blank one, indented less
    than an item's text, leaves it.
    """

    def __init__(self) -> None:
        self.items: list[int] = []  # the text columns of the list items open here
        self.after_blank = True

    def hides(self, line: str) -> bool:
        """Read ``line`` (next in the text): whether it is indented past what a table may be."""
        expanded = line.expandtabs(4)
        text = expanded.lstrip(" ")
        indent = len(expanded) - len(text)
        if not text.strip():
            self.after_blank = True
            return False
        after_blank, self.after_blank = self.after_blank, False
        if indent >= (self.items[-1] if self.items else 0) + 4:
            return True
        rule = _THEMATIC_BREAK.match(text) is not None  # (``* * *`` is no list item)
        item = None if rule else _LIST_ITEM.match(text)
        if item is not None or after_blank or rule:
            while self.items and indent < self.items[-1]:
                self.items.pop()
        if item is not None:
            self.items.append(indent + item.end())
        return False

    def ended_block(self) -> None:
        """A fenced or ``<pre>`` block just closed."""
        self.after_blank = True


def document_lines(text: str) -> Iterator[tuple[int, str]]:
    """The lines of a Markdown text a reader sees as prose or tables, numbered from 1,
    without their HTML comments: nothing in a fenced code block (closed only by a
    fence of its own kind, at least as long: review BAL-1) or a ``<pre>`` block, no
    line indented four spaces past the margin or a list item's text (code, or a
    paragraph's continuation: see :class:`_IndentedCode`), and
    a line's commented parts cut out (``<!--`` in inline code opens none: BAL-10; a
    comment may close and open again on one line: BAM-3; the rest of a line with a
    comment in it stays: BAM-4)."""
    fence: str | None = None
    pre = commented = False
    indented = _IndentedCode()
    for number, line in enumerate(text.splitlines(), start=1):
        opened = _FENCE_OPEN.match(line)
        if fence is not None:
            closes = opened is not None and opened.group(1)[0] == fence[0]
            if closes and opened and len(opened.group(1)) >= len(fence):
                fence = None if not line[opened.end() :].strip() else fence
                if fence is None:
                    indented.ended_block()
            continue
        masked = _CODE_SPAN.sub(lambda m: "\0" * len(m.group(0)), line)  # (same offsets)
        if pre:
            pre = _PRE_CLOSE.search(masked) is None
            if not pre:
                indented.ended_block()
            continue
        if not commented and indented.hides(line):
            continue
        if opened and not commented:
            fence = opened.group(1)
            continue
        visible, was_commented = _uncommented(line, masked, commented)
        whole = not commented  # (a line a comment spans whole shows nothing)
        commented = was_commented
        shown = _CODE_SPAN.sub("", visible)
        if _PRE_OPEN.search(shown) and not _PRE_CLOSE.search(shown):
            pre = True
            continue
        if visible.strip() or whole:
            yield number, visible


def _uncommented(line: str, masked: str, commented: bool) -> tuple[str, bool]:
    """``line`` without its HTML comments, and whether one is still open at its end
    (``masked``: the line with its inline code blanked out, at the same offsets)."""
    parts: list[str] = []
    at = 0
    while True:
        if commented:
            close = masked.find("-->", at)
            if close < 0:
                return "".join(parts), True
            at, commented = close + 3, False
        else:
            start = masked.find("<!--", at)
            if start < 0:
                parts.append(line[at:])
                return "".join(parts), False
            parts.append(line[at:start])
            at, commented = start + 4, True


def read_expected(path: str | os.PathLike[str]) -> dict[tuple[int, int], ExpectedCell]:
    """Read and parse the documented matrix at ``path`` (see :func:`parse_expected`)."""
    source = os.fspath(path)
    return parse_expected(_read_text(source), source)


def _read_text(source: str) -> str:
    try:
        with open(source, encoding="utf-8-sig") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise ExpectedFileError(f"{source}: expected-matrix file not found") from None
    except UnicodeDecodeError as exc:
        raise ExpectedFileError(
            f"{source}: cannot read the expected matrix: not UTF-8 text (byte {exc.start})"
        ) from None
    except OSError as exc:
        raise ExpectedFileError(
            f"{source}: cannot read the expected matrix: {exc.strerror or exc}"
        ) from None
    return text


def check_versions(
    expected: Mapping[tuple[int, int], ExpectedCell], versions: Iterable[int], source: str
) -> None:
    """Refuse a documented row naming a version the migrations do not have.

    Such a row is never checked, so it would otherwise hide a typo silently:

    >>> cells = {(1, 9): ExpectedCell(1, 9, "partial", "", 7)}
    >>> try:
    ...     check_versions(cells, [1, 2, 3], "m.md")
    ... except ExpectedFileError as exc:
    ...     print(exc)
    m.md:7: the row v1 | v9 names v9, but the migrations have only v1, v2, v3; fix or remove the row
    """
    known = sorted(set(versions))
    for cell in sorted(expected.values(), key=lambda c: (c.line, c.local, c.peer)):
        unknown = [v for v in dict.fromkeys((cell.local, cell.peer)) if v not in known]
        if unknown:
            names = " and ".join(f"v{v}" for v in unknown)
            have = ", ".join(f"v{v}" for v in known)
            raise ExpectedFileError(
                f"{source}:{cell.line}: the row v{cell.local} | v{cell.peer} names {names},"
                f" but the migrations have only {have}; fix or remove the row"
            )


def default_expectations(versions: Iterable[int]) -> dict[tuple[int, int], ExpectedCell]:
    """The policy when no file documents the matrix: diagonal ``full``, the rest ``compatible``."""
    ordered = sorted(set(versions))
    cells: Expectations = {}
    for local in ordered:
        for peer in ordered:
            if local == peer:
                cells[(local, peer)] = ExpectedCell(
                    local, peer, FULL, "default policy: same version syncs fully", 0
                )
            else:
                cells[(local, peer)] = ExpectedCell(
                    local, peer, COMPATIBLE, "default policy: full or partial sync", 0
                )
    return cells


def expectation_for(expected: Mapping[tuple[int, int], ExpectedCell], local: int, peer: int) -> str:
    """The documented status of ``(local, peer)``, or ``undocumented`` when it is not listed."""
    cell = expected.get((local, peer))
    return UNDOCUMENTED if cell is None else cell.status


def status_matches(expected: str, observed: str) -> bool:
    """Whether an observed status satisfies an expected one.

    ``compatible`` accepts ``full`` or ``partial``; ``undocumented`` accepts
    nothing, so an unlisted pair always fails.
    """
    if expected not in EXPECTED_STATUSES:
        raise HarnessError(f"unknown expected status {expected!r}; use one of {EXPECTED_STATUSES}")
    if observed not in OBSERVED_STATUSES:
        raise HarnessError(f"unknown observed status {observed!r}; use one of {OBSERVED_STATUSES}")
    if expected == UNDOCUMENTED:
        return False
    if expected == COMPATIBLE:
        return observed in (FULL, PARTIAL)
    return expected == observed


# -- Markdown tables --------------------------------------------------------

_Line = tuple[int, str]


def _tables(text: str) -> Iterator[tuple[_Line, list[_Line]]]:
    """Yield each GitHub-style table outside code blocks and HTML comments (see
    :func:`document_lines`) as (header, body rows)."""
    seen = list(document_lines(text))
    index = 0
    while index < len(seen):
        number, line = seen[index]
        is_header = (
            "|" in line
            and index + 1 < len(seen)
            and seen[index + 1][0] == number + 1
            and _is_delimiter_row(seen[index + 1][1])
        )
        if not is_header:
            index += 1
            continue
        header = (number, line)
        index += 2
        rows: list[_Line] = []
        while (
            index < len(seen)
            and seen[index][0] == seen[index - 1][0] + 1
            and seen[index][1].strip()
            and "|" in seen[index][1]
        ):
            rows.append(seen[index])
            index += 1
        yield header, rows


def _split_row(line: str) -> list[str]:
    body = line.strip()
    if body.startswith("|"):
        body = body[1:]
    if body.endswith("|") and not body.endswith("\\|"):
        body = body[:-1]
    return [cell.strip().replace("\\|", "|") for cell in _UNESCAPED_PIPE.split(body)]


def _is_delimiter_row(line: str) -> bool:
    if "-" not in line or "|" not in line:
        return False
    cells = _split_row(line)
    return all(_DELIMITER_CELL.match(cell.replace(" ", "")) for cell in cells)


def _plain(cell: str) -> str:
    """Cell text without Markdown emphasis or code marks, spaces collapsed."""
    return " ".join(re.sub(r"[*_`]", "", cell).split())


def _matrix_columns(header: str) -> dict[str, int] | None:
    names = [_plain(cell).lower() for cell in _split_row(header)]
    if not {_CLIENT_A, _CLIENT_B, _SYNC_STATUS} <= set(names):
        return None
    columns = {name: names.index(name) for name in (_CLIENT_A, _CLIENT_B, _SYNC_STATUS)}
    if _NOTES in names:
        columns[_NOTES] = names.index(_NOTES)
    return columns


def _parse_row(
    line: str, columns: dict[str, int], source: str, line_number: int
) -> ExpectedCell | None:
    cells = _split_row(line)
    if not any(cells):
        return None
    needed = max(columns[_CLIENT_A], columns[_CLIENT_B], columns[_SYNC_STATUS]) + 1
    if len(cells) < needed:
        raise ExpectedFileError(
            f"{source}:{line_number}: row has {len(cells)} columns but the table's "
            f"header needs at least {needed}: {line.strip()!r}"
        )
    local = _parse_version(cells[columns[_CLIENT_A]], "Client A", source, line_number)
    peer = _parse_version(cells[columns[_CLIENT_B]], "Client B", source, line_number)
    status = _parse_status(cells[columns[_SYNC_STATUS]], source, line_number)
    notes_index = columns.get(_NOTES)
    notes = ""
    if notes_index is not None and notes_index < len(cells):
        notes = " ".join(cells[notes_index].split())
    return ExpectedCell(local, peer, status, notes, line_number)


def _parse_version(cell: str, column: str, source: str, line_number: int) -> int:
    match = _VERSION.match(_plain(cell))
    if match is None or int(match.group(1)) < 1:
        raise ExpectedFileError(
            f"{source}:{line_number}: {column} {cell!r} is not a schema version; "
            "write it as v1 or 1 (versions start at 1)"
        )
    return int(match.group(1))


def _parse_status(cell: str, source: str, line_number: int) -> str:
    text = _plain(cell).lower()
    found = {status for words, status in _STATUS_WORDS.items() if words in text}
    if len(found) != 1:
        problem = "is not a sync status" if not found else "names more than one sync status"
        raise ExpectedFileError(
            f"{source}:{line_number}: Sync Status {cell!r} {problem}; "
            "write one of 'Full sync', 'Partial sync' or 'No sync'"
        )
    return found.pop()
