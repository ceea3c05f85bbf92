"""Ctrl-C stops a parallel matrix run at once: exit 130, no traceback, nothing left over."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HISTORY = Path(__file__).resolve().parent.parent / "fixtures" / "histories" / "multi_step_safe"


def test_ctrl_c_stops_the_workers_too(tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    command = [
        sys.executable, "-m", "harness.cli", "matrix",
        "--migrations", str(HISTORY / "migrations"),
        "--jobs", "2", "--examples", "5000", "--no-relay",
        "--json", str(tmp_path / "m.json"), "--replay-dir", str(tmp_path / "replays"),
    ]  # fmt: skip
    run = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(scratch)},
        start_new_session=True,  # its own process group, as a terminal's job
    )
    deadline = time.monotonic() + 120
    while not any(p.name.startswith("nexus-cell-") for p in scratch.rglob("*")):
        assert run.poll() is None and time.monotonic() < deadline, "no cell ever started"
        time.sleep(0.2)
    os.killpg(run.pid, signal.SIGINT)  # what Ctrl-C sends: the whole group
    _, stderr = run.communicate(timeout=120)
    assert run.returncode == 130, stderr
    assert "Interrupted." in stderr
    assert "Traceback" not in stderr
    assert not (tmp_path / "m.json").exists()
    assert list(scratch.iterdir()) == []  # the templates and every cell's files are gone
