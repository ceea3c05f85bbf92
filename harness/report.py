"""Render a compatibility report (the contents of ``compatibility.json``).

Every ``render_*`` function is pure: one report dict in, one string out.
Only :func:`write_report` touches the filesystem. The report dict holds
``ok``, ``versions`` and ``cells`` (from the matrix) and optionally ``lint``,
``relay``, ``disagreements`` and ``environment``; docs/compatibility.schema.json
describes it.
"""

from __future__ import annotations

import functools
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2

from harness.cells import cell_id
from harness.errors import HarnessError
from harness.files import json_text, write_all_atomically

__all__ = [
    "REPORT_FILES",
    "STATUS_LABELS",
    "render_html",
    "render_json",
    "render_junit",
    "render_markdown",
    "write_report",
]

Report = Mapping[str, Any]
Cell = Mapping[str, Any]

REPORT_FILES = ("compatibility.md", "compatibility.json", "compatibility.html")

# The documented matrix's wording, so a rendered matrix reads like docs/MIGRATIONS.md.
STATUS_LABELS = {"full": "✅ Full sync", "partial": "⚠️ Partial sync", "broken": "❌ No sync"}

_ENVIRONMENT_ORDER = (
    "package_version",
    "python",
    "sqlite",
    "migrations_dir",
    "migrations_checksum",
    "seed",
    "examples",
    "generated_by",
)
# Characters XML 1.0 cannot carry, even escaped.
_XML_ILLEGAL = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


# -- shared view of a report ------------------------------------------------


def _cells(report: Report) -> list[Cell]:
    try:
        return sorted(report["cells"], key=lambda cell: (int(cell["local"]), int(cell["peer"])))
    except (KeyError, TypeError) as exc:
        raise HarnessError(f"report has no usable 'cells' list ({exc!r})") from None


def _count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else "—"


def _heal_word(value: Any) -> str:
    if value is True:
        return "yes"
    return "no" if value is False else "n/a"


def _counts_line(cell: Cell) -> str:
    return (
        f"{_count(cell.get('examples'))} {_plural(cell.get('examples') or 0, 'example')};"
        f" {_count(cell.get('ops_sent'))} sent, "
        f"{_count(cell.get('ops_applied'))} applied, "
        f"{_count(cell.get('ops_skipped_unknown'))} skipped unknown, "
        f"{_count(cell.get('ops_rejected'))} rejected"
    )


def _plural(count: int, word: str) -> str:
    return word if count == 1 else f"{word}s"


def _verdict_line(cell: Cell) -> str:
    expected, observed = cell.get("expected", "undocumented"), cell["observed"]
    judged = "as documented" if cell.get("ok") else "NOT as documented"
    return f"expected {expected}, observed {observed} ({judged})"


def _finding_target(finding: Mapping[str, Any]) -> str:
    parts = [str(finding[key]) for key in ("table", "column") if finding.get(key)]
    return ".".join(parts)


def _rules_line(entry: Mapping[str, Any]) -> str:
    rules = []
    for finding in entry.get("findings") or []:
        target = _finding_target(finding)
        rules.append(f"{finding.get('rule', '?')} ({target})" if target else finding.get("rule"))
    return ", ".join(str(rule) for rule in rules) or "—"


def breaking_between(lint: Sequence[Mapping[str, Any]], local: int, peer: int) -> str:
    """What the lint (its JSON entries) calls breaking between a cell's two versions:
    the changes behind its reasons (a reason names a column, not the rename or drop
    that made it). The report's failed cells and the plugin's say it alike."""
    low, high = sorted((int(local), int(peer)))
    return "; ".join(
        f"v{entry['version']} {_rules_line(entry)}"
        for entry in sorted(lint, key=lambda e: int(e["version"]))
        if entry.get("verdict") == "breaking" and low < int(entry["version"]) <= high
    )


def _environment(report: Report) -> list[tuple[str, str]]:
    environment: Mapping[str, Any] = report.get("environment") or {}
    known = [key for key in _ENVIRONMENT_ORDER if key in environment]
    rest = sorted(key for key in environment if key not in _ENVIRONMENT_ORDER)
    return [(key, str(environment[key])) for key in [*known, *rest]]


