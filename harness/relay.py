"""Relay checks: ops from a client at N pass through an older relay at R < N intact.

A writer at N syncs with a relay at R, and the relay syncs with a second client
at N that never met the writer. The second client must end up with exactly the
writer's data: the relay parks what it cannot place and forwards it unchanged.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import given, seed
from hypothesis.errors import Flaky

from harness.cells import captured_sync_log, example_settings, not_repeated
from harness.execute import Execution, run_step, sync_pair
from harness.judge import compare_rows
from harness.stable import seed_only
from harness.strategies import single_writer_traffic
from harness.versions import Templates, stepping_clock
from nexus_core.errors import NexusError


@dataclass
class RelayResult:
    relay: int
    peer: int
    ok: bool = True
    examples: int = 0
    ops_forwarded: int = 0
    reasons: list[str] = field(default_factory=list)
    accepted_breaks: list[int] = field(default_factory=list)  # (see matrix._accept)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def relay_example(
    templates: Templates, relay: int, peer: int, steps: list[dict[str, Any]], workdir: Path
) -> tuple[list[str], int]:
    """Problems seen in one example (empty when the ops arrived whole) and ops forwarded."""
    with tempfile.TemporaryDirectory(dir=workdir) as scratch, captured_sync_log():
        root = Path(scratch)
        clock = stepping_clock()
        writer = templates.replica(peer, root / "writer.db", peer_id="writer", now_ms=clock)
        middle = templates.replica(relay, root / "relay.db", peer_id="relay", now_ms=clock)
        reader = templates.replica(peer, root / "reader.db", peer_id="reader", now_ms=clock)
        try:
            execution = Execution()
            for step in steps:
                run_step({"a": writer}, step, execution)
            sync_pair(writer, middle, execution)
            sync_pair(middle, reader, execution)
            forwarded = execution.totals(reader)["ops_sent"]
            problems = compare_rows(reader, writer, both_ways=True)
            sent = {(op.hlc, op.column_name): op for op in writer.ops()}
            for op in reader.ops():
                if sent.get((op.hlc, op.column_name), op) != op:
                    problems.append(f"op {op.hlc} changed on its way through v{relay}")
            return problems, forwarded
        except NexusError as exc:
            return [f"relay sync failed: {exc}"], 0
        finally:
            for replica in (writer, middle, reader):
                replica.close()


def run_relay(
    templates: Templates,
    relay: int,
    peer: int,
    *,
    examples: int,
    seed_value: int,
    workdir: Path,
) -> RelayResult:
    """Hypothesis examples of single-writer traffic through one relay."""
    result = RelayResult(relay, peer)
    strategy = single_writer_traffic(templates.schema(peer))
    failures: list[list[str]] = []

    @example_settings(examples)
    @seed(seed_value)
    @given(strategy)
    def check(steps: list[dict[str, Any]]) -> None:
        problems, forwarded = relay_example(templates, relay, peer, steps, workdir)
        result.examples += 1
        result.ops_forwarded += forwarded
        if problems:
            failures.append(problems)
            raise AssertionError(problems[0])

    try:
        with seed_only():
            check()
    except (AssertionError, Flaky) as exc:
        if not failures:  # (hypothesis's own Flaky, from something other than a failed relay)
            raise
        result.ok = False
        result.reasons = failures[-1][:8]
        if isinstance(exc, Flaky):
            # Run again, the example passed: as for a cell (see run_cell), the outcome
            # depends on something the traffic does not fix (the clock, random()).
            result.reasons.append(not_repeated("fail"))
    return result
