"""One compatibility report: lint, matrix, relay, heal, cross-check and environment.

``compatibility_report`` gathers everything ``nexus-compat report`` writes into
one dict (the ``compatibility.json`` document); :mod:`harness.report` renders it.
"""

from __future__ import annotations

import platform
import sqlite3
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from harness.crosscheck import (
    documented_breaks,
    how_to_accept,
    lint_matrix_disagreements,
)
from harness.lint import lint_migrations, lint_to_json
from harness.matrix import (
    MatrixConfig,
    MatrixResult,
    Progress,
    run_matrix,
)


def package_version() -> str:
    try:
        return version("nexus-core")
    except PackageNotFoundError:
        return "unknown"


def environment(result: MatrixResult, config: MatrixConfig) -> dict[str, Any]:
    """Where and how the report was made, so a reader can reproduce it."""
    return {
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "package_version": package_version(),
        "platform": platform.platform(terse=True),
        "migrations_dir": str(result.migration_set.directory),
        "migrations_checksum": result.migration_set.checksum,
        "expected_source": result.expected_source,
        "pairs": config.pairs,
        "seed": config.seed,
        "examples": config.examples,
        "relay_examples": config.relay_examples if config.relay else 0,
        "generated_by": "nexus-compat report",
    }


def compatibility_report(config: MatrixConfig, progress: Progress | None = None) -> dict[str, Any]:
    """Run lint and the matrix and put every result in one report dict."""
    result = run_matrix(config, progress)
    lint = lint_to_json(lint_migrations(result.migration_set.migrations))
    report = result.to_json()
    report["lint"] = lint["lint"]
    breaking = [e["version"] for e in lint["lint"] if e["verdict"] == "breaking"]
    # Every row of the document, run or not (--pairs may leave the documented pair out),
    # as the plugin reads it.
    documented = result.documented
    rows = [(c.local, c.peer, c.status) for c in documented.cells.values()]
    accepted = documented_breaks(breaking, rows, documented.accepted)
    report["lint_documented_breaks"] = accepted
    observed = [(c.local, c.peer, c.observed) for c in result.cells]
    report["lint_how_to_accept"] = {
        str(entry["version"]): how_to_accept(
            entry["version"],
            breaking,
            rows,
            result.migration_set.versions,
            observed=observed,
            rules=[f["rule"] for f in entry["findings"] if f.get("severity") == "breaking"],
        )
        for entry in lint["lint"]
        if entry["version"] in breaking and entry["version"] not in accepted
    }
    report["lint_ok"] = len(accepted) == len(breaking)
    report["matrix_ok"] = result.ok
    report["ok"] = report["matrix_ok"] and report["lint_ok"]  # what a release gate needs: both
    report["disagreements"] = lint_matrix_disagreements(lint["lint"], report["cells"])
    report["environment"] = environment(result, config)
    return report
