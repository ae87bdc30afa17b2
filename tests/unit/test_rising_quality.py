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
    parse_args,
    rank_by,
    rate_settings,
    ratio_statistic,
    recent_slides_statistic,
    slice_scores,
    slice_z_statistic,
    window_z_statistic,
    windows_equal_aside,
)
from trend_tracker.settings import Settings

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


def test_ratio_statistic_is_the_formula_before():
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


def test_slice_scores_come_from_the_window_scores():
    windows = windows_of({"a": [0, 0, 3, 1, 0, 0, 0, 2], "b": [1, 2, 3, 4, 5, 6, 7, 8]})
    scores = slice_scores(windows, SIZE, S)
    assert [scores[(end * S, "a")] for end in range(1, 9)] == [0, 0, 3, 1, 0, 0, 0, 2]
    assert [scores[(end * S, "b")] for end in range(1, 9)] == [1, 2, 3, 4, 5, 6, 7, 8]


def recent_slides(windows, **changes):
    parameters = {"recent_slides": 2, "prior": 10.0, "min_score": 10.0, "min_z": 4.0,
                  "dispersion": 1.7}
    parameters.update(changes)
    return recent_slides_statistic(windows, SIZE, S, **parameters)


def test_recent_slides_statistic_is_the_jobs_momentum_of_significant_growth():
    # "b": 2 clicks a slice, then 10 in the last two slides; "a" steady at 5; "c" as "b".
    windows = windows_of({"a": [5] * 8, "b": [2] * 6 + [10, 10], "c": [2] * 6 + [10, 10]})
    momentum = recent_slides(windows)
    # b at 8 s: score 2 + 2 + 10 + 10 = 24; recent (the last 2 slides) 20; base (the window
    # of slices 3-6, ending at 6 s) 8, variance 8; scale 2 / 4 = 0.5.
    # z = (20 - 0.5 * 8) / sqrt(1.7 * (0.5 + 0.25) * 8 + 1) = 16 / sqrt(11.2) = 4.78 >= 4;
    # momentum (20 / 0.5 + 10) / (8 + 10) = 50 / 18.
    assert momentum(8 * S, "b") == pytest.approx(50 / 18)
    # a: recent 10 against 0.5 * 20: z = 0 < 4.
    assert momentum(8 * S, "a") is None
    # b at 4 s scores 8, below the least score.
    assert momentum(4 * S, "b") is None
    # Ties by product id.
    assert rank_by(windows, momentum, 10)[8 * S] == ["b", "c"]


def test_recent_slides_statistic_without_a_least_z_ranks_every_product_of_the_least_score():
    windows = windows_of({"a": [5] * 8, "b": [2] * 6 + [10, 10]})
    momentum = recent_slides(windows, min_z=None)
    # a: (10 / 0.5 + 10) / (20 + 10) = 1.
    assert momentum(8 * S, "a") == pytest.approx(1.0)
    assert rank_by(windows, momentum, 10)[8 * S] == ["b", "a"]
    # At 4 s: a scores 20, recent 10, base the window [-2 s, 2 s) of slices 0-1, 10:
    # (10 / 0.5 + 10) / (10 + 10) = 1.5; b scores 8.
    assert rank_by(windows, momentum, 10)[4 * S] == ["a"]
    assert momentum(4 * S, "a") == pytest.approx(1.5)


def test_recent_slides_statistic_scales_its_variance_by_the_dispersion():
    windows = windows_of({"b": [2] * 6 + [10, 10]})
    # z of b at 8 s: 16 / sqrt(1.7 * 0.75 * 8 + 1) = 4.78 with dispersion 1.7,
    # 16 / sqrt(0.75 * 8 + 1) = 6.05 with 1.
    assert recent_slides(windows, min_z=5.0)(8 * S, "b") is None
    assert recent_slides(windows, min_z=5.0, dispersion=1.0)(8 * S, "b") == pytest.approx(
        50 / 18)


