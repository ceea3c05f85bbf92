"""Rendering the compatibility report (harness.report).

The Markdown and JSON outputs are compared with files under tests/golden/;
after an intended change, regenerate them with
``NEXUS_UPDATE_GOLDEN=1 pytest tests/test_report.py`` and review the diff.
"""

from __future__ import annotations

import copy
import json
import os
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from harness.expected import parse_expected
from harness.report import (
    render_html,
    render_json,
    render_junit,
    render_markdown,
    write_report,
)

GOLDEN = Path(__file__).parent / "golden"
SCHEMA = Path(__file__).parent.parent / "docs" / "compatibility.schema.json"


def counts(sent: int, skipped: int = 0, rejected: int = 0) -> dict[str, int]:
    return {
        "examples": 25,
        "ops_sent": sent,
        "ops_applied": sent - skipped - rejected,
        "ops_skipped_unknown": skipped,
        "ops_rejected": rejected,
    }


def small_report() -> dict[str, Any]:
    """Three versions: partial cells as documented, one broken cell that should be partial."""

    def cell(local: int, peer: int, expected: str, observed: str, **extra: Any) -> dict[str, Any]:
        result: dict[str, Any] = {
            "local": local,
            "peer": peer,
            "expected": expected,
            "observed": observed,
            "ok": expected == observed or (expected == "compatible" and observed != "broken"),
            "heals_on_upgrade": True if local < peer else None,
            "reasons": [],
            "replay_file": None,
        }
        result.update(counts(1000 + 10 * local + peer))
        result.update(extra)
        return result

    return {
        "ok": False,
        "versions": [1, 2, 3],
        "cells": [
            cell(1, 1, "full", "full"),
            cell(1, 2, "partial", "partial", **counts(1012, skipped=40)),
            cell(1, 3, "partial", "partial", **counts(1013, skipped=75)),
            cell(2, 1, "partial", "partial", **counts(1021, skipped=12)),
            cell(2, 2, "full", "full"),
            cell(2, 3, "compatible", "partial", **counts(1023, skipped=35)),
            cell(3, 1, "partial", "partial", **counts(1031, skipped=20)),
            cell(
                3,
                2,
                "partial",
                "broken",
                **counts(1032, rejected=3),
                reasons=[
                    "v3 rejected 3 ops from v2: tasks.notes | value 'x' violates NOT NULL",
                    "row tasks#17 missing at v3\nreplay: nexus-compat replay replays/v3-v2.json",
                ],
                replay_file="replays/v3-v2.json",
            ),
            cell(3, 3, "full", "full"),
        ],
        "lint": [
            {
                "version": 2,
                "description": "add task priority",
                "verdict": "additive",
                "findings": [
                    {
                        "rule": "add-column",
                        "table": "tasks",
                        "column": "priority",
                        "message": "new column with a default",
                        "severity": "additive",
                    }
                ],
            },
            {
                "version": 3,
                "description": "drop legacy notes",
                "verdict": "breaking",
                "findings": [
                    {
                        "rule": "drop-column",
                        "table": "tasks",
                        "column": "notes",
                        "message": "older clients still write tasks.notes",
                        "severity": "breaking",
                    }
                ],
            },
        ],
        "relay": [{"relay": 1, "peer": 3, "ok": True, "reasons": []}],
        "disagreements": [],
        "environment": {
            "python": "3.11.7",
            "sqlite": "3.40.1",
            "package_version": "0.1.0",
            "migrations_dir": "migrations",
            "migrations_checksum": "sha256:0123abcd",
            "seed": 0,
            "examples": 25,
            "generated_by": "nexus-compat report",
        },
    }


