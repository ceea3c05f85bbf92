"""``sync(a, b)``: the handshake and both directions until nothing new moves.

Everything goes through :meth:`Replica.export_changes` and
:meth:`Replica.receive`, so what runs in process is exactly what crosses a
network. Each message carries the sender's version vector; the next message
back sends only what that vector lacks, so a sync's cost grows with what is
new, not with the history.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from nexus_core.errors import SyncError
from nexus_core.receive import ReceiveResult
from nexus_core.replica import Replica

MAX_ROUNDS = 16


@dataclass
class SyncResult:
    """Every message of one sync, in order, as the receiver saw it."""

    messages: list[tuple[str, ReceiveResult]] = field(default_factory=list)

    def _total(self, key: str) -> int:
        return sum(getattr(result, key) for _, result in self.messages)

    @property
    def sent(self) -> int:
        return self._total("received")

    @property
    def applied(self) -> int:
        return self._total("applied")

    @property
    def skipped_unknown(self) -> int:
        return self._total("skipped_unknown")

    @property
    def rejected(self) -> int:
        return self._total("rejected")

    @property
    def replayed(self) -> int:
        """Parked ops (refused earlier) that the receives of this sync placed."""
        return self._total("replayed")

    @property
    def rounds(self) -> int:
        return len(self.messages) // 2


def _send(sender: Replica, receiver: Replica, result: SyncResult) -> ReceiveResult:
    message = sender.export_changes(peer=receiver.peer_id)
    received = receiver.receive(message)
    result.messages.append((f"{sender.peer_id} -> {receiver.peer_id}", received))
    return received


def fell_behind(before: Mapping[str, str] | None, now: Mapping[str, str] | None) -> bool:
    """Whether a peer now claims less of some origin than it claimed before
    (restored from a backup, say): what it lost must be sent again."""
    if not before:
        return False
    now = now or {}
    return any(origin not in now or now[origin] < stamp for origin, stamp in before.items())


def sync(a: Replica, b: Replica, *, max_rounds: int = MAX_ROUNDS) -> SyncResult:
    """Sync two replicas both ways until quiescent; returns what moved.

    ``a`` sends first, by what ``b`` claimed last time; ``b`` answers with
    what it holds now. Where that is less (``b`` was restored from a backup),
    another round sends ``b`` what it lost.
    """
    if a.peer_id == b.peer_id:
        raise SyncError(f"cannot sync replica {a.peer_id} with itself")
    result = SyncResult()
    claimed = a.oplog.peer_vector(b.peer_id)
    for _ in range(max_rounds):
        forward = _send(a, b, result)
        backward = _send(b, a, result)
        now = a.oplog.peer_vector(b.peer_id)  # what b's answer said it holds
        if forward.new == 0 and backward.new == 0 and not fell_behind(claimed, now):
            return result
        claimed = now
    raise SyncError(f"sync of {a.peer_id} and {b.peer_id} did not settle in {max_rounds} rounds")