def _summary(report: Report) -> dict[str, Any]:
    cells = _cells(report)
    failed = [cell_id(cell["local"], cell["peer"]) for cell in cells if not cell.get("ok")]
    lint = report.get("lint") or []
    relay = report.get("relay") or []
    accepted = report.get("lint_documented_breaks") or []
    summary = {
        "ok": bool(report.get("ok")),
        "total": len(cells),
        "failed": failed,
        "passed": len(cells) - len(failed),
        "observed": {s: sum(c["observed"] == s for c in cells) for s in STATUS_LABELS},
        "breaking": [
            f"v{entry['version']}"
            for entry in lint
            if entry["verdict"] == "breaking" and entry["version"] not in accepted
        ],
        "documented_breaks": [f"v{v}" for v in accepted],
        "relay_ok": sum(bool(entry.get("ok")) for entry in relay),
        "relay_total": len(relay),
        "untested": untested_warning(cells),
    }
    summary["problems"] = _problems(summary)
    return summary


def untested_warning(cells: Sequence[Mapping[str, Any]]) -> str:
    """The warning for tables no generated row reached in some cells (empty: none):
    a cell reads full there without having tested them (review BAA H7: only the
    matrix command said so)."""
    untested = sorted({t for cell in cells for t in cell.get("untested_tables") or ()})
    if not untested:
        return ""
    return (
        f"no generated row was accepted by {', '.join(untested)} in some cells; changes to"
        " those tables went untested (see each cell's untested_tables)"
    )


HEADLINE_CELLS = 12  # failed cells the headline names; the sections below list them all


def _problems(summary: Mapping[str, Any]) -> list[str]:
    """Why a report is not OK, each part in a few words (the headline's reasons)."""
    problems = []
    failed, breaking = summary["failed"], summary["breaking"]
    if failed:
        named = ", ".join(failed[:HEADLINE_CELLS])
        if len(failed) > HEADLINE_CELLS:  # a long history: the headline stays a line
            named += f" and {len(failed) - HEADLINE_CELLS} more"
        problems.append(f"{len(failed)} of {summary['total']} cells not as documented ({named})")
    if breaking:
        count = len(breaking)
        problems.append(
            f"the lint finds {count} breaking {_plural(count, 'migration')} ({', '.join(breaking)})"
        )
    failed_relays = summary["relay_total"] - summary["relay_ok"]
    if failed_relays:
        problems.append(f"{failed_relays} of {summary['relay_total']} relay checks failed")
    return problems


# -- Markdown ---------------------------------------------------------------


def _md(value: Any) -> str:
    """Text safe inside a Markdown table cell."""
    return " ".join(str(value).split()).replace("|", "\\|")


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_md(value) for value in row) + " |" for row in rows]
    return lines


def _bullet(text: str) -> list[str]:
    first, *rest = str(text).splitlines() or [""]
    return [f"- {first}", *(f"  {line}" for line in rest)]


