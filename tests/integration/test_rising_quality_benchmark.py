"""Smoke run of the Rising detection benchmark: a small shape (one episode of trends,
20 s windows sliding by 2 s, 200 products, the demo's rate), checking that its results are
consistent and every figure is there, never the figures themselves, except where the
job's rules make them exact: every duplicate turned away, the bot counted at most
``max_events_per_user`` times a window, neither taking a place, and the job's statistic
recounted from its window counts giving its whole rising ranking in every window, the
bot's product aside (its counts are capped, so its recent score cannot be recounted from
window scores; every other product's is exact, no ordinary user reaching the cap)."""

from __future__ import annotations

import pytest

from benchmarks.rising_quality import TRENDS_PER_EPISODE, parse_args, run_benchmark
from trend_tracker.settings import Settings

STATISTICS = ("recent slides (the job's rising ranking)", "previous_ratio (the formula before)",
              "window_z", "slice_z")


@pytest.mark.benchmark
def test_benchmark_reports_consistent_results(local_stack, tmp_path):
    args = parse_args([
        "--rates", "500", "--episodes", "1", "--products", "200",
        "--window-size-s", "20", "--window-slide-s", "2",
        "--state-dir", str(tmp_path), "--phase-timeout-s", "900",
    ])
    stack_env = dict(local_stack.settings_env())
    stack_env["TREND_REDIS_URL"] = stack_env["TREND_REDIS_URL"].rsplit("/", 1)[0] + "/1"
    report = run_benchmark(args, stack_env=stack_env)

    (run,) = report["runs"]
    produced = run["produced"]
    assert produced["events"] == (produced["ordinary"] + produced["bot_clicks"]
                                  + produced["duplicates"])
    assert produced["bot_clicks"] > 0 and produced["duplicates"] > 0
    # Every copy is a dead letter (the traffic has no other bad record), none counted.
    assert run["dead_letters"] == produced["duplicates"]
    assert run["duplicates_turned_away"] is True
    assert run["duplicates_most_counted_beyond_own"] == 0
    # The bot clicks 20 times a second, 400 times a window: the cap counts 5.
    cap = Settings.model_fields["max_events_per_user"].default
    assert run["bot_most_counted_beyond_own"] == cap
    # The job's statistic recounted from its window scores gives the job's whole rising
    # ranking (top_n = every product), in every window: exact for every product the
    # per-user cap does not bind. The bot's product is set aside in both (its capped
    # counts make its recent score unrecountable; bot_places measures it below).
    assert run["recount_windows_equal_to_job_bot_aside"] == run["windows_written"] > 0

    for name in STATISTICS:
        figures = run["statistics"][name]
        # 20 s of history, the 10 s trend-free stretch, one episode of 40 s: windows
        # ending at 40 s to 100 s, every 2 s.
        assert figures["windows_measured"] == 31
        assert figures["windows_trend_free"] == 11
        assert len(figures["trends"]) == len(TRENDS_PER_EPISODE)
        assert (figures["bot_places"], figures["duplicate_places"]) == (0, 0)
        assert 0 <= figures["recall_within_2_slides"] <= 1
        assert figures["false_discoveries_per_window_trend_free"] >= 0
        assert set(figures["by_growth"]) == {"1.5x", "3x", "10x"}
        for trend in figures["trends"]:
            assert trend["windows_after_start"] == 20
            assert 0 <= trend["windows_in_top"] <= 20
