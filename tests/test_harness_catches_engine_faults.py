"""The harness's own checks fail when the engine misbehaves.

Faults are put into the engine on purpose (an engine that forgets what it
parks, one that logs a skip below WARNING); the replicas stay real SQLite
files. Without these tests, the checks that parked ops were kept, that skips
were logged, that relays forward, and that a failed heal is reported could
be switched off with every other test still passing (review BM).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from histories import HISTORIES

from harness.cells import SYNC_LOGGER
from harness.matrix import CellResult, MatrixConfig, run_matrix
from harness.relay import run_relay
from harness.versions import Templates, load_set
from nexus_core.replica import Replica

# An engine that does not keep the ops it cannot place (unknown tables or columns).
FORGET_PARKED = (
    "DELETE FROM _nexus_changes WHERE EXISTS (SELECT 1 FROM _nexus_parked p"
    " WHERE p.origin = _nexus_changes.origin AND p.hlc = _nexus_changes.hlc"
    " AND p.reason NOT GLOB 'refused: *')",
    "DELETE FROM _nexus_parked WHERE reason NOT GLOB 'refused: *'",
)
NEW_TABLE = HISTORIES / "new_table" / "migrations"  # v2 adds a table v1 lacks


@pytest.fixture
def forgetful(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """Peer ids whose replicas drop what they park right after each receive."""
    who: set[str] = set()
    receive = Replica.receive

    def forgetting(self: Replica, text: str | bytes) -> object:
        result = receive(self, text)
        if self.peer_id in who:
            for sql in FORGET_PARKED:
                self.conn.execute(sql)
        return result

    monkeypatch.setattr(Replica, "receive", forgetting)
    return who


@pytest.fixture
def quiet_skips() -> Iterator[None]:
    """An engine that logs its skipped-and-parked notices at INFO, not WARNING."""

    def downgrade(record: logging.LogRecord) -> bool:
        if "skipped and parked" in record.getMessage():
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True

    logger = logging.getLogger(SYNC_LOGGER)
    logger.addFilter(downgrade)
    try:
        yield
    finally:
        logger.removeFilter(downgrade)


def _cell(tmp_path: Path, local: int, peer: int) -> CellResult:
    config = MatrixConfig(
        migrations=NEW_TABLE,
        examples=3,
        seed=0,
        jobs=1,
        relay=False,
        replay_dir=tmp_path / "replays",
    )
    return next(c for c in run_matrix(config).cells if (c.local, c.peer) == (local, peer))


def test_the_cell_is_partial_with_an_engine_that_behaves(tmp_path: Path) -> None:
    cell = _cell(tmp_path, 1, 2)
    assert (cell.observed, cell.heals_on_upgrade) == ("partial", True)


def test_ops_not_kept_break_the_cell_and_its_heal(tmp_path: Path, forgetful: set[str]) -> None:
    forgetful.add("replica-a")
    cell = _cell(tmp_path, 1, 2)
    assert cell.observed == "broken"
    assert any("naming what v1 lacks were not kept" in r for r in cell.reasons), cell.reasons
    assert cell.heals_on_upgrade is False  # A's upgrade has nothing to replay


def test_skips_not_logged_as_warnings_break_the_cell(tmp_path: Path, quiet_skips: None) -> None:
    cell = _cell(tmp_path, 1, 2)
    assert cell.observed == "broken"
    assert "v1 skipped ops without logging a warning" in cell.reasons


def _relay(tmp_path: Path) -> bool:
    templates = Templates(load_set(NEW_TABLE))
    try:
        templates.build_all()
        result = run_relay(templates, 1, 2, examples=3, seed_value=0, workdir=tmp_path)
    finally:
        templates.cleanup()
    if not result.ok:
        assert any("never reached" in reason for reason in result.reasons), result.reasons
    return result.ok


def test_a_relay_that_does_not_forward_fails_the_relay_check(
    tmp_path: Path, forgetful: set[str]
) -> None:
    assert _relay(tmp_path)  # the same check passes while the relay keeps what it parks
    forgetful.add("relay")
    assert not _relay(tmp_path)
