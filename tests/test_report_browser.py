"""Render the HTML report in a real headless browser and check a screenshot comes out.

Skipped when /usr/bin/chromium is absent (CI does not install it).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from harness.crosscheck import lint_matrix_disagreements
from harness.report import write_report

CHROMIUM = Path("/usr/bin/chromium")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")


def realistic_report() -> dict[str, Any]:
    """Five versions, partial cells off the diagonal, one broken cell that should be partial."""
    versions = [1, 2, 3, 4, 5]
    cells = []
    for local in versions:
        for peer in versions:
            observed = "full" if local == peer else "partial"
            skipped = 0 if observed == "full" else 40 * abs(local - peer)
            cell: dict[str, Any] = {
                "local": local,
                "peer": peer,
                "expected": observed,
                "observed": observed,
                "ok": True,
                "examples": 25,
                "ops_sent": 1200 + 37 * local + 11 * peer,
                "ops_applied": 1200 + 37 * local + 11 * peer - skipped,
                "ops_skipped_unknown": skipped,
                "ops_rejected": 0,
                "heals_on_upgrade": True if local < peer else None,
                "reasons": [],
                "replay_file": None,
            }
            cells.append(cell)
    broken = next(c for c in cells if (c["local"], c["peer"]) == (3, 2))
    broken.update(
        observed="broken",
        ok=False,
        ops_skipped_unknown=0,
        ops_rejected=3,
        replay_file="reports/replays/v3-v2.json",
        reasons=[
            "v3 rejected 3 ops from v2: tasks.priority 'high' is not an INTEGER",
            "row tasks#17 missing at v3\nreplay: nexus-compat replay reports/replays/v3-v2.json",
        ],
    )
    lint = [
        {
            "version": 2,
            "description": "add task priority",
            "verdict": "additive",
            "findings": [
                {
                    "rule": "add-column",
                    "table": "tasks",
                    "column": "priority",
                    "message": "nullable column",
                    "severity": "additive",
                }
            ],
        },
        {
            "version": 3,
            "description": "add task tags",
            "verdict": "additive",
            "findings": [
                {
                    "rule": "add-table",
                    "table": "tags",
                    "column": None,
                    "message": "new table",
                    "severity": "additive",
                }
            ],
        },
        {
            "version": 4,
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
        {"version": 5, "description": "index due date", "verdict": "safe", "findings": []},
    ]
    return {
        "ok": False,
        "versions": versions,
        "cells": cells,
        "lint": lint,
        "relay": [{"relay": 1, "peer": 3, "ok": True, "reasons": []}],
        "disagreements": lint_matrix_disagreements(lint, cells),
        "environment": {"python": "3.11.7", "sqlite": "3.40.1", "package_version": "0.1.0"},
    }


def test_chromium_renders_the_report_to_a_screenshot(tmp_path: Path) -> None:
    write_report(realistic_report(), tmp_path / "out")
    page = tmp_path / "out" / "compatibility.html"
    png = tmp_path / "report.png"
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--screenshot={png}",
        "--window-size=1400,1000",
        page.as_uri(),
    ]
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    data = png.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1400, 1000)
    # A blank page compresses to a few kilobytes; a rendered report is far larger.
    assert len(data) > 50_000
