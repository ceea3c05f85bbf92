"""Hybrid logical clocks: wall milliseconds, a counter, and the peer id as tie-break.

The string form ``<wall ms, 13 hex>-<counter, 4 hex>-<peer id>`` sorts in clock
order, so SQLite can compare clocks as text and the largest string is the
latest op. Every op gets its own timestamp, which makes the string an op id.

>>> clock = HybridClock("peer-a", now_ms=lambda: 1_700_000_000_000)
>>> str(clock.tick()), str(clock.tick())
('0018bcfe56800-0000-peer-a', '0018bcfe56800-0001-peer-a')
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from nexus_core.errors import SyncError

MAX_COUNTER = 0xFFFF
MAX_WALL_MS = 16**13 - 1
DEFAULT_MAX_DRIFT_MS = 5 * 60 * 1000
PEER_ID = re.compile(r"^[A-Za-z0-9_\-]{1,64}\Z")  # \Z: "$" would accept a trailing newline
_FORM = re.compile(
    r"^(?P<wall>[0-9a-f]{13})-(?P<counter>[0-9a-f]{4})-(?P<peer>[A-Za-z0-9_\-]{1,64})\Z"
)


class ClockError(SyncError):
    """A timestamp is malformed or too far ahead of this machine's clock."""


def check_peer_id(peer: object) -> str:
    """``peer`` if it is a valid peer id, else a ClockError saying what one is."""
    if not isinstance(peer, str) or not PEER_ID.match(peer):
        raise ClockError(f"invalid peer id {peer!r:.80}: use 1-64 letters, digits, - or _")
    return peer


def _wall_now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, order=True)
class Timestamp:
    wall_ms: int
    counter: int
    peer: str

    def __str__(self) -> str:
        return f"{self.wall_ms:013x}-{self.counter:04x}-{self.peer}"

    @classmethod
    def parse(cls, text: str) -> Timestamp:
        found = _FORM.match(text) if isinstance(text, str) else None
        if found is None:
            raise ClockError(f"not a clock value: {text!r:.80}")
        return cls(int(found["wall"], 16), int(found["counter"], 16), found["peer"])


def is_clock(text: str, peer: str) -> bool:
    """Whether ``text`` is a well-formed clock value issued by ``peer``."""
    found = _FORM.match(text)
    return found is not None and found["peer"] == peer


class HybridClock:
    """One peer's clock: ``tick`` for local events, ``observe`` for remote ones."""

    def __init__(
        self,
        peer: str,
        *,
        now_ms: Callable[[], int] = _wall_now_ms,
        max_drift_ms: int = DEFAULT_MAX_DRIFT_MS,
        last: Timestamp | None = None,
    ) -> None:
        self.peer = check_peer_id(peer)
        self._now_ms = now_ms
        self.max_drift_ms = max_drift_ms
        self._wall = last.wall_ms if last else 0
        self._counter = last.counter if last else 0

    def tick(self) -> Timestamp:
        """A new timestamp later than every one this clock has issued or seen."""
        self.tick_text()
        return Timestamp(self._wall, self._counter, self.peer)

    def tick_text(self) -> str:
        """A new timestamp as text (``str(self.tick())``)."""
        return self.tick_texts(1)[0]

    def tick_texts(self, count: int) -> list[str]:
        """``count`` new timestamps as text, in order, reading the wall clock once (a
        batch of local writes): later than every one this clock has issued or seen."""
        now = self._now_ms()
        wall, counter = (now, -1) if now > self._wall else (self._wall, self._counter)
        stamps = []
        peer = self.peer
        for _ in range(count):
            if counter < MAX_COUNTER:
                counter += 1
            else:  # overflow: borrow the next millisecond
                wall, counter = wall + 1, 0
            stamps.append(f"{wall:013x}-{counter:04x}-{peer}")
        if count:
            self._wall, self._counter = wall, counter
        return stamps

    def check(self, remote: Timestamp) -> str | None:
        """Why ``remote`` must be refused (too far in the future), or None."""
        limit = self._now_ms() + self.max_drift_ms
        if remote.wall_ms > limit or remote.wall_ms > MAX_WALL_MS:
            ahead = remote.wall_ms - self._now_ms()
            return f"clock {remote} is {ahead} ms ahead of this peer (limit {self.max_drift_ms})"
        return None

    def observe(self, remote: Timestamp) -> None:
        """Move past a remote timestamp so later local events sort after it."""
        if (remote.wall_ms, remote.counter) > (self._wall, self._counter):
            self._wall, self._counter = remote.wall_ms, remote.counter
