"""The pacer on a fake clock: events leave when due, low rates stay smooth, high rates batch."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.runner import MAX_HOLD_S, MIN_SLICE, Pacer


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.now += seconds


def drive(ts: np.ndarray, start_ms: int, send_cost_s: float = 0.0):
    """Run the send loop against a fake clock; returns (send time of each event, slices)."""
    clock = FakeClock()
    pacer = Pacer(start_ms, clock=clock, sleep=clock.sleep)
    sent_at = np.empty(len(ts))
    slices = []
    i = 0
    while i < len(ts):
        j = pacer.next_slice(ts, i)
        if j > i:
            sent_at[i:j] = clock.now
            slices.append(j - i)
            clock.now += send_cost_s * (j - i)
            i = j
    return sent_at - pacer.t0, slices


@pytest.mark.parametrize("rate", [200, 2000])
def test_low_rates_send_each_event_on_time(rate):
    start = 1_000_000
    ts = start + np.floor(np.arange(1000) * 1000 / rate).astype(np.int64)
    sent_at, _ = drive(ts, start)
    due = (ts - start) / 1000.0
    assert np.all(sent_at >= due - 1e-9)  # never early
    assert np.all(sent_at <= due + MAX_HOLD_S + 1e-9)  # never held back long
    # 1000 events at `rate` take (1000 - 1) / rate seconds: the rate holds exactly.
    assert sent_at[-1] == pytest.approx(999 / rate, abs=MAX_HOLD_S + 0.001)


def test_high_rates_go_out_in_slices():
    start = 0
    rate = 100_000
    ts = np.floor(np.arange(200_000) * 1000 / rate).astype(np.int64)
    sent_at, slices = drive(ts, start, send_cost_s=2e-6)
    assert sum(slices) == 200_000
    assert np.median(slices) >= MIN_SLICE
    assert np.all(sent_at >= (ts - start) / 1000.0 - 1e-9)
    assert sent_at[-1] == pytest.approx(2.0, abs=0.01)


def test_a_late_sender_catches_up_without_sleeping():
    ts = np.arange(0, 1000, dtype=np.int64)  # 1000 events/s for 1 s
    clock = FakeClock()
    pacer = Pacer(0, clock=clock, sleep=clock.sleep)
    clock.now += 5.0  # everything is overdue
    assert pacer.next_slice(ts, 0) == 1000