def render_markdown(report: Report) -> str:
    """The report as Markdown; its matrix table is the documented matrix's format."""
    cells = _cells(report)
    summary = _summary(report)
    if summary["ok"]:
        headline = f"**Result: OK**: all {summary['total']} cells as documented."
    else:
        reasons = "; ".join(summary["problems"]) or "see below"
        headline = f"**Result: NOT OK**: {reasons}."
    observed = summary["observed"]
    out = ["# Oplog compatibility report", "", headline, ""]
    out.append(f"- Versions: {', '.join(f'v{v}' for v in report.get('versions', []))}")
    pairs = report.get("pairs", "all")
    if pairs != "all":  # nexus-compat --pairs: some pairs were not run
        every = len(report.get("versions", [])) ** 2
        out.append(f"- Pairs checked: {pairs} ({len(cells)} of {every} cells)")
    out.append(
        f"- Cells: {observed['full']} full, {observed['partial']} partial, "
        f"{observed['broken']} broken"
    )
    if "lint" in report:
        breaking = summary["breaking"]
        listed = f" ({', '.join(breaking)})" if breaking else ""
        accepted = summary["documented_breaks"]
        if accepted:  # (review BAJ-9: "0 breaking migrations; v2 breaking and accepted")
            found = sorted([*breaking, *accepted], key=lambda version: int(version[1:]))
            out.append(
                f"- Lint: {len(found)} breaking {_plural(len(found), 'migration')}"
                f" ({', '.join(found)}),"
                f" {', '.join(accepted)} accepted by the documented matrix"
            )
        else:
            out.append(
                f"- Lint: {len(breaking)} breaking {_plural(len(breaking), 'migration')}{listed}"
            )
        for version, hint in sorted(
            (report.get("lint_how_to_accept") or {}).items(), key=lambda item: int(item[0])
        ):
            if hint:
                out.append(f"  - v{version}: {hint}")
    if "relay" in report:
        out.append(f"- Relay: {summary['relay_ok']} of {summary['relay_total']} ok")
    if summary["untested"]:
        out.append(f"- Warning: {summary['untested']}")

    out += ["", "## Compatibility matrix", "", "Judged at Client A's replica.", ""]
    out += _table(
        ["Client A", "Client B", "Sync Status", "Notes"],
        [
            [
                f"v{cell['local']}",
                f"v{cell['peer']}",
                STATUS_LABELS.get(cell["observed"], cell["observed"]),
                f"{_verdict_line(cell)}; {_counts_line(cell)}",
            ]
            for cell in cells
        ],
    )

    out += ["", "## Counts per cell", ""]
    out += _table(
        [
            "Cell",
            "Expected",
            "Observed",
            "Result",
            "Examples",
            "Ops sent",
            "Applied",
            "Skipped unknown",
            "Rejected",
            "Heals on upgrade",
        ],
        [
            [
                cell_id(cell["local"], cell["peer"]),
                cell.get("expected", "undocumented"),
                cell["observed"],
                "ok" if cell.get("ok") else "FAIL",
                _count(cell.get("examples")),
                _count(cell.get("ops_sent")),
                _count(cell.get("ops_applied")),
                _count(cell.get("ops_skipped_unknown")),
                _count(cell.get("ops_rejected")),
                _heal_word(cell.get("heals_on_upgrade")),
            ]
            for cell in cells
        ],
    )

    out += ["", "## Migration lint", ""]
    lint = report.get("lint")
    if lint is None:
        out.append("_Lint was not run._")
    elif not lint:
        out.append("_No migrations linted._")
    else:
        out += _table(
            ["Version", "Description", "Verdict", "Rules"],
            [
                [f"v{e['version']}", e.get("description", ""), e["verdict"], _rules_line(e)]
                for e in sorted(lint, key=lambda entry: int(entry["version"]))
            ],
        )

    out += ["", "## Relay", ""]
    relay = report.get("relay")
    if not relay:
        out.append("_No relay checks in this report._")
    else:
        out += _table(
            ["Relay", "Peer", "Result", "Reasons"],
            [
                [
                    f"v{r['relay']}",
                    f"v{r['peer']}",
                    "ok" if r.get("ok") else "FAIL",
                    "; ".join(r.get("reasons") or []) or "—",
                ]
                for r in relay
            ],
        )

    out += ["", "## Heal on upgrade", ""]
    heals = [cell for cell in cells if isinstance(cell.get("heals_on_upgrade"), bool)]
    if not heals:
        out.append("_No cell where Client A is older than Client B._")
    else:
        out.append("After upgrading Client A to Client B's version and syncing once more:")
        out.append("")
        out += _table(
            ["Client A", "Client B", "Heals on upgrade"],
            [[f"v{c['local']}", f"v{c['peer']}", _heal_word(c["heals_on_upgrade"])] for c in heals],
        )

    out += ["", "## Lint vs matrix", ""]
    disagreements = report.get("disagreements") or []
    if not disagreements:
        out.append("_Lint and matrix agree._")
    for item in disagreements:
        rules = ", ".join(item.get("rules") or []) or "no rule"
        out += _bullet(
            f"v{item['version']}: lint says {item['lint_verdict']} ({rules}), matrix saw "
            f"{item['matrix']}: {item.get('explanation', '')}"
        )

    out += ["", "## Failed cells", ""]
    failures = [cell for cell in cells if not cell.get("ok")]
    if not failures:
        out.append("_None: every cell is as documented._")
    for cell in failures:
        out += [f"### {cell_id(cell['local'], cell['peer'])}: {_verdict_line(cell)}", ""]
        for reason in cell.get("reasons") or ["no reason recorded"]:
            out += _bullet(reason)
        behind = breaking_between(report.get("lint") or [], cell["local"], cell["peer"])
        if behind:
            out += ["", f"Breaking between v{min(cell['local'], cell['peer'])} and"
                    f" v{max(cell['local'], cell['peer'])} (lint): {behind}"]  # fmt: skip
        if cell.get("replay_file"):
            out += ["", f"Replay: `{cell['replay_file']}`"]
        out.append("")
    if failures:
        out.pop()

    out += ["", "## Environment", ""]
    environment = _environment(report)
    if environment:
        out += _table(["Key", "Value"], environment)
    else:
        out.append("_Not recorded._")
    return "\n".join(out) + "\n"


