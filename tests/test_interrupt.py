"""Ctrl-C stops a parallel matrix run at once: exit 130, no traceback, nothing left over."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

HISTORY = Path(__file__).resolve().parent.parent / "fixtures" / "histories" / "multi_step_safe"


@pytest.mark.parametrize(("how", "code"), [("ctrl-c", 130), ("sigterm", 143)])
def test_ctrl_c_stops_the_workers_too(tmp_path: Path, how: str, code: int) -> None:
    """A SIGTERM (a CI job cancelled) is sent to the main process alone: it must
    stop its workers itself. An earlier run's replays stay where its report says."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    earlier = tmp_path / "replays" / "replay-v1-v2.json"
    earlier.parent.mkdir()
    earlier.write_text("{}", encoding="utf-8")
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
    if how == "ctrl-c":
        os.killpg(run.pid, signal.SIGINT)  # what Ctrl-C sends: the whole group
    else:
        os.kill(run.pid, signal.SIGTERM)
    _, stderr = run.communicate(timeout=120)
    assert run.returncode == code, stderr
    assert ("Interrupted." if how == "ctrl-c" else "Terminated.") in stderr  # (review BR-5)
    assert "Traceback" not in stderr
    assert not (tmp_path / "m.json").exists()
    assert earlier.read_text(encoding="utf-8") == "{}"
    time.sleep(1)
    with pytest.raises(ProcessLookupError):  # no worker left in the run's process group
        os.killpg(run.pid, 0)
    assert list(scratch.iterdir()) == []  # the templates and every cell's files are gone
