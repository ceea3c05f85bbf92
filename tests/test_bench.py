"""``nexus-compat bench``: every contract key, measured in one run; no time is asserted.

A small run (``--rows 100 --no-matrix``) keeps this fast; the matrix keys are
measured by ``tox -e bench`` and the nightly job.
"""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from harness.bench import render_bench, run_bench
from harness.cli import main

CONTRACT_KEYS = {
    "raw_sqlite_rows_per_s",
    "apply_ops_per_s",
    "apply_vs_raw_ratio",
    "capture_vs_raw_ratio",
    "delta_sync_ms_small_history",
    "delta_sync_ms_large_history",
    "build_template_ms",
    "build_replay_ms",
}
OUR_KEYS = {
    "apply_rows_per_s",
    "capture_rows_per_s",
    "ops_per_row",
    "decode_vs_raw_ratio",
    "storage_floor_vs_raw_ratio",
    "apply_careful_vs_raw_ratio",
}


def test_bench_measures_every_key_against_raw_sqlite_in_one_run() -> None:
    results = run_bench(rows=100, matrix=False)
    assert results.keys() >= CONTRACT_KEYS | OUR_KEYS
    for key in CONTRACT_KEYS | OUR_KEYS:
        assert isinstance(results[key], float) and results[key] > 0, key
    # The bench's table has 8 columns: one op per column, plus the list row.
    assert 8 <= results["ops_per_row"] < 8.1
    assert results["machine"]["sqlite"] and results["machine"]["cpus"]
    assert "matrix_cells_per_s_1_job" not in results  # skipped on request
    rendered = render_bench(results)
    assert rendered.row_count >= len(CONTRACT_KEYS)


def test_bench_cli_writes_the_numbers_as_json(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(main, ["bench", "--rows", "100", "--no-matrix", "--json", str(out)])
    assert result.exit_code == 0, result.output
    numbers = json.loads(out.read_text(encoding="utf-8"))
    assert numbers.keys() >= CONTRACT_KEYS
    assert "apply_vs_raw_ratio" in result.stdout


def test_bench_refuses_too_few_rows() -> None:
    result = CliRunner().invoke(main, ["bench", "--rows", "10"])
    assert result.exit_code == 2
    assert "rows" in result.output.lower()