def test_the_recent_score_is_the_window_less_its_older_part():
    # Clicks per slice (slice i ends at (i + 1) s), no user capped.
    windows = windows_of({"a": [0, 0, 3, 1, 0, 0, 4, 2], "b": [2] * 6 + [10, 10]})
    slices = slice_scores(windows, SIZE, S)
    # (window end s, product, window score, older part: its 2 oldest slices, recent):
    #   a at 7 s: slices ending 4-7 s hold 1, 0, 0, 4: window 5, older 1 + 0, recent 4.
    #   a at 8 s: 0, 0, 4, 2: window 6, older 0, recent 6.
    #   b at 8 s: 2, 2, 10, 10: window 24, older 4, recent 20.
    for end, product, window, older, recent in [(7, "a", 5, 1, 4), (8, "a", 6, 0, 6),
                                                (8, "b", 24, 4, 20)]:
        assert windows[end * S].counts[product][0] == window
        assert slices[(end - 3) * S, product] + slices[(end - 2) * S, product] == older
        # The window less its older part is the sum of its newest 2 slices.
        assert (window - older == slices[(end - 1) * S, product] + slices[end * S, product]
                == recent)
    momentum = recent_slides(windows, min_z=None, min_score=0.0)
    # a at 7 s: recent 4; base the window ending 5 s (slices ending 2-5 s: 0, 3, 1, 0), 4:
    # (4 / 0.5 + 10) / (4 + 10).
    assert momentum(7 * S, "a") == pytest.approx(18 / 14)
    # b at 8 s: (20 / 0.5 + 10) / (8 + 10); a at 8 s: recent 6, base (slices ending 3-6 s:
    # 3, 1, 0, 0) 4: (6 / 0.5 + 10) / (4 + 10).
    assert momentum(8 * S, "b") == pytest.approx(50 / 18)
    assert momentum(8 * S, "a") == pytest.approx(22 / 14)
    # Every product admitted, when no top k is asked.
    assert rank_by(windows, momentum, None)[8 * S] == ["b", "a"]


def test_the_recount_is_compared_with_the_whole_ranking_one_product_aside():
    windows = {end: WindowRows(rising=rising, counts={}) for end, rising in
               [(1, ["b", "x", "y"]), (2, ["x", "y"]), (3, ["x", "y"]), (4, ["x"])]}
    # Equal but for "b" at 1 s and 2 s; "y" and "x" swapped at 3 s; "y" more at 4 s.
    tops = {1: ["x", "b", "y"], 2: ["x", "y", "b"], 3: ["y", "x"], 4: ["x", "y"]}
    assert windows_equal_aside(windows, tops, "b") == 2  # at 1 s and 2 s
    # "y" aside: "b" still differs at 1 s and 2 s; 3 s and 4 s are equal.
    assert windows_equal_aside(windows, tops, "y") == 2
    # A window the recount has no ranking for equals only an empty one.
    assert windows_equal_aside({5: WindowRows(rising=["b"], counts={})}, {}, "b") == 1
    assert windows_equal_aside({5: WindowRows(rising=["x"], counts={})}, {}, "b") == 0


def test_recent_slides_of_a_whole_window_are_the_formula_before():
    windows = windows_of({"b": [2] * 4 + [1] * 4 + [10] * 4})
    # 6 slides, at most the window's 4: recent = the window (score 40 at 12 s), base = the
    # window before (4), scale 1. z = (40 - 4) / sqrt(1.7 * 2 * 4 + 1) = 36 / sqrt(14.6).
    momentum = recent_slides(windows, recent_slides=6)
    assert momentum(12 * S, "b") == pytest.approx((40 + 10) / (4 + 10))
    assert momentum(12 * S, "b") == ratio_statistic(windows, SIZE, 10.0, 10.0)(12 * S, "b")
    # At 8 s: score 4 < 10.
    assert momentum(8 * S, "b") is None


def test_the_flags_set_the_jobs_rising_statistic(tmp_path):
    args = parse_args([])
    settings = rate_settings({}, tmp_path, args, 500.0)
    defaults = Settings.model_fields
    assert (settings.rising_min_z, settings.rising_recent_slides, settings.rising_dispersion
            ) == (defaults["rising_min_z"].default, defaults["rising_recent_slides"].default,
                  defaults["rising_dispersion"].default) == (4.0, 2, 1.7)
    args = parse_args(["--z-min", "none", "--recent-slides", "3", "--dispersion", "2"])
    settings = rate_settings({}, tmp_path, args, 500.0)
    assert (settings.rising_min_z, settings.rising_recent_slides,
            settings.rising_dispersion) == (None, 3, 2.0)
    assert (args.z_min, args.recent_slides, args.dispersion) == (None, 3, 2.0)
