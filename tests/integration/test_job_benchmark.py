"""Smoke run of the job throughput benchmark: a small N, checking that its results are
consistent (every event read, every window written alike to Parquet and Redis), never its
timings."""

from __future__ import annotations

import pytest

from benchmarks.job_throughput import parse_args, run_benchmark

EVENTS = 6000
WINDOW_SIZE_S, WINDOW_SLIDE_S = 60, 10
PRODUCTS = 30


@pytest.mark.benchmark
def test_benchmark_reports_consistent_results(local_stack, tmp_path):
    args = parse_args([
        "--events", str(EVENTS), "--products", str(PRODUCTS), "--categories", "4",
        "--top-n", "100", "--window-size-s", str(WINDOW_SIZE_S),
        "--window-slide-s", str(WINDOW_SLIDE_S), "--parallelism", "2",
        "--state-dir", str(tmp_path),
    ])
    stack_env = dict(local_stack.settings_env())
    # A Redis database of its own, so other tests' windows cannot be mistaken for ours.
    stack_env["TREND_REDIS_URL"] = stack_env["TREND_REDIS_URL"].rsplit("/", 1)[0] + "/11"
    report = run_benchmark(args, stack_env=stack_env)

    assert report["events_in_topics"] == EVENTS
    assert report["confluent_raw"]["events"] == EVENTS
    outputs = report["job"]["outputs"]
    # top_n exceeds the products, so the overall rankings hold every product of every
    # window, and a bounded run fires every window: each event is counted once per
    # window containing it, size / slide times.
    assert outputs["overall_events"] == EVENTS * WINDOW_SIZE_S // WINDOW_SLIDE_S
    assert outputs["dead_letters"] == 0
    assert outputs["rankings"] > outputs["windows"] > 0
    assert outputs["rankings_same_in_redis"] == outputs["rankings"]
    for run in ("flink_raw", "flink_parse", "job"):
        assert report[run]["events_per_s"] > 0
    assert report["ratio_job_to_flink_raw"] == round(
        report["job"]["events_per_s"] / report["flink_raw"]["events_per_s"], 3)
    assert report["ratio_job_to_flink_parse"] == round(
        report["job"]["events_per_s"] / report["flink_parse"]["events_per_s"], 3)
