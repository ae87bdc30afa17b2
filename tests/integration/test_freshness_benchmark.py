"""Smoke run of the freshness benchmark: a low rate and a few windows, checking that its
results are consistent (every measured window served, the API's answers equal to the
job's Parquet rows, those rows equal to a recount of the events, every stage figured; every
burst seen in the top 10 of a window that holds it, with the recount's counts), never its
timings."""

from __future__ import annotations

import pytest

from benchmarks.freshness import parse_args, run_benchmark

WINDOWS = 4
PRODUCTS = 20
BURSTS = 2
SLIDE_MS = 2000


@pytest.mark.benchmark
def test_benchmark_reports_consistent_results(local_stack, tmp_path):
    args = parse_args([
        "--rate", "500", "--windows", str(WINDOWS), "--window-size-s", "6",
        "--window-slide-s", "2", "--products", str(PRODUCTS), "--top-n", "100",
        # The benchmark's default warm-up: measured windows start 10 s after the first one
        # served, when the job has caught up with what it read while starting. With none,
        # a loaded machine fired every measured window in that catch-up, each superseded
        # within the API's cache period, and none was served as the newest.
        "--warmup-s", "10", "--bursts", str(BURSTS),
        # Twice the 10th item's counts: a margin for the small counts of this rate.
        "--burst-share", "2", "--state-dir", str(tmp_path),
    ])
    stack_env = dict(local_stack.settings_env())
    # A Redis database of its own, so other tests' windows cannot be mistaken for ours.
    stack_env["TREND_REDIS_URL"] = stack_env["TREND_REDIS_URL"].rsplit("/", 1)[0] + "/12"
    report = run_benchmark(args, stack_env=stack_env)

    assert report["windows_measured"] == report["windows_seen"] == WINDOWS
    # Windows fired within one API cache period of the next are superseded, not served.
    assert 0 < report["windows_served_as_newest"] <= WINDOWS
    assert [w["window_end"] % 2000 for w in report["windows"]] == [0] * WINDOWS
    check = report["check"]
    bursts = report["bursts"]
    burst_events = sum(b["events"] for b in bursts)
    # The measured windows' events were read back, and nothing was dead-lettered.
    assert 0 < check["events_recounted"] <= report["simulator"]["sent"] + burst_events
    assert report["simulator"]["failed"] == 0
    assert report["dead_letters"] == 0 and report["dead_letter_reasons"] == {}
    # Every window was written, the API served the job's Parquet ranking for each window
    # it served as the newest; each ranked product's
    # counts equal the recount (top_n exceeds the products: at most all of them ranked).
    assert check["windows"] == WINDOWS
    assert check["api_windows_differing_from_parquet"] == 0
    assert 0 < check["ranked_rows_recounted"] <= WINDOWS * PRODUCTS
    assert check["mismatched_counts"] == 0

    for window in report["windows"]:
        assert window["total_ms"] > 0
        assert window["watermark_ms"] is not None
    assert report["goal_ms"] == (2 + 5 + 1) * 1000
    assert report["ratio_p99_to_goal"] == round(
        report["freshness_ms"]["p99"] / report["goal_ms"], 3)
    assert report["freshness_ms"]["p50"] <= report["freshness_ms"]["p99"] \
        <= report["freshness_ms"]["max"]
    assert set(report["stages_ms"]) == {"watermark_ms", "fire_ms", "parquet_ms",
                                        "redis_write_ms", "redis_ms", "api_ms"}
    assert report["redis_round_trip_ms"]["p50"] > 0
    assert report["job_read_lag_events"] is not None
    for moment in ("load_avg_before", "load_avg_after"):
        assert len(report[moment]) == 3 and min(report[moment]) >= 0


    # Bursts: each for its own product, absent from the top 10 before, seen in the top 10
    # of a window that holds it, with the counts of the recount, which hold the burst.
    assert report["bursts_injected"] == report["bursts_seen"] == len(bursts) == BURSTS, [
        {k: v for k, v in b.items() if k != "began_ms"} for b in bursts]
    assert len({b["product_id"] for b in bursts}) == BURSTS
    assert check["bursts_checked"] == BURSTS
    assert check["burst_counts_mismatched"] == 0
    for burst in bursts:
        assert burst["seen"] and burst["in_top_k_before"] is False
        assert burst["counts_match"] and burst["read_back"]
        assert burst["events"] == sum(burst["counts"].values()) and burst["counts"]["click"] >= 1
        assert burst["recount"] == burst["top_k_counts"]
        assert burst["began_ms"] <= burst["ended_ms"]
        assert 1 <= burst["top_k_rank"] <= 10
        assert burst["first_window_end"] == (burst["began_ms"] // SLIDE_MS + 1) * SLIDE_MS
        assert burst["top_k_window_end"] % SLIDE_MS == 0
        assert burst["top_k_window_end"] >= burst["first_window_end"] > burst["began_ms"]
        assert 0 < burst["wait_for_window_end_ms"] <= SLIDE_MS
        assert abs(burst["delay_ms"] - burst["wait_for_window_end_ms"]
                   - burst["after_window_end_ms"]) <= 1
    delays = sorted(b["delay_ms"] for b in bursts)
    assert report["burst_to_top_k_ms"]["max"] == delays[-1]
    assert report["burst_to_top_k_ms"]["p50"] == delays[0]  # the lower median of two
    assert report["ratio_burst_p50_to_window_p50"] == round(
        report["burst_to_top_k_ms"]["p50"] / report["freshness_ms"]["p50"], 3)
    assert report["ratio_burst_max_to_goal"] == round(delays[-1] / report["goal_ms"], 3)
    assert report["profile"] is None
