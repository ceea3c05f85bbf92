"""Reading the documented compatibility matrix (harness.expected)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.errors import ExpectedFileError, HarnessError
from harness.expected import (
    ExpectedCell,
    accepted_breaks,
    default_expectations,
    expectation_for,
    parse_expected,
    read_expected,
    status_matches,
)

# The table exactly as the seed's docs/MIGRATIONS.md documents it, in its surroundings.
SEED_DOC = """\
## P2P Sync Considerations

The nexus-core system uses P2P synchronization via oplogs (operation logs).

### Version Compatibility Matrix

| Client A | Client B | Sync Status | Notes |
|----------|----------|-------------|-------|
| v1 | v1 | ✅ Full sync | Perfect compatibility |
| v1 | v2 | ⚠️ Partial sync | v2 fields ignored by v1 |
| v2 | v1 | ⚠️ Partial sync | v1 can't write to v2 fields |
| v2 | v2 | ✅ Full sync | Perfect compatibility |

### Best Practices for P2P-Compatible Migrations

```sql
ALTER TABLE tasks ADD COLUMN priority INTEGER DEFAULT 0;
```
"""

HEADER = "| Client A | Client B | Sync Status | Notes |\n|---|---|---|---|\n"


def test_the_seed_table_parses_with_line_numbers() -> None:
    cells = parse_expected(SEED_DOC, "MIGRATIONS.md")
    assert cells == {
        (1, 1): ExpectedCell(1, 1, "full", "Perfect compatibility", 9),
        (1, 2): ExpectedCell(1, 2, "partial", "v2 fields ignored by v1", 10),
        (2, 1): ExpectedCell(2, 1, "partial", "v1 can't write to v2 fields", 11),
        (2, 2): ExpectedCell(2, 2, "full", "Perfect compatibility", 12),
    }


def test_emoji_spacing_case_and_bare_numbers_are_tolerated() -> None:
    text = HEADER + (
        "|v1|2|  ⚠️   PARTIAL   SYNC  |  spaced   out  |\n"
        "|  V2  |  **v3**  | ❌ no sync — constraint | x |\n"
        "| `3` | v3 | full sync | |\n"
        "| 4 | 5 | ✅Full sync |\n"
    )
    cells = parse_expected(text)
    assert {pair: cell.status for pair, cell in cells.items()} == {
        (1, 2): "partial",
        (2, 3): "broken",
        (3, 3): "full",
        (4, 5): "full",
    }
    assert cells[(1, 2)].notes == "spaced out"
    assert cells[(4, 5)].notes == ""


def test_columns_are_found_by_header_name_with_extra_columns() -> None:
    text = (
        "| Notes | Since | **Sync status** | client b | Client A | Owner |\n"
        "| :--- | :---: | --- | ---: | --- | --- |\n"
        "| fields ignored | 0.3 | ⚠️ Partial sync | v4 | v3 | ana |\n"
    )
    assert parse_expected(text) == {(3, 4): ExpectedCell(3, 4, "partial", "fields ignored", 3)}


def test_a_table_without_notes_column_parses() -> None:
    text = "| Client A | Client B | Sync Status |\n|--|--|--|\n| 1 | 1 | Full sync |\n"
    assert parse_expected(text)[(1, 1)].notes == ""


def test_other_tables_prose_and_code_blocks_are_ignored() -> None:
    text = (
        "Intro text with a | pipe in it.\n\n"
        "| Version | Description |\n|---|---|\n| v1 | garbage that is not a cell |\n\n"
        "```markdown\n"
        + HEADER
        + "| v9 | v9 | ✅ Full sync | only an example |\n```\n\n"
        + HEADER
        + "| v1 | v1 | ✅ Full sync | real |\n"
        "\nAfter the table: | not | a | row |\n"
    )
    assert list(parse_expected(text)) == [(1, 1)]


def test_several_matrix_tables_are_merged() -> None:
    text = (
        HEADER
        + "| v1 | v1 | Full sync | |\n\nmore prose\n\n"
        + HEADER
        + "| v2 | v1 | No sync | |\n"
    )
    assert {pair: c.status for pair, c in parse_expected(text).items()} == {
        (1, 1): "full",
        (2, 1): "broken",
    }


@pytest.mark.parametrize(
    ("row", "words"),
    [
        ("| vX | v2 | ✅ Full sync | |", "Client A 'vX' is not a schema version"),
        ("| v1 | 0 | ✅ Full sync | |", "Client B '0' is not a schema version"),
        ("| v1 | v2 | 🤷 Maybe | |", "Sync Status '🤷 Maybe' is not a sync status"),
        ("| v1 | v2 | Full sync or No sync | |", "names more than one sync status"),
        ("| v1 | v2 |", "row has 2 columns"),
    ],
)
def test_an_unreadable_row_names_the_file_and_line(row: str, words: str) -> None:
    text = "# Matrix\n\n" + HEADER + "| v1 | v1 | Full sync | ok |\n" + row + "\n"
    with pytest.raises(ExpectedFileError, match=r"^docs/M\.md:6: ") as caught:
        parse_expected(text, "docs/M.md")
    assert words in str(caught.value)


def test_a_pair_listed_twice_with_different_statuses_errors() -> None:
    text = HEADER + "| v1 | v2 | Partial sync | |\n| v1 | v2 | No sync | |\n"
    with pytest.raises(
        ExpectedFileError, match=r"^m\.md:4: v1 \| v2 .*'broken'.*'partial' on line 3"
    ):
        parse_expected(text, "m.md")


def test_a_pair_listed_twice_with_the_same_status_keeps_the_first() -> None:
    text = HEADER + "| v1 | v2 | Partial sync | first |\n| 1 | 2 | ⚠️ Partial sync | again |\n"
    assert parse_expected(text)[(1, 2)] == ExpectedCell(1, 2, "partial", "first", 3)


def test_a_document_without_a_matrix_table_errors() -> None:
    with pytest.raises(ExpectedFileError, match="no compatibility table found"):
        parse_expected("| Version | Notes |\n|---|---|\n| v1 | x |\n", "README.md")


def test_read_expected_reads_a_real_file(tmp_path: Path) -> None:
    path = tmp_path / "MIGRATIONS.md"
    path.write_text(SEED_DOC, encoding="utf-8")
    assert len(read_expected(path)) == 4


def test_read_expected_reports_the_bad_line_of_a_real_file(tmp_path: Path) -> None:
    path = tmp_path / "MIGRATIONS.md"
    path.write_text(SEED_DOC.replace("| v2 | v1 |", "| v2 | one |"), encoding="utf-8")
    with pytest.raises(ExpectedFileError, match=rf"^{re.escape(str(path))}:11: Client B 'one'"):
        read_expected(path)


def test_read_expected_missing_or_unreadable_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ExpectedFileError, match="not found"):
        read_expected(tmp_path / "absent.md")
    with pytest.raises(ExpectedFileError, match="cannot read"):
        read_expected(tmp_path)
    binary = tmp_path / "binary.md"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ExpectedFileError, match="not UTF-8"):
        read_expected(binary)


def test_default_policy_is_full_on_the_diagonal_and_compatible_elsewhere() -> None:
    cells = default_expectations([3, 1, 2])
    assert len(cells) == 9
    for (local, peer), cell in cells.items():
        assert (cell.local, cell.peer) == (local, peer)
        assert cell.status == ("full" if local == peer else "compatible")
        assert cell.line == 0


def test_expectation_for_a_missing_pair_is_undocumented() -> None:
    cells = parse_expected(SEED_DOC)
    assert expectation_for(cells, 1, 2) == "partial"
    assert expectation_for(cells, 1, 3) == "undocumented"


@pytest.mark.parametrize(
    ("expected", "observed", "matches"),
    [
        ("full", "full", True),
        ("full", "partial", False),
        ("full", "broken", False),
        ("partial", "full", False),
        ("partial", "partial", True),
        ("partial", "broken", False),
        ("broken", "full", False),
        ("broken", "partial", False),
        ("broken", "broken", True),
        ("compatible", "full", True),
        ("compatible", "partial", True),
        ("compatible", "broken", False),
        ("undocumented", "full", False),
        ("undocumented", "partial", False),
        ("undocumented", "broken", False),
    ],
)
def test_status_matches_truth_table(expected: str, observed: str, matches: bool) -> None:
    assert status_matches(expected, observed) is matches


def test_status_matches_refuses_words_outside_the_contract() -> None:
    with pytest.raises(HarnessError):
        status_matches("ok", "full")
    with pytest.raises(HarnessError):
        status_matches("full", "compatible")


@pytest.mark.parametrize(
    ("line", "found"),
    [
        ("Accepted breaks: v2", (2,)),
        ("- **Accepted breaks:** v3, v2 and v5 (released in 1.4)", (2, 3, 5)),
        ("Accepted break: v 4", (4,)),
        ("The accepted breaks: v2", ()),  # not a line of its own
        ("```\nAccepted breaks: v2\n```", ()),  # an example in a code block
        ("<!--\nAccepted breaks: v2\n-->", ()),  # commented out (review BAJ-6)
        ("<!-- Accepted breaks: v2 -->", ()),
        ("    Accepted breaks: v2", ()),  # an indented code block
        ("## Accepted breaks: v3; v2", (2, 3)),  # (review BAJ-7)
        ("1. Accepted breaks: v1, v3, and v2", (1, 2, 3)),
        ("Accepted breaks - v5", (5,)),  # (review BAK-6: ignored, then advised)
        ("Accepted breaks: `v2`, `v3`.", (2, 3)),
        ("Accepted breaks: none", ()),  # (review BAL-9: bad input)
        ("Accepted breaks: (none yet)", ()),
        ("Accepted breaks: -", ()),
        ("## Accepted breaks \u2014 see below", ()),
        ("````\n```\n```\nAccepted breaks: v2\n````", ()),  # a fence in a fence (BAL-1)
        ("```\n~~~\nAccepted breaks: v2\n```", ()),
        ("Use `<!--` to hide a line.\nAccepted breaks: v2", (2,)),  # (review BAL-10)
        ("- item\n\n    ```\n    Accepted breaks: v2\n    ```", ()),  # (review BAM-1)
        ("> ```\n> Accepted breaks: v2\n> ```", ()),  # (review BAM-2)
        ("<pre>\nAccepted breaks: v2\n</pre>", ()),
        ("<!-- x --> text <!--\nAccepted breaks: v2\n-->", ()),  # (review BAM-3)
        ("Accepted breaks: v2, v3 <!-- released in 1.4 -->", (2, 3)),  # (review BAM-4)
    ],
)
def test_accepted_breaks_are_read_from_their_line(
    tmp_path: Path, line: str, found: tuple[int, ...]
) -> None:
    path = tmp_path / "compat.md"
    path.write_text(f"# Compatibility\n\n{line}\n", encoding="utf-8")
    assert accepted_breaks(path, range(1, 6)) == found


@pytest.mark.parametrize(
    "line",
    [
        "Accepted breaks: v1.4 (a release, not a migration)",
        "Accepted breaks: 2",
        "Accepted breaks:",
        "Accepted breaks: v1-v2",
        "Accepted breaks: v2; v3 is still to be fixed",  # (review BAL-2: read v3)
        "Accepted breaks: v2 and v3 are NOT accepted yet",
        "Accepted breaks: v2 - v3",  # (review BAL-3: read v2 alone)
        "Accepted breaks: v2 to v3",
        "Accepted breaks: v2 & v3",
        "Accepted breaks: v2, 3",
    ],
)
def test_an_accepted_breaks_line_not_listing_versions_is_bad_input(
    tmp_path: Path, line: str
) -> None:
    """It was read in part, or not at all, and the report then advised adding the very
    line the author wrote (review BAJ-6, BAJ-7)."""
    path = tmp_path / "compat.md"
    path.write_text(f"{line}\n", encoding="utf-8")
    with pytest.raises(
        ExpectedFileError, match=r"compat\.md:1: write 'Accepted breaks: v2, v5 \(why\)'"
    ):
        accepted_breaks(path, [1, 2, 3])


def test_an_accepted_break_naming_no_version_is_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "compat.md"
    path.write_text("Accepted breaks: v9\n", encoding="utf-8")
    with pytest.raises(ExpectedFileError, match=r"compat.md:1: accepted break v9 is not a version"):
        accepted_breaks(path, [1, 2, 3])


def test_a_table_in_a_fence_inside_a_fence_is_an_example(tmp_path: Path) -> None:
    """A ``` fence inside a ```` block does not close it (review BAL-1)."""
    text = (
        "````markdown\n```\n```\n| Client A | Client B | Sync Status | Notes |\n|---|---|---|---|\n"
        "| v1 | v1 | ❌ No sync | |\n````\n\n"
        "| Client A | Client B | Sync Status | Notes |\n|---|---|---|---|\n"
        "| v1 | v1 | ✅ Full sync | |\n"
    )
    assert parse_expected(text)[(1, 1)].status == "full"


def test_a_row_with_a_comment_in_it_is_read(tmp_path: Path) -> None:
    """The rows after one with an inline comment were dropped (review BAM-4)."""
    text = (
        "| Client A | Client B | Sync Status | Notes |\n|---|---|---|---|\n"
        "| v1 | v1 | ✅ Full sync | same <!-- schema --> |\n"
        "| v1 | v2 | ⚠️ Partial sync | |\n"
    )
    assert set(parse_expected(text)) == {(1, 1), (1, 2)}


_HEAD = "| Client A | Client B | Sync Status | Notes |\n|---|---|---|---|\n"
_REAL = _HEAD + "| v2 | v2 | ✅ Full sync | |\n"


def _indented(rows: str, by: str) -> str:
    return "".join(by + line + "\n" for line in rows.splitlines())


@pytest.mark.parametrize(
    ("text", "cells"),
    [
        # An example in an indented code block is no part of the matrix (triage BAP).
        (
            f"{_REAL}\nExample:\n\n{_indented(_HEAD + '| v1 | v3 | ❌ No sync | |', '    ')}",
            {(2, 2)},
        ),
        (
            f"{_REAL}\n## Example\n{_indented(_HEAD + '| v1 | v3 | ❌ No sync | |', '    ')}",
            {(2, 2)},
        ),
        (
            f"{_REAL}\nExample:\n\n{_indented(_HEAD + '| v1 | v3 | ❌ No sync | |', chr(9))}",
            {(2, 2)},
        ),
        (
            f"```\nx\n```\n{_indented(_HEAD + '| v1 | v3 | ❌ No sync | |', '    ')}\n{_REAL}",
            {(2, 2)},
        ),
        (
            f"- item\n\n{_indented(_HEAD + '| v1 | v3 | ❌ No sync | |', '      ')}\n{_REAL}",
            {(2, 2)},
        ),
        # A table in a list item is the matrix, indented as the item's content.
        (f"1. The matrix:\n\n{_indented(_REAL, '   ')}", {(2, 2)}),
        (f"- The matrix:\n\n{_indented(_REAL, '    ')}", {(2, 2)}),
        (f"- a\n  - b\n\n{_indented(_REAL, '    ')}", {(2, 2)}),
        # Code ends at a line indented less.
        (f"Example:\n\n    code\n\n{_REAL}", {(2, 2)}),
        # An outer item's text column holds after a nested list (review BAQ F1).
        (f"10. The matrix:\n\n    - a\n\n    More:\n\n{_indented(_REAL, '    ')}", {(2, 2)}),
        (f"*   The matrix:\n\n    - a\n      - b\n\n{_indented(_REAL, '    ')}", {(2, 2)}),
        # Four spaces in: a paragraph's text, never a table (review BAQ F2).
        (f"{_REAL}\nText\n{_indented(_HEAD + '| v1 | v3 | ❌ No sync | |', '    ')}", {(2, 2)}),
        (
            f"{_REAL}\nTitle\n=====\n{_indented(_HEAD + '| v1 | v3 | ❌ No sync | |', '    ')}",
            {(2, 2)},
        ),
        (f"{_REAL}\n* * *\n{_indented(_HEAD + '| v1 | v3 | ❌ No sync | |', '    ')}", {(2, 2)}),
    ],
)
def test_a_table_in_an_indented_code_block_is_an_example(
    text: str, cells: set[tuple[int, int]]
) -> None:
    assert set(parse_expected(text)) == cells
