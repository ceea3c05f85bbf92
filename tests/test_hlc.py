"""Hybrid logical clocks: string order, monotonic ticks, overflow, drift, parsing."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nexus_core.errors import NexusError
from nexus_core.hlc import (
    MAX_COUNTER,
    MAX_WALL_MS,
    ClockError,
    HybridClock,
    Timestamp,
)

NOW = 1_700_000_000_000
PEER_CHARS = "abcXYZ019-_"


def peer_ids() -> st.SearchStrategy[str]:
    return st.text(alphabet=PEER_CHARS, min_size=1, max_size=12)


def timestamps() -> st.SearchStrategy[Timestamp]:
    return st.builds(
        Timestamp,
        st.integers(0, MAX_WALL_MS),
        st.integers(0, MAX_COUNTER),
        peer_ids(),
    )


class FakeWall:
    """A wall clock the test moves by hand (forwards or backwards)."""

    def __init__(self, now: int = NOW) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


@given(timestamps(), timestamps())
def test_string_form_sorts_in_clock_order(first: Timestamp, second: Timestamp) -> None:
    assert (str(first) < str(second)) == (first < second)
    assert (str(first) == str(second)) == (first == second)


@given(timestamps())
def test_string_form_round_trips(stamp: Timestamp) -> None:
    assert Timestamp.parse(str(stamp)) == stamp


def test_documented_string_form() -> None:
    clock = HybridClock("peer-a", now_ms=lambda: NOW)
    assert [str(clock.tick()), str(clock.tick())] == [
        "0018bcfe56800-0000-peer-a",
        "0018bcfe56800-0001-peer-a",
    ]


@given(st.lists(st.integers(-10_000, 10_000), min_size=1, max_size=60))
def test_tick_is_monotonic_even_when_the_wall_clock_goes_backwards(steps: list[int]) -> None:
    wall = FakeWall()
    clock = HybridClock("p", now_ms=wall)
    issued = [clock.tick()]
    for step in steps:
        wall.now += step
        issued.append(clock.tick())
    texts = [str(stamp) for stamp in issued]
    assert texts == sorted(texts)
    assert len(set(texts)) == len(texts)
    assert issued == sorted(issued)


def test_wall_clock_going_back_keeps_the_wall_and_counts_up() -> None:
    wall = FakeWall()
    clock = HybridClock("p", now_ms=wall)
    first = clock.tick()
    wall.now -= 60_000
    second = clock.tick()
    assert (second.wall_ms, second.counter) == (first.wall_ms, first.counter + 1)
    wall.now = NOW + 5
    assert clock.tick() == Timestamp(NOW + 5, 0, "p")


def test_counter_overflow_borrows_the_next_millisecond() -> None:
    clock = HybridClock("p", now_ms=lambda: NOW, last=Timestamp(NOW, MAX_COUNTER - 1, "p"))
    assert clock.tick() == Timestamp(NOW, MAX_COUNTER, "p")
    assert clock.tick() == Timestamp(NOW + 1, 0, "p")
    assert clock.tick() == Timestamp(NOW + 1, 1, "p")


def test_counter_overflow_by_ticking_alone() -> None:
    clock = HybridClock("p", now_ms=lambda: NOW)
    stamps = [clock.tick() for _ in range(MAX_COUNTER + 3)]
    assert stamps[MAX_COUNTER] == Timestamp(NOW, MAX_COUNTER, "p")
    assert stamps[MAX_COUNTER + 1] == Timestamp(NOW + 1, 0, "p")
    assert [str(s) for s in stamps] == sorted(str(s) for s in stamps)


def test_observe_moves_past_a_remote_clock() -> None:
    clock = HybridClock("a", now_ms=lambda: NOW)
    remote = Timestamp(NOW + 1_000, 7, "b")
    clock.observe(remote)
    after = clock.tick()
    assert after > remote
    assert str(after) > str(remote)
    clock.observe(Timestamp(NOW - 1_000, 0, "c"))  # an older clock changes nothing
    assert clock.tick() == Timestamp(NOW + 1_000, 9, "a")


def test_restored_clock_continues_after_last() -> None:
    last = Timestamp(NOW + 50, 3, "other")
    clock = HybridClock("a", now_ms=lambda: NOW, last=last)
    assert clock.tick() == Timestamp(NOW + 50, 4, "a")


@pytest.mark.parametrize(
    ("ahead", "refused"),
    [(0, False), (1_000, False), (300_000, False), (300_001, True), (10**9, True)],
)
def test_drift_refusal(ahead: int, refused: bool) -> None:
    clock = HybridClock("a", now_ms=lambda: NOW, max_drift_ms=300_000)
    reason = clock.check(Timestamp(NOW + ahead, 0, "b"))
    assert (reason is not None) == refused
    if refused:
        assert reason is not None and "ahead" in reason


def test_drift_refusal_beyond_the_string_form() -> None:
    clock = HybridClock("a", now_ms=lambda: MAX_WALL_MS, max_drift_ms=10**12)
    assert clock.check(Timestamp(MAX_WALL_MS + 1, 0, "b")) is not None


JUNK = [
    "",
    "0018bcfe56800-0000",
    "0018bcfe56800-0000-",
    "18bcfe56800-0000-peer",
    "0018bcfe56800-000-peer",
    "0018BCFE56800-0000-peer",
    "0018bcfe56800-0000-peer a",
    "0018bcfe56800-0000-peer;DROP",
    "0018bcfe56800-0000-peer\n",
    "\n0018bcfe56800-0000-peer",
    "0018bcfe56800-0000-" + "p" * 65,
    "00018bcfe56800-0000-peer",
    "0018bcfe5680g-0000-peer",
    " 0018bcfe56800-0000-peer",
]


@pytest.mark.parametrize("text", JUNK)
def test_parse_rejects_junk(text: str) -> None:
    with pytest.raises(ClockError):
        Timestamp.parse(text)


@pytest.mark.parametrize("value", [None, 5, b"0018bcfe56800-0000-peer", ["x"]])
def test_parse_rejects_non_text(value: object) -> None:
    with pytest.raises(ClockError):
        Timestamp.parse(value)  # type: ignore[arg-type]


@given(st.text(max_size=40))
def test_parse_accepts_only_the_exact_form(text: str) -> None:
    try:
        stamp = Timestamp.parse(text)
    except ClockError:
        return
    assert str(stamp) == text


@pytest.mark.parametrize("peer", ["", "a b", "x" * 65, "peer\n", "é", "a;b"])
def test_invalid_peer_ids_are_refused(peer: str) -> None:
    with pytest.raises(ClockError):
        HybridClock(peer)


def test_clock_error_is_a_nexus_error() -> None:
    assert issubclass(ClockError, NexusError)


def test_default_wall_clock_is_real_time() -> None:
    clock = HybridClock("a")
    now: Callable[[], int] = clock._now_ms
    stamp = clock.tick()
    assert abs(stamp.wall_ms - now()) < 60_000


@given(
    st.integers(-5, 5),
    st.integers(0, MAX_COUNTER),
    st.integers(0, 300),
    st.sampled_from([0, 1, MAX_COUNTER - 2]),
)
def test_a_batch_of_ticks_is_ticks_one_by_one(
    offset: int, counter: int, count: int, skip: int
) -> None:
    """tick_texts(n) reads the wall once: what n tick_text() calls give while it stands."""
    last = Timestamp(NOW, min(counter + skip, MAX_COUNTER), "p")
    one = HybridClock("p", now_ms=lambda: NOW + offset, last=last)
    batch = HybridClock("p", now_ms=lambda: NOW + offset, last=last)
    assert batch.tick_texts(count) == [one.tick_text() for _ in range(count)]
    assert batch.tick_text() == one.tick_text()  # and it goes on from the same place
