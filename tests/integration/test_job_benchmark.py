"""Smoke run of the job throughput benchmark: a small N, checking that its results are
consistent (every event read, every window written alike to Parquet and Redis, the naive
consumer's rows equal to the job's row for row, the streaming run's windows equal to the
bounded run's) and that every figure is there, never its timings."""

from __future__ import annotations

import pytest

from benchmarks.job_throughput import parse_args, run_benchmark

EVENTS = 6000
WINDOW_SIZE_S, WINDOW_SLIDE_S = 60, 10
PRODUCTS = 30
#: 6000 events at 50 per second of event time span 120 s: the backlog's watermark (about
#: 115 s) has passed the end of about ten windows, which the streaming run must write.
EVENT_RATE = 50


@pytest.mark.benchmark
def test_benchmark_reports_consistent_results(local_stack, tmp_path):
    args = parse_args([
        "--events", str(EVENTS), "--products", str(PRODUCTS), "--categories", "4",
        "--event-rate", str(EVENT_RATE),
        "--top-n", "100", "--window-size-s", str(WINDOW_SIZE_S),
        "--window-slide-s", str(WINDOW_SLIDE_S), "--parallelism", "2",
        "--state-dir", str(tmp_path), "--phase-timeout-s", "900",
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

    # The naive consumer read every event, found each valid and none late, and wrote the
    # job's rows exactly: same windows, files, columns and values, row for row.
    naive = report["naive"]
    assert (naive["events"], naive["valid"], naive["late"]) == (EVENTS, EVENTS, 0)
    assert naive["rejected"] == {}
    assert naive["windows"] == outputs["windows"]
    assert naive["rows"] == outputs["parquet_rows"]
    check = report["rows_check"]
    assert check["windows"] == outputs["windows"]
    assert check["rows"] == outputs["parquet_rows"]
    assert (check["windows_missing"], check["windows_extra"], check["schema_mismatches"],
            check["path_mismatches"], check["mismatched_rows"]) == (0, 0, 0, 0, 0)

    # The streaming run wrote every window the backlog's watermark closes, each equal to
    # the bounded run's.
    streaming = report["job_streaming"]
    assert streaming["reached"] in ("target", "slowest-partition watermark")
    assert 0 < streaming["windows_certain"] <= streaming["windows_target"] < outputs["windows"]
    assert streaming["windows_seen"] >= streaming["windows_expected"] > 0
    assert streaming["rows_check"]["windows"] == streaming["windows_expected"]
    assert streaming["rows_check"]["rows"] > 0
    assert streaming["rows_check"]["mismatched_rows"] == 0
    assert streaming["rows_check"]["windows_missing"] == 0

    for run in ("flink_raw", "flink_parse", "naive", "job", "job_streaming"):
        assert report[run]["events_per_s"] > 0
        assert report[run]["process_seconds"] > 0
    assert report["ratio_job_to_flink_raw"] == round(
        report["job"]["events_per_s"] / report["flink_raw"]["events_per_s"], 3)
    assert report["ratio_job_to_flink_parse"] == round(
        report["job"]["events_per_s"] / report["flink_parse"]["events_per_s"], 3)
    assert report["ratio_job_to_naive"] == round(
        report["job"]["events_per_s"] / naive["events_per_s"], 3)
    assert report["ratio_streaming_to_bounded"] == round(
        streaming["events_per_s"] / report["job"]["events_per_s_process"], 3)
    for ratio in ("ratio_job_to_flink_raw", "ratio_job_to_naive", "ratio_streaming_to_bounded"):
        assert report[ratio] > 0
    for moment in ("load_avg_before", "load_avg_after"):
        assert len(report[moment]) == 3 and min(report[moment]) >= 0
