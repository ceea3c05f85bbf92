"""The lint's outputs: the contract's ``lint --json`` document and the table the
CLI prints.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.markup import escape
from rich.table import Table as RichTable

from harness.lint.findings import MigrationLint


def lint_to_json(results: Sequence[MigrationLint]) -> dict[str, Any]:
    """The contract's ``lint --json`` document: ``{"ok": ..., "lint": [...]}``."""
    return {
        "ok": all(r.verdict != "breaking" for r in results),
        "lint": [
            {
                "version": r.version,
                "description": r.description,
                "verdict": r.verdict,
                "findings": [
                    {
                        "rule": f.rule,
                        "table": f.table,
                        "column": f.column,
                        "message": f.message,
                        "severity": f.severity,
                        **(
                            {}
                            if f.within_versions is None
                            else {"within_versions": list(f.within_versions)}
                        ),
                    }
                    for f in r.findings
                ],
            }
            for r in results
        ],
    }


_VERDICT_STYLE = {"safe": "green", "additive": "yellow", "breaking": "bold red"}


def render_lint_table(results: Sequence[MigrationLint]) -> RichTable:
    """A rich table, one row per finding (one per migration without findings)."""
    table = RichTable(title="Migration lint", show_lines=False)
    for header in ("Version", "Description", "Verdict", "Rule", "Where", "Message"):
        table.add_column(header, overflow="fold")
    for result in results:
        verdict = f"[{_VERDICT_STYLE[result.verdict]}]{result.verdict}[/]"
        if not result.findings:
            table.add_row(
                f"v{result.version}", escape(result.description), verdict, "-", "-", "no change"
            )
        for index, finding in enumerate(result.findings):
            where = f"{finding.table}.{finding.column}" if finding.column else finding.table
            first = index == 0
            table.add_row(
                f"v{result.version}" if first else "",
                escape(result.description) if first else "",
                verdict if first else "",
                f"[{_VERDICT_STYLE[finding.severity]}]{finding.rule}[/]",
                escape(where),
                escape(finding.message),
            )
    return table