def check_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("NEXUS_UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    assert actual == path.read_text(encoding="utf-8"), f"{name} differs from tests/golden"


# -- Markdown and JSON ------------------------------------------------------


def test_markdown_matches_golden() -> None:
    check_golden("compatibility.md", render_markdown(small_report()))


def test_json_written_by_write_report_matches_golden(tmp_path: Path) -> None:
    write_report(small_report(), tmp_path)
    check_golden("compatibility.json", (tmp_path / "compatibility.json").read_text("utf-8"))


def test_markdown_matrix_reads_back_as_a_documented_matrix() -> None:
    """The report's matrix is in the contract's format: it parses to the observed statuses."""
    report = small_report()
    cells = parse_expected(render_markdown(report), "compatibility.md")
    assert {pair: c.status for pair, c in cells.items()} == {
        (c["local"], c["peer"]): c["observed"] for c in report["cells"]
    }


def test_markdown_says_not_ok_and_lists_every_reason() -> None:
    text = render_markdown(small_report())
    assert (
        "**Result: NOT OK**: 1 of 9 cells not as documented (v3-v2);"
        " the lint finds 1 breaking migration (v3)." in text
    )
    assert "tasks.notes \\| value" not in text.split("## Failed cells")[1]
    assert "- v3 rejected 3 ops from v2: tasks.notes | value 'x' violates NOT NULL" in text
    assert "  replay: nexus-compat replay replays/v3-v2.json" in text


def test_headline_names_the_lint_when_every_cell_is_as_documented() -> None:
    report = dict(small_report())
    report["cells"] = [{**cell, "ok": True} for cell in report["cells"]]
    text = render_markdown(report)
    assert "**Result: NOT OK**: the lint finds 1 breaking migration (v3)." in text
    assert "0 of" not in text.splitlines()[2]


def test_markdown_handles_a_matrix_only_report() -> None:
    report = {key: small_report()[key] for key in ("ok", "versions", "cells")}
    text = render_markdown(report)
    assert "_Lint was not run._" in text
    assert "_Not recorded._" in text


def test_json_is_sorted_and_indented() -> None:
    text = render_json({"b": 1, "a": {"d": 2, "c": 3}})
    assert text == '{\n  "a": {\n    "c": 3,\n    "d": 2\n  },\n  "b": 1\n}\n'


# -- HTML -------------------------------------------------------------------


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.cells: list[dict[str, str | None]] = []
        self.urls: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.tags.append(tag)
        if "data-cell" in found:
            self.cells.append(found)
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


def parse_html(text: str) -> _Collector:
    collector = _Collector()
    collector.feed(text)
    return collector


def test_html_has_one_grid_cell_per_pair_with_a_mismatch_mark() -> None:
    page = parse_html(render_html(small_report()))
    ids = [cell["data-cell"] for cell in page.cells]
    assert ids == [f"v{a}-v{b}" for a in (1, 2, 3) for b in (1, 2, 3)]
    classes = {cell["data-cell"]: (cell["class"] or "").split() for cell in page.cells}
    assert "broken" in classes["v3-v2"] and "mismatch" in classes["v3-v2"]
    assert "partial" in classes["v1-v2"] and "mismatch" not in classes["v1-v2"]
    tooltip = next(cell["title"] for cell in page.cells if cell["data-cell"] == "v3-v2")
    assert tooltip is not None and "1,029 applied" in tooltip and "rejected 3 ops" in tooltip


def test_html_escapes_a_malicious_reason() -> None:
    report = small_report()
    report["cells"][7]["reasons"] = ['<script>alert("x")</script> & <img src=x onerror=y>']
    report["lint"][0]["description"] = "<b>bold</b>"
    text = render_html(report)
    assert '<script>alert("x")' not in text
    assert "<img" not in text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;img" in text
    assert "&lt;b&gt;bold&lt;/b&gt;" in text
    assert parse_html(text).tags.count("script") == 1  # only the page's own


def test_html_is_self_contained() -> None:
    text = render_html(small_report())
    assert "http://" not in text and "https://" not in text
    assert "@import" not in text and "url(" not in text
    external = [url for url in parse_html(text).urls if not url.startswith("#")]
    assert external == []


def test_html_preselects_the_first_failed_cell_and_hides_the_rest() -> None:
    text = render_html(small_report())
    assert re.search(r'<div class="detail" id="detail-v3-v2">', text)
    assert re.search(r'<div class="detail" id="detail-v1-v1" hidden>', text)


def test_html_of_an_ok_report_with_nothing_optional() -> None:
    report = small_report()
    cells = [c for c in report["cells"] if c["ok"]]
    text = render_html({"ok": True, "versions": [1, 2, 3], "cells": cells})
    assert ">OK</span>" in text
    assert "Lint was not run." in text
    assert "None: every cell is as documented." in text
    assert len(parse_html(text).cells) == 8
    assert text.count('class="missing"') == 1


# -- JUnit ------------------------------------------------------------------


def test_junit_has_one_testcase_per_cell_and_failures_for_failed_cells() -> None:
    root = ET.fromstring(render_junit(small_report()))
    suites = {suite.get("name"): suite for suite in root.iter("testsuite")}
    matrix = suites["nexus-compat matrix"]
    cases = matrix.findall("testcase")
    assert [case.get("name") for case in cases] == [
        f"v{a}-v{b}" for a in (1, 2, 3) for b in (1, 2, 3)
    ]
    failed = {case.get("name"): case.find("failure") for case in cases}
    assert [name for name, failure in failed.items() if failure is not None] == ["v3-v2"]
    failure = failed["v3-v2"]
    assert failure is not None
    assert failure.get("message") == "expected partial, observed broken (NOT as documented)"
    assert "rejected 3 ops" in (failure.text or "")
    assert (matrix.get("tests"), matrix.get("failures")) == ("9", "1")


def test_junit_reports_breaking_lint_as_a_failure() -> None:
    root = ET.fromstring(render_junit(small_report()))
    lint = next(s for s in root.iter("testsuite") if s.get("name") == "nexus-compat lint")
    failed = [case.get("name") for case in lint if case.find("failure") is not None]
    assert failed == ["migration-v3"]
    assert root.get("failures") == "2"


def test_junit_survives_characters_xml_cannot_hold() -> None:
    report = small_report()
    report["cells"][7]["reasons"] = ["bad byte \x00 and \x1b[31m escape"]
    failure = ET.fromstring(render_junit(report)).find(".//testcase[@name='v3-v2']/failure")
    assert failure is not None and "bad byte" in (failure.text or "")


# -- files ------------------------------------------------------------------


def test_write_report_writes_three_files_atomically(tmp_path: Path) -> None:
    out = tmp_path / "new" / "reports"
    junit = tmp_path / "ci" / "junit.xml"
    paths = write_report(small_report(), out, junit=junit)
    assert paths == [
        out / "compatibility.md",
        out / "compatibility.json",
        out / "compatibility.html",
        junit,
    ]
    assert sorted(p.name for p in out.iterdir()) == [
        "compatibility.html",
        "compatibility.json",
        "compatibility.md",
    ]
    assert list(junit.parent.iterdir()) == [junit]
    assert json.loads((out / "compatibility.json").read_text("utf-8")) == small_report()
    ET.parse(junit)


def test_write_report_replaces_old_files_and_renders_before_writing(tmp_path: Path) -> None:
    write_report(small_report(), tmp_path)
    before = {p.name: p.read_text("utf-8") for p in tmp_path.iterdir()}
    broken = copy.deepcopy(small_report())
    broken["environment"]["seed"] = object()  # cannot be JSON
    with pytest.raises(Exception, match="cannot be written as JSON"):
        write_report(broken, tmp_path)
    assert {p.name: p.read_text("utf-8") for p in tmp_path.iterdir()} == before


def test_written_json_validates_against_the_documented_schema(tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA.read_text("utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    write_report(small_report(), tmp_path)
    report = json.loads((tmp_path / "compatibility.json").read_text("utf-8"))
    jsonschema.Draft202012Validator(schema).validate(report)
    report["cells"][0]["observed"] = "compatible"
    assert not jsonschema.Draft202012Validator(schema).is_valid(report)


def test_disagreements_are_rendered_in_markdown_and_html() -> None:
    report = small_report()
    report["disagreements"] = [
        {
            "version": 3,
            "lint_verdict": "breaking",
            "matrix": "partial",
            "rules": ["drop-column"],
            "cells": ["v1-v3"],
            "explanation": "the older client parks the ops it cannot place",
        }
    ]
    text = render_markdown(report)
    assert (
        "- v3: lint says breaking (drop-column), matrix saw partial: "
        "the older client parks the ops it cannot place"
    ) in text
    assert "the older client parks the ops it cannot place" in render_html(report)


def test_headline_names_a_dozen_failed_cells_at_most() -> None:
    """A 40-version history with one early break fails ~900 cells; the headline stays a
    line (every failed cell is still listed under "Failed cells"; review BK-4)."""
    versions = list(range(1, 6))
    cells = [
        {**small_report()["cells"][0], "local": a, "peer": b, "ok": False}
        for a in versions
        for b in versions
    ]
    text = render_markdown({"ok": False, "versions": versions, "cells": cells, "pairs": "all"})
    headline = text.splitlines()[2]
    assert headline.startswith("**Result: NOT OK**: 25 of 25 cells not as documented (v1-v1,")
    assert headline.endswith("v3-v2 and 13 more).")
    assert "Pairs checked" not in text  # every pair ran


def test_markdown_says_which_pairs_ran_when_not_all() -> None:
    report = {**small_report(), "pairs": "latest"}
    report["cells"] = [c for c in report["cells"] if 3 in (c["local"], c["peer"])]
    assert "- Pairs checked: latest (5 of 9 cells)" in render_markdown(report)


def test_counts_of_one_are_singular() -> None:
    """ "1 examples" and "1 breaking migrations" (review BP-4)."""
    report = small_report()
    (failed,) = [cell for cell in report["cells"] if not cell["ok"]]
    failed["examples"] = 1
    assert "1 example; " in render_markdown(report)
    html = render_html(report)
    assert "breaking migration<" in html and "breaking migrations" not in html
    report["lint"][0]["verdict"] = "breaking"  # two now
    assert "breaking migrations<" in render_html(report)


def test_the_report_says_how_to_accept_a_break_it_does_not_accept() -> None:
    report = small_report()
    report["lint_how_to_accept"] = {"3": "add `| v2 | v3 | ❌ No sync |`"}
    assert "  - v3: add `| v2 | v3 | ❌ No sync |`" in render_markdown(report)
    assert "add | v2 | v3 | ❌ No sync |" in render_html(report)  # (no Markdown backticks)


def test_a_failed_cell_names_the_breaking_changes_between_its_versions() -> None:
    """A reason names a column ("notes diverged"), not the change that made it: the
    lint's breaking findings between the cell's versions are named beside it (review
    BP-4)."""
    report = small_report()
    line = "Breaking between v2 and v3 (lint): v3 drop-column (tasks.notes)"
    assert line in render_markdown(report)
    assert "Breaking between these versions (lint): v3 drop-column (tasks.notes)" in (
        render_html(report)
    )
    report["lint"][1]["verdict"] = "additive"  # nothing breaking between them
    assert "Breaking between" not in render_markdown(report)
