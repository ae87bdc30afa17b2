"""The Rising detection benchmark's measures and statistics on hand-made windows, with
expected values worked out by hand."""

from __future__ import annotations

import math

import pytest

from benchmarks.rising_quality import (
    InjectedTrend,
    Plan,
    WindowRows,
    measure_detection,
    rank_by,
    ratio_statistic,
    slice_z_statistic,
    window_z_statistic,
)

S = 1000  # one slide, ms
SIZE = 4 * S


def plan() -> Plan:
    """Windows of 4 slides measured from 8 s, trend-free until 12 s, one 3x trend of
    "t" at 12 s, the bot on "b" and the copies on "d" from 8 s, events until 20 s."""
    return Plan(trends=(InjectedTrend("t", 3.0, 50, 12 * S),), bot_product="b",
                duplicated_product="d", attacks_from_ms=8 * S, measured_from_ms=8 * S,
                trend_free_until_ms=12 * S, end_ms=20 * S)


def test_measures_count_places_by_what_changed():
    tops = {end * S: ["x"] for end in range(4, 21)}  # "x" never changes: always false
    tops[13 * S] = ["x", "t"]  # the trend one slide after its start
    tops[14 * S] = ["t", "b", "d"]
    tops[15 * S] = ["t", "d"]
    attacked = {"bot": {end * S for end in range(8, 21)}, "duplicates": {14 * S}}
    figures = measure_detection(tops, plan(), SIZE, S, attacked)

    assert figures["windows_measured"] == 13  # ends 8 s to 20 s
    assert figures["windows_trend_free"] == 5  # ends 8 s to 12 s, "x" in each
    assert figures["false_discoveries_per_window_trend_free"] == 1.0
    # "x" in 11 of the 13 windows (not at 14 s and 15 s), and "d" at 15 s, where its
    # copies did not count.
    assert figures["false_discoveries_per_window_all"] == round(12 / 13, 2)
    assert (figures["bot_places"], figures["duplicate_places"]) == (1, 1)
    (trend,) = figures["trends"]
    assert trend["slides_to_detect"] == 1
    assert (trend["windows_in_top"], trend["windows_after_start"]) == (3, 8)
    assert figures["recall_within_2_slides"] == 1.0
    assert figures["by_growth"]["3x"]["stay_share"] == round(3 / 8, 3)


def test_a_trend_found_after_two_slides_misses_recall():
    tops = {end * S: [] for end in range(4, 21)}
    tops[15 * S] = ["t"]
    figures = measure_detection(tops, plan(), SIZE, S, {"bot": set(), "duplicates": set()})
    assert figures["trends"][0]["slides_to_detect"] == 3
    assert figures["recall_within_2_slides"] == 0.0
    assert figures["by_growth"]["3x"]["slides_to_detect_median"] == 3


def windows_of(per_slice: dict[str, list[int]]) -> dict[int, WindowRows]:
    """Windows of 4 slides from clicks per slice (slice i ends at (i + 1) s)."""
    windows = {}
    for last in range(max(len(c) for c in per_slice.values())):
        counts = {}
        for product, clicks in per_slice.items():
            n = sum(clicks[max(0, last - 3):last + 1])
            if n:
                counts[product] = (float(n), n, 0, 0)
        windows[(last + 1) * S] = WindowRows(rising=[], counts=counts)
    return windows


def test_ratio_statistic_is_todays_momentum():
    windows = windows_of({"a": [5] * 8, "b": [1] * 4 + [10] * 4})
    momentum = ratio_statistic(windows, SIZE, prior=10.0, min_score=10.0)
    assert momentum(8 * S, "a") == pytest.approx((20 + 10) / (20 + 10))
    assert momentum(8 * S, "b") == pytest.approx((40 + 10) / (4 + 10))
    assert momentum(4 * S, "b") is None  # score 4, below the least score
    assert rank_by(windows, momentum, 10)[8 * S] == ["b", "a"]


def test_window_z_statistic():
    windows = windows_of({"a": [5] * 8, "b": [1] * 4 + [10] * 4})
    z = window_z_statistic(windows, SIZE, z_min=4.0, min_score=10.0)
    # b: (40 - 4) / sqrt(40 + 4 + 1); a: 0, below z_min.
    assert z(8 * S, "b") == pytest.approx(36 / math.sqrt(45))
    assert z(8 * S, "a") is None
    assert rank_by(windows, z, 10)[8 * S] == ["b"]


def test_slice_z_statistic_compares_the_newest_slides_with_the_window_before():
    # "b": 2 clicks a slice, then 10 in the last two slides; "a" steady at 5.
    windows = windows_of({"a": [5] * 8, "b": [2] * 6 + [10, 10]})
    z = slice_z_statistic(windows, SIZE, S, recent_slides=2, z_min=-100.0, min_score=10.0)
    # b at 8 s: recent 20, the window before (slices 3-6) 8, scaled by 2/4: expected 4;
    # variance 8 * 0.5 + 8 * 0.25 + 1 = 7.
    assert z(8 * S, "b") == pytest.approx((20 - 4) / math.sqrt(7))
    # a: recent 10 against 20 * 0.5 = 10: no growth.
    assert z(8 * S, "a") == pytest.approx(0.0)


def test_slice_z_statistic_scales_its_variance_by_the_dispersion():
    windows = windows_of({"a": [5] * 8, "b": [2] * 6 + [10, 10]})
    z = slice_z_statistic(windows, SIZE, S, recent_slides=2, z_min=-100.0, min_score=10.0,
                          dispersion=2.0)
    # 2 * (8 * 0.5 + 8 * 0.25) + 1 = 13.
    assert z(8 * S, "b") == pytest.approx((20 - 4) / math.sqrt(13))