# -- JSON -------------------------------------------------------------------


def render_json(report: Report) -> str:
    """The report as ``compatibility.json``: sorted keys, two-space indent."""
    try:
        return json_text(report)
    except TypeError as exc:
        raise HarnessError(f"report cannot be written as JSON: {exc}") from None


# -- HTML -------------------------------------------------------------------


@functools.cache
def _templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("harness", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _grid_cell(cell: Cell) -> dict[str, Any]:
    observed = cell["observed"]
    reasons = [str(reason) for reason in cell.get("reasons") or []]
    tooltip = [
        f"Client A v{cell['local']} ↔ Client B v{cell['peer']}",
        _verdict_line(cell),
        _counts_line(cell),
    ]
    if isinstance(cell.get("heals_on_upgrade"), bool):
        tooltip.append(f"heals on upgrade: {_heal_word(cell['heals_on_upgrade'])}")
    tooltip += reasons
    return {
        "id": cell_id(cell["local"], cell["peer"]),
        "local": cell["local"],
        "peer": cell["peer"],
        "observed": observed,
        "expected": cell.get("expected", "undocumented"),
        "ok": bool(cell.get("ok")),
        "label": observed.capitalize(),
        "counts": [
            ("Examples", _count(cell.get("examples"))),
            ("Ops sent", _count(cell.get("ops_sent"))),
            ("Applied", _count(cell.get("ops_applied"))),
            ("Skipped unknown", _count(cell.get("ops_skipped_unknown"))),
            ("Rejected", _count(cell.get("ops_rejected"))),
            ("Heals on upgrade", _heal_word(cell.get("heals_on_upgrade"))),
        ],
        "applied": _count(cell.get("ops_applied")),
        "skipped": _count(cell.get("ops_skipped_unknown")),
        "heals": cell.get("heals_on_upgrade"),
        "reasons": reasons,
        "replay_file": cell.get("replay_file"),
        "tooltip": "\n".join(tooltip),
    }


def render_html(report: Report) -> str:
    """The report as one self-contained HTML page (no network, inline CSS and JS)."""
    cells = [_grid_cell(cell) for cell in _cells(report)]
    by_pair = {(cell["local"], cell["peer"]): cell for cell in cells}
    seen = {int(v) for v in report.get("versions", [])}
    versions = sorted(seen | {c["local"] for c in cells} | {c["peer"] for c in cells})
    grid = [{"version": a, "cells": [by_pair.get((a, b)) for b in versions]} for a in versions]
    failures = [cell for cell in cells if not cell["ok"]]
    lint = sorted(report.get("lint") or [], key=lambda entry: int(entry["version"]))
    template = _templates().get_template("report.html.j2")
    return template.render(
        summary=_summary(report),
        versions=versions,
        grid=grid,
        cells=cells,
        # Open the details of the most telling failure: a broken cell before a mere mismatch.
        selected=min(failures, key=lambda c: c["observed"] != "broken")["id"] if failures else None,
        failures=failures,
        behind={c["id"]: breaking_between(lint, c["local"], c["peer"]) for c in failures},
        lint=lint,
        has_lint="lint" in report,
        how_to_accept=report.get("lint_how_to_accept") or {},
        finding_target=_finding_target,
        relay=report.get("relay") or [],
        heals=[cell for cell in cells if isinstance(cell["heals"], bool)],
        disagreements=report.get("disagreements") or [],
        environment=_environment(report),
    )


# -- JUnit ------------------------------------------------------------------


def _xml_text(value: Any) -> str:
    return _XML_ILLEGAL.sub("\ufffd", str(value))


def _suite(parent: ET.Element, name: str, cases: list[tuple[str, str, str | None, str]]) -> None:
    """Add a testsuite of (name, classname, failure message or None, detail text) cases."""
    failures = sum(message is not None for _, _, message, _ in cases)
    suite = ET.SubElement(
        parent,
        "testsuite",
        name=name,
        tests=str(len(cases)),
        failures=str(failures),
        errors="0",
        skipped="0",
    )
    for case_name, classname, message, detail in cases:
        case = ET.SubElement(suite, "testcase", name=case_name, classname=classname, time="0")
        if message is not None:
            failure = ET.SubElement(case, "failure", message=_xml_text(message), type="failure")
            failure.text = _xml_text(detail)
        elif detail:
            ET.SubElement(case, "system-out").text = _xml_text(detail)


def render_junit(report: Report) -> str:
    """The report as JUnit XML: one testcase ``v{A}-v{B}`` per cell, failures for cells not ok.

    Breaking lint verdicts (but those the documented matrix accepts as No sync)
    and failed relay checks are failures in their own suites.
    """
    root = ET.Element("testsuites", name="nexus-compat")
    cases = []
    for cell in _cells(report):
        message = None if cell.get("ok") else _verdict_line(cell)
        reasons = "\n".join(str(r) for r in cell.get("reasons") or []) or "no reason recorded"
        detail = _counts_line(cell) if cell.get("ok") else f"{reasons}\n{_counts_line(cell)}"
        cases.append((cell_id(cell["local"], cell["peer"]), "nexus-compat.matrix", message, detail))
    _suite(root, "nexus-compat matrix", cases)
    if "lint" in report:
        lint_cases = []
        accepted = report.get("lint_documented_breaks") or ()
        for entry in sorted(report["lint"], key=lambda item: int(item["version"])):
            breaking = entry["verdict"] == "breaking" and entry["version"] not in accepted
            message = f"breaking migration: {_rules_line(entry)}" if breaking else None
            detail = "\n".join(
                f"{f.get('rule')}: {f.get('message', '')}" for f in entry.get("findings") or []
            )
            lint_cases.append(
                (
                    f"migration-v{entry['version']}",
                    "nexus-compat.lint",
                    message,
                    detail or str(entry["verdict"]),
                )
            )
        _suite(root, "nexus-compat lint", lint_cases)
    if report.get("relay"):
        relay_cases = [
            (
                f"relay-v{r['relay']}-v{r['peer']}",
                "nexus-compat.relay",
                None if r.get("ok") else "relay did not pass ops on",
                "\n".join(str(reason) for reason in r.get("reasons") or []),
            )
            for r in report["relay"]
        ]
        _suite(root, "nexus-compat relay", relay_cases)
    root.set("tests", str(sum(int(s.get("tests", "0")) for s in root)))
    root.set("failures", str(sum(int(s.get("failures", "0")) for s in root)))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


# -- files ------------------------------------------------------------------


def write_report(
    report: Report, out_dir: str | os.PathLike[str], junit: Path | None = None
) -> list[Path]:
    """Write compatibility.md, .json and .html into ``out_dir`` (and JUnit XML to ``junit``).

    Everything is rendered before anything is written, so a report that cannot
    be rendered leaves the directory as it was. Returns the paths written.
    """
    out = Path(out_dir)
    names = dict(zip(REPORT_FILES, (render_markdown, render_json, render_html), strict=True))
    outputs = [(out / name, render(report)) for name, render in names.items()]
    if junit is not None:
        outputs.append((Path(junit), render_junit(report)))
    write_all_atomically(outputs)  # all of them or none
    return [path for path, _ in outputs]
